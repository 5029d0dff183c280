"""Many starts of a smooth objective: fastgd (one batch) against scipy.optimize.minimize in a loop.

    python -m benchmarks.multistart                   # 10,000 starts (minutes on 2 cores)
    python -m benchmarks.multistart --starts 1000     # smaller
    python -m benchmarks.multistart --quick           # 200 starts, CI-sized

Time to all starts converged, on Himmelblau (2-D, four minima; starts in [-5, 5]^2) and the
10-D Rosenbrock function (starts in [-2, 2]^10; a second local minimum near (-1, 1, ..., 1)).
fastgd: ``fastgd.minimize(Objective(fun, grad), method, x0=X0, lr=...)`` with gd + Armijo on
Himmelblau and bb (Barzilai-Borwein, non-monotone line search) on Rosenbrock (each start stops
when its gradient norm is <= gtol; converged starts stop costing time);
scipy: ``scipy.optimize.minimize(fun, x0, jac=grad, method=...)`` per start, with the same
compiled (numba.njit) fun and gradient, for L-BFGS-B and BFGS (quasi-Newton: far fewer
iterations than gradient descent, so this is the fair competitor a user would run).  scipy's
gtol is on the largest gradient entry, fastgd's on the Euclidean norm (stricter).  The timed
call excludes compilation (one warm-up call on 2 starts first).  JAX (vmap of a while loop
running the same method with the same step rules) is timed when jax is installed.
"""
import argparse
import platform
import subprocess
import sys
import time

import numba
import numpy as np


@numba.njit(cache=True)
def himmelblau(w):
    return (w[0] ** 2 + w[1] - 11.0) ** 2 + (w[0] + w[1] ** 2 - 7.0) ** 2


@numba.njit(cache=True)
def himmelblau_grad(w, out):
    a = w[0] ** 2 + w[1] - 11.0
    b = w[0] + w[1] ** 2 - 7.0
    out[0] = 4.0 * a * w[0] + 2.0 * b
    out[1] = 2.0 * a + 4.0 * b * w[1]


@numba.njit(cache=True)
def rosenbrock(w):
    f = 0.0
    for i in range(w.shape[0] - 1):
        f += (1.0 - w[i]) ** 2 + 100.0 * (w[i + 1] - w[i] ** 2) ** 2
    return f


@numba.njit(cache=True)
def rosenbrock_grad(w, out):
    d = w.shape[0]
    for i in range(d):
        out[i] = 0.0
    for i in range(d - 1):
        t = w[i + 1] - w[i] ** 2
        out[i] += -2.0 * (1.0 - w[i]) - 400.0 * w[i] * t
        out[i + 1] += 200.0 * t


# name: (fun, grad, d, box, fastgd options)
CASES = {
    "himmelblau": (himmelblau, himmelblau_grad, 2, 5.0,
                   dict(lr=0.02, line_search="armijo", max_iter=100_000)),
    "rosenbrock10": (rosenbrock, rosenbrock_grad, 10, 2.0,
                     dict(method="bb", lr=1e-3, max_iter=200_000)),
}
GTOL = 1e-6


def fastgd_run(case, X0):
    import fastgd
    fun, grad, d, _, opts = CASES[case]
    obj = fastgd.Objective(fun, grad)
    fastgd.minimize(obj, x0=X0[:2].copy(), gtol=GTOL, **opts)  # compile, outside the timing
    t = time.perf_counter()
    res = fastgd.minimize(obj, x0=X0, gtol=GTOL, **opts)
    secs = time.perf_counter() - t
    return secs, res.x, res.fun, res.success, res.nit


def scipy_run(case, X0, method, limit_s):
    from scipy.optimize import minimize
    fun, grad, d, _, _ = CASES[case]

    def jac(w):
        out = np.empty_like(w)
        grad(w, out)
        return out

    xs, fs, ok = [], [], []
    minimize(fun, X0[0], jac=jac, method=method, options=dict(gtol=GTOL))  # warm
    t = time.perf_counter()
    for x0 in X0:
        r = minimize(fun, x0, jac=jac, method=method, options=dict(gtol=GTOL, maxiter=100_000))
        xs.append(r.x)
        fs.append(r.fun)
        ok.append(r.success)
        if time.perf_counter() - t > limit_s:
            break
    secs = time.perf_counter() - t
    n = len(xs)
    return secs * len(X0) / n, np.array(xs), np.array(fs), np.array(ok), n


