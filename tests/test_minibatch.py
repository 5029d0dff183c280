"""Stochastic mini-batch gradient descent (minimize(..., batch_size=m)), against an
independent plain-NumPy float64 reference of the documented algorithm: epoch e visits the
rows in the e-th ``np.random.default_rng(random_state).permutation(n)`` (the stored order
with shuffle=False), update u (1-based) steps with the mean gradient of its rows (weights
scaled to mean 1) times lr * schedule(u), by torch.optim's formulas."""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import fastgd

TORCH_DEFAULTS = dict(momentum=0.9, betas=(0.9, 0.999), alpha=0.99)


def dphi(kind, z, y, delta=1.0):
    if kind == "lsq":
        return z - y
    if kind == "logistic":
        return 1.0 / (1.0 + np.exp(-z)) - y
    if kind == "huber":
        return np.clip(z - y, -delta, delta)
    if kind == "logcosh":  # the RowLoss below
        return np.tanh(z - y)
    return np.exp(z) - y  # poisson


def phi(kind, z, y, delta=1.0):
    if kind == "lsq":
        return 0.5 * (z - y) ** 2
    if kind == "logistic":
        return np.logaddexp(0.0, -(2 * y - 1) * z)
    if kind == "huber":
        a = np.abs(z - y)
        return np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    return np.exp(z) - y * z


def full_loss_grad(kind, X, y, w, l2=0.0, sw=None, intercept=False):
    """Full-data (f, grad) in float64 (w with the intercept last when `intercept`)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))]) if intercept else X
    s = np.ones(n) if sw is None else sw / sw.sum() * n
    z = A @ w
    pen = np.zeros_like(w)
    pen[:d] = l2 * w[:d]
    f = (s * phi(kind, z, y)).mean() + 0.5 * l2 * w[:d] @ w[:d]
    return f, A.T @ (s * dphi(kind, z, y)) / n + pen


def row_loss_gradient(kind, X, y, s, l2, intercept):
    """grad(rows, w): the mean gradient of a row loss over `rows` (weights s), full l2."""
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))]) if intercept else X

    def grad(rows, w):
        g = A[rows].T @ (s[rows] * dphi(kind, A[rows] @ w, y[rows])) / len(rows)
        g[:d] += l2 * w[:d]
        return g
    return grad, A.shape[1]


def softmax_gradient(X, y, k, s, l2, intercept):
    """grad(rows, w) of Softmax, w = (W (d, k) row-major, then k intercepts if any)."""
    n, d = X.shape
    labels = y.astype(np.int64)

    def grad(rows, w):
        W = w[:d * k].reshape(d, k)
        Z = X[rows] @ W + (w[d * k:] if intercept else 0.0)
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        P[np.arange(len(rows)), labels[rows]] -= 1.0
        P *= s[rows, None]
        gW = X[rows].T @ P / len(rows) + l2 * W
        return np.concatenate([gW.ravel(), P.sum(axis=0) / len(rows)]) if intercept \
            else gW.ravel()
    return grad, d * k + (k if intercept else 0)


def reference(kind, X, y, method, lr, m, epochs, seed=None, shuffle=True,
              schedule="constant", l2=0.0, sw=None, intercept=False, eps=None, classes=None,
              w0=None):
    """The documented mini-batch algorithm in float64 NumPy (torch.optim step formulas)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    n, d = X.shape
    s = np.ones(n) if sw is None else sw / sw.sum() * n
    grad, size = (softmax_gradient(X, y, classes, s, l2, intercept) if kind == "softmax"
                  else row_loss_gradient(kind, X, y, s, l2, intercept))
    eps = (1e-10 if method == "adagrad" else 1e-8) if eps is None else eps
    mu, (b1, b2), a = TORCH_DEFAULTS["momentum"], TORCH_DEFAULTS["betas"], TORCH_DEFAULTS["alpha"]
    rng = np.random.default_rng(seed)
    w = np.zeros(size) if w0 is None else np.array(w0, np.float64)
    buf, v = np.zeros_like(w), np.zeros_like(w)
    u = 0
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        for lo in range(0, n, m):
            g = grad(order[lo:lo + m], w)
            u += 1
            step = lr * {"constant": lambda t: 1.0, "invscaling": lambda t: t ** -0.5}.get(
                schedule, schedule)(u)
            if method == "gd":
                w = w - step * g
            elif method in ("momentum", "nesterov"):
                buf = g.copy() if u == 1 else mu * buf + g
                w = w - step * (g + mu * buf if method == "nesterov" else buf)
            elif method == "adam":
                buf = b1 * buf + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                denom = np.sqrt(v) / np.sqrt(1 - b2 ** u) + eps
                w = w - step / (1 - b1 ** u) * buf / denom
            elif method == "rmsprop":
                v = a * v + (1 - a) * g * g
                w = w - step * g / (np.sqrt(v) + eps)
            else:  # adagrad
                v = v + g * g
                w = w - step * g / (np.sqrt(v) + eps)
    return w


