"""Checks of fastgd's GPU solver (device="cuda") against independent references and the CPU.

Run by tests/test_gpu_solve.py in a subprocess with NUMBA_ENABLE_CUDASIM=1 (the CUDA
simulator must be on before numba.cuda initialises), or in-process on a real GPU.
``python tests/gpu_cases.py [case ...]`` prints one JSON line per case:
{"case": name, "ok": bool, "error": traceback or null, "seconds": float}.
Sizes are tiny: every case also runs in the simulator.
"""
import json
import os
import sys
import time
import traceback

import numpy as np

# The simulator's barrier busy-waits in the main thread: hand the GIL over quickly.
sys.setswitchinterval(2e-5)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cudasim_patch  # noqa: E402

cudasim_patch.install()  # before any kernel runs: the simulator's shared arrays, made thread-safe

import fastgd  # noqa: E402
from fastgd import Status  # noqa: E402
from reference import (  # noqa: E402
    armijo_growth_run, bb_run, gd_run, lipschitz, logistic_loss_grad, lstsq_loss_grad,
    nesterov_restart_run, torch_run,
)

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def cuda():
    from numba import cuda as c
    return c


def dev(a):
    return cuda().to_device(np.ascontiguousarray(a))


def host(a):
    return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)


def is_device(a):
    return hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray)


def pointer(a):
    if hasattr(a, "__cuda_array_interface__"):
        return a.__cuda_array_interface__["data"][0]
    return a._ary.__array_interface__["data"][0]  # simulator array


def data(seed, B, n, d, dtype=np.float64, logistic=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, n, d)).astype(dtype)
    if logistic:
        y = (rng.uniform(size=(B, n)) < 1 / (1 + np.exp(-X @ rng.standard_normal(d)))).astype(dtype)
    else:
        y = rng.standard_normal((B, n)).astype(dtype)
    return X, y


def raises(exc, match, fn):
    """fn() raises exc with `match` in its message."""
    try:
        fn()
    except exc as e:
        assert match in str(e), str(e)
    else:
        raise AssertionError(f"no {exc.__name__} ({match})")


def same_as_cpu(gpu, cpu, rtol):
    """Every Result field of a GPU solve agrees with the CPU solve to rounding."""
    np.testing.assert_allclose(host(gpu.x), cpu.x, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(gpu.nit, cpu.nit)
    np.testing.assert_array_equal(gpu.status, cpu.status)
    np.testing.assert_allclose(gpu.fun, cpu.fun, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(gpu.grad_norm, cpu.grad_norm, rtol=max(rtol, 1e-6), atol=rtol)
    np.testing.assert_allclose(gpu.lr, cpu.lr, rtol=rtol)
    if cpu.history is None:
        assert gpu.history is None
    else:
        np.testing.assert_allclose(gpu.history, cpu.history, rtol=rtol, atol=rtol * 1e-3)


# ------------------------------------------------------------------ cases
@case
def lstsq_converges_to_numpy_lstsq():
    X, y = data(1, 3, 16, 3)
    res = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), lr="auto", gtol=1e-9,
                          max_iter=400, mode="direct")
    assert is_device(res.x) and res.x.shape == (3, 3)
    assert isinstance(res.fun, np.ndarray) and isinstance(res.status, np.ndarray)
    assert res.success.all(), res.message
    assert (res.status == Status.GTOL).all()
    for b in range(3):
        ref = np.linalg.lstsq(X[b], y[b], rcond=None)[0]
        np.testing.assert_allclose(host(res.x)[b], ref, rtol=1e-6, atol=1e-9)
        assert res.lr[b] == np.float64(1 / lipschitz(X[b])) or abs(
            res.lr[b] * lipschitz(X[b]) - 1) < 1e-3
        f_ref, g_ref = lstsq_loss_grad(X[b], y[b], host(res.x)[b])
        np.testing.assert_allclose(res.fun[b], f_ref, rtol=1e-12)
        assert res.grad_norm[b] <= 1e-9
        np.testing.assert_allclose(res.grad_norm[b], np.linalg.norm(g_ref), rtol=1e-3, atol=1e-13)


@case
def every_method_follows_the_torch_formulas():
    for dtype, rtol in ((np.float64, 1e-11), (np.float32, 2e-5)):
        X, y = data(2, 2, 16, 3, dtype)
        X_d, y_d = dev(X), dev(y)
        for method in ("gd", "momentum", "nesterov", "adam"):
            lr = 0.05
            res = fastgd.minimize(fastgd.LeastSquares(X_d, y_d, l2=0.1), method=method, lr=lr,
                                  max_iter=4, gtol=0, history=1)
            assert res.x.dtype == dtype and res.fun.dtype == dtype
            assert (res.nit == 4).all() and (res.status == Status.MAX_ITER).all()
            for b in range(2):
                grad = lambda w: lstsq_loss_grad(X[b], y[b], w, l2=0.1)[1]  # noqa: E731
                ref = gd_run(grad, np.zeros(3), lr, 4, method)
                np.testing.assert_allclose(host(res.x)[b], ref, rtol=rtol, atol=rtol * 1e-2,
                                           err_msg=f"{method} {dtype.__name__}")
                f_ref = lstsq_loss_grad(X[b], y[b], ref, l2=0.1)[0]
                np.testing.assert_allclose(res.history[4, b], f_ref, rtol=rtol * 10)
                np.testing.assert_allclose(res.history[0, b],
                                           lstsq_loss_grad(X[b], y[b], np.zeros(3))[0],
                                           rtol=rtol)


