"""CPU driver of stochastic mini-batch gradient descent (``minimize(..., batch_size=m)``).

One iteration (``nit``) is one epoch: ceil(n / m) updates, each with the gradient of the
rows ``order[k m : (k + 1) m]`` of the epoch's visiting order (a permutation drawn on the
host, fastgd/cpu/backend_minibatch.py; X is never copied or permuted, rows are read
through the indices, sorted inside each mini-batch), or the rows in their stored order
(``shuffle=False``: ``order`` is empty).  The mini-batch gradient is
``sum_{i in b} s_i phi'_i x_i / |b| + l2 w`` (s: the sample weights scaled to sum n, so
a mini-batch of all the rows is the full gradient).  Update u (0-based, counted over the
whole solve: Adam's bias correction and momentum's first step count updates, not
epochs) takes the step ``lr * factors[e, k]`` (the host's lr_schedule) times the method's
scale, by ``rules.method_direction``.

Once per epoch, the full-data loss and gradient at the iterate drive every decision of
fastgd/decisions.py as the full-batch skeleton does (before_update: gtol, max_iter, the
chunk's end; trial_outcome: divergence, with the epoch's start as the last finite
iterate; after_accept: xtol over the epoch's step, ftol; record_history), so res.fun and
res.grad_norm are full-data values at res.x.  An epoch is the trial point: method="bb"
holds it to bb's non-monotone test (``acceptance_reference``; failed: the epoch is rerun
from its start, same rows, at half the step) and takes its next step size from the
epoch's change of the iterate and of the full-data gradient (``epoch_lr``: SGD-BB);
restart=True zeroes the momentum after an epoch whose full-data loss went up
(``restarts``).

precondition="diag" (``pre`` (PRE_ROWS, d) of fastgd/precondition.py active): the iterate
is v, every gradient (mini-batch or full-data) is taken at w = T v and mapped to T^T g by
``gradient_v`` -- fastgd/cpu/precondition.py's maps, as fastgd/cpu/solve.evaluate_v does
for the full-batch drivers -- so the updates run in the rescaled variables, with the l2
penalty and the reported |g| those of the original variables.

``solve_minibatch`` is parallel over chunks of problems, each problem serial (its result
does not depend on the thread count); one problem runs ``solve_epochs`` directly.  The
hooks, bound by fastgd/cpu/backend_minibatch.py (``fastgd._jit.rebind``): ``rows_of``
(the row pass: ``dense_rows`` over fastgd/cpu/evaluate.py's rows, ``csr_rows_of`` over
fastgd/cpu/csr.py's or ``softmax_rows_of`` over fastgd/cpu/softmax.py's, one visited row
at a time) and prepare.lambda_max's ``xtx_apply``/``columns`` (lr="auto", the full-data
1/L: ``xtx_serial`` or csr.xtx_csr).
"""
import numpy as np
from numba import prange

from .._jit import borrowed, cpu_kernel, load_relaxed
from ..contract import (
    ACCEPT, BACKTRACK, DIRECT, HP_CURV, HP_LOSS_ROUNDING, HP_LPARAM, HP_ONE, HP_VISIT_AHEAD,
    IP_HIST_EVERY, IP_INTERCEPT, IP_LOSS, IP_MAX_ITER, IP_METHOD, IP_OUTPUTS, IP_RESTART,
    IP_STOP_AT, LSQ,
    PAUSE, RUNNING, ST_F0, ST_FREF, ST_FUN, ST_GNORM, ST_GTOL, ST_LR, ST_LR0, ST_NIT, ST_QREF,
    ST_STATUS, TOL_F, TOL_G, TOL_R, TOL_X,
)
from .csr import csr_rows
from .evaluate import prefetch_rows, rows_general
from .math import decisions, rules
from .precondition import active, auto_l2, gradient_to_rescaled, to_original
from .prepare import lambda_max
from .softmax import rows_general as softmax_rows
from .solve import bb_curvature

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
plain_gradient = rules.plain_gradient

@cpu_kernel(refcount=False, inline=True)
def dense_rows(code, X, y, s, w, acc, order, lo, hi, hp, tmp):
    """The hook ``rows_of`` for a dense X (n, d): acc[:d] += sum s_i phi'_i x_i (acc[d] +=
    sum s_i phi'_i with the intercept w[d]) over the rows i = order[lo..hi-1] (i = lo..hi-1
    when `order` is empty); returns sum s_i phi_i (float64).  s (0,): no weights.  The
    row pass of fastgd/cpu/evaluate.py, one visited row at a time; tmp unused."""
    inter = w.shape[0] > X.shape[1]
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    if order.shape[0] == 0:
        return rows_general(code, False, inter, X, y, s, w, acc, lo, hi, one, lparam)
    fb = 0.0
    ahead = int(hp[HP_VISIT_AHEAD])  # rows; 0: none (fastgd/cpu/calibrate.py)
    last = order.shape[0] - ahead if ahead > 0 else 0
    for k in range(lo, hi):
        if k < last:  # the visited rows are scattered: no hardware prefetcher sees them
            prefetch_rows(X, order[k + ahead], 1)
        i = order[k]
        fb += rows_general(code, False, inter, X, y, s, w, acc, i, i + 1, one, lparam)
    return fb


