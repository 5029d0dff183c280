"""CPU kernels of fastgd.ops: fused in-place optimizer steps and one-pass gradients.

Every kernel trusts its caller (fastgd/ops.py validates).  The update maths are
the shared rules (fastgd/rules.py) and per-row losses (fastgd/losses.py); this
file only loops.  Option flags are int arguments, so each kernel compiles once
per dtype.  Scalars arrive in the buffer dtype (packed in ``hp``).

Step kernels come in two forms over the same ``*_range`` body: called directly
(serial, low call overhead for small buffers) or through ``*_blocks`` (prange
over blocks, for large buffers).  ``*_range`` loops over views ``a[lo:hi]`` with
``range(len)``: an index known to be >= 0 lets LLVM vectorise (with
``range(lo, hi)`` numba's negative-index wraparound blocks it).
"""

from numba import prange

from .._jit import cpu_kernel
from ..contract import (
    AD_BC2_SQRT, AD_BETA2, AD_DECAY, AD_EPS, AD_OMB1, AD_OMB2, AD_STEP_SIZE, AD_WD, SGD_KEEP,
    SGD_LR, SGD_MOMENTUM, SGD_WD,
)
from .math import losses, rules

# cpu_kernel's error_model="numpy" keeps Adam's division from blocking vectorisation
# (x/0 -> inf/nan, as in torch).
step_kernel = cpu_kernel

row_terms = losses.row_terms
sgd_element = rules.sgd_element
adam_element = rules.adam_element



# ------------------------------------------------------------------------ sgd
@step_kernel
def sgd_range(p, g, buf, hp, maximize, decay, use_momentum, first, nesterov, lo, hi):
    """torch.optim.SGD on p[lo:hi] in place; buf is only touched when use_momentum."""
    lr = hp[SGD_LR]
    mom = hp[SGD_MOMENTUM]
    keep = hp[SGD_KEEP]
    wd = hp[SGD_WD]
    p = p[lo:hi]
    g = g[lo:hi]
    if use_momentum:
        buf = buf[lo:hi]
    # one straight loop per case: a load chosen by a flag inside the loop stops LLVM
    # from vectorising it (measured: 3.5x slower)
    if use_momentum:
        for i in range(p.shape[0]):
            p[i], buf[i] = sgd_element(p[i], g[i], buf[i], lr, mom, keep, wd, maximize, decay,
                                       True, first, nesterov)
    else:
        for i in range(p.shape[0]):
            p[i] = sgd_element(p[i], g[i], g[i], lr, mom, keep, wd, maximize, decay, False,
                               first, nesterov)[0]


@step_kernel(parallel=True)
def sgd_blocks(p, g, buf, hp, maximize, decay, use_momentum, first, nesterov, block):
    n = p.shape[0]
    nblocks = (n + block - 1) // block
    for k in prange(nblocks):
        lo = k * block
        sgd_range(p, g, buf, hp, maximize, decay, use_momentum, first, nesterov, lo,
                  min(lo + block, n))


# ----------------------------------------------------------------------- adam
@step_kernel
def adam_range(p, g, m, v, vmax, hp, maximize, decay, decoupled, amsgrad, lo, hi):
    """torch.optim.Adam/AdamW on p[lo:hi] in place; vmax only touched when amsgrad."""
    step_size = hp[AD_STEP_SIZE]
    omb1 = hp[AD_OMB1]
    beta2 = hp[AD_BETA2]
    omb2 = hp[AD_OMB2]
    bc2_sqrt = hp[AD_BC2_SQRT]
    eps = hp[AD_EPS]
    wd = hp[AD_WD]
    shrink = hp[AD_DECAY]  # 1 - lr * weight_decay (AdamW)
    p = p[lo:hi]
    g = g[lo:hi]
    m = m[lo:hi]
    v = v[lo:hi]
    if amsgrad:
        vmax = vmax[lo:hi]
    # one straight loop per case (see sgd_range)
    if amsgrad:
        for i in range(p.shape[0]):
            p[i], m[i], v[i], vmax[i] = adam_element(
                p[i], g[i], m[i], v[i], vmax[i], step_size, omb1, beta2, omb2, bc2_sqrt, eps, wd,
                shrink, maximize, decay, decoupled, True)
    else:
        for i in range(p.shape[0]):
            p[i], m[i], v[i], _ = adam_element(
                p[i], g[i], m[i], v[i], v[i], step_size, omb1, beta2, omb2, bc2_sqrt, eps, wd,
                shrink, maximize, decay, decoupled, False)


@step_kernel(parallel=True)
def adam_blocks(p, g, m, v, vmax, hp, maximize, decay, decoupled, amsgrad, block):
    n = p.shape[0]
    nblocks = (n + block - 1) // block
    for k in prange(nblocks):
        lo = k * block
        adam_range(p, g, m, v, vmax, hp, maximize, decay, decoupled, amsgrad, lo,
                   min(lo + block, n))


# ------------------------------------------------------------------ gradients
@cpu_kernel
def rows_gradient(code, X, y, w, lo, hi, acc):
    """acc (d,) = sum_{lo<=i<hi} phi'(x_i.w, y_i) x_i, one pass over those rows.

    Returns sum phi(x_i.w, y_i) in float64.
    """
    d = X.shape[1]
    one = w.dtype.type(1.0)
    zero = one - one
    for j in range(d):
        acc[j] = zero
    f = 0.0
    for i in range(lo, hi):
        z = zero
        for j in range(d):
            z += X[i, j] * w[j]
        phi, r = row_terms(code, z, y[i], one, zero)
        f += phi
        for j in range(d):
            acc[j] += r * X[i, j]
    return f


@cpu_kernel
def gradient(code, X, y, w, g):
    """Mean loss (float64) and its gradient into g (d,) for one problem, serially."""
    n = X.shape[0]
    f = rows_gradient(code, X, y, w, 0, n, g)
    ninv = w.dtype.type(1.0 / n)
    for j in range(g.shape[0]):
        g[j] *= ninv
    return f / n


@cpu_kernel(parallel=True)
def gradient_blocks(code, X, y, w, g, part_g):
    """gradient() with prange over row blocks; part_g (nblocks, d) is scratch."""
    n, d = X.shape
    nblocks = part_g.shape[0]
    part_f = 0.0
    for k in prange(nblocks):
        part_f += rows_gradient(code, X, y, w, k * n // nblocks, (k + 1) * n // nblocks,
                                part_g[k])
    ninv = w.dtype.type(1.0 / n)
    for j in range(d):
        s = w.dtype.type(0.0)
        for k in range(nblocks):
            s += part_g[k, j]
        g[j] = s * ninv
    return part_f / n


@cpu_kernel
def gradient_batch(code, X, y, W, G, F):
    """gradient() of every problem b of X (B, n, d) into G[b], F[b], serially."""
    for b in range(X.shape[0]):
        F[b] = gradient(code, X[b], y[b], W[b], G[b])


@cpu_kernel(parallel=True)
def gradient_batch_parallel(code, X, y, W, G, F):
    """gradient_batch with prange over problems."""
    for b in prange(X.shape[0]):
        F[b] = gradient(code, X[b], y[b], W[b], G[b])
