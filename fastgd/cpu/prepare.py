"""Per-problem set-up on the CPU: transposed data, Gram form, and lambda_max(X^T X / n).

``lambda_max`` (power iteration) is what lr="auto" turns into a step size with
``decisions.auto_lr``; it runs in the problem's evaluation mode (from A in GRAM mode,
from Xt in DIRECT mode, parallel over row blocks of X in ROWS mode).

With sample weights s (scaled to sum n; (0,) when none) and/or the intercept, the
matrix is that of the augmented design [X, 1]: ``[X, 1]^T S [X, 1] / n`` (the Gram
form, of size d + 1 with the intercept) -- by the same augmentation inside the
products, never by a copy of X.  Those cases take paths of their own; the default
paths are unchanged.
"""
import math

import numpy as np
from numba import prange

from .._jit import cpu_kernel, load_relaxed
from ..contract import GRAM, HP_ONE, IP_INTERCEPT, IP_STOP_AT, LSQ, POWER_ITERATIONS
from .evaluate import block_rows, rows_ahead, rows_general, rows_pairs, weighted
from .math import decisions, rules
from .precondition import active, gradient_to_rescaled, to_original

is_bad = decisions.is_bad
power_start = rules.power_start


@cpu_kernel(refcount=False)
def transpose_into(X, Xt):
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            Xt[j, i] = X[i, j]


@cpu_kernel(refcount=False)
def gram_general(X, y, s, A, b, inter):
    """The Gram form of one small problem's augmented design [X, 1] (inter) with sample
    weights s ((0,): none): A = [X, 1]^T S [X, 1] / n, b = [X, 1]^T S y / n, returns y^T S y / (2n); A is
    (d + inter, d + inter).  float64 products and sums."""
    n, d = X.shape
    dim = d + 1 if inter else d
    wtd = weighted(s)
    for j in range(dim):
        b[j] = 0.0
        for k in range(dim):
            A[j, k] = 0.0
    c = 0.0
    for i in range(n):
        si = np.float64(s[i]) if wtd else 1.0
        yi = np.float64(y[i])
        c += si * yi * yi
        for j in range(dim):
            xij = (np.float64(X[i, j]) if j < d else 1.0) * si
            b[j] += xij * yi
            for k in range(j, dim):
                A[j, k] += xij * (np.float64(X[i, k]) if k < d else 1.0)
    for j in range(dim):
        b[j] /= n
        for k in range(j, dim):
            A[j, k] /= n
            A[k, j] = A[j, k]
    return c / (2.0 * n)


@cpu_kernel(refcount=False)
def gram_transposed(Xt, y, s, A, b, inter):
    """A = [X, 1]^T S [X, 1] / n, b = [X, 1]^T S y / n, returns c = y^T S y / (2n), from the
    transposed data Xt (d, n) (the ones column with the intercept, inter: A is then
    (d + 1, d + 1); S the weights s (n,), or (0,) for none).  Every entry a dot product
    along n (contiguous, vectorised), where row updates of a d x d matrix stay scalar for
    small d; float64 products (Numba's float() of a float32 stays float32, and y*y
    overflows it at |y| ~ 2e19).  One large problem's Gram form is built by BLAS instead
    (fastgd/cpu/gram.py)."""
    if weighted(s):
        return gram_dots(Xt, y, s, True, A, b, inter)
    return gram_dots(Xt, y, s, False, A, b, inter)


