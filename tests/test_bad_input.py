"""Bad-input matrix: every rejected input raises the documented exception, names the
argument, and leaves every caller-owned buffer bit-identical (buffers are poisoned
with distinctive values first, so an early write cannot go unnoticed).

Extends tests/test_validation.py without repeating its cases.
"""
import numpy as np
import pytest

import fastgd

B, N, D = 3, 12, 4


def bits(a):
    """A byte-exact snapshot (NaN-safe, dtype-safe)."""
    return (a.dtype.str, a.shape, np.ascontiguousarray(a).tobytes())


def poisoned(rng, shape, dtype=np.float64):
    """Seeded data with distinctive values, never all-zeros."""
    return (rng.standard_normal(shape) * 3.25 + 0.125).astype(dtype)


def labels(rng, shape, dtype=np.float64):
    y = (rng.uniform(size=shape) < 0.5).astype(dtype)
    y.flat[0], y.flat[-1] = 0, 1
    return y


def assert_untouched(buffers, snaps):
    for i, (a, s) in enumerate(zip(buffers, snaps)):
        assert bits(a) == s, f"caller buffer #{i} was modified"


# --------------------------------------------------------------- constructors
def _y_view(y):
    """A 2-D y of the same values that is not C-contiguous."""
    return np.asfortranarray(y)


