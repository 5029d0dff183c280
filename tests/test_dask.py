"""fastgd.dask on a real 2-process distributed.LocalCluster.

References are independent: numpy.linalg.lstsq, and fastgd.minimize on one machine with the
same options (same iterations -> same x to rounding; the in-process kernels are checked
against NumPy float64 references elsewhere).
"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fastgd  # noqa: E402
import fastgd.dask as fdask  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client():
    # workers import this checkout's fastgd and share the session's kernel cache
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in os.environ.get(
               "PYTHONPATH", "").split(os.pathsep) if p]),
           "NUMBA_CACHE_DIR": os.environ["NUMBA_CACHE_DIR"],
           "NUMBA_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, env=env) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _data(rng, n=1200, d=6, dtype=np.float64, logistic=False):
    X = rng.standard_normal((n, d)) / np.sqrt(d) + 0.3
    w = rng.standard_normal(d)
    if logistic:
        y = (rng.random(n) < 1 / (1 + np.exp(-3 * X @ w))).astype(float)
    else:
        y = X @ w + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def _dask(X, y, rows=300):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)


@pytest.mark.parametrize("method,lr,opts", [
    ("gd", "auto", {}), ("momentum", "auto", {}), ("nesterov", 0.3, {}), ("adam", 0.05, {}),
    ("rmsprop", 0.01, {}), ("adagrad", 0.1, {"eps": 1e-6}), ("bb", 0.5, {}),
    ("nesterov", 1.0, {"restart": True, "momentum": 0.95}), ("rmsprop", 0.01, {"alpha": 0.9})])
def test_rows_same_iterates_as_one_machine_every_method(client, rng, method, lr, opts):
    X, y = _data(rng)
    Xd, yd = _dask(X, y)
    # bb is at the minimum within ~10 steps; after that its steps s.s / s.y are quotients of
    # rounding noise, different for every summation order
    steps = 8 if method == "bb" else 40
    res = fdask.minimize(Xd, yd, "lstsq", method, lr=lr, max_iter=steps, gtol=0, l2=0.01,
                         client=client, **opts)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.01), method, lr=lr, max_iter=steps,
                          gtol=0, **opts)
    assert isinstance(res.x, np.ndarray) and res.x.dtype == np.float64
    assert res.nit == ref.nit == steps and res.status == fastgd.Status.MAX_ITER
    np.testing.assert_allclose(res.lr, ref.lr, rtol=1e-12)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.fun, ref.fun, rtol=1e-12)
    np.testing.assert_allclose(res.grad_norm, ref.grad_norm, rtol=1e-8)


def test_rows_logistic_float32_uneven_chunks(client, rng):
    X, y = _data(rng, n=1000, dtype=np.float32, logistic=True)
    Xd = da.from_array(X, chunks=((123, 400, 277, 200), (3, 3)))  # column chunks are merged
    yd = da.from_array(y, chunks=250)                            # rechunked to match X
    res = fdask.minimize(Xd, yd, "logistic", "momentum", max_iter=60, gtol=0, l2=0.05)
    ref = fastgd.minimize(fastgd.Logistic(X, y, l2=0.05), "momentum", max_iter=60, gtol=0)
    assert res.x.dtype == np.float32 and res.nit == 60
    np.testing.assert_allclose(res.lr, ref.lr, rtol=1e-5)
    np.testing.assert_allclose(res.x, ref.x, rtol=2e-4, atol=2e-5)


def test_rows_converges_to_lstsq(client, rng):
    X, y = _data(rng, n=900, d=4)
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    res = fdask.minimize(*_dask(X, y), method="nesterov", lr="auto", max_iter=3000, gtol=1e-9)
    assert res.success and res.status == fastgd.Status.GTOL and res.grad_norm <= 1e-9
    assert "gtol" in res.message
    np.testing.assert_allclose(res.x, w_ls, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("opts,status", [(dict(xtol=1e-4), fastgd.Status.XTOL),
                                         (dict(ftol=1e-6), fastgd.Status.FTOL),
                                         (dict(lr=50.0), fastgd.Status.DIVERGED)])
def test_rows_stopping_rules_as_one_machine(client, rng, opts, status):
    X, y = _data(rng, n=600)
    opts = dict(dict(lr=0.5, gtol=0.0, max_iter=2000), **opts)
    res = fdask.minimize(*_dask(X, y, rows=200), **opts)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), **opts)
    assert res.status == ref.status == status
    assert res.nit == ref.nit and res.success == ref.success
    assert np.isfinite(res.x).all()
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-9, atol=1e-12)


def test_rows_decisions_at_the_edges_as_one_machine(client, rng):
    """The row loop takes the decisions of every driver: a trial point with a finite loss
    and a non-finite gradient (float32; see tests/gpu_cases.py) is rejected at nit 0, an
    overflowing iterate diverges with the last finite x, GTOL at the start stops at 0."""
    X = np.full((10_000, 1), 1e16, np.float32)
    y = np.full(10_000, 1e16, np.float32)
    res = fdask.minimize(*_dask(X, y, rows=5_000), lr=1e-29, max_iter=5, gtol=0.0)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), lr=1e-29, max_iter=5, gtol=0.0,
                          mode="direct")
    assert res.status == ref.status == fastgd.Status.DIVERGED and res.nit == ref.nit == 0
    np.testing.assert_array_equal(res.x, np.zeros(1, np.float32))
    X, y = _data(rng, n=400)
    res = fdask.minimize(*_dask(X, y, rows=200), lr=1e300, max_iter=5, gtol=0.0)
    assert res.status == fastgd.Status.DIVERGED and res.nit == 0 and (res.x == 0).all()
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    res = fdask.minimize(*_dask(X, y, rows=200), x0=w_ls, lr=0.1, gtol=1e-6)
    assert res.status == fastgd.Status.GTOL and res.nit == 0


def test_batch_chunks_solved_per_task(client, rng):
    B, n, d = 7, 40, 3
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    lrs = np.linspace(0.2, 0.6, B)
    x0 = rng.standard_normal((B, d))
    Xd = da.from_array(X, chunks=(3, 20, d))  # the n axis is merged into one chunk per task
    yd = da.from_array(y, chunks=(2, n))      # rechunked along B to X's chunks
    res = fdask.minimize(Xd, yd, "lstsq", "momentum", lr=lrs, x0=x0, max_iter=25, gtol=0,
                         client=client)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), "momentum", lr=lrs, x0=x0, max_iter=25,
                          gtol=0)
    assert res.x.shape == (B, d) and res.nit.shape == (B,)
    np.testing.assert_array_equal(res.nit, ref.nit)
    np.testing.assert_array_equal(res.status, ref.status)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.lr, lrs)
    # to convergence: each problem's own least-squares solution
    res = fdask.minimize(Xd, yd, lr="auto", max_iter=5000, gtol=1e-10, line_search="armijo")
    assert res.success.all() and len(res.message) == B
    for k in range(B):
        np.testing.assert_allclose(res.x[k], np.linalg.lstsq(X[k], y[k], rcond=None)[0],
                                   rtol=1e-7, atol=1e-8)


def test_batch_other_problem_class_float32(client, rng):
    X = rng.standard_normal((5, 30, 2)).astype(np.float32)
    y = rng.standard_normal((5, 30)).astype(np.float32)
    res = fdask.minimize(da.from_array(X, chunks=(2, 30, 2)), da.from_array(y, chunks=(2, 30)),
                         fastgd.Huber, max_iter=30, gtol=0, lr=0.5)
    ref = fastgd.minimize(fastgd.Huber(X, y), max_iter=30, gtol=0, lr=0.5)
    assert res.x.dtype == np.float32
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-7)


def _pids(client):
    return client.run(os.getpid)


def _restore(client):
    client.wait_for_workers(2, timeout=60)


def test_worker_killed_between_iterations_recomputes(client, rng):
    """SIGKILL one worker mid-solve: its chunks are recomputed from the graph by Dask."""
    X, y = _data(rng, n=1200)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), "adam", lr=0.05, max_iter=30, gtol=0)
    pid = list(_pids(client).values())[0]
    killed = []

    def kill(t, w):
        if t == 5:
            os.kill(pid, signal.SIGKILL)
            killed.append(t)
            time.sleep(0.5)  # let the scheduler notice: the next map runs without that worker

    try:
        res = fdask.minimize(*_dask(X, y), method="adam", lr=0.05, max_iter=30, gtol=0,
                             callback=kill)
    except RuntimeError as e:  # acceptable: a clear error, never a silent wrong x
        assert "failed" in str(e)
    else:
        assert killed and res.nit == 30
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-10, atol=1e-12)
    finally:
        _restore(client)


def test_worker_killed_during_tasks_no_retries_gives_error_or_right_x(client, rng):
    """A kill while gradient tasks may run, with Dask's retries off: error or right x."""
    X, y = _data(rng, n=1200)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.3, max_iter=40, gtol=0)
    sched = client.cluster.scheduler
    allowed = sched.allowed_failures
    pid = list(_pids(client).values())[1]

    def kill(t, w):
        if t == 3:
            threading.Timer(0.002, os.kill, (pid, signal.SIGKILL)).start()

    sched.allowed_failures = 0
    try:
        res = fdask.minimize(*_dask(X, y, rows=100), lr=0.3, max_iter=40, gtol=0, callback=kill)
    except RuntimeError as e:
        assert "no result is returned" in str(e)
    else:
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-10, atol=1e-12)
    finally:
        sched.allowed_failures = allowed
        _restore(client)


