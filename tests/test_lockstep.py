"""The lockstep shared-X driver (fastgd/cpu/lockstep.py): B problems over one X in DIRECT mode,
one pass over X per round for all of them.

Checked against the per-problem shared-X driver (fastgd/cpu/shared.py, config.SHARED_X_LOCKSTEP
off: statuses, nit, history equal, x to rounding) for every method, line search, stopping rule,
divergence, lr="auto", weights, intercepts, per-problem l2, a RowLoss and chunked (resumed)
solves; and against independent NumPy float64 loops (tests/reference.py).  config's
LOCKSTEP_MIN_BYTES is patched to 0 so that these small problems take the lockstep path, which a
wrapper around the driver confirms.
"""
import numpy as np
import pytest

import fastgd
from fastgd import Status, config
from fastgd.cpu import drivers

import reference as ref

B = 3


@pytest.fixture
def lockstep(monkeypatch):
    """Small X take the lockstep driver; returns a list that counts its calls."""
    monkeypatch.setattr(config, "LOCKSTEP_MIN_BYTES", 0)
    calls = []
    ns = drivers.builtin()
    inner = ns.solve_lockstep

    def counted(*args):
        calls.append(1)
        return inner(*args)
    monkeypatch.setattr(ns, "solve_lockstep", counted)
    return calls


def both(monkeypatch, make, method, **opts):
    """(lockstep result, per-problem result) of minimize(make(), method, **opts)."""
    monkeypatch.setattr(config, "SHARED_X_LOCKSTEP", True)
    new = fastgd.minimize(make(), method, mode="direct", **opts)
    monkeypatch.setattr(config, "SHARED_X_LOCKSTEP", False)
    old = fastgd.minimize(make(), method, mode="direct", **opts)
    monkeypatch.setattr(config, "SHARED_X_LOCKSTEP", True)
    return new, old


def assert_same(new, old, rtol=1e-10, atol=1e-13, history=True):
    np.testing.assert_array_equal(new.status, old.status)
    np.testing.assert_array_equal(new.nit, old.nit)
    np.testing.assert_allclose(new.x, old.x, rtol=rtol, atol=atol)
    np.testing.assert_allclose(new.fun, old.fun, rtol=rtol, atol=atol)
    if old.intercept is not None:
        np.testing.assert_allclose(new.intercept, old.intercept, rtol=rtol, atol=atol)
    if history and old.history is not None:
        np.testing.assert_allclose(new.history, old.history, rtol=rtol, atol=atol)


def data(rng, loss, n=700, d=9):
    X = rng.standard_normal((n, d)) * np.geomspace(1.0, 0.2, d)
    Z = rng.standard_normal((B, d)) @ X.T
    if loss == "logistic":
        return X, (Z + 0.5 * rng.standard_normal(Z.shape) > 0).astype(np.float64)
    return X, Z + 0.3 * rng.standard_normal(Z.shape)


CLASSES = {"lsq": fastgd.LeastSquares, "logistic": fastgd.Logistic}
METHODS = [("gd", {}), ("momentum", {}), ("nesterov", {}), ("nesterov", {"restart": True}),
           ("adam", {}), ("rmsprop", {}), ("adagrad", {}), ("bb", {}),
           ("gd", {"line_search": "armijo"}), ("momentum", {"line_search": "armijo"})]


@pytest.mark.parametrize("method,extra", METHODS)
@pytest.mark.parametrize("loss", ["lsq", "logistic"])
def test_every_method_equals_per_problem_driver(rng, monkeypatch, lockstep, loss, method, extra):
    X, Y = data(rng, loss)
    sw = rng.uniform(0.3, 2.0, (B, X.shape[0]))
    l2 = np.array([0.0, 0.03, 0.3])
    lr = {"adam": 0.02, "rmsprop": 0.01, "adagrad": 0.3}.get(method, "auto")

    def make():
        return CLASSES[loss](X, Y, l2=l2, fit_intercept=True, sample_weight=sw)
    # rmsprop and adagrad step by about lr sign(g) where g is tiny: near the optimum they
    # amplify the last bits of the gradient sums (summed in another order here), so they
    # are compared over their first iterations
    iters = 40 if method in ("rmsprop", "adagrad") else 150
    new, old = both(monkeypatch, make, method, lr=lr, max_iter=iters, gtol=1e-7, history=1,
                    **extra)
    assert lockstep
    assert_same(new, old)


@pytest.mark.parametrize("stop", [dict(gtol=1e-6), dict(gtol=0.0, rtol=1e-3),
                                  dict(gtol=0.0, xtol=1e-5), dict(gtol=0.0, ftol=1e-9),
                                  dict(gtol=0.0)])
def test_stopping_rules_equal(rng, monkeypatch, lockstep, stop):
    X, Y = data(rng, "lsq")
    sw = rng.uniform(0.3, 2.0, X.shape[0])  # shared weights (n,)

    def make():
        return fastgd.LeastSquares(X, Y, sample_weight=sw)
    new, old = both(monkeypatch, make, "gd", lr=np.array([0.05, 0.2, 0.6]), max_iter=400,
                    history=7, **stop)
    assert lockstep
    assert_same(new, old)
    if stop == dict(gtol=0.0):
        assert (new.status == Status.MAX_ITER).all() and (new.nit == 400).all()


