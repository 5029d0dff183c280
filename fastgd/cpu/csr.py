"""One problem with a CSR design matrix X on the CPU: the skeleton of fastgd/cpu/solve.py
with its hooks bound to sparse evaluation and a sparse power iteration.

X reaches the kernels as the tuple ``(data (nnz,), indices (nnz,), indptr (n + 1,), bounds
(nblocks + 1,) int64, d)`` (data float32/float64, indices/indptr int32 or int64: one
specialisation per dtype pair, never a copy; ``bounds``: the first row of every parallel row
block, chosen on the host so that the blocks hold about the same nnz + rows).  ``solve_problem`` only hands X to its hooks, so the CSR driver is
``solve_csr`` -> the same ``solve_problem`` with ``evaluate`` = ``evaluate_csr`` (one
parallel pass over row blocks, one partial gradient per block, reduced after: the ROWS
mode of one dense problem), and prepare.lambda_max's ``xtx_apply`` = ``xtx_csr`` and
``columns`` = ``csr_columns`` (lr="auto").  Softmax binds ``evaluate`` to ``evaluate_softmax_csr`` (its k logits per row,
fastgd/cpu/softmax.py's finish).  Sample weights s (scaled to sum n, or (0,))
and the intercept (the last coordinate of w) as in fastgd/cpu/evaluate.py.  The per-row
loss is this module's global ``row_terms``: a user's RowLoss rebinds it.
"""
import numpy as np
from numba import prange

from .._jit import cpu_kernel
from ..contract import HP_L2, HP_LPARAM, HP_NINV, HP_ONE, IP_OUTPUTS
from .evaluate import weighted
from .math import losses
from .softmax import finish as softmax_finish
from .solve import solve_problem  # its hooks bound by fastgd/cpu/drivers_csr.py

row_terms = losses.row_terms
softmax_terms = losses.softmax_terms


@cpu_kernel(refcount=False, inline=True)
def csr_columns(X):
    """d, the number of columns of a CSR X tuple (prepare.lambda_max's hook ``columns``)."""
    return X[4]


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
        # unsigned positions and columns (valid CSR has no negative ones): Numba then skips
        # the negative-index wraparound of every access, which halves the time of the pass
        p0 = np.uint64(indptr[i])
        p1 = np.uint64(indptr[i + 1])
        zi = bias
        for p in range(p0, p1):
            zi += data[p] * w[np.uint64(indices[p])]
        r = zi
        if not lin:
            phi, r = row_terms(code, zi, y[i], one, lparam)
            if wtd:
                phi *= float(s[i])
            fb += phi
        if wtd:
            r *= s[i]
        for p in range(p0, p1):
            acc[np.uint64(indices[p])] += r * data[p]
        if inter:
            acc[d] += r
    return fb


@cpu_kernel(parallel=True)
def eval_csr(code, X, y, s, w, g, part_g, part_f, hp):
    """Loss and gradient at w (m = d, or d + 1 with the intercept) of one CSR problem, in
    parallel row blocks: part_g (nblocks, m) and part_f (nblocks,) scratch, g (m,) written.
    Returns (f, |g|^2) in float64 (l2 on the first d coordinates only)."""
    data, indices, indptr, bounds, d = X
    m = w.shape[0]
    nblocks = bounds.shape[0] - 1
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    for blk in prange(nblocks):
        lo, hi = bounds[blk], bounds[blk + 1]
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
    # the blocks' sums, parallel over columns (nblocks x m: what dominates for a wide,
    # very sparse X); the intercept (j = d) is not penalised
    for j in prange(m):
        sj = one - one
        for blk in range(nblocks):
            sj += part_g[blk, j]
        g[j] = sj * ninv + (l2 * w[j] if j < d else one - one)
    ww = 0.0
    gg = 0.0
    for j in range(m):
        if j < d:
            ww += np.float64(w[j]) * np.float64(w[j])
        gg += np.float64(g[j]) * np.float64(g[j])
    return f * float(ninv) + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False, inline=True)