def test_bad_input_named_before_any_work(client, rng):
    X, y = _data(rng, n=200)
    Xd, yd = _dask(X, y, rows=50)
    with pytest.raises(TypeError, match="y must have X's dtype"):
        fdask.minimize(Xd, yd.astype(np.float32))
    with pytest.raises(ValueError, match="y must have shape"):
        fdask.minimize(Xd, yd[:-1])
    with pytest.raises(ValueError, match="method"):
        fdask.minimize(Xd, yd, method="lbfgs")
    with pytest.raises(ValueError, match="problem must be"):
        fdask.minimize(Xd, yd, problem="huber")
    Xn = X.copy()
    Xn[123, 2] = np.nan
    with pytest.raises(ValueError, match="X must be finite: row chunk 2"):
        fdask.minimize(*_dask(Xn, y, rows=50))
    with pytest.raises(ValueError, match="labels"):
        fdask.minimize(*_dask(X, y * 0 + 2, rows=50), problem="logistic")
    Xu = Xd[Xd[:, 0] > 0]  # boolean indexing: chunk sizes unknown (nan)
    with pytest.raises(ValueError, match=r"X has unknown chunk sizes.*compute_chunk_sizes"):
        fdask.minimize(Xu, Xu[:, 1])
    Xb = da.from_array(np.stack([X, X]), chunks=(1, 200, X.shape[1]))
    yb = da.from_array(np.stack([y, y]), chunks=(1, 200))
    for Xa, ya in ((Xd, yd), (Xb, yb)):  # both modes, before any task runs
        with pytest.raises(TypeError, match=r"betas must be a pair"):
            fdask.minimize(Xa, ya, method="adam", betas=0.9)


