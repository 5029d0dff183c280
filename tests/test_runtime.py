"""Processes and signals (fastgd/runtime.py): fork after a solve, spawn and forkserver
workers, the threading layer chosen at import, Ctrl-C within about a second.

Each case runs in a subprocess: a fork-unsafe layer kills or hangs the child, and a
stray SIGINT must not reach pytest.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(script, timeout=300, **env):
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=full,
                          capture_output=True, text=True, timeout=timeout)


IMPORT_SCRIPT = """
    import numba
    from numba.np.ufunc import parallel
    import fastgd
    print("started", parallel._is_initialized, "layer", numba.config.THREADING_LAYER)
"""


def test_import_picks_a_fork_safe_layer_without_starting_it():
    out = run_script(IMPORT_SCRIPT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "started False layer forksafe" in out.stdout


def test_a_users_threading_layer_is_kept():
    out = run_script(IMPORT_SCRIPT, NUMBA_THREADING_LAYER="workqueue")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "layer workqueue" in out.stdout


POOL_SCRIPT = """
    import multiprocessing as mp, sys
    import numpy as np
    import fastgd

    def solve(seed):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((6, 50, 4))
        y = rng.standard_normal((6, 50))
        r = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.05, max_iter=3000, gtol=1e-9)
        ref = np.stack([np.linalg.lstsq(X[b], y[b], rcond=None)[0] for b in range(6)])
        return float(np.abs(r.x - ref).max())

    if __name__ == "__main__":
        method = sys.argv[1]
        print("parent", solve(0))  # the parent has run parallel kernels before forking
        with mp.get_context(method).Pool(2) as pool:
            res = pool.map_async(solve, range(1, 5)).get(timeout=240)
        print("children", max(res))
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_workers_after_a_solve(tmp_path, method):
    """multiprocessing.Pool after a solve in the parent: children solve correctly and the
    pool neither hangs nor loses a worker (GNU OpenMP, Numba's default layer, does)."""
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    script = tmp_path / "pool.py"  # spawn and forkserver re-import __main__ from a file
    script.write_text(textwrap.dedent(POOL_SCRIPT))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(script), method], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    errs = [float(line.split()[1]) for line in out.stdout.splitlines()]
    assert len(errs) == 2 and max(errs) < 1e-6, out.stdout


OMP_FORK_SCRIPT = """
    import os, numpy as np, numba, fastgd
    p = fastgd.LeastSquares(np.ones((2, 10, 3)), np.ones((2, 10)))
    fastgd.minimize(p, lr=0.1, max_iter=5)
    assert numba.threading_layer() == "omp"
    pid = os.fork()
    if pid == 0:
        try:
            fastgd.minimize(p, lr=0.1, max_iter=5)
            os._exit(3)
        except RuntimeError as exc:
            os._exit(7 if "fork" in str(exc) else 4)
    print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_forced_openmp_fails_clearly_after_fork():
    """With NUMBA_THREADING_LAYER=omp forced by the user, a forked child gets a
    RuntimeError that says what to do, not a terminated process."""
    out = run_script(OMP_FORK_SCRIPT, NUMBA_THREADING_LAYER="omp")
    if "No threading layer could be loaded" in out.stderr:
        pytest.skip("Numba's omp layer is not available here")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "child 7" in out.stdout, out.stdout + out.stderr[-2000:]


INTERRUPT_SCRIPT = """
    import os, signal, threading, time, sys
    import numpy as np, fastgd
    rng = np.random.default_rng(0)
    shape = {shape}
    X = rng.standard_normal(shape)
    y = X @ np.ones(shape[-1])
    p = fastgd.LeastSquares(X, y)
    m = shape[-1]
    x0 = np.zeros(shape[:-2] + (m,))
    fastgd.minimize(p, lr=1e-3, max_iter=3, gtol=0.0, mode="direct")  # compile
    t_it = time.perf_counter()
    fastgd.minimize(p, lr=1e-3, max_iter=20, gtol=0.0, mode="direct")
    t_it = (time.perf_counter() - t_it) / 20
    fired = []
    def fire():
        time.sleep(0.5)
        fired.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=fire).start()
    try:
        fastgd.minimize(p, lr={lr}, max_iter=10**9, gtol=0.0, mode="direct", x0=x0, inplace=True)
        print("not interrupted")
    except KeyboardInterrupt:
        waited = time.perf_counter() - fired[0]
        loss0 = 0.5 * np.mean(y ** 2, axis=-1)
        r = np.einsum("...ij,...j->...i", X, x0) - y
        loss = 0.5 * np.mean(r ** 2, axis=-1)
        print("waited", waited, "per_iter", t_it, "finite", bool(np.isfinite(x0).all()),
              "not_worse", bool(np.all(loss <= loss0)), "rows", int(np.any(x0 != 0, axis=-1).sum()))
"""


@pytest.mark.parametrize("shape,lr", [((300_000, 40), "1e-3"),      # one large problem
                                      ((64, 4000, 30), "1e-3"),     # a batch
                                      ((300_000, 40), "'auto'")])   # power iteration first
def test_ctrl_c_stops_a_solve_within_a_second(shape, lr):
    """SIGINT during a solve of 10^9 iterations raises KeyboardInterrupt within ~1 s, with
    x0 (inplace=True) holding each problem's last whole iterate: finite, no worse than
    the start (GD with a small fixed step descends), and moved for the problems that had
    started (a batch runs each problem to the end of its chunk in turn)."""
    out = run_script(INTERRUPT_SCRIPT.format(shape=shape, lr=lr))
    assert out.returncode == 0, out.stderr[-3000:]
    words = out.stdout.split()
    assert words[0] == "waited", out.stdout
    waited, per_iter = float(words[1]), float(words[3])
    assert waited < 1.0 + 2 * per_iter, out.stdout
    assert words[5] == "True" and words[7] == "True", out.stdout
    assert int(words[9]) >= 1, out.stdout


def test_ctrl_c_stops_the_power_iteration_of_lr_auto():
    """lr="auto" on one large problem first runs 50 power-iteration passes over X (here
    ~3 s): SIGINT 0.5 s in stops it within a second (it checks the stop flag every pass),
    and x0 is left as it was (no update had been applied)."""
    out = run_script(INTERRUPT_SCRIPT.format(shape=(8_000_000, 10), lr="'auto'"))
    assert out.returncode == 0, out.stderr[-3000:]
    words = out.stdout.split()
    assert words[0] == "waited", out.stdout
    waited, per_iter = float(words[1]), float(words[3])
    # SIGINT comes 0.5 s in: the 50 passes must still be running then, with a margin
    assert 50 * per_iter > 1.0, f"the power iteration is too short to test: {out.stdout}"
    assert waited < 1.0 + 2 * per_iter, out.stdout
    assert words[5] == "True" and words[7] == "True", out.stdout
    assert int(words[9]) == 0, out.stdout  # interrupted before the first update
