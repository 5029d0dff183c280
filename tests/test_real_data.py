"""fit_intercept, sample_weight and intercept0 against independent float64 references:
scikit-learn's Ridge (closed form), LogisticRegression and PoissonRegressor, and scipy
L-BFGS-B on the written objective sum_i s_i phi(x_i.w + b, y_i) / sum_i s_i + l2/2 ||w||^2
(Huber, a RowLoss, Softmax)."""

import numpy as np
import pytest
from scipy.optimize import minimize as sp_minimize

import fastgd
from fastgd import Status, config


@pytest.fixture
def large(monkeypatch):
    """Tiny single problems through the large-problem drivers (parallel row blocks, not
    the serial driver that a problem within the cache would run)."""
    monkeypatch.setattr(config, "LARGE_PROBLEM_ELEMENTS", 1)
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 0)
    monkeypatch.setattr(config, "ROWS_PER_BLOCK", 16)


def ridge(X, y, s, l2):
    """sklearn Ridge with the weights and intercept: alpha = l2 * sum(s)."""
    from sklearn.linear_model import Ridge
    m = Ridge(alpha=l2 * s.sum(), fit_intercept=True, solver="cholesky", tol=1e-14)
    m.fit(X.astype(np.float64), y.astype(np.float64), sample_weight=s.astype(np.float64))
    return m.coef_, m.intercept_


def lbfgs(fun, p):
    res = sp_minimize(fun, np.zeros(p), jac=True, method="L-BFGS-B",
                      options=dict(gtol=1e-13, ftol=1e-16, maxiter=50000))
    return res.x


def reg_data(rng, shape, d, dtype, offset=3.0):
    X = rng.standard_normal(shape + (d,))
    w = rng.standard_normal(shape[:-1] + (d,))
    y = np.einsum("...nd,...d->...n", X, w) + offset + 0.3 * rng.standard_normal(shape)
    s = rng.uniform(0.0, 3.0, shape)
    return X.astype(dtype), y.astype(dtype), s


# ------------------------------------------------------------------ least squares: Ridge
@pytest.mark.parametrize("mode", ["direct", "gram"])
@pytest.mark.parametrize("inter,weights", [(True, False), (False, True)])
def test_intercept_or_weights_alone_match_the_normal_equations(rng, mode, inter, weights):
    """Each of the two on its own (their loops fold the other's test away)."""
    B, n, d, l2 = 3, 70, 4, 0.05
    X, y, s = reg_data(rng, (B, n), d, np.float64)
    p = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=inter,
                            sample_weight=s if weights else None)
    res = fastgd.minimize(p, lr="auto", mode=mode, max_iter=20000, gtol=1e-11)
    assert res.success.all()
    for k in range(B):
        Xa = np.c_[X[k], np.ones(n)] if inter else X[k]
        sk = s[k] if weights else np.ones(n)
        P = np.eye(Xa.shape[1]) * l2
        if inter:
            P[d, d] = 0.0
        M = Xa.T @ (sk[:, None] * Xa) / sk.sum() + P
        ref = np.linalg.solve(M, Xa.T @ (sk * y[k]) / sk.sum())
        np.testing.assert_allclose(res.x[k], ref[:d], rtol=1e-7, atol=1e-8)
        if inter:
            np.testing.assert_allclose(res.intercept[k], ref[d], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("mode", ["direct", "gram"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-7), (np.float32, 2e-3)])
