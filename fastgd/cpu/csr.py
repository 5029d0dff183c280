"""One problem with a CSR design matrix X on the CPU: the skeleton of fastgd/cpu/solve.py
with its hooks bound to sparse evaluation and a sparse power iteration.

X reaches the kernels as the tuple ``(data (nnz,), indices (nnz,), indptr (n + 1,), d)``
(data float32/float64, indices/indptr int32 or int64: one specialisation per dtype pair,
never a copy).  ``solve_problem`` only hands X to its hooks, so the CSR driver is
``solve_csr`` -> the same ``solve_problem`` with ``evaluate`` = ``evaluate_csr`` (one
parallel pass over row blocks, one partial gradient per block, reduced after: the ROWS
mode of one dense problem), and prepare.lambda_max's ``xtx_apply`` = ``xtx_csr`` and
``columns`` = ``csr_columns`` (lr="auto").  Sample weights s (scaled to sum n, or (0,))
and the intercept (the last coordinate of w) as in fastgd/cpu/evaluate.py.  The per-row
loss is this module's global ``row_terms``: a user's RowLoss rebinds it.
"""
import numpy as np
from numba import prange

from .._jit import cpu_kernel
from ..contract import HP_L2, HP_LPARAM, HP_NINV, HP_ONE
from .evaluate import block_rows, weighted
from .math import losses
from .solve import solve_problem  # its hooks bound by fastgd/cpu/drivers_csr.py

row_terms = losses.row_terms


@cpu_kernel(refcount=False, inline=True)
def csr_columns(X):
    """d, the number of columns of a CSR X tuple (prepare.lambda_max's hook ``columns``)."""
    return X[3]


@cpu_kernel(refcount=False, inline=True)
def csr_rows(code, lin, data, indices, indptr, d, y, s, w, acc, lo, hi, one, lparam):
    """Rows lo..hi-1 of a CSR X: acc[:d] += sum_i s_i phi'(z_i, y_i) x_i (acc[d] += the
    same without x_i when w has the intercept w[d]), z_i = x_i.w (+ w[d]); returns
    sum_i s_i phi(z_i, y_i) (float64).  lin: phi'(z) = z and no phi (the power iteration:
    y unread).  s (n,) weights or (0,)."""
    inter = w.shape[0] > d
    wtd = weighted(s)
    bias = w[d] if inter else one - one
    fb = 0.0
    for i in range(lo, hi):
        p0 = indptr[i]
        p1 = indptr[i + 1]
        zi = bias
        for p in range(p0, p1):
            zi += data[p] * w[indices[p]]
        r = zi
        if not lin:
            phi, r = row_terms(code, zi, y[i], one, lparam)
            if wtd:
                phi *= float(s[i])
            fb += phi
        if wtd:
            r *= s[i]
        for p in range(p0, p1):
            acc[indices[p]] += r * data[p]
        if inter:
            acc[d] += r
    return fb


@cpu_kernel(parallel=True)
def eval_csr(code, X, y, s, w, g, part_g, part_f, hp):
    """Loss and gradient at w (m = d, or d + 1 with the intercept) of one CSR problem, in
    parallel row blocks: part_g (nblocks, m) and part_f (nblocks,) scratch, g (m,) written.
    Returns (f, |g|^2) in float64 (l2 on the first d coordinates only)."""
    data, indices, indptr, d = X
    n = indptr.shape[0] - 1
    m = w.shape[0]
    nblocks = part_g.shape[0]
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        acc = part_g[blk]
        for j in range(m):
            acc[j] = one - one
        part_f[blk] = csr_rows(code, False, data, indices, indptr, d, y, s, w, acc, lo, hi,
                               one, lparam)
    f = 0.0
    for blk in range(nblocks):
        f += part_f[blk]
    l2 = hp[HP_L2]
    ninv = hp[HP_NINV]
    ww = 0.0
    gg = 0.0
    for j in range(m):
        sj = one - one
        for blk in range(nblocks):
            sj += part_g[blk, j]
        gj = sj * ninv
        if j < d:  # the intercept is not penalised
            gj += l2 * w[j]
            ww += np.float64(w[j]) * np.float64(w[j])
        g[j] = gj
        gg += np.float64(gj) * np.float64(gj)
    return f * float(ninv) + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False, inline=True)
def evaluate_csr(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """The evaluation hook of solve_csr (fastgd/cpu/solve.py's signature; Xt, z, zk, A, b,
    c unused): one parallel pass over the rows of the CSR X."""
    return eval_csr(code, X, y, s, w, g, part_g, part_f, hp)


@cpu_kernel(parallel=True)
def xtx_rows_csr(X, s, v, out, part, hp, dim):
    """out (float64) = [X, 1]^T S [X, 1] v / n (X^T X v / n without the intercept, dim = d,
    or weights) for a CSR X, parallel over row blocks; part (nblocks, >= dim) float64."""
    data, indices, indptr, d = X
    n = indptr.shape[0] - 1
    nblocks = part.shape[0]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        acc = part[blk]
        for j in range(dim):
            acc[j] = 0.0
        wtd = weighted(s)
        for i in range(lo, hi):
            p0 = indptr[i]
            p1 = indptr[i + 1]
            u = np.float64(v[d]) if dim > d else 0.0
            for p in range(p0, p1):
                u += np.float64(data[p]) * np.float64(v[indices[p]])
            if wtd:
                u *= np.float64(s[i])
            for p in range(p0, p1):
                acc[indices[p]] += u * np.float64(data[p])
            if dim > d:
                acc[d] += u
    for j in range(dim):
        sj = 0.0
        for blk in range(nblocks):
            sj += part[blk, j]
        out[j] = sj / n


@cpu_kernel(refcount=False, inline=True)
def xtx_csr(mode, X, s, Xt, A, v, u, gv, part_g, hp, dim):
    """prepare.lambda_max's hook ``xtx_apply`` for a CSR X (mode, Xt, A, u unused)."""
    xtx_rows_csr(X, s, v, gv, part_g, hp, dim)




@cpu_kernel
def solve_csr(X, y, s, w, s1, s2, ip, hp, tol, state, hist, nblocks):
    """Solve one CSR problem (X the tuple above, y (n,)) from w (m,), in place, up to
    iteration ip[IP_STOP_AT]; each evaluation runs over `nblocks` parallel row blocks.
    s (n,) sample weights scaled to sum n, or (0,)."""
    data = X[0]
    m = w.shape[0]
    Xt = np.empty((1, 1), data.dtype)
    z = np.empty(1, data.dtype)
    zk = np.empty((1, 1), data.dtype)
    A = np.empty((1, 1), np.float64)
    b = np.empty(1, np.float64)
    part_g = np.empty((nblocks, m), data.dtype)
    part_f = np.empty(nblocks, np.float64)
    pw = np.empty((nblocks + 1, m), np.float64)
    w_new = np.empty(m, data.dtype)
    g = np.empty(m, data.dtype)
    g_new = np.empty(m, data.dtype)
    p = np.empty(m, data.dtype)
    solve_problem(X, y, s, Xt, z, zk, A, b, 0.0, part_g, part_f, pw, w, ip, hp, tol, state, 0,
                  w_new, g, g_new, s1, s2, p, hist)
