"""minimize(precondition="diag") against independent references (NIST, scikit-learn, NumPy)."""
import numpy as np
import pytest

import fastgd

# NIST StRD Longley: y = TOTEMP, x = GNPDEFL, GNP, UNEMP, ARMED, POP, YEAR (16 rows)
LONGLEY = np.array([
    [60323, 83.0, 234289, 2356, 1590, 107608, 1947], [61122, 88.5, 259426, 2325, 1456, 108632, 1948],
    [60171, 88.2, 258054, 3682, 1616, 109773, 1949], [61187, 89.5, 284599, 3351, 1650, 110929, 1950],
    [63221, 96.2, 328975, 2099, 3099, 112075, 1951], [63639, 98.1, 346999, 1932, 3594, 113270, 1952],
    [64989, 99.0, 365385, 1870, 3547, 115094, 1953], [63761, 100.0, 363112, 3578, 3350, 116219, 1954],
    [66019, 101.2, 397469, 2904, 3048, 117388, 1955], [67857, 104.6, 419180, 2822, 2857, 118734, 1956],
    [68169, 108.4, 442769, 2936, 2798, 120445, 1957], [66513, 110.8, 444546, 4681, 2637, 121950, 1958],
    [68655, 112.6, 482704, 3813, 2552, 123366, 1959], [69564, 114.2, 502601, 3931, 2514, 125368, 1960],
    [69331, 115.7, 518173, 4806, 2572, 127852, 1961], [70551, 116.9, 554894, 4007, 2827, 130081, 1962]],
    np.float64)
# NIST certified values: B1..B6, then the intercept B0
CERTIFIED = np.array([15.0618722713733, -0.358191792925910e-01, -2.02022980381683,
                      -1.03322686717359, -0.511041056535807e-01, 1829.15146461355])
CERTIFIED_B0 = -3482258.63459582


def _longley():
    return np.ascontiguousarray(LONGLEY[:, 1:]), np.ascontiguousarray(LONGLEY[:, 0])


def _relerr(res):
    return np.max(np.abs(np.r_[res.x, res.intercept] / np.r_[CERTIFIED, CERTIFIED_B0] - 1))


@pytest.mark.parametrize("method, options", [
    ("bb", {}),                                              # the defaults otherwise (Gram form)
    ("nesterov", {"max_iter": 100000, "mode": "direct"}),
    ("nesterov", {"max_iter": 100000, "mode": "gram"}),
])
def test_longley_reaches_the_certified_values(method, options):
    X, y = _longley()
    res = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=True), method,
                          precondition="diag", **options)
    assert _relerr(res) < 1e-5
    raw = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=True), method, **options)
    assert not _relerr(raw) < 1e-2


def _lstsq(X, y, w, b, l2):
    r = X @ w + b - y
    n = len(y)
    g = np.r_[X.T @ r / n + l2 * w, r.mean()]
    return r @ r / (2 * n) + l2 / 2 * w @ w, g


@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_badly_scaled_ridge_converges_with_auto_lr(rng, mode):
    from sklearn.linear_model import Ridge
    n, d = 300, 5
    scales = np.array([1e-3, 1e-1, 1.0, 1e2, 1e4])
    X = rng.standard_normal((n, d)) * scales + 3.0 * scales
    y = X @ (1.0 / scales) + 0.1 * rng.standard_normal(n) + 2.0
    l2 = 1e-3
    ref = Ridge(alpha=l2 * n).fit(X, y)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True), "nesterov",
                          precondition="diag", max_iter=5000, gtol=1e-9, mode=mode)
    assert res.status == fastgd.Status.GTOL
    np.testing.assert_allclose(res.x, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-6)
    f, g = _lstsq(X, y, res.x, res.intercept, l2)
    assert res.fun == pytest.approx(f, rel=1e-10)
    assert res.grad_norm == pytest.approx(np.linalg.norm(g), abs=1e-8)  # at rounding level
    early = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True), "nesterov",
                            precondition="diag", max_iter=20, mode=mode)
    f, g = _lstsq(X, y, early.x, early.intercept, l2)      # far from converged: exact
    assert early.fun == pytest.approx(f, rel=1e-10)
    assert early.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-8, abs=1e-8)  # Gram rounding
    raw = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True), "nesterov",
                          max_iter=5000, gtol=1e-9, mode=mode)
    assert raw.status == fastgd.Status.MAX_ITER


