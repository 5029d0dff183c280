"""One CSR least-squares iteration (X w and X^T r) against scipy.sparse and the read ceiling.

    python -m benchmarks.csr_pass [--n 1000000] [--d 100000] [--nnz-row 20] [--iters 20]

Per iteration, in interleaved rounds (best of --rounds):
``fastgd``  ``minimize(LeastSquares(X_csr, y), lr=..., max_iter=iters, gtol=0)`` / iters
            (its row pass reads data and indices once for both products);
``scipy``   ``r = X @ w - y; g = X.T @ r / n`` (two scipy.sparse matvecs);
``ceiling`` a trivial Numba read of data and of indices (fastgd.bench.ceilings.read_sum),
            the bytes one pass must move at least.
Reports each as ms per iteration, GB/s of data + indices, and fastgd against both.
"""
import argparse
import time

import numpy as np

import fastgd
from fastgd.bench.ceilings import read_sum
from fastgd.bench.run import load_note, machine


def _best(fn, rounds_of):
    return min(rounds_of[fn]) if rounds_of[fn] else float("inf")


def random_csr(n, d, nnz_row, dtype, index_dtype, seed=0):
    """A CSR matrix with nnz_row sorted, distinct column indices per row."""
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, d, size=(n, nnz_row)), axis=1)
    cols += np.arange(nnz_row)  # strictly increasing within a row: distinct
    cols %= d
    cols.sort(axis=1)
    keep = np.ones_like(cols, bool)
    keep[:, 1:] = cols[:, 1:] != cols[:, :-1]
    counts = keep.sum(axis=1)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    data = rng.standard_normal(int(indptr[-1])).astype(dtype)
    X = sp.csr_matrix((data, cols[keep].astype(index_dtype), indptr.astype(index_dtype)),
                      shape=(n, d))
    X.has_sorted_indices = True
    return X


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=100_000)
    ap.add_argument("--nnz-row", type=int, default=20)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dtype", default="float64")
    args = ap.parse_args(argv)
    dt = np.dtype(args.dtype)
    X = random_csr(args.n, args.d, args.nnz_row, dt, np.int32)
    rng = np.random.default_rng(1)
    y = (X @ rng.standard_normal(args.d) + 0.1 * rng.standard_normal(args.n)).astype(dt)
    n, it = args.n, args.iters
    problem = fastgd.LeastSquares(X, y)
    lr = 0.1
    opts = dict(lr=lr, max_iter=it, gtol=0.0)
    fastgd.minimize(problem, **dict(opts, max_iter=1))  # compile

    def run_fastgd():
        return fastgd.minimize(problem, **opts).x

    def run_scipy():
        w = np.zeros(args.d, dt)
        for _ in range(it):
            r = X @ w - y
            w -= lr * (X.T @ r) / n
        return w

    def run_ceiling():
        for _ in range(it):
            read_sum(X.data)
            read_sum(X.indices)

    run_ceiling()  # compile
    times = {f: [] for f in (run_fastgd, run_scipy, run_ceiling)}
    for _ in range(args.rounds):
        for f in times:
            t = time.perf_counter()
            out = f()
            times[f].append((time.perf_counter() - t) / it)
            if f is run_fastgd:
                w_fast = out
            elif f is run_scipy:
                w_sp = out
    err = float(np.abs(w_fast - w_sp).max() / max(1e-30, np.abs(w_sp).max()))
    nbytes = X.data.nbytes + X.indices.nbytes
    tf, ts, tc = (_best(f, times) for f in (run_fastgd, run_scipy, run_ceiling))
    print(f"# CSR least squares {n} x {args.d}, {X.nnz} stored ({X.nnz / n:.1f} a row), "
          f"{dt}, int32 indices: data + indices {nbytes / 2**20:.0f} MiB; {it} iterations, "
          f"best of {args.rounds} interleaved rounds")
    for line in machine() + [load_note()]:
        print(f"# {line}")
    print("| contender | ms / iteration | GB/s (data + indices) | its time / fastgd's |")
    print("|---|---|---|---|")
    for name, t in (("fastgd (one row pass: X w and X^T r)", tf),
                    ("scipy.sparse (X @ w, X.T @ r)", ts),
                    ("read ceiling (data, indices once)", tc)):
        print(f"| {name} | {t * 1e3:.2f} | {nbytes / t / 1e9:.1f} | "
              f"{'-' if t is tf else f'{t / tf:.2f}x'} |")
    print(f"fastgd at {tc / tf:.0%} of the read ceiling, {ts / tf:.2f}x scipy; "
          f"max rel. difference fastgd vs scipy iterates: {err:.1e}")


if __name__ == "__main__":
    main()
