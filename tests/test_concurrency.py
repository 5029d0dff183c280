"""Concurrency: minimize (and fastgd.ops) from several Python threads at once gives the
serial results bit for bit, the kernels release the GIL, and concurrent launches of the
parallel kernels are safe under every Numba threading layer (workqueue included, which
aborts the process on concurrent launches unless fastgd serialises them)."""
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import fastgd
from fastgd.cpu import solve

ROOT = Path(__file__).resolve().parents[1]
THREADS = 4


def cases(seed):
    """Four different solves that cover the three drivers: batch, rows, gram."""
    rng = np.random.default_rng(seed)
    out = []
    X = rng.standard_normal((16, 60, 5))
    out.append((fastgd.LeastSquares(X, rng.standard_normal((16, 60))),
                dict(method="momentum", lr=0.05, max_iter=300, gtol=0.0)))
    X = rng.standard_normal((8, 50, 4)).astype(np.float32)
    out.append((fastgd.Logistic(X, (rng.uniform(size=(8, 50)) < 0.5).astype(np.float32)),
                dict(method="adam", lr=0.01, max_iter=300, gtol=0.0)))
    X = rng.standard_normal((17_000, 4))  # >= 2**16 elements: one large problem, row blocks
    out.append((fastgd.Logistic(X, (X[:, 0] > 0.3).astype(np.float64)),
                dict(lr="auto", max_iter=20, gtol=0.0, mode="direct")))
    out.append((fastgd.LeastSquares(X, rng.standard_normal(17_000)),
                dict(lr="auto", max_iter=20, gtol=0.0, mode="gram")))
    return out


def solve_all(problems):
    return [fastgd.minimize(p, **kw) for p, kw in problems]


def test_threads_match_serial(row_blocks):
    work = [cases(s) for s in range(THREADS)]
    serial = [solve_all(w) for w in work]
    barrier = threading.Barrier(THREADS)

    def run(w):
        barrier.wait()  # start together
        return solve_all(w)

    with ThreadPoolExecutor(THREADS) as pool:
        threaded = list(pool.map(run, work))
    for s_res, t_res in zip(serial, threaded):
        for a, b in zip(s_res, t_res):
            assert np.array_equal(a.x, b.x)
            assert np.array_equal(a.status, b.status) and np.array_equal(a.nit, b.nit)
            assert np.array_equal(a.fun, b.fun)


def test_every_cpu_kernel_releases_the_gil():
    from fastgd.cpu import drivers, evaluate, prepare, softmax
    mods = [vars(m) for m in (solve, evaluate, prepare, softmax)]
    mods += [vars(s) for s in (drivers.builtin().small, drivers.builtin().large)]
    kernels = [v for m in mods for v in m.values() if isinstance(v, CPUDispatcher)]
    assert len(kernels) >= 8
    for k in kernels:
        assert k.targetoptions.get("nogil") is True, k.py_func.__name__


