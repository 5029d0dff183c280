"""Softmax (multinomial logistic) against scipy L-BFGS-B and scikit-learn, float64 references."""
import numpy as np
import pytest
from scipy.optimize import minimize as sp_minimize
from scipy.special import logsumexp

import fastgd


def softmax_ref(X, y, W, l2):
    """mean_i [logsumexp(x_i W) - (x_i W)_{y_i}] + l2/2 |W|^2 and its gradient, float64."""
    n = len(y)
    Z = X @ W
    lse = logsumexp(Z, axis=1)
    f = (lse - Z[np.arange(n), y.astype(int)]).mean() + l2 / 2 * (W * W).sum()
    P = np.exp(Z - lse[:, None])
    P[np.arange(n), y.astype(int)] -= 1
    return f, X.T @ P / n + l2 * W


def lbfgs(X, y, k, l2):
    d = X.shape[1]

    def fun(w):
        f, g = softmax_ref(X, y, w.reshape(d, k), l2)
        return f, g.ravel()
    res = sp_minimize(fun, np.zeros(d * k), jac=True, method="L-BFGS-B",
                      options=dict(gtol=1e-12, ftol=1e-15, maxiter=20000))
    return res.x.reshape(d, k)


def data(rng, B, n, d, k, dtype):
    X = rng.standard_normal((B, n, d))
    Wt = rng.standard_normal((B, d, k))
    logits = np.einsum("bnd,bdk->bnk", X, Wt) + rng.gumbel(size=(B, n, k))
    return X.astype(dtype), logits.argmax(-1).astype(dtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 3e-3)])
