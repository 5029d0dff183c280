"""One large problem's Gram form through BLAS (fastgd/cpu/gram.py) against NumPy float64
on the explicitly augmented, weighted design, and minimize(mode="gram") on it."""
import numpy as np
import pytest

import fastgd
from fastgd import config
from fastgd.cpu.gram import gram_blas


def reference(X, y, s, inter):
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    n = X.shape[0]
    D = np.hstack([X64, np.ones((n, 1))]) if inter else X64
    w = np.ones(n) if s.size == 0 else s.astype(np.float64)
    return D.T @ (w[:, None] * D) / n, D.T @ (w * y64) / n, (w * y64) @ y64 / (2 * n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inter", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_bytes", [None, 8 * 7 * 100])  # whole X / 100-row blocks
def test_gram_blas_matches_numpy(monkeypatch, dtype, inter, weighted, block_bytes):
    monkeypatch.setattr(config, "GRAM_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(3)
    n, d = 1037, 7
    X = (rng.standard_normal((n, d)) * np.geomspace(1e-2, 1e2, d)).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    s = rng.uniform(0, 2, n).astype(dtype) if weighted else np.empty(0, dtype)
    if weighted:
        s = (s / s.sum(dtype=np.float64) * n).astype(dtype)
    A, b, c = gram_blas(X, y, s, inter)
    Ar, br, cr = reference(X, y, s, inter)
    assert A.dtype == np.float64 and A.shape == Ar.shape and b.shape == br.shape
    np.testing.assert_allclose(A, Ar, rtol=1e-12, atol=1e-12 * np.abs(Ar).max())
    np.testing.assert_allclose(b, br, rtol=1e-12, atol=1e-12 * np.abs(br).max())
    assert c == pytest.approx(cr, rel=1e-12)
    np.testing.assert_array_equal(A, A.T)


@pytest.mark.parametrize("inter", [False, True])
def test_large_gram_mode_reaches_lstsq(monkeypatch, inter):
    monkeypatch.setattr(config, "LARGE_PROBLEM_ELEMENTS", 1)
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 0)  # the large-problem driver
    monkeypatch.setattr(config, "GRAM_BLOCK_BYTES", 8 * 6 * 333)
    rng = np.random.default_rng(4)
    n, d = 5000, 6
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X @ rng.standard_normal(d) + 3.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)
    s = rng.uniform(0.5, 1.5, n)
    prob = fastgd.LeastSquares(X, y, fit_intercept=inter, sample_weight=s.astype(np.float32))
    res = fastgd.minimize(prob, mode="gram", method="nesterov", max_iter=5000, gtol=1e-5)
    assert res.success
    D = np.hstack([X, np.ones((n, 1))]) if inter else X.astype(np.float64)
    sw = np.sqrt(s)
    ref = np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)[0]
    got = np.append(res.x, res.intercept) if inter else res.x
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-3)
