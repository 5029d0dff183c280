"""Memory: minimize on a batch allocates O(B*d) working memory beyond its inputs (plus
O(n*d) scratch per worker thread inside the kernels) and never copies X.

Two independent measurements on a batch whose X is 200 MB:
- tracemalloc sees every NumPy allocation made by the Python layer;
- the process's peak RSS (Linux VmHWM, reset through /proc/self/clear_refs) also sees
  the kernels' own (NRT) allocations.
A copy of X would add 200 MB to either; the bounds allow a few MB.
"""
import gc
import tracemalloc
from pathlib import Path

import numba
import numpy as np
import pytest

import fastgd

B, N, D = 500, 500, 100  # X: 500 * 500 * 100 * 8 B = 200 MB
MB = 1 << 20


@pytest.fixture(scope="module")
def big_batch():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((B, N, D))
    y = rng.standard_normal((B, N))
    return X, y


def _status_kb(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak_rss():
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") <= _status_kb("VmRSS") + MB


CASES = [dict(lr=1e-3, max_iter=5, mode="direct", gtol=0.0),
         dict(lr="auto", max_iter=3, mode="direct", method="adam", history=1),
         dict(lr=1e-3, max_iter=5, mode="gram", method="momentum")]


@pytest.mark.parametrize("opts", CASES, ids=["direct", "auto-adam-history", "gram"])
def test_python_side_allocations_are_O_Bd(big_batch, opts):
    X, y = big_batch
    prob = fastgd.LeastSquares(X, y)
    assert prob.X is X and prob.y is y  # the problem keeps the caller's arrays
    fastgd.minimize(fastgd.LeastSquares(X[:2], y[:2]), **opts)  # compile/warm outside
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        res = fastgd.minimize(prob, **opts)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    hist = (opts["max_iter"] + 1) * B * 8 * 2 if opts.get("history") else 0
    bound = 8 * B * D * 8 + hist + 64 * B * 8 + MB
    assert peak < bound, f"peak NumPy allocation {peak / MB:.1f} MB > {bound / MB:.1f} MB"
    assert np.isfinite(res.x).all() and res.x.shape == (B, D)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux only")
@pytest.mark.parametrize("opts", CASES, ids=["direct", "auto-adam-history", "gram"])
def test_peak_rss_is_O_Bd_plus_thread_scratch(big_batch, opts):
    X, y = big_batch
    prob = fastgd.LeastSquares(X, y)
    fastgd.minimize(fastgd.LeastSquares(X[:2], y[:2]), **opts)
    gc.collect()
    if not _reset_peak_rss():
        pytest.skip("cannot reset the peak RSS here")
    base = _status_kb("VmRSS")
    res = fastgd.minimize(prob, **opts)
    extra = _status_kb("VmHWM") - base
    threads = numba.get_num_threads()
    # per worker: the transposed problem (d, n) or Gram (d, d), and a few (n,)/(d,) vectors
    scratch = threads * 8 * (N * D + D * D + 4 * (N + D))
    bound = 8 * B * D * 8 + scratch + 16 * MB  # 16 MB: allocator arenas, page granularity
    assert extra < bound, f"peak RSS grew {extra / MB:.1f} MB > {bound / MB:.1f} MB"
    assert extra < X.nbytes / 4  # in particular: no copy of X
    assert np.isfinite(res.x).all()