def test_least_squares_batch_matches_ridge(rng, mode, dtype, tol):
    B, n, d, l2 = 4, 90, 5, 0.05
    X, y, s = reg_data(rng, (B, n), d, dtype)
    p = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s)
    res = fastgd.minimize(p, lr="auto", mode=mode, max_iter=20000,
                          gtol=1e-11 if dtype == np.float64 else 1e-5)
    assert res.x.shape == (B, d) and res.intercept.shape == (B,)
    assert res.x.dtype == dtype and res.intercept.dtype == dtype
    assert res.success.all()
    for k in range(B):
        coef, b = ridge(X[k], y[k], s[k], l2)
        np.testing.assert_allclose(res.x[k], coef, rtol=tol, atol=tol)
        np.testing.assert_allclose(res.intercept[k], b, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_least_squares_single_large_matches_ridge(rng, large, mode):
    n, d, l2 = 700, 6, 0.02
    X, y, s = reg_data(rng, (n,), d, np.float64)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                          lr="auto", mode=mode, max_iter=20000, gtol=1e-11)
    coef, b = ridge(X, y, s, l2)
    assert np.ndim(res.intercept) == 0 and res.success
    np.testing.assert_allclose(res.x, coef, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(res.intercept, b, rtol=1e-7, atol=1e-8)


def test_shared_weights_and_weights_only_or_intercept_only(rng):
    B, n, d, l2 = 3, 60, 4, 0.1
    X, y, s2 = reg_data(rng, (B, n), d, np.float64)
    s = s2[0]  # (n,) shared by the batch
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                          max_iter=20000, gtol=1e-11)
    only_w = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, sample_weight=s), max_iter=20000,
                             gtol=1e-11)
    only_b = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True),
                             max_iter=20000, gtol=1e-11)
    assert only_w.intercept is None
    for k in range(B):
        coef, b = ridge(X[k], y[k], s, l2)
        np.testing.assert_allclose(res.x[k], coef, atol=1e-8)
        np.testing.assert_allclose(res.intercept[k], b, atol=1e-8)
        coef, b = ridge(X[k], y[k], np.ones(n), l2)
        np.testing.assert_allclose(only_b.x[k], coef, atol=1e-8)
        np.testing.assert_allclose(only_b.intercept[k], b, atol=1e-8)
        # weights without an intercept: the weighted normal equations
        sw = s / s.sum()
        A = X[k].T @ (sw[:, None] * X[k]) + l2 * np.eye(d)
        np.testing.assert_allclose(only_w.x[k], np.linalg.solve(A, X[k].T @ (sw * y[k])),
                                   atol=1e-8)


def test_zero_weights_drop_rows(rng):
    n, d, l2 = 80, 3, 0.1
    X, y, s = reg_data(rng, (n,), d, np.float64)
    s[::3] = 0.0
    y[::3] += 100.0  # ignored rows
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                          max_iter=20000, gtol=1e-11)
    keep = s > 0
    coef, b = ridge(X[keep], y[keep], s[keep], l2)
    np.testing.assert_allclose(res.x, coef, atol=1e-8)
    np.testing.assert_allclose(res.intercept, b, atol=1e-8)


def test_integer_weights_are_row_repeats(rng):
    n, d, l2 = 50, 3, 0.1
    X, y, _ = reg_data(rng, (n,), d, np.float64)
    s = rng.integers(0, 4, n)
    s[0] = 1
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                          max_iter=20000, gtol=1e-11)
    Xr, yr = np.repeat(X, s, axis=0), np.repeat(y, s)
    Xa = np.c_[Xr, np.ones(len(yr))]
    A = Xa.T @ Xa / len(yr)
    A[:d, :d] += l2 * np.eye(d)
    ref = np.linalg.solve(A, Xa.T @ yr / len(yr))
    np.testing.assert_allclose(res.x, ref[:d], atol=1e-8)
    np.testing.assert_allclose(res.intercept, ref[d], atol=1e-8)


