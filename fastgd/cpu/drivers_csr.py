"""The CPU driver of one problem with a CSR X (fastgd/cpu/csr.py): the skeleton of
fastgd/cpu/solve.py with ``evaluate``, prepare.lambda_max's ``xtx_apply`` and ``columns``
bound to the sparse kernels (``fastgd._jit.rebind``; no second copy of the skeleton).
Built-in losses are cached on disk (tag "csr"); a user's RowLoss is compiled once per
process (its ``row_terms`` rebound in the sparse kernels)."""
import types

from .._jit import rebind
from . import csr, prepare, solve

_MADE = {}


def _bind(ev, tag):
    return rebind([prepare, solve, csr], {"evaluate": ev.evaluate_csr, "xtx_apply": ev.xtx_csr,
                                          "columns": csr.csr_columns}, cache_tag=tag)


def builtin():
    """solve_csr of the built-in row losses (LeastSquares, Logistic, Huber, Poisson)."""
    if "builtin" not in _MADE:
        _MADE["builtin"] = _bind(csr, "csr")
    return _MADE["builtin"]


def softmax():
    """solve_csr of Softmax (its evaluation: csr.evaluate_softmax_csr)."""
    if "softmax" not in _MADE:
        ev = types.SimpleNamespace(evaluate_csr=csr.evaluate_softmax_csr, xtx_csr=csr.xtx_csr)
        _MADE["softmax"] = _bind(ev, "csr_softmax")
    return _MADE["softmax"]


def row_loss(row_terms):
    """solve_csr of a user's row loss (the caller keeps it per loss and dtype)."""
    return _bind(rebind([csr], {"row_terms": row_terms}), None)
