"""One X shared by many problems (issue 15 item 4): X (n, d) with y (B, n), l2 of shape (B,).

Checked against per-problem single solves (the same skeleton, one problem at a time),
against independent references (scikit-learn's Ridge for a regularisation path, SciPy's
L-BFGS on a NumPy logistic objective), for memory (tracemalloc: no per-problem copy of X),
and for bad input (refused before anything runs).
"""
import tracemalloc

import numpy as np
import pytest

import fastgd
from fastgd import Status

B = 3


def targets(loss, rng, X, B):
    """B target vectors (B, n) of the kind each loss takes, in float64."""
    n, d = X.shape
    w = rng.standard_normal((B, d)) * 0.5
    z = w @ X.T
    if loss == "logistic":
        return (z + 0.5 * rng.standard_normal(z.shape) > 0).astype(np.float64)
    if loss == "poisson":
        return rng.poisson(np.exp(0.3 * z)).astype(np.float64)
    return z + 0.3 * rng.standard_normal(z.shape)


PROBLEMS = {"lsq": (fastgd.LeastSquares, {}, 1.0), "logistic": (fastgd.Logistic, {}, 0.25),
            "huber": (fastgd.Huber, {"delta": 0.7}, 1.0), "poisson": (fastgd.Poisson, {}, None)}


def step_sizes(X, Y, curvature, l2, inter):
    """Safe step sizes (B,): half of 1/L for each problem (the augmented design's L)."""
    n = X.shape[0]
    Xa = np.hstack([X, np.ones((n, 1))]) if inter else X
    lam = np.linalg.eigvalsh(Xa.T @ Xa / n)[-1]
    curv = np.full(len(Y), curvature) if curvature else np.maximum(1.0, Y.max(axis=1))
    return 0.5 / (curv * lam + l2) * np.array([1.0, 0.7, 0.4])[:len(Y)]


