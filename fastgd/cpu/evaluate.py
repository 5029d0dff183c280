"""Loss and gradient of one problem at w on the CPU, by evaluation mode.

``evaluate_small`` (a problem of a batch) -> ``eval_transposed`` (mode DIRECT: from its
transposed data, SIMD over rows) or ``eval_gram`` (GRAM: from X^T X / n, O(d^2));
``evaluate_large`` (one large problem) -> ``eval_gram`` or ``eval_rows`` (ROWS: parallel
over row blocks) -> ``apply_rows`` / ``rows_pairs`` /
``rows_tiled`` -> ``row_terms`` (the per-row loss of fastgd/losses.py).

Sample weights and the intercept (fit_intercept) run in the same loops as the default
path (a per-row branch on ``weighted``/``has_intercept``, never inside the loops over
columns), so they keep its pairing, tiling, prefetch and vectorised losses.
The weights s (n,) arrive scaled to sum n (so ``HP_NINV = 1/n`` still divides), or as
an empty (0,) array when there are none; the intercept is the coordinate d of w (the
gradient's coordinate d is the weighted mean of phi', and l2 skips it).

Every function here that reaches ``row_terms`` does so through this module's global
name, so a user-defined loss gets its own copies by rebinding that one name
(``fastgd._jit.rebind``), with no second copy of any source.
"""
import numpy as np
from numba import prange

from .._jit import cpu_kernel, is_single, prefetch
from ..contract import (
    GRAM, HP_L2, HP_LPARAM, HP_NINV, HP_ONE, HP_PREFETCH, LOGISTIC, LSQ, POISSON,
)
from .math import losses

row_terms = losses.row_terms
lsq_terms = losses.lsq_terms
logistic_terms = losses.logistic_terms
logistic_terms_single = losses.logistic_terms_single
poisson_terms = losses.poisson_terms


@cpu_kernel(refcount=False, inline=True)
def weighted(s):
    """Whether the sample weights s (n,) are given ((0,): none)."""
    return s.shape[0] > 0


@cpu_kernel(refcount=False, inline=True)
def has_intercept(w, d):
    """Whether the iterate w of a row loss over d features carries an intercept (w[d])."""
    return w.shape[0] > d


@cpu_kernel(refcount=False, inline=True)
def xt_matvec(Xt, w, z, nr, zero):
    """z[:nr] = X w for the first nr rows of the transposed data Xt (d, >= nr), plus the
    intercept w[d] when w has one; z (>= nr,) of Xt's dtype (zero: 0 in it).  SIMD runs
    over the rows."""
    d = Xt.shape[0]
    bias = w[d] if has_intercept(w, d) else zero
    # four rows of Xt per pass over z: a quarter of the loads and stores of z; the first
    # pass writes z (from the intercept, or 0; no pass zeroing it first), then eight rows
    # per pass (d = 20: 6 passes over z -> 3)
    j = 0
    if d >= 4:
        w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
        x0, x1, x2, x3 = Xt[0], Xt[1], Xt[2], Xt[3]
        for i in range(nr):
            z[i] = bias + ((x0[i] * w0 + x1[i] * w1) + (x2[i] * w2 + x3[i] * w3))
        j = 4
    else:
        for i in range(nr):
            z[i] = bias
    while j + 8 <= d:  # two groups of four per pass, added in the order of two passes
        w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        w4, w5, w6, w7 = w[j + 4], w[j + 5], w[j + 6], w[j + 7]
        x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
        x4, x5, x6, x7 = Xt[j + 4], Xt[j + 5], Xt[j + 6], Xt[j + 7]
        for i in range(nr):
            zi = z[i] + ((x0[i] * w0 + x1[i] * w1) + (x2[i] * w2 + x3[i] * w3))
            z[i] = zi + ((x4[i] * w4 + x5[i] * w5) + (x6[i] * w6 + x7[i] * w7))
        j += 8
    while j + 4 <= d:
        w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
        for i in range(nr):
            z[i] += (x0[i] * w0 + x1[i] * w1) + (x2[i] * w2 + x3[i] * w3)
        j += 4
    while j < d:
        wj = w[j]
        xj = Xt[j]
        for i in range(nr):
            z[i] += xj[i] * wj
        j += 1