@case
def rmsprop_and_adagrad_follow_torch_optim():
    import torch
    make = {"rmsprop": lambda lr: (lambda ps: torch.optim.RMSprop(ps, lr=lr)),
            "adagrad": lambda lr: (lambda ps: torch.optim.Adagrad(ps, lr=lr))}
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 2e-5)):
        X, y = data(31, 2, 16, 3, dtype)
        x0 = np.random.default_rng(7).standard_normal((2, 3)).astype(dtype)
        for method in ("rmsprop", "adagrad"):
            res = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y), l2=0.1), method=method,
                                  lr=0.02, x0=dev(x0), max_iter=5, gtol=0)
            assert (res.nit == 5).all() and host(res.x).dtype == dtype
            for b in range(2):
                grad = lambda w: lstsq_loss_grad(X[b], y[b], w, l2=0.1)[1]  # noqa: E731
                ref = torch_run(grad, x0[b], 5, make[method](0.02))
                np.testing.assert_allclose(host(res.x)[b], ref, rtol=rtol, atol=rtol * 1e-1,
                                           err_msg=f"{method} {dtype.__name__}")


@case
def bb_restart_and_armijo_growth_agree_with_references_and_cpu():
    X, y = data(32, 3, 16, 3)
    lg = lambda b: (lambda w: lstsq_loss_grad(X[b], y[b], w))  # noqa: E731
    # bb, per problem (the large lr backtracks first)
    lrs = np.array([0.01, 0.1, 5.0])
    kw = dict(method="bb", lr=lrs, max_iter=8, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **kw)
    same_as_cpu(gpu, cpu, 1e-9)
    for b in range(3):
        ref = bb_run(lg(b), np.zeros(3), lrs[b], 8)[0]
        np.testing.assert_allclose(host(gpu.x)[b], ref, rtol=1e-9, atol=1e-11)
    # nesterov with adaptive restart
    kw = dict(method="nesterov", restart=True, momentum=0.95, lr=0.2, max_iter=40, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **kw)
    for b in range(3):
        ref, restarts = nesterov_restart_run(lg(b), np.zeros(3), 0.2, 40, momentum=0.95)
        assert restarts > 0
        np.testing.assert_allclose(host(gpu.x)[b], ref, rtol=1e-9, atol=1e-11)
    # Armijo's step grows back after shrinking
    kw = dict(method="gd", lr=3.0, line_search="armijo", max_iter=30, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **kw)
    same_as_cpu(gpu, cpu, 1e-9)
    for b in range(3):
        ref, _, steps = armijo_growth_run(lg(b), np.zeros(3), 3.0, 30)
        # steps near 2/L amplify the rounding of the two summation orders: 1e-7 after 30
        np.testing.assert_allclose(host(gpu.x)[b], ref, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(gpu.lr[b], steps[-1], rtol=1e-12)
    # a loss 1e3 x its start at max_iter is DIVERGED, the last iterate kept
    lr = np.array([2.2, 0.5, 2.2]) / np.array([lipschitz(X[b]) for b in range(3)])
    kw = dict(lr=lr, max_iter=60, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **kw)
    same_as_cpu(gpu, cpu, 1e-9)
    assert list(gpu.status) == [Status.DIVERGED, Status.MAX_ITER, Status.DIVERGED]
    assert (gpu.nit == 60).all()


@case
def logistic_armijo_history_agree_with_cpu():
    # float64 only: a float32 CPU solve would compile a second CPU specialisation here
    for dtype, rtol in ((np.float64, 1e-9),):
        X, y = data(3, 3, 16, 3, dtype, logistic=True)
        opts = dict(method="gd", lr=20.0, line_search="armijo", max_iter=10, gtol=0,
                    history=3)
        gpu = fastgd.minimize(fastgd.Logistic(dev(X), dev(y), l2=0.05), **opts)
        cpu = fastgd.minimize(fastgd.Logistic(X, y, l2=0.05), **opts)
        same_as_cpu(gpu, cpu, rtol)
        assert (gpu.lr < 20.0).all()  # the line search shrank the step
        for b in range(3):
            f_ref = logistic_loss_grad(X[b], y[b], host(gpu.x)[b], l2=0.05)[0]
            np.testing.assert_allclose(gpu.fun[b], f_ref, rtol=rtol)


@case
def gram_mode_auto_lr_and_adam_agree_with_cpu():
    X, y = data(4, 3, 16, 3)
    for method in ("momentum", "adam"):
        opts = dict(method=method, lr="auto" if method != "adam" else 0.1, max_iter=15,
                    gtol=1e-3, mode="gram", history=4)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y), l2=0.01), **opts)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.01), **opts)
        same_as_cpu(gpu, cpu, 1e-9)


