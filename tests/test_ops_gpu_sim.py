"""fastgd.ops on CUDA arrays: the CUDA kernels against torch.optim (CPU), in a subprocess.

numba.cuda reads NUMBA_ENABLE_CUDASIM when it is first imported, so the simulator
check runs a script in a fresh interpreter.  The same script runs unchanged on a
real GPU when one is present (test_ops_on_real_gpu).
"""
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
pytest.importorskip("numba_cuda")

SCRIPT = textwrap.dedent("""
    import numpy as np, torch
    from numba import cuda
    from fastgd import ops

    rng = np.random.default_rng(7)
    N, STEPS = 97, 3

    def close(a, ref, dtype):
        ref = np.asarray(ref)
        rtol = 1e-12 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(a, ref, rtol=rtol, atol=rtol * np.abs(ref).max())

    def torch_run(cls, p0, grads, **kw):
        tp = torch.tensor(p0.copy(), requires_grad=True)
        opt = cls([tp], **kw)
        for g in grads:
            tp.grad = torch.tensor(g.copy())
            opt.step()
        return tp.detach().numpy(), {k: v.numpy() for k, v in opt.state[tp].items()}

    for dtype in (np.float64, np.float32):
        p0 = rng.standard_normal(N).astype(dtype)
        grads = [rng.standard_normal(N).astype(dtype) for _ in range(STEPS)]
        for kw in (dict(), dict(weight_decay=0.1, amsgrad=True, maximize=True),
                   dict(weight_decay=0.1, decoupled_weight_decay=True, eps=1e-3)):
            cls = torch.optim.AdamW if kw.get("decoupled_weight_decay") else torch.optim.Adam
            tkw = {k: v for k, v in kw.items() if k != "decoupled_weight_decay"}
            ref_p, ref_s = torch_run(cls, p0, grads, lr=0.01, **tkw)
            p = cuda.to_device(p0)
            m, v, vmax = (cuda.to_device(np.zeros(N, dtype)) for _ in range(3))
            for t, g in enumerate(grads, start=1):
                dg = cuda.to_device(g)
                ops.adam_(p, dg, m, v, step=t, lr=0.01, max_exp_avg_sq=vmax, **kw)
                assert np.array_equal(dg.copy_to_host(), g)
            close(p.copy_to_host(), ref_p, dtype)
            close(m.copy_to_host(), ref_s["exp_avg"], dtype)
            close(v.copy_to_host(), ref_s["exp_avg_sq"], dtype)
            if kw.get("amsgrad"):
                close(vmax.copy_to_host(), ref_s["max_exp_avg_sq"], dtype)
        for kw in (dict(), dict(momentum=0.9, dampening=0.2, weight_decay=0.05),
                   dict(momentum=0.9, nesterov=True, maximize=True)):
            ref_p, ref_s = torch_run(torch.optim.SGD, p0, grads, lr=0.05, **kw)
            p = cuda.to_device(p0)
            buf = cuda.to_device(np.full(N, np.nan, dtype))  # step 1 overwrites it
            for t, g in enumerate(grads, start=1):
                ops.sgd_(p, cuda.to_device(g), step=t, lr=0.05,
                         momentum_buffer=buf if kw.get("momentum") else None, **kw)
            close(p.copy_to_host(), ref_p, dtype)
            if kw.get("momentum"):
                close(buf.copy_to_host(), ref_s["momentum_buffer"], dtype)

    # mixing devices, aliasing and read-only buffers are refused before any write
    p0 = rng.standard_normal(N)
    p, g = cuda.to_device(p0), cuda.to_device(rng.standard_normal(N))
    for call, word in [
        (lambda: ops.sgd_(p, np.ones(N), step=1, lr=0.1), "grads"),
        (lambda: ops.sgd_(p, p, step=1, lr=0.1), "grads"),
        (lambda: ops.sgd_(p, cuda.to_device(np.ones(N, np.float32)), step=1, lr=0.1), "grads"),
        (lambda: ops.adam_(p, g, cuda.to_device(np.zeros(N)), np.zeros(N), step=1), "exp_avg_sq"),
    ]:
        try:
            call()
        except (TypeError, ValueError) as exc:
            assert word in str(exc), exc
        else:
            raise AssertionError("no error for " + word)
        assert np.array_equal(p.copy_to_host(), p0)
    print("GPU-OPS-OK")
""")


def run_script(env_extra):
    env = dict(os.environ, **env_extra)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=900)


def test_ops_in_cuda_simulator():
    out = run_script({"NUMBA_ENABLE_CUDASIM": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "GPU-OPS-OK" in out.stdout


def _has_gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    probe = subprocess.run([sys.executable, "-c",
                            "from numba import cuda; print(cuda.is_available())"],
                           capture_output=True, text=True)
    return probe.stdout.strip() == "True"


@pytest.mark.skipif(not _has_gpu(), reason="no CUDA GPU")
def test_ops_on_real_gpu():
    out = run_script({"NUMBA_ENABLE_CUDASIM": "0"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "GPU-OPS-OK" in out.stdout