@cpu_kernel(refcount=False, inline=True)
def xt_rmatvec(Xt, r, g, nr, zero):
    """g[:d] = X^T r over the first nr rows of the transposed data Xt (d, >= nr), and
    g[d] = sum r when g has the intercept's coordinate; sums in Xt's dtype (zero: 0 in it)."""
    d = Xt.shape[0]
    # four dot products per pass over r (one load of r feeds four rows of Xt)
    j = 0
    while j + 4 <= d:
        x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
        s0, s1, s2, s3 = zero, zero, zero, zero
        for i in range(nr):
            ri = r[i]
            s0 += x0[i] * ri
            s1 += x1[i] * ri
            s2 += x2[i] * ri
            s3 += x3[i] * ri
        g[j], g[j + 1], g[j + 2], g[j + 3] = s0, s1, s2, s3
        j += 4
    while j < d:
        xj = Xt[j]
        s0 = zero
        for i in range(nr):
            s0 += xj[i] * r[i]
        g[j] = s0
        j += 1
    if has_intercept(g, d):
        s0 = zero
        for i in range(nr):
            s0 += r[i]
        g[d] = s0


@cpu_kernel(refcount=False, inline=True)
def eval_transposed(code, Xt, y, s, w, z, g, hp):
    """Loss and gradient of one problem from its transposed data Xt (d, n).

    SIMD runs over n.  z (n,) is scratch; g (m,) is written (m = d, or d + 1 with the
    intercept w[d]); s (n,) sample weights or (0,).  Returns f (float64).
    """
    d, n = Xt.shape
    one = hp[HP_ONE]
    xt_matvec(Xt, w, z, n, one - one)
    f = terms_rows(code, z, y, s, one, hp[HP_LPARAM])
    return finish_gradient(Xt, z, w, g, f, hp)


@cpu_kernel(refcount=False, inline=True)
def terms_rows(code, z, y, s, one, param):
    """z <- s_i phi'(z_i, y_i) row by row; returns sum s_i phi (float64); s (n,) sample
    weights, or (0,) for none (s_i = 1)."""
    if weighted(s):
        return terms_loop(code, z, y, s, True, one, param)
    return terms_loop(code, z, y, s, False, one, param)


@cpu_kernel(refcount=False, inline=True)
def terms_loop(code, z, y, s, wtd, one, param):
    """terms_rows with wtd (weights or not) a constant of the inlined caller: LLVM folds
    the test out of the loops (it did not unswitch it: the unweighted float32 logistic
    loop stopped vectorising, 3x slower).

    The loss is chosen outside the loop so each loop inlines one small row function
    and vectorises (the vectorisable exp of fastgd/cpu/fastexp.py included); other losses (and user RowLoss, which
    rebinds row_terms) take the generic loop.  The logistic rows run in float64 for both
    dtypes: mixing widths kept LLVM from vectorising the float32 loop (14 ns per row
    instead of 1.4); for float32 data they take the float32-precise polynomials
    (losses.logistic_terms_single: a third fewer operations per row).
    """
    f = 0.0
    if code == LSQ:
        for i in range(z.shape[0]):
            phi, r = lsq_terms(z[i], y[i])
            if wtd:
                phi, r = phi * float(s[i]), r * s[i]
            f += phi
            z[i] = r
    elif code == LOGISTIC and is_single(one):  # float32 data: float32-precise terms
        for i in range(z.shape[0]):
            phi, r = logistic_terms_single(float(z[i]), float(y[i]), 1.0)
            if wtd:
                phi, r = phi * float(s[i]), r * float(s[i])
            f += phi
            z[i] = r
    elif code == LOGISTIC:
        for i in range(z.shape[0]):
            phi, r = logistic_terms(float(z[i]), float(y[i]), 1.0)
            if wtd:
                phi, r = phi * float(s[i]), r * float(s[i])
            f += phi
            z[i] = r
    elif code == POISSON:
        for i in range(z.shape[0]):
            phi, r = poisson_terms(z[i], y[i])
            if wtd:
                phi, r = phi * float(s[i]), r * s[i]
            f += phi
            z[i] = r
    else:
        for i in range(z.shape[0]):
            phi, r = row_terms(code, z[i], y[i], one, param)
            if wtd:
                phi, r = phi * float(s[i]), r * s[i]
            f += phi
            z[i] = r
    return f