def test_import_fastgd_does_not_import_dask():
    code = ("import sys, fastgd; "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("method,opts", [("rmsprop", {"alpha": 0.9}), ("bb", {}),
                                         ("nesterov", {"restart": True})])
def test_batch_every_method_and_its_options_forwarded(rng, method, opts):
    B, n, d = 4, 40, 3
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    Xd, yd = da.from_array(X, chunks=(2, n, d)), da.from_array(y, chunks=(2, n))
    res = fdask.minimize(Xd, yd, "lstsq", method, lr=0.05, max_iter=25, gtol=0, **opts)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), method, lr=0.05, max_iter=25, gtol=0,
                          **opts)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(res.nit, ref.nit)


@pytest.mark.parametrize("kind", ["lstsq", "logistic"])
def test_rows_intercept_and_weights_match_sklearn(client, rng, kind):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression, Ridge
    X, y = _data(rng, logistic=kind == "logistic")
    y = y + (0.0 if kind == "logistic" else 2.0)
    s = rng.uniform(0.0, 2.0, X.shape[0])
    Xd, yd = _dask(X, y)
    l2 = 1e-3
    res = fdask.minimize(Xd, yd, kind, "bb", l2=l2, fit_intercept=True,
                         sample_weight=da.from_array(s, chunks=250), gtol=1e-10,
                         max_iter=5000, client=client)
    assert res.success, res.message
    if kind == "lstsq":
        ref = Ridge(alpha=l2 * s.sum(), tol=1e-12).fit(X, y, sample_weight=s)
    else:
        ref = LogisticRegression(C=1 / (l2 * s.sum()), tol=1e-12, max_iter=10_000).fit(
            X, y, sample_weight=s)
    np.testing.assert_allclose(res.x, ref.coef_.ravel(), rtol=1e-6, atol=1e-7)
    assert float(res.intercept) == pytest.approx(float(np.ravel(ref.intercept_)[0]), abs=1e-6)


