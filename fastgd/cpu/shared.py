"""CPU driver of a batch over one shared design matrix, and of per-problem l2.

``solve_shared`` runs B problems whose X is one (n, d) array shared by all (X passed as
(1, n, d): y (B, n), a learning-rate sweep, several targets, a regularisation path) or
B arrays (B, n, d) (a batch with l2 of shape (B,)).  Each problem runs the one skeleton,
``solve.solve_problem``, with its own l2 in a per-chunk copy of hp (``hp[HP_L2]``); it
indexes the shared data as ``solve_batch`` indexes shared sample weights (``X[0] if
shared else X[q]``): X is never copied per problem.

Set-up of a shared X, once for the whole batch: DIRECT mode, one transposed copy Xt
(d, n) that every problem reads (the batch driver's evaluation runs SIMD over its rows);
GRAM mode with shared weights (or none), one Gram matrix [X, 1]^T S [X, 1] / n and per
problem only b = [X, 1]^T S y / n and c (``gram_rhs``).  With per-problem weights the
Gram matrix is per problem (per chunk of scratch).

The hooks (``evaluate``, ``xtx_apply``) are those of the module set it is rebound with
(fastgd/cpu/drivers.py), so every problem family (built-in row losses, Softmax, a
user's RowLoss) gets this driver without a second copy of the skeleton.
"""
import numpy as np
from numba import prange

from .._jit import borrowed, cpu_kernel, load_relaxed
from ..contract import DIRECT, GRAM, HP_L2, IP_INTERCEPT, IP_MODE, IP_OUTPUTS, IP_STOP_AT, \
    RUNNING, ST_STATUS
from .evaluate import weighted
from .precondition import gram_to_rescaled
from .prepare import gram_general, prepare_problem, transpose_into
from .solve import solve_problem


@cpu_kernel(refcount=False)
def gram_rhs(X, y, s, b, inter):
    """b = [X, 1]^T S y / n (b (d + inter,) float64) for X (n, d), y (n,), weights s
    ((0,): none); returns c = y^T S y / (2n).  float64 products and sums."""
    n, d = X.shape
    dim = b.shape[0]
    wtd = weighted(s)
    for j in range(dim):
        b[j] = 0.0
    c = 0.0
    for i in range(n):
        yi = np.float64(y[i])
        syi = np.float64(s[i]) * yi if wtd else yi
        c += syi * yi
        for j in range(d):
            b[j] += np.float64(X[i, j]) * syi
        if inter:
            b[d] += syi
    for j in range(dim):
        b[j] /= n
    return c / (2.0 * n)


