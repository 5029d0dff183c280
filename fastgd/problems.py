"""Problems: validated data plus the per-row loss the drivers evaluate.

Every problem is ``f(w) = mean_i phi(x_i.w, y_i) + l2/2 ||w||^2`` for one
per-row loss ``phi`` (see fastgd.losses).  X is (n, d) for one problem or
(B, n, d) for a batch of B independent problems; y is (n,) or (B, n).  X (n, d) with
y (B, n) is a batch of B problems sharing one X (never copied; ``shared_x``), and l2
may be (B,) for any batch (one per problem: a regularisation path).
``Softmax`` is the one multi-output member: its solution is a (d, k) matrix and
it has its own drivers (fastgd.cpu.softmax).  ``RowLoss(phi, dphi)`` builds a
problem class from two user-supplied Numba-compilable scalar functions.

Real data (every problem): ``fit_intercept=True`` adds an unpenalised intercept b (one
per class for Softmax), ``f(w, b) = sum_i s_i phi(x_i.w + b, y_i) / sum_i s_i + l2/2
||w||^2``, with ``sample_weight=`` s (n,) or (B, n) (default all ones).  The drivers see
the intercept as one more coordinate of the iterate (the last, per class for Softmax)
and the weights scaled to sum n (docs/problems.md).
"""
import numpy as np

from . import contract, validate


