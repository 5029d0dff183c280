"""The decisions of one gradient-descent iteration, written once for every driver.

Plain Python functions of scalars (and, for the history rule, one array), compiled for
the CPU (fastgd/cpu/math.py) and as CUDA device functions (fastgd/gpu/math.py), and
called as they are by the Dask row loop.  Every driver runs the same skeleton:

    status = start_status(f, gsq)                  at the saved iterate
    while status == RUNNING:
        status = before_update(gsq, gtol, t, max_iter, stop_at, f, f0)  (PAUSE: end of chunk)
        direction p (rules.method_direction); alpha = trial_lr(...) * scale
        trial w - alpha p, its f_new, gsq_new
        outcome = trial_outcome(line_search_on(...), ..., acceptance_reference(...), ...)
                  ACCEPT | BACKTRACK (alpha /= 2, retry) | a stop
        on ACCEPT: lr = next_lr(...); next_growth(...); restarts(...) zeroes the momentum buffer;
                   nonmonotone_reference(...); t += 1, record_history(...),
                   status = after_accept(...)

Norms are compared squared (no square root in the iteration's dependency chain);
sums of squares are float64.  Codes are those of fastgd.contract.
"""
import math

from .contract import (
    ACCEPT, ARMIJO_C1, ARMIJO_GROW, ARMIJO_MAX_HALVINGS, ARMIJO_MAX_PATIENCE, BACKTRACK, BB,
    BB_STEP_RANGE,
    DIVERGE_FACTOR, DIVERGED, END_DIVERGE_FACTOR, FTOL, GTOL, LINE_SEARCH_FAILED, MAX_ITER,
    NONMONOTONE_ETA, PAUSE, RUNNING, XTOL,
)


def is_bad(x):
    """True for NaN or +-Inf (written without math.isfinite, which fastmath may fold)."""
    return math.isnan(x) or math.isinf(x)


def lr_is_auto(lr):
    """True while a problem's step size is still to be chosen by lr="auto" (contract.LR_AUTO)."""
    return lr <= 0.0


def auto_lr(curvature, lam, l2):
    """lr='auto': 1 / L with L = curvature * lambda_max(X^T X / n) + l2 (1 when L is 0).

    NaN when L is not finite (the power iteration broke down): no step size, so the first
    trial point is not finite and the problem stops DIVERGED at x0 (result.py says why),
    never a step of 1/inf = 0 that XTOL/FTOL would call success."""
    big_l = curvature * lam + l2
    if is_bad(big_l):
        return math.nan
    return 1.0 / big_l if big_l > 0.0 else 1.0


def diverge_limit(f0):
    """A loss above this counts as diverged: f0 + DIVERGE_FACTOR * max(|f0|, tiny)."""
    return f0 + DIVERGE_FACTOR * max(abs(f0), 1e-30)


def end_limit(f0):
    """A loss above this when max_iter is reached counts as diverged (not MAX_ITER):
    f0 + END_DIVERGE_FACTOR * max(|f0|, tiny)."""
    return f0 + END_DIVERGE_FACTOR * max(abs(f0), 1e-30)


def line_search_on(armijo, method):
    """Whether trial points are tested for decrease: line_search='armijo', and always for bb
    (its non-monotone safeguard)."""
    return armijo or method == BB


def acceptance_reference(method, f, fref):
    """The loss a trial point must decrease from: bb's non-monotone reference fref (Zhang &
    Hager's weighted mean of past losses, >= the smallest of them), else the current f."""
    if method == BB:
        return fref
    return f


def nonmonotone_reference(fref, qref, f_new):
    """Zhang & Hager's update after an accepted loss f_new: Q' = eta Q + 1,
    C' = (eta Q C + f_new) / Q'.  Returns (C', Q')."""
    q = NONMONOTONE_ETA * qref + 1.0
    return (NONMONOTONE_ETA * qref * fref + f_new) / q, q


def trial_lr(armijo, method, lr, lr0, streak, patience):
    """The step size of an update's first trial (times the method's scale).  With Armijo
    (not bb), after `patience` updates in a row accepted at their first trial (streak):
    ARMIJO_GROW times the last accepted one, never above the initial lr0, so a step shrunk
    by a steep region grows back where the loss allows it.  Else lr."""
    if armijo and method != BB and streak >= patience:
        return min(ARMIJO_GROW * lr, lr0)
    return lr


def next_growth(streak, patience, grown, halvings):
    """Armijo's growth state (streak, patience, grown) after an accepted update that took
    `halvings` halvings.  A backtrack restarts the streak, and doubles the patience when
    the step grew since the last backtrack (this update's growth included); a growth
    restarts the streak and marks grown; a first-trial success adds one to the streak."""
    grew = streak >= patience
    if halvings > 0:
        if grown or grew:
            patience = min(2 * patience, ARMIJO_MAX_PATIENCE)
        return 0, patience, False
    if grew:
        return 0, patience, True
    return streak + 1, patience, grown


def bb_step(ss, sy, last, lr0):
    """Barzilai-Borwein's step s.s / s.y (s = x_t - x_{t-1}, y = g_t - g_{t-1}), clipped to
    [lr0 / BB_STEP_RANGE, lr0 * BB_STEP_RANGE]; `last` (the last accepted step) when s.y
    is not positive or the quotient is not finite."""
    if not (sy > 0.0) or not (ss > 0.0):
        return last
    a = ss / sy
    if is_bad(a):
        return last
    return min(max(a, lr0 / BB_STEP_RANGE), lr0 * BB_STEP_RANGE)