def test_gil_is_released_during_a_solve():
    """While one thread solves, the main thread keeps running Python.

    If the kernel held the GIL, the main thread's longest pause would be the whole
    kernel call; with the GIL released it is a scheduler time slice.  This holds on
    any number of cores (one core time-slices the two threads)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 400, 20))
    prob = fastgd.LeastSquares(X, rng.standard_normal((4, 400)))
    opts = dict(lr=1e-3, gtol=0.0, mode="direct")
    fastgd.minimize(prob, max_iter=2, **opts)  # compiled and warm
    t = time.perf_counter()
    fastgd.minimize(prob, max_iter=200, **opts)
    per_iter = (time.perf_counter() - t) / 200
    iters = int(min(50_000, max(200, 1.0 / per_iter)))  # a call of ~1 s

    for _ in range(4):  # lengthen the solve until it is measurable on a busy machine
        longest, duration, ticks = _main_thread_pauses(prob, iters, opts)
        if duration > 0.2:
            break
        iters *= 3
    assert duration > 0.2, "solve too short to measure"
    assert longest < 0.5 * duration, (
        f"main thread blocked {longest:.3f} s of a {duration:.3f} s solve: GIL held")
    assert ticks > 1000


def _main_thread_pauses(prob, iters, opts):
    """Solve in a worker thread; return the main thread's longest pause, the solve's
    duration and how many loop turns the main thread made meanwhile."""
    durations = []

    def worker():
        t0 = time.perf_counter()
        fastgd.minimize(prob, max_iter=iters, **opts)
        durations.append(time.perf_counter() - t0)

    th = threading.Thread(target=worker)
    th.start()
    last = time.perf_counter()
    longest = 0.0
    ticks = 0
    while th.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        ticks += 1
    th.join()
    return longest, durations[0], ticks


def test_threads_run_in_parallel():
    """4 single-threaded solves in 4 Python threads take less wall time than in series.

    Generous margin (and best of 3) because the machine may be shared; skipped when
    fewer than 2 cores are idle (then no speedup is measurable; the GIL test above is
    the load-independent proof)."""
    cores = os.cpu_count() or 1
    idle = cores - os.getloadavg()[0]
    if cores < 2 or idle < 1.5:
        pytest.skip(f"needs >= 1.5 idle cores to measure a speedup ({cores} cores, "
                    f"load {os.getloadavg()[0]:.1f})")
    rng = np.random.default_rng(6)
    probs = [fastgd.LeastSquares(rng.standard_normal((2, 300, 16)), rng.standard_normal((2, 300)))
             for _ in range(THREADS)]
    opts = dict(lr=1e-3, gtol=0.0, mode="direct", max_iter=4000)

    def one(p):
        numba.set_num_threads(1)  # thread-local: each call is single-threaded
        fastgd.minimize(p, **opts)

    one(probs[0])
    ratios = []
    for _ in range(3):
        t = time.perf_counter()
        for p in probs:
            one(p)
        serial = time.perf_counter() - t
        t = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one, probs))
        ratios.append((time.perf_counter() - t) / serial)
        if ratios[-1] < 0.8:
            break
    assert min(ratios) < 0.8, f"threaded/serial wall time {ratios}: no parallelism"


WORKQUEUE_SCRIPT = textwrap.dedent("""
    import threading, numba, numpy as np
    import fastgd
    rng = np.random.default_rng(0)
    probs = [fastgd.LeastSquares(rng.standard_normal((8, 40, 4)), rng.standard_normal((8, 40)))
             for _ in range(4)]
    ref = [fastgd.minimize(p, lr=0.01, max_iter=100, gtol=0.0).x for p in probs]
    assert numba.threading_layer() == "workqueue", numba.threading_layer()
    bad = []
    def work(i):
        for _ in range(40):
            if not np.array_equal(fastgd.minimize(probs[i], lr=0.01, max_iter=100, gtol=0.0).x,
                                  ref[i]):
                bad.append(i)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    # fastgd.ops' parallel kernels too (arrays above the parallel thresholds)
    m = 4 * fastgd.config.OPS_PARALLEL_MIN
    Xg = rng.standard_normal((fastgd.config.OPS_GRAD_PARALLEL_MIN // 8 + 1, 8))
    yg = rng.standard_normal(Xg.shape[0])
    g_ref = fastgd.ops.lstsq_grad(Xg, yg, np.ones(8))[1]
    def ops_work(i):
        p, g = np.zeros(m), np.full(m, 0.5)
        ea, eas = np.zeros(m), np.zeros(m)
        for t in range(1, 30):
            fastgd.ops.adam_(p, g, ea, eas, step=t)
            fastgd.ops.sgd_(p, g, lr=1e-3)
            if not np.array_equal(fastgd.ops.lstsq_grad(Xg, yg, np.ones(8))[1], g_ref):
                bad.append(("grad", i))
    ts = [threading.Thread(target=ops_work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print("bad", bad)
""")


def test_workqueue_layer_concurrent_launches_do_not_abort():
    """Numba's workqueue layer aborts the process on concurrent parallel launches;
    fastgd serialises its launches exactly when that layer is in use."""
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", WORKQUEUE_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "bad []" in out.stdout


def test_ops_threads_match_serial():
    ops = pytest.importorskip("fastgd.ops")
    rng = np.random.default_rng(7)
    m = 50_000

    def state(seed):
        r = np.random.default_rng(seed)
        return [r.standard_normal(m) for _ in range(3)] + [np.abs(r.standard_normal(m))]

    grads = [rng.standard_normal((20, m)) for _ in range(THREADS)]
    grads_snap = [g.copy() for g in grads]

    def run(i):
        p, buf, ea, eas = state(i)
        q = p.copy()
        for t in range(1, 21):
            ops.adam_(p, grads[i][t - 1], ea, eas, step=t, lr=1e-2, weight_decay=0.01,
                      decoupled_weight_decay=True)
            ops.sgd_(q, grads[i][t - 1], step=t, lr=1e-2, momentum=0.9, nesterov=True,
                     momentum_buffer=buf)
        return p, q, buf, ea, eas

    serial = [run(i) for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        threaded = list(pool.map(run, range(THREADS)))
    for s, t in zip(serial, threaded):
        for a, b in zip(s, t):
            assert np.array_equal(a, b)
    for g, snap in zip(grads, grads_snap):  # grads are never modified
        assert np.array_equal(g, snap)
