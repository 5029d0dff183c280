"""CPU drivers: the whole iteration loop of `minimize` in compiled code.

Data flow: ``solve_batch`` (prange over chunks of problems) or ``solve_single``
(one large problem, prange over row blocks inside each gradient evaluation) ->
``solve_problem`` (one problem's iterations, stopping tests, divergence) ->
``evaluate`` (loss and gradient at w, by mode) -> ``row_terms`` (per-row loss).

Every function that (indirectly) calls ``row_terms`` lives in this module, so a
user-defined loss gets its own drivers by rebinding that one name
(see ``fastgd._jit.rebind_module``) -- no second copy of any kernel.

State is resumable: a call advances every running problem up to iteration
``ip[IP_STOP_AT]`` and leaves status RUNNING on the ones not done, so the API
can run long solves in chunks (progress bars, callbacks).
"""
import math

import numpy as np
from numba import prange

from ..contract import (
    ARMIJO_C1, LOGISTIC, LSQ, ARMIJO_MAX_HALVINGS, DIRECT, DIVERGE_FACTOR, DIVERGED, FTOL, GD, GRAM,
    GTOL, HP_CURV, HP_L2, HP_LOSS_ROUNDING, HP_LPARAM, HP_NINV,
    HP_ONE, IP_ARMIJO, IP_HIST_EVERY, IP_LOSS, IP_MAX_ITER, IP_METHOD, IP_MODE, IP_STOP_AT,
    LINE_SEARCH_FAILED, MAX_ITER, POWER_ITERATIONS, RUNNING, TOL_F, TOL_G, TOL_X,
    XTOL,
)
from .math import losses, rules
from .._jit import borrowed, cpu_kernel, prefetch

row_terms = losses.row_terms
# rows per tile of the tiled row loop (eval_rows): the tile of X is re-read from cache
ROW_TILE = 64
# how far ahead the streaming row loops prefetch X (bytes): measured on W2 (2e6 x 64
# float32), 32 rows ahead lifted one pass over X from 80% to 91% of the read ceiling
PREFETCH_BYTES = 8192
lsq_terms = losses.lsq_terms
logistic_terms = losses.logistic_terms
momentum_buffer = rules.momentum_buffer
sgd_direction = rules.sgd_direction
adam_moments = rules.adam_moments
adam_direction = rules.adam_direction
is_bad = rules.is_bad
method_direction = rules.method_direction
adam_bias_corrections = rules.adam_bias_corrections
armijo_accepts = rules.armijo_accepts
auto_lr = rules.auto_lr
diverge_limit = rules.diverge_limit
power_start = rules.power_start


# ----------------------------------------------------------------- evaluation
@cpu_kernel(refcount=False, inline=True)
def eval_transposed(code, Xt, y, w, z, g, hp):
    """Loss and gradient of one problem from its transposed data Xt (d, n).

    SIMD runs over n.  z (n,) is scratch; g (d,) is written.  Returns f (float64).
    """
    d, n = Xt.shape
    one = hp[HP_ONE]
    zero = one - one
    for i in range(n):
        z[i] = zero
    # four rows of Xt per pass over z: a quarter of the loads and stores of z
    j = 0
    while j + 4 <= d:
        w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
        x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
        for i in range(n):
            z[i] += (x0[i] * w0 + x1[i] * w1) + (x2[i] * w2 + x3[i] * w3)
        j += 4
    while j < d:
        wj = w[j]
        xj = Xt[j]
        for i in range(n):
            z[i] += xj[i] * wj
        j += 1
    f = apply_rows(code, z, y, one, hp[HP_LPARAM])
    return finish_gradient(Xt, z, w, g, f, hp)


@cpu_kernel(refcount=False, inline=True)
def apply_rows(code, z, y, one, param):
    """z <- phi'(z, y) row by row; returns sum phi (float64).

    The loss is chosen outside the loop so each loop inlines one small row function
    and vectorises (the vectorisable exp of fastgd/cpu/fastexp.py included); other
    losses (and user RowLoss, which rebinds row_terms) take the generic loop.  The
    logistic rows run in float64 for both dtypes: mixing widths kept LLVM from
    vectorising the float32 loop (14 ns per row instead of 1.4).
    """
    f = 0.0
    if code == LSQ:
        for i in range(z.shape[0]):
            phi, r = lsq_terms(z[i], y[i])
            f += phi
            z[i] = r
    elif code == LOGISTIC:
        for i in range(z.shape[0]):
            phi, r = logistic_terms(float(z[i]), float(y[i]), 1.0)
            f += phi
            z[i] = r
    else:
        for i in range(z.shape[0]):
            phi, r = row_terms(code, z[i], y[i], one, param)
            f += phi
            z[i] = r
    return f


