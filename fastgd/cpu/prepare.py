"""Per-problem set-up on the CPU: transposed data, Gram form, and lambda_max(X^T X / n).

``lambda_max`` (power iteration) is what lr="auto" turns into a step size with
``decisions.auto_lr``; it runs in the problem's evaluation mode (from A in GRAM mode,
from Xt in DIRECT mode, parallel over row blocks of X in ROWS mode).
"""
import math

from numba import prange

from .._jit import cpu_kernel
from ..contract import GRAM, HP_NINV, HP_ONE, LSQ, POWER_ITERATIONS
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
def power_begin(v, d, one):
    """The power iteration's start vector in v[:d]."""
    for j in range(d):
        v[j] = power_start(j, one)


@cpu_kernel(refcount=False, inline=True)
def power_normalize(v, d):
    """v[:d] /= |v[:d]|; False when |v| is 0 or not finite (the iteration stops)."""
    nrm = 0.0
    for j in range(d):
        nrm += float(v[j]) * float(v[j])
    nrm = math.sqrt(nrm)
    if nrm == 0.0 or is_bad(nrm):
        return False
    for j in range(d):
        v[j] = v[j] / nrm
    return True


@cpu_kernel(refcount=False, inline=True)
def power_advance(v, gv, d):
    """lambda = v.gv (v a unit vector, gv = M v); then v = gv.  Returns lambda (float64)."""
    lam = 0.0
    for j in range(d):
        lam += float(v[j]) * float(gv[j])
    for j in range(d):
        v[j] = gv[j]
    return lam


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
    """gv = X^T X v / n from Xt (d, n); u (n,) scratch."""
    d, n = Xt.shape
    one = hp[HP_ONE]
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


@cpu_kernel(refcount=False, inline=True)
def xtx_small(mode, X, Xt, A, v, u, gv, part_g, hp):
    """gv = X^T X v / n for a problem of a batch: from A (GRAM) or from Xt (DIRECT)."""
    if mode == GRAM:
        gram_apply(A, v, gv, X.shape[1])
    else:
        transposed_apply(Xt, v, u, gv, hp)


@cpu_kernel(refcount=False, inline=True)
def xtx_large(mode, X, Xt, A, v, u, gv, part_g, hp):
    """gv = X^T X v / n for one large problem: from A (GRAM) or by parallel row blocks
    over X (ROWS).  Kept apart from xtx_small so a batch never compiles the row pass."""
    if mode == GRAM:
        gram_apply(A, v, gv, X.shape[1])
    else:
        xtx_rows(X, v, gv, part_g, hp)


# the hook of lambda_max, bound per size by fastgd/cpu/drivers.py (xtx_small, xtx_large)
xtx_apply = None


@cpu_kernel(refcount=False)
def lambda_max(mode, X, Xt, A, v, u, gv, part_g, hp):
    """Largest eigenvalue of X^T X / n (X (n, d)) by power iteration, in float64.

    v, gv: scratch of length >= d; u: scratch (n,) (DIRECT); part_g (nblocks, >= d)
    (ROWS).  X^T X v comes from the hook ``xtx_apply``.
    """
    d = X.shape[1]
    power_begin(v, d, hp[HP_ONE])
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        if not power_normalize(v, d):
            return lam
        xtx_apply(mode, X, Xt, A, v, u, gv, part_g, hp)
        lam = power_advance(v, gv, d)
    return lam


@cpu_kernel(parallel=True)
def xtx_rows(X, v, out, part_g, hp):
    """out = X^T X v / n for one large X, parallel over row blocks."""
    n, d = X.shape
    nblocks = part_g.shape[0]
    one = hp[HP_ONE]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
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


@cpu_kernel(refcount=False, inline=True)
def prepare_problem(mode, X, y, Xt, A, b):
    """Set-up of one small problem before its iterations: Xt (d, n) = X^T, and in GRAM
    mode A = X^T X / n, b = X^T y / n.  Returns c = y.y / (2n) (GRAM) or 0."""
    transpose_into(X, Xt)
    if mode == GRAM:
        return gram_transposed(Xt, y, A, b)
    return 0.0