@pytest.mark.parametrize("method,opts", [
    ("gd", {"line_search": "armijo"}), ("momentum", {}), ("nesterov", {"restart": True}),
    ("adam", {"lr": 0.05}), ("rmsprop", {"lr": 0.01}), ("adagrad", {"lr": 0.5}), ("bb", {}),
])
def test_every_method_reaches_ridge(rng, method, opts):
    B, n, d, l2 = 2, 60, 3, 0.1
    X, y, s = reg_data(rng, (B, n), d, np.float64)
    p = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s)
    res = fastgd.minimize(p, method, max_iter=200000, gtol=1e-7, history=10, **opts)
    assert res.history.shape == (200000 // 10 + 1, B)
    np.testing.assert_allclose(res.history[0], 0.5 * (s * y * y).sum(1) / s.sum(1))
    tol = 1e-2 if method == "rmsprop" else 1e-5  # rmsprop's constant steps hover at ~lr
    for k in range(B):
        coef, b = ridge(X[k], y[k], s[k], l2)
        np.testing.assert_allclose(res.x[k], coef, atol=tol)
        np.testing.assert_allclose(res.intercept[k], b, atol=tol)


# ------------------------------------------------------------------ other losses
@pytest.mark.parametrize("single_large,dtype", [
    (False, np.float64), (True, np.float64), (False, np.float32), (True, np.float32)])
def test_logistic_matches_sklearn(rng, request, single_large, dtype):
    """Batched (transposed data) and large (tiled row blocks) paths, both dtypes."""
    from sklearn.linear_model import LogisticRegression
    if single_large:
        request.getfixturevalue("large")
    n, d, l2 = 300, 4, 0.01
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + 1.5 + rng.standard_normal(n) > 0).astype(np.float64)
    s = rng.uniform(0.2, 2.0, n)
    single = dtype == np.float32
    p = fastgd.Logistic(X.astype(dtype), y.astype(dtype), l2=l2, fit_intercept=True,
                        sample_weight=s.astype(dtype))
    res = fastgd.minimize(p, max_iter=100000, gtol=1e-6 if single else 1e-10)
    ref = LogisticRegression(C=1.0 / (l2 * s.sum()), tol=1e-12, max_iter=10000)
    ref.fit(X, y, sample_weight=s)
    assert res.success
    atol = 1e-4 if single else 1e-6
    np.testing.assert_allclose(res.x, ref.coef_[0], atol=atol)
    np.testing.assert_allclose(res.intercept, ref.intercept_[0], atol=atol)


@pytest.mark.parametrize("n, extras", [(600, True), (603, False)])
def test_poisson_matches_sklearn(rng, large, n, extras):
    """With and without intercept and weights; 603 rows leave 1-3 rows after the row
    loop's four-row passes in some blocks."""
    from sklearn.linear_model import PoissonRegressor
    d, l2 = 3, 0.05
    X = 0.5 * rng.standard_normal((n, d))
    y = rng.poisson(np.exp(X @ rng.standard_normal(d) * 0.5 + 0.8)).astype(np.float64)
    s = rng.uniform(0.0, 2.0, n) if extras else None
    res = fastgd.minimize(fastgd.Poisson(X, y, l2=l2, fit_intercept=extras, sample_weight=s),
                          line_search="armijo", max_iter=100000, gtol=1e-10)
    ref = PoissonRegressor(alpha=l2, tol=1e-12, max_iter=10000, fit_intercept=extras)
    ref.fit(X, y, sample_weight=s)
    assert res.success
    np.testing.assert_allclose(res.x, ref.coef_, atol=1e-6)
    if extras:
        np.testing.assert_allclose(res.intercept, ref.intercept_, atol=1e-6)


def huber_obj(X, y, s, l2, delta):
    n, d = X.shape
    sw = s / s.sum()

    def fun(p):
        w, b = p[:d], p[d]
        r = X @ w + b - y
        a = np.abs(r)
        phi = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
        dr = sw * np.clip(r, -delta, delta)
        return sw @ phi + 0.5 * l2 * w @ w, np.append(X.T @ dr + l2 * w, dr.sum())
    return fun


@pytest.mark.parametrize("single_large", [False, True])
def test_huber_matches_scipy(rng, request, single_large):
    if single_large:
        request.getfixturevalue("large")
    B, n, d, l2, delta = (1 if single_large else 3), 200, 3, 0.01, 0.8
    X, y, s = reg_data(rng, (B, n), d, np.float64)
    y[:, ::7] += 15.0
    Xp, yp, sp = (X[0], y[0], s[0]) if single_large else (X, y, s)
    res = fastgd.minimize(fastgd.Huber(Xp, yp, delta=delta, l2=l2, fit_intercept=True,
                                       sample_weight=sp), max_iter=100000, gtol=1e-10)
    xs = np.atleast_2d(res.x)
    bs = np.atleast_1d(res.intercept)
    for k in range(B):
        fun = huber_obj(X[k], y[k], s[k], l2, delta)
        ref = lbfgs(fun, d + 1)
        np.testing.assert_allclose(xs[k], ref[:d], atol=1e-6)
        np.testing.assert_allclose(bs[k], ref[d], atol=1e-6)
        np.testing.assert_allclose(np.atleast_1d(res.fun)[k], fun(ref)[0], rtol=1e-10)


