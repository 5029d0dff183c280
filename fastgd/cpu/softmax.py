"""Softmax (multinomial logistic regression) on the CPU: its evaluation, and its drivers.

Only the evaluation is Softmax's own: per row, k logits z = x_i W (W[j, c] = w[j*k + c],
W flattened to (d*k,)), then ``losses.softmax_terms``.  Its drivers are those of
fastgd/cpu/solve.py with the ``evaluate`` hook bound to ``evaluate_small`` /
``evaluate_large`` below (fastgd/cpu/drivers.py): the same skeleton, decisions, stopping tests, Armijo search, history,
lr="auto" (lambda_max of X^T X / n, curvature 1/2) and divergence rule as every
other problem.  k is read from the shapes (zk's rows).  With fit_intercept the k
intercepts follow W: w = (W.ravel(), b), length (d + 1) k; sample weights s (n,) are
scaled to sum n ((0,): none).
"""
import numpy as np
from numba import prange

from .._jit import cpu_kernel
from ..contract import HP_L2, HP_NINV, HP_ONE
from .evaluate import block_rows
from .math import losses

softmax_terms = losses.softmax_terms


@cpu_kernel(refcount=False, inline=True)
def rows_plain(X, y, w, lo, hi, zrow, acc, hp):
    """Sum over rows lo..hi of phi (float64, returned) and of x_i (x) r_i into acc (d*k,)."""
    d = X.shape[1]
    k = zrow.shape[0]
    one = hp[HP_ONE]
    zero = one - one
    for q in range(d * k):
        acc[q] = zero
    f = 0.0
    for i in range(lo, hi):
        for c in range(k):
            zrow[c] = zero
        for j in range(d):
            xij = X[i, j]
            for c in range(k):
                zrow[c] += xij * w[j * k + c]
        f += softmax_terms(zrow, int(y[i]), one)
        for j in range(d):
            xij = X[i, j]
            for c in range(k):
                acc[j * k + c] += xij * zrow[c]
    return f


@cpu_kernel(refcount=False, inline=True)
def rows_general(X, y, s, w, lo, hi, zrow, acc, hp):
    """rows_plain with sample weights s ((0,): none) and/or the intercepts (w of length
    (d + 1) k): sum s_i phi (returned), s_i x_i (x) r_i into acc[:d*k] and s_i r_i into
    acc[d*k:]."""
    d = X.shape[1]
    k = zrow.shape[0]
    dk = d * k
    inter = w.shape[0] > dk
    wtd = s.shape[0] > 0
    one = hp[HP_ONE]
    zero = one - one
    for q in range(w.shape[0]):
        acc[q] = zero
    f = 0.0
    for i in range(lo, hi):
        for c in range(k):
            zrow[c] = w[dk + c] if inter else zero
        for j in range(d):
            xij = X[i, j]
            for c in range(k):
                zrow[c] += xij * w[j * k + c]
        phi = softmax_terms(zrow, int(y[i]), one)
        si = s[i] if wtd else one
        f += phi * float(si)
        for c in range(k):
            zrow[c] *= si
        for j in range(d):
            xij = X[i, j]
            for c in range(k):
                acc[j * k + c] += xij * zrow[c]
        if inter:
            for c in range(k):
                acc[dk + c] += zrow[c]
    return f


@cpu_kernel(refcount=False)
def rows_block(X, y, s, w, lo, hi, zrow, acc, hp):
    """Sum over rows lo..hi of s_i phi (float64, returned) and of s_i x_i (x) r_i into acc
    (d*k,), plus sum s_i r_i into acc[d*k:] with the intercepts (w of (d + 1) k).  Without
    weights and intercepts, the plain loop (chosen once, not per row)."""
    if s.shape[0] > 0 or w.shape[0] > X.shape[1] * zrow.shape[0]:
        return rows_general(X, y, s, w, lo, hi, zrow, acc, hp)
    return rows_plain(X, y, w, lo, hi, zrow, acc, hp)


@cpu_kernel(parallel=True)
def rows_parallel(X, y, s, w, g, zk, part_g, part_f, hp):
    """The gradient sum of one large X over parallel row blocks into g; returns sum phi."""
    n = X.shape[0]
    nblocks = part_g.shape[0]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        part_f[blk] = rows_block(X, y, s, w, lo, hi, zk[blk], part_g[blk], hp)
    f = 0.0
    for blk in range(nblocks):
        f += part_f[blk]
    zero = hp[HP_ONE] - hp[HP_ONE]
    for q in range(g.shape[0]):
        s = zero
        for blk in range(nblocks):
            s += part_g[blk, q]
        g[q] = s
    return f


@cpu_kernel(refcount=False, inline=True)
def finish(fsum, w, g, hp, dk):
    """g = g / n + l2 w in place (no l2 on the intercepts, q >= dk); returns
    (fsum / n + l2/2 |w[:dk]|^2, |g|^2)."""
    l2 = hp[HP_L2]
    ninv = hp[HP_NINV]
    ww = 0.0
    gg = 0.0
    for q in range(dk):
        gq = g[q] * ninv + l2 * w[q]
        g[q] = gq
        ww += np.float64(w[q]) * np.float64(w[q])
        gg += np.float64(gq) * np.float64(gq)
    for q in range(dk, w.shape[0]):
        gq = g[q] * ninv
        g[q] = gq
        gg += np.float64(gq) * np.float64(gq)
    return fsum * float(ninv) + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False)
def evaluate_small(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """The drivers' evaluation hook (signature of fastgd.cpu.evaluate.evaluate_small) for
    one Softmax problem of a batch: (loss at w, |gradient|^2) in float64, gradient into
    g (d*k,); zk (1, k) scratch."""
    dk = X.shape[1] * zk.shape[1]
    return finish(rows_block(X, y, s, w, 0, X.shape[0], zk[0], g, hp), w, g, hp, dk)


@cpu_kernel(refcount=False)
def evaluate_large(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """evaluate_small for one large Softmax problem: parallel over row blocks; zk
    (nblocks, k), part_g (nblocks, d*k), part_f (nblocks,) scratch."""
    dk = X.shape[1] * zk.shape[1]
    return finish(rows_parallel(X, y, s, w, g, zk, part_g, part_f, hp), w, g, hp, dk)