CTOR = [
    # (id, problem, make(rng) -> (X, y), exception, argument named)
    ("y-inf", "lsq", lambda r: (poisoned(r, (N, D)), np.r_[poisoned(r, N - 1), np.inf]),
     ValueError, "y"),
    ("y-neg-inf-batched", "lsq",
     lambda r: (poisoned(r, (B, N, D)), np.where(np.eye(B, N) > 0, -np.inf, poisoned(r, (B, N)))),
     ValueError, "y"),
    ("X-nan-batched", "lsq",
     lambda r: (np.where(np.arange(N * D).reshape(N, D) == 7, np.nan, poisoned(r, (B, N, D))),
                poisoned(r, (B, N))), ValueError, "X"),
    ("X-inf-float32", "logistic",
     lambda r: (np.where(np.eye(N, D) > 0, np.float32(np.inf), poisoned(r, (N, D), np.float32)),
                labels(r, N, np.float32)), ValueError, "X"),
    ("y-0d", "lsq", lambda r: (poisoned(r, (N, D)), np.array(1.5)), ValueError, "y"),
    ("y-4d", "lsq", lambda r: (poisoned(r, (N, D)), poisoned(r, (1, 1, 1, N))), ValueError, "y"),
    ("y-3d-for-batch", "lsq", lambda r: (poisoned(r, (B, N, D)), poisoned(r, (B, N, 1))),
     ValueError, "y"),
    ("y-complex", "lsq", lambda r: (poisoned(r, (N, D)), poisoned(r, N).astype(complex)),
     TypeError, "y"),
    ("y-float16", "lsq", lambda r: (poisoned(r, (N, D), np.float16), poisoned(r, N, np.float16)),
     TypeError, "X"),
    ("y-float64-X-float32", "lsq", lambda r: (poisoned(r, (N, D), np.float32), poisoned(r, N)),
     TypeError, "y"),
    ("y-float32-X-float64-batched", "logistic",
     lambda r: (poisoned(r, (B, N, D)), labels(r, (B, N), np.float32)), TypeError, "y"),
    ("X-int32", "lsq", lambda r: (np.arange(N * D, dtype=np.int32).reshape(N, D),
                                  poisoned(r, N)), TypeError, "X"),
    ("X-uint8-batched", "lsq", lambda r: (np.ones((B, N, D), np.uint8), poisoned(r, (B, N))),
     TypeError, "X"),
    ("X-complex64", "lsq", lambda r: (poisoned(r, (N, D)).astype(np.complex64),
                                      poisoned(r, N, np.float32)), TypeError, "X"),
    ("X-byteswapped", "lsq", lambda r: (poisoned(r, (N, D)).astype(">f8"), poisoned(r, N)),
     TypeError, "X"),
    ("X-object", "lsq", lambda r: (poisoned(r, (N, D)).astype(object), poisoned(r, N)),
     TypeError, "X"),
    ("X-masked", "lsq",
     lambda r: (np.ma.masked_invalid(np.where(np.eye(N, D) > 0, np.nan, poisoned(r, (N, D)))),
                poisoned(r, N)), TypeError, "X"),
    ("X-tuple", "lsq", lambda r: (tuple(map(tuple, poisoned(r, (N, D)))), poisoned(r, N)),
     TypeError, "X"),
    ("y-list", "lsq", lambda r: (poisoned(r, (N, D)), list(poisoned(r, N))), TypeError, "y"),
    ("X-batch-strided", "lsq", lambda r: (poisoned(r, (2 * B, N, D))[::2], poisoned(r, (B, N))),
     ValueError, "X"),
    ("X-batch-fortran", "logistic",
     lambda r: (np.asfortranarray(poisoned(r, (B, N, D))), labels(r, (B, N))), ValueError, "X"),
    ("y-batch-fortran", "lsq", lambda r: (poisoned(r, (B, N, D)), _y_view(poisoned(r, (B, N)))),
     ValueError, "y"),
    ("y-batch-wrong-B", "lsq", lambda r: (poisoned(r, (B, N, D)), poisoned(r, (B + 1, N))),
     ValueError, "y"),
    ("y-1d-for-batch", "lsq", lambda r: (poisoned(r, (B, N, D)), poisoned(r, N)), ValueError, "y"),
    ("B0-n0", "logistic", lambda r: (np.zeros((0, 0, D)), np.zeros((0, 0))), ValueError, "X"),
    ("batch-d0", "lsq", lambda r: (np.zeros((B, N, 0)), poisoned(r, (B, N))), ValueError, "X"),
    ("batch-n0", "lsq", lambda r: (np.zeros((B, 0, D)), np.zeros((B, 0))), ValueError, "X"),
    ("labels-half-batched", "logistic",
     lambda r: (poisoned(r, (B, N, D)), np.where(np.eye(B, N) > 0, 0.5, labels(r, (B, N)))),
     ValueError, "y"),
    ("labels-two-float32", "logistic",
     lambda r: (poisoned(r, (N, D), np.float32), np.r_[labels(r, N - 1), 2.0].astype(np.float32)),
     ValueError, "y"),
    ("labels-minus-one", "logistic",
     lambda r: (poisoned(r, (N, D)), 2 * labels(r, N) - 1), ValueError, "y"),
    ("labels-tiny", "logistic",
     lambda r: (poisoned(r, (N, D)), np.r_[labels(r, N - 1), 1e-300]), ValueError, "y"),
]
PROBLEMS = {"lsq": fastgd.LeastSquares, "logistic": fastgd.Logistic}


@pytest.mark.parametrize("case", CTOR, ids=[c[0] for c in CTOR])
def test_constructor_rejects(rng, case):
    _, kind, make, exc, word = case
    X, y = make(rng)
    arrays = [a for a in (X, y) if isinstance(a, np.ndarray)]
    snaps = [bits(a) for a in arrays]
    with pytest.raises(exc, match=rf"\b{word}\b"):
        PROBLEMS[kind](X, y, l2=0.5)
    assert_untouched(arrays, snaps)


@pytest.mark.parametrize("l2,exc", [(True, TypeError), (np.array([0.1]), TypeError),
                                    (1j, TypeError), (None, TypeError), (-np.inf, ValueError)])
def test_constructor_rejects_l2(rng, l2, exc):
    X, y = poisoned(rng, (N, D)), labels(rng, N)
    with pytest.raises(exc, match=r"\bl2\b"):
        fastgd.Logistic(X, y, l2=l2)


def test_constructor_accepts_read_only_and_never_copies(rng):
    """Positive control for the matrix: read-only, memmap-like data is fine and shared."""
    X, y = poisoned(rng, (B, N, D), np.float32), labels(rng, (B, N), np.float32)
    X.flags.writeable = False
    y.flags.writeable = False
    p = fastgd.Logistic(X, y)
    assert p.X is X and p.y is y