from rowlosses import LogCosh  # noqa: E402  (one definition: compiled once per process)


def test_rowloss_matches_scipy(rng):
    B, n, d, l2 = 2, 150, 3, 0.02
    X, y, s = reg_data(rng, (B, n), d, np.float64)
    res = fastgd.minimize(LogCosh(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                          max_iter=100000, gtol=1e-10)
    for k in range(B):
        sw = s[k] / s[k].sum()

        def fun(p, Xk=X[k], yk=y[k], sw=sw):
            w, b = p[:d], p[d]
            r = Xk @ w + b - yk
            phi = np.abs(r) + np.log1p(np.exp(-2 * np.abs(r))) - np.log(2)
            dr = sw * np.tanh(r)
            return sw @ phi + 0.5 * l2 * w @ w, np.append(Xk.T @ dr + l2 * w, dr.sum())
        ref = lbfgs(fun, d + 1)
        np.testing.assert_allclose(res.x[k], ref[:d], atol=1e-6)
        np.testing.assert_allclose(res.intercept[k], ref[d], atol=1e-6)
    # check_grad sees the weights and the intercept's effect on the loss (w only)
    assert fastgd.check_grad(LogCosh(X, y, l2=l2, fit_intercept=True, sample_weight=s)) < 1e-6


def softmax_obj(X, y, s, l2, k):
    n, d = X.shape
    sw = s / s.sum()
    Y = np.eye(k)[y.astype(int)]

    def fun(p):
        W, b = p[:d * k].reshape(d, k), p[d * k:]
        Z = X @ W + b
        m = Z.max(1, keepdims=True)
        E = np.exp(Z - m)
        S = E.sum(1, keepdims=True)
        phi = m[:, 0] + np.log(S[:, 0]) - (Z * Y).sum(1)
        R = sw[:, None] * (E / S - Y)
        g = np.concatenate([(X.T @ R + l2 * W).ravel(), R.sum(0)])
        return sw @ phi + 0.5 * l2 * (W * W).sum(), g
    return fun


@pytest.mark.parametrize("single_large", [False, True])
def test_softmax_matches_scipy(rng, request, single_large):
    if single_large:
        request.getfixturevalue("large")
    B, n, d, k, l2 = (1 if single_large else 2), 240, 3, 4, 0.01
    X = rng.standard_normal((B, n, d))
    y = rng.integers(0, k, (B, n)).astype(np.float64)
    y[:, : n // 2] = 1.0  # unbalanced classes: the intercepts matter
    s = rng.uniform(0.0, 2.0, (B, n))
    Xp, yp, sp = (X[0], y[0], s[0]) if single_large else (X, y, s)
    res = fastgd.minimize(fastgd.Softmax(Xp, yp, k, l2=l2, fit_intercept=True,
                                         sample_weight=sp), max_iter=100000, gtol=1e-10)
    assert res.x.shape == ((d, k) if single_large else (B, d, k))
    assert res.intercept.shape == ((k,) if single_large else (B, k))
    xs = res.x.reshape(B, d, k)
    bs = res.intercept.reshape(B, k)
    for q in range(B):
        fun = softmax_obj(X[q], y[q], s[q], l2, k)
        ref = lbfgs(fun, d * k + k)
        np.testing.assert_allclose(xs[q].ravel(), ref[:d * k], atol=1e-5)
        # the intercepts are determined up to a common shift only (not penalised)
        np.testing.assert_allclose(bs[q] - bs[q].mean(), ref[d * k:] - ref[d * k:].mean(),
                                   atol=1e-5)
        np.testing.assert_allclose(np.atleast_1d(res.fun)[q], fun(ref)[0], rtol=1e-10)


# ------------------------------------------------------------------ lr, x0, grad_norm, divergence
@pytest.mark.parametrize("how", ["direct", "gram", "rows", "rows-gram"])
def test_auto_lr_counts_the_intercept_column_and_weights(rng, how, monkeypatch):
    if how.startswith("rows"):
        monkeypatch.setattr(config, "LARGE_PROBLEM_ELEMENTS", 1)
        monkeypatch.setattr(config, "ROWS_PER_BLOCK", 16)
    n, d, l2 = 300, 4, 0.1
    X = rng.standard_normal((n, d)) * 0.2 + 1.0  # un-centred: the ones column matters
    y = rng.standard_normal(n)
    s = rng.uniform(0.0, 2.0, n)
    mode = "gram" if how.endswith("gram") else "direct"
    r = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                        lr="auto", max_iter=0, mode=mode)
    Xa = np.c_[X, np.ones(n)]
    lam = np.linalg.eigvalsh(Xa.T @ (s[:, None] * Xa) / s.sum()).max()
    assert abs(float(r.lr) * (lam + l2) - 1.0) < 1e-8
    # Logistic: curvature 1/4 on the same matrix
    yl = (y > 0).astype(np.float64)
    r = fastgd.minimize(fastgd.Logistic(X, yl, l2=l2, fit_intercept=True, sample_weight=s),
                        lr="auto", max_iter=0)
    assert abs(float(r.lr) * (lam / 4 + l2) - 1.0) < 1e-8


def test_intercept0_fun_and_full_grad_norm_at_the_start(rng):
    B, n, d, l2 = 3, 40, 3, 0.2
    X, y, s = reg_data(rng, (B, n), d, np.float64)
    x0 = rng.standard_normal((B, d))
    b0 = rng.standard_normal(B)
    p = fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s)
    r = fastgd.minimize(p, x0=x0, intercept0=b0, max_iter=0)
    np.testing.assert_array_equal(r.x, x0)
    np.testing.assert_array_equal(r.intercept, b0)
    for k in range(B):
        sw = s[k] / s[k].sum()
        res = X[k] @ x0[k] + b0[k] - y[k]
        f = 0.5 * sw @ (res * res) + 0.5 * l2 * x0[k] @ x0[k]
        g = np.append(X[k].T @ (sw * res) + l2 * x0[k], sw @ res)
        np.testing.assert_allclose(r.fun[k], f, rtol=1e-12)
        np.testing.assert_allclose(r.grad_norm[k], np.linalg.norm(g), rtol=1e-12)
    # gtol stops on the norm in (w, b): a start optimal in w but not in b does not stop
    X1, y1 = X[0], y[0]
    coef, b = ridge(X1, y1, s[0], l2)
    p1 = fastgd.LeastSquares(X1, y1, l2=l2, fit_intercept=True, sample_weight=s[0])
    r = fastgd.minimize(p1, x0=coef, intercept0=b + 1.0, max_iter=0, gtol=1e-3)
    assert r.grad_norm > 0.5 and r.status == Status.MAX_ITER
    # Softmax: (k,) intercept0 for one problem
    ys = rng.integers(0, 3, n).astype(np.float64)
    r = fastgd.minimize(fastgd.Softmax(X1, ys, 3, fit_intercept=True), intercept0=[1.0, 2.0, 3.0],
                        max_iter=0)
    np.testing.assert_array_equal(r.intercept, [1.0, 2.0, 3.0])


