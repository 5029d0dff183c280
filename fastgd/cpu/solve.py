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

from .._jit import borrowed, cpu_kernel, load_relaxed
from ..contract import (
    ACCEPT, ARMIJO_GROW_AFTER, BACKTRACK, BB, DIRECT, GRAM, HP_CURV, HP_L2, HP_LOSS_ROUNDING,
    IP_ARMIJO, IP_HIST_EVERY, IP_INTERCEPT, IP_MAX_ITER, IP_METHOD, IP_MODE, IP_LOSS, IP_OUTPUTS,
    IP_RESTART, IP_STOP_AT,
    PAUSE, RUNNING, ST_F0, ST_FREF, ST_FUN, ST_GNORM, ST_GROWN, ST_LR, ST_LR0, ST_NIT,
    ST_GTOL, ST_PATIENCE, ST_QREF, ST_STATUS, ST_STREAK, TOL_F, TOL_G, TOL_R, TOL_X,
)
from .math import decisions, rules
from .evaluate import eval_gram
from .precondition import (
    active, auto_l2, gradient_to_rescaled, gram_to_rescaled, original_gradient_sq, to_original,
)
from .prepare import lambda_max, prepare_problem

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


@cpu_kernel(refcount=False, inline=True)
def descent_slope(searching, g, direction):
    """g.p in float64 (the line search's slope), or 0 when no line search runs."""
    slope = 0.0
    if searching:
        for j in range(g.shape[0]):
            slope += np.float64(g[j]) * np.float64(direction[j])
    return slope


@cpu_kernel(refcount=False, inline=True)
def trial_point(w, direction, alpha, w_new):
    """w_new = w - alpha p (alpha float64); returns (|w_new - w|^2, |w_new|^2) in float64,
    of the unrounded trial coordinates."""
    step_sq = 0.0
    ww = 0.0
    for j in range(w.shape[0]):
        wj = w[j] - alpha * direction[j]
        w_new[j] = wj
        dj = float(wj) - float(w[j])
        step_sq += dj * dj
        ww += float(wj) * float(wj)
    return step_sq, ww


@cpu_kernel(refcount=False, inline=True)
def bb_curvature(method, w, w_new, g, g_new):
    """s.y = (g_new - g).(w_new - w) in float64 for bb's step; 0 for other methods."""
    sy = 0.0
    if method == BB:
        for j in range(w.shape[0]):
            sy += ((np.float64(g_new[j]) - np.float64(g[j]))
                   * (np.float64(w_new[j]) - np.float64(w[j])))
    return sy


@cpu_kernel(refcount=False, inline=True)
def evaluate_v(pre, wv, ip, mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g,
               hp):
    """The hook ``evaluate`` at the iterate w of the drivers.  precondition="diag" (pre
    (PRE_ROWS, d) of fastgd/cpu/precondition.py active): w is v, evaluated at T v (built in
    the scratch wv (m,)), and g becomes the gradient in v, T^T g; the returned |g|^2 is
    that of the original variables' gradient (gtol and res.grad_norm refer to it).
    In Gram form (mode GRAM, least squares) A, b are those of v already (gram_to_rescaled,
    the penalty included): evaluated at v directly, no cancellation between the original
    coordinates.  Otherwise the hook itself (one inlined copy of it either way)."""
    on = active(pre)
    k = ip[IP_OUTPUTS]
    inter = ip[IP_INTERCEPT] != 0
    if on and mode == GRAM:
        f, gsq = eval_gram(A, b, c, w, g, hp, 0)
        return f, original_gradient_sq(pre, g, k, inter)
    at = w
    if on:
        to_original(pre, w, wv, k, inter)
        at = wv
    f, gsq = evaluate(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, at, g, hp)
    if on:
        gradient_to_rescaled(pre, g, k, inter)
    return f, gsq


