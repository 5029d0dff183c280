"""GPU drivers of `minimize` (numba-cuda): the same contract as fastgd/cpu/solve.py.

Data flow mirrors the CPU: ``CudaBackend.run_until`` (host, called by the API's one
outer loop) -> ``solve_batch_kernel`` (one thread block per problem, the whole chunk of
iterations in one launch, per-problem stopping) or the host-driven single-problem loop
(grid-wide gradient per iteration) -> block-level ``start_tail`` / ``after`` / ``begin``
(the skeleton of fastgd/decisions.py as a state machine) -> ``rows_pass`` /
``eval_gram`` (loss and gradient) -> ``losses.row_terms``.  No formula or decision
lives here: update rules, losses, bias corrections, the Armijo test, the stopping
tests, the divergence rule, the history rule and the lr='auto' step are the device
builds of fastgd/losses.py, rules.py and decisions.py (fastgd/gpu/math.py).

State: ``state`` (B, STATE_SIZE) float64 with the slots of fastgd/contract.py; W, S1,
S2 (B, m) iterate and method state; ip/hp/tol packed options.  Besides these, the GPU
keeps per-problem scratch G, WN, GN, P (B, m) and a control row ``cx`` (B, NCX)
float64 (slots CX_*: the trial step, Armijo halvings, done flag, |g|^2) -- the state
machine that lets the single-problem loop be driven from the host with one gradient
launch and one single-block control launch per trial step, with nothing copied back
but a flag.

Where results live: ``x`` is a numba device array (``__cuda_array_interface__``,
zero-copy into CuPy/torch) when the problem's data are on the GPU; every other Result
field is a host NumPy copy.  NumPy data with ``device="cuda"`` are copied to the GPU
once and ``x`` comes back as NumPy.

Reductions: float64 in shared memory, one tree per block; the gradient X^T r is
accumulated per block in registers (``MAXM`` columns per thread) so each row
tile of X is read from DRAM once per evaluation while d <= TPB * MAXM; wider
problems go over X once per column chunk (r is kept in a scratch vector).
A single large problem in mode 'gram' runs as 'rows' on the GPU (same iterates
up to rounding).
"""
import math

import numpy as np
from numba import cuda, float64

from .. import config
from .._device import is_cuda_array
from ..contract import (
    ACCEPT, BACKTRACK, GRAM, HP_CURV, HP_L2, HP_LOSS_ROUNDING, HP_LPARAM, HP_NINV, HP_ONE,
    IP_ARMIJO, IP_HIST_EVERY, IP_LOSS, IP_MAX_ITER, IP_METHOD, IP_MODE, IP_STOP_AT, PAUSE,
    POWER_ITERATIONS, ROWS, RUNNING, ST_F0, ST_FUN, ST_GNORM, ST_LR, ST_NIT, ST_STATUS, TOL_F,
    TOL_G, TOL_X,
)
from .math import decisions, losses, rules

row_terms = losses.row_terms
power_start = rules.power_start
method_direction = rules.method_direction
after_accept = decisions.after_accept
auto_lr = decisions.auto_lr
before_update = decisions.before_update
diverge_limit = decisions.diverge_limit
is_bad = decisions.is_bad
loss_rounding = decisions.loss_rounding
lr_is_auto = decisions.lr_is_auto
record_history = decisions.record_history
start_status = decisions.start_status
trial_outcome = decisions.trial_outcome

# threads per block (a power of two) and gradient columns per thread per pass over X
TPB = config.GPU_THREADS
MAXM = config.GPU_COLUMNS
CHUNK = TPB * MAXM
if TPB < 2 or TPB & (TPB - 1):
    raise ValueError(f"FASTGD_GPU_THREADS must be a power of two >= 2, got {TPB}")

