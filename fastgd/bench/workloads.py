"""Workloads W1-W6 of the performance issues, their contenders and their float64 references.

Each ``build_wN(size, peers)`` returns ``(title, contenders, targets)``: contenders are
:class:`fastgd.bench.harness.Contender` (prepare -> timed callable, check -> None or message),
targets(rows) -> list of (text, measured, met).  ``size`` is "full" (the issue's sizes),
"quick" (the < 60 s version of ``fastgd bench``) or "smoke" (toy sizes for CI).
``peers`` is a set of peer families to include: {"numpy", "torch", "jax"}.

Setup outside timing, for every contender alike: data generation, problem construction
(fastgd validates X once there), torch.from_numpy / jax.device_put, JIT compilation and one
warm-up call.  Times are for the solve (or step) itself.
"""
import math
import os
import time

import numpy as np

import fastgd

from . import ceilings
from .harness import CEILING, EXTRA, FASTGD, PEER, Contender, Skip, best_peer, find

SIZES = {
    "W1": {"full": dict(B=20000, n=64, d=8, iters=200),
           "quick": dict(B=2000, n=64, d=8, iters=200),
           "smoke": dict(B=64, n=16, d=4, iters=20)},
    "W2": {"full": dict(n=2_000_000, d=64, iters=20),
           "quick": dict(n=250_000, d=64, iters=20),
           "smoke": dict(n=4096, d=16, iters=5)},
    "W3": {"full": dict(N=50_000_000), "quick": dict(N=5_000_000), "smoke": dict(N=20_000)},
    "W4": {"full": dict(B=5000, n=200, d=20, iters=300),
           "quick": dict(B=500, n=200, d=20, iters=300),
           "smoke": dict(B=32, n=40, d=5, iters=20)},
    "W5": {"full": dict(B=20000, n=64, d=8, max_iter=3000, gtol=1e-8, kappa=100.0, hard=0.1),
           "quick": dict(B=500, n=64, d=8, max_iter=3000, gtol=1e-8, kappa=100.0, hard=0.1),
           "smoke": dict(B=40, n=16, d=4, max_iter=400, gtol=1e-8, kappa=10.0, hard=0.1)},
    # moderate single problems (issue "Fast on every x86 CPU", item 5); softmax: digits-sized
    "W6": {"full": dict(n=20190, d=10, sn=1797, sd=64, k=10, iters=300),
           "quick": dict(n=20190, d=10, sn=1797, sd=64, k=10, iters=100),
           "smoke": dict(n=2000, d=5, sn=300, sd=16, k=4, iters=20)},
}

ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)


# ------------------------------------------------------------------ helpers
def _rng(tag):
    return np.random.default_rng(sum(map(ord, tag)) * 7919)


def _sample(B, k=12, extra=()):
    idx = np.unique(np.concatenate([np.linspace(0, B - 1, min(B, k)).astype(np.int64),
                                    np.asarray(extra, np.int64)]))
    return idx


def _close(got, ref, rtol):
    """None if max|got - ref| <= rtol * max|ref|, else a message."""
    got = np.asarray(got, np.float64)
    if got.shape != ref.shape:
        return f"shape {got.shape} != reference shape {ref.shape}"
    scale = max(np.abs(ref).max(), 1e-30)
    err = np.abs(got - ref).max() / scale
    if not np.isfinite(err) or err > rtol:
        return f"max error {err:.2e} of max|ref| > {rtol:.0e}"
    return None


def _lmax(X):
    """Largest eigenvalue of X^T X / n per problem (float64), X (B, n, d)."""
    X64 = X.astype(np.float64)
    return np.linalg.eigvalsh(np.einsum("bnd,bne->bde", X64, X64) / X.shape[1])[:, -1]


def _torch():
    try:
        import torch
    except ImportError:
        raise Skip("torch not installed (pip install 'fastgd[bench]')") from None
    return torch


def _jax():
    try:
        import jax
    except ImportError:
        raise Skip("jax not installed (pip install 'fastgd[bench]')") from None
    jax.config.update("jax_enable_x64", True)    # W1/W5 are float64; float32 stays float32
    return jax


def _jax_compiled(f, *args, donate=()):
    """AOT-compile f for args; returns (timed callable, compile seconds)."""
    jax = _jax()
    dargs = [jax.device_put(a) for a in args]
    t0 = time.perf_counter()
    comp = jax.jit(f, donate_argnums=donate).lower(*dargs).compile()
    compile_s = time.perf_counter() - t0
    return (lambda: comp(*dargs).block_until_ready()), compile_s


def _minimize(prob, **kw):
    return lambda: fastgd.minimize(prob, **kw)


def _mode_of(prob, mode, max_iter):
    try:
        from fastgd.plan import choose_mode
        return choose_mode(prob, mode, max_iter)
    except Exception:           # internal helper; only used for a note in the table
        return None


def _ratio_target(rows, name, threshold, text, against=None):
    r = find(rows, name)
    ref = find(rows, against) if against else best_peer(rows)
    if r is None or ref is None:
        return (text, "not measured", None)
    v = ref.median / r.median
    return (text, f"{v:.2f}x ({ref.name})", v >= threshold)