@cpu_kernel(refcount=False, inline=True)
def csr_rows_of(code, X, y, s, w, acc, order, lo, hi, hp, tmp):
    """The hook ``rows_of`` for a CSR X tuple (fastgd/cpu/csr.py): dense_rows' sums by the
    sparse row pass csr.csr_rows."""
    data, indices, indptr, bounds, d = X
    one = hp[HP_ONE]
    lparam = hp[HP_LPARAM]
    if order.shape[0] == 0:
        return csr_rows(code, False, data, indices, indptr, d, y, s, w, acc, lo, hi, one,
                        lparam)
    fb = 0.0
    for k in range(lo, hi):
        i = order[k]
        fb += csr_rows(code, False, data, indices, indptr, d, y, s, w, acc, i, i + 1, one,
                       lparam)
    return fb


@cpu_kernel(refcount=False, inline=True)
def softmax_rows_of(code, X, y, s, w, acc, order, lo, hi, hp, tmp):
    """The hook ``rows_of`` for Softmax over a dense X (k classes, w = (W.ravel(), the k
    intercepts)): its row pass softmax.rows_general, which overwrites its sums, one visited
    row at a time into tmp (>= m + k: the row's sums, then its k logits), added to acc."""
    m = w.shape[0]
    k = int(hp[HP_LPARAM])  # Softmax's loss parameter: its number of classes
    part = tmp[:m]
    zrow = tmp[m:m + k]
    if order.shape[0] == 0:
        fb = softmax_rows(X, y, s, w, lo, hi, zrow, part, hp)
        for q in range(m):
            acc[q] += part[q]
        return fb
    fb = 0.0
    for r in range(lo, hi):
        i = order[r]
        fb += softmax_rows(X, y, s, w, i, i + 1, zrow, part, hp)
        for q in range(m):
            acc[q] += part[q]
    return fb


# the hooks, bound by fastgd/cpu/backend_minibatch.py: the row pass (dense_rows,
# csr_rows_of or softmax_rows_of), prepare.lambda_max's xtx_apply (xtx_serial or
# csr.xtx_csr) and columns
rows_of = None
xtx_apply = None


@cpu_kernel(refcount=False)
def rows_gradient(code, X, y, s, l2, order, lo, hi, w, g, hp, pen, tmp):
    """Loss and gradient of the rows lo..hi-1 (of `order`; of X itself when `order` is
    empty): f = sum s_i phi_i / count + l2/2 |w[:pen]|^2 (float64), g = sum s_i phi'_i x_i /
    count + l2 w on the first `pen` coordinates (the intercepts, after them, unpenalised);
    tmp: the row pass's scratch.  Returns (f, |g|^2)."""
    m = w.shape[0]
    one = hp[HP_ONE]
    for j in range(m):
        g[j] = one - one
    fb = rows_of(code, X, y, s, w, g, order, lo, hi, hp, tmp)
    inv = 1.0 / (hi - lo)
    ww = 0.0
    gg = 0.0
    for j in range(m):
        gj = g[j] * inv
        if j < pen:
            gj += l2 * w[j]
            ww += np.float64(w[j]) * np.float64(w[j])
        g[j] = gj
        gg += np.float64(g[j]) * np.float64(g[j])
    return fb * inv + 0.5 * float(l2) * ww, gg


@cpu_kernel(refcount=False, inline=True)
def gradient_v(pre, wv, k, inter, code, X, y, s, l2, order, lo, hi, w, g, hp, pen, tmp):
    """rows_gradient at the drivers' iterate w.  precondition="diag" (pre active): w is v,
    evaluated at T v (built in the scratch wv (m,)), and g becomes the gradient in v, T^T g;
    the returned (f, |g|^2) are those of the original variables (as solve.evaluate_v)."""
    on = active(pre)
    at = w
    if on:
        to_original(pre, w, wv, k, inter)
        at = wv
    f, gsq = rows_gradient(code, X, y, s, l2, order, lo, hi, at, g, hp, pen, tmp)
    if on:
        gradient_to_rescaled(pre, g, k, inter)
    return f, gsq