@cpu_kernel(refcount=False)
def solve_problem(X, y, s, Xt, z, zk, A, b, c, part_g, part_f, pw, w_out, ip, hp, tol, state,
                  col, w_new, g, g_new, s1, s2, p, hist, pre, wv):
    """Run one problem from its saved state up to iteration ip[IP_STOP_AT].

    state (STATE_SIZE,) float64: read and written (slots ST_*).  s1/s2: the method's
    per-coordinate state (momentum buffer; Adam m, v; RMSprop/Adagrad's v in s2).  w_out (m,)
    is updated in place and ends holding the last finite iterate.  w_new, g, g_new, p (m,) are
    scratch; pw (1 + row blocks, d (+ 1 with the intercept)) float64 is lambda_max's
    scratch; s (n,) the sample weights or (0,).  pre: precondition="diag"'s (PRE_ROWS, d)
    (then w_out, s1, s2 live in the rescaled variables v; see evaluate_v) or (PRE_ROWS, 0);
    wv (m,) its scratch.
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
        lam, stopped = lambda_max(mode, X, s, Xt, A, s1, z, pw, hp, ip, pre, s2)
        for j in range(m):
            s1[j] = 0.0  # s1 (and s2, preconditioned) were the power iteration's scratch
            s2[j] = 0.0
        if stopped:
            return  # Ctrl-C: the state stays as it was (lr still LR_AUTO), RUNNING
        lr = auto_lr(np.float64(hp[HP_CURV]), lam, auto_l2(pre, mode == GRAM, np.float64(hp[HP_L2])))
    w = w_out        # current iterate; w_new, g_new: the trial point; swapped on acceptance
    swapped = False
    # The first pass of the loop evaluates the saved iterate (copied into w_new) and takes
    # it as the current point: the skeleton holds one inlined evaluation (most of its
    # code) for the saved iterate and every trial point, not two (twice the compile time).
    for j in range(m):
        w_new[j] = w[j]
    started = False
    f = gsq = f_new = gsq_new = 0.0
    gtol = f0 = lr0 = fref = qref = limit = 0.0
    streak = patience = 0
    grown = False
    scale = alpha = slope = rounding = f_ref = step_sq = ww = 0.0
    direction = g
    outcome = ACCEPT
    halvings = 0
    status = RUNNING
    while status == RUNNING:
        if started:
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
            slope = descent_slope(searching, g, direction)
            alpha = trial_lr(armijo, method, lr, lr0, streak, patience) * scale
            rounding = loss_rounding(float(hp[HP_LOSS_ROUNDING]), f, c)
            f_ref = acceptance_reference(method, f, fref)
        halvings = 0
        while True:
            if started:
                step_sq, ww = trial_point(w, direction, alpha, w_new)
            f_new, gsq_new = evaluate_v(pre, wv, ip, mode, code, X, y, s, Xt, z, zk, A, b, c,
                                        part_g, part_f, w_new, g_new, hp)
            if not started:
                break
            outcome = trial_outcome(searching, halvings, f_new, f_ref, alpha, slope, rounding,
                                    limit, ww, gsq_new)
            if outcome != BACKTRACK:
                break
            halvings += 1
            alpha *= 0.5
        if not started:  # the saved iterate's loss and gradient
            started = True
            w, w_new = w_new, w
            g, g_new = g_new, g
            swapped = not swapped
            f = f_new
            gsq = gsq_new
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
            continue
        if outcome != ACCEPT:
            status = outcome  # DIVERGED or LINE_SEARCH_FAILED: w stays the last finite iterate
            break
        sy = bb_curvature(method, w, w_new, g, g_new)
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
def solve_batch(X, y, S, W, S1, S2, ip, hp, tol, state, hist, nchunks, P):
    """Solve B independent problems X (B, n, d), y (B, n) from W (B, m), in place.
    S: sample weights (B, n), (1, n) shared by all, or (1, 0) for none.  P:
    precondition="diag"'s (B or 1, PRE_ROWS, d) float64, or (1, PRE_ROWS, 0) for none.

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
    vec_all = np.empty((nchunks, 5, m), X.dtype)
    part_g_all = np.empty((nchunks, 1, m), X.dtype)
    part_f_all = np.empty((nchunks, 1), np.float64)
    pw_all = np.empty((nchunks, 2, dim), np.float64)
    Xb, yb, Wb, S1b, S2b = borrowed(X), borrowed(y), borrowed(W), borrowed(S1), borrowed(S2)
    Sb = borrowed(S)
    shared = Sb.shape[0] == 1
    Pb = borrowed(P)
    pshared = Pb.shape[0] == 1
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
            pq = Pb[0] if pshared else Pb[q]
            if mode == GRAM and active(pq):
                gram_to_rescaled(pq, A, b, np.float64(hpb[HP_L2]), inter)
            solve_problem(Xb[q], yb[q], sq, Xt, z, zk, A, b, c, part_g, part_f, pw, Wb[q], ipb,
                          hpb, tolb, stb[q], q, vec[0], vec[1], vec[2], S1b[q], S2b[q], vec[3], hb,
                          pq, vec[4])


@cpu_kernel
def solve_single(X, y, s, A, b, c, w, s1, s2, ip, hp, tol, state, hist, nblocks, tile, pre):
    """One large problem X (n, d), w (m,): each evaluation is parallel over row blocks.
    s (n,) sample weights (scaled to sum n) or (0,) for none; tile rows per tile of the
    tiled row loop (config.row_tile); pre (PRE_ROWS, d) float64
    precondition="diag"'s or (PRE_ROWS, 0).

    mode ROWS reads X once per evaluation; mode GRAM iterates in O(d^2) on A (dim, dim),
    b (dim,) float64 and c, formed by BLAS on the host (fastgd/cpu/gram.py; (1, 1), (1,)
    and 0 in mode ROWS).
    """
    n, d = X.shape
    m = w.shape[0]
    k = ip[IP_OUTPUTS]
    inter = ip[IP_INTERCEPT] != 0
    dim = d + 1 if inter else d
    mode = ip[IP_MODE]
    if mode == GRAM and active(pre):
        A = A.copy()  # the backend's host Gram form is reused by every chunk of the solve
        b = b.copy()
        gram_to_rescaled(pre, A, b, np.float64(hp[HP_L2]), inter)
    Xt = np.empty((1, 1), X.dtype)
    z = np.empty(nblocks * tile, X.dtype)
    zk = np.empty((nblocks, k), X.dtype)
    part_g = np.empty((nblocks, m), X.dtype)
    part_f = np.empty(nblocks, np.float64)
    pw = np.empty((nblocks + 1, dim), np.float64)
    w_new = np.empty(m, X.dtype)
    g = np.empty(m, X.dtype)
    g_new = np.empty(m, X.dtype)
    p = np.empty(m, X.dtype)
    wv = np.empty(m, X.dtype)
    solve_problem(X, y, s, Xt, z, zk, A, b, c, part_g, part_f, pw, w, ip, hp, tol, state, 0,
                  w_new, g, g_new, s1, s2, p, hist, pre, wv)