def _fraction_target(rows, name, threshold, text):
    r = find(rows, name)
    if r is None or r.ceiling_fraction is None:
        return (text, "not measured", None)
    return (text, f"{100 * r.ceiling_fraction:.0f}%", r.ceiling_fraction >= threshold)


# ------------------------------------------------------- least-squares references
def ref_gd_lsq(X, y, lr, iters, gtol=0.0):
    """Plain GD in float64, one problem at a time: X (K, n, d), y (K, n), lr (K,).
    Stops problem k when ||grad|| <= gtol (gtol > 0).  Returns W (K, d)."""
    K, n, d = X.shape
    W = np.zeros((K, d))
    for k in range(K):
        Xk, yk, w = X[k].astype(np.float64), y[k].astype(np.float64), np.zeros(d)
        for _ in range(iters):
            g = Xk.T @ (Xk @ w - yk) / n
            if gtol > 0 and math.sqrt(g @ g) <= gtol:
                break
            w -= lr[k] * g
        W[k] = w
    return W


def numpy_gd_lsq(X, y, lr, iters):
    """The NumPy peer: batched matmul GD, buffers preallocated. lr (B,)."""
    B, n, d = X.shape
    Xt = X.transpose(0, 2, 1)
    step = (lr / n).astype(X.dtype)[:, None]
    y3 = y[:, :, None]

    def run():
        w = np.zeros((B, d, 1), X.dtype)
        r = np.empty((B, n, 1), X.dtype)
        g = np.empty((B, d, 1), X.dtype)
        for _ in range(iters):
            np.matmul(X, w, out=r)
            r -= y3
            np.matmul(Xt, r, out=g)
            g[:, :, 0] *= step
            w -= g
        return w[:, :, 0]
    return run


def torch_gd_lsq(X, y, lr, iters):
    torch = _torch()
    B, n, d = X.shape
    tX = torch.from_numpy(X)
    tXt = tX.transpose(1, 2)
    ty = torch.from_numpy(y).unsqueeze(2)
    step = torch.from_numpy((lr / n).astype(X.dtype)).unsqueeze(1)

    def run():
        with torch.inference_mode():
            w = torch.zeros((B, d, 1), dtype=tX.dtype)
            r = torch.empty((B, n, 1), dtype=tX.dtype)
            g = torch.empty((B, d, 1), dtype=tX.dtype)
            for _ in range(iters):
                torch.bmm(tX, w, out=r)
                r.sub_(ty)
                torch.bmm(tXt, r, out=g)
                w.sub_(g.mul_(step.unsqueeze(2)))
            return w[:, :, 0].numpy()
    return run


def jax_gd_lsq(X, y, lr, iters):
    jax = _jax()
    jnp, lax = jax.numpy, jax.lax
    n = X.shape[1]

    def one(Xk, yk, lrk):
        def body(_, w):
            return w - (lrk / n) * (Xk.T @ (Xk @ w - yk))
        return lax.fori_loop(0, iters, body, jnp.zeros(Xk.shape[1], Xk.dtype))
    return _jax_compiled(jax.vmap(one), X, y, lr.astype(X.dtype))


# ------------------------------------------------------------------ W1
def build_w1(size, peers):
    p = SIZES["W1"][size]
    B, n, d, iters = p["B"], p["n"], p["d"], p["iters"]
    data = {}

    def data_():
        if not data:
            rng = _rng("W1")
            X = rng.standard_normal((B, n, d))
            y = rng.standard_normal((B, n))
            lr = 1.0 / _lmax(X)
            idx = _sample(B)
            data.update(X=X, y=y, lr=lr, idx=idx,
                        ref=ref_gd_lsq(X[idx], y[idx], lr[idx], iters))
        return data

    def check(out):
        W = out.x if isinstance(out, fastgd.Result) else np.asarray(out)
        if isinstance(out, fastgd.Result) and not (out.nit == iters).all():
            return f"nit != {iters} for some problems"
        return _close(W[data["idx"]], data["ref"], 1e-8)

    def fg(mode):
        def prep():
            D = data_()
            return _minimize(fastgd.LeastSquares(D["X"], D["y"]), lr=D["lr"], gtol=0.0,
                             max_iter=iters, mode=mode)
        return prep

    cs = []
    if "numpy" in peers:
        cs.append(Contender("numpy matmul", PEER, lambda: numpy_gd_lsq(
            data_()["X"], data["y"], data["lr"], iters), check))
    if "torch" in peers:
        cs.append(Contender("torch bmm", PEER, lambda: torch_gd_lsq(
            data_()["X"], data["y"], data["lr"], iters), check))
    if "jax" in peers:
        cs.append(Contender("jax vmap+fori_loop", PEER, lambda: jax_gd_lsq(
            data_()["X"], data["y"], data["lr"], iters), check))
    cs.append(Contender("fastgd auto", FASTGD, fg("auto"), check))
    cs.append(Contender("fastgd direct", FASTGD, fg("direct"), check))

    def targets(rows):
        return [_ratio_target(rows, "fastgd auto", 12, "W1 fastgd auto >= 12x best peer"),
                _ratio_target(rows, "fastgd direct", 3, "W1 fastgd direct >= 3x best peer")]
    title = f"W1 batched least squares: B={B} of {n}x{d} float64, {iters} GD iterations, lr=1/L"
    return title, cs, targets