class Problem:
    """Base of the per-row loss family.  Arrays are validated once, here."""

    loss_code = None      # built-in loss code of fastgd.contract (OWN_KERNELS: kernels of its own)
    curvature = 1.0       # sup phi'' (for lr="auto": L = curvature * lambda_max(X^T X / n) + l2)
    quadratic = False     # True when mode="gram" applies (phi quadratic in z)
    loss_param = 0.0      # a loss parameter (Huber's delta)

    def __init__(self, X, y, *, l2=0.0, fit_intercept=False, sample_weight=None):
        fit_intercept = validate.flag("fit_intercept", fit_intercept)
        if validate.is_sparse(X):  # a scipy.sparse CSR X: one problem (fastgd/sparse.py)
            from .sparse import init_problem
            init_problem(self, X, y, l2, fit_intercept, sample_weight)
            return
        # CUDA arrays (__cuda_array_interface__) become zero-copy numba device arrays
        on_gpu = validate.is_cuda_array(X)
        if on_gpu:
            X = validate.cuda_data_array("X", X, (2, 3))
        else:
            X = validate.data_array("X", validate.array_view("X", X), (2, 3),
                                    check_finite=False)
            y = validate.target_array("y", y, X.dtype)  # labels/counts as ints: X's dtype
        if validate.is_cuda_array(y):
            y = validate.cuda_data_array("y", y, (1, 2))
        else:
            y = validate.data_array("y", y, (1, 2), check_finite=False)
        validate.same_device("y", y, "X", X)
        validate.same_dtype("y", y, "X", X)
        batch = validate.target_shape(y, X.shape, on_gpu)  # (B, n) with X (n, d): shared X
        if not on_gpu:
            validate.data_range(X, y)  # finite, and products inside the dtype's range
        elif fit_intercept or sample_weight is not None:
            raise ValueError(validate.CUDA_REAL_DATA)
        self._l2 = validate.l2_values(l2, batch, X.dtype)  # a float, or (B,) float64
        if on_gpu and np.ndim(self._l2):
            raise ValueError(validate.CUDA_SHARED_X)
        self._sample_weight, self._sw_kernel = validate.sample_weight(
            sample_weight, X.shape[-2], batch, X.dtype)
        self._fit_intercept = fit_intercept
        self._X = X
        self._y = y
        self._check_labels(y)

    def _check_labels(self, y):
        pass

    _csr = None

    @property
    def sparse(self):
        """Whether X is a scipy.sparse CSR matrix (fastgd/sparse.py)."""
        return self._csr is not None

    @property
    def csr(self):
        """(data, indices, indptr) of a CSR X, or None."""
        return self._csr

    # read-only: the arrays were validated once, here; replacing one afterwards would
    # hand the kernels data of unchecked shape (a segfault for a shorter y)
    @property
    def X(self):
        """The data, (n, d) or (B, n, d), as passed (never copied)."""
        return self._X

    @property
    def y(self):
        """The targets, (n,) or (B, n), as passed (never copied)."""
        return self._y

    @property
    def l2(self):
        """The l2 penalty: a float, or (B,) float64 (one per problem; a copy)."""
        return self._l2

    def kernel_l2(self):
        """The drivers' l2: (1 or B,) in X's dtype (one per problem when l2 was (B,))."""
        return np.asarray(self._l2, self.dtype).reshape(-1)

    @property
    def per_problem_l2(self):
        """Whether l2 was given per problem (an array (B,))."""
        return np.ndim(self._l2) == 1

    @property
    def shared_x(self):
        """Whether this batch shares one X (n, d) between its B problems (y (B, n))."""
        return self._X.ndim == 2 and self._y.ndim == 2

    def _l2_of(self, k):
        return float(self._l2[k]) if self.per_problem_l2 else self._l2

    def _X_of(self, k):
        """Problem k's data (n, d) (a view)."""
        return self.X[k] if self.X.ndim == 3 else self.X

    @property
    def fit_intercept(self):
        """Whether the model has an (unpenalised) intercept: x_i.w + b."""
        return self._fit_intercept

    @property
    def sample_weight(self):
        """The sample weights, (n,) or (B, n) in X's dtype (a copy), or None (all ones)."""
        return self._sample_weight

    def kernel_weights(self):
        """The drivers' weights: (1 or B, n) scaled to sum n per problem, or (1, 0)."""
        if self._sw_kernel is None:
            return np.empty((1, 0), self.dtype)
        return self._sw_kernel

    def _weights64(self, k):
        """Problem k's weights scaled to sum n, float64 (n,), or None."""
        if self._sw_kernel is None:
            return None
        rows = self._sw_kernel
        r = np.asarray(rows[k if rows.shape[0] > 1 else 0], np.float64)
        return r / r.sum() * self.n

    def _shared(self, copies):
        """The same single problem `copies` times over its one X (a shared-X batch, for a
        sweep): X is not copied, y is (copies, n); the labels were checked already."""
        import copy
        if self.sparse:
            raise ValueError("a CSR X is one problem: it cannot be stacked into a batch")
        out = copy.copy(self)
        out._y = np.empty((copies,) + self._y.shape, self.dtype)
        out._y[...] = self._y
        return out

    @property
    def batched(self):
        return self.X.ndim == 3 or self.y.ndim == 2

    @property
    def batch_size(self):
        return self.y.shape[0] if self.batched else 1

    @property
    def n(self):
        return self.X.shape[-2]

    @property
    def d(self):
        return self.X.shape[-1]

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def outputs(self):
        """Outputs per row (Softmax's classes; 1 for a row loss)."""
        return 1

    @property
    def n_coef(self):
        """Number of coefficients of one problem (the length of a flattened solution x)."""
        return self.d

    @property
    def n_params(self):
        """Number of parameters of one problem the drivers iterate on: the coefficients,
        then the intercepts (fit_intercept)."""
        return self.n_coef + (self.outputs if self.fit_intercept else 0)

    @property
    def solution_shape(self):
        return (self.batch_size, self.d) if self.batched else (self.d,)

    @property
    def intercept_shape(self):
        """Shape of res.intercept: (), (B,), (k,) or (B, k)."""
        per = () if self.outputs == 1 else (self.outputs,)
        return ((self.batch_size,) if self.batched else ()) + per

    def kernels(self):
        """The CPU drivers of this problem's family (fastgd/cpu/drivers.py)."""
        from .cpu import drivers
        return drivers.builtin()

    def check_auto_lr(self, line_search):
        """Raise ValueError when lr="auto" has no sound meaning for this problem."""

    def row_function(self, dtype):
        """The compiled scalar ``row_terms(code, z, y, one, param) -> (phi, phi')``."""
        from .cpu.math import losses
        return losses.row_terms

    def loss_grad64(self, w, k=0):
        """(f, grad) of problem k at w, in float64 (NumPy + the compiled row function).

        w: the coefficients (d,), or (d + 1,) with the intercept last (fit_intercept);
        the gradient has w's length.  Sample weights included.
        Slow and simple: for checks (fastgd.check_grad), not for solving.
        """
        from .cpu.rowvalues import row_values
        if self.sparse:
            from .sparse import as_float64
            X = as_float64(self.X)
        else:
            X = np.asarray(self._X_of(k), np.float64)
        y = np.asarray(self.y[k] if self.batched else self.y, np.float64)
        l2 = self._l2_of(k)
        w = np.asarray(w, np.float64)
        d = self.d
        coef, bias = w[:d], (w[d] if w.shape[0] > d else 0.0)
        phi, r = row_values(self.row_function(np.float64), self.loss_code, X @ coef + bias, y,
                            float(self.loss_param))
        s = self._weights64(k)
        if s is not None:
            phi, r = phi * s, r * s
        n = X.shape[0]
        g = X.T @ r / n + l2 * coef
        if w.shape[0] > d:
            g = np.append(g, r.sum() / n)
        return phi.sum() / n + 0.5 * l2 * (coef @ coef), g

    def __repr__(self):
        shape = "x".join(map(str, self.X.shape))
        if self.shared_x:
            shape += f" shared by {self.batch_size} problems"
        l2 = "..." if self.per_problem_l2 else f"{self.l2:g}"
        extra = ", fit_intercept=True" if self.fit_intercept else ""
        extra += ", sample_weight=..." if self._sample_weight is not None else ""
        return f"{type(self).__name__}(X: {shape} {self.dtype}, l2={l2}{extra})"