def next_lr(armijo, method, alpha, scale, lr, lr0, ss, sy):
    """The step size kept after an accepted trial alpha (= lr * scale, halved by any
    backtracking): bb's next BB step, Armijo's accepted step, else lr unchanged."""
    if method == BB:
        return bb_step(ss, sy, alpha, lr0)
    if armijo:
        return alpha / scale
    return lr


def epoch_lr(method, lr, lr0, ss, sy, updates):
    """A mini-batch solve's step size for its next epoch, after an accepted epoch of
    `updates` updates at step lr: bb's epoch Barzilai-Borwein step (SGD-BB, Tan, Ma, Dai &
    Qian 2016) s.s / (updates s.y), s the epoch's change of the iterate and y that of the
    full-data gradient, clipped as bb_step (lr when s.y is not positive); else lr."""
    if method == BB:
        return bb_step(ss, sy * updates, lr, lr0)
    return lr


def restarts(restart, f_new, f):
    """Adaptive restart (O'Donoghue & Candes, function scheme): after an accepted update
    whose loss went up, the momentum buffer is reset to zero."""
    return restart and f_new > f


def loss_rounding(relative, f, c):
    """The resolution of a computed loss f: relative * (|f| + c).  c is the constant of a
    Gram-form loss (|y|^2 / 2n), which rounds relative to c, not to f (cancellation)."""
    return relative * (abs(f) + c)


def armijo_accepts(f_new, f, alpha, slope, rounding):
    """Sufficient decrease f_new <= f - c1 alpha g.p, up to the loss's own rounding (else
    steps would shrink for ever near the minimum, below the resolution of f)."""
    return not is_bad(f_new) and f_new <= f - ARMIJO_C1 * alpha * slope + rounding


def start_status(f, gsq):
    """At the saved iterate: DIVERGED when its loss or gradient is not finite, else RUNNING."""
    if is_bad(f) or is_bad(gsq):
        return DIVERGED
    return RUNNING


def problem_gtol(gtol, rtol, gsq0):
    """The gradient tolerance of one problem, fixed at its start: the larger of the absolute
    gtol and rtol times the gradient norm at x0 (|g(x0)|^2 = gsq0); 0 = off."""
    return max(gtol, rtol * math.sqrt(gsq0)) if gsq0 >= 0.0 else gtol


def before_update(gsq, gtol, t, max_iter, stop_at, f, f0):
    """Before update t + 1: GTOL (|g|^2 <= gtol^2, gtol > 0), MAX_ITER (t >= max_iter;
    DIVERGED instead when the loss f is above end_limit(f0)), PAUSE (this call's chunk
    ends at stop_at), else RUNNING."""
    if gtol > 0.0 and gsq <= gtol * gtol:
        return GTOL
    if t >= max_iter:
        if f > end_limit(f0):
            return DIVERGED
        return MAX_ITER
    if t >= stop_at:
        return PAUSE
    return RUNNING


def trial_outcome(armijo, halvings, f_new, f, alpha, slope, rounding, limit, ww, gsq_new):
    """The fate of the trial point w - alpha p (loss f_new, |w_new|^2 = ww, |g_new|^2 = gsq_new).

    With a line search on (Armijo, or bb's non-monotone test: f is then the reference),
    a point without sufficient decrease is BACKTRACK (halve alpha), or
    LINE_SEARCH_FAILED after ARMIJO_MAX_HALVINGS halvings.  A point whose loss, iterate
    or gradient is not finite, or whose loss passed the divergence limit, is DIVERGED (the
    driver keeps the last finite iterate), as is any trial from a non-finite alpha.
    Otherwise ACCEPT.
    """
    if is_bad(alpha):
        return DIVERGED  # no step size (auto_lr's NaN): halving cannot help
    if armijo and not armijo_accepts(f_new, f, alpha, slope, rounding):
        if halvings >= ARMIJO_MAX_HALVINGS:
            return LINE_SEARCH_FAILED
        return BACKTRACK
    if is_bad(f_new) or f_new > limit or is_bad(ww) or is_bad(gsq_new):
        return DIVERGED
    return ACCEPT


def after_accept(step_sq, xtol, f_new, f, ftol):
    """After an accepted update of squared length step_sq from loss f to f_new: XTOL
    (|step| <= xtol), FTOL (|f_new - f| <= ftol max(1, |f|)), else RUNNING; 0 = off."""
    if xtol > 0.0 and step_sq <= xtol * xtol:
        return XTOL
    if ftol > 0.0 and abs(f_new - f) <= ftol * max(1.0, abs(f)):
        return FTOL
    return RUNNING


def record_history(hist, col, t, every, f, finished):
    """History rule: row j of hist[:, col] holds the loss at iterate j * every; a problem
    that has stopped (finished) repeats its final loss in the rows after t.  every <= 0: off."""
    if every <= 0:
        return
    if t % every == 0:
        hist[t // every, col] = f
    if finished:
        for j in range(t // every + 1, hist.shape[0]):
            hist[j, col] = f
