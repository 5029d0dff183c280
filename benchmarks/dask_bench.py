"""Row-sharded fastgd.dask vs in-process fastgd.minimize, and Dask's per-iteration overhead.

    PYTHONPATH=. python benchmarks/dask_bench.py            # W2 size: 2,000,000 x 64 float32
    PYTHONPATH=. python benchmarks/dask_bench.py --small    # 200,000 x 64

One problem X (n, d) float32, least squares, gd with a fixed lr, `--iters` iterations
(gtol=0), on a LocalCluster of `--workers` worker processes (1 thread each) with X in
`--chunks` row chunks generated on the workers (da.random) and persisted there.

Printed, per configuration (best of `--repeat`):
- in-process: fastgd.minimize(mode="direct", i.e. one parallel pass over X per iteration)
  and mode="auto" (gram for this tall problem), whole solve;
- dask: set-up (making the chunks contiguous, checking them: once per solve), and the time
  per iteration of the loop (from the callback's clock, so set-up is excluded);
- overhead per iteration: the same loop on a tiny X with the same number of chunks
  (compute ~0, so this is the scheduler round trip + serialisation + client update).
"""
import argparse
import os
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="200,000 rows instead of 2,000,000")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=None, help="row chunks (default 2 per worker)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    n = a.n or (200_000 if a.small else 2_000_000)
    nchunks = a.chunks or 2 * a.workers

    import dask.array as da
    from distributed import Client, LocalCluster

    import fastgd
    import fastgd.dask as fdask

    env = {"NUMBA_NUM_THREADS": "1"}  # one core per worker (threads_per_worker=1)
    if "NUMBA_CACHE_DIR" in os.environ:
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, env=env) as cluster, Client(cluster) as client:
        rows = -(-n // nchunks)
        rs = da.random.default_rng(0)
        X = (rs.standard_normal((n, a.d), chunks=(rows, a.d), dtype=np.float32)
             / np.float32(np.sqrt(a.d)))
        y = X @ da.ones(a.d, chunks=a.d, dtype=np.float32) + np.float32(0.1) * rs.standard_normal(
            n, chunks=rows, dtype=np.float32)
        X, y = client.persist([X, y])
        Xn, yn = client.compute([X, y], sync=True)
        lr = 0.5
        print(f"problem: {n:,} x {a.d} float32, {a.iters} gd iterations, {a.workers} workers, "
              f"{nchunks} chunks of {rows:,} rows; machine has {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f}")

        def in_process(mode):
            prob = fastgd.LeastSquares(Xn, yn)
            fastgd.minimize(prob, lr=lr, max_iter=1, gtol=0, mode=mode)  # compile
            best = np.inf
            for _ in range(a.repeat):
                t = time.perf_counter()
                res = fastgd.minimize(prob, lr=lr, max_iter=a.iters, gtol=0, mode=mode)
                best = min(best, time.perf_counter() - t)
            return best, res

        def on_dask(Xd, yd, iters, lr=lr):
            stamps = {}

            def cb(t, w):
                stamps[t] = time.perf_counter()

            fdask.minimize(Xd, yd, lr=lr, max_iter=1, gtol=0)  # compile on the workers
            best_setup = best_iter = np.inf
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                res = fdask.minimize(Xd, yd, lr=lr, max_iter=iters, gtol=0, callback=cb)
                total = time.perf_counter() - t0
                per_iter = (stamps[iters] - stamps[1]) / (iters - 1)
                best_iter = min(best_iter, per_iter)
                best_setup = min(best_setup, total - iters * per_iter)
            return best_setup, best_iter, res

        t_direct, ref = in_process("direct")
        t_auto, _ = in_process("auto")
        setup, per_iter, res = on_dask(X, y, a.iters)
        err = float(np.abs(res.x - ref.x).max())
        Xt = (rs.standard_normal((nchunks * 256, a.d), chunks=(256, a.d), dtype=np.float32)
              / np.float32(np.sqrt(a.d)))
        yt = rs.standard_normal(nchunks * 256, chunks=256, dtype=np.float32)
        _, overhead, _ = on_dask(*client.persist([Xt, yt]), 50, lr=0.1)

    print(f"in-process fastgd.minimize mode=direct: {t_direct * 1e3:9.1f} ms total, "
          f"{t_direct / a.iters * 1e3:7.2f} ms/iter")
    print(f"in-process fastgd.minimize mode=auto:   {t_auto * 1e3:9.1f} ms total")
    print(f"fastgd.dask rows-sharded:               {(setup + a.iters * per_iter) * 1e3:9.1f} ms "
          f"total = set-up {setup * 1e3:.1f} ms + {per_iter * 1e3:.2f} ms/iter")
    print(f"dask per-iteration overhead (X of {nchunks} x 256 rows): {overhead * 1e3:.2f} ms/iter")
    print(f"max |x_dask - x_in_process| = {err:.2e}")


if __name__ == "__main__":
    main()