@cpu_kernel(refcount=False, inline=True)
def finish_gradient(Xt, r, w, g, f, hp):
    """g = Xt r / n + l2 w; returns (f / n + l2/2 |w|^2, |g|^2)."""
    d, n = Xt.shape
    l2 = hp[HP_L2]
    ninv = hp[HP_NINV]
    zero = hp[HP_ONE] - hp[HP_ONE]
    # four dot products per pass over r (one load of r feeds four rows of Xt)
    j = 0
    while j + 4 <= d:
        x0, x1, x2, x3 = Xt[j], Xt[j + 1], Xt[j + 2], Xt[j + 3]
        s0, s1, s2, s3 = zero, zero, zero, zero
        for i in range(n):
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
        for i in range(n):
            s0 += xj[i] * r[i]
        g[j] = s0
        j += 1
    ww = 0.0
    gg = 0.0
    for j in range(d):
        gj = g[j] * ninv + l2 * w[j]
        g[j] = gj
        ww += float(w[j]) * float(w[j])
        gg += float(gj) * float(gj)
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
def eval_gram(A, b, c, w, g, hp):
    """Least squares from its Gram form: f = w.A w/2 - b.w + c, g = A w - b (+ l2 terms).

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
    while j + 3 < d:
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
    while j < d:
        s = 0.0
        for k in range(d):
            s += A[j, k] * float(w[k])
        df, dg = gram_row_done(s, j, w, b, g, l2)
        f += df
        gg += dg
        j += 1
    return f, gg


@cpu_kernel(refcount=False, inline=True)
def prefetch_rows(X, i, nrows):
    """Prefetch hint for rows i .. i + nrows - 1 of a C-contiguous X (n, d)."""
    d = X.shape[1]
    for q in range(i * d, (i + nrows) * d, max(1, 64 // X.itemsize)):
        prefetch(X, q)


@cpu_kernel(refcount=False, inline=True)
def rows_ahead(X):
    """Rows of X ahead of the current one that a streaming loop prefetches."""
    return max(2, PREFETCH_BYTES // max(1, X.shape[1] * X.itemsize))


@cpu_kernel(refcount=False, inline=True)
def rows_pairs(code, lin, X, y, w, acc, lo, hi, one, lparam):
    """Rows lo..hi-1 of X: acc += sum_i phi'(x_i.w, y_i) x_i; returns sum_i phi (float64).
    lin: acc += sum_i (x_i.w) x_i instead (X^T X w, for the power iteration; y unread).

    Two rows per pass: two independent dot products in flight and half the
    load-add-store round trips of acc (d=64 float32 in cache: 9.0 -> 4.4 ns per row
    once the loss branch is folded, see eval_rows).
    """
    d = X.shape[1]
    ahead = rows_ahead(X)
    fb = 0.0
    i = lo
    while i + 1 < hi:
        prefetch_rows(X, i + ahead, 2)
        z0 = one - one
        for j in range(d):
            z0 += X[i, j] * w[j]
        z1 = one - one
        for j in range(d):
            z1 += X[i + 1, j] * w[j]
        r0 = z0
        r1 = z1
        if not lin:
            phi0, r0 = row_terms(code, z0, y[i], one, lparam)
            phi1, r1 = row_terms(code, z1, y[i + 1], one, lparam)
            fb += phi0 + phi1
        for j in range(d):
            acc[j] += r0 * X[i, j] + r1 * X[i + 1, j]
        i += 2
    if i < hi:
        zi = one - one
        for j in range(d):
            zi += X[i, j] * w[j]
        r = zi
        if not lin:
            phi, r = row_terms(code, zi, y[i], one, lparam)
            fb += phi
        for j in range(d):
            acc[j] += r * X[i, j]
    return fb


@cpu_kernel(refcount=False, inline=True)
def rows_tiled(code, X, y, w, acc, zt, lo, hi, one, lparam):
    """rows_pairs in tiles of zt.shape[0] rows: z for the tile, then the loss as one
    loop over the tile (apply_rows: vectorised, logistic's exp included), then
    acc += r_i x_i over the tile, which is still in cache (logistic, d=64 float32:
    22.7 -> 7.6 ns per row).  zt is scratch."""
    d = X.shape[1]
    tile = zt.shape[0]
    ahead = rows_ahead(X)
    fb = 0.0
    for t0 in range(lo, hi, tile):
        t1 = min(t0 + tile, hi)
        for i in range(t0, t1):
            prefetch_rows(X, i + ahead, 1)
            s = one - one
            for j in range(d):
                s += X[i, j] * w[j]
            zt[i - t0] = s
        fb += apply_rows(code, zt[:t1 - t0], y[t0:t1], one, lparam)
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
    return fb


@cpu_kernel(parallel=True)
def eval_rows(code, X, y, w, g, z, part_g, part_f, hp):
    """One pass over a large X (n, d) in row blocks, one partial gradient per block.

    part_g (nblocks, d) and part_f (nblocks,) are scratch; g (d,) is written; z
    (nblocks * tile,) is scratch for the tiled (logistic) loop.  The loss is chosen
    outside the row loops, so each inlined copy folds row_terms' branch on the loss.
    """
    n, d = X.shape
    nblocks = part_g.shape[0]
    tile = z.shape[0] // nblocks
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    for blk in prange(nblocks):
        lo = blk * n // nblocks
        hi = (blk + 1) * n // nblocks
        acc = part_g[blk]
        for j in range(d):
            acc[j] = one - one
        if code == LSQ:
            fb = rows_pairs(LSQ, False, X, y, w, acc, lo, hi, one, lparam)
        elif code == LOGISTIC:
            zt = z[blk * tile:(blk + 1) * tile]
            fb = rows_tiled(LOGISTIC, X, y, w, acc, zt, lo, hi, one, lparam)
        else:
            fb = rows_pairs(code, False, X, y, w, acc, lo, hi, one, lparam)
        part_f[blk] = fb
    f = 0.0
    for blk in range(nblocks):
        f += part_f[blk]
    l2 = hp[HP_L2]
    ww = 0.0
    gg = 0.0
    for j in range(d):
        s = one - one
        for blk in range(nblocks):
            s += part_g[blk, j]
        gj = s * hp[HP_NINV] + l2 * w[j]
        g[j] = gj
        ww += float(w[j]) * float(w[j])
        gg += float(gj) * float(gj)
    return f * float(hp[HP_NINV]) + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False, inline=True)
def evaluate(mode, code, X, y, Xt, z, A, b, c, part_g, part_f, w, g, hp):
    """(loss at w, |gradient|^2) in float64, gradient written into g, by evaluation mode."""
    if mode == DIRECT:
        return eval_transposed(code, Xt, y, w, z, g, hp)
    elif mode == GRAM:
        return eval_gram(A, b, c, w, g, hp)
    return eval_rows(code, X, y, w, g, z, part_g, part_f, hp)


# ------------------------------------------------------------ preparation
@cpu_kernel(refcount=False)
def transpose_into(X, Xt):
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            Xt[j, i] = X[i, j]


@cpu_kernel(refcount=False)
def gram_into(X, y, A, b):
    """A = X^T X / n, b = X^T y / n (float64 accumulation); returns c = y.y / (2n)."""
    n, d = X.shape
    for j in range(d):
        b[j] = 0.0
        for k in range(d):
            A[j, k] = 0.0
    c = 0.0
    for i in range(n):
        yi = float(y[i])
        c += yi * yi
        for j in range(d):
            xij = float(X[i, j])
            b[j] += xij * yi
            for k in range(j, d):
                A[j, k] += xij * X[i, k]
    for j in range(d):
        b[j] /= n
        for k in range(j, d):
            A[j, k] /= n
            A[k, j] = A[j, k]
    return c / (2.0 * n)


@cpu_kernel(refcount=False)
def gram_transposed(Xt, y, A, b):
    """gram_into from the transposed data Xt (d, n): every entry a dot product along n
    (contiguous, vectorised), where row updates of a d x d matrix stay scalar for small d."""
    d, n = Xt.shape
    c = 0.0
    for i in range(n):
        c += float(y[i]) * float(y[i])
    for j in range(d):
        s = 0.0
        for i in range(n):
            s += float(Xt[j, i]) * float(y[i])
        b[j] = s / n
        for k in range(j, d):
            s = 0.0
            for i in range(n):
                s += float(Xt[j, i]) * float(Xt[k, i])
            A[j, k] = s / n
            A[k, j] = A[j, k]
    return c / (2.0 * n)


@cpu_kernel(parallel=True)
def gram_rows(X, y, A, b, part_A, part_b, part_c):
    """gram_into for one large X, in parallel row blocks; returns c."""
    n, d = X.shape
    nblocks = part_A.shape[0]
    for blk in prange(nblocks):
        lo = blk * n // nblocks
        hi = (blk + 1) * n // nblocks
        part_c[blk] = gram_into(X[lo:hi], y[lo:hi], part_A[blk], part_b[blk]) * (hi - lo)
        for j in range(d):
            part_b[blk, j] *= hi - lo
            for k in range(d):
                part_A[blk, j, k] *= hi - lo
    c = 0.0
    for blk in range(nblocks):
        c += part_c[blk]
    for j in range(d):
        s = 0.0
        for blk in range(nblocks):
            s += part_b[blk, j]
        b[j] = s / n
        for k in range(d):
            s = 0.0
            for blk in range(nblocks):
                s += part_A[blk, j, k]
            A[j, k] = s / n
    return c / n


@cpu_kernel(refcount=False)
def lipschitz(mode, X, Xt, A, v, u, gv, part_g, hp):
    """Largest eigenvalue of X^T X / n by power iteration (v, u, gv are scratch)."""
    d = v.shape[0]
    one = hp[HP_ONE]
    for j in range(d):
        v[j] = power_start(j, one)
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        nrm = 0.0
        for j in range(d):
            nrm += float(v[j]) * float(v[j])
        nrm = math.sqrt(nrm)
        if nrm == 0.0 or is_bad(nrm):
            return lam
        for j in range(d):
            v[j] = v[j] / nrm
        if mode == GRAM:
            for j in range(d):
                s = 0.0
                for k in range(d):
                    s += A[j, k] * v[k]
                gv[j] = s
        elif mode == DIRECT:
            d_, n = Xt.shape
            for i in range(n):
                u[i] = one - one
            for j in range(d):
                for i in range(n):
                    u[i] += Xt[j, i] * v[j]
            for j in range(d):
                s = one - one
                for i in range(n):
                    s += Xt[j, i] * u[i]
                gv[j] = s * hp[HP_NINV]
        else:
            xtx_rows(X, v, gv, part_g, hp)
        lam = 0.0
        for j in range(d):
            lam += float(v[j]) * float(gv[j])
        for j in range(d):
            v[j] = gv[j]
    return lam


@cpu_kernel(parallel=True)
def xtx_rows(X, v, out, part_g, hp):
    """out = X^T X v / n for one large X, parallel over row blocks."""
    n, d = X.shape
    nblocks = part_g.shape[0]
    one = hp[HP_ONE]
    for blk in prange(nblocks):
        lo = blk * n // nblocks
        hi = (blk + 1) * n // nblocks
        acc = part_g[blk]
        for j in range(d):
            acc[j] = one - one
        # the linear pass reads no y: v stands in for it (same dtype, never indexed)
        rows_pairs(LSQ, True, X, v, v, acc, lo, hi, one, one)
    for j in range(d):
        s = one - one
        for blk in range(nblocks):
            s += part_g[blk, j]
        out[j] = s * hp[HP_NINV]


# ------------------------------------------------------------ one problem
@cpu_kernel(refcount=False, inline=True)
def take_direction(method, t, g, s1, s2, p, hp):
    """Advance the method's state at update number t+1 and write the direction p.

    The update is w <- w - alpha * p; returns alpha / lr (1/(1 - beta1^t) for Adam).
    """
    return method_direction(method, t, g, s1, s2, p, hp, 0, 1)


@cpu_kernel(refcount=False, inline=True)
def record_history(hist, col, t, hist_every, f, finished):
    """History row j holds the loss at iterate j*k; a stopped problem fills the rest."""
    if hist_every <= 0:
        return
    if t % hist_every == 0:
        hist[t // hist_every, col] = f
    if finished:
        for j in range(t // hist_every + 1, hist.shape[0]):
            hist[j, col] = f


@cpu_kernel(refcount=False)
def solve_problem(X, y, Xt, z, A, b, c, part_g, part_f, w_out, ip, hp, tol, state, col,
                  w_new, g, g_new, s1, s2, p, hist):
    """Run one problem from its saved state up to iteration ip[IP_STOP_AT].

    state (float64, 6): [lr, nit, status, f0, fun, grad_norm] -- read and written.
    s1/s2: the method's per-coordinate state (momentum buffer; Adam m, v).
    w_out is updated in place and ends holding the last finite iterate.
    """
    method = ip[IP_METHOD]
    code = ip[IP_LOSS]
    mode = ip[IP_MODE]
    max_iter = ip[IP_MAX_ITER]
    stop_at = ip[IP_STOP_AT]
    armijo = ip[IP_ARMIJO] != 0
    hist_every = ip[IP_HIST_EVERY]
    gtol = tol[TOL_G]
    xtol = tol[TOL_X]
    ftol = tol[TOL_F]
    d = w_out.shape[0]
    status = int(state[2])
    if status != RUNNING:
        return
    t = int(state[1])
    lr = state[0]
    if lr <= 0.0:  # "auto": 1 / (curvature * lambda_max(X^T X / n) + l2)
        lam = lipschitz(mode, X, Xt, A, s1, z, g, part_g, hp)
        lr = auto_lr(float(hp[HP_CURV]), lam, float(hp[HP_L2]))
        for j in range(d):
            s1[j] = 0.0
    w = w_out        # current iterate; w_new, g_new: the trial point; swapped on acceptance
    swapped = False
    f, gsq = evaluate(mode, code, X, y, Xt, z, A, b, c, part_g, part_f, w, g, hp)
    if t == 0:
        state[3] = f
        if hist_every > 0:
            record_history(hist, col, 0, hist_every, f, False)
    f0 = state[3]
    limit = diverge_limit(f0, DIVERGE_FACTOR)
    # squared norms against squared tolerances: no square root in the iteration's
    # dependency chain (for small problems that chain, not arithmetic, sets the speed)
    gtol2 = gtol * gtol
    xtol2 = xtol * xtol
    if is_bad(f) or is_bad(gsq):
        status = DIVERGED
    while status == RUNNING:
        if gtol > 0.0 and gsq <= gtol2:
            status = GTOL
            break
        if t >= max_iter:
            status = MAX_ITER
            break
        if t >= stop_at:
            break
        if method == GD:
            scale = 1.0
            direction = g
        else:
            scale = take_direction(method, t, g, s1, s2, p, hp)
            direction = p
        slope = 0.0
        if armijo:
            for j in range(d):
                slope += float(g[j]) * float(direction[j])
        alpha = lr * scale
        # Gram-form losses round relative to c = |y|^2/2n, not to f (cancellation)
        rounding = float(hp[HP_LOSS_ROUNDING]) * (abs(f) + c)
        halvings = 0
        while True:
            step = 0.0
            ww = 0.0
            for j in range(d):
                wj = w[j] - alpha * direction[j]
                w_new[j] = wj
                dj = float(wj) - float(w[j])
                step += dj * dj
                ww += float(wj) * float(wj)
            f_new, gsq_new = evaluate(mode, code, X, y, Xt, z, A, b, c, part_g, part_f, w_new,
                                      g_new, hp)
            if not armijo:
                break
            # sufficient decrease, up to the loss's own rounding (else steps shrink forever
            # near the minimum, where the decrease is below the resolution of f)
            if armijo_accepts(f_new, f, alpha, slope, ARMIJO_C1, rounding):
                break
            halvings += 1
            if halvings > ARMIJO_MAX_HALVINGS:
                break
            alpha *= 0.5
        if armijo:
            if halvings > ARMIJO_MAX_HALVINGS:
                status = LINE_SEARCH_FAILED
                break
            lr = alpha / scale
        if is_bad(f_new) or f_new > limit or is_bad(ww) or is_bad(gsq_new):
            status = DIVERGED  # w stays the last finite iterate
            break
        w, w_new = w_new, w
        g, g_new = g_new, g
        swapped = not swapped
        df = abs(f_new - f)
        fscale = max(1.0, abs(f))
        f = f_new
        gsq = gsq_new
        t += 1
        if hist_every > 0:
            record_history(hist, col, t, hist_every, f, False)
        if xtol > 0.0 and step <= xtol2:
            status = XTOL
        elif ftol > 0.0 and df <= ftol * fscale:
            status = FTOL
    if swapped:
        for j in range(d):
            w_out[j] = w[j]
    if status != RUNNING and hist_every > 0:
        record_history(hist, col, t, hist_every, f, True)
    state[0] = lr
    state[1] = t
    state[2] = status
    state[4] = f
    state[5] = math.sqrt(gsq)


# ------------------------------------------------------------ drivers
@cpu_kernel(parallel=True)
def solve_batch(X, y, W, S1, S2, ip, hp, tol, state, hist, nchunks):
    """Solve B independent problems X (B, n, d), y (B, n) from W (B, d), in place.

    Parallel over `nchunks` contiguous chunks of problems (a few per thread); each
    problem runs all its iterations with its data hot in cache, so a converged
    problem costs nothing more (the active set is the set of problems still
    iterating).  state (B, 6) float64, see solve_problem; S1, S2 (B, d) method state.
    Scratch is per chunk, allocated once here; all views handed down are
    `borrowed` (see fastgd._jit) so no atomic reference counting runs per iteration.
    """
    B, n, d = X.shape
    mode = ip[IP_MODE]
    nt = n if mode in (DIRECT, GRAM) else 1
    dg = d if mode == GRAM else 1
    Xt_all = np.empty((nchunks, d, nt), X.dtype)
    z_all = np.empty((nchunks, n), X.dtype)
    A_all = np.empty((nchunks, dg, dg), np.float64)
    b_all = np.empty((nchunks, dg), np.float64)
    vec_all = np.empty((nchunks, 4, d), X.dtype)
    part_g_all = np.empty((nchunks, 1, d), X.dtype)
    part_f_all = np.empty((nchunks, 1), np.float64)
    Xb, yb, Wb, S1b, S2b = borrowed(X), borrowed(y), borrowed(W), borrowed(S1), borrowed(S2)
    ipb, hpb, tolb, stb, hb = borrowed(ip), borrowed(hp), borrowed(tol), borrowed(state), borrowed(hist)
    for ch in prange(nchunks):
        Xt = borrowed(Xt_all[ch])
        z = borrowed(z_all[ch])
        A = borrowed(A_all[ch])
        b = borrowed(b_all[ch])
        vec = borrowed(vec_all[ch])
        part_g = borrowed(part_g_all[ch])
        part_f = borrowed(part_f_all[ch])
        for k in range(ch * B // nchunks, (ch + 1) * B // nchunks):
            if int(stb[k, 2]) != RUNNING:
                continue
            c = 0.0
            transpose_into(Xb[k], Xt)
            if mode == GRAM:
                c = gram_transposed(Xt, yb[k], A, b)
            solve_problem(Xb[k], yb[k], Xt, z, A, b, c, part_g, part_f, Wb[k], ipb, hpb, tolb,
                          stb[k], k, vec[0], vec[1], vec[2], S1b[k], S2b[k], vec[3], hb)


@cpu_kernel
def solve_single(X, y, w, s1, s2, ip, hp, tol, state, hist, nblocks):
    """One large problem X (n, d): each evaluation is parallel over row blocks.

    mode ROWS reads X once per evaluation; mode GRAM builds X^T X / n in one
    parallel pass and then iterates in O(d^2).
    """
    n, d = X.shape
    mode = ip[IP_MODE]
    dg = d if mode == GRAM else 1
    A = np.empty((dg, dg), np.float64)
    b = np.empty(dg, np.float64)
    c = 0.0
    if mode == GRAM:
        part_A = np.empty((nblocks, d, d), np.float64)
        part_b = np.empty((nblocks, d), np.float64)
        part_c = np.empty(nblocks, np.float64)
        c = gram_rows(X, y, A, b, part_A, part_b, part_c)
    Xt = np.empty((1, 1), X.dtype)
    z = np.empty(nblocks * ROW_TILE, X.dtype)
    part_g = np.empty((nblocks, d), X.dtype)
    part_f = np.empty(nblocks, np.float64)
    w_new = np.empty(d, X.dtype)
    g = np.empty(d, X.dtype)
    g_new = np.empty(d, X.dtype)
    p = np.empty(d, X.dtype)
    solve_problem(X, y, Xt, z, A, b, c, part_g, part_f, w, ip, hp, tol, state, 0,
                  w_new, g, g_new, s1, s2, p, hist)
