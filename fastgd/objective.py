"""Any smooth objective from many starting points: ``Objective`` and ``multistart``.

``Objective(fun, grad, args=())`` wraps a user's ``fun(w, *args) -> float`` and
``grad(w, *args, out)`` (plain Python or numba.njit), compiled by Numba once per dtype.
``minimize(objective, method, x0=X0)`` with X0 (B, d) runs B descents in one compiled
call: the batch driver of fastgd/cpu/solve.py, with the objective's evaluation hook
(fastgd/cpu/objective.py), sees B problems of zero rows.  ``multistart`` draws the
starts uniformly in a box and groups the minima reached.  See docs/objective.md.
"""
import hashlib
import numbers

import numpy as np

from . import contract, validate
from .problems import Problem, check_compiles, user_dispatcher

_OBJECTIVE_CACHE = {}   # (fun, grad) -> compiled user functions, shared by every Objective
_KERNELS = {}           # (fun, grad, args key, dtype) -> drivers (args are frozen into them)


def _args(args):
    """args as a tuple of read-only NumPy array copies and real scalars."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"args must be a tuple (the extra arguments of fun and grad), "
                        f"got {type(args).__name__}")
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            validate.not_masked(f"args[{i}]", a)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"args[{i}] must be a numeric NumPy array, got dtype {a.dtype}")
            a = np.array(a, copy=True, order="C")  # frozen into the compiled code
            a.flags.writeable = False
        elif isinstance(a, (bool, np.bool_, numbers.Real)):
            a = a if isinstance(a, np.generic) else (bool(a) if isinstance(a, bool) else
                                                     int(a) if isinstance(a, numbers.Integral)
                                                     else float(a))
        else:
            raise TypeError(f"args[{i}] must be a NumPy array or a real number, "
                            f"got {type(a).__name__}")
        out.append(a)
    return tuple(out)


def _args_key(args):
    """A hashable fingerprint of the frozen args (their values are compiled in)."""
    key = []
    for a in args:
        if isinstance(a, np.ndarray):
            key.append(("array", a.dtype.str, a.shape, hashlib.sha1(a.tobytes()).hexdigest()))
        else:
            key.append((type(a).__name__, a))
    return tuple(key)


class Objective:
    """A smooth objective ``fun(w, *args) -> float`` with its gradient ``grad(w, *args, out)``
    (writes the gradient of fun at w into out), for any dimension d.

    fun and grad are plain Python functions or numba.njit functions that Numba can compile
    in nopython mode; they are compiled here for float64 and float32 w (a TypeError names
    the function if Numba cannot compile it, if fun returns no real scalar, or if either
    can raise: exceptions cannot leave the parallel kernels, so return nan or inf where
    the objective is undefined; the start then ends DIVERGED).  The drivers compile on
    the first solve per dtype and are kept for the process (user code is not cached on
    disk); an Objective of the same functions and equal args reuses them.

    args: a tuple of NumPy arrays and real numbers passed after w.  They are copied and
    frozen into the compiled code (changing the arrays afterwards changes nothing;
    other values compile again): meant for parameters and small data sets.

    Solve with ``fastgd.minimize(objective, method, lr=..., x0=X0)``, X0 of shape (B, d)
    (B starts) or (d,) (one); x0 is required (it gives d and the dtype), ``lr`` must be a
    number or a (B,) array (there is no X for lr="auto").  ``fastgd.multistart`` draws the
    starts for you.
    """

    def __init__(self, fun, grad, *, args=()):
        self.args = _args(args)
        key = (fun, grad)
        entry = _OBJECTIVE_CACHE.get(key)
        if entry is None:
            entry = {"fun": fun, "grad": grad, "compiled": {}}
            _OBJECTIVE_CACHE[key] = entry
        self._entry = entry
        self._args_key = _args_key(self.args)
        self.fun = fun
        self.grad = grad
        for dtype in validate.FLOAT_DTYPES:
            self.compiled(dtype)  # every error at construction, before any solve

    def __repr__(self):
        name = getattr(self.fun, "__name__", "fun")
        return f"Objective({name}, args: {len(self.args)})"

    def compiled(self, dtype):
        """(fun, grad) as Numba dispatchers compiled for w of `dtype` and these args' types."""
        from numba import typeof
        dtype = np.dtype(dtype)
        w_type = typeof(np.empty(1, dtype))
        arg_types = tuple(typeof(a) for a in self.args)
        sig_key = (dtype.str, arg_types)
        got = self._entry["compiled"].get(sig_key)
        if got is not None:
            return got
        names = ["w"] + [f"args[{i}]" for i in range(len(self.args))] + ["out"]

        def shown(sig):
            return "(" + ", ".join(f"{n}: {t}" for n, t in zip(names, sig)) + ")"

        entry = self._entry
        if "fun_c" not in entry:
            fun_c = user_dispatcher(self.fun, "fun", "a Python function or a numba.njit "
                                    "function of (w, *args) returning a float")
            grad_c = user_dispatcher(self.grad, "grad", "a Python function or a numba.njit "
                                     "function of (w, *args, out) writing the gradient into out")
            entry["fun_c"], entry["grad_c"] = fun_c, grad_c
        fun_c = check_compiles(entry["fun_c"], "fun", [(w_type,) + arg_types], shown=shown)
        grad_c = check_compiles(entry["grad_c"], "grad", [(w_type,) + arg_types + (w_type,)],
                                shown=shown, scalar=False)
        got = self._entry["compiled"][sig_key] = (fun_c, grad_c)
        return got

    def kernels(self, dtype):
        """The CPU drivers bound to this objective (compiled on first use per dtype)."""
        key = (self.fun, self.grad, self._args_key, np.dtype(dtype).str)
        mod = _KERNELS.get(key)
        if mod is None:
            from .cpu import drivers
            from .cpu.objective import evaluate_hook
            fun_c, grad_c = self.compiled(dtype)
            mod = _KERNELS[key] = drivers.objective(evaluate_hook(fun_c, grad_c, self.args))
        return mod

    def cuda_kernel(self, dtype):
        """The GPU batch kernel bound to this objective (fastgd/gpu/objective.py)."""
        key = ("cuda", self.fun, self.grad, self._args_key, np.dtype(dtype).str)
        kernel = _KERNELS.get(key)
        if kernel is None:
            from .gpu.objective import batch_kernel
            kernel = _KERNELS[key] = batch_kernel(self.fun, self.grad, self.args)
        return kernel

    def value(self, w):
        """fun at one point w (d,) in float64, through the compiled function."""
        w = np.ascontiguousarray(w, np.float64)
        return float(self.compiled(np.float64)[0](w, *self.args))

    def gradient(self, w):
        """grad at one point w (d,) in float64 (a new array)."""
        w = np.ascontiguousarray(w, np.float64)
        out = np.empty_like(w)
        self.compiled(np.float64)[1](w, *self.args, out)
        return out

    def starts(self, x0):
        """This objective as the problem of a batch of starts x0 ((B, d) or (d,)); x0 is
        checked here (shape, dtype; its values by minimize), before any buffer exists."""
        if x0 is None:
            raise ValueError("x0 is required for an Objective: the starting points, shape "
                             "(B, d) for B starts or (d,) for one (it gives d and the dtype)")
        if not isinstance(x0, np.ndarray):
            raise TypeError(f"x0 must be a numpy.ndarray of starting points, got "
                            f"{type(x0).__name__}")
        validate.layout("x0", x0.dtype, x0.shape, True, (1, 2))
        return Starts(self, x0.shape, x0.dtype)


