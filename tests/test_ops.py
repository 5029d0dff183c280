"""fastgd.ops against torch.optim (steps) and NumPy float64 (gradients); bad input."""
import itertools

import numpy as np
import pytest

import fastgd
from fastgd import ops
from reference import logistic_loss_grad, lstsq_loss_grad

torch = pytest.importorskip("torch")

N_STEPS = 5
SIZE = 1003  # not a multiple of any block or SIMD width


def close(actual, ref, dtype):
    """float64: 1e-12 relative; float32: a few ulps of the buffer's scale."""
    ref = np.asarray(ref)
    if dtype == np.float64:
        np.testing.assert_allclose(actual, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    else:
        np.testing.assert_allclose(actual, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def run_torch(cls, p0, grads, **options):
    """N steps of a torch optimizer on a copy of p0; returns (params, state)."""
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt = cls([tp], **options)
    for g in grads:
        tp.grad = torch.tensor(g.copy())
        opt.step()
    state = {k: v.numpy() for k, v in opt.state[tp].items() if k != "step"}
    return tp.detach().numpy(), state


SGD_CASES = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True),
                                             (0.0, 0.05), (False, True))
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", SGD_CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_matches_torch(rng, dtype, opts):
    lr = 0.05
    p0 = rng.standard_normal(SIZE).astype(dtype)
    grads = [rng.standard_normal(SIZE).astype(dtype) for _ in range(N_STEPS)]
    ref_p, ref_state = run_torch(torch.optim.SGD, p0, grads, lr=lr, **opts)

    p = p0.copy()
    buf = np.full(SIZE, np.nan, dtype)  # step 1 must overwrite it entirely
    for t, g in enumerate(grads, start=1):
        g_before = g.copy()
        ops.sgd_(p, g, step=t, lr=lr, momentum_buffer=buf if opts["momentum"] else None, **opts)
        assert np.array_equal(g, g_before)
    close(p, ref_p, dtype)
    if opts["momentum"]:
        close(buf, ref_state["momentum_buffer"], dtype)