# slots of the per-problem control row cx (float64): the trial step of the current update,
# its Armijo halvings, the done flag, the Gram constant, the power iteration's lambda and
# stop flag, and |g|^2 at the current iterate
CX_ALPHA, CX_SLOPE, CX_SCALE, CX_HALV, CX_DONE, CX_C, CX_LAM, CX_PSTOP, CX_GSQ = range(9)
NCX = 9


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
def rows_pass(code, lin, X, y, w, row0, rstep, out, R, sh, shr, acc, hp):
    """Block-level pass over row tiles row0, row0 + rstep, ... of X (n, d), TPB rows each.

    out[j] = sum_i r_i X[i, j] (unscaled) with r_i = phi'(x_i.w, y_i), or r_i = x_i.w
    when `lin` (X^T X v for the power iteration).  Returns sum_i phi (float64, every
    thread).  R (n,) is scratch for r when d > CHUNK.
    """
    n, d = X.shape
    t = cuda.threadIdx.x
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
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
        base = row0
        while base < n:
            i = base + t
            r = 0.0
            if i < n:
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
                        R[i] = r
                else:
                    r = R[i]
            cuda.syncthreads()
            shr[t] = r
            cuda.syncthreads()
            if q < groups:
                hi = min(TPB, n - base)
                for m in range(nm):
                    j = jc + c + m * cols
                    if j < jc + dc:
                        s = 0.0
                        for ii in range(q, hi, groups):
                            s += X[base + ii, j] * shr[ii]
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
def finish_gradient(g, w, fsum, sh, hp):
    """g = g / n + l2 w (g held X^T r); returns fsum / n + l2/2 |w|^2."""
    d = w.shape[0]
    l2 = hp[HP_L2]
    ninv = hp[HP_NINV]
    ww = 0.0
    for j in range(cuda.threadIdx.x, d, TPB):
        g[j] = g[j] * ninv + l2 * w[j]
        ww += float(w[j]) * float(w[j])
    ww = block_sum(sh, ww)
    return fsum * float(ninv) + 0.5 * float(l2) * ww


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


# ------------------------------------------------------------ one problem's logic
# The skeleton of fastgd/decisions.py as a state machine a block (or, for one large
# problem, the host) drives: start_tail after the evaluation at the saved iterate, then
# after() for every evaluated trial point.  Every decision is a decisions.* call.
@cuda.jit(device=True)
def finish(status, ip, st, cx, hist, col):
    """End this call for the problem: stopped with `status`, or PAUSE (stays RUNNING)."""
    cuda.syncthreads()
    if cuda.threadIdx.x == 0:
        cx[CX_DONE] = 1.0
        if status != PAUSE:
            st[ST_STATUS] = status
            record_history(hist, col, int(st[ST_NIT]), ip[IP_HIST_EVERY], st[ST_FUN], True)
    cuda.syncthreads()


@cuda.jit(device=True)
def begin(ip, hp, tol, st, cx, w, g, wn, s1, s2, p, sh, hist, col):
    """Stopping tests before an update; else the direction and the first trial point wn."""
    cuda.syncthreads()
    t_it = int(st[ST_NIT])
    status = before_update(cx[CX_GSQ], tol[TOL_G], t_it, ip[IP_MAX_ITER], ip[IP_STOP_AT])
    if status != RUNNING:
        finish(status, ip, st, cx, hist, col)
        return
    d = w.shape[0]
    t = cuda.threadIdx.x
    scale = method_direction(ip[IP_METHOD], t_it, g, s1, s2, p, hp, t, TPB)
    slope = 0.0
    if ip[IP_ARMIJO] != 0:
        sp = 0.0
        for j in range(t, d, TPB):
            sp += float(g[j]) * float(p[j])
        slope = block_sum(sh, sp)
    alpha = st[ST_LR] * scale
    for j in range(t, d, TPB):
        wn[j] = w[j] - alpha * p[j]
    cuda.syncthreads()
    if t == 0:
        cx[CX_ALPHA] = alpha
        cx[CX_SLOPE] = slope
        cx[CX_SCALE] = scale
        cx[CX_HALV] = 0.0
    cuda.syncthreads()


@cuda.jit(device=True)
def start_tail(f, ip, hp, tol, st, cx, w, g, wn, s1, s2, p, sh, hist, col):
    """After the evaluation at the saved iterate: f0, history record 0, then begin."""
    d = w.shape[0]
    t = cuda.threadIdx.x
    gq = 0.0
    for j in range(t, d, TPB):
        gq += float(g[j]) * float(g[j])
    gsq = block_sum(sh, gq)
    if t == 0:
        if int(st[ST_NIT]) == 0:
            st[ST_F0] = f
            record_history(hist, col, 0, ip[IP_HIST_EVERY], f, False)
        st[ST_FUN] = f
        st[ST_GNORM] = math.sqrt(gsq)
        cx[CX_GSQ] = gsq
    cuda.syncthreads()
    status = start_status(f, gsq)
    if status != RUNNING:
        finish(status, ip, st, cx, hist, col)
    else:
        begin(ip, hp, tol, st, cx, w, g, wn, s1, s2, p, sh, hist, col)


