"""Smallest peer comparison: fastgd.minimize vs a NumPy batched GD loop (pytest-benchmark)."""
import numpy as np
import pytest

import fastgd

B, N, D, ITERS = 2000, 64, 8, 200


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((B, N, D))
    y = rng.standard_normal((B, N))
    lam = np.linalg.eigvalsh(np.einsum("bnd,bne->bde", X, X) / N)[:, -1]
    return X, y, 1.0 / lam


def numpy_gd(X, y, lr, iters):
    w = np.zeros(X.shape[::2])
    Xt = X.transpose(0, 2, 1)
    for _ in range(iters):
        r = np.matmul(X, w[:, :, None])[..., 0] - y
        w -= lr[:, None] * np.matmul(Xt, r[:, :, None])[..., 0] / X.shape[1]
    return w


@pytest.mark.parametrize("contender", ["numpy", "fastgd-direct", "fastgd-auto"])
def test_batched_lstsq_gd(benchmark, batch, contender):
    X, y, lr = batch
    prob = fastgd.LeastSquares(X, y)
    if contender == "numpy":
        w = benchmark(numpy_gd, X, y, lr, ITERS)
    else:
        mode = contender.split("-")[1]
        fastgd.minimize(prob, lr=lr, gtol=0, max_iter=ITERS, mode=mode)  # compile outside timing
        w = benchmark(lambda: fastgd.minimize(prob, lr=lr, gtol=0, max_iter=ITERS, mode=mode).x)
    ref = numpy_gd(X[:5], y[:5], lr[:5], ITERS)
    np.testing.assert_allclose(w[:5], ref, rtol=1e-9, atol=1e-12)