class Starts(Problem):
    """An Objective over B starting points, as the problem the drivers run: B problems of
    zero rows (X (B, 0, d), y (B, 0): no data, no memory) whose evaluation is the
    objective's (fastgd/cpu/objective.py)."""

    loss_code = contract.OWN_KERNELS

    def __init__(self, objective, shape, dtype):
        self.objective = objective
        self._X = np.empty(shape[:-1] + (0, shape[-1]), dtype)
        self._y = np.empty(shape[:-1] + (0,), dtype)
        self._l2 = 0.0
        self._fit_intercept = False
        self._sample_weight = self._sw_kernel = None

    @property
    def n(self):
        return 1  # no rows: 1/n (hp's HP_NINV) is never used

    def kernels(self):
        return self.objective.kernels(self.dtype)

    def cuda_kernel(self):
        return self.objective.cuda_kernel(self.dtype)

    def check_auto_lr(self, line_search):
        raise ValueError("lr='auto' needs data to estimate a curvature bound, and an Objective "
                         "has none: pass lr=<float> (or a (B,) array), with "
                         "line_search='armijo' to backtrack from it")

    def row_function(self, dtype):
        raise TypeError("an Objective is not a row loss")

    def loss_grad64(self, w, k=0):
        w = np.asarray(w, np.float64)
        return self.objective.value(w), self.objective.gradient(w)

    def __repr__(self):
        return f"{self.objective!r} from {self.batch_size} starts of d={self.d} {self.dtype}"