@cpu_kernel(refcount=False, inline=True)
def gram_dots(Xt, y, s, wtd, A, b, inter):
    """gram_transposed with wtd a constant of the inlined caller (the weight test folded out
    of the loops, which then vectorise)."""
    d, n = Xt.shape
    c = 0.0
    for i in range(n):
        yi = np.float64(y[i])
        c += yi * yi * np.float64(s[i]) if wtd else yi * yi
    for j in range(d):
        sb = 0.0
        for i in range(n):
            xs = np.float64(Xt[j, i]) * np.float64(s[i]) if wtd else np.float64(Xt[j, i])
            sb += xs * np.float64(y[i])
        b[j] = sb / n
        for k in range(j, d):
            sa = 0.0
            for i in range(n):
                xs = np.float64(Xt[j, i]) * np.float64(s[i]) if wtd else np.float64(Xt[j, i])
                sa += xs * np.float64(Xt[k, i])
            A[j, k] = sa / n
            A[k, j] = A[j, k]
        if inter:  # the ones column: A[j, d] = sum s_i x_ij / n
            sa = 0.0
            for i in range(n):
                sa += np.float64(Xt[j, i]) * np.float64(s[i]) if wtd else np.float64(Xt[j, i])
            A[j, d] = sa / n
            A[d, j] = A[j, d]
    if inter:
        sw = 0.0
        sy = 0.0
        for i in range(n):
            si = np.float64(s[i]) if wtd else 1.0
            sw += si
            sy += si * np.float64(y[i])
        A[d, d] = sw / n
        b[d] = sy / n
    return c / (2.0 * n)


@cpu_kernel(refcount=False, inline=True)
def power_set(v, gv, d):
    """v[:d] = gv / |gv| (gv float64, v of X's dtype: a unit vector always fits it).
    Returns |gv|; when it is 0 or not finite, v is left as it was."""
    nrm = 0.0
    for j in range(d):
        nrm += gv[j] * gv[j]
    nrm = math.sqrt(nrm)
    if nrm == 0.0 or is_bad(nrm):
        return nrm
    for j in range(d):
        v[j] = gv[j] / nrm
    return nrm


@cpu_kernel(refcount=False, inline=True)
def gram_apply(A, v, gv, d):
    """gv = A v (A = X^T X / n)."""
    for j in range(d):
        s = 0.0
        for k in range(d):
            s += A[j, k] * v[k]
        gv[j] = s


@cpu_kernel(refcount=False, inline=True)
def transposed_apply(Xt, sw, v, u, gv, hp, dim):
    """gv (float64) = X^T X v / n from Xt (d, n); u (n,) scratch.  u = X v stays in X's
    dtype (|u_i| <= |x_i| for a unit v); the sums along n are float64.  With weights sw
    ((0,): none) or dim = d + 1 (the intercept): [X, 1]^T S [X, 1] v / n."""
    d, n = Xt.shape
    one = hp[HP_ONE]
    for i in range(n):
        u[i] = one - one
    for j in range(d):
        for i in range(n):
            u[i] += Xt[j, i] * v[j]
    if dim > d:
        for i in range(n):
            u[i] += v[d]
    if weighted(sw):
        for i in range(n):
            u[i] *= sw[i]
    for j in range(d):
        s = 0.0
        for i in range(n):
            s += np.float64(Xt[j, i]) * np.float64(u[i])
        gv[j] = s / n
    if dim > d:
        s = 0.0
        for i in range(n):
            s += np.float64(u[i])
        gv[d] = s / n


@cpu_kernel(refcount=False)
def xtx_small(mode, X, s, Xt, A, v, u, gv, part_g, hp, dim):
    """gv (float64) = X^T X v / n (of [X, 1] when dim = d + 1, weighted by s) for a
    problem of a batch: from A (GRAM) or from Xt (DIRECT)."""
    if mode == GRAM:
        gram_apply(A, v, gv, dim)
    else:
        transposed_apply(Xt, s, v, u, gv, hp, dim)


@cpu_kernel(refcount=False)
def xtx_large(mode, X, s, Xt, A, v, u, gv, part_g, hp, dim):
    """gv (float64) = X^T X v / n for one large problem: from A (GRAM) or by parallel row blocks
    over X (ROWS).  Kept apart from xtx_small so a batch never compiles the row pass."""
    if mode == GRAM:
        gram_apply(A, v, gv, dim)
    else:
        xtx_rows(X, s, v, gv, part_g, hp, dim)


@cpu_kernel(refcount=False, inline=True)
def columns(X):
    """d of a dense X (n, d): a hook of lambda_max (a CSR driver binds its own,
    fastgd/cpu/csr.py)."""
    return X.shape[1]