ADAM_CASES = [
    dict(amsgrad=a, weight_decay=wd, decoupled_weight_decay=dec, maximize=mx, eps=eps, betas=b)
    for a, wd, dec, mx, eps, b in itertools.product(
        (False, True), (0.0, 0.05), (False, True), (False, True), (1e-8, 1e-3),
        ((0.9, 0.999), (0.3, 0.5)))
    if not (dec and wd == 0)
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", ADAM_CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_adam_matches_torch(rng, dtype, opts):
    lr = 0.01
    p0 = rng.standard_normal(SIZE).astype(dtype)
    # gradients of mixed scales so eps placement and bias correction both matter
    grads = [(rng.standard_normal(SIZE) * rng.choice([1e-4, 1.0, 10.0], SIZE)).astype(dtype)
             for _ in range(N_STEPS)]
    topts = {k: v for k, v in opts.items() if k != "decoupled_weight_decay"}
    cls = torch.optim.AdamW if opts["decoupled_weight_decay"] else torch.optim.Adam
    if cls is torch.optim.Adam:
        topts["weight_decay"] = opts["weight_decay"]
    ref_p, ref_state = run_torch(cls, p0, grads, lr=lr, **topts)

    p = p0.copy()
    m, v, vmax = (np.zeros(SIZE, dtype) for _ in range(3))
    for t, g in enumerate(grads, start=1):
        g_before = g.copy()
        ops.adam_(p, g, m, v, step=t, lr=lr, max_exp_avg_sq=vmax if opts["amsgrad"] else None,
                  **opts)
        assert np.array_equal(g, g_before)
    close(p, ref_p, dtype)
    close(m, ref_state["exp_avg"], dtype)
    close(v, ref_state["exp_avg_sq"], dtype)
    if opts["amsgrad"]:
        close(vmax, ref_state["max_exp_avg_sq"], dtype)
    else:
        assert not vmax.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parallel_kernels_match_torch(rng, dtype, monkeypatch):
    """The prange path (forced on with small blocks and a ragged tail) matches torch too."""
    monkeypatch.setattr(fastgd.config, "OPS_PARALLEL_MIN", 1)
    monkeypatch.setattr(fastgd.config, "OPS_BLOCK", 64)
    p0 = rng.standard_normal(SIZE).astype(dtype)
    grads = [rng.standard_normal(SIZE).astype(dtype) for _ in range(N_STEPS)]

    ref_p, ref_s = run_torch(torch.optim.AdamW, p0, grads, lr=0.01, weight_decay=0.1,
                             amsgrad=True)
    p, m, v, vmax = p0.copy(), *(np.zeros(SIZE, dtype) for _ in range(3))
    for t, g in enumerate(grads, start=1):
        ops.adam_(p, g, m, v, step=t, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                  amsgrad=True, max_exp_avg_sq=vmax)
    close(p, ref_p, dtype)
    close(vmax, ref_s["max_exp_avg_sq"], dtype)

    ref_p, ref_s = run_torch(torch.optim.SGD, p0, grads, lr=0.1, momentum=0.9, nesterov=True,
                             weight_decay=0.01)
    p, buf = p0.copy(), np.zeros(SIZE, dtype)
    for t, g in enumerate(grads, start=1):
        ops.sgd_(p, g, step=t, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01,
                 momentum_buffer=buf)
    close(p, ref_p, dtype)
    close(buf, ref_s["momentum_buffer"], dtype)


def test_steps_return_params_and_live_at_top_level(rng):
    p = rng.standard_normal(10)
    assert fastgd.ops.sgd_(p, rng.standard_normal(10), step=1, lr=0.1) is p
    m, v = np.zeros(10), np.zeros(10)
    assert fastgd.ops.adam_(p, rng.standard_normal(10), m, v, step=1) is p


# ------------------------------------------------------------------ gradients
GRADS = [(ops.lstsq_grad, lstsq_loss_grad), (ops.logistic_grad, logistic_loss_grad)]


def grad_data(rng, dtype, B, n=67, d=5):
    shape = (n, d) if B is None else (B, n, d)
    X = rng.standard_normal(shape).astype(dtype)
    y = (rng.uniform(size=shape[:-1]) < 0.5).astype(dtype)
    w = rng.standard_normal(shape[:-2] + (d,)).astype(dtype)
    return X, y, w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B", [None, 4])
@pytest.mark.parametrize("with_out", [False, True])
@pytest.mark.parametrize("big", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("kernel,reference", GRADS, ids=["lstsq", "logistic"])
def test_gradients_match_numpy(rng, dtype, B, with_out, big, kernel, reference, monkeypatch):
    if big:
        monkeypatch.setattr(fastgd.config, "OPS_GRAD_PARALLEL_MIN", 1)
    X, y, w = grad_data(rng, dtype, B)
    copies = [a.copy() for a in (X, y, w)]
    out = np.full(w.shape, np.nan, dtype) if with_out else None
    loss, grad = kernel(X, y, w, out=out)
    for a, c in zip((X, y, w), copies):
        assert np.array_equal(a, c)
    if with_out:
        assert grad is out
    assert grad.shape == w.shape and grad.dtype == dtype and np.isfinite(grad).all()
    tol = 1e-12 if dtype == np.float64 else 2e-6
    if B is None:
        ref_loss, ref_grad = reference(X, y, w)
        assert isinstance(loss, float)
        assert loss == pytest.approx(ref_loss, rel=tol)
        np.testing.assert_allclose(grad, ref_grad, rtol=tol, atol=tol * np.abs(ref_grad).max())
    else:
        assert loss.shape == (B,)
        for b in range(B):
            ref_loss, ref_grad = reference(X[b], y[b], w[b])
            assert loss[b] == pytest.approx(ref_loss, rel=tol)
            np.testing.assert_allclose(grad[b], ref_grad, rtol=tol,
                                       atol=tol * np.abs(ref_grad).max())


def test_logistic_grad_survives_huge_margins():
    X = np.array([[1e4], [-1e4], [1e4]])
    y = np.array([1.0, 1.0, 0.0])
    loss, g = ops.logistic_grad(X, y, np.array([1.0]))
    # rows: margin 1e4 (loss 0), margin -1e4 (loss 1e4), margin -1e4 (loss 1e4)
    assert loss == pytest.approx(2e4 / 3)
    np.testing.assert_allclose(g, [(0 * 1e4 + (0 - 1) * -1e4 + (1 - 0) * 1e4) / 3])


# ------------------------------------------------------------------ bad input
def step_buffers(rng, dtype=np.float64, n=8):
    return {k: rng.standard_normal(n).astype(dtype)
            for k in ("params", "grads", "exp_avg", "exp_avg_sq", "buf")}


def readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def strided(a):
    return np.repeat(a, 2)[::2]


# (label, function(bufs) -> call, exception, word in message)
BAD_STEPS = [
    ("sgd len", lambda b: ops.sgd_(b["params"], b["grads"][:-1], step=1, lr=0.1),
     ValueError, "grads"),
    ("sgd dtype", lambda b: ops.sgd_(b["params"], b["grads"].astype(np.float32), step=1, lr=0.1),
     TypeError, "grads"),
    ("sgd int params", lambda b: ops.sgd_(b["params"].astype(int), b["grads"], step=1, lr=0.1),
     TypeError, "params"),
    ("sgd list params", lambda b: ops.sgd_(list(b["params"]), b["grads"], step=1, lr=0.1),
     TypeError, "params"),
    ("sgd 2-d", lambda b: ops.sgd_(b["params"].reshape(2, 4), b["grads"].reshape(2, 4), step=1,
                                   lr=0.1), ValueError, "params"),
    ("sgd readonly", lambda b: ops.sgd_(readonly(b["params"]), b["grads"], step=1, lr=0.1),
     ValueError, "params"),
    ("sgd strided grads", lambda b: ops.sgd_(b["params"], strided(b["grads"]), step=1, lr=0.1),
     ValueError, "grads"),
    ("sgd alias", lambda b: ops.sgd_(b["params"], b["params"], step=1, lr=0.1),
     ValueError, "grads"),
    ("sgd alias view", lambda b: ops.sgd_(b["params"][:6], b["params"][2:], step=1, lr=0.1),
     ValueError, "grads"),
    ("sgd lr 0", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.0), ValueError, "lr"),
    ("sgd lr -1", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=-1.0), ValueError, "lr"),
    ("sgd lr nan", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=np.nan),
     ValueError, "lr"),
    ("sgd lr str", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr="0.1"), TypeError, "lr"),
    ("sgd step 0", lambda b: ops.sgd_(b["params"], b["grads"], step=0, lr=0.1),
     ValueError, "step"),
    ("sgd step float", lambda b: ops.sgd_(b["params"], b["grads"], step=1.0, lr=0.1),
     TypeError, "step"),
    ("sgd step bool", lambda b: ops.sgd_(b["params"], b["grads"], step=True, lr=0.1),
     TypeError, "step"),
    ("sgd no buffer", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1, momentum=0.9),
     ValueError, "momentum_buffer"),
    ("sgd buffer len", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1, momentum=0.9,
                                          momentum_buffer=b["buf"][:3]),
     ValueError, "momentum_buffer"),
    ("sgd buffer readonly", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1,
                                               momentum=0.9, momentum_buffer=readonly(b["buf"])),
     ValueError, "momentum_buffer"),
    ("sgd buffer is grads", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1,
                                               momentum=0.9, momentum_buffer=b["grads"]),
     ValueError, "momentum_buffer"),
    ("sgd negative momentum", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1,
                                                 momentum=-0.5), ValueError, "momentum"),
    ("sgd nesterov no momentum", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1,
                                                    nesterov=True), ValueError, "nesterov"),
    ("sgd negative wd", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1,
                                           weight_decay=-1.0), ValueError, "weight_decay"),
    ("sgd maximize str", lambda b: ops.sgd_(b["params"], b["grads"], step=1, lr=0.1,
                                            maximize="yes"), TypeError, "maximize"),
    ("sgd positional", lambda b: ops.sgd_(b["params"], b["grads"], 1, 0.1), TypeError, ""),
    ("adam len", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"][:-1], b["exp_avg_sq"],
                                     step=1), ValueError, "exp_avg"),
    ("adam dtype", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                       b["exp_avg_sq"].astype(np.float32), step=1),
     TypeError, "exp_avg_sq"),
    ("adam readonly state", lambda b: ops.adam_(b["params"], b["grads"], readonly(b["exp_avg"]),
                                                b["exp_avg_sq"], step=1), ValueError, "exp_avg"),
    ("adam strided params", lambda b: ops.adam_(strided(b["params"]), b["grads"], b["exp_avg"],
                                                b["exp_avg_sq"], step=1), ValueError, "params"),
    ("adam alias", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"], b["exp_avg"],
                                       step=1), ValueError, "exp_avg"),
    ("adam params is grads", lambda b: ops.adam_(b["params"], b["params"], b["exp_avg"],
                                                 b["exp_avg_sq"], step=1), ValueError, "grads"),
    ("adam negative eps", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                              b["exp_avg_sq"], step=1, eps=-1e-8),
     ValueError, "eps"),
    ("adam lr 0", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"], b["exp_avg_sq"],
                                      step=1, lr=0), ValueError, "lr"),
    ("adam lr inf", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"], b["exp_avg_sq"],
                                        step=1, lr=np.inf), ValueError, "lr"),
    ("adam beta1 1", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"], b["exp_avg_sq"],
                                         step=1, betas=(1.0, 0.999)), ValueError, "betas[0]"),
    ("adam beta2 neg", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                           b["exp_avg_sq"], step=1, betas=(0.9, -0.1)),
     ValueError, "betas[1]"),
    ("adam betas scalar", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                              b["exp_avg_sq"], step=1, betas=0.9),
     TypeError, "betas"),
    ("adam step -1", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"], b["exp_avg_sq"],
                                         step=-1), ValueError, "step"),
    ("adam step missing", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                              b["exp_avg_sq"]), TypeError, "step"),
    ("adam amsgrad no max", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                                b["exp_avg_sq"], step=1, amsgrad=True),
     ValueError, "max_exp_avg_sq"),
    ("adam max aliases v", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                               b["exp_avg_sq"], step=1, amsgrad=True,
                                               max_exp_avg_sq=b["exp_avg_sq"]),
     ValueError, "max_exp_avg_sq"),
    ("adam max readonly", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                              b["exp_avg_sq"], step=1, amsgrad=True,
                                              max_exp_avg_sq=readonly(b["buf"])),
     ValueError, "max_exp_avg_sq"),
    ("adam decoupled int", lambda b: ops.adam_(b["params"], b["grads"], b["exp_avg"],
                                               b["exp_avg_sq"], step=1, decoupled_weight_decay=1),
     TypeError, "decoupled_weight_decay"),
]


