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

from .. import config
from .._jit import cpu_kernel
from ..contract import HP_L2, HP_NINV, HP_ONE
from .evaluate import block_rows
from .math import losses

softmax_terms = losses.softmax_terms
exp_neg = losses.exp_neg
# the column-wise evaluation's tiles (compile-time constants of the cached kernels):
# column_tile rows, sized so that LOGIT_FEATURES rows of Xt and the k rows of Z fit this
COLUMN_TILE_BYTES = config.column_tile_bytes()
COLUMN_TILE_MIN_ROWS = config.COLUMN_TILE_MIN_ROWS
LOGIT_FEATURES = 8  # features per register block of logits_block (its 8 x 2 weights)


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
def column_tile(k, itemsize):
    """Rows per tile of the column-wise evaluation (int): the LOGIT_FEATURES rows of Xt
    and the k rows of Z that logits_transposed's inner loops touch fit
    COLUMN_TILE_BYTES (the L1 data cache), in whole SIMD vectors, at least
    config.COLUMN_TILE_MIN_ROWS (large k: the x rows stay in L1, Z streams from L2)."""
    rows = COLUMN_TILE_BYTES // (itemsize * (LOGIT_FEATURES + k))
    return max(COLUMN_TILE_MIN_ROWS, rows - rows % 16)


@cpu_kernel(refcount=False, inline=True)
def other_class(c, k):
    """The class paired with c in a two-class block: c + 1, or for an odd last class a
    class already done (c - 1), whose share of the block the caller drops."""
    return c + 1 if c + 1 < k else max(c - 1, 0)


@cpu_kernel(refcount=False, inline=True)
def block_weight(w, j, c, d, k, keep):
    """W[j, c] = w[j*k + c] when j < d and keep, else 0 (a padding feature or class of a
    register block: its products are exact zeros)."""
    return w[j * k + c] if (j < d and keep) else w[0] - w[0]


@cpu_kernel(refcount=False, inline=True)
def logits_block(Xt, w, Z, j, c, t0, t1):
    """Z[c] and Z[c2] (c2 = other_class) over rows t0..t1 += the products of features
    j..j+7 of Xt (d, n): one pass of 16 FMAs per row for 10 loads and 2 stores.  Features
    past d (their rows clamped to d - 1) and a dropped c2 get weight 0."""
    d = Xt.shape[0]
    k = Z.shape[0]
    c2 = other_class(c, k)
    b = c2 > c
    a0, a1 = block_weight(w, j, c, d, k, True), block_weight(w, j + 1, c, d, k, True)
    a2, a3 = block_weight(w, j + 2, c, d, k, True), block_weight(w, j + 3, c, d, k, True)
    a4, a5 = block_weight(w, j + 4, c, d, k, True), block_weight(w, j + 5, c, d, k, True)
    a6, a7 = block_weight(w, j + 6, c, d, k, True), block_weight(w, j + 7, c, d, k, True)
    b0, b1 = block_weight(w, j, c2, d, k, b), block_weight(w, j + 1, c2, d, k, b)
    b2, b3 = block_weight(w, j + 2, c2, d, k, b), block_weight(w, j + 3, c2, d, k, b)
    b4, b5 = block_weight(w, j + 4, c2, d, k, b), block_weight(w, j + 5, c2, d, k, b)
    b6, b7 = block_weight(w, j + 6, c2, d, k, b), block_weight(w, j + 7, c2, d, k, b)
    last = d - 1
    x0, x1 = Xt[min(j, last), t0:t1], Xt[min(j + 1, last), t0:t1]
    x2, x3 = Xt[min(j + 2, last), t0:t1], Xt[min(j + 3, last), t0:t1]
    x4, x5 = Xt[min(j + 4, last), t0:t1], Xt[min(j + 5, last), t0:t1]
    x6, x7 = Xt[min(j + 6, last), t0:t1], Xt[min(j + 7, last), t0:t1]
    za, zb = Z[c, t0:t1], Z[c2, t0:t1]
    for i in range(za.shape[0]):  # from 0: no negative-index select, so no gathers
        v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
        v4, v5, v6, v7 = x4[i], x5[i], x6[i], x7[i]
        za[i] += (((v0 * a0 + v1 * a1) + (v2 * a2 + v3 * a3))
                  + ((v4 * a4 + v5 * a5) + (v6 * a6 + v7 * a7)))
        zb[i] += (((v0 * b0 + v1 * b1) + (v2 * b2 + v3 * b3))
                  + ((v4 * b4 + v5 * b5) + (v6 * b6 + v7 * b7)))