def test_defaults_unchanged_and_all_ones_weights(rng):
    n, d = 50, 3
    X, y, _ = reg_data(rng, (n,), d, np.float64)
    plain = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.1), max_iter=300, gtol=0)
    ones = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.1, sample_weight=np.ones(n)),
                           max_iter=300, gtol=0)
    assert plain.intercept is None
    np.testing.assert_allclose(ones.x, plain.x, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ones.fun, plain.fun, rtol=1e-13)


def test_divergence_keeps_a_finite_iterate_and_intercept(rng):
    X, y, s = reg_data(rng, (2, 40), 3, np.float64)
    r = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=True, sample_weight=s),
                        lr=100.0, max_iter=1000)
    assert (r.status == Status.DIVERGED).all()
    assert np.isfinite(r.x).all() and np.isfinite(r.intercept).all()


def test_sweep_and_callback_with_an_intercept(rng):
    X, y, s = reg_data(rng, (60,), 3, np.float64)
    p = fastgd.LeastSquares(X, y, l2=0.1, fit_intercept=True, sample_weight=s)
    sw = fastgd.sweep_lr(p, [0.1, 0.5, 1e3], max_iter=3000)
    assert sw.intercept.shape == (3,)
    assert sw.status[2] == Status.DIVERGED
    coef, b = ridge(X, y, s, 0.1)
    np.testing.assert_allclose(sw.intercept[1], b, atol=1e-5)
    seen = []
    fastgd.minimize(p, max_iter=100, callback=lambda res: seen.append(np.copy(res.intercept)))
    assert seen and all(np.ndim(v) == 0 for v in seen)