def lsq_data(rng, n=50, d=4, noise=0.1, dtype=np.float64):
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + noise * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def sphere(w):
    return (w * w).sum()


def sphere_grad(w, out):
    for j in range(w.shape[0]):
        out[j] = 2.0 * w[j]


def decay(t):
    return 1.0 / (1.0 + 0.05 * t)


@pytest.mark.parametrize("method,lr,schedule", [
    ("gd", 0.1, "constant"), ("gd", 0.2, "invscaling"), ("momentum", 0.02, "invscaling"),
    ("nesterov", 0.02, decay), ("adam", 0.05, "invscaling"), ("adam", 0.05, "constant"),
    ("rmsprop", 0.01, "constant"), ("adagrad", 0.2, decay),
])
def test_methods_match_reference(rng, method, lr, schedule):
    X, y = lsq_data(rng)  # n = 50, m = 8: six updates of 8 rows and one of 2 per epoch
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.01), method, lr=lr, batch_size=8,
                          random_state=3, lr_schedule=schedule, max_iter=4, gtol=0.0)
    ref = reference("lsq", X, y, method, lr, 8, 4, seed=3, schedule=schedule, l2=0.01)
    assert res.nit == 4
    np.testing.assert_allclose(res.x, ref, rtol=1e-10, atol=1e-12)


