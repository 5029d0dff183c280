"""fastgd.Objective and fastgd.multistart against plain NumPy float64 loops and torch.optim."""
import fractions
import math
import time

import numba
import numpy as np
import pytest

import fastgd
from fastgd import Status

from reference import gd_run


# ---------------------------------------------------------------- objectives
def himmelblau(w):
    return (w[0] ** 2 + w[1] - 11.0) ** 2 + (w[0] + w[1] ** 2 - 7.0) ** 2


def himmelblau_grad(w, out):
    a = w[0] ** 2 + w[1] - 11.0
    b = w[0] + w[1] ** 2 - 7.0
    out[0] = 4.0 * a * w[0] + 2.0 * b
    out[1] = 2.0 * a + 4.0 * b * w[1]


@numba.njit
def rosenbrock(w, a, b):
    """The d-dimensional Rosenbrock function sum (a - w_i)^2 + b (w_{i+1} - w_i^2)^2."""
    f = 0.0
    for i in range(w.shape[0] - 1):
        f += (a - w[i]) ** 2 + b * (w[i + 1] - w[i] ** 2) ** 2
    return f


@numba.njit
def rosenbrock_grad(w, a, b, out):
    d = w.shape[0]
    for i in range(d):
        out[i] = 0.0
    for i in range(d - 1):
        t = w[i + 1] - w[i] ** 2
        out[i] += -2.0 * (a - w[i]) - 4.0 * b * w[i] * t
        out[i + 1] += 2.0 * b * t


def quadratic(w, A, c):
    """(w - c).A(w - c) / 2 with an array argument A (allocates: NumPy inside)."""
    r = w - c
    return 0.5 * np.sum(r * np.dot(A, r))


def quadratic_grad(w, A, c, out):
    out[:] = np.dot(A, w - c)


def rastrigin(w):
    f = 10.0 * w.shape[0]
    for i in range(w.shape[0]):
        f += w[i] ** 2 - 10.0 * math.cos(2.0 * math.pi * w[i])
    return f


def rastrigin_grad(w, out):
    for i in range(w.shape[0]):
        out[i] = 2.0 * w[i] + 20.0 * math.pi * math.sin(2.0 * math.pi * w[i])


HIMMELBLAU = fastgd.Objective(himmelblau, himmelblau_grad)
ROSEN = fastgd.Objective(rosenbrock, rosenbrock_grad, args=(1.0, 100.0))


def np_himmelblau(w):
    w = np.asarray(w, np.float64)
    out = np.empty(2)
    himmelblau_grad(w, out)
    return himmelblau(w), out


def np_gd(fg, w0, lr, max_iter, gtol):
    """Plain NumPy float64 gradient descent with fastgd's stopping rule: (w, nit, history)."""
    w = np.array(w0, np.float64)
    f, g = fg(w)
    hist = [f]
    nit = 0
    while np.sqrt(g @ g) > gtol and nit < max_iter:
        w = w - lr * g
        f, g = fg(w)
        hist.append(f)
        nit += 1
    return w, nit, np.array(hist)


def starts(rng, B, lo=-5.0, hi=5.0, d=2):
    return rng.uniform(lo, hi, (B, d))


# ---------------------------------------------------------------- against NumPy
def test_every_start_matches_a_numpy_gd_loop(rng):
    X0 = starts(rng, 40)
    lr, gtol = 0.01, 1e-8
    res = fastgd.minimize(HIMMELBLAU, x0=X0, lr=lr, gtol=gtol, max_iter=3000, history=1)
    assert res.x.shape == (40, 2) and res.x.dtype == np.float64
    assert res.success.all(), res.message
    assert len(np.unique(res.nit)) > 5  # the starts stopped at different iterations
    for b in range(40):
        w, nit, hist = np_gd(np_himmelblau, X0[b], lr, 3000, gtol)
        assert res.nit[b] == nit
        np.testing.assert_allclose(res.x[b], w, rtol=1e-12, atol=1e-12)
        # f near 0 is a cancellation of terms ~100 (FMA contraction): absolute 1e-13
        np.testing.assert_allclose(res.fun[b], hist[-1], rtol=1e-9, atol=1e-13)
        # history: record j is the loss at iterate j; after the stop it repeats the final one
        np.testing.assert_allclose(res.history[:nit + 1, b], hist, rtol=1e-10, atol=1e-13)
        assert (res.history[nit:, b] == res.history[nit, b]).all()