@case
def divergence_is_per_problem_with_last_finite_iterate():
    X, y = data(5, 3, 16, 3)
    lrs = np.array([0.05, 1e4, 0.05])
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), lr=lrs, max_iter=30, gtol=0)
    assert list(gpu.status) == [Status.MAX_ITER, Status.DIVERGED, Status.MAX_ITER]
    assert list(gpu.success) == [False, False, False]
    x = host(gpu.x)
    assert np.isfinite(x).all() and np.isfinite(gpu.fun).all()
    assert "diverged" in gpu.message[1]
    for b in range(3):
        grad = lambda w: lstsq_loss_grad(X[b], y[b], w)[1]  # noqa: E731
        np.testing.assert_allclose(x[b], gd_run(grad, np.zeros(3), lrs[b], gpu.nit[b]),
                                   rtol=1e-10)
    assert gpu.nit[0] == gpu.nit[2] == 30 and 0 < gpu.nit[1] < 30
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), lr=lrs, max_iter=30, gtol=0)
    same_as_cpu(gpu, cpu, 1e-10)


@case
def per_problem_stopping_statuses_agree_with_cpu():
    X, y = data(6, 4, 16, 3)
    x0 = np.zeros((4, 3))
    x0[0] = np.linalg.lstsq(X[0], y[0], rcond=None)[0]  # already optimal: GTOL at nit 0
    for opts in (dict(gtol=1e-4), dict(gtol=0, xtol=1e-3), dict(gtol=0, ftol=1e-4),
                 dict(gtol=1e-12, rtol=1e-2)):
        kw = dict(method="nesterov", lr=0.05, max_iter=40, history=5, **opts)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), x0=dev(x0), **kw)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y), x0=x0, **kw)
        same_as_cpu(gpu, cpu, 1e-9)
        if "gtol" in opts and opts["gtol"] > 0:
            assert gpu.status[0] == Status.GTOL and gpu.nit[0] == 0
        # after a stop, the remaining history records repeat the final loss
        for b in range(4):
            k = gpu.nit[b] // 5
            assert (gpu.history[k + 1:, b] == gpu.fun[b]).all()
        assert len(set(gpu.nit.tolist())) > 1  # problems stopped at different iterations


@case
def decisions_at_the_edges_agree_with_cpu():
    """The cases where the CPU and GPU drivers once disagreed, now one set of decisions:
    statuses, nit and x equal, each against the outcome the contract prescribes."""
    # a trial point with a finite loss but a non-finite gradient (float32): 10^4 rows of
    # x = y = 1e16 (inside the data range check), lr = 1e-29 puts the trial at w = 1e3,
    # residuals 1e19, loss 5e37 (finite, far under the divergence limit) and a gradient
    # sum of 10^4 products 1e35 (over float32's 3.4e38; direct mode sums in float32).
    # It is rejected: DIVERGED at nit 0 with the last finite iterate (the GPU accepted it).
    X = np.full((1, 10_000, 1), 1e16, np.float32)
    y = np.full((1, 10_000), 1e16, np.float32)
    kw = dict(lr=1e-29, max_iter=5, gtol=0, mode="direct")
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **kw)
    for r in (gpu, cpu):
        assert r.status[0] == Status.DIVERGED and r.nit[0] == 0
        np.testing.assert_array_equal(host(r.x), np.zeros((1, 1), np.float32))
    # an iterate that overflows, and one that grows past the divergence limit
    Xd, yd = data(21, 3, 12, 3)
    lr_big = np.array([1e300, 2.5 / lipschitz(Xd[1]), 0.5 / lipschitz(Xd[2])])
    kw = dict(lr=lr_big, max_iter=400, gtol=0, history=50)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(Xd), dev(yd)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(Xd, yd), **kw)
    same_as_cpu(gpu, cpu, 1e-9)
    assert list(cpu.status) == [Status.DIVERGED, Status.DIVERGED, Status.MAX_ITER]
    assert cpu.nit[0] == 0 and 0 < cpu.nit[1] < 400 and cpu.nit[2] == 400
    assert np.isfinite(host(gpu.x)).all()
    # the last finite iterate of problem 1 is the NumPy GD iterate number nit
    grad = lambda w: lstsq_loss_grad(Xd[1], yd[1], w)[1]  # noqa: E731
    np.testing.assert_allclose(host(gpu.x)[1], gd_run(grad, np.zeros(3), lr_big[1], cpu.nit[1]),
                               rtol=1e-9)
    # Armijo cannot find a decrease from lr = 1e300 in ARMIJO_MAX_HALVINGS halvings
    kw = dict(lr=1e300, line_search="armijo", max_iter=5, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(Xd), dev(yd)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(Xd, yd), **kw)
    same_as_cpu(gpu, cpu, 1e-9)
    assert (cpu.status == Status.LINE_SEARCH_FAILED).all() and (cpu.nit == 0).all()
    # every stopping rule, and MAX_ITER with every test off
    for opts, want in ((dict(gtol=1e-3), Status.GTOL), (dict(gtol=0, xtol=1e-4), Status.XTOL),
                       (dict(gtol=0, ftol=1e-6), Status.FTOL), (dict(gtol=0), Status.MAX_ITER)):
        kw = dict(method="momentum", lr=0.1, max_iter=300, **opts)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(Xd), dev(yd)), **kw)
        cpu = fastgd.minimize(fastgd.LeastSquares(Xd, yd), **kw)
        same_as_cpu(gpu, cpu, 1e-9)
        assert (cpu.status == want).all(), (opts, cpu.status)