class LeastSquares(Problem):
    """f(w) = ||X w - y||^2 / (2 n) + l2/2 ||w||^2; gradient X^T (X w - y) / n + l2 w."""

    loss_code = contract.LSQ
    curvature = 1.0
    quadratic = True


class Logistic(Problem):
    """f(w) = mean_i log(1 + exp(-s_i x_i.w)) + l2/2 ||w||^2, s_i = 2 y_i - 1, y in {0, 1}.

    Computed as max(-m, 0) + log1p(exp(-|m|)): no overflow for any margin m.
    """

    loss_code = contract.LOGISTIC
    curvature = 0.25

    def _check_labels(self, y):
        if validate.is_cuda_array(y):
            validate.cuda_binary_labels("y", y)
        else:
            validate.binary_labels("y", y)


class Huber(Problem):
    """Robust regression: f(w) = mean_i h(x_i.w - y_i) + l2/2 ||w||^2 with
    h(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond; h' = clip(r, -delta, delta).

    Any real y; delta > 0 (in the units of y).  phi'' <= 1, so lr="auto" is 1/L with
    L = lambda_max(X^T X / n) + l2.
    """

    loss_code = contract.HUBER
    curvature = 1.0

    def __init__(self, X, y, *, delta=1.0, l2=0.0, fit_intercept=False, sample_weight=None):
        delta = validate.nonneg_real("delta", delta)
        if delta <= 0:
            raise ValueError(f"delta must be > 0, got {delta}")
        super().__init__(X, y, l2=l2, fit_intercept=fit_intercept, sample_weight=sample_weight)
        self.loss_param = validate.fits_dtype("delta", delta, self.dtype)

    def __repr__(self):
        return super().__repr__()[:-1] + f", delta={self.loss_param:g})"