# ------------------------------------------------------------------ W2
def build_w2(size, peers):
    p = SIZES["W2"][size]
    n, d, iters = p["n"], p["d"], p["iters"]
    nbytes = iters * n * d * 4          # minimum traffic: X read once per iteration
    data = {}

    def data_():
        if not data:
            rng = _rng("W2")
            X = rng.standard_normal((n, d), dtype=np.float32)
            X *= np.linspace(0.5, 1.5, d, dtype=np.float32)
            y = (X @ rng.standard_normal(d).astype(np.float32)
                 + rng.standard_normal(n, dtype=np.float32))
            A, b = np.zeros((d, d)), np.zeros(d)
            for s in range(0, n, 1 << 16):          # float64 Gram, in chunks
                Xc = X[s:s + (1 << 16)].astype(np.float64)
                A += Xc.T @ Xc
                b += Xc.T @ y[s:s + (1 << 16)]
            A /= n
            b /= n
            lr = 1.0 / np.linalg.eigvalsh(A)[-1]
            w = np.zeros(d)                 # float64 GD: grad = A w - b, same iterates as direct
            for _ in range(iters):
                w -= lr * (A @ w - b)
            data.update(X=X, y=y, lr=lr, ref=w)
        return data

    def check(out):
        w = out.x if isinstance(out, fastgd.Result) else out
        return _close(w, data["ref"], 1e-3)

    def numpy_run():
        D = data_()
        X, y, step = D["X"], D["y"], np.float32(D["lr"] / n)
        r, g = np.empty(n, np.float32), np.empty(d, np.float32)

        def run():
            w = np.zeros(d, np.float32)
            for _ in range(iters):
                np.matmul(X, w, out=r)
                np.subtract(r, y, out=r)
                np.matmul(X.T, r, out=g)
                np.multiply(g, step, out=g)
                w -= g
            return w
        return run

    def torch_run():
        torch = _torch()
        D = data_()
        tX, ty = torch.from_numpy(D["X"]), torch.from_numpy(D["y"])
        step = float(np.float32(D["lr"] / n))
        r, g = torch.empty(n), torch.empty(d)

        def run():
            with torch.inference_mode():
                w = torch.zeros(d)
                for _ in range(iters):
                    torch.mv(tX, w, out=r)
                    r.sub_(ty)
                    torch.mv(tX.T, r, out=g)
                    w.add_(g, alpha=-step)
                return w.numpy()
        return run

    def jax_run():
        jax = _jax()
        jnp, lax = jax.numpy, jax.lax
        D = data_()

        def solve(X, y, step):
            def body(_, w):
                return w - step * (X.T @ (X @ w - y))
            return lax.fori_loop(0, iters, body, jnp.zeros(d, X.dtype))
        fn, cs = _jax_compiled(solve, D["X"], D["y"], np.float32(D["lr"] / n))
        return (lambda: np.asarray(fn())), cs

    def fg(mode):
        def prep():
            D = data_()
            prob = fastgd.LeastSquares(D["X"], D["y"])
            c = next(c for c in cs if c.name == f"fastgd {mode}")
            chosen = _mode_of(prob, mode, iters)
            if chosen == "gram":
                c.nbytes = None         # the Gram mode does not read X per iteration
            c.note = f"{chosen} mode" if chosen else ""
            return _minimize(prob, lr=D["lr"], gtol=0.0, max_iter=iters, mode=mode)
        return prep

    def ceiling():
        D = data_()
        return ceilings.read_ceiling(D["X"])

    def check_ceiling(out):
        ref = ceilings.check_read_sum(data["X"])
        tol = 1e-4 * np.abs(data["X"][:4096]).mean() * data["X"].size
        return None if abs(out - ref) <= tol else f"sum {out} != {ref}"

    cs = []
    if "numpy" in peers:
        cs.append(Contender("numpy 2 GEMV", PEER, numpy_run, check, nbytes))
    if "torch" in peers:
        cs.append(Contender("torch mv", PEER, torch_run, check, nbytes))
    if "jax" in peers:
        cs.append(Contender("jax fori_loop", PEER, jax_run, check, nbytes))
    cs.append(Contender("fastgd auto", FASTGD, fg("auto"), check, nbytes))
    cs.append(Contender("fastgd direct", FASTGD, fg("direct"), check, nbytes))
    cs.append(Contender("ceiling: numba read of X", CEILING, ceiling, check_ceiling, n * d * 4,
                        note="one read of X"))

    def targets(rows):
        npy = "numpy 2 GEMV"
        return [_ratio_target(rows, "fastgd direct", 2, "W2 fastgd direct >= 2x NumPy", npy),
                _ratio_target(rows, "fastgd auto", 2, "W2 fastgd auto >= 2x NumPy", npy),
                _fraction_target(rows, "fastgd direct", 0.85,
                                 "W2 fastgd direct >= 85% of the read ceiling")]
    title = f"W2 one least squares: {n}x{d} float32, {iters} GD iterations (GB/s: X once/iter)"
    return title, cs, targets


