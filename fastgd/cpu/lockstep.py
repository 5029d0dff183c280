"""CPU driver of a batch over one shared X in DIRECT mode: every problem in lockstep.

``solve_lockstep`` runs B row-loss problems over one X (n, d) (y (B, n): several
targets, a learning-rate sweep, an l2 path) so that X is read ONCE per evaluation
round for all of them (the contract's "read once per iteration"): ``lockstep_pass``
walks the row blocks of X in parallel, copies each tile of rows into a transposed
tile that stays in cache, and computes every active problem's z = X w_q, its loss
terms (evaluate.apply_rows: the built-in loops, or a user's RowLoss through the
rebound ``row_terms``) and its gradient partial X^T r_q from that tile.

Each problem then takes the decisions of solve.solve_problem's skeleton, as a state
machine (the GPU's start / begin / after, fastgd/gpu/solve.py), in ``advance``:

    saved iterate evaluated -> start_status; before_update; direction; trial point
    trial evaluated          -> trial_outcome: BACKTRACK (alpha /= 2, a new trial point,
                                evaluated in the next round) | ACCEPT (next_lr, ...,
                                after_accept, before_update, the next trial) | a stop

Every decision is the decisions.* / rules.* call of solve_problem, in its order, so
statuses and nit are the per-problem driver's and x agrees up to the order of the
gradient sums.  A problem that stops leaves the list of active problems (``act``): a
converged problem costs nothing more.  All scratch is allocated once per call.

The hooks: ``lambda_max`` (prepare.lambda_max bound with the parallel row pass
xtx_large, for lr="auto": once for the batch when the weights are shared) and
``apply_rows``/``apply_rows_weighted`` (evaluate.py's, or a RowLoss's rebound copies),
bound by fastgd/cpu/drivers.py.  Softmax, precondition="diag", GRAM mode and separate
X (B, n, d) stay on shared.solve_shared (the dispatch rule: plan.shared_lockstep).
"""
import math

import numpy as np
from numba import prange

from .. import config
from .._jit import cpu_kernel, load_relaxed
from ..contract import (
    ACCEPT, ARMIJO_GROW_AFTER, BACKTRACK, DIRECT, HP_CURV, HP_LOSS_ROUNDING, HP_LPARAM,
    HP_NINV, HP_ONE, IP_ARMIJO, IP_HIST_EVERY, IP_LOSS, IP_MAX_ITER, IP_METHOD, IP_RESTART,
    IP_STOP_AT, PAUSE, RUNNING, ST_F0, ST_FREF, ST_FUN, ST_GNORM, ST_GROWN, ST_GTOL, ST_LR,
    ST_LR0, ST_NIT, ST_PATIENCE, ST_QREF, ST_STATUS, ST_STREAK, TOL_F, TOL_G, TOL_R, TOL_X,
)
from .evaluate import (
    apply_rows, apply_rows_weighted, block_rows, has_intercept, reduce_blocks, weighted,
    xt_matvec, xt_rmatvec,
)
from .math import decisions, rules
from .precondition import auto_l2
from .solve import bb_curvature, descent_slope, trial_point

# the transposed tile (compile-time constants of the cached kernels): one inner loop's rows
# of the tile and of z within INNER_BYTES (the L1 data cache), the tile within TILE_BYTES
# (half the level-2 cache): fastgd/config.py
INNER_BYTES = config.lockstep_inner_bytes()
TILE_BYTES = config.lockstep_tile_bytes()
BLOCK_FEATURES = 8  # the register block of logits_pair / gradient_pair: 8 features
BLOCK_TARGETS = 2  # x 2 targets
acceptance_reference = decisions.acceptance_reference
after_accept = decisions.after_accept
auto_lr = decisions.auto_lr
before_update = decisions.before_update
diverge_limit = decisions.diverge_limit
line_search_on = decisions.line_search_on
loss_rounding = decisions.loss_rounding
lr_is_auto = decisions.lr_is_auto
next_growth = decisions.next_growth
next_lr = decisions.next_lr
nonmonotone_reference = decisions.nonmonotone_reference
problem_gtol = decisions.problem_gtol
record_history = decisions.record_history
restarts = decisions.restarts
start_status = decisions.start_status
trial_lr = decisions.trial_lr
trial_outcome = decisions.trial_outcome
method_direction = rules.method_direction
plain_gradient = rules.plain_gradient
# the hook for lr="auto", bound by fastgd/cpu/drivers.py (prepare.lambda_max, xtx_large)
lambda_max = None