@cuda.jit(device=True)
def after(f_new, ip, hp, tol, st, cx, w, g, wn, gnew, s1, s2, p, sh, hist, col):
    """After evaluating the trial point wn (loss f_new, gradient gnew): its outcome
    (decisions.trial_outcome), then on acceptance the stopping tests and the next
    direction (begin)."""
    cuda.syncthreads()
    d = w.shape[0]
    t = cuda.threadIdx.x
    f = st[ST_FUN]
    alpha = cx[CX_ALPHA]
    halvings = int(cx[CX_HALV])
    armijo = ip[IP_ARMIJO] != 0
    sq = 0.0
    wq = 0.0
    gq = 0.0
    for j in range(t, d, TPB):
        dj = float(wn[j]) - float(w[j])
        sq += dj * dj
        wq += float(wn[j]) * float(wn[j])
        gq += float(gnew[j]) * float(gnew[j])
    step_sq = block_sum(sh, sq)
    ww = block_sum(sh, wq)
    gsq_new = block_sum(sh, gq)
    rounding = loss_rounding(float(hp[HP_LOSS_ROUNDING]), f, cx[CX_C])
    outcome = trial_outcome(armijo, halvings, f_new, f, alpha, cx[CX_SLOPE], rounding,
                            diverge_limit(st[ST_F0]), ww, gsq_new)
    if outcome == BACKTRACK:
        alpha *= 0.5
        for j in range(t, d, TPB):
            wn[j] = w[j] - alpha * p[j]
        cuda.syncthreads()
        if t == 0:
            cx[CX_HALV] = halvings + 1.0
            cx[CX_ALPHA] = alpha
        cuda.syncthreads()
        return
    if outcome != ACCEPT:
        finish(outcome, ip, st, cx, hist, col)  # w stays the last finite iterate
        return
    lr = st[ST_LR]
    if armijo:
        lr = alpha / cx[CX_SCALE]
    for j in range(t, d, TPB):
        w[j] = wn[j]
        g[j] = gnew[j]
    t_it = int(st[ST_NIT]) + 1
    cuda.syncthreads()
    if t == 0:
        st[ST_LR] = lr
        st[ST_NIT] = t_it
        st[ST_FUN] = f_new
        st[ST_GNORM] = math.sqrt(gsq_new)
        cx[CX_GSQ] = gsq_new
        record_history(hist, col, t_it, ip[IP_HIST_EVERY], f_new, False)
    cuda.syncthreads()
    status = after_accept(step_sq, tol[TOL_X], f_new, f, tol[TOL_F])
    if status != RUNNING:
        finish(status, ip, st, cx, hist, col)
    else:
        begin(ip, hp, tol, st, cx, w, g, wn, s1, s2, p, sh, hist, col)


# ------------------------------------------------------------ batched kernel
@cuda.jit
def solve_batch_kernel(X, y, W, S1, S2, G, WN, GN, P, R, A, Bv, ip, hp, tol, state, cxs, hist):
    """B problems X (B, n, d), y (B, n): one block per problem (grid-stride over problems),
    every iteration of this call inside the launch; a stopped problem's block moves on."""
    sh = cuda.shared.array(TPB, float64)
    shr = cuda.shared.array(TPB, float64)
    acc = cuda.local.array(MAXM, float64)
    nprob = X.shape[0]
    mode = ip[IP_MODE]
    code = ip[IP_LOSS]
    for k in range(cuda.blockIdx.x, nprob, cuda.gridDim.x):
        cuda.syncthreads()
        if int(state[k, ST_STATUS]) != RUNNING:
            continue
        st = state[k]
        cx = cxs[k]
        Xk = X[k]
        yk = y[k]
        Ak = A[k]
        bk = Bv[k]
        Rk = R[k]
        c = 0.0
        if mode == GRAM:
            c = block_gram(Xk, yk, Ak, bk, sh)
        if cuda.threadIdx.x == 0:
            cx[CX_DONE] = 0.0
            cx[CX_C] = c
        cuda.syncthreads()
        if lr_is_auto(st[ST_LR]):
            lam = block_lambda_max(mode, code, Xk, yk, Ak, S1[k], G[k], Rk, sh, shr, acc, hp)
            lr = auto_lr(float(hp[HP_CURV]), lam, float(hp[HP_L2]))
            for j in range(cuda.threadIdx.x, S1.shape[1], TPB):
                S1[k, j] = 0.0
            cuda.syncthreads()
            if cuda.threadIdx.x == 0:
                st[ST_LR] = lr
            cuda.syncthreads()
        f = block_evaluate(mode, code, Xk, yk, Ak, bk, c, W[k], G[k], Rk, sh, shr, acc, hp)
        start_tail(f, ip, hp, tol, st, cx, W[k], G[k], WN[k], S1[k], S2[k], P[k], sh, hist, k)
        while cx[CX_DONE] == 0.0:
            f_new = block_evaluate(mode, code, Xk, yk, Ak, bk, c, WN[k], GN[k], Rk, sh, shr,
                                   acc, hp)
            after(f_new, ip, hp, tol, st, cx, W[k], G[k], WN[k], GN[k], S1[k], S2[k], P[k],
                  sh, hist, k)