@case
def single_large_problem_grid_path():
    from fastgd import config
    saved = config.LARGE_PROBLEM_ELEMENTS, config.SERIAL_MAX_BYTES
    config.LARGE_PROBLEM_ELEMENTS = 1  # tiny data through the large-problem drivers
    config.SERIAL_MAX_BYTES = 0        # the CPU's too (row blocks, not the serial driver)
    try:
        X, y = data(7, 1, 24, 3)
        X, y = X[0], y[0]
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), lr="auto", gtol=1e-8,
                              max_iter=100, history=10)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y), lr="auto", gtol=1e-8,
                              max_iter=100, history=10)
        assert is_device(gpu.x) and gpu.x.shape == (3,)
        assert isinstance(gpu.nit, int) and gpu.status == Status.GTOL
        np.testing.assert_allclose(host(gpu.x), np.linalg.lstsq(X, y, rcond=None)[0],
                                   rtol=1e-6)
        same_as_cpu(gpu, cpu, 1e-9)
        Xl, yl = data(8, 1, 24, 3, logistic=True)
        kw = dict(method="adam", lr=3.0, line_search="armijo", max_iter=12, gtol=0)
        pl = fastgd.Logistic(dev(Xl[0]), dev(yl[0]))
        gpu = fastgd.minimize(pl, **kw)
        cpu = fastgd.minimize(fastgd.Logistic(Xl[0], yl[0]), **kw)
        same_as_cpu(gpu, cpu, 1e-9)
        # resumable: the driver run one iteration per chunk (a callback on a single
        # problem, through the API's outer loop) gives the same iterates
        seen = []
        chunked = fastgd.minimize(pl, callback=lambda r: seen.append((r.nit, r.status)), **kw)
        assert [t for t, _ in seen] == list(range(1, 13))
        assert all(s == Status.RUNNING for _, s in seen[:-1]) and chunked.status == Status.MAX_ITER
        np.testing.assert_array_equal(host(chunked.x), host(gpu.x))
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), lr=1e3, max_iter=20)
        assert gpu.status == Status.DIVERGED and np.isfinite(host(gpu.x)).all()
        # the newer methods through the grid path (the same state machine)
        for kw in (dict(method="bb", lr=0.5), dict(method="rmsprop", lr=0.05),
                   dict(method="adagrad", lr=0.5), dict(method="nesterov", restart=True,
                                                        lr=0.2, momentum=0.95)):
            gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), max_iter=10, gtol=0, **kw)
            cpu = fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=10, gtol=0, **kw)
            # 1e-8: the CPU forms its Gram form through BLAS (another summation order than
            # the GPU's), and bb's step ratios carry that rounding (1e-9 relative seen)
            same_as_cpu(gpu, cpu, 1e-8)
    finally:
        config.LARGE_PROBLEM_ELEMENTS, config.SERIAL_MAX_BYTES = saved


@case
def wide_problems_use_column_chunks():
    # d above TPB * MAXM of the simulator configuration (4 * 2): r goes through scratch
    X, y = data(9, 2, 12, 10)
    kw = dict(method="momentum", lr="auto", max_iter=6, gtol=0, mode="direct")
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y), l2=0.5), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.5), **kw)
    same_as_cpu(gpu, cpu, 1e-9)


@case
def resumable_chunks_with_callback_match_one_call():
    X, y = data(10, 2, 16, 3)
    seen = []
    kw = dict(method="adam", lr=0.05, max_iter=20, gtol=0)
    p = fastgd.LeastSquares(dev(X), dev(y))
    chunked = fastgd.minimize(p, callback=lambda r: seen.append((host(r.x), r.nit.copy())),
                              **kw)
    whole = fastgd.minimize(p, **kw)
    assert len(seen) == 20 and [s[1][0] for s in seen] == list(range(1, 21))
    np.testing.assert_array_equal(host(chunked.x), host(whole.x))
    np.testing.assert_array_equal(seen[-1][0], host(whole.x))
    for b in range(2):
        grad = lambda w: lstsq_loss_grad(X[b], y[b], w)[1]  # noqa: E731
        np.testing.assert_allclose(seen[6][0][b], gd_run(grad, np.zeros(3), 0.05, 7, "adam"),
                                   rtol=1e-11)


