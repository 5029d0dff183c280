"""Float32 at the edges of its range (issue "Reliability, second pass", item 5).

References are NumPy float64 (lstsq, eigvalsh, the loss formula); every case failed
before the fixes: y ~ 3e19 stopped DIVERGED at iteration 0, lr="auto" summed its power
iteration in float32, fun was cast to inf, huge parameters became inf in the kernels.
"""
import numba
import numpy as np
import pytest

import fastgd
from fastgd import Status, decisions
from fastgd.contract import DIVERGED


def _lstsq(X, y):
    return np.linalg.lstsq(X.astype(np.float64), y.astype(np.float64), rcond=None)[0]


@pytest.mark.parametrize("mode", ["gram", "direct"])
def test_targets_near_3e19_are_solved_not_diverged(mode):
    """y*y overflows float32 (9e38) but y.y/2n = 4.5e38 fits the float64 Gram constant:
    the set-up multiplies in float64, so valid data converge to the float64 solution."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3)).astype(np.float32)
    w = np.array([1e19, -2e19, 5e18])
    y = (X.astype(np.float64) @ w).astype(np.float32)
    assert np.abs(y).max() > 2e19
    r = fastgd.minimize(fastgd.LeastSquares(X, y), lr="auto", max_iter=3000, mode=mode,
                        gtol=0.0)
    assert r.status != Status.DIVERGED, r.message
    np.testing.assert_allclose(r.x, _lstsq(X, y), rtol=1e-4)


@pytest.mark.slow  # a large problem on the row-block drivers (~40 s on 2 cores)
def test_power_iteration_of_one_large_uncentred_problem_is_float64(monkeypatch, row_blocks):
    """lr * lambda_max(X^T X / n) = 1 for the row-block path (one large problem, ROWS),
    against eigvalsh in float64: un-centred float32 data in one row block of 3e6 rows,
    where float32 partial sums drifted by 3.5e-3 (the probe's 7e8 rows: 9%)."""
    monkeypatch.setattr(fastgd.config, "BLOCKS_PER_THREAD", 1)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        _check_power_iteration()
    finally:
        numba.set_num_threads(threads)


def _check_power_iteration():
    rng = np.random.default_rng(2)
    X = (rng.random((3_000_000, 3)) + 5.0).astype(np.float32)
    y = X @ np.ones(3, np.float32)
    X64 = X.astype(np.float64)
    lam = np.linalg.eigvalsh(X64.T @ X64 / len(X)).max()
    r = fastgd.minimize(fastgd.LeastSquares(X, y), lr="auto", max_iter=0, mode="direct")
    assert abs(float(r.lr) * lam - 1.0) < 1e-5


def test_a_batch_power_iteration_matches_eigvalsh_in_float32():
    rng = np.random.default_rng(3)
    X = (rng.random((6, 400, 5)) * 10 + 100).astype(np.float32)
    y = X.sum(axis=2)
    r = fastgd.minimize(fastgd.LeastSquares(X, y), lr="auto", max_iter=0, mode="direct")
    X64 = X.astype(np.float64)
    lam = np.array([np.linalg.eigvalsh(a.T @ a / 400).max() for a in X64])
    np.testing.assert_allclose(r.lr * lam, 1.0, rtol=1e-5)


def test_fun_beyond_float32_is_reported_in_float64_not_inf():
    """A finite loss past float32's max at a finite iterate: fun is the float64 value (no
    stop but DIVERGED reports fun = inf)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((100, 2)).astype(np.float32)
    y = (rng.standard_normal(100) * 3e19).astype(np.float32)
    r = fastgd.minimize(fastgd.LeastSquares(X, y), lr=1e-3, max_iter=5, gtol=0.0)
    assert r.status == Status.MAX_ITER
    ref = 0.5 * np.mean((X.astype(np.float64) @ r.x.astype(np.float64) - y) ** 2)
    assert ref > np.finfo(np.float32).max
    assert np.isfinite(r.fun) and np.isfinite(r.grad_norm)
    np.testing.assert_allclose(r.fun, ref, rtol=1e-5)
    rb = fastgd.minimize(fastgd.LeastSquares(np.stack([X, X]), np.stack([y, y / 1e10])),
                         lr=1e-3, max_iter=5, gtol=0.0)
    assert np.isfinite(rb.fun).all() and rb.fun.dtype == np.float64


def test_an_unusable_lipschitz_estimate_is_divergence_not_a_zero_step():
    """decisions.auto_lr gives NaN for a non-finite L (was 1/inf = 0: FTOL 'success' at
    x0), and a NaN step is DIVERGED at once, also under Armijo (halving cannot help)."""
    assert np.isnan(decisions.auto_lr(1.0, np.inf, 0.0))
    assert np.isnan(decisions.auto_lr(1.0, np.nan, 0.0))
    assert decisions.auto_lr(1.0, 4.0, 0.0) == 0.25
    for armijo in (False, True):
        assert decisions.trial_outcome(armijo, 0, 1.0, 2.0, np.nan, 1.0, 0.0, 1e10, 1.0,
                                       1.0) == DIVERGED
    msg = fastgd.result.status_message(Status.DIVERGED, grad_norm=1.0, nit=0, gtol=0, xtol=0,
                                       ftol=0, max_iter=10, lr=np.nan)
    assert "lr='auto' found no usable step size" in msg


def _data32(scale_x=1.0, scale_y=1.0):
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((50, 3)) * scale_x).astype(np.float32)
    y = (rng.standard_normal(50) * scale_y).astype(np.float32)
    return X, y


@pytest.mark.parametrize("scale_x,scale_y,name", [(1e18, 1.0, "X"), (1.0, 1e37, "y"),
                                                  (1e17, 1e20, "y")])
def test_data_whose_products_overflow_the_dtype_are_refused(scale_x, scale_y, name):
    X, y = _data32(scale_x, scale_y)
    with pytest.raises(ValueError, match=rf"^{name} holds entries up to .*float32"):
        fastgd.LeastSquares(X, y)
    # the same values in float64 are fine
    fastgd.LeastSquares(X.astype(np.float64), y.astype(np.float64))


def test_nan_is_still_reported_as_nan_by_the_range_check():
    X, y = _data32()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        fastgd.LeastSquares(X, y)
    X, y = _data32()
    y[0] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        fastgd.LeastSquares(X, y)


def test_hyper_parameters_past_the_dtype_range_name_themselves():
    X, y = _data32()
    with pytest.raises(ValueError, match="^l2=1e\\+39 overflows float32"):
        fastgd.LeastSquares(X, y, l2=1e39)
    with pytest.raises(ValueError, match="^delta=1e\\+39 overflows float32"):
        fastgd.Huber(X, y, delta=1e39)
    p = fastgd.LeastSquares(X, y)
    for kw, name in [(dict(lr=1e39), "lr"), (dict(lr=np.array([1e39])), "lr"),
                     (dict(method="momentum", momentum=1e39), "momentum"),
                     (dict(method="adam", eps=1e39), "eps")]:
        with pytest.raises(ValueError, match=f"^{name}=1e\\+39 overflows float32"):
            fastgd.minimize(p, **kw)
    fastgd.LeastSquares(X.astype(np.float64), y.astype(np.float64), l2=1e39)  # fits float64