# ------------------------------------------------------------ single large problem
@cuda.jit
def rows_partial_kernel(code, lin, X, y, w, R, part_g, part_f, hp, cx, flag):
    """Grid pass over one large X (n, d): block b writes its partial X^T r into part_g[b]
    and its sum of phi into part_f[b].  Skipped once cx[flag] is set."""
    if cx[flag] != 0.0:
        return
    sh = cuda.shared.array(TPB, float64)
    shr = cuda.shared.array(TPB, float64)
    acc = cuda.local.array(MAXM, float64)
    blk = cuda.blockIdx.x
    fsum = rows_pass(code, lin, X, y, w, blk * TPB, cuda.gridDim.x * TPB, part_g[blk], R,
                     sh, shr, acc, hp)
    if cuda.threadIdx.x == 0:
        part_f[blk] = fsum


@cuda.jit(device=True)
def reduce_partials(part_g, part_f, g):
    """g[j] = sum_b part_g[b, j] (dtype of g); returns sum_b part_f[b] (single block)."""
    nb, d = part_g.shape
    t = cuda.threadIdx.x
    for j in range(t, d, TPB):
        s = 0.0
        for b in range(nb):
            s += part_g[b, j]
        g[j] = s
    fp = 0.0
    for b in range(t, nb, TPB):
        fp += part_f[b]
    return fp


@cuda.jit
def single_reset_kernel(cx):
    """Clear the flags of the control row."""
    if cuda.threadIdx.x == 0:
        cx[CX_DONE] = 0.0
        cx[CX_PSTOP] = 0.0
        cx[CX_C] = 0.0
        cx[CX_LAM] = 0.0
        cx[CX_GSQ] = 0.0


@cuda.jit
def power_start_kernel(v, hp):
    """The power iteration's start vector in v."""
    one = hp[HP_ONE]
    for j in range(cuda.threadIdx.x, v.shape[0], TPB):
        v[j] = power_start(j, one)


@cuda.jit
def power_normalize_kernel(v, cx):
    """v /= |v|, or stop the power iteration when |v| is 0 or not finite."""
    if cx[CX_PSTOP] != 0.0:
        return
    sh = cuda.shared.array(TPB, float64)
    t = cuda.threadIdx.x
    d = v.shape[0]
    nrm = 0.0
    for j in range(t, d, TPB):
        nrm += float(v[j]) * float(v[j])
    nrm = math.sqrt(block_sum(sh, nrm))
    if nrm == 0.0 or is_bad(nrm):
        if t == 0:
            cx[CX_PSTOP] = 1.0
        return
    for j in range(t, d, TPB):
        v[j] = v[j] / nrm


@cuda.jit
def power_finish_kernel(part_g, part_f, v, gv, cx, hp):
    """gv = X^T X v / n from the partials; lam = v.gv; v = gv."""
    if cx[CX_PSTOP] != 0.0:
        return
    sh = cuda.shared.array(TPB, float64)
    t = cuda.threadIdx.x
    d = v.shape[0]
    reduce_partials(part_g, part_f, gv)
    lp = 0.0
    for j in range(t, d, TPB):
        gv[j] = gv[j] * hp[HP_NINV]
        lp += float(v[j]) * float(gv[j])
    lam = block_sum(sh, lp)
    for j in range(t, d, TPB):
        v[j] = gv[j]
    if t == 0:
        cx[CX_LAM] = lam


