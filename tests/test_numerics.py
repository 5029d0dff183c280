"""Divergence and numerics: one batch mixing well-posed, ill-conditioned (cond 1e10),
rank-deficient and diverging problems.  Every member gets the right status, x is finite
everywhere, and every member's result is bit-identical to its solo run (batch members
must not influence each other).  References: NumPy/SciPy float64."""
import numpy as np
import pytest

import fastgd
from fastgd import Status

import reference as ref

N, D = 40, 6


def with_singular_values(rng, s):
    """X (N, D) = U diag(s) V^T with random orthonormal U, V."""
    U, _ = np.linalg.qr(rng.standard_normal((N, D)))
    V, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return (U * s) @ V.T


def mixed_batch(rng, dtype):
    kinds, Xs, ys, lrs = [], [], [], []

    def add(kind, X, y, lr_factor):
        X = X.astype(dtype)
        y = y.astype(dtype)
        kinds.append(kind)
        Xs.append(X)
        ys.append(y)
        lrs.append(lr_factor / ref.lipschitz(X))

    for _ in range(3):
        X = rng.standard_normal((N, D))
        add("well", X, X @ rng.standard_normal(D) + 0.1 * rng.standard_normal(N), 1.0)
    # cond(X^T X) = 1e10: singular values of X from 1 down to 1e-5
    X = with_singular_values(rng, np.sqrt(N) * np.logspace(0, -5, D))
    add("ill", X, rng.standard_normal(N), 1.0)
    # rank D-2: two columns repeat others; y has a part outside the range of X
    X = rng.standard_normal((N, D))
    X[:, -2:] = X[:, :2] * np.array([2.0, -0.5])
    add("rankdef", X, rng.standard_normal(N), 1.0)
    # steps 1e3 x the stability limit 2/L
    X = rng.standard_normal((N, D))
    add("diverge", X, rng.standard_normal(N), 1e3)
    add("diverge", rng.standard_normal((N, D)) * 1e3, rng.standard_normal(N), 1e6)
    order = rng.permutation(len(kinds))  # interleave kinds across the batch
    return ([kinds[i] for i in order], np.stack([Xs[i] for i in order]),
            np.stack([ys[i] for i in order]), np.array([lrs[i] for i in order]))


@pytest.mark.parametrize("dtype,gtol", [(np.float64, 1e-9), (np.float32, 1e-4)])
@pytest.mark.parametrize("method", ["gd", "nesterov"])
def test_mixed_batch_statuses_and_independence(rng, dtype, gtol, method):
    kinds, X, y, lr = mixed_batch(rng, dtype)
    max_iter = 3000
    x0 = np.full((len(kinds), D), 0.25, dtype)
    opts = dict(method=method, lr=lr, max_iter=max_iter, gtol=gtol, mode="direct")
    res = fastgd.minimize(fastgd.LeastSquares(X, y), x0=x0, **opts)
    assert np.isfinite(res.x).all()
    assert np.all(x0 == 0.25)
    for k, kind in enumerate(kinds):
        st = Status(int(res.status[k]))
        f0 = ref.lstsq_loss_grad(X[k], y[k], x0[k])[0]
        f, g = ref.lstsq_loss_grad(X[k], y[k], res.x[k])
        if kind == "diverge":
            assert st is Status.DIVERGED, (k, res.message[k])
            assert res.nit[k] < 50
        elif kind == "ill":
            # the slow directions (eigenvalue 1e-10 L) cannot converge in 3000 steps;
            # the loss still decreases monotonically and nothing blows up
            assert st is Status.MAX_ITER and res.nit[k] == max_iter, res.message[k]
            assert f < f0
        else:
            assert st is Status.GTOL, (k, kind, res.message[k])
            # converged to a true minimiser: the min-norm least-squares solution for the
            # rank-deficient problem, reached from x0 plus its null-space component
            xs = np.linalg.lstsq(X[k].astype(np.float64), y[k].astype(np.float64), rcond=None)[0]
            P = np.linalg.pinv(X[k].astype(np.float64)) @ X[k].astype(np.float64)
            expect = xs + (np.eye(D) - P) @ x0[k].astype(np.float64)
            tol = 1e-6 if dtype == np.float64 else 2e-2
            np.testing.assert_allclose(res.x[k], expect, rtol=tol, atol=tol)
        # solo: the same problem alone, as a single problem and as a batch of one
        solo = fastgd.minimize(fastgd.LeastSquares(X[k].copy(), y[k].copy()), x0=x0[k].copy(),
                               **{**opts, "lr": float(lr[k])})
        assert np.array_equal(solo.x, res.x[k]), f"batch member {k} ({kind}) differs from solo"
        assert (int(solo.status), solo.nit) == (int(res.status[k]), int(res.nit[k]))
        assert solo.fun == res.fun[k]


def test_diverged_x_is_last_finite_iterate(rng):
    """DIVERGED returns iterate nit (finite), reproducible by a run of exactly nit steps."""
    X = rng.standard_normal((2, N, D)) * np.array([1.0, 1e100])[:, None, None]
    y = rng.standard_normal((2, N))
    lr = np.array([1e3 / ref.lipschitz(X[0]), 10.0 / ref.lipschitz(X[1])])
    p = fastgd.LeastSquares(X, y)
    res = fastgd.minimize(p, lr=lr, max_iter=10_000, gtol=0.0, mode="direct")
    assert (res.status == Status.DIVERGED).all()
    assert np.isfinite(res.x).all() and np.isfinite(res.fun).all()
    for k in range(2):
        again = fastgd.minimize(fastgd.LeastSquares(X[k].copy(), y[k].copy()), lr=float(lr[k]),
                                max_iter=int(res.nit[k]), gtol=0.0, mode="direct")
        # at max_iter a loss still far above its start is DIVERGED too (decisions.py), so
        # the rerun stops either way; it must stop at the same iterate
        assert again.status in (Status.MAX_ITER, Status.DIVERGED) and again.nit == res.nit[k]
        assert np.array_equal(again.x, res.x[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_separable_never_overflows(rng, dtype):
    """Separable data with huge margins: the loss goes to 0 without overflow or NaN."""
    X = rng.standard_normal((N, D))
    w_true = rng.standard_normal(D)
    y = (X @ w_true > 0).astype(dtype)
    X = (X * 1e3).astype(dtype)
    res = fastgd.minimize(fastgd.Logistic(X, y), lr=10.0, max_iter=500, gtol=0.0)
    assert res.status in (Status.MAX_ITER, Status.DIVERGED)
    assert np.isfinite(res.x).all() and np.isfinite(res.fun) and res.fun >= 0
    f, _ = ref.logistic_loss_grad(X, y, res.x)
    assert f < ref.logistic_loss_grad(X, y, np.zeros(D))[0]
    np.testing.assert_allclose(res.fun, f, rtol=1e-3 if dtype == np.float32 else 1e-10,
                               atol=1e-30)