def test_batch_matches_scipy(rng, dtype, tol):
    B, n, d, k, l2 = 5, 90, 3, 4, 0.02
    X, y = data(rng, B, n, d, k, dtype)
    res = fastgd.minimize(fastgd.Softmax(X, y, k, l2=l2), lr="auto",
                          gtol=1e-9 if dtype == np.float64 else 1e-5, max_iter=100000)
    assert res.x.shape == (B, d, k) and res.x.dtype == dtype
    assert res.success.all(), res.message
    for b in range(B):
        X64, y64 = X[b].astype(np.float64), y[b].astype(np.float64)
        ref = lbfgs(X64, y64, k, l2)
        np.testing.assert_allclose(res.x[b], ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(res.fun[b], softmax_ref(X64, y64, ref, l2)[0], rtol=tol)


def test_single_matches_sklearn(rng):
    from sklearn.linear_model import LogisticRegression
    n, d, k, l2 = 200, 4, 3, 0.01
    X, y = data(rng, 1, n, d, k, np.float64)
    X, y = X[0], y[0]
    res = fastgd.minimize(fastgd.Softmax(X, y, k, l2=l2), gtol=1e-10, max_iter=100000)
    assert res.x.shape == (d, k) and res.success
    # sklearn: C * sum_i loss_i + |W|^2 / 2, i.e. ours times C n with l2 = 1 / (C n)
    sk = LogisticRegression(C=1.0 / (n * l2), fit_intercept=False, tol=1e-12, max_iter=10000)
    sk.fit(X, y.astype(int))
    np.testing.assert_allclose(res.x, sk.coef_.T, atol=1e-5)
    np.testing.assert_allclose(res.x, lbfgs(X, y, k, l2), atol=1e-7)


@pytest.mark.parametrize("method,lr", [("nesterov", "auto"), ("adam", 0.05), ("bb", "auto")])
def test_methods_and_armijo(rng, method, lr):
    X, y = data(rng, 3, 60, 3, 3, np.float64)
    res = fastgd.minimize(fastgd.Softmax(X, y, 3, l2=0.05), method, lr=lr, gtol=1e-8,
                          max_iter=100000, momentum=0.5)
    res_ls = fastgd.minimize(fastgd.Softmax(X, y, 3, l2=0.05), lr=5.0, line_search="armijo",
                             gtol=1e-8, max_iter=100000)
    for b in range(3):
        ref = lbfgs(X[b], y[b], 3, 0.05)
        np.testing.assert_allclose(res.x[b], ref, atol=1e-6)
        np.testing.assert_allclose(res_ls.x[b], ref, atol=1e-6)


def test_x0_history_inplace_and_fixed_steps(rng):
    B, n, d, k = 2, 40, 3, 3
    X, y = data(rng, B, n, d, k, np.float64)
    x0 = rng.standard_normal((B, d, k))
    x0_copy = x0.copy()
    lr = 0.3
    res = fastgd.minimize(fastgd.Softmax(X, y, k), lr=lr, x0=x0, max_iter=7, gtol=0.0, history=2)
    np.testing.assert_array_equal(x0, x0_copy)
    assert res.history.shape == (4, B) and (res.nit == 7).all()
    for b in range(B):   # 7 plain GD steps of the reference gradient
        W = x0[b].copy()
        hist = [softmax_ref(X[b], y[b], W, 0.0)[0]]
        for t in range(7):
            W -= lr * softmax_ref(X[b], y[b], W, 0.0)[1]
            hist.append(softmax_ref(X[b], y[b], W, 0.0)[0])
        np.testing.assert_allclose(res.x[b], W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.history[:, b], hist[::2], rtol=1e-12)
    buf = x0.copy()
    out = fastgd.minimize(fastgd.Softmax(X, y, k), lr=lr, x0=buf, max_iter=7, gtol=0.0,
                          inplace=True)
    assert out.x is buf
    np.testing.assert_array_equal(buf, res.x)


def test_large_single_problem_parallel_path(rng, single_driver):
    n, d, k = 16384, 4, 3    # X.size >= 2**16: row-block parallel driver
    X, y = data(rng, 1, n, d, k, np.float64)
    res = fastgd.minimize(fastgd.Softmax(X[0], y[0], k, l2=1e-3), gtol=1e-8, max_iter=20000)
    assert res.success
    np.testing.assert_allclose(res.x, lbfgs(X[0], y[0], k, 1e-3), atol=1e-6)


def test_bad_input(rng):
    X = rng.standard_normal((10, 2))
    y = rng.integers(0, 3, 10).astype(np.float64)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        fastgd.Softmax(X, np.where(y == 0, 3.0, y), 3)
    with pytest.raises(ValueError, match="class ids"):
        fastgd.Softmax(X, np.where(y == 0, -1.0, y), 3)
    with pytest.raises(ValueError, match="class ids"):
        fastgd.Softmax(X, y + 0.5 * (y == 1), 3)
    with pytest.raises(ValueError, match="n_classes"):
        fastgd.Softmax(X, np.zeros(10), 1)
    with pytest.raises(TypeError, match="n_classes"):
        fastgd.Softmax(X, y, 3.0)
    with pytest.raises(ValueError, match="x0"):
        fastgd.minimize(fastgd.Softmax(X, y, 3), x0=np.zeros(2))
    with pytest.raises(ValueError, match="gram"):
        fastgd.minimize(fastgd.Softmax(X, y, 3), mode="gram")


def test_check_grad(rng):
    X = rng.standard_normal((25, 3))
    y = rng.integers(0, 4, 25).astype(np.float64)
    assert fastgd.check_grad(fastgd.Softmax(X, y, 4, l2=0.1)) < 1e-6
    Xb = np.stack([X, X[::-1].copy()])
    yb = np.stack([y, y[::-1].copy()])
    assert fastgd.check_grad(fastgd.Softmax(Xb, yb, 4), rng.standard_normal((2, 3, 4))) < 1e-6


@pytest.mark.parametrize("B,n,d,k,dtype", [
    (1, 1500, 21, 7, np.float64),    # d % 8 and d % 4 != 0, odd k, several tiles, ragged last
    (1, 1200, 16, 10, np.float64),   # whole register blocks
    (2, 700, 5, 2, np.float64),      # d < one block, k = 2 (a batch)
    (1, 2600, 13, 5, np.float32),    # float32: its tiles are twice as long
])
def test_column_path_matches_numpy_gd(rng, B, n, d, k, dtype):
    """The column-wise evaluation (no weights, no intercept, in cache): fixed GD steps
    against a NumPy float64 softmax-regression GD loop."""
    X, y = data(rng, B, n, d, k, dtype)
    x0 = (0.3 * rng.standard_normal((B, d, k))).astype(dtype)
    lr, steps = 0.7, 6
    res = fastgd.minimize(fastgd.Softmax(X[0] if B == 1 else X, y[0] if B == 1 else y, k),
                          lr=lr, x0=x0[0] if B == 1 else x0, max_iter=steps, gtol=0.0)
    got = np.asarray(res.x, np.float64).reshape(B, d, k)
    tol = 1e-11 if dtype == np.float64 else 2e-5
    for b in range(B):
        X64, onehot = X[b].astype(np.float64), np.eye(k)[y[b].astype(np.int64)]
        W = x0[b].astype(np.float64)
        for _ in range(steps):
            Z = X64 @ W
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            W = W - lr * X64.T @ (P - onehot) / n
        np.testing.assert_allclose(got[b], W, rtol=0, atol=tol * np.abs(W).max())
