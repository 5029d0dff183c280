"""Softmax (multinomial logistic regression) on the CPU: its evaluation, and its drivers.

Only the evaluation is Softmax's own: per row, k logits z = x_i W (W[j, c] = w[j*k + c],
W flattened to (d*k,)), then ``losses.softmax_terms`` (row blocks of one large problem:
``rows_block``), or the same column-wise over the transposed data (a problem of a batch, or
one within the cache: ``logits_transposed``, ``softmax_columns``, ``gradient_transposed``).  Its drivers are those of
fastgd/cpu/solve.py with the ``evaluate`` hook bound to ``evaluate_small`` /
``evaluate_large`` below (fastgd/cpu/drivers.py): the same skeleton, decisions, stopping tests, Armijo search, history,
lr="auto" (lambda_max of X^T X / n, curvature 1/2) and divergence rule as every
other problem.  k is read from the shapes (zk's rows).  With fit_intercept the k
intercepts follow W: w = (W.ravel(), b), length (d + 1) k; sample weights s (n,) are
scaled to sum n ((0,): none).
"""
import math

import numpy as np
from numba import prange

from .._jit import cpu_kernel
from ..contract import HP_L2, HP_NINV, HP_ONE
from .evaluate import block_rows
from .math import losses

softmax_terms = losses.softmax_terms
exp_neg = losses.exp_neg
COLUMN_TILE = 256  # rows per tile of the column-wise evaluation (4 rows of Xt + Z in L1)


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


@cpu_kernel(refcount=False, inline=True)
def logits_transposed(Xt, w, Z):
    """Z (k, n) = (X W)^T from Xt (d, n), W[j, c] = w[j*k + c]: SIMD over n, in tiles of
    COLUMN_TILE rows so that four rows of Xt and the tile of Z stay in L1 while every
    class reads them (a class at a time over all of n reread Xt from L3 k times)."""
    d, n = Xt.shape
    k = Z.shape[0]
    for t0 in range(0, n, COLUMN_TILE):
        t1 = min(t0 + COLUMN_TILE, n)
        for c in range(k):
            zc = Z[c]
            for i in range(t0, t1):
                zc[i] = 0
        j = 0
        while j + 4 <= d:
            x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
            for c in range(k):
                w0, w1 = w[j * k + c], w[(j + 1) * k + c]
                w2, w3 = w[(j + 2) * k + c], w[(j + 3) * k + c]
                zc = Z[c]
                for i in range(t0, t1):
                    zc[i] += (x0[i] * w0 + x1[i] * w1) + (x2[i] * w2 + x3[i] * w3)
            j += 4
        while j < d:
            xj = Xt[j]
            for c in range(k):
                wj = w[j * k + c]
                zc = Z[c]
                for i in range(t0, t1):
                    zc[i] += xj[i] * wj
            j += 1


@cpu_kernel(refcount=False, inline=True)
def softmax_columns(Z, y, s, one):
    """losses.softmax_terms for every row at once, on the logits Z (k, n) column-wise:
    Z becomes softmax - onehot(y) (the gradient factors); returns sum_i phi_i (float64),
    phi_i = logsumexp(z_i) - z_i[y_i] after subtracting max(z_i).  s (n,) scratch.
    Each pass is a loop over n that vectorises (the CPU's exp_neg included)."""
    k, n = Z.shape
    for i in range(n):
        s[i] = Z[0, i]
    for c in range(1, k):
        zc = Z[c]
        for i in range(n):
            if zc[i] > s[i]:
                s[i] = zc[i]
    f = 0.0
    for i in range(n):
        f += np.float64(s[i]) - np.float64(Z[int(y[i]), i])
    for c in range(k):
        zc = Z[c]
        for i in range(n):
            zc[i] = exp_neg(np.float64(s[i]) - np.float64(zc[i]))
    for i in range(n):
        s[i] = Z[0, i]
    for c in range(1, k):
        zc = Z[c]
        for i in range(n):
            s[i] += zc[i]
    for i in range(n):
        f += math.log(np.float64(s[i]))
        s[i] = one / s[i]
    for c in range(k):
        zc = Z[c]
        for i in range(n):
            zc[i] *= s[i]
    for i in range(n):
        Z[int(y[i]), i] -= one
    return f


@cpu_kernel(refcount=False, inline=True)
def gradient_transposed(Xt, Z, g, one):
    """g[j*k + c] = sum_i Xt[j, i] Z[c, i], in the tiles of logits_transposed: four
    dot products per pass over a tile of Z[c], summed over the tiles into g."""
    d, n = Xt.shape
    k = Z.shape[0]
    zero = one - one
    for q in range(d * k):
        g[q] = zero
    for t0 in range(0, n, COLUMN_TILE):
        t1 = min(t0 + COLUMN_TILE, n)
        j = 0
        while j + 4 <= d:
            x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
            for c in range(k):
                zc = Z[c]
                s0, s1, s2, s3 = zero, zero, zero, zero
                for i in range(t0, t1):
                    ri = zc[i]
                    s0 += x0[i] * ri
                    s1 += x1[i] * ri
                    s2 += x2[i] * ri
                    s3 += x3[i] * ri
                g[j * k + c] += s0
                g[(j + 1) * k + c] += s1
                g[(j + 2) * k + c] += s2
                g[(j + 3) * k + c] += s3
            j += 4
        while j < d:
            xj = Xt[j]
            for c in range(k):
                zc = Z[c]
                s0 = zero
                for i in range(t0, t1):
                    s0 += xj[i] * zc[i]
                g[j * k + c] += s0
            j += 1


@cpu_kernel(refcount=False)
def evaluate_small(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """The drivers' evaluation hook (signature of fastgd.cpu.evaluate.evaluate_small) for
    one Softmax problem of a batch (or one problem within the cache): (loss at w,
    |gradient|^2) in float64, gradient into g (d*k,) (and the k intercepts after it),
    zk (k, n) and z (n,) scratch.  Without weights or intercepts: column-wise from the
    transposed data Xt (d, n) (SIMD over the n rows; the row-wise rows_block runs a
    k-long loop per row, 2x slower on digits-sized data); else row-wise."""
    k = zk.shape[0]
    dk = X.shape[1] * k
    if s.shape[0] == 0 and w.shape[0] == dk:
        one = hp[HP_ONE]
        logits_transposed(Xt, w, zk)
        f = softmax_columns(zk, y, z, one)
        gradient_transposed(Xt, zk, g, one)
        return finish(f, w, g, hp, dk)
    return finish(rows_block(X, y, s, w, 0, X.shape[0], zk[:, 0], g, hp), w, g, hp, dk)


@cpu_kernel(refcount=False)
def evaluate_large(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """evaluate_small for one large Softmax problem: parallel over row blocks; zk
    (nblocks, k), part_g (nblocks, d*k), part_f (nblocks,) scratch."""
    dk = X.shape[1] * zk.shape[1]
    return finish(rows_parallel(X, y, s, w, g, zk, part_g, part_f, hp), w, g, hp, dk)
