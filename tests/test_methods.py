"""Each method's steps match the torch.optim formulas, written out in NumPy float64."""
import numpy as np
import pytest

import fastgd
from reference import gd_run, logistic_loss_grad, lstsq_loss_grad


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("mode", ["direct", "gram"])
def test_lstsq_steps_match_formula(rng, method, steps, mode):
    B, n, d = 5, 30, 4
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    x0 = rng.standard_normal((B, d))
    lr = rng.uniform(0.01, 0.1, size=B)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.1), method=method, lr=lr, x0=x0,
                          max_iter=steps, gtol=0, momentum=0.8, betas=(0.85, 0.99), eps=1e-6,
                          mode=mode)
    assert (res.nit == steps).all()
    for b in range(B):
        ref = gd_run(lambda w: lstsq_loss_grad(X[b], y[b], w, 0.1)[1], x0[b], lr[b], steps,
                     method, momentum=0.8, betas=(0.85, 0.99), eps=1e-6)
        np.testing.assert_allclose(res.x[b], ref, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("method", ["gd", "momentum", "nesterov", "adam"])
def test_logistic_steps_match_formula_float32(rng, method):
    n, d = 50, 3
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.uniform(size=n) < 0.5).astype(np.float32)
    x0 = rng.standard_normal(d).astype(np.float32)
    res = fastgd.minimize(fastgd.Logistic(X, y), method=method, lr=0.1, x0=x0, max_iter=5,
                          gtol=0)
    ref = gd_run(lambda w: logistic_loss_grad(X, y, w)[1], x0, 0.1, 5, method)
    np.testing.assert_allclose(res.x, ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["lstsq", "logistic"])
@pytest.mark.parametrize("n", [40, 30000])
def test_loss_and_gradient_match_finite_differences(rng, dtype, kind, n):
    d = 5
    X = rng.standard_normal((n, d))
    if kind == "lstsq":
        y = rng.standard_normal(n)
        prob, ref = fastgd.LeastSquares, lstsq_loss_grad
    else:
        y = (rng.uniform(size=n) < 0.4).astype(float)
        prob, ref = fastgd.Logistic, logistic_loss_grad
    w = rng.standard_normal(d)
    p = prob(X.astype(dtype), y.astype(dtype), l2=0.2)
    # max_iter=0: fun and grad_norm are evaluated at x0; one gd step reveals the gradient
    r0 = fastgd.minimize(p, x0=w.astype(dtype), max_iter=0)
    lr = 0.1
    r1 = fastgd.minimize(p, x0=w.astype(dtype), lr=lr, max_iter=1, gtol=0)
    grad = (w.astype(dtype).astype(np.float64) - r1.x.astype(np.float64)) / lr
    h = 1e-6
    fd = np.array([(ref(X, y, w + h * e, 0.2)[0] - ref(X, y, w - h * e, 0.2)[0]) / (2 * h)
                   for e in np.eye(d)])
    tol = 1e-7 if dtype == np.float64 else 2e-2
    np.testing.assert_allclose(grad, fd, rtol=tol, atol=tol)
    assert r0.fun == pytest.approx(ref(X, y, w, 0.2)[0], rel=1e-12 if dtype == np.float64 else 1e-5)
    assert r0.grad_norm == pytest.approx(np.linalg.norm(fd), rel=1e-6 if dtype == np.float64 else 1e-4)