class Poisson(Problem):
    """Poisson regression, log link: f(w) = mean_i (exp(x_i.w) - y_i x_i.w) + l2/2 ||w||^2.

    This is the mean Poisson negative log-likelihood without its constant log(y_i!)
    (torch.nn.PoissonNLLLoss(log_input=True)), and equals sklearn's PoissonRegressor
    objective (mean half deviance + alpha/2 ||w||^2, alpha = l2) minus a constant.
    y: counts (any real y >= 0).  Gradient X^T (exp(Xw) - y) / n + l2 w.

    phi'' = exp(z) has no global bound, so lr="auto" alone is refused: pass an lr, or
    line_search="armijo", which then backtracks from 1/L with
    L = max(1, max_i y_i) * lambda_max(X^T X / n) + l2 (the curvature at w = 0, where
    exp(z) = 1, and near a fit, where exp(z_i) ~ y_i).
    """

    loss_code = contract.POISSON

    def _check_labels(self, y):
        if (y < 0).any():
            raise ValueError("y must contain counts >= 0 for Poisson, "
                             f"got a minimum of {float(y.min()):g}")
        self.curvature = max(1.0, float(y.max()))

    def check_auto_lr(self, line_search):
        if line_search != "armijo":
            raise ValueError("lr='auto' needs line_search='armijo' for Poisson (exp(x.w) has no "
                             "global curvature bound); pass lr=<float> or line_search='armijo'")


class Softmax(Problem):
    """Multinomial logistic regression with k = n_classes classes:
    f(W) = mean_i [logsumexp(x_i W) - (x_i W)_{y_i}] + l2/2 ||W||_F^2,
    gradient X^T (softmax(X W) - onehot(y)) / n + l2 W.

    y holds class ids 0..k-1 stored as floats in X's dtype; W (and x0, res.x) has
    shape (d, k), or (B, d, k) for a batch.  The row Hessian diag(p) - p p^T is
    <= 1/2, so lr="auto" is 1/L with L = lambda_max(X^T X / n) / 2 + l2.
    Solved by the common drivers with its own evaluation (fastgd.cpu.softmax), which see W
    flattened to (B, d*k).
    """

    loss_code = contract.OWN_KERNELS
    curvature = 0.5

    def __init__(self, X, y, n_classes, *, l2=0.0, fit_intercept=False, sample_weight=None):
        k = validate.count("n_classes", n_classes)
        if k < 2:
            raise ValueError(f"n_classes must be >= 2, got {k}")
        if k > 1 << 31:
            raise ValueError(f"n_classes must be <= 2**31 (one parameter column per class), "
                             f"got {k}")
        self.n_classes = k
        super().__init__(X, y, l2=l2, fit_intercept=fit_intercept, sample_weight=sample_weight)
        self.loss_param = float(k)

    def _check_labels(self, y):
        k = self.n_classes
        if not ((y >= 0) & (y < k) & (y == np.floor(y))).all():
            raise ValueError(f"y must contain integer class ids in [0, {k}) (n_classes={k})")

    @property
    def outputs(self):
        return self.n_classes

    @property
    def n_coef(self):
        return self.d * self.n_classes

    @property
    def solution_shape(self):
        dk = (self.d, self.n_classes)
        return (self.batch_size,) + dk if self.batched else dk

    def kernels(self):
        from .cpu import drivers
        return drivers.softmax()

    def row_function(self, dtype):
        raise TypeError("Softmax is not a scalar row loss")

    def loss_grad64(self, w, k=0):
        """As Problem.loss_grad64; w: W flattened (d*k,), then the k intercepts if given."""
        if self.sparse:
            from .sparse import as_float64
            X = as_float64(self.X)
        else:
            X = np.asarray(self._X_of(k), np.float64)
        y = np.asarray(self.y[k] if self.batched else self.y).astype(np.int64)
        l2 = self._l2_of(k)
        w = np.asarray(w, np.float64)
        dk = self.d * self.n_classes
        W = w[:dk].reshape(self.d, self.n_classes)
        bias = w[dk:] if w.shape[0] > dk else 0.0
        Z = X @ W + bias
        m = Z.max(axis=1, keepdims=True)
        E = np.exp(Z - m)
        s = E.sum(axis=1, keepdims=True)
        n = X.shape[0]
        rows = np.arange(n)
        sw = self._weights64(k)
        sw = np.ones(n) if sw is None else sw
        phi = m[:, 0] + np.log(s[:, 0]) - Z[rows, y]
        f = (sw * phi).sum() / n + 0.5 * l2 * (W * W).sum()
        P = E / s
        P[rows, y] -= 1.0
        P *= sw[:, None]
        g = (X.T @ P / n + l2 * W).reshape(-1)
        if w.shape[0] > dk:
            g = np.concatenate([g, P.sum(axis=0) / n])
        return f, g

    def __repr__(self):
        return super().__repr__()[:-1] + f", n_classes={self.n_classes})"