# ------------------------------------------------------------------ minimize
def _x0(rng, shape=(B, D), dtype=np.float64):
    return poisoned(rng, shape, dtype)


def _readonly(a):
    a.flags.writeable = False
    return a


def _numba_threads():
    import numba
    return numba.config.NUMBA_NUM_THREADS


MIN = [
    # (id, make(rng) -> kwargs, exception, argument named)
    ("x0-inf", lambda r: dict(x0=np.where(np.eye(B, D) > 0, np.inf, _x0(r))), ValueError, "x0"),
    ("x0-nan-inplace", lambda r: dict(x0=np.where(np.eye(B, D) > 0, np.nan, _x0(r)),
                                      inplace=True), ValueError, "x0"),
    ("x0-0d", lambda r: dict(x0=np.array(0.5)), ValueError, "x0"),
    ("x0-4d", lambda r: dict(x0=_x0(r, (1, 1, B, D))), ValueError, "x0"),
    ("x0-single-shape-for-batch", lambda r: dict(x0=_x0(r, (D,))), ValueError, "x0"),
    ("x0-int", lambda r: dict(x0=np.arange(B * D).reshape(B, D)), TypeError, "x0"),
    ("x0-bool", lambda r: dict(x0=np.ones((B, D), bool)), TypeError, "x0"),
    ("x0-complex", lambda r: dict(x0=_x0(r).astype(complex)), TypeError, "x0"),
    ("x0-float16", lambda r: dict(x0=_x0(r, dtype=np.float16)), TypeError, "x0"),
    ("x0-byteswapped", lambda r: dict(x0=_x0(r).astype(">f8")), TypeError, "x0"),
    ("x0-readonly-inplace", lambda r: dict(x0=_readonly(_x0(r)), inplace=True), ValueError, "x0"),
    ("x0-strided-inplace", lambda r: dict(x0=_x0(r, (B, 2 * D))[:, ::2], inplace=True),
     ValueError, "x0"),
    ("x0-fortran-inplace", lambda r: dict(x0=np.asfortranarray(_x0(r)), inplace=True),
     ValueError, "x0"),
    ("lr-inf-in-array", lambda r: dict(lr=np.array([0.1, np.inf, 0.1])), ValueError, "lr"),
    ("lr-zero-in-array", lambda r: dict(lr=np.array([0.1, 0.0, 0.1])), ValueError, "lr"),
    ("lr-short", lambda r: dict(lr=np.full(B - 1, 0.1)), ValueError, "lr"),
    ("lr-list-long", lambda r: dict(lr=[0.1] * (B + 2)), ValueError, "lr"),
    ("lr-2d", lambda r: dict(lr=np.full((B, 1), 0.1)), ValueError, "lr"),
    ("lr-complex", lambda r: dict(lr=0.1 + 0j), TypeError, "lr"),
    ("lr-complex-array", lambda r: dict(lr=np.full(B, 0.1 + 1j)), TypeError, "lr"),
    ("lr-bool-array", lambda r: dict(lr=np.ones(B, bool)), TypeError, "lr"),
    ("lr-none", lambda r: dict(lr=None), TypeError, "lr"),
    ("lr-Auto", lambda r: dict(lr="Auto"), ValueError, "lr"),
    ("lr-neg-inf", lambda r: dict(lr=-np.inf), ValueError, "lr"),
    ("method-upper", lambda r: dict(method="GD"), ValueError, "method"),
    ("method-none", lambda r: dict(method=None), ValueError, "method"),
    ("method-sgd", lambda r: dict(method="sgd"), ValueError, "method"),
    ("max_iter-bool", lambda r: dict(max_iter=True), TypeError, "max_iter"),
    ("max_iter-none", lambda r: dict(max_iter=None), TypeError, "max_iter"),
    ("max_iter-float", lambda r: dict(max_iter=1e3), TypeError, "max_iter"),
    ("gtol-inf", lambda r: dict(gtol=np.inf), ValueError, "gtol"),
    ("gtol-str", lambda r: dict(gtol="1e-6"), TypeError, "gtol"),
    ("xtol-bool", lambda r: dict(xtol=True), TypeError, "xtol"),
    ("ftol-neg", lambda r: dict(ftol=-1e-9), ValueError, "ftol"),
    ("momentum-nan", lambda r: dict(momentum=np.nan), ValueError, "momentum"),
    ("betas-triple", lambda r: dict(betas=(0.9, 0.99, 0.999)), TypeError, "betas"),
    ("betas-negative", lambda r: dict(betas=(-0.1, 0.999)), ValueError, "betas"),
    ("eps-inf", lambda r: dict(eps=np.inf), ValueError, "eps"),
    ("history-bool", lambda r: dict(history=True), TypeError, "history"),
    ("line_search-true", lambda r: dict(line_search=True), ValueError, "line_search"),
    ("mode-none", lambda r: dict(mode=None), ValueError, "mode"),
    ("threads-zero", lambda r: dict(threads=0), ValueError, "threads"),
    ("threads-negative", lambda r: dict(threads=-1), ValueError, "threads"),
    ("threads-too-many", lambda r: dict(threads=_numba_threads() + 1), ValueError, "threads"),
    ("threads-float", lambda r: dict(threads=2.0), TypeError, "threads"),
    ("threads-bool", lambda r: dict(threads=True), TypeError, "threads"),
    ("threads-str", lambda r: dict(threads="2"), TypeError, "threads"),
    ("unknown-option-tol", lambda r: dict(tol=1e-6), TypeError, "tol"),
    ("unknown-option-maxiter", lambda r: dict(maxiter=10), TypeError, "maxiter"),
    ("unknown-option-weight_decay", lambda r: dict(weight_decay=0.1), TypeError, "weight_decay"),
]