def test_badly_scaled_logistic_equals_sklearn(rng):
    from sklearn.linear_model import LogisticRegression
    n, d = 400, 4
    scales = np.array([1e-3, 1.0, 1e2, 1e4])
    Z = rng.standard_normal((n, d))
    y = (Z @ np.array([1.0, -2.0, 0.5, 1.0]) + 0.5 * rng.standard_normal(n) > 0).astype(float)
    X = Z * scales
    C = 1.0
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(X, y)
    prob = fastgd.Logistic(X, y, l2=1.0 / (C * n), fit_intercept=True)
    res = fastgd.minimize(prob, "bb", precondition="diag", max_iter=5000, gtol=1e-10)
    assert res.success
    np.testing.assert_allclose(res.x, ref.coef_[0], rtol=1e-5)
    assert res.intercept == pytest.approx(ref.intercept_[0], rel=1e-5, abs=1e-6)
    raw = fastgd.minimize(prob, "bb", max_iter=5000, gtol=1e-10)
    assert not raw.success


@pytest.mark.parametrize("value", ["full", 1, "DIAG", True])
def test_bad_values_are_rejected(rng, value):
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    with pytest.raises(ValueError, match="precondition"):
        fastgd.minimize(fastgd.LeastSquares(X, y), precondition=value)


def test_cuda_is_refused_clearly(rng):
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    with pytest.raises(ValueError, match="precondition"):
        fastgd.minimize(fastgd.LeastSquares(X, y), precondition="diag", device="cuda")


# ---------------------------------------------------------------- every CPU path (issue 15 item 5)
# Columns in very different units (1e-2 .. 1e3) around means of 3 spreads: without the
# preconditioner these run to MAX_ITER; with it they reach the float64 references.
SCALES = np.array([1e-2, 1.0, 30.0, 1e3])


def _scaled(rng, shape, dtype=np.float64):
    """X (..., n, d) with the columns of SCALES (their spread and, 3x it, their mean)."""
    return ((rng.standard_normal(shape) + 3.0) * SCALES).astype(dtype)


def _targets(rng, X):
    """y = X w_true + 2 + noise, w_true = 1 / SCALES (each column matters as much)."""
    return (X @ (1.0 / SCALES) + 2.0 + 0.1 * rng.standard_normal(X.shape[:-1])).astype(X.dtype)


def _unit_mean(s, n):
    return np.ones(n) if s is None else np.asarray(s, np.float64) / np.mean(s)