# ------------------------------------------------------------------ W3
def build_w3(size, peers):
    N = SIZES["W3"][size]["N"]
    lr, b1, b2, eps = ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"]
    nbytes = 7 * 4 * N                  # reads p, g, m, v; writes p, m, v
    data = {}

    def data_():
        if not data:
            rng = _rng("W3")
            p0 = rng.standard_normal(N, dtype=np.float32)
            g = rng.standard_normal(N, dtype=np.float32)
            idx = np.unique(rng.integers(0, N, min(N, 100_000)))
            p64, g64 = p0[idx].astype(np.float64), g[idx].astype(np.float64)
            m = (1 - b1) * g64                      # torch Adam, step 1, zero state
            v = (1 - b2) * g64 * g64
            denom = np.sqrt(v) / math.sqrt(1 - b2) + eps
            data.update(p0=p0, g=g, idx=idx, m=m, v=v, p=p64 - lr / (1 - b1) * m / denom,
                        ceil_p=p64 - 1e-3 * g64, ceil_m=g64, ceil_v=g64 * g64)
        return data

    def fresh():
        D = data_()
        return D["p0"].copy(), np.zeros(N, np.float32), np.zeros(N, np.float32)

    def check_state(p, m, v, keys=("p", "m", "v")):
        D, idx = data, data["idx"]
        for name, got, key in zip(("params", "exp_avg", "exp_avg_sq"), (p, m, v), keys):
            ref = D[key]
            got = np.asarray(got)[idx].astype(np.float64)
            tol = 4 * np.finfo(np.float32).eps * np.abs(ref) + 1e-4 * (lr if name == "params"
                                                                        else np.abs(ref).max())
            bad = ~(np.abs(got - ref) <= tol)
            if bad.any():
                return f"{name}: {bad.sum()} of {len(idx)} sampled entries off the reference"
        return None

    def check(out):
        return check_state(*out)

    def numpy_run():
        p, m, v = fresh()
        g, tmp, t = data["g"], np.empty(N, np.float32), [0]

        def step():
            t[0] += 1
            bc1, bc2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
            np.multiply(m, b1, out=m)                 # m = b1 m + (1 - b1) g
            np.multiply(g, 1 - b1, out=tmp)
            np.add(m, tmp, out=m)
            np.multiply(v, b2, out=v)                 # v = b2 v + (1 - b2) g^2
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, 1 - b2, out=tmp)
            np.add(v, tmp, out=v)
            np.sqrt(v, out=tmp)                       # p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
            np.divide(tmp, math.sqrt(bc2), out=tmp)
            np.add(tmp, eps, out=tmp)
            np.divide(m, tmp, out=tmp)
            np.multiply(tmp, -lr / bc1, out=tmp)
            np.add(p, tmp, out=p)
            return p, m, v
        return step

    def torch_run(flag):
        def prep():
            torch = _torch()
            p, _, _ = fresh()
            param = torch.nn.Parameter(torch.from_numpy(p))
            param.grad = torch.from_numpy(data["g"])
            opt = torch.optim.Adam([param], lr=lr, betas=(b1, b2), eps=eps, **{flag: True})

            def step():
                opt.step()
                st = opt.state[param]
                return param.detach().numpy(), st["exp_avg"].numpy(), st["exp_avg_sq"].numpy()
            return step
        return prep

    def jax_run():
        jax = _jax()
        jnp = jax.numpy

        def adam(p, m, v, g, step_size, bc2_sqrt):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            return p - step_size * m / (jnp.sqrt(v) / bc2_sqrt + eps), m, v
        p, m, v = fresh()
        args = [jax.device_put(a) for a in (p, m, v, data["g"])]
        f32 = np.float32
        t0 = time.perf_counter()
        comp = jax.jit(adam, donate_argnums=(0, 1, 2)).lower(*args, f32(1), f32(1)).compile()
        compile_s = time.perf_counter() - t0
        state, t = args[:3], [0]

        def step():
            t[0] += 1
            out = comp(*state, args[3], f32(lr / (1 - b1 ** t[0])),
                       f32(math.sqrt(1 - b2 ** t[0])))
            jax.block_until_ready(out)
            state[:] = out
            return out
        return step, compile_s

    def fastgd_run():
        try:
            from fastgd import ops
            adam_ = ops.adam_
        except (ImportError, AttributeError) as e:
            raise Skip(f"fastgd.ops.adam_ is not available ({type(e).__name__}: {e}); "
                       f"fastgd's W3 row is skipped until the ops issue lands") from None
        if os.path.dirname(ops.__file__) != os.path.dirname(fastgd.__file__):
            raise Skip(f"fastgd.ops was imported from another checkout ({ops.__file__}, "
                       f"fastgd from {fastgd.__file__}): mixed installs, skipped")
        p, m, v = fresh()
        g, t = data["g"], [0]

        def step():
            t[0] += 1
            adam_(p, g, m, v, step=t[0], lr=lr, betas=(b1, b2), eps=eps)
            return p, m, v
        return step

    def ceiling_run():
        p, m, v = fresh()
        g = data["g"]
        a = np.float32(1e-3)

        def step():
            ceilings.touch_adam_bytes(p, g, m, v, a)
            return p, m, v
        return step

    def check_ceiling(out):
        return check_state(*out, keys=("ceil_p", "ceil_m", "ceil_v"))

    cs = []
    if "numpy" in peers:
        cs.append(Contender("numpy in-place ufuncs", PEER, numpy_run, check, nbytes,
                            recheck=False))
    if "torch" in peers:
        cs.append(Contender("torch Adam foreach", PEER, torch_run("foreach"), check, nbytes,
                            recheck=False))
        cs.append(Contender("torch Adam fused", PEER, torch_run("fused"), check, nbytes,
                            recheck=False))
    if "jax" in peers:
        cs.append(Contender("jax jit (donated)", PEER, jax_run, check, nbytes, recheck=False))
    cs.append(Contender("fastgd ops.adam_", FASTGD, fastgd_run, check, nbytes, recheck=False))
    cs.append(Contender("ceiling: numba 4R+3W", CEILING, ceiling_run, check_ceiling, nbytes,
                        recheck=False, note="same bytes, trivial maths"))

    def targets(rows):
        return [_ratio_target(rows, "fastgd ops.adam_", 0.98,
                              "W3 fastgd >= 0.98x torch fused", "torch Adam fused"),
                _fraction_target(rows, "fastgd ops.adam_", 0.92,
                                 "W3 fastgd >= 92% of the 4R+3W ceiling")]
    title = f"W3 fused Adam step: {N:,} float32 params, torch semantics (GB/s: 7 x 4 B/param)"
    return title, cs, targets