@pytest.mark.parametrize("label,call,exc,word", BAD_STEPS, ids=[c[0] for c in BAD_STEPS])
def test_bad_step_input_raises_before_writing(rng, label, call, exc, word):
    bufs = step_buffers(rng)
    before = {k: v.copy() for k, v in bufs.items()}
    with pytest.raises(exc) as info:
        call(bufs)
    assert word in str(info.value)
    for k in bufs:
        assert np.array_equal(bufs[k], before[k]), k


BAD_GRADS = [
    # (label, mutate(X, y, w, out) -> (X, y, w, out), exception, word)
    ("X 1-d", lambda X, y, w, o: (X[:, 0].copy(), y, w, o), ValueError, "X"),
    ("X int", lambda X, y, w, o: (X.astype(int), y, w, o), TypeError, "X"),
    ("X fortran", lambda X, y, w, o: (np.asfortranarray(X), y, w, o), ValueError, "X"),
    ("X empty", lambda X, y, w, o: (X[:0], y[:0], w, o), ValueError, "X"),
    ("y length", lambda X, y, w, o: (X, y[:-1], w, o), ValueError, "y"),
    ("y dtype", lambda X, y, w, o: (X, y.astype(np.float32), w, o), TypeError, "y"),
    ("y labels", lambda X, y, w, o: (X, y + 0.5, w, o), ValueError, "y"),
    ("w length", lambda X, y, w, o: (X, y, w[:-1], o), ValueError, "w"),
    ("w dtype", lambda X, y, w, o: (X, y, w.astype(np.float32), o), TypeError, "w"),
    ("out shape", lambda X, y, w, o: (X, y, w, o[:-1]), ValueError, "out"),
    ("out dtype", lambda X, y, w, o: (X, y, w, o.astype(np.float32)), TypeError, "out"),
    ("out readonly", lambda X, y, w, o: (X, y, w, readonly(o)), ValueError, "out"),
    ("out strided", lambda X, y, w, o: (X, y, w, strided(o)), ValueError, "out"),
    ("out list", lambda X, y, w, o: (X, y, w, list(o)), TypeError, "out"),
    ("out is w", lambda X, y, w, o: (X, y, w, w), ValueError, "out"),
]