def _bounds(bounds):
    b = np.asarray(bounds)
    if b.dtype.kind not in "iuf":
        raise TypeError(f"bounds must be a real array of shape (d, 2), got dtype {b.dtype}")
    b = b.astype(np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] == 0:
        raise ValueError(f"bounds must have shape (d, 2) (low, high per coordinate), got "
                         f"{b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("bounds must be finite")
    if not (b[:, 0] <= b[:, 1]).all():
        raise ValueError("bounds must have low <= high in every row")
    return b


def distinct_minima(x, fun, tol):
    """Group points x (N, d) with values fun (N,) into minima: in order of fun, each point
    joins the first minimum (its lowest point) closer than tol, else starts a new one.
    Returns a list of {"x", "fun", "count"} sorted by fun."""
    order = np.argsort(fun, kind="stable")
    centres = []
    minima = []
    for i in order:
        xi = x[i]
        if centres:
            dist = np.sqrt(((np.asarray(centres) - xi) ** 2).sum(axis=1))
            j = int(np.argmin(dist))
            if dist[j] < tol:
                minima[j]["count"] += 1
                continue
        centres.append(np.asarray(xi, np.float64))
        minima.append({"x": np.array(xi), "fun": float(fun[i]), "count": 1})
    return minima


def multistart(objective, bounds, n_starts, *, seed=None, tol=1e-3, dtype=np.float64,
               **options):
    """Minimise `objective` from `n_starts` points drawn uniformly in `bounds` ((d, 2):
    low, high per coordinate), as one batch, and group the minima reached.

    seed: for numpy.random.default_rng; tol: successful starts that end closer than tol
    (Euclidean) count as the same minimum; dtype: of the starts and the solve;
    **options: those of fastgd.minimize (method, lr -- required, a number or an
    (n_starts,) array --, max_iter, gtol, line_search, history, ...).

    Returns the batched fastgd.Result of the n_starts descents plus ``starts`` (the
    drawn x0, (n_starts, d)) and ``minima``: a list of {"x": (d,), "fun": float,
    "count": int} (the number of successful starts that reached it), sorted by fun.
    """
    from .api import minimize
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a fastgd.Objective, got {type(objective).__name__}")
    b = _bounds(bounds)
    n_starts = validate.count("n_starts", n_starts)
    if n_starts < 1:
        raise ValueError("n_starts must be >= 1")
    tol = validate.nonneg_real("tol", tol)
    dtype = np.dtype(dtype)
    if dtype not in validate.FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    for name in ("x0", "inplace"):
        if name in options:
            raise TypeError(f"multistart() does not take {name!r} (the starts are drawn in "
                            f"bounds)")
    rng = np.random.default_rng(seed)
    x0 = (b[:, 0] + (b[:, 1] - b[:, 0]) * rng.random((n_starts, b.shape[0]))).astype(dtype)
    res = minimize(objective, x0=x0, **options)
    ok = np.asarray(res.success)
    res["starts"] = x0
    res["minima"] = distinct_minima(np.asarray(res.x)[ok], np.asarray(res.fun)[ok], tol)
    return res
