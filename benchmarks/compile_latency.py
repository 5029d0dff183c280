"""Compile latency of fastgd: the first minimize() per kind of solve in this process.

    D=$(mktemp -d)
    NUMBA_CACHE_DIR=$D python benchmarks/compile_latency.py          # empty cache: compiles
    NUMBA_CACHE_DIR=$D python benchmarks/compile_latency.py          # again: loads the cache
    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/compile_latency.py large   # one large problem

Prints the import time and the wall and CPU time (of this process: user + system, the
figure to trust on a shared machine) of the first call of a batch (float64, float32)
or, with ``large``, of one large float64 problem on the row-block driver
(``solve_single``: FASTGD_SERIAL_MAX_BYTES=0 is set, else a problem this size runs the
batched driver with B = 1).  With ``--kernels``, also the compile time of each kernel
that took over 0.3 s (Numba's "numba:compile" events; nested: a kernel's time includes
the kernels it compiled).  Figures are in benchmarks/RESULTS.md.
"""
import os
import sys
import time

if "large" in sys.argv[1:]:
    os.environ["FASTGD_SERIAL_MAX_BYTES"] = "0"

import numpy as np
from numba.core import event


def cpu():
    return time.process_time()


compiled = []


class _Timed(event.Listener):
    """(qualname, wall, cpu) of every compiled kernel."""
    def __init__(self):
        self.stack = []

    def on_start(self, ev):
        self.stack.append((time.perf_counter(), cpu()))

    def on_end(self, ev):
        t0, c0 = self.stack.pop()
        compiled.append((ev.data["dispatcher"].py_func.__qualname__,
                         time.perf_counter() - t0, cpu() - c0))


if "--kernels" in sys.argv[1:]:
    event.register("numba:compile", _Timed())

t0, c0 = time.perf_counter(), cpu()
import fastgd  # noqa: E402
out = [f"import {time.perf_counter() - t0:.2f} s ({cpu() - c0:.2f} s CPU)"]
rng = np.random.default_rng(0)


def timed(label, call):
    n0 = len(compiled)
    t, c = time.perf_counter(), cpu()
    call()
    out.append(f"{label} {time.perf_counter() - t:.2f} s ({cpu() - c:.2f} s CPU)")
    for name, wall, cpu_s in compiled[n0:]:
        if cpu_s > 0.3:
            print(f"  {label}: {name} {wall:.2f} s ({cpu_s:.2f} s CPU)")


if "large" in sys.argv[1:]:
    X, y = rng.standard_normal((20000, 5)), rng.standard_normal(20000)
    timed("one large float64", lambda: fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=50,
                                                       mode="direct"))
else:
    for dt in (np.float64, np.float32):
        X = rng.standard_normal((20, 50, 5)).astype(dt)
        y = rng.standard_normal((20, 50)).astype(dt)
        timed(f"batch {np.dtype(dt).name}",
              lambda: fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=50))
print("; ".join(out))