@cpu_kernel(refcount=False, inline=True)
def xtx_serial(mode, X, s, Xt, A, v, u, gv, part_g, hp, dim):
    """The hook ``xtx_apply`` of prepare.lambda_max for this driver: gv (float64) =
    [X, 1]^T S [X, 1] v / n (dim = d + 1 with the intercept) by one serial pass over the
    rows of X (no transposed copy)."""
    n, d = X.shape
    for j in range(dim):
        gv[j] = 0.0
    one = hp[HP_ONE]
    # the linear pass reads no y: v stands in for it (as prepare.xtx_rows)
    rows_general(LSQ, True, dim > d, X, v, s, v, gv, 0, n, one, one)
    for j in range(dim):
        gv[j] /= n


@cpu_kernel(refcount=False)
def solve_epochs(X, y, s, l2, order, factors, base, upto, bsize, w, ip, hp, tol, state, col,
                 w_prev, g, s1, s2, p, pw, hist, pre, tmp, wv, g_prev):
    """Run one problem from its saved state up to epoch min(upto, ip[IP_STOP_AT]).

    order (E, n) int64: the visiting order of epochs base .. base + E - 1, or (0, 0): the
    rows in their stored order; factors (E, ceil(n / bsize)) float64: the lr_schedule's
    factor of every update of those epochs.  w (m,) is updated in place and ends holding
    the last finite epoch's iterate; w_prev, g, p, g_prev (m,) scratch; s1, s2 (m,) the method's
    state; pw (1 + row blocks (CSR) or 2, >= max(m, d + 1)) float64 lambda_max's scratch;
    pre: precondition="diag"'s (PRE_ROWS, d) (then w, s1, s2 live in the rescaled variables
    v: see gradient_v) or (PRE_ROWS, 0); tmp (>= m + k) the row pass's scratch; wv (m,)
    gradient_v's scratch.
    """
    if int(state[ST_STATUS]) != RUNNING:
        return
    method = ip[IP_METHOD]
    code = ip[IP_LOSS]
    max_iter = ip[IP_MAX_ITER]
    hist_every = ip[IP_HIST_EVERY]
    xtol = tol[TOL_X]
    ftol = tol[TOL_F]
    n = y.shape[0]
    m = w.shape[0]
    nb = (n + bsize - 1) // bsize
    k_out = ip[IP_OUTPUTS]
    inter = ip[IP_INTERCEPT] != 0
    pen = m - k_out if inter else m  # the penalised coordinates
    none = order[0, :0] if order.shape[0] > 0 else order[:, 0]  # (0,): the rows in order
    t = int(state[ST_NIT])
    lr = state[ST_LR]
    if lr_is_auto(lr):
        lam, stopped = lambda_max(DIRECT, X, s, pw, pw, s1, p, pw, hp, ip, pre, s2)
        for j in range(m):
            s1[j] = 0.0  # s1, s2 were the power iteration's scratch
            s2[j] = 0.0
        if stopped:
            return
        lr = auto_lr(np.float64(hp[HP_CURV]), lam, auto_l2(pre, False, np.float64(l2)))
    f, gsq = gradient_v(pre, wv, k_out, inter, code, X, y, s, l2, none, 0, n, w, g, hp, pen,
                        tmp)
    if t == 0:
        state[ST_F0] = f
        state[ST_LR0] = lr
        state[ST_FREF] = f
        state[ST_QREF] = 1.0
        state[ST_GTOL] = problem_gtol(tol[TOL_G], tol[TOL_R], gsq)
        record_history(hist, col, 0, hist_every, f, False)
    gtol = state[ST_GTOL]
    f0 = state[ST_F0]
    lr0 = state[ST_LR0]
    fref = state[ST_FREF]
    qref = state[ST_QREF]
    limit = diverge_limit(f0)
    # bb: an epoch is a trial point, held to the non-monotone test (halve and rerun it)
    searching = line_search_on(False, method)
    restart = ip[IP_RESTART] != 0
    status = start_status(f, gsq)
    while status == RUNNING:
        stop_at = min(load_relaxed(ip, IP_STOP_AT), upto)
        status = before_update(gsq, gtol, t, max_iter, stop_at, f, f0)
        if status != RUNNING:
            break
        e = t - base
        visit = order[e] if order.shape[0] > 0 else none
        for j in range(m):
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
                gradient_v(pre, wv, k_out, inter, code, X, y, s, l2, visit, lo, hi, w, g, hp,
                           pen, tmp)
                if plain_gradient(method):
                    scale = 1.0
                    direction = g
                else:
                    scale = method_direction(method, t * nb + k, g, s1, s2, p, hp, 0, 1)
                    direction = p
                alpha = lr_e * factors[e, k] * scale
                for j in range(m):
                    w[j] = w[j] - alpha * direction[j]
            f_new, gsq_new = gradient_v(pre, wv, k_out, inter, code, X, y, s, l2, none, 0, n,
                                        w, g, hp, pen, tmp)
            step_sq = 0.0
            ww = 0.0
            for j in range(m):
                dj = float(w[j]) - float(w_prev[j])
                step_sq += dj * dj
                ww += float(w[j]) * float(w[j])
            outcome = trial_outcome(searching, halvings, f_new, f_ref, lr_e, 0.0, rounding,
                                    limit, ww, gsq_new)
            if outcome != ACCEPT:
                for j in range(m):
                    w[j] = w_prev[j]  # the last finite iterate: this epoch's start
                    g[j] = g_prev[j]
            if outcome != BACKTRACK:
                break
            halvings += 1
            lr_e *= 0.5
        if outcome != ACCEPT:
            status = outcome
            break
        lr = epoch_lr(method, lr_e, lr0, step_sq, bb_curvature(method, w_prev, w, g_prev, g),
                      nb)
        if restarts(restart, f_new, f):
            for j in range(m):
                s1[j] = 0.0
        fref, qref = nonmonotone_reference(fref, qref, f_new)
        status = after_accept(step_sq, xtol, f_new, f, ftol)
        f = f_new
        gsq = gsq_new
        t += 1
        record_history(hist, col, t, hist_every, f, False)
    if status == PAUSE:
        status = RUNNING
    else:
        record_history(hist, col, t, hist_every, f, True)
    state[ST_LR] = lr
    state[ST_FREF] = fref
    state[ST_QREF] = qref
    state[ST_NIT] = t
    state[ST_STATUS] = status
    state[ST_FUN] = f
    state[ST_GNORM] = np.sqrt(gsq)