# ------------------------------------------------------------ user-defined row losses
_ROWLOSS_CACHE = {}   # (phi, dphi) -> compiled pieces, shared by every RowLoss of that pair


def user_dispatcher(fn, name, call):
    """fn (plain Python or numba.njit) as a Numba CPU dispatcher with the drivers' options
    (fastmath without nnan/ninf, error_model="numpy"), compiled lazily.  `call` words what
    fn must be, for the TypeError otherwise."""
    from numba import njit
    from numba.core.registry import CPUDispatcher

    from ._jit import FASTMATH
    if isinstance(fn, CPUDispatcher):
        fn = fn.py_func  # compiled again with the drivers' options (error_model="numpy")
    if callable(fn) and hasattr(fn, "__code__"):
        return njit(nogil=True, fastmath=set(FASTMATH), error_model="numpy")(fn)
    raise TypeError(f"{name} must be {call}, got {type(fn).__name__}")


def check_compiles(disp, name, signatures, *, shown, scalar=True):
    """Compile a user dispatcher for every signature (a tuple of Numba types); a TypeError
    names the function (`name` and its __name__) if Numba cannot compile it, if it returns
    no real scalar (when `scalar`), or if it can raise: exceptions cannot leave the
    parallel kernels.  `shown(sig)` words a signature for those messages."""
    from numba import types
    label = disp.py_func.__name__
    for sig in signatures:
        try:
            disp.compile(sig)
            ret = disp.overloads[sig].signature.return_type
        except Exception as exc:  # numba's TypingError and friends
            # the first line that says what failed (not "Failed in nopython mode pipeline")
            msg = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            said = [ln for ln in msg if not ln.startswith("Failed in ")] or msg
            raise TypeError(f"{name} ({label}) could not be compiled by Numba for arguments "
                            f"{shown(sig)}: {said[0] if said else type(exc).__name__}") from exc
        if scalar and not isinstance(ret, (types.Float, types.Integer, types.Boolean)):
            raise TypeError(f"{name} ({label}) must return a real scalar, returns {ret} for "
                            f"{shown(sig)} arguments")
        if _raises(disp, sig):
            # Numba's parallel regions drop an exception: the solve would go on, wrong
            raise TypeError(f"{name} ({label}) has a raise statement: exceptions cannot leave "
                            f"fastgd's parallel kernels; return nan or inf where the loss is "
                            f"undefined instead (the solve then reports DIVERGED)")
    return disp


def _scalar_function(fn, name):
    """fn as a Numba CPU dispatcher, compile-probed on (float64, float64) and (float32, float32)."""
    from numba import types
    disp = user_dispatcher(fn, name, "a Python function or a numba.njit function of (z, y)")
    return check_compiles(disp, name, [(ty, ty) for ty in (types.float64, types.float32)],
                          shown=lambda sig: f"({sig[0]}, {sig[1]})")


def _raises(disp, sig, seen=None):
    """Whether a compiled user function, or a user njit function it calls, has a raise
    statement (Numba IR; Numba's own library code is not looked at)."""
    from numba.core import ir, types
    seen = set() if seen is None else seen
    if (id(disp), sig) in seen:
        return False
    seen.add((id(disp), sig))
    ann = disp.overloads[sig].type_annotation
    for block in ann.blocks.values():
        if any(isinstance(st, (ir.Raise, ir.StaticRaise, ir.DynamicRaise)) for st in block.body):
            return True
    for expr, call_sig in ann.calltypes.items():
        if not (isinstance(expr, ir.Expr) and expr.op == "call") or call_sig is None:
            continue
        fn = ann.typemap.get(expr.func.name)
        if isinstance(fn, types.Dispatcher):
            callee = fn.dispatcher
            if tuple(call_sig.args) in callee.overloads and _raises(callee, tuple(call_sig.args), seen):
                return True
    return False