@case
def progress_and_callback_run_through_the_one_outer_loop():
    """progress=True and callback on device="cuda" (the API's outer loop drives the GPU
    backend as it drives the CPU one): a progress line per chunk, the same iterates."""
    import contextlib
    import io
    X, y = data(13, 2, 16, 3)
    kw = dict(method="gd", lr=0.05, max_iter=40, gtol=0)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        shown = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), progress="plain", **kw)
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("fastgd: iteration")]
    assert lines and "iteration 40/40" in lines[-1], err.getvalue()
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **kw)
    same_as_cpu(shown, cpu, 1e-9)
    seen = []
    fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), callback=lambda r: seen.append(
        (r.nit.copy(), r.status.copy())), **kw)
    assert [int(n[0]) for n, _ in seen] == list(range(2, 41, 2))
    assert (seen[0][1] == Status.RUNNING).all() and (seen[-1][1] == Status.MAX_ITER).all()


@case
def zero_copy_inputs_and_where_results_live():
    X, y = data(11, 2, 16, 3)
    X_d, y_d = dev(X), dev(y)
    p = fastgd.LeastSquares(X_d, y_d)
    assert pointer(p.X) == pointer(X_d) and pointer(p.y) == pointer(y_d)
    x0 = np.full((2, 3), 0.25)
    x0_d = dev(x0)
    res = fastgd.minimize(p, x0=x0_d, lr=0.1, max_iter=3, gtol=0)
    np.testing.assert_array_equal(host(x0_d), x0)  # x0 untouched
    assert is_device(res.x) and pointer(res.x) != pointer(x0_d)
    for name in ("fun", "grad_norm", "nit", "status", "success", "lr"):
        assert isinstance(res[name], np.ndarray), name
    res2 = fastgd.minimize(p, x0=x0_d, lr=0.1, max_iter=3, gtol=0, inplace=True)
    assert res2.x is x0_d
    np.testing.assert_array_equal(host(x0_d), host(res.x))
    # NumPy data with device="cuda": solved on the GPU, result back where the data live
    res3 = fastgd.minimize(fastgd.LeastSquares(X, y), x0=x0, lr=0.1, max_iter=3, gtol=0,
                           device="cuda")
    assert isinstance(res3.x, np.ndarray)
    np.testing.assert_array_equal(res3.x, host(res.x))
    np.testing.assert_array_equal(x0, np.full((2, 3), 0.25))


@case
def losses_without_cuda_kernels_are_refused_on_the_gpu():
    # a user RowLoss or Softmax must not reach the CUDA kernels, which implement the
    # built-in row losses only (a RowLoss once ran as another loss there)
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    labels = rng.integers(0, 3, 30).astype(np.float64)
    logcosh = fastgd.RowLoss(lambda z, t: np.log(np.cosh(z - t)), lambda z, t: np.tanh(z - t),
                             lipschitz=1.0)
    x0 = np.full(3, 0.5)
    for prob, start in ((logcosh(X, y), x0), (fastgd.Softmax(X, labels, 3), np.full((3, 3), 0.5))):
        keep = start.copy()
        raises(ValueError, "runs on the CPU",
               lambda: fastgd.minimize(prob, device="cuda", x0=start, inplace=True, lr=0.1))
        np.testing.assert_array_equal(start, keep)


@case
def device_arrays_are_validated_before_any_work():
    X, y = data(12, 2, 16, 3)

    bad = X.copy()
    bad[1, 3, 2] = np.nan
    raises(ValueError, "X contains NaN", lambda: fastgd.LeastSquares(dev(bad), dev(y)))
    yb = y.copy()
    yb[0, 0] = np.inf
    raises(ValueError, "y contains NaN", lambda: fastgd.LeastSquares(dev(X), dev(yb)))
    raises(ValueError, "C-contiguous",
           lambda: fastgd.LeastSquares(dev(np.concatenate([X, X], 2))[:, :, ::2], dev(y)))
    raises(TypeError, "dtype", lambda: fastgd.LeastSquares(dev(X.astype(np.float32)), dev(y)))
    raises(TypeError, "float32 or float64",
           lambda: fastgd.LeastSquares(dev(X.astype(np.int64)), dev(y)))
    raises(ValueError, "shape", lambda: fastgd.LeastSquares(dev(X), dev(y[:, :5])))
    raises(ValueError, "labels 0 and 1",
           lambda: fastgd.Logistic(dev(X), dev(np.full((2, 16), 0.5))))
    raises(ValueError, "same device", lambda: fastgd.LeastSquares(X, dev(y)))
    p = fastgd.LeastSquares(dev(X), dev(y))
    raises(ValueError, "device='cpu'", lambda: fastgd.minimize(p, device="cpu"))
    x0 = dev(np.zeros((2, 3)))
    raises(ValueError, "shape", lambda: fastgd.minimize(p, x0=dev(np.zeros(3))))
    raises(ValueError, "x0 contains NaN",
           lambda: fastgd.minimize(p, x0=dev(np.full((2, 3), np.nan)), inplace=True))
    np.testing.assert_array_equal(host(x0), 0.0)