def ridge_reference(X, y, l2, s=None, intercept=True):
    """argmin sum_i s_i (x_i.w + b - y_i)^2 / (2 sum s) + l2/2 |w|^2 (b unpenalised):
    the normal equations in float64, np.linalg.solve.  Returns (w, b) (b = 0.0 without)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    n, d = X.shape
    s = _unit_mean(s, n)
    A = np.hstack([X, np.ones((n, 1))]) if intercept else X
    pen = np.r_[np.ones(d), np.zeros(A.shape[1] - d)]
    theta = np.linalg.solve(A.T @ (s[:, None] * A) / n + l2 * np.diag(pen), A.T @ (s * y) / n)
    return theta[:d], (theta[d] if intercept else 0.0)


def lstsq_loss(X, y, w, b, l2, s=None):
    """(f, |grad f|) of the weighted ridge objective at (w, b) in float64 (grad in w and b)."""
    X, y, w = np.asarray(X, np.float64), np.asarray(y, np.float64), np.asarray(w, np.float64)
    n = len(y)
    s = _unit_mean(s, n)
    r = X @ w + b - y
    g = np.r_[X.T @ (s * r) / n + l2 * w, np.mean(s * r)]
    return np.mean(s * r * r) / 2 + l2 / 2 * w @ w, np.linalg.norm(g)


def _weights(rng, kind, B, n):
    return {"none": None, "shared": rng.uniform(0.2, 3.0, n),
            "per_problem": rng.uniform(0.2, 3.0, (B, n))}[kind]


def _row(s, q):
    return None if s is None else (s[q] if s.ndim == 2 else s)


@pytest.mark.parametrize("weights", ["none", "shared", "per_problem"])
@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_batch_equals_closed_form_ridge(rng, mode, weights):
    B, n, d = 4, 150, 4
    X = _scaled(rng, (B, n, d))
    y = _targets(rng, X)
    s = _weights(rng, weights, B, n)
    l2 = 1e-3
    prob = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s)
    res = fastgd.minimize(prob, "bb", precondition="diag", mode=mode, max_iter=3000, gtol=1e-9)
    assert res.success.all(), res.message
    for q in range(B):
        w, b = ridge_reference(X[q], y[q], l2, _row(s, q))
        np.testing.assert_allclose(res.x[q], w, rtol=1e-7)
        assert res.intercept[q] == pytest.approx(b, rel=1e-7)
        f, _ = lstsq_loss(X[q], y[q], res.x[q], res.intercept[q], l2, _row(s, q))
        assert res.fun[q] == pytest.approx(f, rel=1e-10)
    raw = fastgd.minimize(prob, "bb", mode=mode, max_iter=3000, gtol=1e-9)
    assert not raw.success.all()


@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_large_problem_on_row_blocks_equals_closed_form(rng, monkeypatch, row_blocks, mode):
    monkeypatch.setattr(fastgd.config, "LARGE_PROBLEM_ELEMENTS", 1)
    n, d = 2000, 4
    X = _scaled(rng, (n, d))
    y = _targets(rng, X)
    s = rng.uniform(0.2, 3.0, n)
    l2 = 1e-4
    prob = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s)
    assert fastgd.plan.is_large(prob, "cpu")
    res = fastgd.minimize(prob, "bb", precondition="diag", mode=mode, max_iter=3000, gtol=1e-9)
    assert res.success, res.message
    w, b = ridge_reference(X, y, l2, s)
    np.testing.assert_allclose(res.x, w, rtol=1e-7)
    assert res.intercept == pytest.approx(b, rel=1e-7)
    f, gn = lstsq_loss(X, y, res.x, res.intercept, l2, s)
    assert res.fun == pytest.approx(f, rel=1e-10)


def test_float32_batch_equals_float64_reference(rng):
    B, n, d = 3, 200, 4
    X = _scaled(rng, (B, n, d), np.float32)
    y = _targets(rng, X)
    l2 = 1e-3
    prob = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True)
    res = fastgd.minimize(prob, "bb", precondition="diag", max_iter=2000, gtol=1e-3,
                          mode="direct")
    assert res.x.dtype == np.float32 and res.intercept.dtype == np.float32
    for q in range(B):
        w, b = ridge_reference(X[q], y[q], l2)
        np.testing.assert_allclose(res.x[q], w, rtol=2e-3)
        assert res.intercept[q] == pytest.approx(b, rel=2e-3)
    raw = fastgd.minimize(prob, "bb", max_iter=2000, gtol=1e-3, mode="direct")
    assert not raw.success.all()


def test_csr_is_scaled_not_densified(rng, monkeypatch):
    sp = pytest.importorskip("scipy.sparse")
    n, d = 400, 4
    X = _scaled(rng, (n, d))
    X[rng.random((n, d)) < 0.5] = 0.0  # half the entries zero
    y = _targets(rng, X)
    s = rng.uniform(0.2, 3.0, n)
    l2 = 1e-3
    Xs = sp.csr_matrix(X)

    def densify(*args, **kwargs):
        raise AssertionError("X was densified")
    for cls in (sp.csr_matrix, getattr(sp, "csr_array", sp.csr_matrix)):
        monkeypatch.setattr(cls, "toarray", densify)
        monkeypatch.setattr(cls, "todense", densify)
    prob = fastgd.LeastSquares(Xs, y, l2=l2, fit_intercept=True, sample_weight=s)
    res = fastgd.minimize(prob, "bb", precondition="diag", max_iter=3000, gtol=1e-9)
    assert res.success, res.message
    monkeypatch.undo()
    w, b = ridge_reference(X, y, l2, s)
    np.testing.assert_allclose(res.x, w, rtol=1e-7)
    assert res.intercept == pytest.approx(b, rel=1e-7)
    raw = fastgd.minimize(prob, "bb", max_iter=3000, gtol=1e-9)
    assert not raw.success


def _softmax_objective(X, Y1, s, l2, k):
    """The written Softmax objective sum s_i CE_i / sum s + l2/2 |W|^2 (intercepts free) and
    its gradient, of theta = [W (d, k) flattened, b (k,)], float64."""
    n, d = X.shape
    s = _unit_mean(s, n)

    def fun(theta):
        W, b = theta[:d * k].reshape(d, k), theta[d * k:]
        Z = X @ W + b
        Z -= Z.max(axis=1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        R = s[:, None] * (np.exp(logp) - Y1) / n
        f = -np.sum(s * np.sum(Y1 * logp, axis=1)) / n + l2 / 2 * np.sum(W * W)
        return f, np.r_[(X.T @ R + l2 * W).ravel(), R.sum(axis=0)]
    return fun


def test_softmax_with_weights_equals_scipy(rng):
    from scipy.optimize import minimize as sp_minimize
    n, d, k = 300, 4, 3
    X = _scaled(rng, (n, d))
    Zs = (X - 3.0 * SCALES) / SCALES
    labels = np.argmax(Zs[:, :k] + 0.7 * rng.standard_normal((n, k)), axis=1).astype(float)
    s = rng.uniform(0.2, 3.0, n)
    l2 = 1e-2
    prob = fastgd.Softmax(X, labels, k, l2=l2, fit_intercept=True, sample_weight=s)
    res = fastgd.minimize(prob, "bb", precondition="diag", max_iter=5000, gtol=1e-9)
    assert res.success, res.message
    fun = _softmax_objective(X, np.eye(k)[labels.astype(int)], s, l2, k)
    # the reference minimises the same objective written in standardised variables
    # (W = Wz / sd, b = bz - mu W: an exact reparametrisation, so L-BFGS-B converges)
    mu, sd = X.mean(axis=0), X.std(axis=0)

    def in_z(theta_z):
        Wz, bz = theta_z[:d * k].reshape(d, k), theta_z[d * k:]
        W = Wz / sd[:, None]
        f, g = fun(np.r_[W.ravel(), bz - mu @ W])
        gW, gb = g[:d * k].reshape(d, k), g[d * k:]
        return f, np.r_[((gW - mu[:, None] * gb) / sd[:, None]).ravel(), gb]
    ref = sp_minimize(in_z, np.zeros((d + 1) * k), jac=True, method="L-BFGS-B",
                      options=dict(gtol=1e-13, ftol=1e-16, maxiter=100000))
    Wz, bz = ref.x[:d * k].reshape(d, k), ref.x[d * k:]
    W_ref = Wz / sd[:, None]
    b_ref = bz - mu @ W_ref
    np.testing.assert_allclose(res.x, W_ref, rtol=1e-5, atol=1e-7 / SCALES.max())
    # intercepts: unique up to a common shift (the loss is invariant to it)
    np.testing.assert_allclose(res.intercept - res.intercept.mean(), b_ref - b_ref.mean(),
                               atol=1e-5)
    f, _ = fun(np.r_[res.x.ravel(), res.intercept])
    assert res.fun == pytest.approx(f, rel=1e-10)


def _path_problem(path, rng, monkeypatch):
    """(problem, X (B, n, d) float64 dense, y (B, n), s (B, n) or None, l2) of each path."""
    sp = pytest.importorskip("scipy.sparse")
    n, d, l2 = 120, 4, 1e-3
    if path in ("rows", "large_gram"):
        monkeypatch.setattr(fastgd.config, "LARGE_PROBLEM_ELEMENTS", 1)
        monkeypatch.setattr(fastgd.config, "SERIAL_MAX_BYTES", 0)
    if path == "batch":
        X = _scaled(rng, (3, n, d))
        y, s = _targets(rng, X), rng.uniform(0.2, 3.0, (3, n))
        return fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s), X, y, s, l2
    X = _scaled(rng, (n, d))
    y, s = _targets(rng, X), rng.uniform(0.2, 3.0, n)
    data = sp.csr_matrix(X) if path == "csr" else X
    prob = fastgd.LeastSquares(data, y, l2=l2, fit_intercept=True, sample_weight=s)
    return prob, X[None], y[None], s[None], l2


@pytest.mark.parametrize("path, mode", [("batch", "direct"), ("batch", "gram"),
                                        ("serial", "direct"), ("rows", "direct"),
                                        ("large_gram", "gram"), ("csr", "auto")])
def test_x0_and_intercept0_are_in_the_original_variables(rng, monkeypatch, path, mode):
    prob, X, y, s, l2 = _path_problem(path, rng, monkeypatch)
    B = X.shape[0]
    x0 = (rng.standard_normal((B, X.shape[2])) / SCALES).reshape(prob.solution_shape)
    b0 = rng.standard_normal(B).reshape(prob.intercept_shape)
    x0c, b0c = x0.copy(), np.array(b0)
    start = fastgd.minimize(prob, x0=x0, intercept0=b0, precondition="diag", max_iter=0,
                            mode=mode)
    np.testing.assert_allclose(start.x, x0, rtol=1e-14)   # mapped to v and back
    np.testing.assert_allclose(start.intercept, b0, rtol=1e-14, atol=1e-13)
    np.testing.assert_array_equal(x0, x0c)               # never modified
    np.testing.assert_array_equal(b0, b0c)
    for q in range(B):
        f, gn = lstsq_loss(X[q], y[q], x0.reshape(B, -1)[q], np.reshape(b0, B)[q], l2, s[q])
        assert np.reshape(start.fun, B)[q] == pytest.approx(f, rel=1e-10)
        assert np.reshape(start.grad_norm, B)[q] == pytest.approx(gn, rel=1e-8)
    # from the solution itself: converged at once (the start was not mapped wrongly)
    refs = [ridge_reference(X[q], y[q], l2, s[q]) for q in range(B)]
    xs = np.array([r[0] for r in refs]).reshape(prob.solution_shape)
    bs = np.array([r[1] for r in refs]).reshape(prob.intercept_shape)
    done = fastgd.minimize(prob, x0=xs, intercept0=bs, precondition="diag", gtol=1e-7,
                           mode=mode)
    assert np.all(np.asarray(done.nit) == 0), done.message


def test_dask_batch_takes_precondition_and_rows_refuse_it(rng):
    da = pytest.importorskip("dask.array")
    import fastgd.dask as fdask
    B, n, d = 4, 100, 4
    X = _scaled(rng, (B, n, d))
    y = _targets(rng, X)
    l2 = 1e-3
    res = fdask.minimize(da.from_array(X, chunks=(2, n, d)), da.from_array(y, chunks=(2, n)),
                         "lstsq", "bb", l2=l2, fit_intercept=True, max_iter=3000, gtol=1e-9,
                         precondition="diag")
    assert res.success.all()
    for q in range(B):
        w, b = ridge_reference(X[q], y[q], l2)
        np.testing.assert_allclose(res.x[q], w, rtol=1e-7)
        assert res.intercept[q] == pytest.approx(b, rel=1e-7)
    with pytest.raises(ValueError, match="precondition"):
        fdask.minimize(da.from_array(X[0], chunks=(50, d)), da.from_array(y[0], chunks=50),
                       "lstsq", precondition="diag")


# ---------------------------------------------------------------- one X, many problems
@pytest.mark.parametrize("weights", ["none", "shared", "per_problem"])
@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_shared_x_and_l2_path_equal_single_solves(rng, mode, weights):
    B, n, d = 3, 150, 4
    X = _scaled(rng, (n, d))
    Y = np.stack([_targets(rng, X) for _ in range(B)])
    s = _weights(rng, weights, B, n)
    l2 = np.array([1e-4, 1e-2, 1.0])
    prob = fastgd.LeastSquares(X, Y, l2=l2, fit_intercept=True, sample_weight=s)
    assert prob.shared_x and prob.per_problem_l2
    opts = dict(precondition="diag", mode=mode)
    res = fastgd.minimize(prob, "bb", max_iter=3000, gtol=1e-10, **opts)
    early = fastgd.minimize(prob, "nesterov", max_iter=30, **opts)  # far from converged
    assert res.success.all(), res.message
    for q in range(B):
        w, b = ridge_reference(X, Y[q], l2[q], _row(s, q))
        np.testing.assert_allclose(res.x[q], w, rtol=1e-8)
        assert res.intercept[q] == pytest.approx(b, rel=1e-8)
        single = fastgd.LeastSquares(X, Y[q], l2=l2[q], fit_intercept=True,
                                     sample_weight=_row(s, q))
        one = fastgd.minimize(single, "bb", max_iter=3000, gtol=1e-10, **opts)
        np.testing.assert_allclose(res.x[q], one.x, rtol=1e-9)
        assert res.intercept[q] == pytest.approx(one.intercept, rel=1e-9)
        one = fastgd.minimize(single, "nesterov", max_iter=30, **opts)
        np.testing.assert_allclose(early.x[q], one.x, rtol=1e-9)    # the same iterates
        assert early.intercept[q] == pytest.approx(one.intercept, rel=1e-9)
        assert early.fun[q] == pytest.approx(one.fun, rel=1e-12)
    raw = fastgd.minimize(prob, "bb", max_iter=3000, gtol=1e-10, mode=mode)
    assert not raw.success.all()


def test_stacked_batch_with_l2_per_problem_equals_closed_form(rng):
    B, n, d = 3, 150, 4
    X = _scaled(rng, (B, n, d))
    y = _targets(rng, X)
    l2 = np.array([0.0, 1e-3, 0.1])
    prob = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True)
    res = fastgd.minimize(prob, "bb", precondition="diag", max_iter=3000, gtol=1e-10)
    assert res.success.all(), res.message
    for q in range(B):
        w, b = ridge_reference(X[q], y[q], l2[q])
        np.testing.assert_allclose(res.x[q], w, rtol=1e-8)
        assert res.intercept[q] == pytest.approx(b, rel=1e-8)


def test_shared_x_start_is_mapped(rng):
    B, n, d = 3, 100, 4
    X = _scaled(rng, (n, d))
    Y = np.stack([_targets(rng, X) for _ in range(B)])
    l2 = np.array([1e-4, 1e-2, 1.0])
    x0, b0 = rng.standard_normal((B, d)) / SCALES, rng.standard_normal(B)
    prob = fastgd.LeastSquares(X, Y, l2=l2, fit_intercept=True)
    start = fastgd.minimize(prob, x0=x0, intercept0=b0, precondition="diag", max_iter=0)
    np.testing.assert_allclose(start.x, x0, rtol=1e-14)
    np.testing.assert_allclose(start.intercept, b0, rtol=1e-14, atol=1e-13)
    for q in range(B):
        f, gn = lstsq_loss(X, Y[q], x0[q], b0[q], l2[q])
        assert start.fun[q] == pytest.approx(f, rel=1e-10)
        assert start.grad_norm[q] == pytest.approx(gn, rel=1e-8)


def test_softmax_shared_x_equals_single_solves_and_scipy(rng):
    n, d, k, B = 200, 4, 3, 2
    X = _scaled(rng, (n, d))
    Zs = (X - 3.0 * SCALES) / SCALES
    Y = np.stack([np.argmax(Zs[:, :k] + 0.7 * rng.standard_normal((n, k)), axis=1)
                  for _ in range(B)]).astype(float)
    s = rng.uniform(0.2, 3.0, (B, n))
    l2 = np.array([1e-3, 1e-1])
    prob = fastgd.Softmax(X, Y, k, l2=l2, fit_intercept=True, sample_weight=s)
    res = fastgd.minimize(prob, "bb", precondition="diag", max_iter=5000, gtol=1e-10)
    early = fastgd.minimize(prob, "nesterov", precondition="diag", max_iter=25)
    assert res.success.all(), res.message
    for q in range(B):
        single = fastgd.Softmax(X, Y[q], k, l2=l2[q], fit_intercept=True, sample_weight=s[q])
        one = fastgd.minimize(single, "nesterov", precondition="diag", max_iter=25)
        np.testing.assert_allclose(early.x[q], one.x, rtol=1e-9, atol=1e-14)  # same iterates
        np.testing.assert_allclose(early.intercept[q], one.intercept, rtol=1e-9, atol=1e-12)
        # the solution: the written objective's gradient vanishes there (float64, NumPy)
        fun = _softmax_objective(X, np.eye(k)[Y[q].astype(int)], s[q], l2[q], k)
        f, g = fun(np.r_[res.x[q].ravel(), res.intercept[q]])
        assert res.fun[q] == pytest.approx(f, rel=1e-10)
        assert np.linalg.norm(g) < 1e-9
