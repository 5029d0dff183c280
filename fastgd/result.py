"""The one result type of fastgd and its status table (like scipy.optimize)."""
from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from . import contract


class Status(IntEnum):
    """Why a problem stopped.  GTOL, XTOL and FTOL count as success.  RUNNING: not
    stopped yet (only seen by a callback, in the Result of a solve in progress)."""

    RUNNING = contract.RUNNING
    GTOL = contract.GTOL
    XTOL = contract.XTOL
    FTOL = contract.FTOL
    MAX_ITER = contract.MAX_ITER
    DIVERGED = contract.DIVERGED
    LINE_SEARCH_FAILED = contract.LINE_SEARCH_FAILED

    def __str__(self):
        # IntEnum prints as its number on Python >= 3.11; a status should read as its name
        return f"Status.{self.name}"

    def __format__(self, spec):
        return str(self) if not spec else format(int(self), spec)

    @property
    def success(self):
        return int(self) in contract.SUCCESS_CODES




# what a message may suggest about lr='auto' for the problem solved (fastgd.api.auto_lr_advice)
AUTO_AVAILABLE, AUTO_USED, AUTO_NEEDS_ARMIJO, AUTO_UNAVAILABLE = (
    "available", "used", "needs_armijo", "unavailable")


def _remedies(advice, smaller):
    """The parenthesis after a DIVERGED (smaller=True) or tiny-step message: only remedies
    this problem type accepts (Poisson refuses lr='auto' without line_search='armijo', a
    RowLoss without lipschitz refuses it always)."""
    step = "a smaller lr" if smaller else "a larger lr"
    if advice == AUTO_USED:
        step = f"a fixed lr {'smaller' if smaller else 'larger'} than the automatic 1/L"
    extra = {AUTO_AVAILABLE: ", or lr='auto'",
             AUTO_NEEDS_ARMIJO: ", or line_search='armijo' with lr='auto'"}.get(advice, "")
    if smaller and advice in (AUTO_USED, AUTO_UNAVAILABLE):
        extra = ", or line_search='armijo'"
    return step + extra


MINIBATCH_REMEDIES = ("a smaller lr, a decaying lr_schedule (e.g. 'invscaling') or a larger "
                      "batch_size")


def status_message(status, *, grad_norm, nit, gtol, xtol, ftol, max_iter, lr=1.0,
                   advice=AUTO_AVAILABLE, rtol=0.0, problem_gtol=None, minibatch=False):
    """A readable sentence for one problem's stop, e.g. 'gradient norm 3.1e-07 <= gtol 1e-06'.
    `advice` (AUTO_*): which lr='auto' remedies the problem type allows; problem_gtol: the
    problem's own gradient tolerance max(gtol, rtol |g(x0)|) (state slot ST_GTOL);
    minibatch: a batch_size solve (its remedies are its own: no bb, no line search)."""
    if problem_gtol is None or not problem_gtol > 0:
        problem_gtol = gtol
    status = Status(int(status))
    if minibatch and status in (Status.MAX_ITER, Status.DIVERGED):
        if status is Status.MAX_ITER:
            return (f"maximum number of epochs {max_iter} reached (gradient norm "
                    f"{grad_norm:.2g}; try {MINIBATCH_REMEDIES}, or a larger max_iter)")
        return (f"diverged after {nit} epochs: the loss became non-finite or grew far past its "
                f"start (docs/methods.md); x is the last finite epoch's iterate (try "
                f"{MINIBATCH_REMEDIES})")
    if status is Status.DIVERGED and np.isnan(lr):
        return ("diverged before the first update: lr='auto' found no usable step size (the "
                "power iteration for the Lipschitz constant was not finite); x is x0 (pass a "
                "float lr, or rescale X)")
    if status is Status.RUNNING:
        return f"running: {nit} iterations so far (gradient norm {grad_norm:.2g})"
    if status is Status.GTOL:
        if problem_gtol > gtol:
            return (f"gradient norm {grad_norm:.2g} <= rtol {rtol:g} x the gradient norm at x0 "
                    f"= {problem_gtol:.2g}")
        return f"gradient norm {grad_norm:.2g} <= gtol {gtol:g}"
    if status is Status.XTOL:
        return (f"step norm <= xtol {xtol:g} after {nit} iterations (gradient norm "
                f"{grad_norm:.2g}{_not_stationary(grad_norm, problem_gtol, advice)})")
    if status is Status.FTOL:
        return (f"loss change <= ftol {ftol:g} * max(1, |f|) after {nit} iterations (gradient "
                f"norm {grad_norm:.2g}{_not_stationary(grad_norm, problem_gtol, advice)})")
    if status is Status.MAX_ITER:
        return (f"maximum number of iterations {max_iter} reached (gradient norm "
                f"{grad_norm:.2g}; to converge faster try method='bb' or method='nesterov' with "
                f"restart=True, columns of X on one scale (e.g. standardised), rtol= for a "
                f"tolerance relative to the start, or a larger max_iter)")
    if status is Status.DIVERGED and nit >= max_iter:
        return (f"diverged: at the maximum number of iterations {max_iter} the loss exceeds "
                f"its start by more than {contract.END_DIVERGE_FACTOR:g} x |start| (gradient "
                f"norm {grad_norm:.2g}); x is the last iterate (try {_remedies(advice, True)})")
    if status is Status.DIVERGED:
        return (f"diverged after {nit} iterations: the next loss or iterate was non-finite or "
                f"grew past {contract.DIVERGE_FACTOR:g} x the start; x is the last finite iterate "
                f"(try {_remedies(advice, True)})")
    return (f"line search could not decrease the loss after {nit} iterations "
            f"(gradient norm {grad_norm:.2g}; likely at the precision limit)")


