"""Property-based tests (hypothesis): for any valid input, minimize never raises, never
returns a non-finite x, always reports a valid Status, and a reported success holds
when re-checked independently in float64 with NumPy (tests/reference.py).

Rounding slack.  The kernels evaluate the gradient in the data dtype.  For a dot
product of length k the computed value differs from the exact one by at most
gamma_k * |a|.|b|, gamma_k = k u / (1 - k u), u = eps/2 of the dtype (Higham, Accuracy
and Stability of Numerical Algorithms, Sec. 3.1).  The gradient X^T r / n + l2 w is two
such products in sequence (z = X w: length d; X^T r: length n), so, component-wise,

    |g_computed - g_exact| <= gamma_{n+d+8} * (|X|^T (|X| |w| + |y| + 1) / n + l2 |w|)

(the +8 and the +1 cover the residual/sigmoid, the scaling by 1/n and the l2 term; for
the logistic loss |r_i| <= 1 and dr/dz <= 1/4).  A success by GTOL is therefore checked
as  ||g_numpy(x)|| <= gtol + ||that bound||: for float64 the bound is ~1e-14 relative
and the check is essentially exact; for float32 it is the honest resolution of the
gradient the solver saw.  The loss is checked the same way for FTOL.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

import fastgd
from fastgd import Status

import reference as ref

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
METHODS = ["gd", "momentum", "nesterov", "adam"]


def gamma(k, dtype):
    u = np.finfo(dtype).eps / 2
    return k * u / (1 - k * u)


def grad_bound(X, y, w, l2, dtype):
    """Component-wise bound on |computed - exact| gradient (see module docstring)."""
    X, y, w = (np.abs(np.asarray(a, np.float64)) for a in (X, y, w))
    n, d = X.shape
    return gamma(n + d + 8, dtype) * (X.T @ (X @ w + y + 1.0) / n + l2 * w)


def loss_bound(X, y, w, l2, dtype):
    """Bound on |computed - exact| loss: the z_i errors pushed through phi, plus the sum."""
    X, y, w = (np.abs(np.asarray(a, np.float64)) for a in (X, y, w))
    n, d = X.shape
    a = X @ w + y + 1.0
    return gamma(n + d + 8, dtype) * (np.mean(a * a) + l2 * w @ w)


def loss_grad(kind, X, y, w, l2):
    if kind == "lsq":
        return ref.lstsq_loss_grad(X, y, w, l2)
    return ref.logistic_loss_grad(X, y, w, l2)


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 6))
    batch = draw(st.sampled_from([None, 1, 3]))
    kind = draw(st.sampled_from(["lsq", "logistic"]))
    xscale = 10.0 ** draw(st.integers(-8, 8))
    yscale = 10.0 ** draw(st.integers(-8, 8))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    shape = (n, d) if batch is None else (batch, n, d)
    X = (rng.standard_normal(shape) * xscale).astype(dtype)
    if kind == "lsq":
        y = (rng.standard_normal(shape[:-1]) * yscale).astype(dtype)
    else:
        y = (rng.uniform(size=shape[:-1]) < 0.5).astype(dtype)
    l2 = draw(st.sampled_from([0.0, 0.0, 1e-3, 1.0]))
    return kind, X, y, l2


@st.composite
def options(draw):
    return dict(
        method=draw(st.sampled_from(METHODS)),
        lr=draw(st.one_of(st.just("auto"), st.floats(1e-6, 1e3).map(float))),
        max_iter=draw(st.integers(0, 60)),
        gtol=draw(st.sampled_from([0.0, 1e-8, 1e-5, 1e-2])),
        xtol=draw(st.sampled_from([0.0, 0.0, 1e-10, 1e-4])),
        ftol=draw(st.sampled_from([0.0, 0.0, 1e-12, 1e-6])),
        line_search=draw(st.sampled_from([None, "armijo"])),
    )


def make(kind, X, y, l2):
    return (fastgd.LeastSquares if kind == "lsq" else fastgd.Logistic)(X, y, l2=l2)


def per_problem(res, batched):
    """(x, status, nit, fun, grad_norm) per problem, as lists."""
    if batched:
        return [(res.x[k], int(res.status[k]), int(res.nit[k]), res.fun[k], res.grad_norm[k])
                for k in range(res.x.shape[0])]
    return [(res.x, int(res.status), int(res.nit), res.fun, res.grad_norm)]


def _fixed(kind, shape, dtype, xscale, yscale, seed=1):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal(shape) * xscale).astype(dtype)
    if kind == "lsq":
        y = (rng.standard_normal(shape[:-1]) * yscale).astype(dtype)
    else:
        y = (rng.uniform(size=shape[:-1]) < 0.5).astype(dtype)
    return kind, X, y, 0.0


_OPTS = dict(method="gd", lr="auto", max_iter=50, gtol=1e-5, xtol=0.0, ftol=0.0,
             line_search=None)


@SETTINGS
@given(problems(), options())
@example(_fixed("lsq", (1, 1), np.float32, 1e8, 1e-8), _OPTS)            # n = d = 1
@example(_fixed("logistic", (2, 1, 5), np.float64, 1e-8, 1.0),           # n < d, batched
         {**_OPTS, "method": "adam", "lr": 0.1})
@example(_fixed("lsq", (3, 2, 6), np.float32, 1e8, 1e8),                 # n < d, huge scale
         {**_OPTS, "method": "nesterov", "line_search": "armijo"})
def test_invariants(prob, opts):
    kind, X, y, l2 = prob
    X_snap, y_snap = X.copy(), y.copy()
    res = fastgd.minimize(make(kind, X, y, l2), **opts)
    batched = X.ndim == 3
    assert np.array_equal(X, X_snap) and np.array_equal(y, y_snap)
    assert res.x.dtype == X.dtype and res.x.shape == X.shape[:-2] + (X.shape[-1],)
    assert np.isfinite(res.x).all()
    Xs = X if batched else X[None]
    ys = y if batched else y[None]
    for k, (x, status, nit, fun, gnorm) in enumerate(per_problem(res, batched)):
        status = Status(status)  # raises on an invalid code
        event(f"{X.dtype} {status.name}")
        assert 0 <= nit <= opts["max_iter"]
        assert status.success == bool(np.atleast_1d(res.success)[k] if batched else res.success)
        if status is Status.MAX_ITER:
            assert nit == opts["max_iter"]
        if status is Status.GTOL:
            assert opts["gtol"] > 0
            _, g = loss_grad(kind, Xs[k], ys[k], x, l2)
            slack = np.linalg.norm(grad_bound(Xs[k], ys[k], x, l2, X.dtype))
            assert np.linalg.norm(g) <= opts["gtol"] * (1 + 1e-6) + slack, (
                f"GTOL claimed but ||g|| = {np.linalg.norm(g):.3g} > gtol {opts['gtol']}"
                f" + slack {slack:.3g}")
        if status is not Status.DIVERGED:
            f, g = loss_grad(kind, Xs[k], ys[k], x, l2)
            fb = loss_bound(Xs[k], ys[k], x, l2, X.dtype)
            # the reported loss and gradient norm are those of the returned x
            assert abs(float(fun) - f) <= 2 * fb + 4 * np.finfo(X.dtype).eps * abs(f) + 1e-300
            gb = np.linalg.norm(grad_bound(Xs[k], ys[k], x, l2, X.dtype))
            assert abs(float(gnorm) - np.linalg.norm(g)) <= 2 * gb + \
                4 * np.finfo(X.dtype).eps * np.linalg.norm(g) + 1e-300


@SETTINGS
@given(problems(), options(), st.sampled_from(["direct", "gram"]))
def test_step_tolerances_hold_and_converged_problems_stay_put(prob, opts, mode):
    """XTOL/FTOL: re-run to iterate nit-1 (runs are deterministic) and check the stated
    step/loss change in float64; every success is frozen: a longer run returns the same
    bits, and a run of exactly nit iterations with the tests off reproduces x (so x is
    iterate nit and nothing moved it after it converged)."""
    kind, X, y, l2 = prob
    # mode="auto" picks direct/gram from max_iter too, and the two round differently:
    # pin the mode, since the runs below differ in max_iter
    opts = {**opts, "mode": mode if kind == "lsq" else "direct"}
    p = make(kind, X, y, l2)
    res = fastgd.minimize(p, **opts)
    batched = X.ndim == 3
    assume(np.any(res.success))
    longer = fastgd.minimize(p, **{**opts, "max_iter": 2 * opts["max_iter"] + 7})
    Xs = X if batched else X[None]
    ys = y if batched else y[None]
    rows = per_problem(res, batched)
    long_rows = per_problem(longer, batched)
    for k, (x, status, nit, fun, _) in enumerate(rows):
        status = Status(status)
        if not status.success:
            continue
        event(f"checked {status.name}")
        lx, lstatus, lnit, lfun, _ = long_rows[k]
        assert (lstatus, lnit) == (status, nit)
        assert np.array_equal(lx, x) and lfun == fun
        # a solo run of this problem with the stopping tests off, for exactly nit updates
        Xk, yk = Xs[k].copy(), ys[k].copy()
        solo = make(kind, Xk, yk, l2)
        base = {**opts, "gtol": 0.0, "xtol": 0.0, "ftol": 0.0}
        exact = fastgd.minimize(solo, **{**base, "max_iter": nit})
        assert np.array_equal(exact.x, x), "x is not iterate nit, or moved after converging"
        if status in (Status.XTOL, Status.FTOL) and nit >= 1:
            prev = fastgd.minimize(solo, **{**base, "max_iter": nit - 1}).x
            x64, p64 = x.astype(np.float64), prev.astype(np.float64)
            if status is Status.XTOL:
                step = np.linalg.norm(x64 - p64)
                assert step <= opts["xtol"] * (1 + 1e-12), step
            else:
                f1, _ = loss_grad(kind, Xk, yk, x64, l2)
                f0, _ = loss_grad(kind, Xk, yk, p64, l2)
                slack = loss_bound(Xk, yk, x64, l2, X.dtype) + loss_bound(Xk, yk, p64, l2, X.dtype)
                assert abs(f1 - f0) <= opts["ftol"] * max(1.0, abs(f0)) * (1 + 1e-9) + \
                    2 * slack + 4 * np.finfo(X.dtype).eps * abs(f0)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.sampled_from([np.float32, np.float64]), st.integers(-8, 8), st.integers(1, 3),
       st.sampled_from(METHODS))
def test_huge_steps_diverge_cleanly(dtype, e, n_minus_d, method):
    """A step 1e6 x too large diverges: status DIVERGED, x finite (its last finite iterate)."""
    rng = np.random.default_rng(e + 100 * n_minus_d)
    d = 3
    X = (rng.standard_normal((2, d + n_minus_d, d)) * 10.0 ** e).astype(dtype)
    y = (rng.standard_normal((2, d + n_minus_d)) * 10.0 ** e).astype(dtype)
    L = np.array([ref.lipschitz(X[k]) for k in range(2)])
    assume((L > 0).all() and np.isfinite(1e6 / L).all() and (1e6 / L < 1e300).all())
    res = fastgd.minimize(fastgd.LeastSquares(X, y), method=method, lr=1e6 / L, max_iter=200,
                          gtol=0.0)
    assert np.isfinite(res.x).all()
    if method != "adam":  # Adam's step is bounded by lr per coordinate: it may not diverge
        assert (res.status == Status.DIVERGED).all(), res.message
