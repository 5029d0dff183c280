"""GPU driver of stochastic mini-batch gradient descent (``minimize(..., batch_size=m,
device="cuda")``): the contract of fastgd/cpu/minibatch.py, dense X.

One thread block per problem (grid-stride over the problems of a batch, as
solve_batch_kernel), every epoch of the call inside one launch.  An update: the block's
threads take the rows of the mini-batch (positions ``k m .. (k + 1) m - 1`` of the
epoch's visiting order, drawn on the host by fastgd/epochs.py; X is read through the
indices, never copied or permuted) in tiles of TPB rows, the gradient accumulated over
the columns as in the full-batch pass (``evaluate.visit_pass``), then the threads step
their share of the columns by ``rules.method_direction``.  One large problem runs in one
block as well: a grid-wide pass per mini-batch would be a launch (and a grid-wide
reduction) per update, launch-bound for the small mini-batches SGD uses; a block keeps the
whole epoch on the chip with no host round trip.

Once per epoch, the full-data loss and gradient at the iterate (``block_evaluate``)
drive every decision of fastgd/decisions.py exactly as fastgd/cpu/minibatch.py's
solve_epochs does (before_update, trial_outcome with the epoch's start as the last
finite iterate, after_accept, record_history; bb's non-monotone epoch test, epoch_lr,
restarts), so res.fun and res.grad_norm are full-data values at res.x.  No formula lives here: the row losses, the update rules and
the decisions are the device builds of fastgd/losses.py, rules.py and decisions.py.
"""
import math

from numba import cuda, float64

from ..contract import (
    ACCEPT, BACKTRACK, BB, DIRECT, HP_CURV, HP_L2, HP_LOSS_ROUNDING, IP_HIST_EVERY, IP_LOSS,
    IP_MAX_ITER, IP_METHOD, IP_RESTART, IP_STOP_AT, PAUSE, RUNNING, ST_F0, ST_FREF, ST_FUN,
    ST_GNORM, ST_GTOL, ST_LR, ST_LR0, ST_NIT, ST_QREF, ST_STATUS, TOL_F, TOL_G, TOL_R, TOL_X,
)
from .evaluate import (
    MAXM, TPB, block_evaluate, block_lambda_max, block_sum, finish_rows, visit_pass,
)
from .math import decisions, rules

acceptance_reference = decisions.acceptance_reference
after_accept = decisions.after_accept
auto_lr = decisions.auto_lr
before_update = decisions.before_update
diverge_limit = decisions.diverge_limit
epoch_lr = decisions.epoch_lr
line_search_on = decisions.line_search_on
loss_rounding = decisions.loss_rounding
lr_is_auto = decisions.lr_is_auto
nonmonotone_reference = decisions.nonmonotone_reference
problem_gtol = decisions.problem_gtol
record_history = decisions.record_history
restarts = decisions.restarts
start_status = decisions.start_status
trial_outcome = decisions.trial_outcome
method_direction = rules.method_direction


@cuda.jit(device=True)
def squared_norm(v, sh):
    """|v|^2 (float64, every thread of the block)."""
    s = 0.0
    for j in range(cuda.threadIdx.x, v.shape[0], TPB):
        s += float(v[j]) * float(v[j])
    return block_sum(sh, s)


@cuda.jit(device=True)
def batch_gradient(code, X, y, w, visit, lo, hi, g, R, sh, shr, acc, hp):
    """g = sum phi'_i x_i / count + l2 w over the rows at positions lo..hi-1 of `visit`
    (of X itself when empty); returns their mean loss + l2/2 |w|^2 (float64)."""
    fsum = visit_pass(code, 0, X, y, w, visit, lo, hi, 0, TPB, g, R, sh, shr, acc, hp)
    return finish_rows(g, w, fsum, 1.0 / (hi - lo), sh, hp)


