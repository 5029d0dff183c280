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
