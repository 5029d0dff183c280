"""rtol: the gradient test relative to the start, |g| <= max(gtol, rtol |g(x0)|) (issue
"Real data", item 9), against a plain NumPy gradient-descent loop."""
import numpy as np
import pytest

import fastgd
from fastgd import Status


def np_gd_until(X, y, lr, tol_of_g0, max_iter):
    """NumPy GD on ||Xw - y||^2/(2n) from 0 until |g| <= tol_of_g0(|g0|): (w, nit)."""
    n = len(y)
    w = np.zeros(X.shape[1])
    g = X.T @ (X @ w - y) / n
    tol = tol_of_g0(np.linalg.norm(g))
    for t in range(max_iter):
        if np.linalg.norm(g) <= tol:
            return w, t
        w = w - lr * g
        g = X.T @ (X @ w - y) / n
    return w, max_iter


@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_rtol_stops_relative_to_the_start(rng, mode):
    X = rng.standard_normal((400, 5)) * [1e3, 1e3, 5e2, 1e3, 2e3]   # gradients ~1e6 at x0
    y = X @ rng.standard_normal(5) + rng.standard_normal(400)
    lr = 1.0 / np.linalg.eigvalsh(X.T @ X / 400).max()
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=lr, gtol=1e-6, rtol=1e-6,
                          max_iter=100_000, mode=mode)
    w, nit = np_gd_until(X, y, lr, lambda g0: max(1e-6, 1e-6 * g0), 100_000)
    assert res.status == Status.GTOL and res.nit == nit
    np.testing.assert_allclose(res.x, w, rtol=1e-8)
    assert "rtol 1e-06 x the gradient norm at x0" in res.message
    # gtol alone (absolute) needs more iterations on these data
    abs_res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=lr, gtol=1e-6, max_iter=100_000,
                              mode=mode)
    assert abs_res.nit > res.nit and "<= gtol 1e-06" in abs_res.message


def test_rtol_per_problem_in_a_batch(rng):
    X = rng.standard_normal((6, 100, 3))
    X *= np.array([1.0, 10.0, 100.0, 1.0, 10.0, 100.0])[:, None, None]
    y = np.einsum("bnd,d->bn", X, [1.0, 2.0, -1.0]) + rng.standard_normal((6, 100))
    lrs = np.array([1.0 / np.linalg.eigvalsh(Xb.T @ Xb / 100).max() for Xb in X])
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=lrs, gtol=0.0, rtol=1e-5,
                          max_iter=50_000)
    for b in range(6):
        w, nit = np_gd_until(X[b], y[b], lrs[b], lambda g0: 1e-5 * g0, 50_000)
        assert res.status[b] == Status.GTOL and res.nit[b] == nit
        np.testing.assert_allclose(res.x[b], w, rtol=1e-8)


def test_rtol_validated():
    p = fastgd.LeastSquares(np.ones((3, 1)), np.ones(3))
    with pytest.raises(ValueError, match="rtol"):
        fastgd.minimize(p, rtol=-1.0)
    with pytest.raises((ValueError, TypeError), match="rtol"):
        fastgd.minimize(p, rtol=float("nan"))


def test_max_iter_message_says_what_to_try(rng):
    X = rng.standard_normal((50, 3)) * [1.0, 10.0, 100.0]
    res = fastgd.minimize(fastgd.LeastSquares(X, rng.standard_normal(50)), max_iter=5)
    assert res.status == Status.MAX_ITER
    for hint in ("method='bb'", "restart=True", "standardised", "rtol=", "max_iter"):
        assert hint in res.message