@cuda.jit(device=True)
def problem_epochs(X, y, w, g, w_prev, g_prev, s1, s2, p, R, A, b, ip, hp, tol, st, hist,
                   col, order, shuffled, factors, base, upto, bsize, sh, shr, acc):
    """Run one problem (one block) from its saved state up to epoch min(upto,
    ip[IP_STOP_AT]); the arguments as solve_epochs of fastgd/cpu/minibatch.py (order
    (E, n) the visiting orders of epochs base.. when `shuffled`, factors (E, updates));
    g, w_prev, g_prev, p (m,) scratch, R (n,) or (1,) the row pass's, A, b unused (no Gram
    form).  Thread 0 writes the state and the history."""
    tx = cuda.threadIdx.x
    method = ip[IP_METHOD]
    code = ip[IP_LOSS]
    hist_every = ip[IP_HIST_EVERY]
    n = y.shape[0]
    m = w.shape[0]
    nb = (n + bsize - 1) // bsize
    stored = order[0, :0]  # (0,): the rows in their stored order
    it = int(st[ST_NIT])
    lr = st[ST_LR]
    if lr_is_auto(lr):  # s1, g: the power iteration's scratch (s1 then zeroed)
        lam = block_lambda_max(DIRECT, code, X, y, A, s1, g, R, sh, shr, acc, hp)
        lr = auto_lr(float(hp[HP_CURV]), lam, float(hp[HP_L2]))
        for j in range(tx, m, TPB):
            s1[j] = 0.0
        cuda.syncthreads()
    f = block_evaluate(DIRECT, code, X, y, A, b, 0.0, w, g, R, sh, shr, acc, hp)
    gsq = squared_norm(g, sh)
    if it == 0:
        f0 = f
        gtol = problem_gtol(tol[TOL_G], tol[TOL_R], gsq)
        lr0 = lr
        fref = f
        qref = 1.0
        if tx == 0:
            st[ST_F0] = f
            st[ST_LR0] = lr
            st[ST_GTOL] = gtol
            record_history(hist, col, 0, hist_every, f, False)
    else:
        f0 = st[ST_F0]
        gtol = st[ST_GTOL]
        lr0 = st[ST_LR0]
        fref = st[ST_FREF]
        qref = st[ST_QREF]
    limit = diverge_limit(f0)
    searching = line_search_on(False, method)  # bb: each epoch a trial point (see the CPU's)
    restart = ip[IP_RESTART] != 0
    status = start_status(f, gsq)
    while status == RUNNING:
        stop_at = min(ip[IP_STOP_AT], upto)
        status = before_update(gsq, gtol, it, ip[IP_MAX_ITER], stop_at, f, f0)
        if status != RUNNING:
            break
        e = it - base
        visit = order[e] if shuffled else stored
        for j in range(tx, m, TPB):
            w_prev[j] = w[j]
            g_prev[j] = g[j]  # the full-data gradient at the epoch's start
        rounding = loss_rounding(float(hp[HP_LOSS_ROUNDING]), f, 0.0)
        f_ref = acceptance_reference(method, f, fref)
        lr_e = lr
        halvings = 0
        while True:
            for k in range(nb):
                lo = k * bsize
                hi = min(lo + bsize, n)
                batch_gradient(code, X, y, w, visit, lo, hi, g, R, sh, shr, acc, hp)
                scale = method_direction(method, it * nb + k, g, s1, s2, p, hp, tx, TPB)
                alpha = lr_e * factors[e, k] * scale
                for j in range(tx, m, TPB):  # this thread's columns of g, p and w
                    w[j] = w[j] - alpha * p[j]
                cuda.syncthreads()
            f_new = block_evaluate(DIRECT, code, X, y, A, b, 0.0, w, g, R, sh, shr, acc, hp)
            sq = 0.0
            yq = 0.0
            for j in range(tx, m, TPB):
                dj = float(w[j]) - float(w_prev[j])
                sq += dj * dj
                yq += (float(g[j]) - float(g_prev[j])) * dj
            step_sq = block_sum(sh, sq)
            sy = 0.0
            if method == BB:  # the same for every thread of the block
                sy = block_sum(sh, yq)
            ww = squared_norm(w, sh)
            gsq_new = squared_norm(g, sh)
            outcome = trial_outcome(searching, halvings, f_new, f_ref, lr_e, 0.0, rounding,
                                    limit, ww, gsq_new)
            if outcome != ACCEPT:
                for j in range(tx, m, TPB):
                    w[j] = w_prev[j]  # the last finite iterate: this epoch's start
                    g[j] = g_prev[j]
                cuda.syncthreads()
            if outcome != BACKTRACK:
                break
            halvings += 1
            lr_e *= 0.5
        if outcome != ACCEPT:
            status = outcome
            break
        lr = epoch_lr(method, lr_e, lr0, step_sq, sy, nb)
        if restarts(restart, f_new, f):
            for j in range(tx, m, TPB):
                s1[j] = 0.0
            cuda.syncthreads()
        fref, qref = nonmonotone_reference(fref, qref, f_new)
        status = after_accept(step_sq, tol[TOL_X], f_new, f, tol[TOL_F])
        f = f_new
        gsq = gsq_new
        it += 1
        if tx == 0:
            record_history(hist, col, it, hist_every, f, False)
    if status == PAUSE:
        status = RUNNING
    elif tx == 0:
        record_history(hist, col, it, hist_every, f, True)
    cuda.syncthreads()
    if tx == 0:
        st[ST_LR] = lr
        st[ST_FREF] = fref
        st[ST_QREF] = qref
        st[ST_NIT] = it
        st[ST_STATUS] = status
        st[ST_FUN] = f
        st[ST_GNORM] = math.sqrt(gsq)
    cuda.syncthreads()


@cuda.jit
def minibatch_kernel(X, y, W, S1, S2, G, WP, GP, P, R, A, Bv, ip, hp, tol, state, hist,
                     order, shuffled, factors, base, upto, bsize):
    """B problems X (B, n, d), y (B, n) from W (B, m), in place, up to epoch min(upto,
    ip[IP_STOP_AT]): one block per problem (grid-stride over problems).  order (E, n)
    int64 (every problem visits the rows in the same order; (1, 1) unread when not
    `shuffled`), factors (E or 1, updates) float64; G, WP, GP, P (B, m) scratch."""
    sh = cuda.shared.array(TPB, float64)
    shr = cuda.shared.array(TPB, float64)
    acc = cuda.local.array(MAXM, float64)
    for k in range(cuda.blockIdx.x, X.shape[0], cuda.gridDim.x):
        cuda.syncthreads()
        if int(state[k, ST_STATUS]) != RUNNING:
            continue
        problem_epochs(X[k], y[k], W[k], G[k], WP[k], GP[k], S1[k], S2[k], P[k], R[k], A[k],
                       Bv[k], ip, hp, tol, state[k], hist, k, order, shuffled, factors, base,
                       upto, bsize, sh, shr, acc)
