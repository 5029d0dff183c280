"""sweep_lr against independent NumPy gradient-descent runs at every step size."""
import numpy as np
import pytest

import fastgd
from fastgd import Status
from reference import gd_run, lipschitz, logistic_loss_grad, lstsq_loss_grad

DIVERGE_FACTOR = 1e10  # API.md: loss past a large multiple of its start counts as diverged


def numpy_gd_history(X, y, lr, steps, l2=0.0):
    """Plain GD in float64; losses at iterates 0..steps, stopping (like fastgd) at the first
    step whose loss is non-finite or exceeds f0 + 1e10 * |f0|.  Returns (losses, nit, diverged)."""
    w = np.zeros(X.shape[1])
    f, g = lstsq_loss_grad(X, y, w, l2)
    f0 = f
    losses = [f]
    for t in range(steps):
        w_new = w - lr * g
        f_new, g_new = lstsq_loss_grad(X, y, w_new, l2)
        if not np.isfinite(f_new) or f_new > f0 + DIVERGE_FACTOR * abs(f0):
            return np.array(losses), t, True
        w, f, g = w_new, f_new, g_new
        losses.append(f)
    return np.array(losses), steps, False


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sweep_matches_numpy_gd_at_every_lr(rng, dtype):
    n, d, steps = 40, 5, 60
    X = rng.standard_normal((n, d)) * np.geomspace(1, 0.3, d)
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    L = lipschitz(X)
    lrs = np.array([0.05, 0.5, 1.0, 1.9, 2.5, 4.0]) / L
    res = fastgd.sweep_lr(fastgd.LeastSquares(X.astype(dtype), y.astype(dtype)), lrs,
                          max_iter=steps, gtol=0.0)
    assert res.history.shape == (steps + 1, lrs.size)
    assert res.x.shape == (lrs.size, d) and res.x.dtype == dtype
    np.testing.assert_allclose(res.lr, lrs, rtol=1e-6)
    np.testing.assert_allclose(res.auto_lr, 1 / L, rtol=1e-4)
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    for j, lr in enumerate(lrs):
        ref, nit, diverged = numpy_gd_history(X, y, lr, steps)
        if diverged:
            assert res.status[j] == Status.DIVERGED, j
            assert np.isfinite(res.x[j]).all()
        else:
            assert res.status[j] == Status.MAX_ITER, j
            assert res.nit[j] == steps
            np.testing.assert_allclose(res.history[:, j], ref, rtol=rtol, err_msg=f"lr {lr}")
            np.testing.assert_allclose(res.fun[j], ref[-1], rtol=rtol)
    # the lesson: too large diverges, too small is slower than 1/L
    assert res.status[-1] == Status.DIVERGED and res.status[-2] == Status.DIVERGED
    assert res.fun[0] > res.fun[2]


def test_sweep_diverged_run_stops_where_numpy_blows_up(rng):
    X = rng.standard_normal((30, 4))
    y = rng.standard_normal(30)
    lr = 3.0 / lipschitz(X)
    res = fastgd.sweep_lr(fastgd.LeastSquares(X, y), [lr], max_iter=200, gtol=0.0)
    ref, nit, diverged = numpy_gd_history(X, y, lr, 200)
    assert diverged and res.status[0] == Status.DIVERGED
    assert abs(res.nit[0] - nit) <= 1  # the exact step crossing 1e10 may differ by rounding
    # after the stop, the history repeats the last recorded loss
    h = res.history[:, 0]
    assert (h[res.nit[0]:] == h[res.nit[0]]).all()


@pytest.mark.parametrize("method", ["momentum", "adam"])
def test_sweep_logistic_methods_match_reference(rng, method):
    n, d, steps = 50, 4, 40
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    lrs = np.array([0.01, 0.1, 0.5])
    res = fastgd.sweep_lr(fastgd.Logistic(X, y, l2=0.01), lrs, method=method, max_iter=steps,
                          gtol=0.0, history=10)
    assert res.history.shape == (steps // 10 + 1, 3)
    for j, lr in enumerate(lrs):
        w = gd_run(lambda w: logistic_loss_grad(X, y, w, 0.01)[1], np.zeros(d), lr, steps,
                   method=method)
        np.testing.assert_allclose(res.x[j], w, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(res.fun[j], logistic_loss_grad(X, y, w, 0.01)[0], rtol=1e-9)
        # record 2 is the loss at iterate 20
        w20 = gd_run(lambda w: logistic_loss_grad(X, y, w, 0.01)[1], np.zeros(d), lr, 20,
                     method=method)
        np.testing.assert_allclose(res.history[2, j], logistic_loss_grad(X, y, w20, 0.01)[0],
                                   rtol=1e-9)


def test_sweep_default_lrs_span_auto_lr(rng):
    X = rng.standard_normal((30, 3))
    y = rng.standard_normal(30)
    res = fastgd.sweep_lr(fastgd.LeastSquares(X, y), max_iter=5)
    auto = 1 / lipschitz(X)
    assert res.lr.min() < auto < res.lr.max()
    np.testing.assert_allclose(res.lr.min(), 0.01 * auto, rtol=1e-4)


def test_sweep_input_checks(rng, monkeypatch):
    X = rng.standard_normal((20, 3))
    y = rng.standard_normal(20)
    p = fastgd.LeastSquares(X, y)
    for bad in ([], [0.1, -1.0], [[0.1]], [np.nan]):
        with pytest.raises(ValueError, match="lrs"):
            fastgd.sweep_lr(p, bad)
    with pytest.raises(TypeError, match="problem"):
        fastgd.sweep_lr((X, y), [0.1])
    with pytest.raises(ValueError, match="single problem"):
        fastgd.sweep_lr(fastgd.LeastSquares(X[None], y[None]), [0.1])
    with pytest.raises(ValueError, match="history"):
        fastgd.sweep_lr(p, [0.1], history=0)
    with pytest.raises(TypeError, match="lr"):
        fastgd.sweep_lr(p, [0.1], lr=0.1)
    # memory guard on the loss histories only (X is shared by the runs, never copied)
    rows = 200 + 1  # max_iter=200, history=1: float64 rows per step size
    monkeypatch.setattr(fastgd.config, "MAX_SWEEP_BYTES", 10 * rows * 8 - 1)
    with pytest.raises(ValueError, match="GiB"):
        fastgd.sweep_lr(p, np.full(10, 0.1))
    fastgd.sweep_lr(p, np.full(9, 0.1), max_iter=2)  # just under the limit: runs


def test_sweep_does_not_modify_problem(rng):
    X = rng.standard_normal((20, 3))
    y = rng.standard_normal(20)
    X0, y0 = X.copy(), y.copy()
    p = fastgd.LeastSquares(X, y)
    fastgd.sweep_lr(p, [0.1, 10.0], max_iter=30)
    assert p.X is X and p.y is y and not p.batched
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
