"""The decisions of one gradient-descent iteration, written once for every driver.

Plain Python functions of scalars (and, for the history rule, one array), compiled for
the CPU (fastgd/cpu/math.py) and as CUDA device functions (fastgd/gpu/math.py), and
called as they are by the Dask row loop.  Every driver runs the same skeleton:

    status = start_status(f, gsq)                  at the saved iterate
    while status == RUNNING:
        status = before_update(gsq, gtol, t, max_iter, stop_at)   (PAUSE: end of chunk)
        direction p (rules.method_direction); trial w - alpha p, its f_new, gsq_new
        outcome = trial_outcome(...)    ACCEPT | BACKTRACK (alpha /= 2, retry) | a stop
        on ACCEPT: t += 1, record_history(...), status = after_accept(...)

Norms are compared squared (no square root in the iteration's dependency chain);
sums of squares are float64.  Codes are those of fastgd.contract.
"""
import math

from .contract import (
    ACCEPT, ARMIJO_C1, ARMIJO_MAX_HALVINGS, BACKTRACK, DIVERGE_FACTOR, DIVERGED, FTOL, GTOL,
    LINE_SEARCH_FAILED, MAX_ITER, PAUSE, RUNNING, XTOL,
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


def before_update(gsq, gtol, t, max_iter, stop_at):
    """Before update t + 1: GTOL (|g|^2 <= gtol^2, gtol > 0), MAX_ITER (t >= max_iter),
    PAUSE (this call's chunk ends at stop_at), else RUNNING."""
    if gtol > 0.0 and gsq <= gtol * gtol:
        return GTOL
    if t >= max_iter:
        return MAX_ITER
    if t >= stop_at:
        return PAUSE
    return RUNNING


def trial_outcome(armijo, halvings, f_new, f, alpha, slope, rounding, limit, ww, gsq_new):
    """The fate of the trial point w - alpha p (loss f_new, |w_new|^2 = ww, |g_new|^2 = gsq_new).

    With Armijo on, a point without sufficient decrease is BACKTRACK (halve alpha), or
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