@cuda.jit
def auto_lr_kernel(st, cx, s1, hp):
    t = cuda.threadIdx.x
    for j in range(t, s1.shape[0], TPB):
        s1[j] = 0.0
    if t == 0:
        st[ST_LR] = auto_lr(float(hp[HP_CURV]), cx[CX_LAM], float(hp[HP_L2]))


@cuda.jit
def single_start_kernel(part_g, part_f, ip, hp, tol, st, cx, w, g, wn, s1, s2, p, hist):
    sh = cuda.shared.array(TPB, float64)
    fsum = block_sum(sh, reduce_partials(part_g, part_f, g))
    f = finish_gradient(g, w, fsum, sh, hp)
    start_tail(f, ip, hp, tol, st, cx, w, g, wn, s1, s2, p, sh, hist, 0)


@cuda.jit
def single_after_kernel(part_g, part_f, ip, hp, tol, st, cx, w, g, wn, gnew, s1, s2, p, hist):
    if cx[CX_DONE] != 0.0:
        return
    sh = cuda.shared.array(TPB, float64)
    fsum = block_sum(sh, reduce_partials(part_g, part_f, gnew))
    f_new = finish_gradient(gnew, wn, fsum, sh, hp)
    after(f_new, ip, hp, tol, st, cx, w, g, wn, gnew, s1, s2, p, sh, hist, 0)


