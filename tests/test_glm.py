"""Huber and Poisson against independent float64 references (scipy L-BFGS-B, scikit-learn)."""
import numpy as np
import pytest
from scipy.optimize import minimize as sp_minimize

import fastgd


def huber_ref(X, y, w, delta, l2):
    r = X @ w - y
    a = np.abs(r)
    phi = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    n = len(y)
    return phi.mean() + l2 / 2 * w @ w, X.T @ np.clip(r, -delta, delta) / n + l2 * w


def poisson_ref(X, y, w, l2):
    z = X @ w
    n = len(y)
    return (np.exp(z) - y * z).mean() + l2 / 2 * w @ w, X.T @ (np.exp(z) - y) / n + l2 * w


def lbfgs(fun, d):
    res = sp_minimize(fun, np.zeros(d), jac=True, method="L-BFGS-B",
                      options=dict(gtol=1e-12, ftol=1e-15, maxiter=20000))
    return res.x


def huber_data(rng, B, n, d, dtype):
    X = rng.standard_normal((B, n, d))
    w = rng.standard_normal((B, d))
    y = np.einsum("bnd,bd->bn", X, w) + 0.3 * rng.standard_normal((B, n))
    out = rng.random((B, n)) < 0.1            # 10% gross outliers
    y[out] += rng.choice([-20.0, 20.0], size=out.sum())
    return X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 2e-3)])
def test_huber_batch_matches_scipy(rng, dtype, tol):
    B, n, d, delta, l2 = 6, 80, 4, 0.7, 0.01
    X, y = huber_data(rng, B, n, d, dtype)
    res = fastgd.minimize(fastgd.Huber(X, y, delta=delta, l2=l2), lr="auto",
                          gtol=1e-9 if dtype == np.float64 else 1e-5, max_iter=50000)
    assert res.x.shape == (B, d) and res.x.dtype == dtype
    for b in range(B):
        X64, y64 = X[b].astype(np.float64), y[b].astype(np.float64)
        ref = lbfgs(lambda w: huber_ref(X64, y64, w, delta, l2), d)
        np.testing.assert_allclose(res.x[b], ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(res.fun[b], huber_ref(X64, y64, ref, delta, l2)[0], rtol=tol)
        # the robust fit is far from least squares (the outliers matter there)
        assert np.abs(ref - np.linalg.lstsq(X64, y64, rcond=None)[0]).max() > 10 * tol
    assert res.success.all()


@pytest.mark.parametrize("method", ["momentum", "nesterov", "adam"])
def test_huber_methods(rng, method):
    X, y = huber_data(rng, 3, 60, 3, np.float64)
    lr = 0.05 if method == "adam" else "auto"
    res = fastgd.minimize(fastgd.Huber(X, y, delta=1.5), method, lr=lr, gtol=1e-8,
                          max_iter=100000, momentum=0.5)
    for b in range(3):
        ref = lbfgs(lambda w: huber_ref(X[b], y[b], w, 1.5, 0.0), 3)
        np.testing.assert_allclose(res.x[b], ref, atol=1e-5)


def test_huber_single_delta_large_is_least_squares(rng):
    X = rng.standard_normal((50, 3))
    y = X @ rng.standard_normal(3) + 0.1 * rng.standard_normal(50)
    res = fastgd.minimize(fastgd.Huber(X, y, delta=1e6), gtol=1e-10, max_iter=10000)
    np.testing.assert_allclose(res.x, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-8)


def poisson_data(rng, B, n, d, dtype):
    X = 0.5 * rng.standard_normal((B, n, d))
    w = rng.standard_normal((B, d))
    y = rng.poisson(np.exp(np.einsum("bnd,bd->bn", X, w) + 0.5)).astype(np.float64)
    return X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 5e-3)])
def test_poisson_matches_sklearn_and_scipy(rng, dtype, tol):
    from sklearn.linear_model import PoissonRegressor
    B, n, d, l2 = 4, 120, 3, 0.05
    X, y = poisson_data(rng, B, n, d, dtype)
    res = fastgd.minimize(fastgd.Poisson(X, y, l2=l2), lr="auto", line_search="armijo",
                          gtol=1e-10 if dtype == np.float64 else 1e-4, max_iter=50000)
    assert res.success.all(), res.message
    for b in range(B):
        X64, y64 = X[b].astype(np.float64), y[b].astype(np.float64)
        ref = lbfgs(lambda w: poisson_ref(X64, y64, w, l2), d)
        # sklearn: mean half deviance + alpha/2 |w|^2 = our loss + const when alpha = l2
        sk = PoissonRegressor(alpha=l2, fit_intercept=False, tol=1e-12, max_iter=10000)
        sk.fit(X64, y64)
        np.testing.assert_allclose(sk.coef_, ref, atol=1e-6)
        np.testing.assert_allclose(res.x[b], sk.coef_, rtol=tol, atol=tol)
        np.testing.assert_allclose(res.fun[b], poisson_ref(X64, y64, ref, l2)[0],
                                   rtol=tol, atol=tol)