def test_rows_auto_lr_with_intercept_and_weights_as_one_machine(client, rng):
    X, y = _data(rng)
    s = rng.uniform(0.5, 1.5, X.shape[0])
    Xd, yd = _dask(X, y)
    got = fdask.minimize(Xd, yd, fit_intercept=True, sample_weight=s, max_iter=30, gtol=0,
                         client=client)
    one = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=True, sample_weight=s),
                          max_iter=30, gtol=0)
    assert got.lr == pytest.approx(one.lr, rel=1e-6)
    np.testing.assert_allclose(got.x, one.x, rtol=1e-8, atol=1e-10)
    assert float(got.intercept) == pytest.approx(float(one.intercept), rel=1e-8)


def test_batch_intercept_and_weights_as_one_machine(client, rng):
    B, n, d = 6, 80, 3
    X = rng.standard_normal((B, n, d))
    y = X @ rng.standard_normal(d) + 1.5
    s = rng.uniform(0.0, 2.0, (B, n))
    res = fdask.minimize(da.from_array(X, chunks=(2, n, d)), da.from_array(y, chunks=(2, n)),
                         fit_intercept=True, sample_weight=da.from_array(s, chunks=(3, n)),
                         max_iter=400, client=client)
    one = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=True, sample_weight=s),
                          max_iter=400)
    np.testing.assert_allclose(res.x, one.x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.intercept, one.intercept, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(res.nit, one.nit)


def test_bad_sample_weight_named(client, rng):
    X, y = _data(rng, n=60)
    Xd, yd = _dask(X, y, rows=30)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        fdask.minimize(Xd, yd, sample_weight=np.ones(59), client=client)
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        fdask.minimize(Xd, yd, sample_weight=-np.ones(60), client=client)
    with pytest.raises(ValueError, match="all zero"):
        fdask.minimize(Xd, yd, sample_weight=np.zeros(60), client=client)


def test_batch_mini_batches_the_same_however_b_is_chunked(rng):
    """Every problem of a batch visits the rows in the same orders: each chunk gets the same
    generator, so the result is one fastgd.minimize call's on the whole batch."""
    B, n, d = 5, 48, 3
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))

    def chunked(Xa, ya, rows, **kw):
        return fdask.minimize(da.from_array(Xa, chunks=(rows, n, d)),
                              da.from_array(ya, chunks=(rows, n)), "lstsq", **kw)

    opts = dict(method="adam", lr=0.05, batch_size=8, lr_schedule="invscaling", max_iter=6,
                gtol=0.0)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), random_state=3, **opts)
    for rows in (1, 2, 5):
        res = chunked(X, y, rows, random_state=3, **opts)
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(res.fun, ref.fun, rtol=1e-12)
        np.testing.assert_array_equal(res.nit, ref.nit)
    # a Generator: each chunk draws from a copy of its state; the caller's is not advanced
    gen = np.random.default_rng(3)
    res = chunked(X, y, 2, random_state=gen, **opts)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)
    assert gen.random() == np.random.default_rng(3).random()
    # None: one fresh seed for every chunk (identical problems in separate chunks agree)
    same_X, same_y = np.repeat(X[:1], B, axis=0), np.repeat(y[:1], B, axis=0)
    res = chunked(same_X, same_y, 1, **opts)
    np.testing.assert_array_equal(res.x, np.repeat(res.x[:1], B, axis=0))
    # shuffle=False and a callable schedule are passed on too
    opts = dict(method="momentum", lr=0.02, batch_size=7, shuffle=False,
                lr_schedule=lambda t: 1.0 / (1.0 + 0.1 * t), max_iter=4, gtol=0.0)
    res = chunked(X, y, 2, **opts)
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), **opts)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)


def test_rows_mode_refuses_mini_batches_before_any_work(rng):
    X, y = _data(rng, n=60)
    Xd, yd = _dask(X, y, rows=30)
    with pytest.raises(ValueError, match="batch_size=8.*fastgd.minimize"):
        fdask.minimize(Xd, yd, batch_size=8)  # no client needed: refused first
    with pytest.raises(ValueError, match="lr_schedule"):
        fdask.minimize(Xd, yd, lr_schedule="invscaling")
    Xb = da.from_array(np.stack([X, X]), chunks=(1, 60, X.shape[1]))
    yb = da.from_array(np.stack([y, y]), chunks=(1, 60))
    with pytest.raises(TypeError, match="random_state"):
        fdask.minimize(Xb, yb, batch_size=8, random_state=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        fdask.minimize(Xb, yb, batch_size=0)
