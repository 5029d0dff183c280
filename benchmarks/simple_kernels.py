"""fastgd against plain Numba kernels doing W4's and W5's arithmetic (issue "Fast on every
x86 CPU", item 4: fastgd should never be slower than a 40-line kernel doing the same work).

    python -m benchmarks.simple_kernels [--rounds 5] [--scale 1.0]

W4: B=5000 logistic 200x20 float32, 300 GD iterations at lr=1/L; W5: B=20000 least squares
64x8 float64, 10% ill conditioned, GD at lr=1/L until |g| <= 1e-8 (max 3000) -- the data of
``python -m benchmarks.run``.  The kernels are what a user would write by hand: prange over
problems, the problem's X transposed into per-thread scratch (W4: the columns layout, d
outer and rows inner), the same vectorisable exp as fastgd's float32 logistic terms (W4),
the Gram form with the gradient-norm test only (W5).  Two W4 kernels: the gradient only
(what a hand-written loop does), and the gradient plus the loss per iteration (what
fastgd computes for its divergence and ftol tests).  Every contender runs once per round in
a rotating order; medians over rounds, and each row's time over fastgd's (> 1: fastgd is
faster); the kernels' x is checked against fastgd's before timing.
"""
import argparse
import math
import time

import numba
import numpy as np
from numba import njit, prange

import fastgd
from fastgd.bench.run import machine
from fastgd.bench.workloads import make_w4, make_w5
from fastgd.cpu.math import losses

exp_neg_single = losses.exp_neg_single
log1p_unit_single = losses.log1p_unit_single

OPTS = dict(parallel=True, cache=True, fastmath={"contract", "arcp", "reassoc"},
            error_model="numpy")


@njit(**OPTS)
def w4_kernel(X, y, lr, iters, W, F, with_loss):
    """GD on B logistic problems X (B, n, d) float32, y (B, n) 0/1; W (B, d) out, F (B,) the
    last iteration's loss sum (with_loss; stored, so that the compiler keeps it)."""
    B, n, d = X.shape
    one = np.float32(1.0)
    for b in prange(B):
        Xt = np.ascontiguousarray(X[b].T)        # (d, n): columns layout
        w = np.zeros(d, np.float32)
        z = np.empty(n, np.float32)
        step = np.float32(lr[b] / n)
        f = 0.0
        for _ in range(iters):
            z[:] = 0.0
            for j in range(d):
                wj = w[j]
                for i in range(n):
                    z[i] += Xt[j, i] * wj
            f = 0.0
            for i in range(n):
                zi = z[i]
                e = exp_neg_single(abs(zi))
                sig = (one if zi >= 0 else e) / (one + e)
                if with_loss:
                    f += log1p_unit_single(e) + max((one - y[b, i] - y[b, i]) * zi, 0.0)
                z[i] = sig - y[b, i]
            for j in range(d):
                s = np.float32(0.0)
                for i in range(n):
                    s += Xt[j, i] * z[i]
                w[j] -= step * s
        W[b] = w
        F[b] = f


@njit(**OPTS)
def w5_kernel(X, y, lr, gtol, max_iter, W, nit):
    """GD in Gram form on B least-squares problems X (B, n, d) float64 until |g| <= gtol."""
    B, n, d = X.shape
    for b in prange(B):
        A = X[b].T @ X[b] / n
        c = X[b].T @ y[b] / n
        w = np.zeros(d)
        g = -c.copy()
        t = 0
        while t < max_iter and math.sqrt(np.sum(g * g)) > gtol:
            for j in range(d):
                w[j] -= lr[b] * g[j]
            for j in range(d):
                s = -c[j]
                for k in range(d):
                    s += A[j, k] * w[k]
                g[j] = s
            t += 1
        W[b] = w
        nit[b] = t


def contenders(scale):
    B4, B5 = max(2, int(5000 * scale)), max(10, int(20000 * scale))
    X4, y4, lr4 = make_w4(B4, 200, 20)
    X5, y5, lr5, _ = make_w5(B5, 64, 8, 100.0, 0.1)
    p4, p5 = fastgd.Logistic(X4, y4), fastgd.LeastSquares(X5, y5)
    W4, W5, nit5 = np.empty((B4, 20), np.float32), np.empty((B5, 8)), np.empty(B5, np.int64)
    F4 = np.empty(B4)

    def check4(x):
        ref = fastgd.minimize(p4, lr=lr4, gtol=0.0, max_iter=300).x
        assert np.allclose(x, ref, rtol=1e-3, atol=1e-4), np.abs(x - ref).max()

    def check5(x):
        ref = fastgd.minimize(p5, lr=lr5, gtol=1e-8, max_iter=3000).x
        assert np.allclose(x, ref, rtol=1e-6, atol=1e-8), np.abs(x - ref).max()

    return {
        "W4": [("fastgd", lambda: fastgd.minimize(p4, lr=lr4, gtol=0.0, max_iter=300).x),
               ("kernel, gradient only", lambda: (w4_kernel(X4, y4, lr4, 300, W4, F4, False), W4)[1]),
               ("kernel, gradient + loss", lambda: (w4_kernel(X4, y4, lr4, 300, W4, F4, True), W4)[1])],
        "W5": [("fastgd", lambda: fastgd.minimize(p5, lr=lr5, gtol=1e-8, max_iter=3000).x),
               ("kernel, Gram + |g| test", lambda: (w5_kernel(X5, y5, lr5, 1e-8, 3000, W5, nit5), W5)[1])],
    }, {"W4": check4, "W5": check5}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="batch sizes x this (tests: small)")
    args = ap.parse_args(argv)
    cs, checks = contenders(args.scale)
    for w, rows in cs.items():
        for _, fn in rows:
            checks[w](fn())                     # compile, warm up, check
    times = {(w, name): [] for w, rows in cs.items() for name, _ in rows}
    for r in range(args.rounds):
        for w, rows in cs.items():
            for name, fn in rows[r % len(rows):] + rows[:r % len(rows)]:
                t = time.perf_counter()
                fn()
                times[w, name].append(time.perf_counter() - t)
    print("\n".join(machine()))
    print(f"numba threads {numba.get_num_threads()}, {args.rounds} rounds, medians")
    for w, rows in cs.items():
        base = np.median(times[w, "fastgd"])
        for name, _ in rows:
            m = np.median(times[w, name])
            print(f"{w}  {name:26s} {m * 1e3:9.1f} ms  {m / base:5.2f}x fastgd's time")
    return times


if __name__ == "__main__":
    main()
