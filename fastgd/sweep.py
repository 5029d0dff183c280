"""sweep_lr(): one problem solved at many step sizes as a single batch."""

import numpy as np

from . import config, validate
from .api import minimize
from .problems import Problem


def default_lrs(auto_lr, num=None, span=None):
    """Log-spaced step sizes around ``auto_lr`` (= 1/L): from crawling to diverging for gd
    (config.SWEEP_POINTS of them over config.SWEEP_SPAN times 1/L by default)."""
    num = config.SWEEP_POINTS if num is None else num
    span = config.SWEEP_SPAN if span is None else span
    return float(auto_lr) * np.geomspace(span[0], span[1], num)


def _learning_rates(lrs):
    arr = np.asarray(lrs)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"lrs must be a 1-d array of step sizes, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lrs must be a non-empty 1-d array of step sizes, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError("lrs must be finite and > 0")
    return arr


def auto_lr(problem, method="gd", **options):
    """The step size that ``lr="auto"`` would use for this (single) problem: 1/L."""
    # batch_size: the same full-data 1/L, from the mini-batch driver the sweep compiles anyway
    keep = {k: v for k, v in options.items()
            if k in ("mode", "line_search", "device", "batch_size")}
    return float(minimize(problem, method, lr="auto", max_iter=0, **keep).lr)


def sweep_lr(problem, lrs=None, *, method="gd", max_iter=200, history=1, **options):
    """Solve one problem at every step size in ``lrs``, as one batch of ``len(lrs)`` problems.

    The too-small-is-slow, too-large-diverges lesson made a tool: every run gets its own
    status (``DIVERGED`` for those that blow up) and loss history.

    Parameters
    ----------
    problem : a single (not batched) fastgd problem, X (n, d).
    lrs : (L,) positive step sizes; ``None`` picks 13 log-spaced values from 1e-2 to 4
        times the automatic step size 1/L (see `default_lrs`).
    method, max_iter, history, **options : as for `fastgd.minimize` (``history=k`` records
        the loss every k iterations; it must be >= 1 here).  ``batch_size=m`` sweeps
        mini-batch SGD (every run visits the rows in the same order: common random
        numbers; ``random_state``, ``shuffle``, ``lr_schedule`` as for minimize).

    Returns
    -------
    fastgd.Result with batched fields of length L (``x`` (L, d), ``fun``, ``nit``, ``status``,
    ``success``, ``lr``), ``history`` of shape (max_iter // history + 1, L), plus
    ``auto_lr`` (float, what ``lr="auto"`` would use; nan where the problem has none, e.g.
    Poisson without line_search="armijo") and ``history_every`` (= history).

    Memory: the L runs are one batch over the problem's X, which is shared, never copied
    (fastgd/cpu/shared.py); y is copied L times (L x n) and each run keeps its own state
    and loss history.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a fastgd problem (e.g. fastgd.LeastSquares), "
                        f"got {type(problem).__name__}")
    if problem.batched:
        raise ValueError(f"problem must be a single problem (X of shape (n, d), y (n,)) for "
                         f"a learning-rate sweep, got X of shape {problem.X.shape} and y of "
                         f"shape {problem.y.shape}")
    if problem.sparse:
        raise ValueError("sweep_lr takes a dense X: a CSR X is solved as one problem (run "
                         "minimize once per step size)")
    if isinstance(history, (bool, np.bool_)) or not isinstance(history, (int, np.integer)) \
            or history < 1:
        raise ValueError(f"history must be an integer >= 1 for a sweep, got {history!r}")
    for name in ("lr", "x0", "inplace"):
        if name in options:
            raise TypeError(f"sweep_lr() does not take {name!r} (the step sizes are lrs)")
    try:
        lr_auto = auto_lr(problem, method, **options)
    except ValueError:
        if lrs is None:  # e.g. Poisson without line_search="armijo": no 1/L to start from
            raise
        lr_auto = float("nan")
    lrs = default_lrs(lr_auto) if lrs is None else _learning_rates(lrs)
    L = lrs.size
    max_iter = validate.count("max_iter", max_iter)
    # the float64 loss history of every step size (X is shared, not copied)
    need = L * (max_iter // history + 1) * 8
    if need > config.MAX_SWEEP_BYTES:
        limit = config.MAX_SWEEP_BYTES / 2 ** 30
        raise ValueError(f"a sweep of {L} step sizes keeps {L} loss histories "
                         f"({need / 2**30:.1f} GiB > {limit:g} GiB); use fewer step sizes, "
                         f"a coarser history or a smaller max_iter")
    stacked = problem._shared(L)  # same loss, parameters and X; data already validated
    res = minimize(stacked, method, lr=lrs, max_iter=max_iter,
                   history=history, **options)
    res["auto_lr"] = lr_auto
    res["history_every"] = int(history)
    return res