def _himmelblau(w):
    return (w[0] ** 2 + w[1] - 11.0) ** 2 + (w[0] + w[1] ** 2 - 7.0) ** 2


def _himmelblau_grad(w, out):
    a = w[0] ** 2 + w[1] - 11.0
    b = w[0] + w[1] ** 2 - 7.0
    out[0] = 4.0 * a * w[0] + 2.0 * b
    out[1] = 2.0 * a + 4.0 * b * w[1]


def _shifted_bowl(w, c):
    s = 0.0
    for j in range(w.shape[0]):
        s += (w[j] - c[j]) ** 2
    return 0.5 * s


def _shifted_bowl_grad(w, c, out):
    for j in range(w.shape[0]):
        out[j] = w[j] - c[j]


@case
def objective_runs_on_the_gpu_as_a_numpy_loop():
    """An Objective on device="cuda": every start equals a plain NumPy GD loop (Himmelblau,
    4 starts), with frozen args too; Armijo and bb agree with the CPU."""
    obj = fastgd.Objective(_himmelblau, _himmelblau_grad)
    X0 = np.random.default_rng(14).uniform(-4, 4, (4, 2))
    res = fastgd.minimize(obj, x0=X0, lr=0.005, gtol=0.0, max_iter=25, device="cuda")
    assert isinstance(res.x, np.ndarray) and (res.nit == 25).all()
    for b in range(4):
        w = X0[b].copy()
        for _ in range(25):
            g = np.empty(2)
            _himmelblau_grad(w, g)
            w = w - 0.005 * g
        np.testing.assert_allclose(res.x[b], w, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.fun[b], _himmelblau(w), rtol=1e-12)
    for kw in (dict(lr=0.5, line_search="armijo"), dict(method="bb", lr=0.01)):
        gpu = fastgd.minimize(obj, x0=X0, gtol=1e-6, max_iter=60, device="cuda", **kw)
        cpu = fastgd.minimize(obj, x0=X0, gtol=1e-6, max_iter=60, **kw)
        same_as_cpu(gpu, cpu, 1e-7)  # bb's s.s / s.y amplifies the last bits of the sums
    c = np.array([1.0, -2.0, 3.0])
    bowl = fastgd.Objective(_shifted_bowl, _shifted_bowl_grad, args=(c,))
    res = fastgd.minimize(bowl, x0=np.zeros((2, 3)), lr=0.5, gtol=1e-10, max_iter=200,
                          device="cuda")
    assert res.success.all()
    np.testing.assert_allclose(res.x, np.tile(c, (2, 1)), atol=1e-9)



# ------------------------------------------------------------------ mini-batches
MINIBATCH_METHODS = (dict(method="gd", lr=0.1), dict(method="momentum", lr=0.05),
                     dict(method="nesterov", lr=0.05), dict(method="adam", lr=0.05),
                     dict(method="rmsprop", lr=0.01), dict(method="adagrad", lr=0.2),
                     # SGD-BB (lr large enough that an epoch is rerun at half the step)
                     # and nesterov's restart: the epoch-level decisions
                     dict(method="bb", lr=1.5), dict(method="nesterov", lr=0.2,
                                                     restart=True))


def batch_grads(X, y, m, l2=0.0, orders=None):
    """grad(w) for reference.gd_run: the mean gradient (+ l2 w) of the next mini-batch of
    m rows of least squares, in stored order (or epoch e's order of `orders`), cycling."""
    n = len(y)
    count = [0]

    def grad(w):
        k = count[0]
        count[0] += 1
        per = -(-n // m)
        e, b = divmod(k, per)
        rows = np.arange(n) if orders is None else orders[e]
        rows = rows[b * m:(b + 1) * m]
        Xb, yb = X[rows], y[rows]
        return Xb.T @ (Xb @ w - yb) / len(rows) + l2 * w
    return grad


@case
def minibatch_every_method_matches_the_cpu():
    """device="cuda" mini-batches: the same visiting orders, schedule and decisions as the
    CPU mini-batch path (statuses, nit, x, fun, history), B = 3, last mini-batch short."""
    X, y = data(40, 3, 13, 3)
    for kw in MINIBATCH_METHODS:
        opts = dict(batch_size=4, random_state=5, max_iter=3, gtol=0, history=1, **kw)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y), l2=0.1), **opts)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y, l2=0.1), **opts)
        assert is_device(gpu.x) and (gpu.nit == 3).all(), kw
        same_as_cpu(gpu, cpu, 1e-10)
    # float32 data on the GPU against the CPU's float64 solve of the same numbers
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    for kw in MINIBATCH_METHODS[3:4]:
        opts = dict(batch_size=4, random_state=5, max_iter=3, gtol=0, **kw)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X32), dev(y32), l2=0.1), **opts)
        cpu = fastgd.minimize(fastgd.LeastSquares(X32.astype(np.float64),
                                                  y32.astype(np.float64), l2=0.1), **opts)
        assert host(gpu.x).dtype == np.float32
        np.testing.assert_array_equal(gpu.nit, cpu.nit)
        np.testing.assert_array_equal(gpu.status, cpu.status)
        np.testing.assert_allclose(host(gpu.x), cpu.x, rtol=2e-5, atol=1e-6)


