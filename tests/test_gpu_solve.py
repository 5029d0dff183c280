"""The GPU solver (device="cuda"), checked by the cases of tests/gpu_cases.py.

Without a GPU the cases run in a subprocess under the CUDA simulator
(NUMBA_ENABLE_CUDASIM=1 must be set before numba.cuda initialises), with tiny blocks
(4 threads, 2 gradient columns per thread) so that every code path -- row tiles,
column groups, column chunks wider than a block -- is exercised at tiny sizes.
On a machine with a GPU (or with the simulator switched on for the whole session)
the same cases also run in-process, unchanged, with the default block size.
"""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba_cuda")  # the GPU target and its simulator: the test-peers extra

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gpu_cases  # noqa: E402  (imports nothing GPU-specific at import time)

SIM_ENV = {"NUMBA_ENABLE_CUDASIM": "1", "FASTGD_GPU_THREADS": "4", "FASTGD_GPU_COLUMNS": "2"}


def _gpu_in_process():
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:
        return False


# the longest cases in the simulator (a minute or more each on 2 cores): the slow run only
SLOW_CASES = {"bb_restart_and_armijo_growth_agree_with_references_and_cpu",
              "single_large_problem_grid_path"}
FAST_CASES = sorted(set(gpu_cases.CASES) - SLOW_CASES)


def _run_cases(names):
    env = dict(os.environ, **SIM_ENV)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, os.path.join(HERE, "gpu_cases.py"), *names], env=env,
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    results = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["case"]] = r
    if not results:
        pytest.fail(f"gpu_cases.py produced no results:\n{out.stdout}\n{out.stderr}")
    return results


@pytest.fixture(scope="module")
def simulator_results():
    return _run_cases(FAST_CASES)


@pytest.fixture(scope="module")
def slow_simulator_results():
    return _run_cases(sorted(SLOW_CASES))


@pytest.mark.parametrize("name", FAST_CASES)
def test_gpu_case_in_simulator(simulator_results, name):
    _check(simulator_results, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_CASES))
def test_slow_gpu_case_in_simulator(slow_simulator_results, name):
    _check(slow_simulator_results, name)


def _check(results, name):
    r = results.get(name)
    assert r is not None, f"case {name} did not run"
    assert r["ok"], r["error"]


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_in_process(), reason="no CUDA GPU (and the simulator is off)")
@pytest.mark.parametrize("name", sorted(gpu_cases.CASES))
def test_gpu_case_in_process(name):
    gpu_cases.CASES[name]()


def test_import_fastgd_does_not_import_the_gpu_modules():
    code = ("import sys, fastgd; fastgd.LeastSquares; "
            "print(any(m.startswith('fastgd.gpu') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.stdout.strip() == "False"


def test_cuda_without_gpu_names_what_is_missing(rng):
    if _gpu_in_process():
        pytest.skip("a GPU (or the simulator) is available here")
    import numpy as np

    import fastgd
    p = fastgd.LeastSquares(rng.standard_normal((5, 2)), rng.standard_normal(5))
    with pytest.raises(RuntimeError, match="GPU|CUDA driver"):
        fastgd.minimize(p, device="cuda")
    assert np.isfinite(p.X).all()


SHARED_RACE_SCRIPT = """
import sys, time, numpy as np
import cudasim_patch
assert cudasim_patch.install()

def slow_empty(shape, dtype):  # a thread switch inside every allocation window
    time.sleep(0.005)
    return np.full(shape, np.nan, dtype)

cudasim_patch._new_array = slow_empty
from numba import cuda, float64

@cuda.jit
def weighted_sum(out):
    a = cuda.shared.array(8, float64)
    b = cuda.shared.array(8, float64)
    t = cuda.threadIdx.x
    a[t] = t + 1.0
    b[t] = 2.0
    cuda.syncthreads()
    s = 0.0
    for i in range(8):
        s += a[i] * b[i]
    out[t] = s

out = np.full(8, -1.0)
weighted_sum[1, 8](out)
print(out.tolist())
"""


def test_simulator_shared_arrays_are_one_array_per_block():
    """tests/cudasim_patch.py: every thread of a block sees the same shared arrays (two
    distinct ones) even when threads switch inside the simulator's allocation (the
    unpatched simulator gives threads different arrays then: garbage sums)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = HERE + os.pathsep + ROOT
    out = subprocess.run([sys.executable, "-c", SHARED_RACE_SCRIPT], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == str([2.0 * sum(range(1, 9))] * 8)
