"""GPU benchmark of fastgd.minimize(device="cuda") against torch CUDA (when importable).

Workloads (from the performance issue):
  W1  B=20000 least squares 64x8 float64, 200 GD iterations
  W2  one least squares 2,000,000x64 float32, 20 GD iterations
  W4  B=5000 logistic 200x20 float32, 300 GD iterations

Achieved bandwidth counts the bytes of X and y one direct gradient evaluation reads
(X once, y once) times the iterations, over the wall time; mode="direct" is forced so
the figure is a memory-bandwidth figure (W1 is also timed in fastgd's automatic mode,
which picks the Gram form there).  The fraction of peak uses the HBM bandwidth of the
GPU model (--peak-gbs to override).

Not a test (no test_ prefix; never collected by pytest).  Needs a CUDA GPU:
    python benchmarks/gpu_bench.py [--out benchmarks/gpu_results.md] [--repeat 3] [--quick]
"""
import argparse
import time

import numpy as np

PEAK_GBS = {"H100 PCIe": 2000.0, "H100 NVL": 3900.0, "H100": 3350.0, "H200": 4800.0,
            "A100-SXM4-80GB": 2039.0, "A100-PCIE-40GB": 1555.0, "A100": 1935.0,
            "L4": 300.0, "T4": 320.0, "V100": 900.0}

WORKLOADS = {
    "W1": dict(B=20000, n=64, d=8, dtype=np.float64, loss="lsq", iters=200, lr=0.05),
    "W2": dict(B=None, n=2_000_000, d=64, dtype=np.float32, loss="lsq", iters=20, lr=0.01),
    "W4": dict(B=5000, n=200, d=20, dtype=np.float32, loss="logistic", iters=300, lr=0.5),
}


def make_data(w, seed=0):
    rng = np.random.default_rng(seed)
    shape = (w["n"], w["d"]) if w["B"] is None else (w["B"], w["n"], w["d"])
    X = rng.standard_normal(shape, dtype=np.float32).astype(w["dtype"])
    if w["loss"] == "logistic":
        y = (rng.uniform(size=shape[:-1]) < 0.5).astype(w["dtype"])
    else:
        y = rng.standard_normal(shape[:-1], dtype=np.float32).astype(w["dtype"])
    return X, y


def bytes_per_iteration(X, y):
    return X.nbytes + y.nbytes


def time_it(fn, repeat, sync):
    fn()  # warm-up: compilation, allocations
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def fastgd_runner(w, X, y, mode):
    import fastgd
    from numba import cuda
    Xd, yd = cuda.to_device(X), cuda.to_device(y)
    cls = fastgd.Logistic if w["loss"] == "logistic" else fastgd.LeastSquares
    problem = cls(Xd, yd)

    def run():
        res = fastgd.minimize(problem, lr=w["lr"], max_iter=w["iters"], gtol=0.0, mode=mode)
        assert (np.asarray(res.nit) == w["iters"]).all(), res.status
        return res
    return run, cuda.synchronize


def torch_runner(w, X, y):
    import torch
    dev = torch.device("cuda")
    Xt = torch.as_tensor(X, device=dev)
    yt = torch.as_tensor(y, device=dev)
    batched = Xt.dim() == 3
    if not batched:
        Xt, yt = Xt[None], yt[None]
    yt = yt[..., None]
    n, lr, iters = w["n"], w["lr"], w["iters"]
    logistic = w["loss"] == "logistic"

    def run():
        wv = torch.zeros((Xt.shape[0], Xt.shape[2], 1), dtype=Xt.dtype, device=dev)
        XT = Xt.transpose(1, 2)
        for _ in range(iters):
            z = torch.bmm(Xt, wv)
            r = torch.sigmoid(z) - yt if logistic else z - yt
            wv -= (lr / n) * torch.bmm(XT, r)
        return wv
    return run, torch.cuda.synchronize


def peak_for(name, override):
    if override:
        return override
    for key in sorted(PEAK_GBS, key=len, reverse=True):
        if key in name:
            return PEAK_GBS[key]
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/gpu_results.md")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peak-gbs", type=float, default=None)
    ap.add_argument("--quick", action="store_true", help="sizes / 10 (a smoke run)")
    ap.add_argument("--workloads", default="W1,W2,W4")
    args = ap.parse_args(argv)

    from numba import cuda
    if not cuda.is_available():
        raise SystemExit("no CUDA GPU available: this benchmark needs one")
    name = cuda.get_current_device().name
    name = name.decode() if isinstance(name, bytes) else str(name)
    peak = peak_for(name, args.peak_gbs)
    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False

    rows = []
    for key in args.workloads.split(","):
        w = dict(WORKLOADS[key])
        if args.quick:
            if w["B"] is None:
                w["n"] //= 10
            else:
                w["B"] //= 10
        X, y = make_data(w)
        nbytes = bytes_per_iteration(X, y) * w["iters"]
        runs = [("fastgd direct", lambda: fastgd_runner(w, X, y, "direct"))]
        if w["loss"] == "lsq":
            runs.append(("fastgd auto", lambda: fastgd_runner(w, X, y, "auto")))
        if has_torch:
            runs.append(("torch CUDA", lambda: torch_runner(w, X, y)))
        for label, make in runs:
            run, sync = make()
            sec = time_it(run, args.repeat, sync)
            gbs = nbytes / sec / 1e9
            frac = f"{gbs / peak:.0%}" if peak and "auto" not in label else "-"
            rows.append((key, label, sec, gbs, frac))
            print(f"{key:3s} {label:14s} {sec * 1e3:10.2f} ms {gbs:9.1f} GB/s {frac}", flush=True)

    lines = [f"GPU: {name} (peak HBM {peak or 'unknown'} GB/s); fastgd {_version()}; "
             f"best of {args.repeat}{' (quick sizes)' if args.quick else ''}", "",
             "| workload | implementation | time (ms) | GB/s (X+y per iteration) | of peak |",
             "|---|---|---:|---:|---:|"]
    for key, label, sec, gbs, frac in rows:
        lines.append(f"| {key} | {label} | {sec * 1e3:.2f} | {gbs:.1f} | {frac} |")
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text)


def _version():
    import fastgd
    return getattr(fastgd, "__version__", "?")


if __name__ == "__main__":
    main()