@case
def minibatch_matches_numpy_sgd_loops():
    """Independent references: reference.gd_run's torch formulas stepping on the mini-batch
    gradients in stored order (shuffle=False) or in the seed's permutations, and a plain
    SGD loop with lr / sqrt(t) (invscaling); res.fun the full-data loss at res.x."""
    X, y = data(41, 2, 10, 3)
    n, m, epochs = 10, 3, 4
    for method in ("gd", "momentum", "adam"):
        res = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y), l2=0.05), method=method,
                              lr=0.05, batch_size=m, shuffle=False, max_iter=epochs, gtol=0)
        for b in range(2):
            ref = gd_run(batch_grads(X[b], y[b], m, 0.05), np.zeros(3), 0.05,
                         epochs * 4, method)
            np.testing.assert_allclose(host(res.x)[b], ref, rtol=1e-11, atol=1e-13)
            f_ref, g_ref = lstsq_loss_grad(X[b], y[b], ref, l2=0.05)
            np.testing.assert_allclose(res.fun[b], f_ref, rtol=1e-11)
            np.testing.assert_allclose(res.grad_norm[b], np.linalg.norm(g_ref), rtol=1e-9)
    rng = np.random.default_rng(9)
    orders = [rng.permutation(n) for _ in range(epochs)]
    res = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), method="gd", lr=0.1,
                          batch_size=m, random_state=9, max_iter=epochs, gtol=0)
    for b in range(2):
        ref = gd_run(batch_grads(X[b], y[b], m, orders=orders), np.zeros(3), 0.1, epochs * 4)
        np.testing.assert_allclose(host(res.x)[b], ref, rtol=1e-11, atol=1e-13)
    res = fastgd.minimize(fastgd.LeastSquares(dev(X[0]), dev(y[0])), lr=0.2, batch_size=m,
                          shuffle=False, lr_schedule="invscaling", max_iter=epochs, gtol=0)
    w = np.zeros(3)
    t = 0
    for _ in range(epochs):
        for lo in range(0, n, m):
            Xb, yb = X[0, lo:lo + m], y[0, lo:lo + m]
            t += 1
            w = w - 0.2 / np.sqrt(t) * (Xb.T @ (Xb @ w - yb) / len(yb))
    assert res.x.shape == (3,) and res.nit == epochs
    np.testing.assert_allclose(host(res.x), w, rtol=1e-11, atol=1e-13)


@case
def minibatch_single_schedules_wide_and_logistic_match_the_cpu():
    """One problem (B = 1, one block; a "large" one too), lr_schedule invscaling / a
    callable, lr="auto",
    columns wider than a block's chunk (r kept by position), Logistic, NumPy data with
    device="cuda", and a callback's chunks: all equal to the CPU mini-batch path."""
    decay = lambda t: 1.0 / (1.0 + 0.1 * t)  # noqa: E731
    X, y = data(42, 1, 11, 3)
    X, y = X[0], y[0]
    for kw in (dict(lr_schedule="invscaling", method="adam", lr=0.1),
               dict(lr_schedule=decay, method="momentum", lr=0.1),
               dict(lr="auto", method="gd")):
        opts = dict(batch_size=4, random_state=3, max_iter=4, gtol=0, history=2, **kw)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **opts)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **opts)
        assert isinstance(gpu.nit, int) and gpu.x.shape == (3,)
        same_as_cpu(gpu, cpu, 1e-10)
    from fastgd import config
    saved = config.LARGE_PROBLEM_ELEMENTS, config.SERIAL_MAX_BYTES
    config.LARGE_PROBLEM_ELEMENTS = 1  # a "large" problem (full batches: the grid path)
    config.SERIAL_MAX_BYTES = 0
    try:  # mini-batches run it in one block as any other
        opts = dict(batch_size=4, random_state=3, max_iter=3, gtol=0, method="adam", lr=0.1)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **opts)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **opts)
        same_as_cpu(gpu, cpu, 1e-10)
    finally:
        config.LARGE_PROBLEM_ELEMENTS, config.SERIAL_MAX_BYTES = saved
    Xw, yw = data(43, 2, 12, 10)  # d = 10 > TPB * MAXM of the simulator (8)
    opts = dict(method="nesterov", lr=0.05, batch_size=5, random_state=1, max_iter=3, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(Xw, yw, l2=0.2), device="cuda", **opts)
    cpu = fastgd.minimize(fastgd.LeastSquares(Xw, yw, l2=0.2), **opts)
    assert isinstance(gpu.x, np.ndarray)
    same_as_cpu(gpu, cpu, 1e-10)
    Xl, yl = data(44, 2, 12, 3, logistic=True)
    opts = dict(method="adam", lr=0.2, batch_size=5, random_state=2, max_iter=6, gtol=0)
    seen = []
    gpu = fastgd.minimize(fastgd.Logistic(dev(Xl), dev(yl), l2=0.01),
                          callback=lambda r: seen.append(r.nit.copy()), **opts)
    cpu = fastgd.minimize(fastgd.Logistic(Xl, yl, l2=0.01), **opts)
    assert [int(s[0]) for s in seen] == list(range(1, 7))
    same_as_cpu(gpu, cpu, 1e-10)