# ------------------------------------------------------------------ W4
def _sigmoid64(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def ref_gd_logistic(X, y, lr, iters):
    K, n, d = X.shape
    W = np.zeros((K, d))
    for k in range(K):
        Xk, yk, w = X[k].astype(np.float64), y[k].astype(np.float64), np.zeros(d)
        for _ in range(iters):
            w -= lr[k] * (Xk.T @ (_sigmoid64(Xk @ w) - yk)) / n
        W[k] = w
    return W


def make_w4(B, n, d, seed="W4"):
    """B logistic problems (float32): Gaussian X, 0/1 labels drawn from a random true w;
    lr = 1/L with L = lambda_max(X^T X / n) / 4."""
    rng = _rng(seed)
    X = rng.standard_normal((B, n, d), dtype=np.float32)
    wt = rng.standard_normal((B, d)) * (2 / math.sqrt(d))
    prob = _sigmoid64(np.einsum("bnd,bd->bn", X.astype(np.float64), wt))
    y = (rng.random((B, n)) < prob).astype(np.float32)
    return X, y, 4.0 / _lmax(X)


def build_w4(size, peers):
    p = SIZES["W4"][size]
    B, n, d, iters = p["B"], p["n"], p["d"], p["iters"]
    data = {}

    def data_():
        if not data:
            X, y, lr = make_w4(B, n, d)
            idx = _sample(B)
            data.update(X=X, y=y, lr=lr, idx=idx,
                        ref=ref_gd_logistic(X[idx], y[idx], lr[idx], iters))
        return data

    def check(out):
        W = out.x if isinstance(out, fastgd.Result) else np.asarray(out)
        return _close(W[data["idx"]], data["ref"], 1e-3)

    def numpy_run():
        D = data_()
        X, y = D["X"], D["y"][:, :, None]
        Xt = X.transpose(0, 2, 1)
        step = (D["lr"] / n).astype(np.float32)[:, None, None]
        f32 = np.float32

        def run():
            w = np.zeros((B, d, 1), np.float32)
            z = np.empty((B, n, 1), np.float32)
            g = np.empty((B, d, 1), np.float32)
            for _ in range(iters):
                np.matmul(X, w, out=z)
                z *= f32(0.5)
                np.tanh(z, out=z)               # sigmoid = (1 + tanh(z/2)) / 2: no overflow
                z += f32(1)
                z *= f32(0.5)
                z -= y
                np.matmul(Xt, z, out=g)
                g *= step
                w -= g
            return w[:, :, 0]
        return run

    def torch_run():
        torch = _torch()
        D = data_()
        tX, ty = torch.from_numpy(D["X"]), torch.from_numpy(D["y"]).unsqueeze(2)
        tXt = tX.transpose(1, 2)
        step = torch.from_numpy((D["lr"] / n).astype(np.float32)).view(B, 1, 1)

        def run():
            with torch.inference_mode():
                w = torch.zeros((B, d, 1))
                z = torch.empty((B, n, 1))
                g = torch.empty((B, d, 1))
                for _ in range(iters):
                    torch.bmm(tX, w, out=z)
                    torch.sigmoid(z, out=z)
                    z.sub_(ty)
                    torch.bmm(tXt, z, out=g)
                    w.sub_(g.mul_(step))
                return w[:, :, 0].numpy()
        return run

    def jax_run():
        jax = _jax()
        jnp, lax = jax.numpy, jax.lax
        D = data_()

        def one(Xk, yk, step):
            def body(_, w):
                return w - step * (Xk.T @ (jax.nn.sigmoid(Xk @ w) - yk))
            return lax.fori_loop(0, iters, body, jnp.zeros(d, Xk.dtype))
        fn, cs = _jax_compiled(jax.vmap(one), D["X"], D["y"], (D["lr"] / n).astype(np.float32))
        return (lambda: np.asarray(fn())), cs

    def fg():
        D = data_()
        return _minimize(fastgd.Logistic(D["X"], D["y"]), lr=D["lr"], gtol=0.0, max_iter=iters)

    cs = []
    if "numpy" in peers:
        cs.append(Contender("numpy matmul", PEER, numpy_run, check))
    if "torch" in peers:
        cs.append(Contender("torch bmm", PEER, torch_run, check))
    if "jax" in peers:
        cs.append(Contender("jax vmap+fori_loop", PEER, jax_run, check))
    cs.append(Contender("fastgd auto", FASTGD, fg, check))

    def targets(rows):
        return [_ratio_target(rows, "fastgd auto", 4, "W4 fastgd >= 4x best peer")]
    title = f"W4 batched logistic: B={B} of {n}x{d} float32, {iters} GD iterations, lr=1/L"
    return title, cs, targets


# ------------------------------------------------------------------ W5
def make_w5(B, n, d, kappa, hard, seed="W5"):
    """B least-squares problems (float64): well conditioned Gaussian X, except a random
    `hard` fraction whose X^T X / n has eigenvalues logspaced over [1/kappa, 1]."""
    rng = _rng(seed)
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    H = np.sort(rng.choice(B, int(round(hard * B)), replace=False))
    if len(H):
        Q = np.linalg.qr(rng.standard_normal((len(H), n, d)))[0]
        V = np.linalg.qr(rng.standard_normal((len(H), d, d)))[0]
        s = np.sqrt(n * np.logspace(0, -math.log10(kappa), d))
        X[H] = np.einsum("hnd,d,hed->hne", Q, s, V)
    return X, y, 1.0 / _lmax(X), H


def build_w5(size, peers):
    p = SIZES["W5"][size]
    B, n, d, max_iter, gtol = p["B"], p["n"], p["d"], p["max_iter"], p["gtol"]
    data = {}

    def data_():
        if not data:
            X, y, lr, H = make_w5(B, n, d, p["kappa"], p["hard"])
            idx = _sample(B, 10, H[:4])
            hpos = np.arange(min(4, len(H)))    # positions in H of sampled hard problems
            data.update(X=X, y=y, lr=lr, H=H, idx=idx, hpos=hpos,
                        ref=ref_gd_lsq(X[idx], y[idx], lr[idx], max_iter, gtol))
        return data

    def check(out):
        W = out.x if isinstance(out, fastgd.Result) else np.asarray(out)
        return _close(W[data["idx"]], data["ref"], 1e-6)

    def check_hard(out):
        D = data
        pos = np.searchsorted(D["idx"], D["H"][D["hpos"]])
        return _close(out.x[D["hpos"]], D["ref"][pos], 1e-6)

    def numpy_mask():
        D = data_()
        X, y3, lr = D["X"], D["y"][:, :, None], D["lr"]
        Xt = X.transpose(0, 2, 1)

        def run():
            w = np.zeros((B, d, 1))
            r, g = np.empty((B, n, 1)), np.empty((B, d, 1))
            active = np.ones(B, bool)
            for _ in range(max_iter):
                np.matmul(X, w, out=r)
                r -= y3
                np.matmul(Xt, r, out=g)
                g /= n
                active &= np.sqrt(np.einsum("bi,bi->b", g[:, :, 0], g[:, :, 0])) > gtol
                if not active.any():
                    break
                w -= (lr * active)[:, None, None] * g
            return w[:, :, 0]
        return run

    def numpy_compact(every=10):
        D = data_()
        X0, y0, lr0 = D["X"], D["y"], D["lr"]

        def run():
            W = np.zeros((B, d))
            ids, X, y, lr = np.arange(B), X0, y0, lr0
            w = np.zeros((B, d, 1))
            active = np.ones(B, bool)
            for it in range(max_iter):
                if it and it % every == 0:          # drop the stopped problems
                    W[ids[~active]] = w[~active, :, 0]
                    ids, X, y, lr, w = ids[active], X[active], y[active], lr[active], w[active]
                    active = active[active]
                    if not len(ids):
                        break
                r = np.matmul(X, w)
                r -= y[:, :, None]
                g = np.matmul(X.transpose(0, 2, 1), r)
                g /= n
                active &= np.sqrt(np.einsum("bi,bi->b", g[:, :, 0], g[:, :, 0])) > gtol
                w -= (lr * active)[:, None, None] * g
            W[ids] = w[:, :, 0]
            return W
        return run

    def torch_mask():
        torch = _torch()
        D = data_()
        tX, ty = torch.from_numpy(D["X"]), torch.from_numpy(D["y"]).unsqueeze(2)
        tXt = tX.transpose(1, 2)
        tlr = torch.from_numpy(D["lr"])

        def run():
            with torch.inference_mode():
                w = torch.zeros((B, d, 1), dtype=torch.float64)
                r = torch.empty((B, n, 1), dtype=torch.float64)
                g = torch.empty((B, d, 1), dtype=torch.float64)
                active = torch.ones(B, dtype=torch.bool)
                for _ in range(max_iter):
                    torch.bmm(tX, w, out=r)
                    r.sub_(ty)
                    torch.bmm(tXt, r, out=g)
                    g.div_(n)
                    active &= torch.linalg.vector_norm(g[:, :, 0], dim=1) > gtol
                    if not bool(active.any()):
                        break
                    w.sub_((tlr * active).view(B, 1, 1) * g)
                return w[:, :, 0].numpy()
        return run

    def jax_while():
        jax = _jax()
        jnp, lax = jax.numpy, jax.lax
        D = data_()

        def one(Xk, yk, lrk):
            def grad(w):
                return Xk.T @ (Xk @ w - yk) / n

            def cond(s):
                return (s[2] < max_iter) & (jnp.sqrt(s[1] @ s[1]) > gtol)

            def body(s):
                w = s[0] - lrk * s[1]
                return w, grad(w), s[2] + 1
            w0 = jnp.zeros(d, Xk.dtype)
            return lax.while_loop(cond, body, (w0, grad(w0), 0))[0]
        fn, cs = _jax_compiled(jax.vmap(one), D["X"], D["y"], D["lr"])
        return (lambda: np.asarray(fn())), cs

    def fg():
        D = data_()
        return _minimize(fastgd.LeastSquares(D["X"], D["y"]), lr=D["lr"], gtol=gtol,
                         max_iter=max_iter)

    def fg_hard():
        D = data_()
        H = D["H"]
        if not len(H):
            raise Skip("no ill-conditioned problems at this size")
        prob = fastgd.LeastSquares(np.ascontiguousarray(D["X"][H]), np.ascontiguousarray(D["y"][H]))
        return _minimize(prob, lr=D["lr"][H], gtol=gtol, max_iter=max_iter)

    cs = []
    if "numpy" in peers:
        cs.append(Contender("numpy mask", PEER, numpy_mask, check))
        cs.append(Contender("numpy compact/10", PEER, numpy_compact, check,
                            note="active set compacted every 10 iterations"))
    if "torch" in peers:
        cs.append(Contender("torch bmm mask", PEER, torch_mask, check))
    if "jax" in peers:
        cs.append(Contender("jax vmap(while_loop)", PEER, jax_while, check))
    cs.append(Contender("fastgd auto", FASTGD, fg, check))
    cs.append(Contender("fastgd hard 10% only", EXTRA, fg_hard, check_hard,
                        note="the ill-conditioned problems alone"))

    def targets(rows):
        out = [_ratio_target(rows, "fastgd auto", 20, "W5 fastgd >= 20x best peer")]
        r, h = find(rows, "fastgd auto"), find(rows, "fastgd hard 10% only")
        text = "W5 fastgd time <= 1.5x its time on the hard 10% alone"
        if r is None or h is None:
            out.append((text, "not measured", None))
        else:
            v = r.median / h.median
            out.append((text, f"{v:.2f}x", v <= 1.5))
        return out
    title = (f"W5 early stopping: B={B} of {n}x{d} float64, {int(round(p['hard'] * 100))}% "
             f"ill conditioned (kappa={p['kappa']:g}), lr=1/L, gtol={gtol:g}, "
             f"max_iter={max_iter}")
    return title, cs, targets


# ------------------------------------------------------------------ W6
def _sigmoid_into(z, out):
    """out = sigmoid(z) = (1 + tanh(z/2)) / 2 (no overflow), in place."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def ref_gd_glm(loss, X, y, lr, iters):
    """Plain float64 GD on one problem: lsq / logistic / poisson (w: (d,)) or softmax
    (y class ids, W: (d, k)); the gradient written out term by term."""
    n, d = X.shape
    if loss == "softmax":
        k = int(y.max()) + 1
        W, onehot = np.zeros((d, k)), np.eye(k)[y.astype(np.int64)]
        for _ in range(iters):
            Z = X @ W
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            W = W - lr * (X.T @ (P - onehot)) / n
        return W
    w = np.zeros(d)
    for _ in range(iters):
        z = X @ w
        if loss == "lsq":
            r = z - y
        elif loss == "logistic":
            r = 1.0 / (1.0 + np.exp(-z)) - y
        else:
            r = np.exp(z) - y
        w = w - lr * (X.T @ r) / n
    return w


def numpy_gd_glm(loss, X, y, lr, iters):
    """The NumPy peer: one problem's GD loop with preallocated buffers (two GEMV or GEMM
    and the loss's ufuncs per iteration)."""
    n, d = X.shape
    step = lr / n
    if loss == "softmax":
        k = int(y.max()) + 1
        onehot = np.eye(k)[y.astype(np.int64)]
        Z, m, G = np.empty((n, k)), np.empty((n, 1)), np.empty((d, k))

        def run():
            W = np.zeros((d, k))
            for _ in range(iters):
                np.matmul(X, W, out=Z)
                np.max(Z, axis=1, keepdims=True, out=m)
                np.subtract(Z, m, out=Z)
                np.exp(Z, out=Z)
                np.sum(Z, axis=1, keepdims=True, out=m)
                np.divide(Z, m, out=Z)
                np.subtract(Z, onehot, out=Z)
                np.matmul(X.T, Z, out=G)
                np.multiply(G, step, out=G)
                W -= G
            return W
        return run
    z, g = np.empty(n), np.empty(d)

    def run():
        w = np.zeros(d)
        for _ in range(iters):
            np.matmul(X, w, out=z)
            if loss == "logistic":
                _sigmoid_into(z, z)
            elif loss == "poisson":
                np.exp(z, out=z)
            np.subtract(z, y, out=z)
            np.matmul(X.T, z, out=g)
            np.multiply(g, step, out=g)
            w -= g
        return w
    return run


def make_w6(loss, n, d, k=None):
    """(problem, X, y, lr) of one moderate problem (float64, seeded): Gaussian X for the row
    losses, 0..16 pixel-like X / 16 for softmax (digits-sized); lr = 1/L of the loss's
    curvature bound at the start (Poisson: max(1, max y) lambda_max, Armijo's start)."""
    rng = _rng("W6" + loss)
    if loss == "softmax":
        X = rng.integers(0, 17, (n, d)).astype(np.float64) / 16.0
        logits = (X - X.mean(0)) @ rng.standard_normal((d, k)) + rng.gumbel(size=(n, k))
        y = logits.argmax(1).astype(np.float64)
        y[:k] = np.arange(k)                      # every class present
        prob = fastgd.Softmax(X, y, k)
        curv = 0.5
    else:
        X = rng.standard_normal((n, d)) / math.sqrt(d)
        z = X @ rng.standard_normal(d)
        if loss == "lsq":
            y, prob, curv = z + 0.3 * rng.standard_normal(n), fastgd.LeastSquares, 1.0
        elif loss == "logistic":
            y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
            prob, curv = fastgd.Logistic, 0.25
        else:
            y = rng.poisson(np.exp(0.5 * z)).astype(np.float64)
            prob, curv = fastgd.Poisson, max(1.0, float(y.max()))
        prob = prob(X, y)
    lam = np.linalg.eigvalsh(X.T @ X / n)[-1]
    return prob, X, y, 1.0 / (curv * lam)


def build_w6(size, peers):
    p = SIZES["W6"][size]
    iters = p["iters"]
    shapes = {"lsq": (p["n"], p["d"]), "logistic": (p["n"], p["d"]),
              "poisson": (p["n"], p["d"]), "softmax": (p["sn"], p["sd"])}
    data = {}

    def data_(loss):
        if loss not in data:
            n, d = shapes[loss]
            prob, X, y, lr = make_w6(loss, n, d, p["k"])
            data[loss] = dict(prob=prob, X=X, y=y, lr=lr,
                              ref=ref_gd_glm(loss, X, y, lr, iters))
        return data[loss]

    def check_of(loss):
        def check(out):
            if isinstance(out, fastgd.Result):
                if out.nit != iters:
                    return f"nit {out.nit} != {iters}: {out.message}"
                out = out.x
            return _close(out, data[loss]["ref"], 1e-9)
        return check

    def fg(loss, rows):
        def prep():
            D = data_(loss)
            solve = _minimize(D["prob"], lr=D["lr"], gtol=0.0, max_iter=iters, mode="direct")
            if not rows:
                return solve

            def as_before():                       # every large problem on row blocks
                saved = fastgd.config.SERIAL_MAX_BYTES
                fastgd.config.SERIAL_MAX_BYTES = 0
                try:
                    return solve()
                finally:
                    fastgd.config.SERIAL_MAX_BYTES = saved
            return as_before
        return prep

    cs = []
    for loss in shapes:
        n, d = shapes[loss]
        if "numpy" in peers:
            cs.append(Contender(f"numpy loop {loss}", PEER, lambda loss=loss: numpy_gd_glm(
                loss, *(data_(loss)[key] for key in ("X", "y", "lr")), iters),
                check_of(loss), group=loss, note=f"{n}x{d}"))
        cs.append(Contender(f"fastgd {loss}", FASTGD, fg(loss, False), check_of(loss),
                            group=loss, note=f"{n}x{d}"))
        cs.append(Contender(f"fastgd {loss} row blocks", EXTRA, fg(loss, True), check_of(loss),
                            group=loss, note="SERIAL_MAX_BYTES=0: the parallel row pass"))

    def targets(rows):
        out = []
        for loss in shapes:
            r, ref = find(rows, f"fastgd {loss}"), find(rows, f"numpy loop {loss}")
            text = f"W6 fastgd {loss} >= 1x the NumPy loop"
            if r is None or ref is None:
                out.append((text, "not measured", None))
                continue
            v = ref.median / r.median
            out.append((text, f"{v:.2f}x ({1e3 * r.median / iters:.3f} vs "
                              f"{1e3 * ref.median / iters:.3f} ms/iteration)", v >= 1.0))
        return out
    title = (f"W6 moderate single problems: {p['n']}x{p['d']} float64 lsq/logistic/poisson, "
             f"softmax {p['sn']}x{p['sd']} k={p['k']}, {iters} GD iterations, lr=1/L "
             f"(time per call; ratio per problem)")
    return title, cs, targets


BUILDERS = {"W1": build_w1, "W2": build_w2, "W3": build_w3, "W4": build_w4, "W5": build_w5,
            "W6": build_w6}