def test_poisson_fixed_lr_and_auto_rules(rng):
    X, y = poisson_data(rng, 2, 100, 3, np.float64)
    res = fastgd.minimize(fastgd.Poisson(X, y), lr=0.05, gtol=1e-9, max_iter=100000)
    for b in range(2):
        ref = lbfgs(lambda w: poisson_ref(X[b], y[b], w, 0.0), 3)
        np.testing.assert_allclose(res.x[b], ref, atol=1e-6)
    with pytest.raises(ValueError, match="line_search='armijo'"):
        fastgd.minimize(fastgd.Poisson(X, y))


def test_bad_labels_and_params(rng):
    X = rng.standard_normal((10, 2))
    y = rng.poisson(2.0, 10).astype(np.float64)
    y[3] = -1.0
    with pytest.raises(ValueError, match="counts >= 0"):
        fastgd.Poisson(X, y)
    with pytest.raises(ValueError, match="delta"):
        fastgd.Huber(X, np.ones(10), delta=0.0)
    with pytest.raises(TypeError, match="delta"):
        fastgd.Huber(X, np.ones(10), delta="1")
    with pytest.raises(TypeError, match="y"):
        fastgd.Huber(X, np.ones(10, np.float32))


def test_check_grad_builtin(rng):
    X = rng.standard_normal((30, 4))
    y = rng.poisson(1.0, 30).astype(np.float64)
    for p in (fastgd.Huber(X, X @ rng.standard_normal(4), delta=0.3, l2=0.1),
              fastgd.Poisson(X, y, l2=0.2), fastgd.LeastSquares(X, y),
              fastgd.Logistic(X, (y > 0).astype(np.float64))):
        assert fastgd.check_grad(p) < 1e-6
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    assert fastgd.check_grad(fastgd.Huber(X32, y32, delta=0.5)) < 1e-6   # checked in float64
    assert fastgd.check_grad(fastgd.Poisson(X[None].repeat(2, 0), y[None].repeat(2, 0)),
                             np.full((2, 4), 0.1)) < 1e-6


def _large_single(rng, loss, n, d, dtype):
    """A single problem big enough for the row-block driver (X.size >= 2**16)."""
    X = 0.5 * rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    z = X @ w
    if loss == "lsq":
        y = z + rng.standard_normal(n)
        ref = lambda v: ((0.5 * ((X @ v - y) ** 2)).mean(), X.T @ (X @ v - y) / n)  # noqa: E731
        prob = fastgd.LeastSquares
    elif loss == "logistic":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float64)

        def ref(v):
            zz = X @ v
            return (np.logaddexp(0, zz) - y * zz).mean(), X.T @ (1 / (1 + np.exp(-zz)) - y) / n
        prob = fastgd.Logistic
    elif loss == "huber":
        y = z + rng.standard_normal(n)
        ref = lambda v: huber_ref(X, y, v, 0.8, 0.0)  # noqa: E731
        prob = lambda X, y: fastgd.Huber(X, y, delta=0.8)  # noqa: E731
    else:
        y = rng.poisson(np.exp(z)).astype(np.float64)
        ref = lambda v: poisson_ref(X, y, v, 0.0)  # noqa: E731
        prob = fastgd.Poisson
    return prob(X.astype(dtype), y.astype(dtype)), ref, X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["lsq", "logistic", "huber", "poisson"])
def test_large_single_problem_row_blocks_match_numpy(rng, loss, dtype, single_driver):
    """The row-block driver (row pairs; logistic in tiles, prefetching ahead), with
    odd block lengths and a partial last tile: loss and gradient norm at a random
    point, then 30 GD steps, against float64 NumPy."""
    n, d = 24_001, 6
    prob, ref, X, y = _large_single(rng, loss, n, d, dtype)
    w0 = 0.3 * rng.standard_normal(d)
    x0 = w0.astype(dtype)
    tol = 1e-11 if dtype == np.float64 else 2e-5
    lr = 0.2
    r0 = fastgd.minimize(prob, x0=x0, lr=lr, max_iter=0)
    f_ref, g_ref = ref(x0.astype(np.float64))
    assert abs(r0.fun - f_ref) <= tol * abs(f_ref)
    assert abs(r0.grad_norm - np.linalg.norm(g_ref)) <= tol * np.linalg.norm(g_ref)
    res = fastgd.minimize(prob, x0=x0, lr=lr, gtol=0, max_iter=30)
    assert res.nit == 30
    w = x0.astype(np.float64)
    for _ in range(30):
        w = w - lr * ref(w)[1]
    np.testing.assert_allclose(res.x, w, rtol=10 * tol, atol=10 * tol)
