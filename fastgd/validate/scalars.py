"""Checks of scalar arguments: numbers, counts, flags, choices, step sizes.

Each returns the value normalised (float, int, bool, code) or raises ValueError /
TypeError naming the argument.  Plain Python floats take fast paths: fastgd.ops calls
these on every training step.
"""
import numbers
import operator

import numpy as np

from ..contract import ADAGRAD, ADAGRAD_EPS_DEFAULT, EPS_DEFAULT, METHODS, NESTEROV

_INF = float("inf")


def _as_float(name, v):
    """float(v), with a ValueError naming the argument for an int too large for a float."""
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number, got an integer too large for a "
                         f"float") from None


def nonneg_real(name, v):
    """A finite real number >= 0, returned as float (plain floats take a fast path: the
    step ops call this every training step)."""
    if type(v) is float and 0 <= v < _INF:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = _as_float(name, v)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {v}")
    return v


def positive_real(name, v):
    """A finite real number > 0, returned as float."""
    if type(v) is float and 0 < v < _INF:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = _as_float(name, v)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {v}")
    return v


def finite_real(name, v):
    """Any finite real number, returned as float."""
    if type(v) is float and -_INF < v < _INF:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = _as_float(name, v)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def unit_interval(name, v):
    """A real number in [0, 1)."""
    v = nonneg_real(name, v)
    if v >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def betas(name, v):
    """A pair (beta1, beta2) of reals in [0, 1)."""
    if type(v) is tuple and len(v) == 2 and type(v[0]) is float and type(v[1]) is float \
            and 0 <= v[0] < 1 and 0 <= v[1] < 1:
        return v
    try:
        b1, b2 = v
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {v!r}") from None
    return unit_interval(f"{name}[0]", b1), unit_interval(f"{name}[1]", b2)


# counts go into int64 slots of the packed options (and are iteration numbers)
MAX_COUNT = (1 << 63) - 1


def count(name, v):
    """An integer 0 <= v < 2**63."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}") from None
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    if v > MAX_COUNT:
        raise ValueError(f"{name} must be < 2**63, got {v}")
    return v


def thread_count(name, v):
    """None (Numba's thread setting) or an integer 1 <= v <= numba.config.NUMBA_NUM_THREADS
    (the most numba.set_num_threads accepts): a cap on a CPU solve's threads."""
    if v is None:
        return None
    v = count(name, v)
    import numba
    most = numba.config.NUMBA_NUM_THREADS
    if not 1 <= v <= most:
        raise ValueError(f"{name} must be None or an integer in [1, {most}] "
                         f"(numba.config.NUMBA_NUM_THREADS), got {v}")
    return v


def step_count(name, v):
    """The 1-based step number of an optimizer update: an integer >= 1."""
    if type(v) is int and v >= 1:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1 (1 on the first update), "
                        f"got {type(v).__name__}")
    v = int(v)
    if v < 1:
        raise ValueError(f"{name} must be >= 1 (1 on the first update), got {v}")
    return v


def flag(name, v):
    """A bool (or numpy bool)."""
    if v is True or v is False:
        return v
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
    return bool(v)


def method(name, v):
    if not isinstance(v, str) or v not in METHODS:
        raise ValueError(f"{name} must be one of {sorted(METHODS)}, got {v!r}")
    return METHODS[v]


def method_eps(name, v, method_code):
    """eps: None -> the method's torch.optim default (Adagrad 1e-10, else 1e-8), or a
    finite real >= 0."""
    if v is None:
        return ADAGRAD_EPS_DEFAULT if method_code == ADAGRAD else EPS_DEFAULT
    return nonneg_real(name, v)


def restart(name, v, method_code):
    """restart: a bool; True only with method='nesterov' (adaptive restart)."""
    v = flag(name, v)
    if v and method_code != NESTEROV:
        raise ValueError(f"{name}=True needs method='nesterov' (adaptive restart of its "
                         f"momentum)")
    return v


def choice(name, v, options):
    if v not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {v!r}")
    return v


def learning_rate(lr, batch, dtype):
    """lr: 'auto' -> None; a positive float -> (B,) array; a (B,) array of positive floats."""
    if isinstance(lr, str):
        if lr != "auto":
            raise ValueError(f"lr must be a positive number, an array of shape ({batch},) or "
                             f"'auto', got {lr!r}")
        return None
    if isinstance(lr, (bool, np.bool_)):
        raise TypeError("lr must be a positive number, got bool")
    if isinstance(lr, numbers.Real):
        lr = _as_float("lr", lr)
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {lr}")
        _lr_fits(lr, dtype)
        return np.full(batch, lr, np.float64)
    arr = np.asarray(lr)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"lr must be a real number or array, got dtype {arr.dtype}")
    if arr.shape not in ((batch,),) and not (batch == 1 and arr.ndim == 0):
        raise ValueError(f"lr array must have shape ({batch},) (one per problem), got {arr.shape}")
    arr = arr.astype(np.float64).reshape(batch)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError("lr must be finite and > 0 for every problem")
    _lr_fits(arr.max(), dtype)
    return arr


def _lr_fits(lr, dtype):
    """A step size past the data dtype's max turns every step into inf."""
    big = float(np.finfo(dtype).max)
    if lr > big:
        raise ValueError(f"lr={lr:g} overflows {np.dtype(dtype)}, the dtype of X (max "
                         f"{big:.3g})")
