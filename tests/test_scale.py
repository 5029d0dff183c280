"""Scale: one problem with more than 2**31 elements in X gives the right loss and gradient,
proving int64 indexing end to end (validation, row-block drivers, Gram build).

The big test needs ~10 GB and runs only with ``-m slow`` (see docs/reliability.md);
the same check on a small problem runs by default, so the harness itself is tested.
Reference: NumPy float64, computed in chunks of rows.
"""
from pathlib import Path

import numpy as np
import pytest

import fastgd

CHUNK_ROWS = 1 << 21


def fill(rng, a):
    """Uniform(-0.5, 0.5) float32 data written in place, chunk by chunk (no big temporaries)."""
    flat = a.reshape(-1)
    step = CHUNK_ROWS * 8
    for lo in range(0, flat.size, step):
        part = flat[lo:lo + step]
        rng.random(out=part, dtype=np.float32)
        part -= np.float32(0.5)


def make_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty((n, d), np.float32)
    y = np.empty(n, np.float32)
    fill(rng, X)
    fill(rng, y)
    # the last row weighs as much as all the others together: an index that wrapped at
    # 2**31 (or any lost row block at the end) changes the gradient by O(1)
    X[-1] = np.arange(1, d + 1, dtype=np.float32)
    y[-1] = np.float32(-n / 4)
    return X, y


def reference(X, y, w):
    """Loss and gradient of least squares in float64, chunked over rows."""
    n, d = X.shape
    w = w.astype(np.float64)
    f = 0.0
    g = np.zeros(d)
    for lo in range(0, n, CHUNK_ROWS):
        Xc = X[lo:lo + CHUNK_ROWS].astype(np.float64)
        r = Xc @ w - y[lo:lo + CHUNK_ROWS]
        f += r @ r
        g += Xc.T @ r
    return f / (2 * n), g / n


def check(n, d, rtol):
    X, y = make_data(n, d)
    assert X.size > 0
    w = (np.linspace(-1, 1, d) * 0.3).astype(np.float32)
    prob = fastgd.LeastSquares(X, y)
    f_ref, g_ref = reference(X, y, w)
    assert np.linalg.norm(g_ref) > 0.1  # the last row's term is really there

    # loss and gradient norm at x0: zero iterations, row-block driver
    # (a fixed lr: lr="auto" would first run 50 power iterations over X)
    res = fastgd.minimize(prob, x0=w, lr=1.0, max_iter=0, gtol=0.0, mode="direct")
    np.testing.assert_allclose(res.fun, f_ref, rtol=rtol)
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(g_ref), rtol=rtol)

    # the whole gradient vector from one step of size 1: x1 = x0 - g(x0)
    for mode in ("direct", "gram"):
        res = fastgd.minimize(prob, x0=w, lr=1.0, max_iter=1, gtol=0.0, mode=mode)
        assert res.nit == 1, res.message
        g = w.astype(np.float64) - res.x.astype(np.float64)
        # subtracting in float32 loses at most eps32 * max(|w|, |x1|) per component
        atol = 2 * np.finfo(np.float32).eps * np.abs(np.r_[w, res.x]).max()
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=atol, err_msg=mode)


def test_row_block_and_gram_drivers_small(row_blocks):
    """The same check at 2**20 + 8 elements (>= the row-block threshold)."""
    check((1 << 17) + 1, 8, rtol=1e-4)


def mem_available():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.mark.slow
def test_more_than_2_31_elements():
    """2**31 + 8 float32 elements (8 GB) in one X: loss and gradient match NumPy."""
    if mem_available() < 12 << 30:
        pytest.skip(f"needs 12 GB free memory, {mem_available() / 2**30:.1f} GB available")
    n, d = (1 << 28) + 1, 8
    assert n * d > 2**31
    check(n, d, rtol=1e-4)
