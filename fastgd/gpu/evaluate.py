"""Loss and gradient of one problem on the GPU, one thread block per problem (numba-cuda).

``block_evaluate`` -> ``rows_pass`` (row tiles of X, the gradient X^T r accumulated per
block in registers) or ``eval_gram`` (Gram form) -> ``losses.row_terms`` (the device
build of fastgd/losses.py); ``block_gram`` forms the Gram form, ``block_lambda_max`` the
power iteration of lr="auto".  Reductions are float64, in shared memory, one tree per
block (``block_sum``).
"""
import math

from numba import cuda, int64

from .. import config
from ..contract import GRAM, HP_L2, HP_LPARAM, HP_NINV, HP_ONE, POWER_ITERATIONS
from .math import decisions, losses, rules

row_terms = losses.row_terms
power_start = rules.power_start
is_bad = decisions.is_bad

# threads per block (a power of two) and gradient columns per thread per pass over X
TPB = config.GPU_THREADS
MAXM = config.GPU_COLUMNS
CHUNK = TPB * MAXM
if TPB < 2 or TPB & (TPB - 1):
    raise ValueError(f"FASTGD_GPU_THREADS must be a power of two >= 2, got {TPB}")


# ------------------------------------------------------------ block primitives
@cuda.jit(device=True)
def block_sum(sh, val):
    """Sum of `val` over the block's threads (float64), returned to every thread."""
    t = cuda.threadIdx.x
    cuda.syncthreads()
    sh[t] = val
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sh[t] += sh[t + s]
        cuda.syncthreads()
        s //= 2
    return sh[0]


@cuda.jit(device=True)
def visit_pass(code, lin, X, y, w, order, lo, hi, row0, rstep, out, R, sh, shr, acc, hp):
    """Block-level pass over the rows at positions lo..hi-1 of a visiting order, in
    tiles of TPB positions starting at lo + row0, lo + row0 + rstep, ...: position p is
    row order[p] of X (n, d), or row p itself when `order` is empty (no copy of X).

    out[j] = sum_i r_i X[i, j] (unscaled) with r_i = phi'(x_i.w, y_i), or r_i = x_i.w
    when `lin` (X^T X v for the power iteration).  Returns sum_i phi (float64, every
    thread).  R (n,) is scratch for r (by position) when d > CHUNK.
    """
    d = X.shape[1]
    t = cuda.threadIdx.x
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    indexed = order.shape[0] > 0
    rows = cuda.shared.array(TPB, int64)  # the rows of the current tile
    fpart = 0.0
    for jc in range(0, d, CHUNK):
        dc = min(d - jc, CHUNK)
        cols = min(dc, TPB)
        groups = TPB // cols
        q = t // cols
        c = t - q * cols
        nm = (dc + cols - 1) // cols
        for m in range(MAXM):
            acc[m] = 0.0
        base = lo + row0
        while base < hi:
            pos = base + t
            r = 0.0
            i = 0
            if pos < hi:
                i = order[pos] if indexed else pos
                if jc == 0:
                    z = one - one
                    for j in range(d):
                        z += X[i, j] * w[j]
                    if lin:
                        r = z
                    else:
                        phi, rr = row_terms(code, z, y[i], one, lparam)
                        fpart += phi
                        r = rr
                    if d > CHUNK:
                        R[pos] = r
                else:
                    r = R[pos]
            cuda.syncthreads()
            shr[t] = r
            rows[t] = i
            cuda.syncthreads()
            if q < groups:
                top = min(TPB, hi - base)
                for m in range(nm):
                    j = jc + c + m * cols
                    if j < jc + dc:
                        s = 0.0
                        for ii in range(q, top, groups):
                            row = rows[ii] if indexed else base + ii
                            s += X[row, j] * shr[ii]
                        acc[m] += s
            base += rstep
        for m in range(nm):
            cuda.syncthreads()
            sh[t] = acc[m] if q < groups else 0.0
            cuda.syncthreads()
            if t < cols:
                j = jc + t + m * cols
                if j < jc + dc:
                    s = 0.0
                    for qq in range(groups):
                        s += sh[qq * cols + t]
                    out[j] = s
    return block_sum(sh, fpart)


@cuda.jit(device=True)
def rows_pass(code, lin, X, y, w, row0, rstep, out, R, sh, shr, acc, hp):
    """visit_pass over every row of X in its stored order (tiles row0, row0 + rstep, ...)."""
    stored = cuda.local.array(1, int64)
    return visit_pass(code, lin, X, y, w, stored[:0], 0, X.shape[0], row0, rstep, out, R, sh,
                      shr, acc, hp)


