"""Per-problem set-up on the CPU: transposed data, Gram form, and lambda_max(X^T X / n).

``lambda_max`` (power iteration) is what lr="auto" turns into a step size with
``decisions.auto_lr``; it runs in the problem's evaluation mode (from A in GRAM mode,
from Xt in DIRECT mode, parallel over row blocks of X in ROWS mode).
"""
import math

import numpy as np
from numba import prange

from .._jit import cpu_kernel, load_relaxed
from ..contract import GRAM, HP_ONE, IP_STOP_AT, LSQ, POWER_ITERATIONS
from .evaluate import block_rows, rows_pairs
from .math import decisions, rules

is_bad = decisions.is_bad
power_start = rules.power_start


@cpu_kernel(refcount=False)
def transpose_into(X, Xt):
    n, d = X.shape
    for i in range(n):
        for j in range(d):
            Xt[j, i] = X[i, j]


@cpu_kernel(refcount=False)
def gram_into(X, y, A, b):
    """A = X^T X / n, b = X^T y / n, from float64 products (Numba's float() of a float32
    stays float32, and y*y overflows it at |y| ~ 2e19); returns c = y.y / (2n)."""
    n, d = X.shape
    for j in range(d):
        b[j] = 0.0
        for k in range(d):
            A[j, k] = 0.0
    c = 0.0
    for i in range(n):
        yi = np.float64(y[i])
        c += yi * yi
        for j in range(d):
            xij = np.float64(X[i, j])
            b[j] += xij * yi
            for k in range(j, d):
                A[j, k] += xij * np.float64(X[i, k])
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
        c += np.float64(y[i]) * np.float64(y[i])
    for j in range(d):
        s = 0.0
        for i in range(n):
            s += np.float64(Xt[j, i]) * np.float64(y[i])
        b[j] = s / n
        for k in range(j, d):
            s = 0.0
            for i in range(n):
                s += np.float64(Xt[j, i]) * np.float64(Xt[k, i])
            A[j, k] = s / n
            A[k, j] = A[j, k]
    return c / (2.0 * n)


@cpu_kernel(parallel=True)
def gram_rows(X, y, A, b, part_A, part_b, part_c):
    """gram_into for one large X, in parallel row blocks; returns c."""
    n, d = X.shape
    nblocks = part_A.shape[0]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
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
def transposed_apply(Xt, v, u, gv, hp):
    """gv (float64) = X^T X v / n from Xt (d, n); u (n,) scratch.  u = X v stays in X's
    dtype (|u_i| <= |x_i| for a unit v); the sums along n are float64."""
    d, n = Xt.shape
    one = hp[HP_ONE]
    for i in range(n):
        u[i] = one - one
    for j in range(d):
        for i in range(n):
            u[i] += Xt[j, i] * v[j]
    for j in range(d):
        s = 0.0
        for i in range(n):
            s += np.float64(Xt[j, i]) * np.float64(u[i])
        gv[j] = s / n


@cpu_kernel(refcount=False, inline=True)
def xtx_small(mode, X, Xt, A, v, u, gv, part_g, hp):
    """gv (float64) = X^T X v / n for a problem of a batch: from A (GRAM) or from Xt (DIRECT)."""
    if mode == GRAM:
        gram_apply(A, v, gv, X.shape[1])
    else:
        transposed_apply(Xt, v, u, gv, hp)


@cpu_kernel(refcount=False, inline=True)
def xtx_large(mode, X, Xt, A, v, u, gv, part_g, hp):
    """gv (float64) = X^T X v / n for one large problem: from A (GRAM) or by parallel row blocks
    over X (ROWS).  Kept apart from xtx_small so a batch never compiles the row pass."""
    if mode == GRAM:
        gram_apply(A, v, gv, X.shape[1])
    else:
        xtx_rows(X, v, gv, part_g, hp)


# the hook of lambda_max, bound per size by fastgd/cpu/drivers.py (xtx_small, xtx_large)
xtx_apply = None


@cpu_kernel(refcount=False)
def lambda_max(mode, X, Xt, A, v, u, pw, hp, ip):
    """Largest eigenvalue of X^T X / n (X (n, d)) by power iteration, in float64.

    v (>= d, X's dtype) holds the unit direction; M v comes from the hook ``xtx_apply``
    into float64 (X^T X v / n overflows float32 long before X does, and n float32
    additions drift by n eps).  u: scratch (n,) (DIRECT); pw (1 + row blocks, d) float64
    scratch: M v, then the row blocks' sums (ROWS).  Returns (lambda, stopped): lambda is NaN when the iteration broke
    down (a non-finite M v); stopped when Ctrl-C set ip[IP_STOP_AT] < 0 meanwhile.
    """
    d = X.shape[1]
    gv = pw[0]
    part = pw[1:]
    for j in range(d):
        gv[j] = power_start(j, 1.0)
    power_set(v, gv, d)
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        if load_relaxed(ip, IP_STOP_AT) < 0:
            return lam, True
        xtx_apply(mode, X, Xt, A, v, u, gv, part, hp)
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
def xtx_rows(X, v, out, part, hp):
    """out (float64) = X^T X v / n for one large X, parallel over row blocks; part
    (nblocks, d) float64 holds the blocks' sums."""
    n, d = X.shape
    nblocks = part.shape[0]
    one = hp[HP_ONE]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        acc = part[blk]
        for j in range(d):
            acc[j] = 0.0
        # the linear pass reads no y: v stands in for it (same dtype, never indexed)
        rows_pairs(LSQ, True, X, v, v, acc, lo, hi, one, one)
    for j in range(d):
        s = 0.0
        for blk in range(nblocks):
            s += part[blk, j]
        out[j] = s / n


@cpu_kernel(refcount=False, inline=True)
def prepare_problem(mode, X, y, Xt, A, b):
    """Set-up of one small problem before its iterations: Xt (d, n) = X^T, and in GRAM
    mode A = X^T X / n, b = X^T y / n.  Returns c = y.y / (2n) (GRAM) or 0."""
    transpose_into(X, Xt)
    if mode == GRAM:
        return gram_transposed(Xt, y, A, b)
    return 0.0