def test_one_start_gives_scalar_fields(rng):
    x0 = np.array([1.0, 1.0])
    res = fastgd.minimize(HIMMELBLAU, x0=x0, lr=0.01, gtol=1e-9, max_iter=5000)
    assert res.x.shape == (2,) and isinstance(res.status, Status) and res.success
    np.testing.assert_allclose(res.x, [3.0, 2.0], atol=1e-9)
    assert (x0 == 1.0).all()  # never modified


def test_rosenbrock_with_args_matches_numpy(rng):
    d = 6
    X0 = rng.uniform(-1.5, 1.5, (8, d))
    lr = 5e-4

    def fg(w):
        g = np.empty(d)
        rosenbrock_grad(w, 1.0, 100.0, g)
        return rosenbrock(w, 1.0, 100.0), g

    res = fastgd.minimize(ROSEN, x0=X0, lr=lr, gtol=0.0, max_iter=400)
    assert (res.nit == 400).all() and (res.status == Status.MAX_ITER).all()
    for b in range(8):
        w, _, _ = np_gd(fg, X0[b], lr, 400, 0.0)
        np.testing.assert_allclose(res.x[b], w, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("method,opts", [("momentum", dict(lr=2e-3, momentum=0.8)),
                                         ("nesterov", dict(lr=2e-3, momentum=0.8)),
                                         ("adam", dict(lr=0.05, betas=(0.8, 0.99)))])
def test_methods_match_torch_formulas(rng, method, opts):
    X0 = starts(rng, 6)
    steps = 60
    res = fastgd.minimize(HIMMELBLAU, method, x0=X0, gtol=0.0, max_iter=steps, **opts)
    kw = {k: v for k, v in opts.items() if k != "lr"}
    for b in range(6):
        ref = gd_run(lambda w: np_himmelblau(w)[1], X0[b], opts["lr"], steps, method, **kw)
        np.testing.assert_allclose(res.x[b], ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["momentum", "adam", "rmsprop", "adagrad"])
def test_methods_match_torch_optim(rng, method):
    torch = pytest.importorskip("torch")
    X0 = starts(rng, 4)
    steps, lr = 40, (2e-3 if method == "momentum" else 0.05)
    res = fastgd.minimize(HIMMELBLAU, method, x0=X0, lr=lr, gtol=0.0, max_iter=steps)
    make = {"momentum": lambda p: torch.optim.SGD([p], lr=lr, momentum=0.9),
            "adam": lambda p: torch.optim.Adam([p], lr=lr),
            "rmsprop": lambda p: torch.optim.RMSprop([p], lr=lr),
            "adagrad": lambda p: torch.optim.Adagrad([p], lr=lr)}[method]
    for b in range(4):
        p = torch.tensor(X0[b].copy(), dtype=torch.float64, requires_grad=True)
        opt = make(p)
        for _ in range(steps):
            p.grad = torch.tensor(np_himmelblau(p.detach().numpy())[1])
            opt.step()
        np.testing.assert_allclose(res.x[b], p.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_armijo_matches_a_numpy_backtracking_loop(rng):
    X0 = starts(rng, 10)
    lr0, steps = 1.0, 50
    res = fastgd.minimize(HIMMELBLAU, x0=X0, lr=lr0, line_search="armijo", gtol=0.0,
                          max_iter=steps, history=1)
    assert (res.status == Status.MAX_ITER).all() | res.success.all()
    eps = np.finfo(np.float64).eps
    for b in range(10):
        w, lr = X0[b].copy(), lr0
        f, g = np_himmelblau(w)
        for _ in range(steps):   # decisions.armijo_accepts: sufficient decrease, up to rounding
            alpha = lr
            while True:
                w_new = w - alpha * g
                f_new, g_new = np_himmelblau(w_new)
                if f_new <= f - 1e-4 * alpha * (g @ g) + 16 * eps * abs(f):
                    break
                alpha /= 2
            w, f, g, lr = w_new, f_new, g_new, alpha
        np.testing.assert_allclose(res.x[b], w, rtol=1e-9, atol=1e-9)
        assert (np.diff(res.history[:, b]) <= 1e-12).all()  # Armijo never increases f


# ---------------------------------------------------------------- the step-size lesson
def test_descent_property_with_a_small_step(rng):
    X0 = starts(rng, 64)
    res = fastgd.minimize(HIMMELBLAU, x0=X0, lr=2e-3, gtol=1e-7, max_iter=4000, history=1)
    h = res.history
    assert (np.diff(h, axis=0) <= 0).all()  # every iteration lowered (or kept) the loss


def test_too_small_good_too_large(rng):
    x0 = np.tile([[-1.0, -1.0]], (3, 1))
    lrs = np.array([1e-5, 0.01, 0.5])
    res = fastgd.minimize(HIMMELBLAU, x0=x0, lr=lrs, gtol=1e-6, max_iter=500)
    assert list(res.status) == [Status.MAX_ITER, Status.GTOL, Status.DIVERGED]
    assert np.isfinite(res.x).all()
    # the diverged start keeps its last finite iterate: the NumPy loop's, up to that step
    w = x0[2].copy()
    for _ in range(res.nit[2]):
        w = w - 0.5 * np_himmelblau(w)[1]
    np.testing.assert_allclose(res.x[2], w, rtol=1e-10)
    nxt = w - 0.5 * np_himmelblau(w)[1]
    f_next = himmelblau(nxt) if np.isfinite(nxt).all() else np.inf
    assert not np.isfinite(f_next) or f_next > 1e10 * himmelblau(x0[2])


def test_nan_region_is_diverged_with_finite_x():
    def log_barrier(w):
        return -math.log(w[0]) + w[0]          # nan for w < 0

    def log_barrier_grad(w, out):
        out[0] = -1.0 / w[0] + 1.0

    obj = fastgd.Objective(log_barrier, log_barrier_grad)
    res = fastgd.minimize(obj, x0=np.array([[0.5], [4.0]]), lr=np.array([0.1, 10.0]),
                          max_iter=200)
    assert res.status[0] == Status.GTOL and abs(res.x[0, 0] - 1.0) < 1e-6
    # 4 - 10 * 0.75 < 0: the first trial point has no loss; x stays the start
    assert res.status[1] == Status.DIVERGED and res.x[1, 0] == 4.0 and res.nit[1] == 0


# ---------------------------------------------------------------- active set
def test_converged_starts_stop_costing_time(rng):
    B, max_iter = 2000, 3000
    slow = np.tile([[3.0 + 1e-3, 2.0]], (B, 1))         # every start crawls (tiny lr)
    quick = np.tile([[3.0, 2.0]], (B, 1))               # at the minimum: stop at once ...
    quick[0] = slow[0]                                  # ... but one
    kw = dict(lr=1e-7, gtol=1e-9, max_iter=max_iter)
    fastgd.minimize(HIMMELBLAU, x0=slow[:2], **kw)      # compiled already; warm the threads
    t = time.perf_counter()
    r_slow = fastgd.minimize(HIMMELBLAU, x0=slow, **kw)
    t_slow = time.perf_counter() - t
    t = time.perf_counter()
    r_quick = fastgd.minimize(HIMMELBLAU, x0=quick, **kw)
    t_quick = time.perf_counter() - t
    assert (r_slow.nit == max_iter).all()
    assert r_quick.nit[0] == max_iter and (r_quick.nit[1:] == 0).all()
    assert t_quick < t_slow / 5, (t_quick, t_slow)


# ---------------------------------------------------------------- dtypes
def test_float32(rng):
    X0 = starts(rng, 50)
    r64 = fastgd.minimize(HIMMELBLAU, x0=X0, lr=0.01, gtol=1e-8, max_iter=5000)
    r32 = fastgd.minimize(HIMMELBLAU, x0=X0.astype(np.float32), lr=0.01, gtol=1e-3,
                          max_iter=5000)
    assert r32.x.dtype == np.float32 and r32.fun.dtype == np.float32
    assert r32.success.all(), r32.message
    np.testing.assert_allclose(r32.x, r64.x, atol=2e-4)
    assert HIMMELBLAU.kernels(np.float32) is not HIMMELBLAU.kernels(np.float64)


def test_compiled_once_and_args_frozen():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    c = np.array([1.0, -2.0])
    obj = fastgd.Objective(quadratic, quadratic_grad, args=(A, c))
    A[0, 0] = 100.0   # the objective holds a copy
    res = fastgd.minimize(obj, x0=np.zeros((3, 2)), lr=0.5, gtol=1e-10, max_iter=2000)
    assert res.success.all()
    np.testing.assert_allclose(res.x, np.tile(c, (3, 1)), atol=1e-9)
    same = fastgd.Objective(quadratic, quadratic_grad, args=(A * 0 + obj.args[0], c))
    assert same.kernels(np.float64) is obj.kernels(np.float64)
    assert fastgd.Objective(himmelblau, himmelblau_grad).kernels(np.float64) is \
        HIMMELBLAU.kernels(np.float64)


# ---------------------------------------------------------------- record_x
def test_record_x_follows_the_history_rule(rng):
    X0 = starts(rng, 5)
    k, lr = 3, 0.01
    res = fastgd.minimize(HIMMELBLAU, x0=X0, lr=lr, gtol=1e-3, max_iter=100, history=k,
                          record_x=True)
    xh = res.x_history
    assert xh.shape == (100 // k + 1, 5, 2) and xh.dtype == np.float64
    for b in range(5):
        w = X0[b].copy()
        path = [w]
        for _ in range(res.nit[b]):
            w = w - lr * np_himmelblau(w)[1]
            path.append(w)
        for j in range(xh.shape[0]):
            want = path[min(j * k, res.nit[b])]
            np.testing.assert_allclose(xh[j, b], want, rtol=1e-12, atol=1e-13)
    # the same iterates as a solve without the record
    plain = fastgd.minimize(HIMMELBLAU, x0=X0, lr=lr, gtol=1e-3, max_iter=100, history=k)
    np.testing.assert_array_equal(plain.x, res.x)
    np.testing.assert_array_equal(plain.nit, res.nit)
    one = fastgd.minimize(HIMMELBLAU, x0=X0[0], lr=lr, max_iter=10, history=2, record_x=True)
    assert one.x_history.shape == (6, 2)


# ---------------------------------------------------------------- multistart
def _newton_himmelblau(w):
    """Refine a minimum of Himmelblau by Newton's method (analytic Hessian), float64."""
    w = np.array(w, np.float64)
    for _ in range(50):
        x, y = w
        a, b = x * x + y - 11, x + y * y - 7
        H = np.array([[12 * x * x + 4 * y - 42, 4 * x + 4 * y],
                      [4 * x + 4 * y, 12 * y * y + 4 * x - 26]])
        w = w - np.linalg.solve(H, np.array([4 * a * x + 2 * b, 2 * a + 4 * b * y]))
    return w


def test_multistart_finds_himmelblau_s_four_minima():
    res = fastgd.multistart(HIMMELBLAU, [[-5, 5], [-5, 5]], 400, seed=1, lr=0.01, gtol=1e-10,
                            max_iter=20000)
    assert res.starts.shape == (400, 2) and res.x.shape == (400, 2)
    assert res.success.all()
    known = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    exact = np.array([_newton_himmelblau(k) for k in known])
    np.testing.assert_allclose(exact[0], [3.0, 2.0], atol=1e-14)
    assert len(res.minima) == 4
    assert sum(m["count"] for m in res.minima) == 400
    assert [m["fun"] for m in res.minima] == sorted(m["fun"] for m in res.minima)
    for m in res.minima:
        err = np.abs(exact - m["x"]).max(axis=1)
        assert err.min() < 1e-6, (m, exact)
        assert m["fun"] < 1e-12 and m["count"] > 40
    # same seed, same starts
    again = fastgd.multistart(HIMMELBLAU, [[-5, 5], [-5, 5]], 400, seed=1, lr=0.01,
                              gtol=1e-10, max_iter=20000)
    np.testing.assert_array_equal(again.starts, res.starts)


def test_multistart_counts_rastrigin_basins():
    obj = fastgd.Objective(rastrigin, rastrigin_grad)
    res = fastgd.multistart(obj, [[-5.12, 5.12]] * 2, 600, seed=0, lr=1e-3, gtol=1e-8,
                            max_iter=20000)
    ok = res.success
    assert ok.all(), np.unique(res.status)
    cells = {tuple(c) for c in np.round(res.x).astype(int)}
    # every local minimum of Rastrigin sits near a lattice point, one per reached basin
    assert len(res.minima) == len(cells) > 50
    for m in res.minima:
        assert np.abs(m["x"] - np.round(m["x"])).max() < 0.03
    best = res.minima[0]
    np.testing.assert_allclose(best["x"], [0.0, 0.0], atol=1e-9)
    assert best["fun"] < 1e-12
    assert sum(m["count"] for m in res.minima) == ok.sum()


def test_check_grad_of_an_objective(rng):
    X0 = starts(rng, 3)
    assert fastgd.check_grad(HIMMELBLAU, X0) < 1e-7
    assert fastgd.check_grad(ROSEN, rng.uniform(-1, 1, 5)) < 1e-7

    hg = numba.njit(himmelblau_grad)

    def wrong_grad(w, out):
        hg(w, out)
        out[1] *= 2.0

    def calls_python(w, out):
        himmelblau_grad(w, out)  # plain Python: Numba cannot call it, and says which name

    with pytest.raises(TypeError, match=r"grad \(calls_python\) could not be compiled.*"
                                        r"'himmelblau_grad'"):
        fastgd.Objective(himmelblau, calls_python)

    assert fastgd.check_grad(fastgd.Objective(himmelblau, wrong_grad), X0) > 0.1
    with pytest.raises(ValueError, match="needs x"):
        fastgd.check_grad(HIMMELBLAU)


# ---------------------------------------------------------------- bad input
def test_bad_input():
    x0 = np.zeros((3, 2))
    with pytest.raises(ValueError, match="x0 is required"):
        fastgd.minimize(HIMMELBLAU, lr=0.01)
    with pytest.raises(ValueError, match="x0 must be 1-d or 2-d"):
        fastgd.minimize(HIMMELBLAU, x0=np.zeros((2, 3, 2)), lr=0.01)
    with pytest.raises(ValueError, match="x0 must not be empty"):
        fastgd.minimize(HIMMELBLAU, x0=np.zeros((0, 2)), lr=0.01)
    with pytest.raises(TypeError, match="x0 must be a numpy.ndarray"):
        fastgd.minimize(HIMMELBLAU, x0=[[1.0, 2.0]], lr=0.01)
    with pytest.raises(TypeError, match="x0 must have dtype float32 or float64"):
        fastgd.minimize(HIMMELBLAU, x0=np.zeros((3, 2), np.int64), lr=0.01)
    bad = x0.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="x0"):
        fastgd.minimize(HIMMELBLAU, x0=bad, lr=0.01)
    with pytest.raises(ValueError, match="lr='auto'.*Objective"):
        fastgd.minimize(HIMMELBLAU, x0=x0)
    with pytest.raises(ValueError, match=r"lr array must have shape \(3,\)"):
        fastgd.minimize(HIMMELBLAU, x0=x0, lr=np.ones(2))
    try:
        fastgd._device.require_cuda()
    except RuntimeError:   # no GPU here (the GPU path itself: tests/gpu_cases.py)
        with pytest.raises(RuntimeError, match="device='cuda' needs"):
            fastgd.minimize(HIMMELBLAU, x0=x0, lr=0.01, device="cuda")
    with pytest.raises(ValueError, match="record_x=True needs history"):
        fastgd.minimize(HIMMELBLAU, x0=x0, lr=0.01, record_x=True)
    with pytest.raises(TypeError, match="multistart.*x0"):
        fastgd.multistart(HIMMELBLAU, [[-1, 1], [-1, 1]], 4, x0=x0, lr=0.1)
    with pytest.raises(ValueError, match=r"bounds must have shape \(d, 2\)"):
        fastgd.multistart(HIMMELBLAU, [-1, 1], 4, lr=0.1)
    with pytest.raises(ValueError, match="low <= high"):
        fastgd.multistart(HIMMELBLAU, [[1, -1], [-1, 1]], 4, lr=0.1)
    with pytest.raises(ValueError, match="n_starts must be >= 1"):
        fastgd.multistart(HIMMELBLAU, [[-1, 1], [-1, 1]], 0, lr=0.1)
    with pytest.raises(TypeError, match="objective must be a fastgd.Objective"):
        fastgd.multistart(himmelblau, [[-1, 1], [-1, 1]], 4, lr=0.1)
    with pytest.raises(TypeError, match=r"args\[0\] must be a NumPy array or a real number"):
        fastgd.Objective(rosenbrock, rosenbrock_grad, args=("a", 1.0))
    with pytest.raises(TypeError, match="args must be a tuple"):
        fastgd.Objective(rosenbrock, rosenbrock_grad, args=1.0)


def test_functions_numba_cannot_compile_or_that_raise():
    def bad_fun(w):
        return fractions.Fraction(w[0])     # a Python class Numba cannot type

    def tuple_fun(w):
        return w[0], w[1]

    def raising_fun(w):
        if w[0] < 0:
            raise ValueError("negative")
        return w[0]

    def bad_grad(w, out):
        out[0] = fractions.Fraction(w[0])

    with pytest.raises(TypeError, match=r"fun \(bad_fun\) could not be compiled by Numba"):
        fastgd.Objective(bad_fun, himmelblau_grad)
    with pytest.raises(TypeError, match=r"grad \(bad_grad\) could not be compiled by Numba"):
        fastgd.Objective(himmelblau, bad_grad)
    with pytest.raises(TypeError, match="must return a real scalar"):
        fastgd.Objective(tuple_fun, himmelblau_grad)
    with pytest.raises(TypeError, match="raise statement"):
        fastgd.Objective(raising_fun, himmelblau_grad)
    with pytest.raises(TypeError, match="fun must be a Python function"):
        fastgd.Objective(1.0, himmelblau_grad)
    with pytest.raises(TypeError, match=r"could not be compiled.*args\[0\]"):
        fastgd.Objective(himmelblau, himmelblau_grad, args=(1.0,))  # one argument too many
