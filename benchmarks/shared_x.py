"""A learning-rate sweep over one X: shared X (sweep_lr) vs stacked copies vs a NumPy loop.

    python -m benchmarks.shared_x [--n 200000] [--d 50] [--lrs 16] [--iters 50]
    python -m benchmarks.shared_x --lockstep [--n 200000] [--d 50] [--iters 20]

Each runs L step sizes of plain gd on least squares for a fixed number of iterations
(gtol=0): ``shared`` is the batch ``fastgd.sweep_lr`` runs (X (n, d) with y (L, n):
shared, never copied), ``stacked``
the old way (a batch over L copies X (L, n, d)), ``numpy`` L float64 NumPy loops of
``w -= lr X^T (X w - y) / n``.  Times in seconds, best of --repeat, after a warm-up.
"""
import argparse
import os
import time

import numpy as np

import fastgd


def _best(fn, repeat):
    out = None
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def lockstep_rows(X, iters, repeat, targets=(1, 8, 32)):
    """Per-iteration time of B targets over one X (LeastSquares mode='direct', Logistic;
    gd, lr fixed, gtol=0): the per-problem driver (config.SHARED_X_LOCKSTEP off) vs the
    lockstep driver; rows of (loss, B, old ms, lockstep ms)."""
    from fastgd import config
    rng = np.random.default_rng(1)
    n = X.shape[0]
    out = []
    for name, cls in (("lsq", fastgd.LeastSquares), ("logistic", fastgd.Logistic)):
        for B in targets:
            Y = rng.standard_normal((B, n)).astype(X.dtype)
            if name == "logistic":
                Y = (Y > 0).astype(X.dtype)
            p = cls(X, Y)
            times = []
            for on in (False, True):
                config.SHARED_X_LOCKSTEP = on
                run = lambda: fastgd.minimize(p, "gd", lr=0.01, max_iter=iters, gtol=0.0,
                                              mode="direct")
                fastgd.minimize(p, "gd", lr=0.01, max_iter=1, gtol=0.0, mode="direct")
                times.append(_best(run, repeat)[0] / iters * 1e3)
            config.SHARED_X_LOCKSTEP = True
            out.append((name, B) + tuple(times))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=50)
    ap.add_argument("--lrs", type=int, default=16)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--lockstep", action="store_true",
                    help="per-iteration time of 1, 8, 32 targets: per-problem vs lockstep")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    dt = np.dtype(args.dtype)
    X = rng.standard_normal((args.n, args.d)).astype(dt)
    if args.lockstep:
        rows = lockstep_rows(X, args.iters, args.repeat)
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"ms per iteration, {args.n} x {args.d} {dt}, {args.iters} gd iterations, "
              f"best of {args.repeat} (load average after: {load})")
        print("loss       B  per-problem  lockstep  lockstep / lockstep(B=1)")
        base = {}
        for name, B, old, new in rows:
            base.setdefault(name, new)
            print(f"{name:9s} {B:3d} {old:11.2f} {new:9.2f} {new / base[name]:8.2f}")
        return
    y = (X @ rng.standard_normal(args.d) + 0.1 * rng.standard_normal(args.n)).astype(dt)
    lrs = np.geomspace(0.01, 1.0, args.lrs)
    L, it = args.lrs, args.iters
    # the batch sweep_lr runs (sweep_lr adds one power iteration for its auto_lr)
    p = fastgd.LeastSquares(X, np.tile(y, (L, 1)))
    opts = dict(max_iter=it, gtol=0.0, mode="direct")
    fastgd.minimize(p, "gd", lr=lrs, **dict(opts, max_iter=1))  # compile
    t_shared, res = _best(lambda: fastgd.minimize(p, "gd", lr=lrs, **opts), args.repeat)
    Xs = np.empty((L,) + X.shape, dt)
    Xs[...] = X
    ys = np.empty((L,) + y.shape, dt)
    ys[...] = y
    stacked = fastgd.LeastSquares(Xs, ys)
    fastgd.minimize(fastgd.LeastSquares(np.ascontiguousarray(Xs[:, :100]),
                                        np.ascontiguousarray(ys[:, :100])), "gd", lr=lrs, **opts)
    t_stacked, res2 = _best(lambda: fastgd.minimize(stacked, "gd", lr=lrs, **opts),
                            args.repeat)
    del Xs, stacked

    def numpy_loop():
        n = X.shape[0]
        out = []
        for lr in lrs:
            w = np.zeros(args.d, dt)
            for _ in range(it):
                w -= lr * (X.T @ (X @ w - y)) / n
            out.append(w)
        return np.array(out)
    t_numpy, w_np = _best(numpy_loop, 1)
    err = float(np.abs(res.x - w_np).max() / max(1e-30, np.abs(w_np).max()))
    print(f"sweep of {L} lrs x {it} gd iterations, LeastSquares {args.n} x {args.d} {dt}")
    print(f"shared X              {t_shared:8.3f} s")
    print(f"stacked copies        {t_stacked:8.3f} s  (+{L * X.nbytes / 2**20:.0f} MiB of copies)")
    print(f"NumPy loop            {t_numpy:8.3f} s")
    print(f"max rel. difference shared vs NumPy: {err:.2e}; shared vs stacked: "
          f"{float(np.abs(res.x - res2.x).max()):.2e}")


if __name__ == "__main__":
    main()