# (method, variant): plain; weights (n,) shared; intercept and weights (B, n); intercept
VARIANTS = [("gd", "plain"), ("adam", "shared_weights"), ("armijo", "intercept_weights"),
            ("gd", "intercept")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method,variant", VARIANTS)
@pytest.mark.parametrize("loss", list(PROBLEMS))
def test_shared_batch_equals_single_solves(rng, loss, dtype, method, variant):
    cls, kw, curvature = PROBLEMS[loss]
    n, d = 120, 6
    X = rng.standard_normal((n, d))
    Y = targets(loss, rng, X, B)
    l2 = np.array([0.0, 0.05, 0.3])
    inter = "intercept" in variant
    if variant == "shared_weights":
        sw = rng.uniform(0.2, 2.0, n)
    elif variant == "intercept_weights":
        sw = rng.uniform(0.2, 2.0, (B, n))
    else:
        sw = None
    lrs = step_sizes(X, Y, curvature, l2, inter)
    opts = dict(max_iter=60, gtol=0.0)
    if method == "armijo":
        opts["line_search"] = "armijo"
        mname = "gd"
    else:
        mname = method
        if method == "adam":
            lrs = lrs * 0.1
    Xd, Yd = X.astype(dtype), Y.astype(dtype)
    p = cls(Xd, Yd, l2=l2, fit_intercept=inter, sample_weight=sw, **kw)
    assert p.shared_x and p.batched and p.batch_size == B and p.X is Xd
    res = fastgd.minimize(p, mname, lr=lrs, **opts)
    assert res.x.shape == (B, d) and res.x.dtype == dtype
    assert (res.intercept is not None) == inter
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    for q in range(B):
        swq = sw if sw is None or sw.ndim == 1 else sw[q]
        single = cls(Xd, Yd[q], l2=float(l2[q]), fit_intercept=inter, sample_weight=swq, **kw)
        ref = fastgd.minimize(single, mname, lr=float(lrs[q]), **opts)
        assert res.status[q] == ref.status and res.nit[q] == ref.nit
        np.testing.assert_allclose(res.x[q], ref.x, **tol)
        np.testing.assert_allclose(res.fun[q], ref.fun, **tol)
        if inter:
            np.testing.assert_allclose(res.intercept[q], ref.intercept, **tol)


@pytest.mark.parametrize("weights", [None, "shared", "per_problem"])
@pytest.mark.parametrize("mode", ["gram", "direct"])
def test_ridge_path_matches_sklearn(rng, mode, weights):
    """A regularisation path, l2 of shape (B,), in one call: scikit-learn's Ridge per alpha
    (sum_i s_i (y_i - x_i.w - b)^2 + alpha |w|^2, so alpha = l2 sum_i s_i)."""
    from sklearn.linear_model import Ridge
    n, d, P = 150, 5, 6
    X = rng.standard_normal((n, d)) * np.geomspace(1, 0.3, d) + 0.5
    y = X @ rng.standard_normal(d) + 2.0 + 0.2 * rng.standard_normal(n)
    l2s = np.geomspace(1e-3, 3.0, P)
    sw = {None: None, "shared": rng.uniform(0.2, 2.0, n),
          "per_problem": rng.uniform(0.2, 2.0, (P, n))}[weights]
    Y = np.tile(y, (P, 1))
    p = fastgd.LeastSquares(X, Y, l2=l2s, fit_intercept=True, sample_weight=sw)
    res = fastgd.minimize(p, "gd", mode=mode, line_search="armijo", max_iter=20000, gtol=1e-10)
    assert res.success.all(), res.message
    for q in range(P):
        s = np.ones(n) if sw is None else (sw if sw.ndim == 1 else sw[q])
        ref = Ridge(alpha=l2s[q] * s.sum(), fit_intercept=True, solver="cholesky",
                    tol=1e-12).fit(X, y, sample_weight=s)
        np.testing.assert_allclose(res.x[q], ref.coef_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(res.intercept[q], ref.intercept_, rtol=1e-6, atol=1e-7)


def test_logistic_targets_match_scipy(rng):
    """Several targets with per-problem weights, intercepts and l2 against SciPy's L-BFGS
    on a NumPy objective."""
    from scipy.optimize import minimize as sp_minimize
    n, d = 200, 4
    X = rng.standard_normal((n, d))
    Y = targets("logistic", rng, X, B)
    sw = rng.uniform(0.5, 1.5, (B, n))
    l2 = np.array([0.01, 0.1, 0.5])
    p = fastgd.Logistic(X, Y, l2=l2, fit_intercept=True, sample_weight=sw)
    res = fastgd.minimize(p, "gd", line_search="armijo", max_iter=20000, gtol=1e-9)
    assert res.success.all()
    for q in range(B):
        s = sw[q] / sw[q].sum()
        sgn = 2 * Y[q] - 1

        def fg(v):
            w, b = v[:d], v[d]
            m = sgn * (X @ w + b)
            f = s @ np.logaddexp(0.0, -m) + 0.5 * l2[q] * w @ w
            r = -sgn * s / (1 + np.exp(m))
            return f, np.append(X.T @ r + l2[q] * w, r.sum())
        ref = sp_minimize(fg, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                          options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000))
        np.testing.assert_allclose(res.x[q], ref.x[:d], atol=1e-6)
        np.testing.assert_allclose(res.intercept[q], ref.x[d], atol=1e-6)


def test_softmax_shared_equals_single_solves(rng):
    n, d, k = 90, 4, 3
    X = rng.standard_normal((n, d))
    Y = rng.integers(0, k, (B, n)).astype(np.float64)
    sw = rng.uniform(0.5, 2.0, n)
    l2 = np.array([0.0, 0.1, 1.0])
    for inter, weights in ((False, None), (True, sw)):
        p = fastgd.Softmax(X, Y, k, l2=l2, fit_intercept=inter, sample_weight=weights)
        res = fastgd.minimize(p, "gd", lr=0.5, max_iter=50, gtol=0.0)
        assert res.x.shape == (B, d, k)
        for q in range(B):
            single = fastgd.Softmax(X, Y[q], k, l2=float(l2[q]), fit_intercept=inter,
                                    sample_weight=weights)
            ref = fastgd.minimize(single, "gd", lr=0.5, max_iter=50, gtol=0.0)
            np.testing.assert_allclose(res.x[q], ref.x, rtol=1e-9, atol=1e-12)
            if inter:
                np.testing.assert_allclose(res.intercept[q], ref.intercept, rtol=1e-9,
                                           atol=1e-12)


def test_stacked_batch_with_l2_per_problem(rng):
    """l2 (B,) also for a batch of separate X (B, n, d)."""
    Xs = rng.standard_normal((B, 60, 4))
    Ys = rng.standard_normal((B, 60))
    l2 = np.array([0.0, 0.2, 2.0])
    res = fastgd.minimize(fastgd.LeastSquares(Xs, Ys, l2=l2), "gd", max_iter=5000, gtol=1e-11)
    assert res.success.all()
    for q in range(B):
        Xq, n = Xs[q], Xs.shape[1]
        ref = np.linalg.solve(Xq.T @ Xq / n + l2[q] * np.eye(4), Xq.T @ Ys[q] / n)
        np.testing.assert_allclose(res.x[q], ref, rtol=1e-8, atol=1e-10)


def test_sweep_shares_x_and_equals_single_runs(rng):
    X = rng.standard_normal((80, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(80)
    p = fastgd.LeastSquares(X, y, l2=0.1)
    lrs = np.array([0.01, 0.1, 0.5, 1.0])
    res = fastgd.sweep_lr(p, lrs, max_iter=40, gtol=0.0)
    for q, lr in enumerate(lrs):
        ref = fastgd.minimize(p, "gd", lr=lr, max_iter=40, gtol=0.0, history=1)
        np.testing.assert_allclose(res.x[q], ref.x, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(res.history[:, q], ref.history, rtol=1e-10)


@pytest.mark.parametrize("how", ["minimize", "sweep"])
def test_no_per_problem_copy_of_x(rng, how):
    """tracemalloc (which sees NumPy's and Numba's allocations): the solve of 16 problems
    sharing X allocates at most one transposed copy of X for the whole batch plus O(n)
    scratch per chunk (docs/problems.md), not 16 copies (the old sweep stacked them)."""
    L = 16
    X = rng.standard_normal((20_000, 50))
    y = rng.standard_normal(20_000)
    small = fastgd.LeastSquares(X[:50], np.tile(y[:50], (L, 1)))
    fastgd.minimize(small, "gd", lr=0.01, max_iter=2, mode="direct")  # compile first
    fastgd.sweep_lr(fastgd.LeastSquares(X[:50], y[:50]), np.full(L, 0.01), max_iter=2,
                    mode="direct")
    tracemalloc.start()
    try:
        if how == "minimize":
            p = fastgd.LeastSquares(X, np.tile(y, (L, 1)))
            base = tracemalloc.get_traced_memory()[0]  # Y itself: L * n
            tracemalloc.reset_peak()
            res = fastgd.minimize(p, "gd", lr=0.01, max_iter=3, mode="direct")
        else:
            p = fastgd.LeastSquares(X, y)
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            res = fastgd.sweep_lr(p, np.full(L, 0.01), max_iter=3, mode="direct")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert res.x.shape == (L, 50)
    # sweep: its targets (L, n) are made inside the call; X alone would be L * 8 MB
    allowed = 1.5 * X.nbytes + (L * y.nbytes if how == "sweep" else 0)
    assert peak < allowed, (peak, X.nbytes)


def test_bad_shapes_and_l2_are_refused(rng):
    X = rng.standard_normal((30, 3))
    Y = rng.standard_normal((4, 30))
    with pytest.raises(ValueError, match=r"y must have shape \(30,\).*\(B, 30\)"):
        fastgd.LeastSquares(X, rng.standard_normal((4, 29)))
    with pytest.raises(ValueError, match="y must be 1-d or 2-d"):
        fastgd.LeastSquares(X, rng.standard_normal((4, 30, 1)))
    with pytest.raises(ValueError, match=r"l2 must be a number or an array of shape \(4,\)"):
        fastgd.LeastSquares(X, Y, l2=np.ones(3))
    with pytest.raises(ValueError, match="l2 must be finite and >= 0 for every problem"):
        fastgd.LeastSquares(X, Y, l2=np.array([0.1, -0.1, 0.0, 0.0]))
    with pytest.raises(ValueError, match="l2 must be finite"):
        fastgd.LeastSquares(X, Y, l2=np.array([0.1, np.nan, 0.0, 0.0]))
    with pytest.raises(TypeError, match="l2 must be a real number for a single problem"):
        fastgd.LeastSquares(X, Y[0], l2=np.ones(4))
    with pytest.raises(TypeError, match="l2"):
        fastgd.LeastSquares(X, Y, l2=np.array(["a"] * 4))
    with pytest.raises(ValueError, match="l2=.*overflows float32"):
        fastgd.LeastSquares(X.astype(np.float32), Y.astype(np.float32),
                            l2=np.array([0.0, 1e39, 0.0, 0.0]))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        fastgd.LeastSquares(X, Y, sample_weight=np.ones((3, 30)))
    with pytest.raises(ValueError, match="n_classes|y must contain"):
        fastgd.Softmax(X, Y, 3)  # real targets are no class ids
    p = fastgd.LeastSquares(X, Y, l2=np.full(4, 0.1))
    x0 = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"lr array must have shape \(4,\)"):
        fastgd.minimize(p, lr=np.ones(3), x0=x0, inplace=True)
    with pytest.raises(ValueError, match=r"x0"):
        fastgd.minimize(p, lr=0.1, x0=np.ones(3), inplace=True)
    np.testing.assert_array_equal(x0, 1.0)  # nothing was written
    with pytest.raises(ValueError, match="shared X"):
        fastgd.minimize(p, lr=0.1, device="cuda")
    with pytest.raises(ValueError, match="single problem"):
        fastgd.sweep_lr(p, [0.1])


def test_scalar_l2_forms_and_repr(rng):
    X = rng.standard_normal((30, 3))
    Y = rng.standard_normal((2, 30))
    for l2 in (0.5, np.float32(0.5), np.array(0.5), 1):
        p = fastgd.LeastSquares(X, Y, l2=l2)
        assert not p.per_problem_l2 and isinstance(p.l2, float)
    p = fastgd.LeastSquares(X, Y, l2=[0.1, 0.2])
    assert p.per_problem_l2 and p.l2.shape == (2,)
    assert "shared by 2 problems" in repr(p) and "l2=..." in repr(p)
    # the gradient check works per problem with its own l2
    w = rng.standard_normal(3)
    for k in range(2):
        f, g = p.loss_grad64(w, k)
        r = X @ w - Y[k]
        np.testing.assert_allclose(g, X.T @ r / 30 + p.l2[k] * w)
    assert fastgd.check_grad(p, np.tile(w, (2, 1))) < 1e-5


def test_statuses_are_per_problem(rng):
    """A diverging learning rate in one problem stops only that one (shared X)."""
    X = rng.standard_normal((50, 3))
    Y = rng.standard_normal((3, 50))
    p = fastgd.LeastSquares(X, Y)
    res = fastgd.minimize(p, "gd", lr=np.array([0.1, 1e3, 0.5]), max_iter=5000, gtol=1e-9)
    assert res.status[1] == Status.DIVERGED
    assert res.success[[0, 2]].all()