def epoch_reference(X, y, method, lr, m, epochs, seed, l2=0.0, restart=False):
    """The documented epoch-level rules in float64 NumPy, least squares: SGD-BB (epoch 1 at
    lr; then s.s / (updates s.y) from the epochs' iterates and full-data gradients; an epoch
    whose full loss is above Zhang & Hager's reference C (eta 0.85) is rerun with the same
    rows at half the step), or nesterov (torch formulas per update) whose momentum is zeroed
    after an epoch whose full-data loss went up (restart).  Returns (w, step sizes used)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    n, d = X.shape
    updates = -(-n // m)

    def full(w):
        r = X @ w - y
        return 0.5 * r @ r / n + 0.5 * l2 * w @ w, X.T @ r / n + l2 * w
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(n) for _ in range(epochs)]
    w = np.zeros(d)
    f, G = full(w)
    C, Q, a, buf, u = f, 1.0, lr, np.zeros(d), 0
    steps = []
    for e in range(epochs):
        while True:
            wt, bt, ut = w.copy(), buf.copy(), u
            for lo in range(0, n, m):
                rows = orders[e][lo:lo + m]
                g = X[rows].T @ (X[rows] @ wt - y[rows]) / len(rows) + l2 * wt
                ut += 1
                if method == "bb":
                    wt = wt - a * g
                else:
                    bt = g.copy() if ut == 1 else 0.9 * bt + g
                    wt = wt - a * (g + 0.9 * bt)
            f_new, G_new = full(wt)
            if method != "bb" or f_new <= C:
                break
            a *= 0.5
        steps.append(a)
        if method == "bb":
            s_, y_ = wt - w, G_new - G
            if s_ @ y_ > 0:
                a = min(max(s_ @ s_ / (updates * (s_ @ y_)), lr / 1e10), lr * 1e10)
            Q, C = 0.85 * Q + 1.0, (0.85 * Q * C + f_new) / (0.85 * Q + 1.0)
        elif restart and f_new > f:
            bt = np.zeros(d)
        w, buf, u, f, G = wt, bt, ut, f_new, G_new
    return w, steps


def test_bb_is_sgd_bb_with_the_nonmonotone_epoch_test(rng):
    X, y = lsq_data(rng, n=60, d=5)
    p = fastgd.LeastSquares(X, y, l2=0.01)
    # lr=4 is too large for the first epoch of 6 updates: the test halves and reruns it
    for lr, epochs in [(0.05, 6), (4.0, 6)]:
        ref, steps = epoch_reference(X, y, "bb", lr, 10, epochs, seed=4, l2=0.01)
        for ls in (None, "armijo"):  # bb's own test is its line search: armijo adds nothing
            res = fastgd.minimize(p, "bb", lr=lr, batch_size=10, random_state=4,
                                  max_iter=epochs, gtol=0.0, line_search=ls)
            assert res.nit == epochs and res.status == fastgd.Status.MAX_ITER
            np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-12)
        assert len(set(steps)) > 2  # the step did change from epoch to epoch
    _, steps = epoch_reference(X, y, "bb", 4.0, 10, 6, seed=4, l2=0.01)
    assert steps[0] < 4.0  # the large first step was halved (so the rerun path ran)
    # approaches the ridge solution from an untuned first step
    w_star = np.linalg.solve(X.T @ X / 60 + 0.01 * np.eye(5), X.T @ y / 60)
    res = fastgd.minimize(p, "bb", lr=0.05, batch_size=10, random_state=0, max_iter=300,
                          gtol=0.0)
    assert np.isfinite(res.lr) and res.lr > 0.05
    np.testing.assert_allclose(res.x, w_star, atol=1e-3)


def test_nesterov_restart_once_per_epoch(rng):
    X, y = lsq_data(rng, n=40, d=3)
    X[:, 0] *= 6.0  # ill-conditioned: the momentum overshoots and the loss goes up
    p = fastgd.LeastSquares(X, y)
    res = fastgd.minimize(p, "nesterov", lr=0.03, batch_size=8, random_state=2, max_iter=12,
                          gtol=0.0, restart=True)
    ref, _ = epoch_reference(X, y, "nesterov", 0.03, 8, 12, seed=2, restart=True)
    plain, _ = epoch_reference(X, y, "nesterov", 0.03, 8, 12, seed=2, restart=False)
    assert np.abs(ref - plain).max() > 1e-3  # a restart happened in these 12 epochs
    np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind,problem,method,lr", [
    ("logistic", fastgd.Logistic, "gd", 0.5), ("huber", fastgd.Huber, "adam", 0.05),
    ("poisson", fastgd.Poisson, "momentum", 0.01),
])
def test_losses_intercept_weights_match_reference(rng, kind, problem, method, lr):
    n, d = 40, 3
    X = rng.standard_normal((n, d))
    z = X @ rng.standard_normal(d) * 0.5
    y = {"logistic": (z + 0.3 * rng.standard_normal(n) > 0).astype(float),
         "huber": z + rng.standard_t(2, n), "poisson": rng.poisson(np.exp(z)).astype(float)}[kind]
    sw = rng.uniform(0.2, 2.0, n)
    res = fastgd.minimize(problem(X, y, l2=0.02, fit_intercept=True, sample_weight=sw), method,
                          lr=lr, batch_size=6, random_state=11, max_iter=3, gtol=0.0)
    ref = reference(kind, X, y, method, lr, 6, 3, seed=11, l2=0.02, sw=sw, intercept=True)
    np.testing.assert_allclose(np.append(res.x, res.intercept), ref, rtol=1e-10, atol=1e-12)
    f, g = full_loss_grad(kind, X, y, ref, 0.02, sw, intercept=True)
    assert res.fun == pytest.approx(f, rel=1e-10)
    assert res.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-8)


def test_shuffle_false_visits_rows_in_order(rng):
    X, y = lsq_data(rng)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), "nesterov", lr=0.05, batch_size=7,
                          shuffle=False, max_iter=3, gtol=0.0)
    ref = reference("lsq", X, y, "nesterov", 0.05, 7, 3, shuffle=False)
    np.testing.assert_allclose(res.x, ref, rtol=1e-10, atol=1e-12)
    # no randomness: any random_state gives the same iterates
    again = fastgd.minimize(fastgd.LeastSquares(X, y), "nesterov", lr=0.05, batch_size=7,
                            shuffle=False, random_state=99, max_iter=3, gtol=0.0)
    np.testing.assert_array_equal(again.x, res.x)


def test_seeds_generators_threads_and_chunks(rng):
    X, y = lsq_data(rng, n=60)
    p = fastgd.LeastSquares(X, y)
    opts = dict(method="adam", lr=0.05, batch_size=9, max_iter=40, gtol=0.0,
                lr_schedule=decay)  # 40 epochs: orders drawn in blocks of 16, 16 and 8
    a = fastgd.minimize(p, random_state=5, **opts)
    b = fastgd.minimize(p, random_state=5, threads=1, **opts)
    c = fastgd.minimize(p, random_state=np.random.default_rng(5), **opts)
    calls = []
    d = fastgd.minimize(p, random_state=5, callback=calls.append, **opts)  # chunked solve
    other = fastgd.minimize(p, random_state=6, **opts)
    for same in (b, c, d):
        np.testing.assert_array_equal(same.x, a.x)
    assert len(calls) == 20 and calls[-1].nit == 40  # 20 chunks of 2 epochs
    assert np.abs(other.x - a.x).max() > 1e-6
    ref = reference("lsq", X, y, "adam", 0.05, 9, 40, seed=5, schedule=decay)
    np.testing.assert_allclose(a.x, ref, rtol=1e-9, atol=1e-12)


def test_full_data_values_history_and_epochs(rng):
    X, y = lsq_data(rng)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.1), "adam", lr=0.05, batch_size=10,
                          random_state=0, max_iter=7, gtol=0.0, history=1)
    assert res.nit == 7 and res.status == fastgd.Status.MAX_ITER
    f, g = full_loss_grad("lsq", X, y, res.x, 0.1)
    assert res.fun == pytest.approx(f, rel=1e-12)
    assert res.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-10)
    assert res.history.shape == (8,)
    assert res.history[0] == pytest.approx(full_loss_grad("lsq", X, y, np.zeros(4), 0.1)[0])
    for e in (1, 4):  # the loss after epoch e: the reference's iterate after e epochs
        w = reference("lsq", X, y, "adam", 0.05, 10, e, seed=0, l2=0.1)
        assert res.history[e] == pytest.approx(full_loss_grad("lsq", X, y, w, 0.1)[0], rel=1e-9)


def test_x0_inplace_record_x_and_progress(rng):
    X, y = lsq_data(rng)
    x0 = rng.standard_normal(4)
    start = x0.copy()
    res = fastgd.minimize(fastgd.LeastSquares(X, y), "momentum", lr=0.03, batch_size=8,
                          random_state=4, max_iter=4, gtol=0.0, x0=x0, inplace=True,
                          history=1, record_x=True, progress=True)
    assert res.x is x0
    np.testing.assert_allclose(x0, reference("lsq", X, y, "momentum", 0.03, 8, 4, seed=4,
                                             w0=start), rtol=1e-10, atol=1e-12)
    assert res.x_history.shape == (5, 4)
    np.testing.assert_array_equal(res.x_history[0], start)
    np.testing.assert_allclose(res.x_history[2], reference("lsq", X, y, "momentum", 0.03, 8, 2,
                                                           seed=4, w0=start),
                               rtol=1e-10, atol=1e-12)


def test_batch_size_of_n_or_more_takes_the_full_batch_path(rng):
    X, y = lsq_data(rng, n=30)
    for m in (30, 1000):  # a schedule has no meaning there: the full-batch solve says so
        with pytest.raises(ValueError, match="full-batch"):
            fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.1, batch_size=m,
                            lr_schedule="invscaling")


@pytest.mark.slow  # compiles the full-batch driver (~20 s alone; shared in a full run)
def test_full_batch_sizes_are_the_full_batch_solve(rng):
    X, y = lsq_data(rng, n=30)
    p = fastgd.LeastSquares(X, y)
    full = fastgd.minimize(p, "momentum", lr=0.1, max_iter=20)
    for m in (30, 1000):
        res = fastgd.minimize(p, "momentum", lr=0.1, max_iter=20, batch_size=m)
        np.testing.assert_array_equal(res.x, full.x)
        assert res.nit == full.nit


def test_auto_lr_is_full_data_and_gtol_stops(rng):
    # an interpolating problem: every mini-batch gradient vanishes at the solution
    X = rng.standard_normal((64, 3))
    w_true = rng.standard_normal(3)
    y = X @ w_true
    p = fastgd.LeastSquares(X, y)
    res = fastgd.minimize(p, batch_size=16, random_state=1, max_iter=500, gtol=1e-9)
    assert res.lr == pytest.approx(1.0 / np.linalg.eigvalsh(X.T @ X / 64).max(), rel=1e-8)
    assert res.status == fastgd.Status.GTOL and res.grad_norm <= 1e-9
    np.testing.assert_allclose(res.x, w_true, atol=1e-7)


def test_diverged_keeps_last_finite_epoch(rng):
    X, y = lsq_data(rng)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=50.0, batch_size=5, random_state=0,
                          max_iter=100)
    assert res.status == fastgd.Status.DIVERGED
    assert np.isfinite(res.x).all() and np.isfinite(res.fun)
    assert "lr_schedule" in res.message and "bb" not in res.message
    slow = fastgd.minimize(fastgd.LeastSquares(X, y), lr=1e-4, batch_size=5, max_iter=2)
    assert slow.status == fastgd.Status.MAX_ITER and "epochs" in slow.message
    assert "lr_schedule" in slow.message and "bb" not in slow.message


def test_batched_and_shared_x_problems(rng):
    B, n, d = 5, 30, 3
    X = rng.standard_normal((B, n, d))
    Y = rng.standard_normal((B, n))
    lrs = np.linspace(0.02, 0.1, B)
    res = fastgd.minimize(fastgd.LeastSquares(X, Y, l2=0.05), "rmsprop", lr=lrs, batch_size=4,
                          random_state=2, max_iter=3, gtol=0.0)
    for q in range(B):  # every problem visits the rows in the same order
        ref = reference("lsq", X[q], Y[q], "rmsprop", lrs[q], 4, 3, seed=2, l2=0.05)
        np.testing.assert_allclose(res.x[q], ref, rtol=1e-10, atol=1e-12)
        f, _ = full_loss_grad("lsq", X[q], Y[q], ref, 0.05)
        assert res.fun[q] == pytest.approx(f, rel=1e-10)
    one_thread = fastgd.minimize(fastgd.LeastSquares(X, Y, l2=0.05), "rmsprop", lr=lrs,
                                 batch_size=4, random_state=2, max_iter=3, gtol=0.0, threads=1)
    np.testing.assert_array_equal(one_thread.x, res.x)
    l2 = np.geomspace(1e-3, 1.0, B)
    shared = fastgd.minimize(fastgd.Logistic(X[0], (Y > 0).astype(float), l2=l2,
                                             fit_intercept=True),
                             lr=0.5, batch_size=7, random_state=4, max_iter=3, gtol=0.0)
    for q in range(B):
        ref = reference("logistic", X[0], (Y[q] > 0).astype(float), "gd", 0.5, 7, 3, seed=4,
                        l2=l2[q], intercept=True)
        np.testing.assert_allclose(np.append(shared.x[q], shared.intercept[q]), ref,
                                   rtol=1e-10, atol=1e-12)


def test_sweep_lr_passes_batch_size(rng):
    X, y = lsq_data(rng, n=40)
    lrs = np.array([0.01, 0.05, 0.2])
    sw = fastgd.sweep_lr(fastgd.LeastSquares(X, y), lrs, batch_size=6, random_state=8,
                         max_iter=3, gtol=0.0)
    assert sw.auto_lr == pytest.approx(1.0 / np.linalg.eigvalsh(X.T @ X / 40).max(), rel=1e-8)
    for q, lr in enumerate(lrs):
        ref = reference("lsq", X, y, "gd", lr, 6, 3, seed=8)
        np.testing.assert_allclose(sw.x[q], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.slow  # compiles the CSR mini-batch driver (~10 s)
def test_csr_x(rng):
    n, d = 40, 6
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.4)
    y = (X @ rng.standard_normal(d) > 0).astype(float)
    sw = rng.uniform(0.5, 2.0, n)
    p = fastgd.Logistic(sp.csr_matrix(X), y, l2=0.01, fit_intercept=True, sample_weight=sw)
    res = fastgd.minimize(p, "adam", lr=0.1, batch_size=6, random_state=5, max_iter=3,
                          gtol=0.0)
    ref = reference("logistic", X, y, "adam", 0.1, 6, 3, seed=5, l2=0.01, sw=sw,
                    intercept=True)
    np.testing.assert_allclose(np.append(res.x, res.intercept), ref, rtol=1e-10, atol=1e-12)
    f, _ = full_loss_grad("logistic", X, y, ref, 0.01, sw, intercept=True)
    assert res.fun == pytest.approx(f, rel=1e-10)
    auto = fastgd.minimize(p, batch_size=6, max_iter=0)  # the full-data 1/L
    A = np.hstack([X, np.ones((n, 1))]) * np.sqrt(sw / sw.mean())[:, None]
    lam = np.linalg.eigvalsh(A.T @ A / n).max()
    assert auto.lr == pytest.approx(1.0 / (0.25 * lam + 0.01), rel=1e-6)


@pytest.mark.slow  # compiles the Softmax mini-batch driver (~10 s)
def test_softmax(rng):
    n, d, k = 45, 3, 4
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n).astype(float)
    sw = rng.uniform(0.5, 2.0, n)
    p = fastgd.Softmax(X, y, k, l2=0.01, fit_intercept=True, sample_weight=sw)
    res = fastgd.minimize(p, "adam", lr=0.05, batch_size=8, random_state=6, max_iter=3,
                          gtol=0.0)
    ref = reference("softmax", X, y, "adam", 0.05, 8, 3, seed=6, l2=0.01, sw=sw,
                    intercept=True, classes=k)
    assert res.x.shape == (d, k) and res.intercept.shape == (k,)
    np.testing.assert_allclose(np.append(res.x.ravel(), res.intercept), ref, rtol=1e-10,
                               atol=1e-12)
    f, g = p.loss_grad64(ref)
    assert res.fun == pytest.approx(f, rel=1e-10)
    assert res.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-8)


def test_float32(rng):
    X, y = lsq_data(rng, dtype=np.float32)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), "adam", lr=0.05, batch_size=8,
                          random_state=3, max_iter=5, gtol=0.0)
    assert res.x.dtype == np.float32
    ref = reference("lsq", X, y, "adam", 0.05, 8, 5, seed=3)
    np.testing.assert_allclose(res.x, ref, rtol=1e-4, atol=1e-5)


def test_memmap_read_only_is_not_copied(rng, tmp_path):
    X, y = lsq_data(rng)
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    p = fastgd.LeastSquares(mm, y)
    assert np.shares_memory(p.X, mm)
    res = fastgd.minimize(p, "adagrad", lr=0.2, batch_size=8, random_state=1, max_iter=3,
                          gtol=0.0)
    ref = reference("lsq", X, y, "adagrad", 0.2, 8, 3, seed=1)
    np.testing.assert_allclose(res.x, ref, rtol=1e-10, atol=1e-12)
    # a larger X: the solve allocates a small fraction of it (the epochs' visiting orders,
    # 8 n bytes each), never a copy
    big = rng.standard_normal((20000, 32))
    np.save(tmp_path / "B.npy", big)
    mm = np.load(tmp_path / "B.npy", mmap_mode="r")
    p = fastgd.LeastSquares(mm, big @ np.ones(32))
    # compile and warm outside: the first solve on this path may run the machine's one-time
    # calibrations (fastgd/cpu/calibrate.py), whose synthetic arrays are no copy of X
    fastgd.minimize(p, "adagrad", lr=0.2, batch_size=64, random_state=1, max_iter=1, gtol=0.0)
    tracemalloc.start()
    res = fastgd.minimize(p, "adagrad", lr=0.2, batch_size=64, random_state=1, max_iter=3,
                          gtol=0.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.nit == 3 and peak < big.nbytes / 4


def test_sgd_with_decay_reaches_least_squares(rng):
    n, d = 2000, 5
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.3, batch_size=32, random_state=0,
                          lr_schedule="invscaling", max_iter=30, gtol=0.0)
    # the SGD noise left after ~1900 decaying steps: far below the noise level of w_star
    # (its standard error is 0.5 / sqrt(n) ~ 0.011; measured 0.002-0.003 over six seeds)
    assert np.linalg.norm(res.x - w_star) < 0.01
    # with a constant step the iterates keep jittering at the noise floor (measured 0.07-0.18)
    const = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.3, batch_size=32, random_state=0,
                            max_iter=30, gtol=0.0)
    assert np.linalg.norm(const.x - w_star) > 0.03


def rescaled(X, intercept):
    """The explicit diagonal change of variables of precondition="diag" (no weights, l2 = 0):
    (X's columns scaled by c and, with the intercept, centred first, c, mu)."""
    mu = X.mean(axis=0) if intercept else np.zeros(X.shape[1])
    c = 1.0 / np.sqrt(((X - mu) ** 2).mean(axis=0))
    return (X - mu) * c, c, mu


@pytest.mark.parametrize("intercept,method,lr", [(False, "gd", 0.3), (True, "adam", 0.05)])
def test_precondition_diag_iterates_in_the_rescaled_variables(rng, intercept, method, lr):
    n, d = 48, 4
    X = rng.standard_normal((n, d)) * np.array([1e-2, 1.0, 30.0, 5.0]) + \
        np.array([0.0, 2.0, 100.0, 0.0])
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n) + 3.0
    x0 = rng.standard_normal(d)
    Xs, c, mu = rescaled(X, intercept)
    m = n // 4
    res = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=intercept), method, lr=lr,
                          x0=x0, batch_size=m, shuffle=False, precondition="diag",
                          max_iter=5, gtol=0.0)
    # v0 = T^-1 (x0, 0): coefficients x0 / c, intercept mu . x0
    v0 = np.append(x0 / c, mu @ x0) if intercept else x0 / c
    v = reference("lsq", Xs, y, method, lr, m, 5, shuffle=False, intercept=intercept, w0=v0)
    w = c * v[:d]
    np.testing.assert_allclose(res.x, w, rtol=1e-10, atol=1e-12)
    ref = w
    if intercept:
        assert float(res.intercept) == pytest.approx(v[d] - mu @ w, rel=1e-10)
        ref = np.append(w, v[d] - mu @ w)
    f, g = full_loss_grad("lsq", X, y, ref, intercept=intercept)
    assert res.fun == pytest.approx(f, rel=1e-10)
    assert res.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-8)  # original variables