def test_inplace_writes_x_only(rng):
    X, y, s = reg_data(rng, (60,), 3, np.float64)
    p = fastgd.LeastSquares(X, y, l2=0.1, fit_intercept=True, sample_weight=s)
    x0 = np.zeros(3)
    r = fastgd.minimize(p, x0=x0, inplace=True, intercept0=0.5, max_iter=5000, gtol=1e-10)
    coef, b = ridge(X, y, s, 0.1)
    np.testing.assert_allclose(x0, coef, atol=1e-8)
    np.testing.assert_allclose(r.intercept, b, atol=1e-8)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("sw,exc,match", [
    (np.ones(7), ValueError, "sample_weight must have shape"),
    (np.ones((3, 10)), ValueError, "sample_weight must have shape"),
    (-np.ones(10), ValueError, ">= 0"),
    (np.r_[np.ones(9), np.nan], ValueError, "NaN or Inf"),
    (np.r_[np.ones(9), np.inf], ValueError, "NaN or Inf"),
    (np.zeros(10), ValueError, "all zero"),
    (np.ones(10, bool), TypeError, "real"),
    (np.ones(10, complex), TypeError, "real"),
    (["a"] * 10, TypeError, "real"),
])
def test_bad_sample_weight(rng, sw, exc, match):
    X = rng.standard_normal((10, 2))
    y = rng.standard_normal(10)
    with pytest.raises(exc, match=match):
        fastgd.LeastSquares(X, y, sample_weight=sw)


def test_bad_batched_sample_weight_and_flags(rng):
    X = rng.standard_normal((2, 10, 2))
    y = (rng.standard_normal((2, 10)) > 0).astype(np.float64)
    s = np.ones((2, 10))
    s[1] = 0.0
    with pytest.raises(ValueError, match="all zero for problem 1"):
        fastgd.Logistic(X, y, sample_weight=s)
    with pytest.raises(ValueError, match=r"\(10,\) or \(2, 10\)"):
        fastgd.Softmax(X, y, 2, sample_weight=np.ones((3, 10)))
    with pytest.raises(TypeError, match="fit_intercept must be a bool"):
        fastgd.Huber(X, y, fit_intercept="yes")
    # float32 X: float64 / integer weights are converted, once
    p = fastgd.LeastSquares(X.astype(np.float32), y.astype(np.float32),
                            sample_weight=np.arange(1, 11))
    assert p.sample_weight.dtype == np.float32


def test_bad_intercept0_before_anything_is_written(rng):
    X, y, s = reg_data(rng, (2, 20), 3, np.float64)
    p = fastgd.LeastSquares(X, y, fit_intercept=True, sample_weight=s)
    x0 = np.ones((2, 3))
    for b0, exc, match in [(np.zeros(3), ValueError, "intercept0 must have shape"),
                           (0.0, ValueError, "intercept0 must have shape"),
                           (np.array([np.nan, 0.0]), ValueError, "NaN or Inf"),
                           (np.array(["a", "b"]), TypeError, "intercept0 must be a real")]:
        with pytest.raises(exc, match=match):
            fastgd.minimize(p, x0=x0, inplace=True, intercept0=b0)
        np.testing.assert_array_equal(x0, 1.0)
    with pytest.raises(ValueError, match="fit_intercept=True"):
        fastgd.minimize(fastgd.LeastSquares(X, y), intercept0=np.zeros(2))
    with pytest.raises(ValueError, match="not supported on device='cuda' yet"):
        fastgd.minimize(p, device="cuda")