# ------------------------------------------------------------ host side
def _grid_blocks(n):
    return max(1, min((n + TPB - 1) // TPB, config.GPU_MAX_GRID_BLOCKS))


class CudaBackend:
    """The GPU backend of fastgd.minimize: device buffers of one Plan (see
    fastgd/cpu/backend.py for the interface the API's outer loop uses).

    X, y: the problem's device arrays (NumPy data are copied to the GPU once, and the
    solution then comes back as NumPy: the result lives where the data live).  W, S1, S2
    (B, m) iterate and method state, G, WN, GN, P (B, m) scratch, cx (B, NCX) control
    rows, all on the device; the state (B, STATE_SIZE) and history come back to the host
    after every ``run_until`` (one small copy).  A large single problem (plan.large) runs
    with a grid-wide gradient per iteration, mode 'gram' as 'rows'.
    """

    def __init__(self, plan):
        problem = plan.problem
        X, y = problem.X, problem.y
        self.plan = plan
        self.on_host = not is_cuda_array(X)
        if self.on_host:
            X, y = cuda.to_device(X), cuda.to_device(y)
        B, m = plan.batch_size, plan.n_params
        n, d = problem.n, problem.d
        self.X3 = X if problem.batched else X.reshape(1, n, d)
        self.y2 = y if problem.batched else y.reshape(1, n)
        self.large = plan.large
        self.ip = plan.ip.copy()
        if self.large and self.ip[IP_MODE] == GRAM:
            self.ip[IP_MODE] = ROWS
        dt = problem.dtype
        x0 = plan.x0
        self.x0_device = None
        self.W = cuda.device_array((B, m), dt)
        if x0 is None:
            self.W.copy_to_device(np.zeros((B, m), dt))
        elif is_cuda_array(x0):
            self.x0_device = (x0 if getattr(type(x0), "__cuda_ndarray__", False)
                              else cuda.as_cuda_array(x0))
            self.W.copy_to_device(self.x0_device.reshape(B, m))
        else:
            self.W.copy_to_device(np.ascontiguousarray(x0).reshape(B, m))
        zeros = lambda shape, t=dt: cuda.to_device(np.zeros(shape, t))  # noqa: E731
        # scratch starts as NaN: a read before a write would show in every result
        scratch = lambda shape, t=dt: cuda.to_device(np.full(shape, np.nan, t))  # noqa: E731
        self.S1, self.S2 = zeros((B, m)), zeros((B, m))
        self.G, self.WN, self.GN, self.P = (scratch((B, m)) for _ in range(4))
        self._state_host = plan.initial_state()
        self.state = cuda.to_device(self._state_host)
        hist = plan.empty_history()
        self.rows = hist.shape[0]
        h = np.full((max(self.rows, 1), B), np.nan)
        self.hist = cuda.to_device(h)
        self.hp = cuda.to_device(np.asarray(plan.hp))
        self.tol = cuda.to_device(np.asarray(plan.tol, np.float64))
        self.cx = scratch((B, NCX), np.float64)
        gram = self.ip[IP_MODE] == GRAM
        self.A = scratch((B, d, d) if gram else (B, 1, 1), np.float64)
        self.Bv = scratch((B, d) if gram else (B, 1), np.float64)
        self.R = scratch((B, n) if d > CHUNK else (B, 1))
        if self.large:
            nb = _grid_blocks(n)
            self.part_g = scratch((nb, d), np.float64)
            self.part_f = scratch(nb, np.float64)

    def run_until(self, stop_at):
        """Advance every running problem up to iteration stop_at; returns the host state."""
        self.ip[IP_STOP_AT] = stop_at
        ip = cuda.to_device(self.ip)
        if self.large:
            self._run_single(ip)
        else:
            B = self.X3.shape[0]
            grid = max(1, min(B, 1 << 20))
            solve_batch_kernel[grid, TPB](self.X3, self.y2, self.W, self.S1, self.S2, self.G,
                                          self.WN, self.GN, self.P, self.R, self.A, self.Bv,
                                          ip, self.hp, self.tol, self.state, self.cx,
                                          self.hist)
        self._state_host = self.state.copy_to_host()
        return self._state_host

    def _run_single(self, ip):
        if int(self._state_host[0, ST_STATUS]) != RUNNING:
            return
        X, y = self.X3[0], self.y2[0]
        st, cx, w, g, wn, gnew = (self.state[0], self.cx[0], self.W[0], self.G[0], self.WN[0],
                                  self.GN[0])
        s1, s2, p, R = self.S1[0], self.S2[0], self.P[0], self.R[0]
        pg, pf, hp, tol, hist = self.part_g, self.part_f, self.hp, self.tol, self.hist
        nb = pg.shape[0]
        code = int(self.ip[IP_LOSS])
        single_reset_kernel[1, 1](cx)
        if self._state_host[0, ST_LR] <= 0.0:  # lr="auto" (contract.LR_AUTO); s1 is the power
            power_start_kernel[1, TPB](s1, hp)  # vector, then zeroed
            for _ in range(POWER_ITERATIONS):
                power_normalize_kernel[1, TPB](s1, cx)
                rows_partial_kernel[nb, TPB](code, 1, X, y, s1, R, pg, pf, hp, cx, CX_PSTOP)
                power_finish_kernel[1, TPB](pg, pf, s1, g, cx, hp)
            auto_lr_kernel[1, TPB](st, cx, s1, hp)
        rows_partial_kernel[nb, TPB](code, 0, X, y, w, R, pg, pf, hp, cx, CX_DONE)
        single_start_kernel[1, TPB](pg, pf, ip, hp, tol, st, cx, w, g, wn, s1, s2, p, hist)
        done = np.zeros(1)
        while True:
            for _ in range(config.GPU_CHECK_EVERY):
                rows_partial_kernel[nb, TPB](code, 0, X, y, wn, R, pg, pf, hp, cx, CX_DONE)
                single_after_kernel[1, TPB](pg, pf, ip, hp, tol, st, cx, w, g, wn, gnew, s1,
                                            s2, p, hist)
            cx[CX_DONE:CX_DONE + 1].copy_to_host(done)
            if done[0] != 0.0:
                break

    def history(self):
        return self.hist.copy_to_host()[:self.rows]

    def _as_x(self, copy):
        """The iterates in the solution's shape: NumPy for host data, else a device array."""
        if self.on_host:
            x = self.W.copy_to_host()
        elif copy:
            x = cuda.device_array_like(self.W)
            x.copy_to_device(self.W)
        else:
            x = self.W
        return x.reshape(self.plan.problem.solution_shape)

    def iterate(self):
        """A copy of the current iterates (for callbacks)."""
        return self._as_x(True)

    def solution(self, into=None):
        """The final iterates; written into `into` (x0) when given.  A numba device x0 is
        returned itself, a CuPy/torch x0 as a zero-copy numba view of it (Result fields
        need a NumPy dtype)."""
        if into is None:
            return self._as_x(False)
        if self.x0_device is not None:
            self.x0_device.reshape(self.W.shape).copy_to_device(self.W)
            return self.x0_device
        into[...] = self.W.copy_to_host().reshape(into.shape)
        return into
