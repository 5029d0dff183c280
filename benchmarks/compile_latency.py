"""Compile latency of fastgd: the first minimize() per kind of solve in this process.

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/compile_latency.py   # empty cache: compiles
    python benchmarks/compile_latency.py                                # again: loads the cache

Prints the import time and the wall time of the first call of a batch (float64, float32) and
of one large problem (float64).  Figures are in benchmarks/RESULTS.md.
"""
import sys, time, numpy as np
t0 = time.perf_counter()
import fastgd
t_imp = time.perf_counter() - t0
rng = np.random.default_rng(0)
out = [f"import {t_imp:.2f} s"]
for dt in (np.float64, np.float32):
    X, y = rng.standard_normal((20, 50, 5)).astype(dt), rng.standard_normal((20, 50)).astype(dt)
    t = time.perf_counter(); fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=50)
    out.append(f"batch {np.dtype(dt).name} {time.perf_counter() - t:.2f} s")
X, y = rng.standard_normal((20000, 5)), rng.standard_normal(20000)
t = time.perf_counter(); fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=50, mode="direct")
out.append(f"one large float64 {time.perf_counter() - t:.2f} s")
print("; ".join(out))
