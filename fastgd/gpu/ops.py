"""CUDA kernels of fastgd.ops (elementwise sgd_/adam_), imported only for CUDA buffers.

One thread per element in a grid-stride loop; the maths are the shared rules
compiled as device functions (fastgd/gpu/math.py).  Flags are int arguments and
scalars arrive in the buffer dtype, so each kernel compiles once per dtype.
"""
import numpy as np
from numba import cuda

from .. import config
from .math import rules

sgd_element = rules.sgd_element
adam_element = rules.adam_element



@cuda.jit
def sgd_kernel(p, g, buf, lr, mom, keep, wd, maximize, decay, use_momentum, first, nesterov):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, p.shape[0], stride):
        bi = buf[i] if use_momentum else g[i]  # no buffer without momentum
        pi, bi = sgd_element(p[i], g[i], bi, lr, mom, keep, wd, maximize, decay, use_momentum,
                             first, nesterov)
        p[i] = pi
        if use_momentum:
            buf[i] = bi


@cuda.jit
def adam_kernel(p, g, m, v, vmax, step_size, omb1, beta2, omb2, bc2_sqrt, eps, wd, shrink,
                maximize, decay, decoupled, amsgrad):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, p.shape[0], stride):
        vmi = vmax[i] if amsgrad else v[i]  # no max buffer without amsgrad
        pi, mi, vi, vmi = adam_element(p[i], g[i], m[i], v[i], vmi, step_size, omb1, beta2, omb2,
                                       bc2_sqrt, eps, wd, shrink, maximize, decay, decoupled,
                                       amsgrad)
        p[i] = pi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vmax[i] = vmi


def _view(a):
    """A numba device array over a CUDA array (no copy); simulator arrays pass as they are."""
    if type(a).__name__ == "FakeCUDAArray":
        return a
    return cuda.as_cuda_array(a)


_PLACEHOLDERS = {}


def _placeholder(like):
    """A 1-element device array standing in for an unused state buffer (never written)."""
    dtype = np.dtype(like.dtype)
    ph = _PLACEHOLDERS.get(dtype)
    if ph is None:
        ph = _PLACEHOLDERS[dtype] = cuda.device_array(1, dtype=dtype)
    return ph


def _grid(n):
    threads = config.GPU_OPS_THREADS
    return min(config.GPU_OPS_MAX_BLOCKS, (n + threads - 1) // threads), threads


def sgd(params, grads, buf, lr, mom, keep, wd, maximize, decay, use_momentum, first, nesterov):
    """Launch sgd_kernel on validated CUDA buffers (buf None without momentum)."""
    p, g = _view(params), _view(grads)
    b = _view(buf) if buf is not None else _placeholder(p)
    blocks, threads = _grid(p.shape[0])
    sgd_kernel[blocks, threads](p, g, b, lr, mom, keep, wd, maximize, decay, use_momentum,
                                first, nesterov)


def adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, step_size, omb1, beta2, omb2,
         bc2_sqrt, eps, wd, shrink, maximize, decay, decoupled, amsgrad):
    """Launch adam_kernel on validated CUDA buffers (max_exp_avg_sq None without amsgrad)."""
    p = _view(params)
    vmax = _view(max_exp_avg_sq) if max_exp_avg_sq is not None else _placeholder(p)
    blocks, threads = _grid(p.shape[0])
    adam_kernel[blocks, threads](p, _view(grads), _view(exp_avg), _view(exp_avg_sq), vmax,
                                 step_size, omb1, beta2, omb2, bc2_sqrt, eps, wd, shrink,
                                 maximize, decay, decoupled, amsgrad)