@cpu_kernel(parallel=True)
def solve_shared(X, y, S, L2, W, S1, S2, ip, hp, tol, state, hist, nchunks, P):
    """Solve B problems over X (1, n, d) (one X shared by all) or (B, n, d), y (B, n),
    from W (B, m), in place.  S: sample weights (B, n), (1, n) shared, or (1, 0) for
    none; L2 (B,) or (1,) in X's dtype: each problem's l2 (hp[HP_L2] is ignored).
    P: precondition="diag"'s (B or 1, PRE_ROWS, d) float64 (one for the batch, or each
    problem's), or (1, PRE_ROWS, 0) for none; with it the one shared Gram matrix is copied
    per problem into its chunk's scratch and turned into that of the problem's v there.

    Parallel over `nchunks` contiguous chunks of problems (as solve_batch); state (B,
    STATE_SIZE) float64, S1, S2 (B, m) method state, hist (rows, B).
    """
    B = y.shape[0]
    n, d = X.shape[1], X.shape[2]
    m = W.shape[1]
    k = ip[IP_OUTPUTS]
    inter = ip[IP_INTERCEPT] != 0
    dim = d + 1 if inter else d
    mode = ip[IP_MODE]
    one_x = X.shape[0] == 1
    shared_s = S.shape[0] == 1
    one_gram = mode == GRAM and one_x and shared_s
    on = P.shape[2] > 0  # precondition="diag"
    # the shared set-up: one transposed X (DIRECT), one Gram matrix (GRAM, shared weights)
    nt1 = n if (one_x and mode == DIRECT) else 1
    Xt_one = np.empty((d, nt1), X.dtype)
    if one_x and mode == DIRECT:
        transpose_into(X[0], Xt_one)
    dg1 = dim if one_gram else 1
    A_one = np.empty((dg1, dg1), np.float64)
    b_one = np.empty(dg1, np.float64)
    if one_gram:
        gram_general(X[0], y[0], S[0], A_one, b_one, inter)
    # per-chunk scratch: a transposed X and a Gram matrix only where problems have their own
    nt = n if not one_x else 1
    dgc = dim if (mode == GRAM and (on or not one_gram)) else 1
    Xt_all = np.empty((nchunks, d, nt), X.dtype)
    z_all = np.empty((nchunks, n), X.dtype)
    zk_all = np.empty((nchunks, k, n if k > 1 else 1), X.dtype)
    A_all = np.empty((nchunks, dgc, dgc), np.float64)
    b_all = np.empty((nchunks, dim if mode == GRAM else 1), np.float64)
    vec_all = np.empty((nchunks, 5, m), X.dtype)
    part_g_all = np.empty((nchunks, 1, m), X.dtype)
    part_f_all = np.empty((nchunks, 1), np.float64)
    pw_all = np.empty((nchunks, 2, dim), np.float64)
    hp_all = np.empty((nchunks, hp.shape[0]), hp.dtype)
    Xb, yb, Wb, S1b, S2b = borrowed(X), borrowed(y), borrowed(W), borrowed(S1), borrowed(S2)
    Sb, L2b, Pb = borrowed(S), borrowed(L2), borrowed(P)
    one_l2 = L2b.shape[0] == 1
    one_p = Pb.shape[0] == 1
    ipb, tolb, stb, hb = borrowed(ip), borrowed(tol), borrowed(state), borrowed(hist)
    for ch in prange(nchunks):
        z = borrowed(z_all[ch])
        zk = borrowed(zk_all[ch])
        b = borrowed(b_all[ch])
        vec = borrowed(vec_all[ch])
        part_g = borrowed(part_g_all[ch])
        part_f = borrowed(part_f_all[ch])
        pw = borrowed(pw_all[ch])
        hpc = borrowed(hp_all[ch])
        for j in range(hp.shape[0]):
            hpc[j] = hp[j]
        # borrowed here, inside the loop: a view borrowed before it would let Numba free
        # Xt_one and A_one after their last use (a dangling view of a freed buffer)
        Xt = borrowed(Xt_one) if one_x else borrowed(Xt_all[ch])
        A1 = borrowed(A_one)
        A = A1 if (one_gram and not on) else borrowed(A_all[ch])
        for q in range(ch * B // nchunks, (ch + 1) * B // nchunks):
            if int(stb[q, ST_STATUS]) != RUNNING or load_relaxed(ipb, IP_STOP_AT) < 0:
                continue  # done, or interrupted before its set-up
            hpc[HP_L2] = L2b[0] if one_l2 else L2b[q]
            sq = Sb[0] if shared_s else Sb[q]
            Xq = Xb[0] if one_x else Xb[q]
            if not one_x:
                c = prepare_problem(mode, Xq, yb[q], sq, Xt, A, b, inter)
            elif one_gram:
                c = gram_rhs(Xq, yb[q], sq, b, inter)
                if on:  # the shared Gram matrix, copied: each problem's own T below
                    for r in range(dim):
                        for j in range(dim):
                            A[r, j] = A1[r, j]
            elif mode == GRAM:
                c = gram_general(Xq, yb[q], sq, A, b, inter)
            else:
                c = 0.0
            pq = Pb[0] if one_p else Pb[q]
            if mode == GRAM and on:
                gram_to_rescaled(pq, A, b, np.float64(hpc[HP_L2]), inter)
            solve_problem(Xq, yb[q], sq, Xt, z, zk, A, b, c, part_g, part_f, pw, Wb[q], ipb,
                          hpc, tolb, stb[q], q, vec[0], vec[1], vec[2], S1b[q], S2b[q], vec[3],
                          hb, pq, vec[4])