def evaluate_csr(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """The evaluation hook of solve_csr (fastgd/cpu/solve.py's signature; Xt, z, zk, A, b,
    c unused): one parallel pass over the rows of the CSR X."""
    return eval_csr(code, X, y, s, w, g, part_g, part_f, hp)


@cpu_kernel(refcount=False, inline=True)
def softmax_rows(data, indices, indptr, d, y, s, w, lo, hi, zrow, acc, one):
    """Softmax's rows lo..hi-1 of a CSR X (k = zrow.shape[0] classes, W[j, c] = w[j k + c],
    the k intercepts after it when w has (d + 1) k entries): acc[:dk] += s_i x_i (x) r_i,
    acc[dk:] += s_i r_i; returns sum s_i phi_i (float64).  zrow (k,) scratch."""
    k = zrow.shape[0]
    dk = d * k
    inter = w.shape[0] > dk
    wtd = weighted(s)
    zero = one - one
    f = 0.0
    for i in range(lo, hi):
        p0 = indptr[i]
        p1 = indptr[i + 1]
        for c in range(k):
            zrow[c] = w[dk + c] if inter else zero
        for p in range(p0, p1):
            xij = data[p]
            base = indices[p] * k
            for c in range(k):
                zrow[c] += xij * w[base + c]
        phi = softmax_terms(zrow, int(y[i]), one)
        si = s[i] if wtd else one
        f += phi * float(si)
        for c in range(k):
            zrow[c] *= si
        for p in range(p0, p1):
            xij = data[p]
            base = indices[p] * k
            for c in range(k):
                acc[base + c] += xij * zrow[c]
        if inter:
            for c in range(k):
                acc[dk + c] += zrow[c]
    return f


@cpu_kernel(parallel=True)
def eval_softmax_csr(X, y, s, w, g, zk, part_g, part_f, hp):
    """Softmax's loss sum and gradient sum (g, before finish) of a CSR X over parallel row
    blocks; zk (nblocks, k), part_g (nblocks, m), part_f (nblocks,) scratch."""
    data, indices, indptr, bounds, d = X
    m = w.shape[0]
    nblocks = bounds.shape[0] - 1
    one = hp[HP_ONE]
    for blk in prange(nblocks):
        acc = part_g[blk]
        for q in range(m):
            acc[q] = one - one
        part_f[blk] = softmax_rows(data, indices, indptr, d, y, s, w, bounds[blk],
                                   bounds[blk + 1], zk[blk], acc, one)
    f = 0.0
    for blk in range(nblocks):
        f += part_f[blk]
    for q in prange(m):
        sq = one - one
        for blk in range(nblocks):
            sq += part_g[blk, q]
        g[q] = sq
    return f


@cpu_kernel(refcount=False, inline=True)
def evaluate_softmax_csr(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """Softmax's evaluation hook for a CSR X (softmax.finish adds l2 and divides by n)."""
    f = eval_softmax_csr(X, y, s, w, g, zk, part_g, part_f, hp)
    return softmax_finish(f, w, g, hp, X[4] * zk.shape[1])


@cpu_kernel(parallel=True)
def xtx_rows_csr(X, s, v, out, part, hp, dim):
    """out (float64) = [X, 1]^T S [X, 1] v / n (X^T X v / n without the intercept, dim = d,
    or weights) for a CSR X, parallel over row blocks; part (nblocks, >= dim) float64."""
    data, indices, indptr, bounds, d = X
    n = indptr.shape[0] - 1
    nblocks = bounds.shape[0] - 1
    for blk in prange(nblocks):
        lo, hi = bounds[blk], bounds[blk + 1]
        acc = part[blk]
        for j in range(dim):
            acc[j] = 0.0
        wtd = weighted(s)
        for i in range(lo, hi):
            p0 = np.uint64(indptr[i])  # unsigned: no wraparound test (csr_rows)
            p1 = np.uint64(indptr[i + 1])
            u = np.float64(v[d]) if dim > d else 0.0
            for p in range(p0, p1):
                u += np.float64(data[p]) * np.float64(v[np.uint64(indices[p])])
            if wtd:
                u *= np.float64(s[i])
            for p in range(p0, p1):
                acc[np.uint64(indices[p])] += u * np.float64(data[p])
            if dim > d:
                acc[d] += u
    for j in prange(dim):
        sj = 0.0
        for blk in range(nblocks):
            sj += part[blk, j]
        out[j] = sj / n


@cpu_kernel(refcount=False, inline=True)
def xtx_csr(mode, X, s, Xt, A, v, u, gv, part_g, hp, dim):
    """prepare.lambda_max's hook ``xtx_apply`` for a CSR X (mode, Xt, A, u unused)."""
    xtx_rows_csr(X, s, v, gv, part_g, hp, dim)




@cpu_kernel
def solve_csr(X, y, s, w, s1, s2, ip, hp, tol, state, hist, pre):
    """Solve one CSR problem (X the tuple above, y (n,)) from w (m,), in place, up to
    iteration ip[IP_STOP_AT]; each evaluation runs over the parallel row blocks of X's
    ``bounds``.  s (n,) sample weights scaled to sum n, or (0,); pre: precondition="diag"'s
    (PRE_ROWS, d) float64 or (PRE_ROWS, 0)."""
    data = X[0]
    nblocks = X[3].shape[0] - 1
    m = w.shape[0]
    Xt = np.empty((1, 1), data.dtype)
    z = np.empty(1, data.dtype)
    zk = np.empty((nblocks, ip[IP_OUTPUTS]), data.dtype)  # Softmax's logits per block
    A = np.empty((1, 1), np.float64)
    b = np.empty(1, np.float64)
    part_g = np.empty((nblocks, m), data.dtype)
    part_f = np.empty(nblocks, np.float64)
    pw = np.empty((nblocks + 1, m), np.float64)
    w_new = np.empty(m, data.dtype)
    g = np.empty(m, data.dtype)
    g_new = np.empty(m, data.dtype)
    p = np.empty(m, data.dtype)
    wv = np.empty(m, data.dtype)
    solve_problem(X, y, s, Xt, z, zk, A, b, 0.0, part_g, part_f, pw, w, ip, hp, tol, state, 0,
                  w_new, g, g_new, s1, s2, p, hist, pre, wv)
