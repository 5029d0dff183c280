"""Checks of minimize's mini-batch options (batch_size, shuffle, random_state, lr_schedule)
and of what they cannot be combined with (yet)."""
import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

from .scalars import flag

LR_SCHEDULES = ("constant", "invscaling")


@dataclass
class MiniBatch:
    """A validated mini-batch solve: rows per update, shuffling, the generator of the
    visiting orders and the step-size schedule ("constant", "invscaling" or a callable)."""

    size: int
    shuffle: bool
    rng: object
    schedule: object


def _batch_size(v):
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("batch_size must be a positive integer or None, got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"batch_size must be a positive integer or None, got "
                        f"{type(v).__name__}") from None
    if v < 1:
        raise ValueError(f"batch_size must be >= 1 (rows per update) or None, got {v}")
    return v


def _random_state(v):
    if v is None or isinstance(v, np.random.Generator):
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"random_state must be None, an integer >= 0 or a "
                        f"numpy.random.Generator, got {type(v).__name__}")
    if v < 0:
        raise ValueError(f"random_state must be >= 0, got {v}")
    return int(v)


def schedule_factor(schedule, t):
    """A callable lr_schedule's factor of update t (1-based), checked: a finite real >= 0
    (minimize checks t=1; the backend every other update, as it reaches it)."""
    v = schedule(t)
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"lr_schedule(t) must return a real number, got {type(v).__name__} "
                        f"for t={t}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"lr_schedule(t) must return a finite factor >= 0, got {v} for t={t}")
    return v


def _schedule(v):
    if callable(v):
        schedule_factor(v, 1)  # before anything is written
        return v
    if not isinstance(v, str) or v not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)} or a callable "
                         f"t -> factor, got {v!r}")
    return v


# what a mini-batch solve refuses, and why (one sentence each)
NEEDS_FULL = "needs exact full-data gradients at every step"


def minibatch_options(batch_size, shuffle, random_state, lr_schedule):
    """The four mini-batch options checked on their own (no problem needed): (batch_size
    or None, shuffle, random_state (None, an int or the Generator passed), lr_schedule).
    A schedule other than "constant" without batch_size raises ValueError."""
    size = _batch_size(batch_size)
    shuffle = flag("shuffle", shuffle)
    random_state = _random_state(random_state)
    schedule = _schedule(lr_schedule)
    if size is None and schedule != "constant":
        raise ValueError("lr_schedule applies to mini-batches: pass batch_size=m (rows "
                         "per update) with it")
    return size, shuffle, random_state, schedule


def minibatch(batch_size, shuffle, random_state, lr_schedule, problem, *, objective,
              line_search, mode):
    """A MiniBatch for batch_size < n, or None (batch_size None or >= n: the full-batch
    solve, unchanged).  Every argument is checked either way; combinations a mini-batch
    solve does not support raise ValueError naming batch_size (device="cuda" is the API's
    to check: the GPU solves what its full-batch path solves, dense X)."""
    size, shuffle, random_state, schedule = minibatch_options(
        batch_size, shuffle, random_state, lr_schedule)
    if size is None:
        return None
    if objective:
        raise ValueError("batch_size needs a problem with rows (e.g. fastgd.LeastSquares); "
                         "a fastgd.Objective has none")
    if size >= problem.n:
        if schedule != "constant":
            raise ValueError(f"lr_schedule applies to mini-batches: batch_size={size} >= n "
                             f"= {problem.n} is the full-batch solve")
        return None
    refused = [
        (line_search == "armijo", f"line_search='armijo' (it {NEEDS_FULL}; method='bb', "
                                  "with or without it, checks each epoch against its "
                                  "non-monotone reference)"),
        (mode == "gram", "mode='gram' (a mini-batch reads its rows of X)"),
        (problem.outputs > 1 and problem.sparse, "Softmax over a CSR X"),
    ]
    for bad, what in refused:
        if bad:
            raise ValueError(f"batch_size={size} (a mini-batch solve) is not supported with "
                             f"{what}; pass batch_size=None for the full-batch solve")
    rng = random_state if isinstance(random_state, np.random.Generator) else \
        np.random.default_rng(random_state)
    return MiniBatch(size=size, shuffle=shuffle, rng=rng, schedule=schedule)