@cpu_kernel(refcount=False, inline=True)
def apply_rows(code, z, y, one, param):
    """z <- phi'(z, y) row by row; returns sum phi (float64): terms_rows without weights."""
    return terms_loop(code, z, y, y[:0], False, one, param)


@cpu_kernel(refcount=False, inline=True)
def apply_rows_weighted(code, z, y, s, one, param):
    """apply_rows with sample weights s (n,): z <- s_i phi'(z, y); returns sum s_i phi."""
    return terms_loop(code, z, y, s, True, one, param)


@cpu_kernel(refcount=False, inline=True)
def finish_gradient(Xt, r, w, g, f, hp):
    """g[:d] = Xt r / n + l2 w[:d] (and g[d] = sum r / n for the intercept w[d]); returns
    (f / n + l2/2 |w[:d]|^2, |g|^2)."""
    d, n = Xt.shape
    l2 = hp[HP_L2]
    ninv = hp[HP_NINV]
    xt_rmatvec(Xt, r, g, n, hp[HP_ONE] - hp[HP_ONE])
    ww = 0.0
    gg = 0.0
    for j in range(d):
        gj = g[j] * ninv + l2 * w[j]
        g[j] = gj
        ww += np.float64(w[j]) * np.float64(w[j])
        gg += np.float64(gj) * np.float64(gj)
    if has_intercept(w, d):
        gj = g[d] * ninv
        g[d] = gj
        gg += np.float64(gj) * np.float64(gj)
    return f * float(ninv) + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False, inline=True)
def gram_row_done(s, j, w, b, g, l2):
    """Row j of the Gram evaluation from s = (A w)_j: writes g[j]; returns the row's
    share of f - c and of |g|^2."""
    wj = float(w[j])
    gj = s - b[j] + l2 * wj
    g[j] = gj
    return wj * (0.5 * s - b[j]) + 0.5 * l2 * wj * wj, gj * gj


@cpu_kernel(refcount=False, inline=True)
def eval_gram(A, b, c, w, g, hp, dpen):
    """Least squares from its Gram form: f = w.A w/2 - b.w + c, g = A w - b (+ l2 terms
    on the first dpen coordinates: the intercept, last, is not penalised).

    A w runs four rows at a time, each row's dot product in a register: Gram mode runs
    small d, where an iteration is a dependency chain, and accumulating into g instead
    (column-wise) put a store and a reload into every step of it (d=8: 29 -> 14 ns).
    Returns (f, |g|^2).
    """
    d = w.shape[0]
    l2 = float(hp[HP_L2])
    f = c
    gg = 0.0
    j = 0
    while j + 3 < dpen:
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for k in range(d):
            wk = float(w[k])
            s0 += A[j, k] * wk
            s1 += A[j + 1, k] * wk
            s2 += A[j + 2, k] * wk
            s3 += A[j + 3, k] * wk
        for q, s in ((0, s0), (1, s1), (2, s2), (3, s3)):
            df, dg = gram_row_done(s, j + q, w, b, g, l2)
            f += df
            gg += dg
        j += 4
    while j < dpen:
        s = 0.0
        for k in range(d):
            s += A[j, k] * float(w[k])
        df, dg = gram_row_done(s, j, w, b, g, l2)
        f += df
        gg += dg
        j += 1
    while j < d:  # the intercept (fit_intercept): not penalised
        s = 0.0
        for k in range(d):
            s += A[j, k] * float(w[k])
        df, dg = gram_row_done(s, j, w, b, g, l2 - l2)
        f += df
        gg += dg
        j += 1
    return f, gg


@cpu_kernel(refcount=False, inline=True)
def block_rows(blk, n, nblocks):
    """Rows [lo, hi) of block blk when n rows are split into nblocks near-equal blocks."""
    return blk * n // nblocks, (blk + 1) * n // nblocks


