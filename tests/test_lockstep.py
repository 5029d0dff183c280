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


@pytest.mark.slow  # ~100 s on 2 cores: a user's RowLoss compiles the lockstep driver anew
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


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def row_pass_reference(loss, X, Y, S, W, d):
    """NumPy float64 sums of one pass: (X^T s phi', sum s phi) per target, with the
    intercept W[:, d] (when W has m = d + 1 columns) and sample weights S (B, n)."""
    X, Y, S, W = (np.asarray(a, np.float64) for a in (X, Y, S, W))
    Z = W[:, :d] @ X.T + (W[:, d:d + 1] if W.shape[1] > d else 0.0)
    if loss == "lsq":
        phi, dphi = 0.5 * (Z - Y) ** 2, Z - Y
    else:
        phi, dphi = np.logaddexp(0.0, Z) - Y * Z, sigmoid(Z) - Y
    G = (S * dphi) @ X
    if W.shape[1] > d:
        G = np.hstack([G, (S * dphi).sum(1, keepdims=True)])
    return G, (S * phi).sum(1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d,inter", [(13, True), (5, False), (16, False)])
@pytest.mark.parametrize("loss", ["lsq", "logistic"])
def test_register_blocked_pass_against_numpy(rng, dtype, d, inter, loss):
    """lockstep_pass alone (pairs of targets in logits_pair / gradient_pair, an odd last one
    by itself; d % 8 features past the 8-feature blocks; several tiles per row block, the last
    one partial) against NumPy float64 sums, scratch and outputs poisoned with NaN first; an
    inactive problem's outputs stay untouched."""
    from fastgd import contract
    from fastgd.cpu import lockstep as ls
    nblocks = 8
    rows = ls.tile_rows(d, np.dtype(dtype).itemsize)  # from this machine's L1/L2 sizes
    n, B = max(7001, nblocks * (2 * rows + 1) + 7), 6
    X = rng.standard_normal((n, d)).astype(dtype)
    m = d + 1 if inter else d
    W = (0.3 * rng.standard_normal((B, m))).astype(dtype)
    Y = rng.standard_normal((B, n))
    if loss == "logistic":
        Y = (Y > 0).astype(np.float64)
    Y = Y.astype(dtype)
    S = rng.uniform(0.2, 2.0, (B, n)).astype(dtype)
    code = contract.LSQ if loss == "lsq" else contract.LOGISTIC
    hp = np.zeros(contract.HP_SIZE, dtype)
    hp[contract.HP_ONE] = 1.0
    assert (n // nblocks) > rows  # several tiles per block, the last one partial
    act = np.array([4, 0, 2, 5, 1], np.int64)  # problem 3 inactive; 5 active: 2 pairs + 1
    kernels = drivers.builtin().lock
    for S_used in (S, np.ones((1, 0), dtype)):
        tiles = np.full((nblocks, d, rows), np.nan, dtype)
        zs = np.full((nblocks, 2, rows), np.nan, dtype)
        gts = np.full((nblocks, 2, m), np.nan, dtype)
        part_g = np.full((B, nblocks, m), np.nan, dtype)
        part_f = np.full((B, nblocks), np.nan)
        kernels.lockstep_pass(code, X, Y, S_used, W, act, act.size, tiles, zs, gts, part_g,
                              part_f, hp)
        G, f = row_pass_reference(loss, X, Y, S if S_used.size else np.ones_like(S), W, d)
        assert np.isnan(part_g[3]).all() and np.isnan(part_f[3]).all()
        tol = dict(rtol=1e-10, atol=1e-9) if dtype == np.float64 else dict(rtol=2e-3, atol=0.05)
        for q in act:
            np.testing.assert_allclose(part_g[q].sum(0), G[q], **tol)
            np.testing.assert_allclose(part_f[q].sum(), f[q], rtol=1e-10 if dtype == np.float64
                                       else 1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_five_targets_gd_against_numpy(rng, monkeypatch, lockstep, dtype):
    """B = 5 targets (2 pairs + 1), odd d, n not a multiple of the tiles or blocks, with an
    intercept, per-problem weights and l2: 25 plain gd steps equal independent float64 loops
    of the written objective sum_i s_i phi / sum_i s_i + l2/2 |w|^2 (intercept unpenalised)."""
    n, d, Bq, lr, iters = 7001, 11, 5, 0.3, 25
    X = rng.standard_normal((n, d)) * np.geomspace(1.0, 0.3, d)
    Y = rng.standard_normal((Bq, d)) @ X.T + 0.5 + 0.3 * rng.standard_normal((Bq, n))
    S = rng.uniform(0.3, 2.0, (Bq, n))
    l2 = np.linspace(0.0, 0.2, Bq)
    res = fastgd.minimize(fastgd.LeastSquares(X.astype(dtype), Y.astype(dtype), l2=l2,
                                              fit_intercept=True, sample_weight=S.astype(dtype)),
                          "gd", lr=lr, max_iter=iters, gtol=0.0, mode="direct")
    assert lockstep and res.x.dtype == dtype
    for q in range(Bq):
        w, b = np.zeros(d), 0.0
        s = S[q] / S[q].sum()
        for _ in range(iters):
            r = X @ w + b - Y[q]
            w, b = w - lr * (X.T @ (s * r) + l2[q] * w), b - lr * (s @ r)
        tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(res.x[q], w, **tol)
        np.testing.assert_allclose(res.intercept[q], b, **tol)