@pytest.mark.parametrize("case", MIN, ids=[c[0] for c in MIN])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minimize_rejects(rng, case, dtype):
    _, make, exc, word = case
    X, y = poisoned(rng, (B, N, D), dtype), labels(rng, (B, N), dtype)
    prob = fastgd.Logistic(X, y)
    kwargs = make(rng)
    x0 = kwargs.get("x0")
    if isinstance(x0, np.ndarray) and x0.dtype == np.float64 and dtype == np.float32 \
            and exc is ValueError:
        # keep the case about its own defect, not about the dtype mismatch
        kwargs["x0"] = x0 = _cast_like(x0, np.float32)
    arrays = [X, y] + [v for v in kwargs.values() if isinstance(v, np.ndarray)]
    snaps = [bits(a) for a in arrays]
    with pytest.raises(exc, match=rf"\b{word}\b"):
        fastgd.minimize(prob, **kwargs)
    assert_untouched(arrays, snaps)


def _cast_like(a, dtype):
    """The same kind of view (strided, Fortran, read-only) in another dtype."""
    if a.ndim == 2 and not a.flags.c_contiguous and not a.flags.f_contiguous:
        base = np.ascontiguousarray(np.repeat(a, 2, axis=1)).astype(dtype)
        return base[:, ::2]
    out = np.array(a, dtype=dtype, order="F" if a.flags.f_contiguous and a.ndim > 1
                   and not a.flags.c_contiguous else "C")
    out.flags.writeable = a.flags.writeable
    return out


@pytest.mark.parametrize("lr", [np.array([0.1, 0.2]), [0.1, 0.1], np.array([[0.1]])])
def test_minimize_single_problem_rejects_lr_array(rng, lr):
    X, y = poisoned(rng, (N, D)), poisoned(rng, N)
    x0 = poisoned(rng, D)
    snaps = [bits(a) for a in (X, y, x0)]
    with pytest.raises(ValueError, match=r"\blr\b"):
        fastgd.minimize(fastgd.LeastSquares(X, y), lr=lr, x0=x0)
    assert_untouched((X, y, x0), snaps)