def _row_loss_entry(phi, dphi):
    key = (phi, dphi)
    entry = _ROWLOSS_CACHE.get(key)
    if entry is None:
        entry = {"phi": _scalar_function(phi, "phi"), "dphi": _scalar_function(dphi, "dphi"),
                 "row": {}, "kernels": {}}
        _ROWLOSS_CACHE[key] = entry
    return entry


def _wrapper(phi_c, dphi_c, cast):
    """row_terms with the drivers' signature over a user's (phi, dphi); code/one/param unused."""
    import math

    from numba import njit

    from ._jit import FASTMATH

    def row_terms(code, z, y, one, param):
        try:  # an exception cannot leave the parallel kernels: it makes the point undefined
            return float(phi_c(z, y)), cast(dphi_c(z, y))
        except Exception:
            return math.nan, cast(math.nan)
    return njit(nogil=True, fastmath=set(FASTMATH))(row_terms)


class CustomLoss(Problem):
    """Base of the classes that :func:`RowLoss` returns (one per (phi, dphi, lipschitz))."""

    loss_code = contract.OWN_KERNELS
    _entry = None
    lipschitz = None

    def row_function(self, dtype):
        entry = self._entry
        key = np.dtype(dtype).str
        fn = entry["row"].get(key)
        if fn is None:
            cast = np.float32 if np.dtype(dtype) == np.float32 else np.float64
            fn = entry["row"][key] = _wrapper(entry["phi"], entry["dphi"], cast)
        return fn

    def kernels(self):
        """The CPU drivers with ``row_terms`` rebound to this loss (compiled on first use
        per dtype, then kept for the process; user code is not cached on disk)."""
        entry = self._entry
        key = self.dtype.str
        mod = entry["kernels"].get(key)
        if mod is None:
            from .cpu import drivers
            mod = entry["kernels"][key] = drivers.row_loss(self.row_function(self.dtype))
        return mod

    def check_auto_lr(self, line_search):
        if self.lipschitz is None:
            raise ValueError(f"lr='auto' needs a curvature bound: pass lr=<float> to minimize, or "
                             f"lipschitz=<sup of phi''> to RowLoss for {type(self).__name__}")


def RowLoss(phi, dphi, *, lipschitz=None, name=None):
    """A problem class for ``f(w) = mean_i phi(x_i.w, y_i) + l2/2 ||w||^2``.

    phi(z, y), dphi(z, y): scalar functions (plain Python or numba.njit) that Numba can
    compile; dphi is d phi / d z.  lipschitz: an upper bound on d^2 phi / dz^2, used by
    lr="auto" (L = lipschitz * lambda_max(X^T X / n) + l2); None makes lr="auto" an error.
    Returns a class used like LeastSquares: ``MyLoss(X, y, l2=..., fit_intercept=...,
    sample_weight=...)``, single or batched,
    every method and stopping rule.  phi and dphi are compiled here with the drivers'
    options (fastmath without nnan/ninf, error_model="numpy": x/0 is inf, not an error),
    also when given as numba.njit functions; a TypeError names the function if Numba
    cannot compile it or if it can raise (``raise``, or any operation that raises in
    nopython mode): exceptions cannot leave the parallel kernels, so phi and dphi must
    return nan or inf where the loss is undefined (reported as DIVERGED).  The drivers
    compile on the first
    solve per dtype and are kept for the life of the process (not cached on disk).
    Any y is accepted: validate labels yourself.  Check dphi with fastgd.check_grad.
    """
    if lipschitz is not None:
        lipschitz = validate.nonneg_real("lipschitz", lipschitz)
        if lipschitz <= 0:
            raise ValueError(f"lipschitz must be > 0 (or None), got {lipschitz}")
    entry = _row_loss_entry(phi, dphi)
    if name is None:
        name = f"RowLoss[{getattr(phi, '__name__', 'phi')}]"
    attrs = {"_entry": entry, "lipschitz": lipschitz,
             "curvature": 1.0 if lipschitz is None else lipschitz,
             "__doc__": f"f(w) = mean_i {getattr(phi, '__name__', 'phi')}(x_i.w, y_i) + "
                        f"l2/2 ||w||^2 (user-defined row loss)."}
    return type(name, (CustomLoss,), attrs)
