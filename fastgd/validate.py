"""Every check of user input, one small function per kind of argument.

All of them run before any kernel is called or any buffer written, and raise
ValueError/TypeError messages that name the argument and say what was expected.
"""
import numbers
import operator

import numpy as np

from ._codes import METHODS

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def data_array(name, a, ndims):
    """A C-contiguous float32/float64 NumPy array of one of the `ndims`, non-empty, finite."""
    if not isinstance(a, np.ndarray):
        if hasattr(a, "__cuda_array_interface__"):
            raise TypeError(f"{name} is a GPU array; fastgd's CPU path needs a NumPy array "
                            f"(the GPU target is not available in this build)")
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
    if a.ndim not in ndims:
        want = " or ".join(f"{k}-d" for k in ndims)
        raise ValueError(f"{name} must be {want}, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name}) "
                         f"(fastgd never copies data silently)")
    finite(name, a)
    return a


def finite(name, a):
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or Inf")


def same_dtype(name, a, ref_name, ref):
    if a.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but {ref_name} has {ref.dtype}; "
                        f"they must match (fastgd does not cast silently)")


def shape(name, a, expected, what=""):
    if a.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}{what}, got {a.shape}")


def binary_labels(name, y):
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(f"{name} must contain only labels 0 and 1")


def nonneg_real(name, v):
    """A finite real number >= 0, returned as float."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {v}")
    return v


def unit_interval(name, v):
    """A real number in [0, 1)."""
    v = nonneg_real(name, v)
    if v >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def count(name, v):
    """An integer >= 0."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}") from None
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def method(name, v):
    if not isinstance(v, str) or v not in METHODS:
        raise ValueError(f"{name} must be one of {sorted(METHODS)}, got {v!r}")
    return METHODS[v]


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
        lr = float(lr)
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {lr}")
        return np.full(batch, lr, np.float64)
    arr = np.asarray(lr)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"lr must be a real number or array, got dtype {arr.dtype}")
    if arr.shape not in ((batch,),) and not (batch == 1 and arr.ndim == 0):
        raise ValueError(f"lr array must have shape ({batch},) (one per problem), got {arr.shape}")
    arr = arr.astype(np.float64).reshape(batch)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError("lr must be finite and > 0 for every problem")
    return arr


def initial_point(x0, expected_shape, dtype, inplace):
    """x0 of the solution's shape and dtype; writable and contiguous when inplace."""
    if x0 is None:
        if inplace:
            raise ValueError("inplace=True needs x0: the buffer the solution is written into")
        return None
    if not isinstance(x0, np.ndarray):
        raise TypeError(f"x0 must be a numpy.ndarray, got {type(x0).__name__}")
    if x0.dtype != dtype:
        raise TypeError(f"x0 must have the dtype of X ({dtype}), got {x0.dtype}")
    shape("x0", x0, expected_shape, " (the solution's shape)")
    finite("x0", x0)
    if inplace:
        if not x0.flags.writeable:
            raise ValueError("x0 is read-only but inplace=True writes the solution into it")
        if not x0.flags.c_contiguous:
            raise ValueError("x0 must be C-contiguous when inplace=True")
    return x0


# ---------------------------------------------------------------- CUDA arrays
def is_cuda_array(a):
    """True for objects with __cuda_array_interface__ (numba device arrays, CuPy, torch CUDA)."""
    from ._device import is_cuda_array
    return is_cuda_array(a)


def _as_cuda(name, a):
    """A zero-copy numba view of a CUDA array (raises RuntimeError without a usable GPU)."""
    from . import _device
    _device.require_cuda()
    from numba import cuda
    if getattr(type(a), "__cuda_ndarray__", False):  # already a numba device array
        if type(a).__module__.startswith("numba.cuda.simulator"):
            from .gpu.checks import simulator_view
            return simulator_view(a)
        return a
    try:
        return cuda.as_cuda_array(a)
    except Exception as exc:
        raise TypeError(f"{name}: could not read its __cuda_array_interface__ ({exc})") from None


def cuda_data_array(name, a, ndims):
    """As data_array, for a CUDA array: returns a zero-copy numba device array.

    Checks dtype, shape, size and C-contiguity from the interface, and NaN/Inf with a
    small reduction kernel on the device.
    """
    arr = _as_cuda(name, a)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {arr.dtype}")
    if arr.ndim not in ndims:
        want = " or ".join(f"{k}-d" for k in ndims)
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not arr.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous (fastgd never copies data silently)")
    from .gpu.checks import has_nonfinite
    if has_nonfinite(arr):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def cuda_binary_labels(name, y):
    """binary_labels for a device array (a reduction kernel, no host copy)."""
    from .gpu.checks import has_nonbinary
    if has_nonbinary(y):
        raise ValueError(f"{name} must contain only labels 0 and 1")


def cuda_initial_point(x0, expected_shape, dtype, inplace):
    """initial_point for a CUDA x0: dtype, shape, C-contiguity (always: it is read in place),
    finite.  Returns x0 unchanged (the driver copies it unless inplace)."""
    arr = _as_cuda("x0", x0)
    if arr.dtype != dtype:
        raise TypeError(f"x0 must have the dtype of X ({dtype}), got {arr.dtype}")
    shape("x0", arr, expected_shape, " (the solution's shape)")
    if not arr.is_c_contiguous():
        raise ValueError("x0 must be C-contiguous")
    from .gpu.checks import has_nonfinite
    if has_nonfinite(arr):
        raise ValueError("x0 contains NaN or Inf")
    return x0


def same_device(name, a, ref_name, ref):
    """Both NumPy arrays or both CUDA arrays."""
    if is_cuda_array(a) != is_cuda_array(ref):
        where = lambda v: "a GPU array" if is_cuda_array(v) else "a NumPy array"  # noqa: E731
        raise ValueError(f"{name} is {where(a)} but {ref_name} is {where(ref)}; "
                         f"they must live on the same device")
