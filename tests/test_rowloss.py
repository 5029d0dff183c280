"""User-defined row losses (fastgd.RowLoss) against scipy L-BFGS-B in float64."""
import fractions
import math

import numba
import numpy as np
import pytest
from scipy.optimize import minimize as sp_minimize

import fastgd
from rowlosses import LogCosh, dlogcosh, logcosh  # plain Python functions


@numba.njit
def pseudo_huber(z, y):
    r = z - y
    return math.sqrt(1.0 + r * r) - 1.0


@numba.njit
def dpseudo_huber(z, y):
    r = z - y
    return r / math.sqrt(1.0 + r * r)


PseudoHuber = fastgd.RowLoss(pseudo_huber, dpseudo_huber)        # njit, no curvature bound


def ref_logcosh(X, y, w, l2):
    r = X @ w - y
    n = len(y)
    f = (np.logaddexp(r, -r) - np.log(2)).mean() + l2 / 2 * w @ w
    return f, X.T @ np.tanh(r) / n + l2 * w


def ref_pseudo_huber(X, y, w, l2):
    r = X @ w - y
    n = len(y)
    return (np.sqrt(1 + r * r) - 1).mean() + l2 / 2 * w @ w, X.T @ (r / np.sqrt(1 + r * r)) / n + l2 * w


def lbfgs(fun, d):
    return sp_minimize(fun, np.zeros(d), jac=True, method="L-BFGS-B",
                       options=dict(gtol=1e-12, ftol=1e-15, maxiter=20000)).x


def data(rng, B, n, d, dtype):
    X = rng.standard_normal((B, n, d))
    y = np.einsum("bnd,bd->bn", X, rng.standard_normal((B, d))) + rng.standard_t(2, (B, n))
    return X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6),
                                       pytest.param(np.float32, 2e-3, marks=pytest.mark.slow)])