def test_precondition_diag_batch_each_problem_its_own_scales(rng):
    B, n, d = 3, 40, 3
    X = rng.standard_normal((B, n, d)) * np.array([[[0.1, 1.0, 20.0]], [[5.0, 1e-2, 1.0]],
                                                   [[1.0, 1.0, 300.0]]])
    Y = rng.standard_normal((B, n))
    res = fastgd.minimize(fastgd.LeastSquares(X, Y), "momentum", lr=0.05, batch_size=8,
                          random_state=7, precondition="diag", max_iter=3, gtol=0.0)
    for q in range(B):
        Xs, c, _ = rescaled(X[q], False)
        v = reference("lsq", Xs, Y[q], "momentum", 0.05, 8, 3, seed=7)
        np.testing.assert_allclose(res.x[q], c * v, rtol=1e-10, atol=1e-12)


def test_precondition_diag_helps_badly_scaled_mini_batches(rng):
    n, d = 4000, 6
    scales = np.geomspace(1e-2, 10.0, d)
    X = rng.standard_normal((n, d)) * scales
    y = X @ (rng.standard_normal(d) / scales) + 0.1 * rng.standard_normal(n)
    p = fastgd.LeastSquares(X, y)
    f_star = full_loss_grad("lsq", X, y, np.linalg.lstsq(X, y, rcond=None)[0])[0]
    opts = dict(batch_size=64, random_state=0, max_iter=10, gtol=0.0,
                lr_schedule="invscaling")  # lr="auto": the full-data 1/L of each variables
    plain = fastgd.minimize(p, **opts)
    pre = fastgd.minimize(p, precondition="diag", **opts)
    assert plain.nit == pre.nit == 10
    # the small columns barely move at the 1/L of the largest one
    assert pre.fun - f_star < 0.01 * (plain.fun - f_star)