def test_minimize_leaves_read_only_x0_alone(rng):
    """Positive control: a read-only x0 without inplace is fine and stays unchanged."""
    X, y = poisoned(rng, (B, N, D)), poisoned(rng, (B, N))
    x0 = _readonly(poisoned(rng, (B, D)))
    snap = bits(x0)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.01, x0=x0, max_iter=5)
    assert bits(x0) == snap and not np.shares_memory(res.x, x0)


# ----------------------------------------------------------------------- ops
def _ops_cases():
    f32, f64 = np.float32, np.float64
    m = 9

    def vec(r, dtype=f64, k=m):
        return poisoned(r, k, dtype)

    def sgd(r, dtype=f64, **over):
        kw = dict(params=vec(r, dtype), grads=vec(r, dtype), step=2, lr=0.1)
        kw.update({k: (v(r) if callable(v) else v) for k, v in over.items()})
        return "sgd_", kw

    def adam(r, dtype=f64, **over):
        kw = dict(params=vec(r, dtype), grads=vec(r, dtype), exp_avg=vec(r, dtype),
                  exp_avg_sq=np.abs(vec(r, dtype)), step=3, lr=1e-3)
        kw.update({k: (v(r) if callable(v) else v) for k, v in over.items()})
        return "adam_", kw

    def grad(fn, r, dtype=f64, **over):
        n, d = 7, 3
        kw = dict(X=poisoned(r, (n, d), dtype), y=labels(r, n, dtype), w=vec(r, dtype, d))
        kw.update({k: (v(r) if callable(v) else v) for k, v in over.items()})
        return fn, kw

    return [
        # (id, make(rng) -> (function name, kwargs), exception, argument named)
        ("sgd-params-int", lambda r: sgd(r, params=np.arange(m)), TypeError, "params"),
        ("sgd-params-float16", lambda r: sgd(r, params=lambda r: vec(r, np.float16)),
         TypeError, "params"),
        ("sgd-params-list", lambda r: sgd(r, params=[1.0] * m), TypeError, "params"),
        ("sgd-grads-mixed-dtype", lambda r: sgd(r, grads=lambda r: vec(r, f32)), TypeError,
         "grads"),
        ("sgd-grads-short", lambda r: sgd(r, grads=lambda r: vec(r, f64, m - 1)), ValueError,
         "grads"),
        ("sgd-params-2d", lambda r: sgd(r, params=lambda r: poisoned(r, (3, 3)),
                                        grads=lambda r: poisoned(r, (3, 3))), ValueError, "params"),
        ("sgd-params-0d", lambda r: sgd(r, params=np.array(1.5), grads=np.array(0.5)),
         ValueError, "params"),
        ("sgd-params-strided", lambda r: sgd(r, params=lambda r: vec(r, f64, 2 * m)[::2]),
         ValueError, "params"),
        ("sgd-params-readonly", lambda r: sgd(r, params=lambda r: _readonly(vec(r))),
         ValueError, "params"),
        ("sgd-params-empty", lambda r: sgd(r, params=np.zeros(0), grads=np.zeros(0)),
         ValueError, "params"),
        ("sgd-lr-negative", lambda r: sgd(r, lr=-0.1), ValueError, "lr"),
        ("sgd-lr-nan", lambda r: sgd(r, lr=np.nan), ValueError, "lr"),
        ("sgd-step-zero", lambda r: sgd(r, step=0), ValueError, "step"),
        ("sgd-step-float", lambda r: sgd(r, step=1.5), TypeError, "step"),
        ("sgd-momentum-no-buffer", lambda r: sgd(r, momentum=0.9), ValueError,
         "momentum_buffer"),
        ("sgd-buffer-wrong-length", lambda r: sgd(r, momentum=0.9,
                                                  momentum_buffer=lambda r: vec(r, f64, m + 1)),
         ValueError, "momentum_buffer"),
        ("sgd-buffer-float32", lambda r: sgd(r, momentum=0.9,
                                             momentum_buffer=lambda r: vec(r, f32)),
         TypeError, "momentum_buffer"),
        ("sgd-buffer-readonly", lambda r: sgd(r, momentum=0.9,
                                              momentum_buffer=lambda r: _readonly(vec(r))),
         ValueError, "momentum_buffer"),
        ("sgd-momentum-negative", lambda r: sgd(r, momentum=-0.5,
                                                momentum_buffer=lambda r: vec(r)),
         ValueError, "momentum"),
        ("sgd-weight_decay-nan", lambda r: sgd(r, weight_decay=np.nan), ValueError,
         "weight_decay"),
        ("adam-exp_avg-short", lambda r: adam(r, exp_avg=lambda r: vec(r, f64, m - 2)),
         ValueError, "exp_avg"),
        ("adam-exp_avg_sq-float32", lambda r: adam(r, exp_avg_sq=lambda r: vec(r, f32)),
         TypeError, "exp_avg_sq"),
        ("adam-exp_avg-readonly", lambda r: adam(r, exp_avg=lambda r: _readonly(vec(r))),
         ValueError, "exp_avg"),
        ("adam-amsgrad-no-max", lambda r: adam(r, amsgrad=True), ValueError, "max_exp_avg_sq"),
        ("adam-betas-one", lambda r: adam(r, betas=(0.9, 1.0)), ValueError, "betas"),
        ("adam-eps-negative", lambda r: adam(r, eps=-1e-8), ValueError, "eps"),
        ("adam-step-negative", lambda r: adam(r, step=-1), ValueError, "step"),
        ("adam-params-complex", lambda r: adam(r, params=lambda r: vec(r).astype(complex)),
         TypeError, "params"),
        ("lstsq-X-nan", lambda r: grad("lstsq_grad", r, X=lambda r: np.where(
            np.eye(7, 3) > 0, np.nan, poisoned(r, (7, 3)))), ValueError, "X"),
        ("lstsq-w-wrong-length", lambda r: grad("lstsq_grad", r, w=lambda r: vec(r, f64, 4)),
         ValueError, "w"),
        ("lstsq-w-float32", lambda r: grad("lstsq_grad", r, w=lambda r: vec(r, f32, 3)),
         TypeError, "w"),
        ("lstsq-out-readonly", lambda r: grad("lstsq_grad", r,
                                              out=lambda r: _readonly(vec(r, f64, 3))),
         ValueError, "out"),
        ("lstsq-out-wrong-shape", lambda r: grad("lstsq_grad", r, out=lambda r: vec(r, f64, 7)),
         ValueError, "out"),
        ("lstsq-X-fortran", lambda r: grad("lstsq_grad", r, X=lambda r: np.asfortranarray(
            poisoned(r, (7, 3)))), ValueError, "X"),
        ("logistic-labels-half", lambda r: grad("logistic_grad", r,
                                                y=lambda r: np.r_[labels(r, 6), 0.5]),
         ValueError, "y"),
        ("logistic-X-int", lambda r: grad("logistic_grad", r,
                                          X=np.ones((7, 3), np.int64)), TypeError, "X"),
    ]


OPS = _ops_cases()


@pytest.mark.parametrize("case", OPS, ids=[c[0] for c in OPS])
def test_ops_reject(rng, case):
    ops = pytest.importorskip("fastgd.ops")
    _, make, exc, word = case
    name, kwargs = make(rng)
    fn = getattr(ops, name)
    arrays = [v for v in kwargs.values() if isinstance(v, np.ndarray)]
    snaps = [bits(a) for a in arrays]
    if name.endswith("_grad"):
        args = [kwargs.pop(k) for k in ("X", "y", "w")]
    else:
        args = [kwargs.pop(k) for k in ("params", "grads", "exp_avg", "exp_avg_sq")
                if k in kwargs]
    with pytest.raises(exc, match=rf"\b{word}\b"):
        fn(*args, **kwargs)
    assert_untouched(arrays, snaps)
