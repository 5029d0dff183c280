"""minimize converges to independent references (lstsq, ridge closed form, scipy L-BFGS-B)."""
import numpy as np
import pytest
import scipy.optimize

import fastgd
from reference import logistic_loss_grad, ridge_solution

TOL = {np.float64: 1e-6, np.float32: 1e-3}


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-30)


def make_lstsq(rng, B, n, d, dtype, noise=0.1):
    X = rng.standard_normal((B, n, d)) * rng.uniform(0.5, 2.0, size=(B, 1, d))
    w = rng.standard_normal((B, d))
    y = np.einsum("bnd,bd->bn", X, w) + noise * rng.standard_normal((B, n))
    return X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_batched_lstsq_matches_numpy_lstsq(rng, dtype, mode):
    B, n, d = 120, int(rng.integers(20, 60)), int(rng.integers(2, 9))
    X, y = make_lstsq(rng, B, n, d, dtype)
    gtol = 1e-10 if dtype == np.float64 else 1e-5
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr="auto", gtol=gtol, max_iter=20000,
                          mode=mode)
    assert res.x.shape == (B, d) and res.x.dtype == dtype
    assert res.fun.shape == res.nit.shape == res.status.shape == res.success.shape == (B,)
    assert res.success.all(), res.message[int(np.argmin(res.success))]
    for b in range(B):
        ref = np.linalg.lstsq(X[b].astype(np.float64), y[b].astype(np.float64), rcond=None)[0]
        assert rel_err(res.x[b], ref) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [300, 40000])  # small: batched driver; large: row-parallel driver
@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_single_ridge_matches_closed_form(rng, dtype, n, mode, single_driver):
    d = 7
    X, y = make_lstsq(rng, 1, n, d, dtype)
    X, y = X[0], y[0]
    l2 = 0.3
    gtol = 1e-10 if dtype == np.float64 else 1e-5
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2), gtol=gtol, max_iter=20000, mode=mode)
    assert res.x.shape == (d,) and res.status == fastgd.Status.GTOL and res.success
    assert isinstance(res.nit, int) and res.nit > 0
    ref = ridge_solution(X, y, l2)
    assert rel_err(res.x, ref) < TOL[dtype]
    r = X.astype(np.float64) @ ref - y
    assert abs(res.fun - (r @ r / (2 * n) + l2 / 2 * ref @ ref)) < 1e-5 * abs(res.fun) + 1e-6


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "adam"])
def test_logistic_l2_matches_lbfgs(rng, batched, method):
    B, n, d, l2 = (6 if batched else 1), 150, 5, 0.05
    X = rng.standard_normal((B, n, d))
    w_true = rng.standard_normal((B, d)) * 2
    y = (rng.uniform(size=(B, n)) < 1 / (1 + np.exp(-np.einsum("bnd,bd->bn", X, w_true))))
    y = y.astype(np.float64)
    prob = fastgd.Logistic(X if batched else X[0], y if batched else y[0], l2=l2)
    lr = "auto" if method != "adam" else 0.05
    res = fastgd.minimize(prob, method=method, lr=lr, gtol=1e-9, max_iter=50000)
    xs = np.atleast_2d(res.x)
    assert np.all(res.success)
    for b in range(B):
        ref = scipy.optimize.minimize(lambda w: logistic_loss_grad(X[b], y[b], w, l2),
                                      np.zeros(d), jac=True, method="L-BFGS-B",
                                      options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000)).x
        assert rel_err(xs[b], ref) < 1e-6


def test_logistic_no_overflow_for_huge_margins():
    X = np.array([[1e3, 0.0], [-1e3, 1.0], [2e3, -1.0]])
    y = np.array([1.0, 0.0, 0.0])
    w0 = np.array([50.0, 3.0])  # margins up to 1e5: exp(1e5) overflows a naive formula
    res = fastgd.minimize(fastgd.Logistic(X, y), lr=1e-9, x0=w0, max_iter=0)
    ref = logistic_loss_grad(X, y, w0)[0]
    assert np.isfinite(res.fun) and abs(res.fun - ref) <= 1e-12 * ref


def test_direct_and_gram_agree_to_rounding(rng):
    X, y = make_lstsq(rng, 30, 50, 6, np.float64)
    p = fastgd.LeastSquares(X, y, l2=0.01)
    a = fastgd.minimize(p, lr=0.05, gtol=0, max_iter=300, mode="direct")
    b = fastgd.minimize(p, lr=0.05, gtol=0, max_iter=300, mode="gram")
    np.testing.assert_allclose(a.x, b.x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.fun, b.fun, rtol=1e-9)
    assert (a.nit == 300).all() and (b.nit == 300).all()


def test_armijo_line_search_recovers_from_too_large_lr(rng):
    X, y = make_lstsq(rng, 8, 60, 5, np.float64)
    p = fastgd.LeastSquares(X, y)
    plain = fastgd.minimize(p, lr=50.0, max_iter=500)
    assert (plain.status == fastgd.Status.DIVERGED).all()
    res = fastgd.minimize(p, lr=50.0, line_search="armijo", gtol=1e-9, max_iter=20000)
    assert res.success.all()
    assert (res.lr < 50.0).all()
    for b in range(8):
        assert rel_err(res.x[b], np.linalg.lstsq(X[b], y[b], rcond=None)[0]) < 1e-6


