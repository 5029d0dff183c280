"""minimize(threads=k): a cap on a CPU solve's Numba threads for that call only, restored
afterwards (also when the call raises); results against a NumPy float64 GD loop, and
the serial/parallel choice of one problem (fastgd.plan.is_large)."""
import numba
import numpy as np
import pytest

import fastgd
from fastgd import config
from fastgd.cpu import backend
from fastgd.plan import is_large

MOST = numba.config.NUMBA_NUM_THREADS


def numpy_gd(X, y, lr, iters):
    """Plain GD on least squares in float64, X (n, d) or (B, n, d)."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    w = np.zeros(X.shape[:-2] + X.shape[-1:])
    n = X.shape[-2]
    for _ in range(iters):
        r = np.einsum("...ij,...j->...i", X, w) - y
        w = w - lr * np.einsum("...ij,...i->...j", X, r) / n
    return w


def _data(rng, shape):
    X = rng.standard_normal(shape)
    return X, X @ np.linspace(-1, 1, shape[-1]) + 0.1 * rng.standard_normal(shape[:-1])


@pytest.mark.parametrize("shape", [(20_000, 5), (6, 300, 5)])  # one large problem; a batch
def test_threads_give_the_same_result_and_restore_numba_threads(rng, shape, single_driver):
    X, y = _data(rng, shape)
    prob = fastgd.LeastSquares(X, y)
    before = numba.get_num_threads()
    kw = dict(lr=0.2, max_iter=40, gtol=0.0)
    res = {k: fastgd.minimize(prob, threads=k, **kw) for k in sorted({1, min(2, MOST)})}
    assert numba.get_num_threads() == before
    ref = numpy_gd(X, y, 0.2, 40)
    for r in res.values():
        assert (np.asarray(r.nit) == 40).all()
        np.testing.assert_allclose(r.x, ref, rtol=1e-12, atol=1e-14)
    r1, r2 = res[1], res[max(res)]
    if len(shape) == 3 or single_driver == "serial":
        np.testing.assert_array_equal(r1.x, r2.x)  # no sum depends on the thread count
    # (row blocks: the number of blocks follows the threads, so sums are re-associated)


def test_the_cap_applies_inside_the_call_and_is_restored_on_exception(rng, monkeypatch):
    X, y = _data(rng, (400, 3))
    prob = fastgd.LeastSquares(X, y)
    seen = []
    real = backend.interruptible

    def spy(fn, ip, work):
        seen.append(numba.get_num_threads())
        return real(fn, ip, work)
    monkeypatch.setattr(backend, "interruptible", spy)
    before = numba.get_num_threads()
    fastgd.minimize(prob, lr=0.1, max_iter=3, threads=1)
    fastgd.minimize(prob, lr=0.1, max_iter=3)
    assert seen == [1, before]
    assert numba.get_num_threads() == before

    def interrupted(fn, ip, work):
        assert numba.get_num_threads() == 1
        raise KeyboardInterrupt
    monkeypatch.setattr(backend, "interruptible", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fastgd.minimize(prob, lr=0.1, max_iter=3, threads=1)
    assert numba.get_num_threads() == before


def test_numba_set_num_threads_is_respected_and_threads_never_raise_it(rng, monkeypatch):
    X, y = _data(rng, (400, 3))
    prob = fastgd.LeastSquares(X, y)
    seen = []
    real = backend.interruptible
    monkeypatch.setattr(backend, "interruptible",
                        lambda fn, ip, work: (seen.append(numba.get_num_threads()),
                                              real(fn, ip, work))[1])
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        fastgd.minimize(prob, lr=0.1, max_iter=3)
        fastgd.minimize(prob, lr=0.1, max_iter=3, threads=MOST)  # a cap: never more
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)
    assert seen == [1, 1]


def test_threads_accepts_numpy_integers_and_none(rng):
    X, y = _data(rng, (50, 2))
    for t in (None, np.int64(1), MOST):
        assert fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.1, max_iter=5, threads=t).nit == 5


def test_one_problem_within_the_cache_runs_serially(rng, monkeypatch):
    """is_large: the row blocks only for data (X and its transposed copy) past
    config.serial_max_bytes(), and always on the GPU; a batch never."""
    X, y = _data(rng, (20_000, 5))                 # 800 kB
    prob = fastgd.LeastSquares(X, y)
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 2 * X.nbytes)
    assert not is_large(prob, "cpu") and is_large(prob, "cuda")
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 2 * X.nbytes - 1)
    assert is_large(prob, "cpu")
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 0)
    assert not is_large(fastgd.LeastSquares(X[:100], y[:100]), "cpu")   # < 2**16 elements
    assert not is_large(fastgd.LeastSquares(X.reshape(4, 5000, 5), y.reshape(4, 5000)), "cpu")
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", None)
    assert config.serial_max_bytes() >= 1 << 20    # the machine's cache (or 8 MiB)