@cpu_kernel(refcount=False, inline=True)
def logits_transposed(Xt, w, Z):
    """Z (k, n) = (X W)^T from Xt (d, n), W[j, c] = w[j*k + c]: SIMD over n, in tiles of
    column_tile rows, each tile in register blocks of LOGIT_FEATURES features x 2 classes
    (logits_block) so that the tile's rows of Xt and Z stay in L1 while every class
    reads them.  Every loop over rows indexes a view from 0."""
    d, n = Xt.shape
    k = Z.shape[0]
    tile = column_tile(k, Xt.itemsize)
    for t0 in range(0, n, tile):
        t1 = min(t0 + tile, n)
        for c in range(k):
            zc = Z[c, t0:t1]
            for i in range(zc.shape[0]):
                zc[i] = 0
        for j in range(0, d, LOGIT_FEATURES):
            for c in range(0, k, 2):
                logits_block(Xt, w, Z, j, c, t0, t1)


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
def gradient_block(Xt, Z, g, j, c, t0, t1, zero):
    """g[q*k + c] and g[q*k + c2] (c2 = other_class) += sum over rows t0..t1 of Xt[q] Z[c]
    (and Z[c2]) for the features q = j..j+3 below d: eight dot products, in X's dtype,
    per pass over the tile (6 loads for 8 FMAs per row).  Clamped features past d and a
    dropped c2 are computed and not added."""
    d = Xt.shape[0]
    k = Z.shape[0]
    c2 = other_class(c, k)
    last = d - 1
    x0, x1 = Xt[min(j, last), t0:t1], Xt[min(j + 1, last), t0:t1]
    x2, x3 = Xt[min(j + 2, last), t0:t1], Xt[min(j + 3, last), t0:t1]
    za, zb = Z[c, t0:t1], Z[c2, t0:t1]
    a0, a1, a2, a3 = zero, zero, zero, zero
    b0, b1, b2, b3 = zero, zero, zero, zero
    for i in range(za.shape[0]):  # from 0: no negative-index select, so no gathers
        v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
        r = za[i]
        a0 += v0 * r
        a1 += v1 * r
        a2 += v2 * r
        a3 += v3 * r
        r = zb[i]
        b0 += v0 * r
        b1 += v1 * r
        b2 += v2 * r
        b3 += v3 * r
    g[j * k + c] += a0
    if c2 > c:
        g[j * k + c2] += b0
    if j + 1 < d:
        g[(j + 1) * k + c] += a1
        if c2 > c:
            g[(j + 1) * k + c2] += b1
    if j + 2 < d:
        g[(j + 2) * k + c] += a2
        if c2 > c:
            g[(j + 2) * k + c2] += b2
    if j + 3 < d:
        g[(j + 3) * k + c] += a3
        if c2 > c:
            g[(j + 3) * k + c2] += b3


@cpu_kernel(refcount=False, inline=True)
def gradient_transposed(Xt, Z, g, one):
    """g[j*k + c] = sum_i Xt[j, i] Z[c, i], in the tiles of logits_transposed, each in
    register blocks of 4 features x 2 classes (gradient_block), summed over the tiles
    into g (in X's dtype, as each tile's dot products)."""
    d, n = Xt.shape
    k = Z.shape[0]
    zero = one - one
    for q in range(d * k):
        g[q] = zero
    tile = column_tile(k, Xt.itemsize)
    for t0 in range(0, n, tile):
        t1 = min(t0 + tile, n)
        for j in range(0, d, 4):
            for c in range(0, k, 2):
                gradient_block(Xt, Z, g, j, c, t0, t1, zero)


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