def test_divergence_keeps_last_finite_iterate(rng, monkeypatch, lockstep):
    X, Y = data(rng, "lsq")

    def make():
        return fastgd.LeastSquares(X, Y)
    new, old = both(monkeypatch, make, "gd", lr=np.array([0.3, 50.0, 0.5]), max_iter=3000,
                    gtol=1e-9)
    assert_same(new, old)
    assert new.status[1] == Status.DIVERGED and np.isfinite(new.x[1]).all()
    assert new.success[[0, 2]].all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_auto_lr(rng, monkeypatch, lockstep, dtype):
    X, Y = data(rng, "logistic")
    Xd, Yd = X.astype(dtype), Y.astype(dtype)

    def make():
        return fastgd.Logistic(Xd, Yd, l2=np.array([0.0, 0.01, 0.1]), fit_intercept=True)
    new, old = both(monkeypatch, make, "nesterov", max_iter=120, gtol=0.0)
    assert lockstep and new.x.dtype == dtype
    np.testing.assert_array_equal(new.status, old.status)
    np.testing.assert_array_equal(new.nit, old.nit)
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(new.x, old.x, **tol)
    np.testing.assert_allclose(new.lr, old.lr, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_chunked_solve_resumes(rng, monkeypatch, lockstep):
    """A callback splits the solve into chunks (resumable state, ip[IP_STOP_AT]): the same as
    the per-problem driver, chunked the same way, and as one uninterrupted lockstep solve."""
    X, Y = data(rng, "logistic")
    seen = []

    def make():
        return fastgd.Logistic(X, Y, l2=0.01)
    opts = dict(lr="auto", line_search="armijo", max_iter=200, gtol=1e-9, history=1)
    new, old = both(monkeypatch, make, "gd", callback=lambda r: seen.append(r.nit.copy()),
                    **opts)
    assert len(seen) > 4
    assert_same(new, old)
    whole = fastgd.minimize(make(), "gd", mode="direct", **opts)
    assert_same(new, whole, rtol=1e-12, atol=1e-15)


def test_row_loss_takes_lockstep(rng, monkeypatch):
    from rowlosses import LogCosh
    monkeypatch.setattr(config, "LOCKSTEP_MIN_BYTES", 0)
    X, Y = data(rng, "lsq")

    def make():
        return LogCosh(X, Y, l2=np.array([0.0, 0.1, 0.5]), fit_intercept=True)
    assert hasattr(make().kernels(), "solve_lockstep")
    new, old = both(monkeypatch, make, "gd", lr="auto", line_search="armijo", max_iter=100,
                    gtol=1e-8)
    assert_same(new, old)


def test_against_numpy_reference_loops(rng, lockstep):
    """Independent float64 loops: plain GD with gtol (LeastSquares), Armijo with growth
    (Logistic) and bb (LeastSquares), one per target."""
    X, Y = data(rng, "lsq", n=400, d=6)
    lr = 0.5 / ref.lipschitz(X)
    res = fastgd.minimize(fastgd.LeastSquares(X, Y), "gd", lr=lr, max_iter=500, gtol=1e-6,
                          mode="direct")
    for q in range(B):
        w, nit, status = ref.gd_stopping(lambda v: ref.lstsq_loss_grad(X, Y[q], v),
                                         np.zeros(6), lr, 500, gtol=1e-6)
        assert res.nit[q] == nit and Status(res.status[q]).name == status
        np.testing.assert_allclose(res.x[q], w, rtol=1e-9, atol=1e-12)
    res = fastgd.minimize(fastgd.LeastSquares(X, Y), "bb", lr=lr, max_iter=40, gtol=0.0,
                          mode="direct")
    for q in range(B):
        w, nit, _ = ref.bb_run(lambda v: ref.lstsq_loss_grad(X, Y[q], v), np.zeros(6), lr, 40)
        np.testing.assert_allclose(res.x[q], w, rtol=1e-7, atol=1e-10)
    Xl, Yl = data(rng, "logistic", n=400, d=6)
    lr = 4.0 / ref.lipschitz(Xl, 0.25)
    res = fastgd.minimize(fastgd.Logistic(Xl, Yl), "gd", lr=lr, line_search="armijo",
                          max_iter=60, gtol=0.0, mode="direct")
    for q in range(B):
        w, nit, _ = ref.armijo_growth_run(lambda v: ref.logistic_loss_grad(Xl, Yl[q], v),
                                          np.zeros(6), lr, 60)
        np.testing.assert_allclose(res.x[q], w, rtol=1e-8, atol=1e-10)
    assert lockstep


def test_dispatch_rule(rng, monkeypatch):
    """plan.shared_lockstep: DIRECT, a row loss, no precondition, X past the cache limit."""
    from fastgd import plan as planmod
    from fastgd.cpu.backend import CpuBackend
    X, Y = data(rng, "lsq", n=200, d=4)

    def uses(problem, **opts):
        p = planmod.make_plan(problem, "cpu", 0, opts.get("mode", "direct"), 5, "none", 0,
                              None, None, False, 0.9, (0.9, 0.999), 1e-8, 0.0, 0.0, 0.0,
                              precondition=opts.get("precondition"))
        return CpuBackend(p).lockstep
    monkeypatch.setattr(config, "LOCKSTEP_MIN_BYTES", 0)
    assert uses(fastgd.LeastSquares(X, Y))
    assert not uses(fastgd.LeastSquares(X, Y), mode="gram")
    assert not uses(fastgd.Softmax(X, (Y > 0).astype(np.float64), 2))
    monkeypatch.setattr(config, "SHARED_X_LOCKSTEP", False)
    assert not uses(fastgd.LeastSquares(X, Y))
    monkeypatch.setattr(config, "SHARED_X_LOCKSTEP", True)
    monkeypatch.setattr(config, "LOCKSTEP_MIN_BYTES", 10 * X.nbytes)
    assert not uses(fastgd.LeastSquares(X, Y))
