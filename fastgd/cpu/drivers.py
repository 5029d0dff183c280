"""The CPU drivers of every problem family: the one skeleton of fastgd/cpu/solve.py with
its hooks (``evaluate``; ``xtx_apply`` of prepare.lambda_max) bound per family and per size.

A batch runs ``solve_batch`` with the small-problem hooks (DIRECT, GRAM) -- a batch over
one shared X, or with l2 per problem, ``shared.solve_shared`` with the same hooks, or for a
row loss over a shared X in DIRECT mode ``lockstep.solve_lockstep`` (its loss loops and the
parallel lambda_max bound here) --; one large
problem runs ``solve_single`` with the large-problem hooks (GRAM, the parallel ROWS
pass), so neither compiles the other's evaluation (the parallel row pass alone is about
a quarter of a driver's compile time).  Built-in losses and Softmax are cached on disk
under their binding's tag; a user's RowLoss or Objective is compiled once per process.
"""
import types

from .._jit import rebind
from . import evaluate, lockstep, prepare, shared, solve


def _pair(tag, evaluate_small, evaluate_large, rows=None):
    small = rebind([prepare, solve, shared], {"evaluate": evaluate_small,
                                      "xtx_apply": prepare.xtx_small},
                   cache_tag=tag and tag + "_small")
    large = rebind([prepare, solve], {"evaluate": evaluate_large,
                                      "xtx_apply": prepare.xtx_large},
                   cache_tag=tag and tag + "_large")
    out = types.SimpleNamespace(solve_batch=small.solve_batch, solve_single=large.solve_single,
                                solve_shared=small.solve_shared, small=small, large=large)
    if rows is not None:  # a row loss: the lockstep shared-X driver, with `rows`' loss loops
        out.lock = rebind([lockstep], {"lambda_max": large.lambda_max,
                                       "apply_rows": rows.apply_rows,
                                       "apply_rows_weighted": rows.apply_rows_weighted},
                          cache_tag=tag and tag + "_lockstep")
        out.solve_lockstep = out.lock.solve_lockstep
    return out


_MADE = {}


def builtin():
    """Drivers of the built-in row losses (LeastSquares, Logistic, Huber, Poisson)."""
    if "builtin" not in _MADE:
        _MADE["builtin"] = _pair("rows", evaluate.evaluate_small, evaluate.evaluate_large,
                                  evaluate)
    return _MADE["builtin"]


def softmax():
    """Drivers of Softmax (its evaluation: fastgd/cpu/softmax.py)."""
    if "softmax" not in _MADE:
        from . import softmax as sm
        _MADE["softmax"] = _pair("softmax", sm.evaluate_small, sm.evaluate_large)
    return _MADE["softmax"]


def row_loss(row_terms):
    """Drivers of a user's row loss: evaluate.py's kernels with ``row_terms`` rebound (not
    cached on disk: user code)."""
    ev = rebind([evaluate], {"row_terms": row_terms})
    return _pair(None, ev.evaluate_small, ev.evaluate_large, ev)


def objective(evaluate_objective):
    """Drivers of a user's Objective (fastgd/cpu/objective.py): the batch driver with
    ``evaluate`` bound to the objective's hook and nothing to prepare (not cached on disk:
    user code).  An objective has no rows, so it never runs ``solve_single``."""
    from . import objective as ob
    small = rebind([solve], {"evaluate": evaluate_objective, "prepare_problem": ob.no_setup,
                             "lambda_max": ob.no_curvature})
    return types.SimpleNamespace(solve_batch=small.solve_batch, small=small)
