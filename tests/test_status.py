"""The seeds' lessons: too large a step diverges (reported, finite x), too small hits
MAX_ITER, 'auto' works where a fixed lr fails; batch members never influence each other."""
import numpy as np
import pytest

import fastgd
from reference import gd_run, lipschitz, lstsq_loss_grad


def data(rng, B=6, n=40, d=4, scale=None):
    X = rng.standard_normal((B, n, d))
    if scale is not None:
        X = X * scale
    y = rng.standard_normal((B, n))
    return X, y


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "adam"])
def test_too_large_lr_diverges_with_finite_last_iterate(rng, method):
    X, y = data(rng)
    p = fastgd.LeastSquares(X, y)
    lr = 1e4 if method != "adam" else 1e30
    res = fastgd.minimize(p, method=method, lr=lr, max_iter=5000)
    assert (res.status == fastgd.Status.DIVERGED).all()
    assert not res.success.any()
    assert np.isfinite(res.x).all() and np.isfinite(res.fun).all()
    assert "diverged" in res.message[0]
    # x is iterate number nit of the same formula
    for b in range(2):
        ref = gd_run(lambda w: lstsq_loss_grad(X[b], y[b], w)[1], np.zeros(4), lr, res.nit[b],
                     method)
        np.testing.assert_allclose(res.x[b], ref, rtol=1e-9)


def test_tiny_lr_hits_max_iter(rng):
    X, y = data(rng)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=1e-9, max_iter=37)
    assert (res.status == fastgd.Status.MAX_ITER).all() and (res.nit == 37).all()
    assert not res.success.any() and "maximum number of iterations 37" in res.message[0]


def test_auto_lr_converges_on_ill_scaled_data_where_fixed_lr_diverges(rng):
    X, y = data(rng, B=4, n=80, d=5, scale=np.array([30.0, 1.0, 0.5, 10.0, 3.0]))
    p = fastgd.LeastSquares(X, y)
    fixed = fastgd.minimize(p, lr=0.01, max_iter=2000)
    assert (fixed.status == fastgd.Status.DIVERGED).all()
    auto = fastgd.minimize(p, lr="auto", gtol=1e-8, max_iter=500000)
    assert auto.success.all()
    for b in range(4):
        L = lipschitz(X[b])
        assert auto.lr[b] == pytest.approx(1 / L, rel=1e-3)
        ref = np.linalg.lstsq(X[b], y[b], rcond=None)[0]
        np.testing.assert_allclose(auto.x[b], ref, rtol=1e-5, atol=1e-9)


def test_auto_lr_for_logistic_uses_quarter_curvature(rng):
    X = rng.standard_normal((3, 50, 4))
    y = (rng.uniform(size=(3, 50)) < 0.5).astype(float)
    res = fastgd.minimize(fastgd.Logistic(X, y, l2=0.5), max_iter=1)
    for b in range(3):
        assert res.lr[b] == pytest.approx(1 / lipschitz(X[b], 0.25, 0.5), rel=1e-4)


def test_mixed_batch_statuses_and_members_independent(rng):
    X, y = data(rng, B=5, n=40, d=4)
    X[2] *= 1e3       # this one diverges at the common lr
    lr = np.full(5, 0.05)
    lr[4] = 1e-12     # this one crawls
    p = fastgd.LeastSquares(X, y)
    res = fastgd.minimize(p, lr=lr, gtol=1e-8, max_iter=20000)
    assert res.status[2] == fastgd.Status.DIVERGED
    assert res.status[4] == fastgd.Status.MAX_ITER
    for b in (0, 1, 3):
        assert res.status[b] == fastgd.Status.GTOL
        solo = fastgd.minimize(fastgd.LeastSquares(X[b], y[b]), lr=0.05, gtol=1e-8, max_iter=20000)
        assert np.array_equal(solo.x, res.x[b]) and solo.nit == res.nit[b]
    assert np.isfinite(res.x).all()


def test_zero_tolerances_run_exactly_max_iter(rng):
    X, y = data(rng)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), gtol=0, xtol=0, ftol=0, max_iter=123)
    assert (res.nit == 123).all() and (res.status == fastgd.Status.MAX_ITER).all()


def test_converged_problems_freeze(rng):
    X, y = data(rng, B=2)
    lr = np.array([0.2, 0.002])
    p = fastgd.LeastSquares(X, y)
    res = fastgd.minimize(p, lr=lr, gtol=1e-6, max_iter=100000)
    assert res.nit[0] < res.nit[1]
    solo = fastgd.minimize(fastgd.LeastSquares(X[0], y[0]), lr=0.2, gtol=0, max_iter=res.nit[0])
    np.testing.assert_array_equal(solo.x, res.x[0])