@cuda.jit(device=True)
def finish_rows(g, w, fsum, inv, sh, hp):
    """g = g inv + l2 w (g held the sum of r_i x_i over `1 / inv` rows); returns
    fsum inv + l2/2 |w|^2: the mean loss and gradient of those rows."""
    d = w.shape[0]
    l2 = hp[HP_L2]
    ww = 0.0
    for j in range(cuda.threadIdx.x, d, TPB):
        g[j] = g[j] * inv + l2 * w[j]
        ww += float(w[j]) * float(w[j])
    ww = block_sum(sh, ww)
    return fsum * float(inv) + 0.5 * float(l2) * ww


@cuda.jit(device=True)
def finish_gradient(g, w, fsum, sh, hp):
    """g = g / n + l2 w (g held X^T r); returns fsum / n + l2/2 |w|^2."""
    return finish_rows(g, w, fsum, hp[HP_NINV], sh, hp)


@cuda.jit(device=True)
def eval_gram(A, b, c, w, g, sh, hp):
    """Least squares from its Gram form: f = w.A w/2 - b.w + c (+ l2), g = A w - b (+ l2 w)."""
    d = w.shape[0]
    l2 = float(hp[HP_L2])
    fp = 0.0
    for j in range(cuda.threadIdx.x, d, TPB):
        s = 0.0
        for k in range(d):
            s += A[j, k] * w[k]
        wj = float(w[j])
        fp += wj * (0.5 * s - b[j]) + 0.5 * l2 * wj * wj
        g[j] = s - b[j] + l2 * wj
    return c + block_sum(sh, fp)


@cuda.jit(device=True)
def block_evaluate(mode, code, X, y, A, b, c, w, g, R, sh, shr, acc, hp):
    """Loss at w (float64, every thread) and gradient into g, one problem per block."""
    if mode == GRAM:
        return eval_gram(A, b, c, w, g, sh, hp)
    fsum = rows_pass(code, 0, X, y, w, 0, TPB, g, R, sh, shr, acc, hp)
    return finish_gradient(g, w, fsum, sh, hp)


@cuda.jit(device=True)
def block_gram(X, y, A, b, sh):
    """A = X^T X / n, b = X^T y / n (float64); returns c = y.y / (2n)."""
    n, d = X.shape
    t = cuda.threadIdx.x
    for pidx in range(t, d * d, TPB):
        j = pidx // d
        k = pidx - j * d
        if k >= j:
            s = 0.0
            for i in range(n):
                s += float(X[i, j]) * float(X[i, k])
            A[j, k] = s / n
            A[k, j] = s / n
    for j in range(t, d, TPB):
        s = 0.0
        for i in range(n):
            s += float(X[i, j]) * float(y[i])
        b[j] = s / n
    cp = 0.0
    for i in range(t, n, TPB):
        yi = float(y[i])
        cp += yi * yi
    return block_sum(sh, cp) / (2.0 * n)


@cuda.jit(device=True)
def block_lambda_max(mode, code, X, y, A, v, gv, R, sh, shr, acc, hp):
    """Largest eigenvalue of X^T X / n (or of A) by power iteration; v, gv scratch (d,)."""
    d = v.shape[0]
    t = cuda.threadIdx.x
    one = hp[HP_ONE]
    for j in range(t, d, TPB):
        v[j] = power_start(j, one)
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        nrm = 0.0
        for j in range(t, d, TPB):
            nrm += float(v[j]) * float(v[j])
        nrm = math.sqrt(block_sum(sh, nrm))
        if nrm == 0.0 or is_bad(nrm):
            return lam
        for j in range(t, d, TPB):
            v[j] = v[j] / nrm
        cuda.syncthreads()
        if mode == GRAM:
            for j in range(t, d, TPB):
                s = 0.0
                for k in range(d):
                    s += A[j, k] * v[k]
                gv[j] = s
            cuda.syncthreads()
        else:
            rows_pass(code, 1, X, y, v, 0, TPB, gv, R, sh, shr, acc, hp)
            for j in range(t, d, TPB):
                gv[j] = gv[j] * hp[HP_NINV]
        lp = 0.0
        for j in range(t, d, TPB):
            lp += float(v[j]) * float(gv[j])
        lam = block_sum(sh, lp)
        for j in range(t, d, TPB):
            v[j] = gv[j]
    return lam