# the hook of lambda_max, bound per size by fastgd/cpu/drivers.py (xtx_small, xtx_large)
xtx_apply = None


@cpu_kernel(refcount=False)
def lambda_max(mode, X, s, Xt, A, v, u, pw, hp, ip, pre, t):
    """Largest eigenvalue of X^T X / n (X (n, d)) by power iteration, in float64; of
    [X, 1]^T S [X, 1] / n (dimension d + 1) with the intercept (ip[IP_INTERCEPT]) or
    the sample weights s ((0,): none).

    v (>= d, X's dtype) holds the unit direction; M v comes from the hook ``xtx_apply``
    into float64 (X^T X v / n overflows float32 long before X does, and n float32
    additions drift by n eps).  u: scratch (n,) (DIRECT); pw (1 + row blocks, d) float64
    scratch: M v, then the row blocks' sums (ROWS).  Returns (lambda, stopped): lambda is NaN when the iteration broke
    down (a non-finite M v); stopped when Ctrl-C set ip[IP_STOP_AT] < 0 meanwhile.
    pre: precondition="diag"'s (PRE_ROWS, d) (fastgd/cpu/precondition.py): then the
    matrix is T^T M T, that of the rescaled variables, with t (>= d) scratch for T v (in
    GRAM mode A is that of v already: fastgd/cpu/precondition.gram_to_rescaled); or
    (PRE_ROWS, 0): M itself.
    """
    inter = ip[IP_INTERCEPT] != 0
    d = columns(X) + (1 if inter else 0)
    on = active(pre) and mode != GRAM
    at = v
    if on:
        at = t
    gv = pw[0]
    part = pw[1:]
    for j in range(d):
        gv[j] = power_start(j, 1.0)
    power_set(v, gv, d)
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        if load_relaxed(ip, IP_STOP_AT) < 0:
            return lam, True
        if on:
            to_original(pre, v, t, 1, inter)
        xtx_apply(mode, X, s, Xt, A, at, u, gv, part, hp, d)
        if on:
            gradient_to_rescaled(pre, gv, 1, inter)
        lam = 0.0
        for j in range(d):
            lam += np.float64(v[j]) * gv[j]
        nrm = power_set(v, gv, d)
        if nrm == 0.0:
            return lam, False  # M v = 0: lambda is exactly 0 along v
        if is_bad(nrm) or is_bad(lam):
            return math.nan, False
    return lam, False


@cpu_kernel(parallel=True)
def xtx_rows(X, s, v, out, part, hp, dim):
    """out (float64) = X^T X v / n for one large X, parallel over row blocks; part
    (nblocks, >= dim) float64 holds the blocks' sums.  dim = d + 1 or weights s:
    [X, 1]^T S [X, 1] v / n."""
    n = X.shape[0]
    d = dim
    nblocks = part.shape[0]
    one = hp[HP_ONE]
    general = dim > X.shape[1] or weighted(s)
    ahead = rows_ahead(X, hp)
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        acc = part[blk]
        for j in range(d):
            acc[j] = 0.0
        # the linear pass reads no y: v stands in for it (same dtype, never indexed)
        if general:
            rows_general(LSQ, True, dim > X.shape[1], X, v, s, v, acc, lo, hi, one, one)
        else:
            rows_pairs(LSQ, True, X, v, v, acc, lo, hi, one, one, ahead)
    for j in range(d):
        s = 0.0
        for blk in range(nblocks):
            s += part[blk, j]
        out[j] = s / n


@cpu_kernel(refcount=False)
def prepare_problem(mode, X, y, s, Xt, A, b, inter):
    """Set-up of one small problem before its iterations: Xt (d, n) = X^T, and in GRAM
    mode A = X^T X / n, b = X^T y / n (of [X, 1] with the intercept, weighted by s:
    gram_transposed).  Returns c = y.y / (2n) (GRAM) or 0."""
    transpose_into(X, Xt)
    if mode == GRAM:
        return gram_transposed(Xt, y, s, A, b, inter)
    return 0.0
