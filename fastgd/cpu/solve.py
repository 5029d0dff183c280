"""CPU drivers: the whole iteration loop of `minimize` in compiled code.

Data flow: ``solve_batch`` (prange over chunks of problems) or ``solve_single`` (one
large problem, prange over row blocks inside each evaluation) -> ``solve_problem``
(one problem's iterations: the skeleton of fastgd/decisions.py) -> the hook
``evaluate`` (loss and gradient, fastgd/cpu/evaluate.py) and ``lambda_max`` (for
lr="auto", fastgd/cpu/prepare.py, with its hook ``xtx_apply``).

The hooks are unbound here: fastgd/cpu/drivers.py binds them per problem family
(built-in row losses, Softmax, a user's RowLoss) and per size (a batch never compiles
the parallel row pass of one large problem), with ``fastgd._jit.rebind`` -- never by a
second copy of the skeleton.

State is resumable (fastgd/contract.py names every slot): a call advances every
running problem up to iteration ``ip[IP_STOP_AT]`` and leaves status RUNNING on the
ones not done, so the API can run long solves in chunks (progress bars, callbacks).
"""
import math

import numpy as np
from numba import prange

from .. import config
from .._jit import borrowed, cpu_kernel, load_relaxed
from ..contract import (
    ACCEPT, ARMIJO_GROW_AFTER, BACKTRACK, BB, DIRECT, GRAM, HP_CURV, HP_L2, HP_LOSS_ROUNDING,
    IP_ARMIJO, IP_HIST_EVERY, IP_INTERCEPT, IP_MAX_ITER, IP_METHOD, IP_MODE, IP_LOSS, IP_OUTPUTS,
    IP_RESTART, IP_STOP_AT,
    PAUSE, RUNNING, ST_F0, ST_FREF, ST_FUN, ST_GNORM, ST_GROWN, ST_LR, ST_LR0, ST_NIT,
    ST_GTOL, ST_PATIENCE, ST_QREF, ST_STATUS, ST_STREAK, TOL_F, TOL_G, TOL_R, TOL_X,
)
from .math import decisions, rules
from .prepare import lambda_max, prepare_problem

ROW_TILE = config.ROW_TILE  # compile-time constant of the cached kernels
acceptance_reference = decisions.acceptance_reference
after_accept = decisions.after_accept
auto_lr = decisions.auto_lr
before_update = decisions.before_update
problem_gtol = decisions.problem_gtol
diverge_limit = decisions.diverge_limit
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
method_direction = rules.method_direction
plain_gradient = rules.plain_gradient
# the hook, bound by fastgd/cpu/drivers.py (with prepare.xtx_apply, lambda_max's):
# evaluate(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp) -> (f, |g|^2)
# (s (n,): sample weights scaled to sum n, or (0,) when there are none)
evaluate = None