@case
def minibatch_stopping_and_divergence_match_the_cpu():
    """Per-problem gtol / xtol / ftol stops and DIVERGED (the epoch's start kept) decided
    once per epoch on the full data, as on the CPU."""
    X, y = data(45, 3, 12, 3)
    x0 = np.zeros((3, 3))
    x0[0] = np.linalg.lstsq(X[0], y[0], rcond=None)[0]  # optimal: GTOL at nit 0
    for opts in (dict(gtol=1e-3), dict(gtol=0, xtol=1e-2), dict(gtol=0, ftol=1e-3)):
        kw = dict(method="gd", lr=0.05, batch_size=4, random_state=0, max_iter=15,
                  history=3, **opts)
        gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), x0=dev(x0), **kw)
        cpu = fastgd.minimize(fastgd.LeastSquares(X, y), x0=x0, **kw)
        same_as_cpu(gpu, cpu, 1e-10)
        assert (gpu.status != Status.MAX_ITER).any(), opts
    lrs = np.array([0.05, 1e4, 0.05])
    kw = dict(lr=lrs, batch_size=4, random_state=0, max_iter=8, gtol=0)
    gpu = fastgd.minimize(fastgd.LeastSquares(dev(X), dev(y)), **kw)
    cpu = fastgd.minimize(fastgd.LeastSquares(X, y), **kw)
    assert list(gpu.status) == [Status.MAX_ITER, Status.DIVERGED, Status.MAX_ITER]
    assert np.isfinite(host(gpu.x)).all()
    same_as_cpu(gpu, cpu, 1e-10)


@case
def minibatch_refusals_on_the_gpu():
    """What the GPU refuses for full batches it refuses for mini-batches (intercept,
    weights, shared X, CSR), and the mini-batch refusals hold on CUDA data, before
    anything is written."""
    import scipy.sparse as sp
    X, y = data(46, 2, 12, 3)
    x0 = np.ones((2, 3))
    x0_d = dev(x0)
    p = fastgd.LeastSquares(dev(X), dev(y))
    for kw in (dict(line_search="armijo"), dict(mode="gram")):
        raises(ValueError, "batch_size", lambda: fastgd.minimize(
            p, lr=0.1, batch_size=4, x0=x0_d, inplace=True, **kw))
    # precondition="diag" is CPU-only, mini-batches or not (the CPU mini-batches take it)
    raises(ValueError, "precondition", lambda: fastgd.minimize(
        p, lr=0.1, batch_size=4, x0=x0_d, inplace=True, precondition="diag"))
    np.testing.assert_array_equal(host(x0_d), x0)
    for prob in (fastgd.LeastSquares(X[0], y[0], fit_intercept=True),
                 fastgd.LeastSquares(X[0], y[0], sample_weight=np.ones(12))):
        raises(ValueError, "device='cuda'", lambda: fastgd.minimize(
            prob, lr=0.1, batch_size=4, device="cuda"))
    raises(ValueError, "shared", lambda: fastgd.minimize(
        fastgd.LeastSquares(X[0], y), lr=0.1, batch_size=4, device="cuda"))
    raises(ValueError, "CPU", lambda: fastgd.minimize(
        fastgd.LeastSquares(sp.csr_matrix(X[0]), y[0]), lr=0.1, batch_size=4,
        device="cuda"))



def main(names):
    names = names or list(CASES)
    failed = 0
    for name in names:
        t0 = time.perf_counter()
        try:
            CASES[name]()
            err = None
        except Exception:
            err = traceback.format_exc()
            failed += 1
        print(json.dumps({"case": name, "ok": err is None, "error": err,
                          "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