def jax_run(case, X0):  # pragma: no cover - jax is optional
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    _, _, d, _, opts = CASES[case]
    if case == "himmelblau":
        def f(w):
            return (w[0] ** 2 + w[1] - 11.0) ** 2 + (w[0] + w[1] ** 2 - 7.0) ** 2
    else:
        def f(w):
            return jnp.sum((1.0 - w[:-1]) ** 2 + 100.0 * (w[1:] - w[:-1] ** 2) ** 2)
    g = jax.grad(f)
    lr0 = opts["lr"]

    def one(w0):  # gradient descent with Armijo backtracking, as fastgd runs it
        def cond(s):
            w, lr, t = s
            gw = g(w)
            return (jnp.sqrt(gw @ gw) > GTOL) & (t < opts["max_iter"])

        def body(s):
            w, lr, t = s
            gw = g(w)
            fw = f(w)

            def bcond(a):
                return f(w - a * gw) > fw - 1e-4 * a * (gw @ gw)
            a = jax.lax.while_loop(bcond, lambda a: a / 2, lr)
            return w - a * gw, a, t + 1
        return jax.lax.while_loop(cond, body, (w0, lr0, 0))[0]
    def one_bb(w0):  # Barzilai-Borwein with Zhang-Hager's non-monotone test, as fastgd's "bb"
        def cond(s):
            w, gw, a, C, Q, t = s
            return (jnp.sqrt(gw @ gw) > GTOL) & (t < opts["max_iter"])

        def body(s):
            w, gw, a, C, Q, t = s
            gg = gw @ gw

            def bcond(b):
                return f(w - b * gw) > C - 1e-4 * b * gg
            b = jax.lax.while_loop(bcond, lambda b: b / 2, a)
            w1 = w - b * gw
            g1 = g(w1)
            sv, yv = w1 - w, g1 - gw
            sy = sv @ yv
            q = (sv @ sv) / sy
            a1 = jnp.where((sy > 0) & jnp.isfinite(q), jnp.clip(q, lr0 * 1e-10, lr0 * 1e10), b)
            Q1 = 0.85 * Q + 1.0
            C1 = (0.85 * Q * C + f(w1)) / Q1
            return w1, g1, a1, C1, Q1, t + 1
        return jax.lax.while_loop(cond, body, (w0, g(w0), lr0, f(w0), 1.0, 0))[0]
    run = jax.jit(jax.vmap(one_bb if opts.get("method") == "bb" else one))
    run(jnp.asarray(X0[:2])).block_until_ready()
    t = time.perf_counter()
    x = np.asarray(run(jnp.asarray(X0)).block_until_ready())
    return time.perf_counter() - t, x


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return " ".join(ln.split(":", 1)[1].strip() for ln in out.splitlines()
                        if ln.startswith(("Model name", "CPU(s):")))
    except OSError:
        return platform.processor()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=10_000)
    p.add_argument("--quick", action="store_true", help="200 starts")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--scipy-limit-s", type=float, default=120.0,
                   help="stop a scipy loop after this long and extrapolate (120)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    n = 200 if args.quick else args.starts
    print(f"multistart benchmark: {n} starts, gtol {GTOL:g}; CPU {cpu_name()}, "
          f"{numba.get_num_threads()} threads; numpy {np.__version__}, numba {numba.__version__}")
    rows = []
    for case in args.cases.split(","):
        fun, grad, d, box, opts = CASES[case]
        X0 = np.random.default_rng(args.seed).uniform(-box, box, (n, d))
        secs, x, f, ok, nit = fastgd_run(case, X0)
        label = "fastgd " + opts.get("method", "gd") + ("+armijo" if "line_search" in opts else "")
        print(f"\n{case} (d={d}): {label} {secs:.3f} s, {ok.mean():.1%} converged, "
              f"iterations median {np.median(nit):g} max {nit.max()}", flush=True)
        rows.append((case, label, secs, ok.mean()))
        best_peer = np.inf
        for method in ("L-BFGS-B", "BFGS"):
            s_secs, sx, sf, sok, done = scipy_run(case, X0, method, args.scipy_limit_s)
            note = "" if done == n else f" (extrapolated from {done} starts)"
            # the same minima? compare the lowest value reached and the share at it
            print(f"  scipy {method} loop {s_secs:.3f} s{note}, {sok.mean():.1%} converged, "
                  f"fastgd/scipy lowest f {f.min():.2e}/{sf.min():.2e}", flush=True)
            rows.append((case, f"scipy {method} loop", s_secs, sok.mean()))
            best_peer = min(best_peer, s_secs)
        try:
            j_secs, _ = jax_run(case, X0)
            print(f"  jax vmap(while_loop), the same method {j_secs:.3f} s")
            rows.append((case, "jax vmap(while_loop), same method", j_secs, float("nan")))
            best_peer = min(best_peer, j_secs)
        except ImportError:
            print("  jax: not installed, skipped")
        print(f"  fastgd speed-up over the best peer: {best_peer / secs:.1f}x")
    print("\n| case | contender | time to all starts converged (s) | converged |")
    print("|---|---|---|---|")
    for case, who, secs, frac in rows:
        print(f"| {case} | {who} | {secs:.3f} | {frac:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