def test_logcosh_batch_matches_scipy(rng, dtype, tol):
    B, n, d, l2 = 5, 70, 3, 0.01
    X, y = data(rng, B, n, d, dtype)
    res = fastgd.minimize(LogCosh(X, y, l2=l2), lr="auto",
                          gtol=1e-9 if dtype == np.float64 else 1e-5, max_iter=50000)
    assert res.x.shape == (B, d) and res.x.dtype == dtype
    assert res.success.all(), res.message
    for b in range(B):
        X64, y64 = X[b].astype(np.float64), y[b].astype(np.float64)
        ref = lbfgs(lambda w: ref_logcosh(X64, y64, w, l2), d)
        np.testing.assert_allclose(res.x[b], ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(res.fun[b], ref_logcosh(X64, y64, ref, l2)[0], rtol=tol)


@pytest.mark.parametrize("method,opts", [("gd", dict(line_search="armijo", lr=4.0)),
                                         ("nesterov", dict(lr=0.5, momentum=0.5)),
                                         ("adam", dict(lr=0.05))])
def test_pseudo_huber_methods(rng, method, opts):
    X, y = data(rng, 3, 60, 3, np.float64)
    res = fastgd.minimize(PseudoHuber(X, y, l2=0.02), method, gtol=1e-9, max_iter=100000,
                          **opts)
    assert res.success.all(), res.message
    for b in range(3):
        ref = lbfgs(lambda w: ref_pseudo_huber(X[b], y[b], w, 0.02), 3)
        np.testing.assert_allclose(res.x[b], ref, atol=1e-6)


def test_stopping_rules_and_fixed_steps(rng):
    X, y = data(rng, 2, 40, 3, np.float64)
    lr = np.array([0.3, 0.7])
    res = fastgd.minimize(LogCosh(X, y), lr=lr, max_iter=9, gtol=0.0, history=3)
    assert (res.nit == 9).all() and res.history.shape == (4, 2)
    for b in range(2):   # 9 GD steps of the reference gradient
        w = np.zeros(3)
        hist = [ref_logcosh(X[b], y[b], w, 0.0)[0]]
        for _ in range(9):
            w = w - lr[b] * ref_logcosh(X[b], y[b], w, 0.0)[1]
            hist.append(ref_logcosh(X[b], y[b], w, 0.0)[0])
        np.testing.assert_allclose(res.x[b], w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(res.history[:, b], hist[::3], rtol=1e-12)
    for kw, status in [(dict(xtol=1e-6), fastgd.Status.XTOL),
                       (dict(ftol=1e-10), fastgd.Status.FTOL)]:
        r = fastgd.minimize(LogCosh(X, y), gtol=0.0, max_iter=100000, **kw)
        assert (r.status == status).all() and (r.nit < 100000).all()


@pytest.mark.slow  # the RowLoss drivers of one large problem: compiles of their own
def test_large_single_problem(rng, single_driver):
    X, y = data(rng, 1, 16384, 4, np.float64)   # X.size >= 2**16: parallel row blocks
    res = fastgd.minimize(LogCosh(X[0], y[0]), gtol=1e-9, max_iter=20000)
    assert res.success
    np.testing.assert_allclose(res.x, lbfgs(lambda w: ref_logcosh(X[0], y[0], w, 0.0), 4),
                               atol=1e-6)


def test_compiled_once_per_loss_and_dtype(rng):
    X, y = data(rng, 1, 20, 2, np.float64)
    a, b = LogCosh(X[0], y[0]), LogCosh(X[0] + 1, y[0])
    assert a.kernels() is b.kernels()
    assert fastgd.RowLoss(logcosh, dlogcosh, lipschitz=2.0)(X[0], y[0]).kernels() is a.kernels()
    assert LogCosh(X[0].astype(np.float32), y[0].astype(np.float32)).kernels() is not a.kernels()


def test_auto_lr_needs_lipschitz(rng):
    X, y = data(rng, 1, 20, 2, np.float64)
    with pytest.raises(ValueError, match="lipschitz"):
        fastgd.minimize(PseudoHuber(X[0], y[0]))
    with pytest.raises(ValueError, match="lipschitz"):
        fastgd.RowLoss(logcosh, dlogcosh, lipschitz=0.0)


def test_phi_that_does_not_compile():
    def bad_phi(z, y):
        return fractions.Fraction(z) - y     # a Python class Numba cannot type

    def tuple_phi(z, y):
        return z, y

    with pytest.raises(TypeError, match=r"phi \(bad_phi\) could not be compiled by Numba"):
        fastgd.RowLoss(bad_phi, dlogcosh)
    with pytest.raises(TypeError, match=r"dphi \(bad_phi\) could not be compiled"):
        fastgd.RowLoss(logcosh, bad_phi)
    with pytest.raises(TypeError, match="must return a real scalar"):
        fastgd.RowLoss(tuple_phi, dlogcosh)
    with pytest.raises(TypeError, match="phi must be a Python function"):
        fastgd.RowLoss(1.0, dlogcosh)


def test_check_grad_catches_inconsistent_dphi(rng):
    X, y = data(rng, 2, 30, 3, np.float64)
    assert fastgd.check_grad(LogCosh(X, y, l2=0.1)) < 1e-7
    assert fastgd.check_grad(PseudoHuber(X[0], y[0]), np.array([0.5, -1.0, 2.0])) < 1e-7

    def wrong(z, y):
        return 0.5 * math.tanh(z - y)     # off by a factor 2
    Wrong = fastgd.RowLoss(logcosh, wrong, lipschitz=1.0)
    assert fastgd.check_grad(Wrong(X, y)) > 0.1
    with pytest.raises(ValueError, match="x"):
        fastgd.check_grad(LogCosh(X, y), np.zeros(3))


@numba.njit
def _guarded_tanh(r):
    if r > 50.0:
        raise ValueError("too far")
    return math.tanh(r)


def test_phi_with_a_raise_statement_is_refused():
    """An exception cannot leave Numba's parallel regions (the solve went on with a wrong
    gradient, or stopped with status RUNNING): a raise in phi/dphi, or in an njit
    function they call, is a TypeError naming the function."""
    def direct(z, y):
        if z > 1e3:
            raise ValueError("too big")
        return math.tanh(z - y)

    def nested(z, y):
        return _guarded_tanh(z - y)

    with pytest.raises(TypeError, match=r"dphi \(direct\) has a raise statement"):
        fastgd.RowLoss(logcosh, direct)
    with pytest.raises(TypeError, match=r"dphi \(nested\) has a raise statement"):
        fastgd.RowLoss(logcosh, nested)
    def jitted(z, y):
        return _guarded_tanh(z - y)

    with pytest.raises(TypeError, match=r"phi \(jitted\) has a raise statement"):
        fastgd.RowLoss(numba.njit(jitted), dlogcosh)   # an njit function is checked too


# a batch chunk; parallel row blocks (slow: it compiles a RowLoss large driver of its own,
# ~35 s; test_large_single_problem[rows] covers that driver in the default run)
@pytest.mark.parametrize("n", [40, pytest.param(16384, marks=pytest.mark.slow)])
def test_an_exception_at_run_time_is_an_undefined_point(rng, n, row_blocks):
    """Numba's own code can raise at run time (0.0 ** -1 is ZeroDivisionError, even with
    error_model='numpy'); that point counts as non-finite: DIVERGED at x0, not a wrong
    answer or a RUNNING status."""
    def dphi(z, y):
        return math.tanh(z - y) + 1e-300 * z ** -1   # raises at z == 0, i.e. at x0 = 0

    Singular = fastgd.RowLoss(logcosh, dphi, lipschitz=1.0)
    X, y = data(rng, 1, n, 3, np.float64)
    res = fastgd.minimize(Singular(X[0], y[0]), lr=0.5, max_iter=50)
    assert res.status == fastgd.Status.DIVERGED and res.nit == 0
    np.testing.assert_array_equal(res.x, np.zeros(3))
    res = fastgd.minimize(Singular(X[0], y[0]), lr=0.5, max_iter=50, x0=np.full(3, 0.1))
    assert res.status != fastgd.Status.DIVERGED  # z == 0 never happens there