def test_history_records_loss_every_k(rng):
    X, y = make_lstsq(rng, 5, 40, 4, np.float64)
    p = fastgd.LeastSquares(X, y)
    lr = 0.01
    res = fastgd.minimize(p, lr=lr, gtol=0, max_iter=20, history=5)
    assert res.history.shape == (5, 5)
    from reference import gd_run, lstsq_loss_grad
    for b in range(5):
        for j in range(5):
            w = gd_run(lambda w: lstsq_loss_grad(X[b], y[b], w)[1], np.zeros(4), lr, 5 * j)
            assert res.history[j, b] == pytest.approx(lstsq_loss_grad(X[b], y[b], w)[0], rel=1e-12)


def test_history_repeats_final_loss_after_stop(rng):
    X, y = make_lstsq(rng, 3, 40, 3, np.float64)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), gtol=1e-6, max_iter=1000, history=1)
    assert res.history.shape == (1001, 3)
    for b in range(3):
        k = res.nit[b]
        assert k < 1000
        assert (res.history[k:, b] == res.fun[b]).all()
        assert np.all(np.diff(res.history[: k + 1, b]) <= 0)  # gd at 1/L decreases the loss


def test_x0_untouched_unless_inplace(rng):
    X, y = make_lstsq(rng, 4, 30, 3, np.float64)
    p = fastgd.LeastSquares(X, y)
    x0 = rng.standard_normal((4, 3))
    keep = x0.copy()
    res = fastgd.minimize(p, x0=x0, max_iter=50)
    assert np.array_equal(x0, keep) and not np.shares_memory(res.x, x0)
    res2 = fastgd.minimize(p, x0=x0, max_iter=50, inplace=True)
    assert res2.x is x0
    np.testing.assert_array_equal(x0, res.x)


def test_ftol_and_xtol_stop_with_their_status(rng):
    X, y = make_lstsq(rng, 4, 30, 3, np.float64)
    p = fastgd.LeastSquares(X, y)
    rf = fastgd.minimize(p, gtol=0, ftol=1e-6, max_iter=100000, history=1)
    assert (rf.status == fastgd.Status.FTOL).all() and rf.success.all()
    for b in range(4):
        k = rf.nit[b]
        f_prev, f_last = rf.history[k - 1, b], rf.history[k, b]
        assert abs(f_last - f_prev) <= 1e-6 * max(1, abs(f_prev))
        assert abs(rf.history[k - 2, b] - f_prev) > 1e-6 * max(1, abs(rf.history[k - 2, b]))
    rx = fastgd.minimize(p, gtol=0, xtol=1e-7, max_iter=100000)
    assert (rx.status == fastgd.Status.XTOL).all()
    assert "xtol" in rx.message[0]


@pytest.mark.parametrize("d", [3, 4, 8, 13, 20])
def test_direct_logistic_gd_matches_numpy_loop_for_every_column_blocking(rng, d):
    """The batched DIRECT pass (z = X w in passes of 4 and 8 columns, then the tail) against
    a NumPy float64 GD loop, for d below, at and between the pass widths."""
    B, n, iters, lr = 3, 37, 25, 0.5
    X = rng.standard_normal((B, n, d))
    y = (rng.random((B, n)) < 0.5).astype(np.float64)
    W = np.zeros((B, d))
    for k in range(B):
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-(X[k] @ W[k])))
            W[k] -= lr * X[k].T @ (p - y[k]) / n
    res = fastgd.minimize(fastgd.Logistic(X, y), lr=lr, gtol=0.0, max_iter=iters)
    assert (np.asarray(res.nit) == iters).all()
    np.testing.assert_allclose(res.x, W, rtol=1e-10, atol=1e-13)


def _weighted_logistic_gd(X, y, s, lr, iters):
    """Float64 NumPy gradient descent on sum s_i phi_i / sum s_i, phi the logistic loss of
    z = X w + b, the intercept b unpenalised (the independent reference)."""
    Xd, yd, sd = X.astype(np.float64), y.astype(np.float64), s / s.sum()
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(iters):
        r = sd * (1.0 / (1.0 + np.exp(-(Xd @ w + b))) - yd)
        w, b = w - lr * (Xd.T @ r), b - lr * r.sum()
    return w, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_row_loop_gives_the_reference_for_any_tile(rng, monkeypatch, row_blocks, dtype):
    """One large logistic problem (with the intercept and weights) runs the tiled row loop;
    its tile (config.ROW_TILE, else calibrated: a run-time argument) changes only the
    summation order."""
    from fastgd import config
    from fastgd.cpu import drivers
    n, d = 5003, 21  # past config.LARGE_PROBLEM_ELEMENTS; n odd, tiles with a remainder
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(dtype)
    s = rng.uniform(0.2, 3.0, n)
    ref_w, ref_b = _weighted_logistic_gd(X, y, s, 0.5, 40)
    tol = 2e-5 if dtype == np.float32 else 1e-11
    for tile in (1, 7, 16, 64, 256, 10 ** 6):
        monkeypatch.setattr(config, "ROW_TILE", tile)
        res = fastgd.minimize(fastgd.Logistic(X, y, fit_intercept=True, sample_weight=s),
                              lr=0.5, max_iter=40, gtol=0, mode="direct")
        assert res.nit == 40
        np.testing.assert_allclose(res.x, ref_w, rtol=tol, atol=tol, err_msg=f"tile {tile}")
        np.testing.assert_allclose(res.intercept, ref_b, rtol=tol, atol=tol)
        if tile == 1:  # compiled by the first call: later tiles reuse it
            nsig = len(drivers.builtin().solve_single.signatures)
    assert len(drivers.builtin().solve_single.signatures) == nsig