@pytest.mark.parametrize("label,mutate,exc,word", BAD_GRADS, ids=[c[0] for c in BAD_GRADS])
def test_bad_gradient_input_raises_before_writing(rng, label, mutate, exc, word):
    X, y, w = grad_data(rng, np.float64, None, n=10, d=3)
    out = np.full(3, np.nan)
    X, y, w, out = mutate(X, y, w, out)
    arrays = [a for a in (X, y, w, out) if isinstance(a, np.ndarray)]
    before = [a.copy() for a in arrays]
    with pytest.raises(exc) as info:
        ops.logistic_grad(X, y, w, out=out)
    assert word in str(info.value)
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b, equal_nan=True)


def test_gpu_buffer_mixed_with_numpy_is_refused(rng):
    """A CUDA-looking params with NumPy grads is an error naming grads, not a silent copy."""
    class FakeCuda:
        def __init__(self, a):
            self.a = a
            self.__cuda_array_interface__ = dict(a.__array_interface__, version=3)

    p = rng.standard_normal(8)
    with pytest.raises(TypeError, match="grads"):
        ops.sgd_(FakeCuda(p), rng.standard_normal(8), step=1, lr=0.1)
    with pytest.raises(TypeError, match="params"):
        ops.sgd_(rng.standard_normal(8), FakeCuda(p), step=1, lr=0.1)