@cpu_kernel(refcount=False)
def evaluate_at(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    """The hook ``evaluate`` as a call of its own, for the one evaluation per call at the
    saved iterate: the hot trial evaluation is inlined in solve_problem, and a second
    inlined copy would only cost compile time (the evaluation is most of the skeleton's
    code)."""
    return evaluate(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp)


@cpu_kernel(refcount=False)
def solve_problem(X, y, s, Xt, z, zk, A, b, c, part_g, part_f, pw, w_out, ip, hp, tol, state,
                  col, w_new, g, g_new, s1, s2, p, hist):
    """Run one problem from its saved state up to iteration ip[IP_STOP_AT].

    state (STATE_SIZE,) float64: read and written (slots ST_*).  s1/s2: the method's
    per-coordinate state (momentum buffer; Adam m, v; RMSprop/Adagrad's v in s2).  w_out (m,)
    is updated in place and ends holding the last finite iterate.  w_new, g, g_new, p (m,) are
    scratch; pw (1 + row blocks, d (+ 1 with the intercept)) float64 is lambda_max's
    scratch; s (n,) the sample weights or (0,).
    """
    method = ip[IP_METHOD]
    code = ip[IP_LOSS]
    mode = ip[IP_MODE]
    max_iter = ip[IP_MAX_ITER]
    armijo = ip[IP_ARMIJO] != 0
    searching = line_search_on(armijo, method)
    restart = ip[IP_RESTART] != 0
    hist_every = ip[IP_HIST_EVERY]
    xtol = tol[TOL_X]
    ftol = tol[TOL_F]
    m = w_out.shape[0]
    if int(state[ST_STATUS]) != RUNNING:
        return
    t = int(state[ST_NIT])
    lr = state[ST_LR]
    if lr_is_auto(lr):
        lam, stopped = lambda_max(mode, X, s, Xt, A, s1, z, pw, hp, ip)
        for j in range(m):
            s1[j] = 0.0  # s1 was the power iteration's scratch
        if stopped:
            return  # Ctrl-C: the state stays as it was (lr still LR_AUTO), RUNNING
        lr = auto_lr(np.float64(hp[HP_CURV]), lam, np.float64(hp[HP_L2]))
    w = w_out        # current iterate; w_new, g_new: the trial point; swapped on acceptance
    swapped = False
    f, gsq = evaluate_at(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp)
    if t == 0:
        state[ST_F0] = f
        state[ST_LR0] = lr
        state[ST_FREF] = f
        state[ST_QREF] = 1.0
        state[ST_PATIENCE] = ARMIJO_GROW_AFTER
        state[ST_GTOL] = problem_gtol(tol[TOL_G], tol[TOL_R], gsq)
        record_history(hist, col, 0, hist_every, f, False)
    gtol = state[ST_GTOL]
    f0 = state[ST_F0]
    lr0 = state[ST_LR0]
    fref = state[ST_FREF]
    qref = state[ST_QREF]
    streak = int(state[ST_STREAK])
    patience = int(state[ST_PATIENCE])
    grown = state[ST_GROWN] != 0.0
    limit = diverge_limit(f0)
    status = start_status(f, gsq)
    while status == RUNNING:
        # re-read every iteration: Ctrl-C moves it to -1 while the call runs (runtime.py)
        status = before_update(gsq, gtol, t, max_iter, load_relaxed(ip, IP_STOP_AT), f, f0)
        if status != RUNNING:
            break
        if plain_gradient(method):
            scale = 1.0
            direction = g
        else:
            scale = method_direction(method, t, g, s1, s2, p, hp, 0, 1)
            direction = p
        slope = 0.0
        if searching:
            for j in range(m):
                slope += np.float64(g[j]) * np.float64(direction[j])
        alpha = trial_lr(armijo, method, lr, lr0, streak, patience) * scale
        rounding = loss_rounding(float(hp[HP_LOSS_ROUNDING]), f, c)
        f_ref = acceptance_reference(method, f, fref)
        halvings = 0
        while True:
            step_sq = 0.0
            ww = 0.0
            for j in range(m):
                wj = w[j] - alpha * direction[j]
                w_new[j] = wj
                dj = float(wj) - float(w[j])
                step_sq += dj * dj
                ww += float(wj) * float(wj)
            f_new, gsq_new = evaluate(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f,
                                      w_new, g_new, hp)
            outcome = trial_outcome(searching, halvings, f_new, f_ref, alpha, slope, rounding,
                                    limit, ww, gsq_new)
            if outcome != BACKTRACK:
                break
            halvings += 1
            alpha *= 0.5
        if outcome != ACCEPT:
            status = outcome  # DIVERGED or LINE_SEARCH_FAILED: w stays the last finite iterate
            break
        sy = 0.0
        if method == BB:
            for j in range(m):
                sy += ((np.float64(g_new[j]) - np.float64(g[j]))
                       * (np.float64(w_new[j]) - np.float64(w[j])))
        lr = next_lr(armijo, method, alpha, scale, lr, lr0, step_sq, sy)
        streak, patience, grown = next_growth(streak, patience, grown, halvings)
        if restarts(restart, f_new, f):
            for j in range(m):
                s1[j] = 0.0
        fref, qref = nonmonotone_reference(fref, qref, f_new)
        w, w_new = w_new, w
        g, g_new = g_new, g
        swapped = not swapped
        status = after_accept(step_sq, xtol, f_new, f, ftol)
        f = f_new
        gsq = gsq_new
        t += 1
        record_history(hist, col, t, hist_every, f, False)
    if swapped:
        for j in range(m):
            w_out[j] = w[j]
    if status == PAUSE:
        status = RUNNING
    else:
        record_history(hist, col, t, hist_every, f, True)
    state[ST_LR] = lr
    state[ST_FREF] = fref
    state[ST_QREF] = qref
    state[ST_STREAK] = streak
    state[ST_PATIENCE] = patience
    state[ST_GROWN] = 1.0 if grown else 0.0
    state[ST_NIT] = t
    state[ST_STATUS] = status
    state[ST_FUN] = f
    state[ST_GNORM] = math.sqrt(gsq)


@cpu_kernel(parallel=True)
def solve_batch(X, y, S, W, S1, S2, ip, hp, tol, state, hist, nchunks):
    """Solve B independent problems X (B, n, d), y (B, n) from W (B, m), in place.
    S: sample weights (B, n), (1, n) shared by all, or (1, 0) for none.

    Parallel over `nchunks` contiguous chunks of problems (a few per thread, handed out
    dynamically); each problem runs all its iterations with its data hot in cache, so a
    converged problem costs nothing more (the active set is the set of problems still
    iterating).  state (B, STATE_SIZE) float64, S1, S2 (B, m) method state.  Scratch is
    per chunk, allocated once here; all views handed down are `borrowed` (see
    fastgd._jit) so no atomic reference counting runs per iteration.
    """
    B, n, d = X.shape
    m = W.shape[1]
    k = ip[IP_OUTPUTS]  # outputs per row (Softmax's classes; 1 for a row loss)
    inter = ip[IP_INTERCEPT] != 0
    dim = d + 1 if inter else d  # of the design, [X, 1] with the intercept
    mode = ip[IP_MODE]
    nt = n if mode in (DIRECT, GRAM) else 1
    dg = dim if mode == GRAM else 1
    Xt_all = np.empty((nchunks, d, nt), X.dtype)
    z_all = np.empty((nchunks, n), X.dtype)
    zk_all = np.empty((nchunks, k, n if k > 1 else 1), X.dtype)  # (k, n) logits
    A_all = np.empty((nchunks, dg, dg), np.float64)
    b_all = np.empty((nchunks, dg), np.float64)
    vec_all = np.empty((nchunks, 4, m), X.dtype)
    part_g_all = np.empty((nchunks, 1, m), X.dtype)
    part_f_all = np.empty((nchunks, 1), np.float64)
    pw_all = np.empty((nchunks, 2, dim), np.float64)
    Xb, yb, Wb, S1b, S2b = borrowed(X), borrowed(y), borrowed(W), borrowed(S1), borrowed(S2)
    Sb = borrowed(S)
    shared = Sb.shape[0] == 1
    ipb, hpb, tolb, stb, hb = borrowed(ip), borrowed(hp), borrowed(tol), borrowed(state), borrowed(hist)
    for ch in prange(nchunks):
        Xt = borrowed(Xt_all[ch])
        z = borrowed(z_all[ch])
        zk = borrowed(zk_all[ch])
        A = borrowed(A_all[ch])
        b = borrowed(b_all[ch])
        vec = borrowed(vec_all[ch])
        part_g = borrowed(part_g_all[ch])
        part_f = borrowed(part_f_all[ch])
        pw = borrowed(pw_all[ch])
        for q in range(ch * B // nchunks, (ch + 1) * B // nchunks):
            if int(stb[q, ST_STATUS]) != RUNNING or load_relaxed(ipb, IP_STOP_AT) < 0:
                continue  # done, or interrupted before its set-up
            sq = Sb[0] if shared else Sb[q]
            c = prepare_problem(mode, Xb[q], yb[q], sq, Xt, A, b, inter)
            solve_problem(Xb[q], yb[q], sq, Xt, z, zk, A, b, c, part_g, part_f, pw, Wb[q], ipb,
                          hpb, tolb, stb[q], q, vec[0], vec[1], vec[2], S1b[q], S2b[q], vec[3], hb)


@cpu_kernel
def solve_single(X, y, s, A, b, c, w, s1, s2, ip, hp, tol, state, hist, nblocks):
    """One large problem X (n, d), w (m,): each evaluation is parallel over row blocks.
    s (n,) sample weights (scaled to sum n) or (0,) for none.

    mode ROWS reads X once per evaluation; mode GRAM iterates in O(d^2) on A (dim, dim),
    b (dim,) float64 and c, formed by BLAS on the host (fastgd/cpu/gram.py; (1, 1), (1,)
    and 0 in mode ROWS).
    """
    n, d = X.shape
    m = w.shape[0]
    k = ip[IP_OUTPUTS]
    inter = ip[IP_INTERCEPT] != 0
    dim = d + 1 if inter else d
    Xt = np.empty((1, 1), X.dtype)
    z = np.empty(nblocks * ROW_TILE, X.dtype)
    zk = np.empty((nblocks, k), X.dtype)
    part_g = np.empty((nblocks, m), X.dtype)
    part_f = np.empty(nblocks, np.float64)
    pw = np.empty((nblocks + 1, dim), np.float64)
    w_new = np.empty(m, X.dtype)
    g = np.empty(m, X.dtype)
    g_new = np.empty(m, X.dtype)
    p = np.empty(m, X.dtype)
    solve_problem(X, y, s, Xt, z, zk, A, b, c, part_g, part_f, pw, w, ip, hp, tol, state, 0,
                  w_new, g, g_new, s1, s2, p, hist)