@cpu_kernel(refcount=False, inline=True)
def prefetch_rows(X, i, nrows):
    """Prefetch hint for rows i .. i + nrows - 1 of a C-contiguous X (n, d)."""
    d = X.shape[1]
    for q in range(i * d, (i + nrows) * d, max(1, 64 // X.itemsize)):
        prefetch(X, q)


@cpu_kernel(refcount=False, inline=True)
def rows_ahead(X, hp):
    """Rows of X ahead of the current one that a streaming loop prefetches: hp[HP_PREFETCH]
    bytes (the machine's calibrated distance, fastgd/cpu/calibrate.py); 0 = none."""
    nbytes = int(hp[HP_PREFETCH])
    if nbytes <= 0:
        return 0
    return max(2, nbytes // max(1, X.shape[1] * X.itemsize))


@cpu_kernel(refcount=False, inline=True)
def rows_pairs(code, lin, X, y, w, acc, lo, hi, one, lparam, ahead):
    """Rows lo..hi-1 of X: acc += sum_i phi'(x_i.w, y_i) x_i; returns sum_i phi (float64):
    rows_paired without weights or intercept.  lin: acc += sum_i (x_i.w) x_i instead (X^T X
    w, for the power iteration; y unread).  ahead: rows_ahead's prefetch distance."""
    return rows_paired(code, lin, False, X, y, y[:0], w, acc, lo, hi, one, lparam, ahead)


@cpu_kernel(refcount=False, inline=True)
def rows_general(code, lin, inter, X, y, s, w, acc, lo, hi, one, lparam):
    """rows_paired without prefetch (the mini-batch passes and the power iteration's
    row loop with weights or an intercept)."""
    return rows_paired(code, lin, inter, X, y, s, w, acc, lo, hi, one, lparam, 0)


@cpu_kernel(refcount=False, inline=True)
def row_weight(s, wtd, i, phi, r):
    """(s_i phi, s_i r) with sample weights (wtd), else (phi, r)."""
    if wtd:
        return phi * float(s[i]), r * s[i]
    return phi, r


@cpu_kernel(refcount=False, inline=True)
def rows_paired(code, lin, inter, X, y, s, w, acc, lo, hi, one, lparam, ahead):
    """Rows lo..hi-1 of X: acc[:d] += sum_i s_i phi'(z_i, y_i) x_i with z_i = x_i.w (+ w[d]
    when inter), acc[d] += sum_i s_i phi'_i (inter); returns sum_i s_i phi_i (float64).
    s (n,) sample weights or (0,) (s_i = 1).  lin: phi'_i = z_i and no phi (the power
    iteration: y unread).

    Two rows per pass: two independent dot products in flight and half the
    load-add-store round trips of acc (d=64 float32 in cache: 9.0 -> 4.4 ns per row
    once the loss branch is folded, see eval_rows).  The weights and the intercept are
    per-row work outside the loops over columns.  ahead: rows_ahead's prefetch distance.
    """
    d = X.shape[1]
    wtd = weighted(s)
    bias = w[d] if inter else one - one
    rsum = one - one  # the intercept's partial sum, in a register (not acc[d] per row)
    fb = 0.0
    i = lo
    while i + 1 < hi:
        if ahead > 0:
            prefetch_rows(X, i + ahead, 2)
        z0 = bias
        for j in range(d):
            z0 += X[i, j] * w[j]
        z1 = bias
        for j in range(d):
            z1 += X[i + 1, j] * w[j]
        r0 = z0
        r1 = z1
        if not lin:
            phi0, r0 = row_terms(code, z0, y[i], one, lparam)
            phi1, r1 = row_terms(code, z1, y[i + 1], one, lparam)
            phi0, r0 = row_weight(s, wtd, i, phi0, r0)
            phi1, r1 = row_weight(s, wtd, i + 1, phi1, r1)
            fb += phi0 + phi1
        elif wtd:
            r0 *= s[i]
            r1 *= s[i + 1]
        for j in range(d):
            acc[j] += r0 * X[i, j] + r1 * X[i + 1, j]
        rsum += r0 + r1
        i += 2
    if i < hi:
        zi = bias
        for j in range(d):
            zi += X[i, j] * w[j]
        r = zi
        if not lin:
            phi, r = row_terms(code, zi, y[i], one, lparam)
            phi, r = row_weight(s, wtd, i, phi, r)
            fb += phi
        elif wtd:
            r *= s[i]
        for j in range(d):
            acc[j] += r * X[i, j]
        rsum += r
    if inter:
        acc[d] += rsum
    return fb


@cpu_kernel(refcount=False, inline=True)
def rows_quad(code, inter, X, y, s, w, acc, lo, hi, one, lparam, ahead):
    """rows_paired four rows per pass, for a loss whose row terms cost more than the
    row's bytes (Poisson's exp): four independent rows in flight (2e6 x 64 float32
    Poisson 30 -> 19 ms per iteration).  Least squares streams at the read ceiling with
    two rows per pass already (four: no faster, alternating processes at 8-1000
    columns), so only eval_rows' Poisson copy takes this loop: each inlined copy costs
    compile time."""
    d = X.shape[1]
    wtd = weighted(s)
    bias = w[d] if inter else one - one
    rsum = one - one
    fb = 0.0
    i = lo
    while i + 3 < hi:
        if ahead > 0:
            prefetch_rows(X, i + ahead, 4)
        z0 = bias
        for j in range(d):
            z0 += X[i, j] * w[j]
        z1 = bias
        for j in range(d):
            z1 += X[i + 1, j] * w[j]
        z2 = bias
        for j in range(d):
            z2 += X[i + 2, j] * w[j]
        z3 = bias
        for j in range(d):
            z3 += X[i + 3, j] * w[j]
        phi0, r0 = row_terms(code, z0, y[i], one, lparam)
        phi1, r1 = row_terms(code, z1, y[i + 1], one, lparam)
        phi2, r2 = row_terms(code, z2, y[i + 2], one, lparam)
        phi3, r3 = row_terms(code, z3, y[i + 3], one, lparam)
        phi0, r0 = row_weight(s, wtd, i, phi0, r0)
        phi1, r1 = row_weight(s, wtd, i + 1, phi1, r1)
        phi2, r2 = row_weight(s, wtd, i + 2, phi2, r2)
        phi3, r3 = row_weight(s, wtd, i + 3, phi3, r3)
        fb += (phi0 + phi1) + (phi2 + phi3)
        for j in range(d):
            acc[j] += (r0 * X[i, j] + r1 * X[i + 1, j]) + (r2 * X[i + 2, j] + r3 * X[i + 3, j])
        rsum += (r0 + r1) + (r2 + r3)
        i += 4
    while i < hi:
        zi = bias
        for j in range(d):
            zi += X[i, j] * w[j]
        phi, r = row_terms(code, zi, y[i], one, lparam)
        phi, r = row_weight(s, wtd, i, phi, r)
        fb += phi
        for j in range(d):
            acc[j] += r * X[i, j]
        rsum += r
        i += 1
    if inter:
        acc[d] += rsum
    return fb


@cpu_kernel(refcount=False, inline=True)
def rows_tiled(code, inter, X, y, s, w, acc, zt, lo, hi, one, lparam, ahead):
    """rows_paired in tiles of zt.shape[0] rows: z for the tile, then the loss as one
    loop over the tile (terms_rows: vectorised, logistic's exp included), then
    acc += r_i x_i over the tile, which is still in cache (logistic, d=64 float32:
    22.7 -> 7.6 ns per row); acc[d] += sum r_i with the intercept (inter).  zt is scratch;
    s (n,) sample weights or (0,)."""
    d = X.shape[1]
    tile = zt.shape[0]
    bias = w[d] if inter else one - one
    wtd = weighted(s)
    fb = 0.0
    for t0 in range(lo, hi, tile):
        t1 = min(t0 + tile, hi)
        for i in range(t0, t1):
            if ahead > 0:
                prefetch_rows(X, i + ahead, 1)
            v = bias
            for j in range(d):
                v += X[i, j] * w[j]
            zt[i - t0] = v
        st = s[t0:t1] if wtd else s
        fb += terms_rows(code, zt[:t1 - t0], y[t0:t1], st, one, lparam)
        i = t0
        while i + 1 < t1:
            r0 = zt[i - t0]
            r1 = zt[i + 1 - t0]
            for j in range(d):
                acc[j] += r0 * X[i, j] + r1 * X[i + 1, j]
            i += 2
        if i < t1:
            r0 = zt[i - t0]
            for j in range(d):
                acc[j] += r0 * X[i, j]
        if inter:
            rs = one - one
            for q in range(t1 - t0):
                rs += zt[q]
            acc[d] += rs
    return fb


@cpu_kernel(parallel=True)
def eval_rows(code, X, y, s, w, g, z, part_g, part_f, hp):
    """One pass over a large X (n, d) in row blocks, one partial gradient per block.

    part_g (nblocks, d) and part_f (nblocks,) are scratch; g (d,) is written; z
    (nblocks * tile,) is scratch for the tiled (logistic) loop.  The loss is chosen
    outside the row loops, so each inlined copy folds row_terms' branch on the loss.
    """
    n, d = X.shape
    m = w.shape[0]
    nblocks = part_g.shape[0]
    tile = z.shape[0] // nblocks
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    inter = has_intercept(w, d)
    ahead = rows_ahead(X, hp)
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        acc = part_g[blk]
        for j in range(m):
            acc[j] = one - one
        if code == LSQ:
            fb = rows_paired(LSQ, False, inter, X, y, s, w, acc, lo, hi, one, lparam, ahead)
        elif code == POISSON:
            fb = rows_quad(POISSON, inter, X, y, s, w, acc, lo, hi, one, lparam, ahead)
        elif code == LOGISTIC:
            zt = z[blk * tile:(blk + 1) * tile]
            fb = rows_tiled(LOGISTIC, inter, X, y, s, w, acc, zt, lo, hi, one, lparam, ahead)
        else:
            fb = rows_paired(code, False, inter, X, y, s, w, acc, lo, hi, one, lparam, ahead)
        part_f[blk] = fb
    return reduce_blocks(part_g, part_f, w, g, d, hp[HP_NINV], hp[HP_L2])


@cpu_kernel(refcount=False, inline=True)
def reduce_blocks(part_g, part_f, w, g, d, ninv, l2):
    """The end of a row-block pass: g = sum of the blocks' part_g (nblocks, m) / n + l2 w
    (the intercept, coordinates d.., unpenalised), f = sum part_f / n + l2/2 |w[:d]|^2.
    ninv = 1/n and l2 in the gradient's dtype.  Returns (f, |g|^2) in float64."""
    nblocks = part_g.shape[0]
    m = w.shape[0]
    zero = ninv - ninv
    f = 0.0
    for blk in range(nblocks):
        f += part_f[blk]
    ww = 0.0
    gg = 0.0
    for j in range(d):
        s = zero
        for blk in range(nblocks):
            s += part_g[blk, j]
        gj = s * ninv + l2 * w[j]
        g[j] = gj
        ww += np.float64(w[j]) * np.float64(w[j])
        gg += np.float64(gj) * np.float64(gj)
    for j in range(d, m):  # the intercept: not penalised
        s0 = zero
        for blk in range(nblocks):
            s0 += part_g[blk, j]
        gj = s0 * ninv
        g[j] = gj
        gg += np.float64(gj) * np.float64(gj)
    return f * float(ninv) + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False, inline=True)
def evaluate_small(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """(loss at w, |gradient|^2) in float64, gradient written into g, for one problem of
    a batch: from its transpose Xt (d, n) (DIRECT) or its Gram form A, b, c (GRAM).

    The evaluation hook of the batched drivers (fastgd/cpu/solve.py).  X (n, d), y (n,);
    z, zk, part_g, part_f scratch (zk: per-row outputs of a multi-output loss, unused
    here); s (n,) sample weights or (0,).  A problem family with an evaluation of its
    own (Softmax) rebinds the hook.
    """
    if mode == GRAM:
        return eval_gram(A, b, c, w, g, hp, X.shape[1])
    return eval_transposed(code, Xt, y, s, w, z, g, hp)


@cpu_kernel(refcount=False, inline=True)
def evaluate_large(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """evaluate_small for one large problem: from its Gram form (GRAM) or by one
    parallel pass over the row blocks of X (ROWS).  The hook of solve_single.  (Kept
    apart from evaluate_small so that a batch never compiles the parallel row pass.)"""
    if mode == GRAM:
        return eval_gram(A, b, c, w, g, hp, X.shape[1])
    return eval_rows(code, X, y, s, w, g, z, part_g, part_f, hp)