# the state machine's per-problem scalars between rounds: F (B, F_SIZE) float64 and
# I (B, I_SIZE) int64 (the locals of solve_problem of the same names)
(F_F, F_GSQ, F_GTOL, F_F0, F_LR, F_LR0, F_FREF, F_QREF, F_LIMIT, F_SCALE, F_ALPHA, F_SLOPE,
 F_ROUNDING, F_FACC, F_STEP_SQ, F_WW) = range(16)
F_SIZE = 16
I_T, I_STREAK, I_PATIENCE, I_GROWN, I_HALVINGS, I_STARTED = range(6)
I_SIZE = 6


@cpu_kernel(refcount=False, inline=True)
def tile_rows(d, itemsize):
    """Rows of one transposed tile (d, rows), a multiple of 16 in [16, 4096]: the
    BLOCK_FEATURES rows of the tile and the BLOCK_TARGETS rows of z that one inner loop
    of logits_pair / gradient_pair streams fit INNER_BYTES (L1), and the whole tile, read
    once per pair of targets, fits TILE_BYTES (L2)."""
    rows = INNER_BYTES // (itemsize * (BLOCK_FEATURES + BLOCK_TARGETS))
    rows = min(rows, TILE_BYTES // max(1, d * itemsize))
    return max(16, min(4096, rows - rows % 16))


@cpu_kernel(refcount=False, inline=True)
def logits_pair(xt, w0, w1, z0, z1, nr, zero):
    """z0[:nr] = X w0 and z1[:nr] = X w1 for the first nr rows of the transposed tile xt
    (d, >= nr) (plus the intercepts w0[d], w1[d] when w has one); z0, z1 (>= nr,) of xt's
    dtype (zero: 0 in it).  Register-blocked: one pass over z per 8 features, 16 FMAs per
    row for 10 loads and 2 stores (the 16 weights stay in registers); SIMD over the rows."""
    d = xt.shape[0]
    b0 = w0[d] if has_intercept(w0, d) else zero
    b1 = w1[d] if has_intercept(w1, d) else zero
    za, zb = z0[:nr], z1[:nr]
    for i in range(nr):
        za[i] = b0
        zb[i] = b1
    j = 0
    while j + 8 <= d:
        a0, a1, a2, a3 = w0[j], w0[j + 1], w0[j + 2], w0[j + 3]
        a4, a5, a6, a7 = w0[j + 4], w0[j + 5], w0[j + 6], w0[j + 7]
        c0, c1, c2, c3 = w1[j], w1[j + 1], w1[j + 2], w1[j + 3]
        c4, c5, c6, c7 = w1[j + 4], w1[j + 5], w1[j + 6], w1[j + 7]
        x0, x1, x2, x3 = xt[j, :nr], xt[j + 1, :nr], xt[j + 2, :nr], xt[j + 3, :nr]
        x4, x5, x6, x7 = xt[j + 4, :nr], xt[j + 5, :nr], xt[j + 6, :nr], xt[j + 7, :nr]
        for i in range(nr):  # from 0 over views: no negative-index select, no gathers
            v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
            v4, v5, v6, v7 = x4[i], x5[i], x6[i], x7[i]
            ta = za[i] + v0 * a0
            tb = zb[i] + v0 * c0
            ta += v1 * a1
            tb += v1 * c1
            ta += v2 * a2
            tb += v2 * c2
            ta += v3 * a3
            tb += v3 * c3
            ta += v4 * a4
            tb += v4 * c4
            ta += v5 * a5
            tb += v5 * c5
            ta += v6 * a6
            tb += v6 * c6
            ta += v7 * a7
            tb += v7 * c7
            za[i] = ta
            zb[i] = tb
        j += 8
    while j < d:  # the last d % 8 features
        a0, c0 = w0[j], w1[j]
        x0 = xt[j, :nr]
        for i in range(nr):
            v0 = x0[i]
            za[i] += v0 * a0
            zb[i] += v0 * c0
        j += 1


@cpu_kernel(refcount=False, inline=True)
def gradient_pair(xt, r0, r1, g0, g1, nr, zero):
    """g0[:d] = X^T r0 and g1[:d] = X^T r1 over the first nr rows of the transposed tile xt
    (d, >= nr) (and g[d] = sum r when g has the intercept's coordinate); sums in xt's
    dtype (zero: 0 in it).  Register-blocked: 16 running sums (8 features x 2 targets) per
    pass over the rows, 16 FMAs per row for 10 loads; SIMD over the rows."""
    d = xt.shape[0]
    ra, rb = r0[:nr], r1[:nr]
    j = 0
    while j + 8 <= d:
        x0, x1, x2, x3 = xt[j, :nr], xt[j + 1, :nr], xt[j + 2, :nr], xt[j + 3, :nr]
        x4, x5, x6, x7 = xt[j + 4, :nr], xt[j + 5, :nr], xt[j + 6, :nr], xt[j + 7, :nr]
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
        u0 = u1 = u2 = u3 = u4 = u5 = u6 = u7 = zero
        for i in range(nr):
            pa, pb = ra[i], rb[i]
            v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
            v4, v5, v6, v7 = x4[i], x5[i], x6[i], x7[i]
            s0 += v0 * pa
            u0 += v0 * pb
            s1 += v1 * pa
            u1 += v1 * pb
            s2 += v2 * pa
            u2 += v2 * pb
            s3 += v3 * pa
            u3 += v3 * pb
            s4 += v4 * pa
            u4 += v4 * pb
            s5 += v5 * pa
            u5 += v5 * pb
            s6 += v6 * pa
            u6 += v6 * pb
            s7 += v7 * pa
            u7 += v7 * pb
        g0[j], g0[j + 1], g0[j + 2], g0[j + 3] = s0, s1, s2, s3
        g0[j + 4], g0[j + 5], g0[j + 6], g0[j + 7] = s4, s5, s6, s7
        g1[j], g1[j + 1], g1[j + 2], g1[j + 3] = u0, u1, u2, u3
        g1[j + 4], g1[j + 5], g1[j + 6], g1[j + 7] = u4, u5, u6, u7
        j += 8
    while j < d:  # the last d % 8 features
        x0 = xt[j, :nr]
        s0 = u0 = zero
        for i in range(nr):
            v0 = x0[i]
            s0 += v0 * ra[i]
            u0 += v0 * rb[i]
        g0[j], g1[j] = s0, u0
        j += 1
    if has_intercept(g0, d):
        s0 = u0 = zero
        for i in range(nr):
            s0 += ra[i]
            u0 += rb[i]
        g0[d], g1[d] = s0, u0


@cpu_kernel(refcount=False, inline=True)
def tile_terms(code, z, Y, S, q, t0, t1, one, lparam):
    """z[:t1 - t0] <- problem q's phi' at rows t0..t1 (sample weights S (1 or B, n) applied,
    or (1, 0): none); returns their sum of phi (float64)."""
    nr = t1 - t0
    if weighted(S[0]):
        sq = S[0, t0:t1] if S.shape[0] == 1 else S[q, t0:t1]
        return apply_rows_weighted(code, z[:nr], Y[q, t0:t1], sq, one, lparam)
    return apply_rows(code, z[:nr], Y[q, t0:t1], one, lparam)


@cpu_kernel(parallel=True)
def lockstep_pass(code, X, Y, S, Wn, act, nact, tiles, zs, gts, part_g, part_f, hp):
    """One pass over X (n, d) for the problems act[:nact] at their points Wn[q] (m,).

    Row blocks in parallel (part_g (B, nblocks, m) in X's dtype, part_f (B, nblocks)
    float64: block blk's X^T phi' and sum phi of problem q, sample weights S (1 or B, n)
    or (1, 0) applied); per block a transposed tile tiles[blk] (d, rows) of X's rows,
    read from cache by every active problem, two at a time (logits_pair, gradient_pair;
    an odd last one alone); zs[blk] (2, rows), gts[blk] (2, m) scratch.
    """
    n, d = X.shape
    nblocks = part_g.shape[1]
    rows = tiles.shape[2]
    m = Wn.shape[1]
    one = hp[HP_ONE]
    zero = one - one
    lparam = hp[HP_LPARAM]
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        xt = tiles[blk]
        z0, z1 = zs[blk, 0], zs[blk, 1]
        g0, g1 = gts[blk, 0], gts[blk, 1]
        for a in range(nact):
            q = act[a]
            for j in range(m):
                part_g[q, blk, j] = zero
            part_f[q, blk] = 0.0
        for t0 in range(lo, hi, rows):
            t1 = min(t0 + rows, hi)
            nr = t1 - t0
            for i in range(nr):
                for j in range(d):
                    xt[j, i] = X[t0 + i, j]
            # logits_pair runs over whole SIMD vectors (nv rows, a multiple of 16 that the
            # compiler sees: no scalar remainder loop, whose copies of the 16 weights would
            # push the vector loop's out of registers); the padding rows of xt are zeros
            nv = (nr + 15) & -16
            for j in range(d):
                pad = xt[j, nr:nv]
                for i in range(pad.shape[0]):
                    pad[i] = zero
            for a in range(0, nact - 1, 2):
                q, p = act[a], act[a + 1]
                logits_pair(xt, Wn[q], Wn[p], z0, z1, nv, zero)
                part_f[q, blk] += tile_terms(code, z0, Y, S, q, t0, t1, one, lparam)
                part_f[p, blk] += tile_terms(code, z1, Y, S, p, t0, t1, one, lparam)
                gradient_pair(xt, z0, z1, g0, g1, nr, zero)
                for j in range(m):
                    part_g[q, blk, j] += g0[j]
                    part_g[p, blk, j] += g1[j]
            if nact % 2 == 1:
                q = act[nact - 1]
                xt_matvec(xt, Wn[q], z0, nr, zero)
                part_f[q, blk] += tile_terms(code, z0, Y, S, q, t0, t1, one, lparam)
                xt_rmatvec(xt, z0, g0, nr, zero)
                for j in range(m):
                    part_g[q, blk, j] += g0[j]


@cpu_kernel(refcount=False)
def advance(q, f_new, gsq_new, F, I, W, Wn, G, Gn, Pd, S1, S2, ip, hp, tol, state, hist):
    """Problem q's decisions after its point Wn[q] was evaluated (f_new, |g_new|^2 = gsq_new,
    its gradient in Gn[q]): solve_problem's skeleton from that evaluation to the next one.
    Returns True when Wn[q] holds a new point to evaluate in the next round, False when q
    stopped (or paused at ip[IP_STOP_AT]); then its state (STATE_SIZE,) is written.
    W[q] always holds the current (last accepted, finite) iterate and G[q] its gradient."""
    method = ip[IP_METHOD]
    armijo = ip[IP_ARMIJO] != 0
    searching = line_search_on(armijo, method)
    restart = ip[IP_RESTART] != 0
    hist_every = ip[IP_HIST_EVERY]
    max_iter = ip[IP_MAX_ITER]
    xtol = tol[TOL_X]
    ftol = tol[TOL_F]
    w, w_new, g, g_new, p, s1, s2 = W[q], Wn[q], G[q], Gn[q], Pd[q], S1[q], S2[q]
    m = w.shape[0]
    fs = F[q]
    iq = I[q]
    st = state[q]
    t = iq[I_T]
    f, gsq, gtol, f0 = fs[F_F], fs[F_GSQ], fs[F_GTOL], fs[F_F0]
    lr, lr0, fref, qref, limit = fs[F_LR], fs[F_LR0], fs[F_FREF], fs[F_QREF], fs[F_LIMIT]
    scale, alpha, slope, rounding = fs[F_SCALE], fs[F_ALPHA], fs[F_SLOPE], fs[F_ROUNDING]
    f_ref, step_sq, ww = fs[F_FACC], fs[F_STEP_SQ], fs[F_WW]
    streak, patience, halvings = iq[I_STREAK], iq[I_PATIENCE], iq[I_HALVINGS]
    grown = iq[I_GROWN] != 0
    status = RUNNING
    if iq[I_STARTED] == 0:  # the saved iterate's loss and gradient
        iq[I_STARTED] = 1
        for j in range(m):
            g[j] = g_new[j]
        f = f_new
        gsq = gsq_new
        if t == 0:
            st[ST_F0] = f
            st[ST_LR0] = lr
            st[ST_FREF] = f
            st[ST_QREF] = 1.0
            st[ST_PATIENCE] = ARMIJO_GROW_AFTER
            st[ST_GTOL] = problem_gtol(tol[TOL_G], tol[TOL_R], gsq)
            record_history(hist, q, 0, hist_every, f, False)
        gtol = st[ST_GTOL]
        f0 = st[ST_F0]
        lr0 = st[ST_LR0]
        fref = st[ST_FREF]
        qref = st[ST_QREF]
        streak = int(st[ST_STREAK])
        patience = int(st[ST_PATIENCE])
        grown = st[ST_GROWN] != 0.0
        limit = diverge_limit(f0)
        status = start_status(f, gsq)
    else:
        outcome = trial_outcome(searching, halvings, f_new, f_ref, alpha, slope, rounding,
                                limit, ww, gsq_new)
        if outcome == BACKTRACK:
            halvings += 1
            alpha *= 0.5
            if plain_gradient(method):
                step_sq, ww = trial_point(w, g, alpha, w_new)
            else:
                step_sq, ww = trial_point(w, p, alpha, w_new)
            fs[F_ALPHA], fs[F_STEP_SQ], fs[F_WW] = alpha, step_sq, ww
            iq[I_HALVINGS] = halvings
            return True
        if outcome != ACCEPT:
            status = outcome  # DIVERGED or LINE_SEARCH_FAILED: w stays the last finite iterate
        else:
            sy = bb_curvature(method, w, w_new, g, g_new)
            lr = next_lr(armijo, method, alpha, scale, lr, lr0, step_sq, sy)
            streak, patience, grown = next_growth(streak, patience, grown, halvings)
            if restarts(restart, f_new, f):
                for j in range(m):
                    s1[j] = 0.0
            fref, qref = nonmonotone_reference(fref, qref, f_new)
            for j in range(m):
                w[j] = w_new[j]
                g[j] = g_new[j]
            status = after_accept(step_sq, xtol, f_new, f, ftol)
            f = f_new
            gsq = gsq_new
            t += 1
            record_history(hist, q, t, hist_every, f, False)
    if status == RUNNING:
        # re-read every round: Ctrl-C moves it to -1 while the call runs (runtime.py)
        status = before_update(gsq, gtol, t, max_iter, load_relaxed(ip, IP_STOP_AT), f, f0)
    if status == RUNNING:
        if plain_gradient(method):
            scale = 1.0
            slope = descent_slope(searching, g, g)
        else:
            scale = method_direction(method, t, g, s1, s2, p, hp, 0, 1)
            slope = descent_slope(searching, g, p)
        alpha = trial_lr(armijo, method, lr, lr0, streak, patience) * scale
        rounding = loss_rounding(float(hp[HP_LOSS_ROUNDING]), f, 0.0)  # DIRECT: c = 0
        f_ref = acceptance_reference(method, f, fref)
        halvings = 0
        if plain_gradient(method):
            step_sq, ww = trial_point(w, g, alpha, w_new)
        else:
            step_sq, ww = trial_point(w, p, alpha, w_new)
        fs[F_F], fs[F_GSQ], fs[F_GTOL], fs[F_F0] = f, gsq, gtol, f0
        fs[F_LR], fs[F_LR0], fs[F_FREF], fs[F_QREF], fs[F_LIMIT] = lr, lr0, fref, qref, limit
        fs[F_SCALE], fs[F_ALPHA], fs[F_SLOPE], fs[F_ROUNDING] = scale, alpha, slope, rounding
        fs[F_FACC], fs[F_STEP_SQ], fs[F_WW] = f_ref, step_sq, ww
        iq[I_T], iq[I_STREAK], iq[I_PATIENCE], iq[I_HALVINGS] = t, streak, patience, halvings
        iq[I_GROWN] = 1 if grown else 0
        return True
    if status == PAUSE:
        status = RUNNING
    else:
        record_history(hist, q, t, hist_every, f, True)
    st[ST_LR] = lr
    st[ST_FREF] = fref
    st[ST_QREF] = qref
    st[ST_STREAK] = streak
    st[ST_PATIENCE] = patience
    st[ST_GROWN] = 1.0 if grown else 0.0
    st[ST_NIT] = t
    st[ST_STATUS] = status
    st[ST_FUN] = f
    st[ST_GNORM] = math.sqrt(gsq)
    return False


@cpu_kernel
def solve_lockstep(X, y, S, L2, W, S1, S2, ip, hp, tol, state, hist, nblocks, P):
    """Solve B row-loss problems over one X (1, n, d) with y (B, n) from W (B, m), in
    place, in DIRECT mode: one parallel pass over X (nblocks row blocks) per round for
    every running problem.  Arguments as shared.solve_shared's (S (1 or B, n) or (1, 0);
    L2 (1 or B,) in X's dtype; P (1, PRE_ROWS, 0): no precondition on this path).
    Advances every running problem up to ip[IP_STOP_AT] (resumable state)."""
    B = y.shape[0]
    X0 = X[0]
    n, d = X0.shape
    m = W.shape[1]
    dim = m  # of the design: d, or d + 1 with the intercept
    code = ip[IP_LOSS]
    pre = P[0]
    if load_relaxed(ip, IP_STOP_AT) < 0:
        return  # interrupted before the set-up
    act = np.empty(B, np.int64)
    nact = 0
    for q in range(B):
        if int(state[q, ST_STATUS]) == RUNNING:
            act[nact] = q
            nact += 1
    if nact == 0:
        return
    rows = tile_rows(d, X.itemsize)
    tiles = np.empty((nblocks, d, rows), X.dtype)
    zs = np.empty((nblocks, 2, rows), X.dtype)
    gts = np.empty((nblocks, 2, m), X.dtype)
    part_g = np.empty((B, nblocks, m), X.dtype)
    part_f = np.empty((B, nblocks), np.float64)
    Wn = np.empty((B, m), X.dtype)
    G = np.empty((B, m), X.dtype)
    Gn = np.empty((B, m), X.dtype)
    Pd = np.empty((B, m), X.dtype)
    F = np.zeros((B, F_SIZE), np.float64)
    I = np.zeros((B, I_SIZE), np.int64)
    # lr="auto": lambda_max of [X, 1]^T S [X, 1] / n, once when the weights are shared
    v = np.empty(dim, X.dtype)
    tv = np.empty(dim, X.dtype)
    pw = np.empty((nblocks + 1, dim), np.float64)
    Xt = np.empty((1, 1), X.dtype)
    A = np.empty((1, 1), np.float64)
    shared_s = S.shape[0] == 1
    one_l2 = L2.shape[0] == 1
    lam = 0.0
    have = False
    for a in range(nact):
        q = act[a]
        lr = state[q, ST_LR]
        if lr_is_auto(lr):
            if not have or not shared_s:
                sq = S[0] if shared_s else S[q]
                lam, stopped = lambda_max(DIRECT, X0, sq, Xt, A, v, zs[0, 0], pw, hp, ip, pre,
                                          tv)
                if stopped:
                    return  # Ctrl-C: every state stays as it was (lr still LR_AUTO)
                have = True
            l2q = L2[0] if one_l2 else L2[q]
            lr = auto_lr(np.float64(hp[HP_CURV]), lam, auto_l2(pre, False, np.float64(l2q)))
        F[q, F_LR] = lr
        I[q, I_T] = int(state[q, ST_NIT])
        for j in range(m):
            Wn[q, j] = W[q, j]
    while nact > 0:
        lockstep_pass(code, X0, y, S, Wn, act, nact, tiles, zs, gts, part_g, part_f, hp)
        keep = 0
        for a in range(nact):
            q = act[a]
            l2q = L2[0] if one_l2 else L2[q]
            f_new, gsq_new = reduce_blocks(part_g[q], part_f[q], Wn[q], Gn[q], d,
                                           hp[HP_NINV], l2q)
            if advance(q, f_new, gsq_new, F, I, W, Wn, G, Gn, Pd, S1, S2, ip, hp, tol, state,
                       hist):
                act[keep] = q
                keep += 1
        nact = keep