def test_result_api():
    assert issubclass(fastgd.Status, int)
    for name in ("GTOL", "XTOL", "FTOL", "MAX_ITER", "DIVERGED"):
        assert hasattr(fastgd.Status, name)
    r = fastgd.Result(x=np.ones(2), fun=1.0)
    assert r.x is r["x"] and "fun" in repr(r)
    with pytest.raises(AttributeError):
        r.nothing


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auto_lr_of_a_large_single_problem_is_one_over_lambda_max(rng, dtype, single_driver):
    """The row-block driver's power iteration (X^T X v in row pairs): 1/L against eigvalsh,
    with an odd row count and column scales that separate the top eigenvalue."""
    n, d = 20_001, 5
    X = (rng.standard_normal((n, d)) * np.array([3.0, 1.0, 0.5, 2.0, 1.5])).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.1), max_iter=0)
    assert res.lr == pytest.approx(1 / lipschitz(X, 1.0, 0.1), rel=1e-4)
    res = fastgd.minimize(fastgd.Logistic(X, (y > 0).astype(dtype)), max_iter=0)
    assert res.lr == pytest.approx(1 / lipschitz(X, 0.25), rel=1e-4)


def test_xtol_success_far_from_a_minimum_says_so(rng):
    """lr=1e-12 with xtol=1e-8: XTOL after one step, gradient norm ~1 (NumPy float64):
    the message says the step became tiny and gives the gradient norm above gtol."""
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.0, -2.0, 3.0])
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=1e-12, xtol=1e-8, gtol=1e-6)
    g = X.T @ (X @ res.x - y) / 50
    assert res.status == fastgd.Status.XTOL and res.nit == 1
    assert np.linalg.norm(g) > 0.1
    assert "the step became tiny" in res.message and "> gtol 1e-06" in res.message
    ok = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.5, xtol=1e-12, gtol=0.0,
                         max_iter=100000)
    assert ok.status == fastgd.Status.XTOL and "tiny" not in ok.message


def test_loss_far_above_its_start_at_max_iter_is_diverged(rng):
    """lr slightly over 2/L grows the loss by a factor per step, never past 1e10 x f0 in
    max_iter: at the end it is DIVERGED (loss > f0 + 1e3 |f0|), not MAX_ITER."""
    X, y = data(rng, B=3)
    L = np.array([lipschitz(X[b]) for b in range(3)])
    lr = np.array([2.2, 0.5, 2.2]) / L
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=lr, max_iter=60, gtol=0)
    assert list(res.status) == [fastgd.Status.DIVERGED, fastgd.Status.MAX_ITER,
                                fastgd.Status.DIVERGED]
    assert (res.nit == 60).all()
    f0 = np.array([lstsq_loss_grad(X[b], y[b], np.zeros(4))[0] for b in range(3)])
    grew = res.fun[[0, 2]] / f0[[0, 2]]
    assert (grew > 1e3).all() and (grew < 1e10).all()
    # x is the last iterate, the plain GD one
    ref = gd_run(lambda w: lstsq_loss_grad(X[0], y[0], w)[1], np.zeros(4), lr[0], 60)
    np.testing.assert_allclose(res.x[0], ref, rtol=1e-9)
    assert "maximum number of iterations 60" in res.message[0]
    assert "exceeds its start" in res.message[0]
    # a short run (the loss only a few times its start) stays MAX_ITER
    short = fastgd.minimize(fastgd.LeastSquares(X, y), lr=lr, max_iter=3, gtol=0)
    assert (short.status == fastgd.Status.MAX_ITER).all()


def test_divergence_messages_suggest_only_what_the_problem_accepts(rng):
    X = rng.standard_normal((30, 3))
    counts = rng.poisson(1.0, 30).astype(float)
    # Poisson refuses lr='auto' without Armijo: the message says so
    msg = fastgd.minimize(fastgd.Poisson(X, counts), lr=100.0, max_iter=50).message
    assert "diverged" in msg and "line_search='armijo' with lr='auto'" in msg
    with pytest.raises(ValueError, match="line_search='armijo'"):
        fastgd.minimize(fastgd.Poisson(X, counts), lr="auto")
    # ... and with Armijo on, lr='auto' is a remedy it accepts
    fastgd.minimize(fastgd.Poisson(X, counts), lr="auto", line_search="armijo", max_iter=2)
    # bb backtracks on its own: Poisson takes lr='auto' with it
    res = fastgd.minimize(fastgd.Poisson(X, counts, l2=0.1), method="bb", lr="auto",
                          gtol=1e-8, max_iter=500)
    assert res.status == fastgd.Status.GTOL, res.message
    # LeastSquares accepts lr='auto'
    msg = fastgd.minimize(fastgd.LeastSquares(X, counts), lr=100.0, max_iter=50).message
    assert "diverged" in msg and msg.endswith("(try a smaller lr, or lr='auto')")
    # a RowLoss without a curvature bound never accepts lr='auto'
    from fastgd.result import AUTO_UNAVAILABLE, AUTO_USED, status_message
    kw = dict(grad_norm=1.0, nit=3, gtol=1e-6, xtol=0.0, ftol=0.0, max_iter=10)
    for advice in (AUTO_UNAVAILABLE, AUTO_USED):
        m = status_message(fastgd.Status.DIVERGED, advice=advice, **kw)
        assert "lr='auto'" not in m and "line_search='armijo'" in m
        m = status_message(fastgd.Status.XTOL, advice=advice, **dict(kw, xtol=1e-3))
        assert "lr='auto'" not in m
