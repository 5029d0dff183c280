"""GPU drivers of `minimize` (numba-cuda): the same contract as fastgd/cpu/solve.py.

Data flow mirrors the CPU: ``CudaBackend.run_until`` (fastgd/gpu/backend.py, called by
the API's one outer loop) -> ``solve_batch_kernel`` (one thread block per problem, the whole chunk of
iterations in one launch, per-problem stopping) or the host-driven single-problem loop
(grid-wide gradient per iteration) -> block-level ``start_tail`` / ``after`` / ``begin``
(the skeleton of fastgd/decisions.py as a state machine) -> ``rows_pass`` /
``eval_gram`` (loss and gradient, fastgd/gpu/evaluate.py) -> ``losses.row_terms``.  No formula or decision
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

from numba import cuda, float64

from ..contract import (
    ACCEPT, ARMIJO_GROW_AFTER, BACKTRACK, BB, GRAM, HP_CURV, HP_L2, HP_LOSS_ROUNDING, HP_NINV,
    HP_ONE, IP_ARMIJO, IP_HIST_EVERY, IP_LOSS, IP_MAX_ITER, IP_METHOD, IP_MODE, IP_RESTART, IP_STOP_AT, PAUSE,
    RUNNING, ST_F0, ST_FREF, ST_FUN, ST_GNORM, ST_GROWN, ST_LR, ST_LR0, ST_NIT, ST_PATIENCE,
    ST_GTOL, ST_QREF, ST_STATUS, ST_STREAK, TOL_F, TOL_G, TOL_R, TOL_X,
)
from .evaluate import (
    MAXM, TPB, block_evaluate, block_gram, block_lambda_max, block_sum, finish_gradient, rows_pass,
)
from .math import decisions, rules

power_start = rules.power_start
method_direction = rules.method_direction
acceptance_reference = decisions.acceptance_reference
after_accept = decisions.after_accept
auto_lr = decisions.auto_lr
before_update = decisions.before_update
problem_gtol = decisions.problem_gtol
diverge_limit = decisions.diverge_limit
is_bad = decisions.is_bad
line_search_on = decisions.line_search_on
loss_rounding = decisions.loss_rounding
lr_is_auto = decisions.lr_is_auto
next_lr = decisions.next_lr
next_growth = decisions.next_growth
nonmonotone_reference = decisions.nonmonotone_reference
record_history = decisions.record_history
restarts = decisions.restarts
start_status = decisions.start_status
trial_lr = decisions.trial_lr
trial_outcome = decisions.trial_outcome

# slots of the per-problem control row cx (float64): the trial step of the current update,
# its Armijo halvings, the done flag, the Gram constant, the power iteration's lambda and
# stop flag, and |g|^2 at the current iterate
CX_ALPHA, CX_SLOPE, CX_SCALE, CX_HALV, CX_DONE, CX_C, CX_LAM, CX_PSTOP, CX_GSQ = range(9)
NCX = 9


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
    status = before_update(cx[CX_GSQ], st[ST_GTOL], t_it, ip[IP_MAX_ITER], ip[IP_STOP_AT],
                           st[ST_FUN], st[ST_F0])
    if status != RUNNING:
        finish(status, ip, st, cx, hist, col)
        return
    d = w.shape[0]
    t = cuda.threadIdx.x
    method = ip[IP_METHOD]
    armijo = ip[IP_ARMIJO] != 0
    scale = method_direction(method, t_it, g, s1, s2, p, hp, t, TPB)
    slope = 0.0
    if line_search_on(armijo, method):
        sp = 0.0
        for j in range(t, d, TPB):
            sp += float(g[j]) * float(p[j])
        slope = block_sum(sh, sp)
    alpha = trial_lr(armijo, method, st[ST_LR], st[ST_LR0], int(st[ST_STREAK]),
                     int(st[ST_PATIENCE])) * scale
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
            st[ST_LR0] = st[ST_LR]
            st[ST_FREF] = f
            st[ST_QREF] = 1.0
            st[ST_PATIENCE] = ARMIJO_GROW_AFTER
            st[ST_GTOL] = problem_gtol(tol[TOL_G], tol[TOL_R], gsq)
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
    method = ip[IP_METHOD]
    armijo = ip[IP_ARMIJO] != 0
    sq = 0.0
    wq = 0.0
    gq = 0.0
    yq = 0.0
    for j in range(t, d, TPB):
        dj = float(wn[j]) - float(w[j])
        sq += dj * dj
        wq += float(wn[j]) * float(wn[j])
        gq += float(gnew[j]) * float(gnew[j])
        yq += (float(gnew[j]) - float(g[j])) * dj
    step_sq = block_sum(sh, sq)
    ww = block_sum(sh, wq)
    gsq_new = block_sum(sh, gq)
    sy = 0.0
    if method == BB:  # the same for every thread of the block
        sy = block_sum(sh, yq)
    rounding = loss_rounding(float(hp[HP_LOSS_ROUNDING]), f, cx[CX_C])
    outcome = trial_outcome(line_search_on(armijo, method), halvings, f_new,
                            acceptance_reference(method, f, st[ST_FREF]), alpha, cx[CX_SLOPE],
                            rounding, diverge_limit(st[ST_F0]), ww, gsq_new)
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
    lr = next_lr(armijo, method, alpha, cx[CX_SCALE], st[ST_LR], st[ST_LR0], step_sq, sy)
    reset = restarts(ip[IP_RESTART] != 0, f_new, f)
    for j in range(t, d, TPB):
        w[j] = wn[j]
        g[j] = gnew[j]
        if reset:
            s1[j] = 0.0
    t_it = int(st[ST_NIT]) + 1
    fref, qref = nonmonotone_reference(st[ST_FREF], st[ST_QREF], f_new)
    streak, patience, grown = next_growth(int(st[ST_STREAK]), int(st[ST_PATIENCE]),
                                          st[ST_GROWN] != 0.0, halvings)
    cuda.syncthreads()
    if t == 0:
        st[ST_LR] = lr
        st[ST_STREAK] = streak
        st[ST_PATIENCE] = patience
        st[ST_GROWN] = 1.0 if grown else 0.0
        st[ST_FREF] = fref
        st[ST_QREF] = qref
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