def test_bad_arguments_rejected_before_anything_is_written(rng):
    X, y = lsq_data(rng, n=20)
    p = fastgd.LeastSquares(X, y)
    x0 = np.ones(4)
    bad = [
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=-3), ValueError, "batch_size"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(batch_size=True), TypeError, "batch_size"),
        (dict(batch_size=4, shuffle="yes"), TypeError, "shuffle"),
        (dict(batch_size=4, random_state=-1), ValueError, "random_state"),
        (dict(batch_size=4, random_state=1.5), TypeError, "random_state"),
        (dict(batch_size=4, lr_schedule="linear"), ValueError, "lr_schedule"),
        (dict(batch_size=4, lr_schedule=3), ValueError, "lr_schedule"),
        (dict(batch_size=4, lr_schedule=lambda t: -1.0), ValueError, "lr_schedule"),
        (dict(batch_size=4, lr_schedule=lambda t: "x"), TypeError, "lr_schedule"),
        (dict(lr_schedule="invscaling"), ValueError, "lr_schedule"),
        (dict(batch_size=4, line_search="armijo"), ValueError, "batch_size"),
        (dict(batch_size=4, method="gd", restart=True), ValueError, "restart"),
        (dict(batch_size=4, mode="gram"), ValueError, "batch_size"),
    ]
    for kwargs, err, word in bad:
        with pytest.raises(err, match=word):
            fastgd.minimize(p, **{"lr": 0.1, "x0": x0, "inplace": True, **kwargs})
        np.testing.assert_array_equal(x0, np.ones(4))
    # device="cuda" takes mini-batches (tests/gpu_cases.py, minibatch_*); what the GPU
    # refuses for a full batch (here sample weights) it refuses for them, before any GPU
    # is looked for
    weighted = fastgd.LeastSquares(X, y, sample_weight=np.ones(20))
    with pytest.raises(ValueError, match="device='cuda'"):
        fastgd.minimize(weighted, lr=0.1, x0=x0, inplace=True, batch_size=4, device="cuda")
    np.testing.assert_array_equal(x0, np.ones(4))
    with pytest.raises(ValueError, match="batch_size"):
        fastgd.minimize(fastgd.Softmax(sp.csr_matrix(X), (y > 0).astype(float), 2), lr=0.1,
                        batch_size=4)
    obj = fastgd.Objective(sphere, sphere_grad)
    with pytest.raises(ValueError, match="batch_size"):
        fastgd.minimize(obj, x0=np.ones((2, 3)), lr=0.1, batch_size=4)


def logcosh(z, y):
    return np.log(np.cosh(z - y))


def logcosh_grad(z, y):
    return np.tanh(z - y)


@pytest.mark.slow  # compiles a RowLoss's own mini-batch driver (not cached on disk)
def test_row_loss(rng):
    X, y = lsq_data(rng, n=30)
    LogCosh = fastgd.RowLoss(logcosh, logcosh_grad, lipschitz=1.0)
    res = fastgd.minimize(LogCosh(X, y, fit_intercept=True), "momentum", lr=0.05, batch_size=7,
                          random_state=2, max_iter=3, gtol=0.0)
    ref = reference("logcosh", X, y, "momentum", 0.05, 7, 3, seed=2, intercept=True)
    np.testing.assert_allclose(np.append(res.x, res.intercept), ref, rtol=1e-10, atol=1e-12)