def _not_stationary(grad_norm, gtol, advice):
    """The XTOL/FTOL caveat: the iterates stopped moving, which a tiny lr also does."""
    if gtol > 0 and grad_norm > gtol:
        return (f" > gtol {gtol:g}: the step became tiny, not the gradient; x may not be a "
                f"minimum ({_remedies(advice, False)} goes on)")
    return ""


class Messages(Sequence):
    """Per-problem messages of a batch, formatted when read (a batch may hold 10^6 problems)."""

    def __init__(self, status, grad_norm, nit, lr, tolerances, advice=AUTO_AVAILABLE,
                 problem_gtol=None):
        self._status, self._gnorm, self._nit, self._tol = status, grad_norm, nit, tolerances
        self._lr, self._advice = lr, advice
        self._pg = np.zeros(len(status)) if problem_gtol is None else problem_gtol

    def __len__(self):
        return len(self._status)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return status_message(self._status[i], grad_norm=self._gnorm[i], nit=self._nit[i],
                              lr=self._lr[i], advice=self._advice,
                              problem_gtol=self._pg[i], **self._tol)

    def __repr__(self):
        if len(self) <= 4:
            return repr(list(self))
        return f"[{self[0]!r}, ..., {self[len(self) - 1]!r}] ({len(self)} messages)"


class Result(dict):
    """Outcome of `fastgd.minimize`, with attribute access like scipy's OptimizeResult.

    Fields: x (d,) or (B, d); intercept (a scalar, (B,), (k,) or (B, k); None without
    fit_intercept); fun, grad_norm, nit, status, success (scalars, or (B,)
    arrays for a batch); message (str, or list of str); lr (the step size used,
    per problem); history ((max_iter//k + 1,) or (.., B), or None).
    """

    _order = ("x", "intercept", "fun", "grad_norm", "nit", "status", "success", "message", "lr",
              "history")

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __dir__(self):
        return list(self.keys())

    def __repr__(self):
        keys = [k for k in self._order if k in self] + [k for k in self if k not in self._order]
        width = max(map(len, keys)) + 1
        lines = []
        for k in keys:
            v = self[k]
            lines.append(f"{k.rjust(width)}: " + repr(v).replace("\n", "\n" + " " * (width + 2)))
        return "\n".join(lines)


def build_result(x, state, hist, *, batched, gtol, xtol, ftol, max_iter, advice=AUTO_AVAILABLE,
                 rtol=0.0, minibatch=False):
    """Result from the drivers' per-problem state (B, STATE_SIZE), slots of fastgd.contract;
    `advice` (AUTO_*) keeps the messages' remedies to those the problem type accepts
    (minibatch: those of a batch_size solve)."""
    lr = state[:, contract.ST_LR].copy()
    nit = state[:, contract.ST_NIT].astype(np.int64)
    status = state[:, contract.ST_STATUS].astype(np.int64)
    fun = state[:, contract.ST_FUN].copy()
    gnorm = state[:, contract.ST_GNORM].copy()
    success = np.isin(status, contract.SUCCESS_CODES)
    msgs = Messages(status, gnorm, nit, lr,
                    dict(gtol=gtol, xtol=xtol, ftol=ftol, rtol=rtol, max_iter=max_iter,
                         minibatch=minibatch), advice,
                    state[:, contract.ST_GTOL].copy())
    fun, gnorm, lr = (_in_dtype(v, x.dtype) for v in (fun, gnorm, lr))
    if batched:
        return Result(x=x, fun=fun, grad_norm=gnorm, nit=nit, status=status, success=success,
                      message=msgs, lr=lr, history=hist)
    return Result(x=x, fun=fun[0], grad_norm=gnorm[0], nit=int(nit[0]),
                  status=Status(int(status[0])), success=bool(success[0]), message=msgs[0],
                  lr=lr[0], history=None if hist is None else hist[:, 0].copy())


def _in_dtype(v, dtype):
    """v (float64, from the drivers' state) in the data's dtype, unless that turns finite
    values infinite (a float32 problem whose loss passed 3.4e38): then the float64 values,
    so that no stop but DIVERGED ever reports fun or grad_norm = inf."""
    with np.errstate(over="ignore"):
        out = v.astype(dtype)
    if out.dtype != v.dtype and not np.isfinite(out[np.isfinite(v)]).all():
        return v
    return out