@cpu_kernel(parallel=True)
def solve_minibatch(X, y, S, L2, W, S1, S2, ip, hp, tol, state, hist, order, factors, base,
                    upto, bsize, nchunks, P):
    """B problems X (1 or B, n, d) (one X shared by all, or one each), y (B, n), from W
    (B, m), in place, up to epoch min(upto, ip[IP_STOP_AT]).  S (1 or B, n) sample weights
    or (1, 0); L2 (1 or B,) each problem's l2; order, factors: see solve_epochs (every
    problem visits the rows in the same order); P: precondition="diag"'s (1 or B, PRE_ROWS,
    d) float64, or (1, PRE_ROWS, 0) for none.  Parallel over `nchunks` chunks of
    problems, each problem serial."""
    B = y.shape[0]
    m = W.shape[1]
    inter = ip[IP_INTERCEPT] != 0
    dim = X.shape[2] + 1 if inter else X.shape[2]
    vec_all = np.empty((nchunks, 5, m), X.dtype)
    tmp_all = np.empty((nchunks, 2 * m), X.dtype)
    pw_all = np.empty((nchunks, 2, max(dim, m)), np.float64)
    Xb, yb, Wb, S1b, S2b = borrowed(X), borrowed(y), borrowed(W), borrowed(S1), borrowed(S2)
    Sb, L2b, Pb = borrowed(S), borrowed(L2), borrowed(P)
    ordb, facb = borrowed(order), borrowed(factors)
    ipb, hpb, tolb = borrowed(ip), borrowed(hp), borrowed(tol)
    stb, hb = borrowed(state), borrowed(hist)
    one_x = Xb.shape[0] == 1
    one_s = Sb.shape[0] == 1
    one_l2 = L2b.shape[0] == 1
    one_p = Pb.shape[0] == 1
    for ch in prange(nchunks):
        vec = borrowed(vec_all[ch])
        tmp = borrowed(tmp_all[ch])
        pw = borrowed(pw_all[ch])
        for q in range(ch * B // nchunks, (ch + 1) * B // nchunks):
            if int(stb[q, ST_STATUS]) != RUNNING or load_relaxed(ipb, IP_STOP_AT) < 0:
                continue
            solve_epochs(Xb[0] if one_x else Xb[q], yb[q], Sb[0] if one_s else Sb[q],
                         L2b[0] if one_l2 else L2b[q], ordb, facb, base, upto, bsize, Wb[q],
                         ipb, hpb, tolb, stb[q], q, vec[0], vec[1], S1b[q], S2b[q], vec[2], pw,
                         hb, Pb[0] if one_p else Pb[q], tmp, vec[3], vec[4])