def test_docs_code_blocks_run():
    """Every python block of docs/ops.md runs as written (GPU/JAX blocks guard themselves)."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).parents[1] / "docs" / "ops.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/ops.md block {i}", "exec"), {})


def test_step_kernels_compile_once_per_dtype(rng):
    """Options are int arguments: every option combination shares one specialisation.

    (A read-only ``grads`` is a different numba type: at most one more per dtype.)
    """
    from fastgd.cpu import ops as k
    for dtype in (np.float32, np.float64):
        for opts in ADAM_CASES[::5]:
            p, g, m, v, vmax = (rng.standard_normal(16).astype(dtype) for _ in range(5))
            v, vmax = np.abs(v), np.abs(vmax)
            ops.adam_(p, g, m, v, step=2, max_exp_avg_sq=vmax, **opts)
        for opts in SGD_CASES[::3]:
            p, g, buf = (rng.standard_normal(16).astype(dtype) for _ in range(3))
            ops.sgd_(p, g, step=2, lr=0.1, momentum_buffer=buf, **opts)
    for kern in (k.adam_range, k.sgd_range):
        kinds = {(sig[0].dtype, sig[1].mutable) for sig in kern.signatures}
        assert len(kern.signatures) == len(kinds) <= 4
    for kern in (k.adam_range, k.sgd_range, k.adam_blocks, k.sgd_blocks, k.gradient,
                 k.gradient_blocks, k.gradient_batch_parallel):
        assert type(kern._cache).__name__ == "FunctionCache"
        assert kern.targetoptions["nogil"] is True


def test_import_does_not_load_the_kernels():
    import subprocess
    import sys
    code = "import sys, fastgd; print('fastgd.cpu.ops' in sys.modules, 'numba.cuda' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
