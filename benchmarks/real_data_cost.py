"""What an intercept and sample weights cost on W1, W2 and W4 (issue "Real data", item 8).

    python -m benchmarks.real_data_cost [--quick] [--rounds 5] [--markdown FILE]

For each workload shape of the peer comparison (fastgd/bench/workloads.py SIZES), fastgd is
timed four ways in interleaved rounds (min of the rounds, fixed lr, gtol=0 so every variant
runs the same number of iterations): plain, ``fit_intercept=True``, ``sample_weight=`` (uniform
in [0.5, 1.5]) and both.  The figure is each variant's time over the plain one's in the same
round set; the target is <= 1.10.  W1 runs in ``mode="direct"`` and ``"auto"`` (Gram), W2 one
large float32 problem (row blocks), W4 the batched logistic problems.
"""
import argparse
import time

import numpy as np

import fastgd
from fastgd.bench.run import load_note, machine
from fastgd.bench.workloads import SIZES

VARIANTS = ("plain", "intercept", "weights", "both")


def _problem(cls, X, y, sw, variant, **kw):
    return cls(X, y, fit_intercept=variant in ("intercept", "both"),
               sample_weight=sw if variant in ("weights", "both") else None, **kw)


def cases(size):
    """[(name, {variant: () -> Result}, iterations)] over the W1, W2 and W4 shapes."""
    rng = np.random.default_rng(15)
    out = []
    p = SIZES["W1"][size]
    X = rng.standard_normal((p["B"], p["n"], p["d"]))
    y = rng.standard_normal((p["B"], p["n"]))
    sw = rng.uniform(0.5, 1.5, (p["B"], p["n"]))
    for mode in ("direct", "auto"):
        runs = {v: (lambda v=v, mode=mode, it=p["iters"]: fastgd.minimize(
            _problem(fastgd.LeastSquares, X, y, sw, v), lr=0.05, max_iter=it,
            gtol=0.0, mode=mode)) for v in VARIANTS}
        out.append((f"W1 {mode}: B={p['B']} LS {p['n']}x{p['d']} float64", runs, p["iters"]))
    p = SIZES["W2"][size]
    X2 = rng.standard_normal((p["n"], p["d"]), dtype=np.float32)
    y2 = X2 @ rng.standard_normal(p["d"]).astype(np.float32) + 1.0
    sw2 = rng.uniform(0.5, 1.5, p["n"]).astype(np.float32)
    runs = {v: (lambda v=v, it=p["iters"]: fastgd.minimize(
        _problem(fastgd.LeastSquares, X2, y2, sw2, v), lr=0.01, max_iter=it,
        gtol=0.0)) for v in VARIANTS}
    out.append((f"W2: one LS {p['n']}x{p['d']} float32", runs, p["iters"]))
    p = SIZES["W4"][size]
    X4 = rng.standard_normal((p["B"], p["n"], p["d"])).astype(np.float32)
    y4 = (rng.random((p["B"], p["n"])) < 0.5).astype(np.float32)
    sw4 = rng.uniform(0.5, 1.5, (p["B"], p["n"])).astype(np.float32)
    runs = {v: (lambda v=v, it=p["iters"]: fastgd.minimize(
        _problem(fastgd.Logistic, X4, y4, sw4, v), lr=0.1, max_iter=it,
        gtol=0.0)) for v in VARIANTS}
    out.append((f"W4: B={p['B']} logistic {p['n']}x{p['d']} float32", runs, p["iters"]))
    return out


def measure(runs, iters, rounds):
    """{variant: min seconds} over interleaved rounds (one untimed warm-up call each)."""
    for v, fn in runs.items():
        res = fn()
        if not np.all(np.asarray(res.nit) == iters):
            raise RuntimeError(f"{v}: nit != {iters}")
    times = {v: [] for v in runs}
    for _ in range(rounds):
        for v, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[v].append(time.perf_counter() - t0)
    return {v: min(t) for v, t in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the peer run's quick sizes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--markdown", help="also write the table to this file")
    a = ap.parse_args(argv)
    lines = [f"# {line}" for line in machine()] + [f"# {load_note()}",
             "| workload | plain | + intercept | + weights | + both |", "|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for name, runs, iters in cases("quick" if a.quick else "full"):
        t = measure(runs, iters, a.rounds)
        cells = [f"{t['plain'] * 1e3:.1f} ms"] + [
            f"{t[v] * 1e3:.1f} ms ({t[v] / t['plain']:.2f}x)" for v in VARIANTS[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    lines.append(f"# {load_note()}; target: every variant <= 1.10x plain")
    print(lines[-1])
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
