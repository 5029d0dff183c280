"""The CPU backend of a mini-batch solve (``minimize(..., batch_size=m)``, m < n):
CpuBackend's buffers and outer-loop API, the driver of fastgd/cpu/minibatch.py.

The host's share of an epoch (its visiting order and its step-size factors, drawn for
blocks of epochs) is fastgd/epochs.py's, shared with the GPU backend.
"""
import numba
import numpy as np

from .._jit import read_view, rebind
from ..epochs import Epochs
from ..runtime import parallel_launch
from .backend import CpuBackend, _chunksize_one, batch_chunks
from .backend_csr import csr_bounds

_MADE = {}


def _bind(rows_of, xtx_apply, columns, tag):
    from . import minibatch, prepare
    return rebind([prepare, minibatch], {"rows_of": rows_of, "xtx_apply": xtx_apply,
                                         "columns": columns}, cache_tag=tag)


def minibatch_kernels(problem):
    """The mini-batch driver of the problem's family and X: built-in row losses (cached on
    disk, dense or CSR) and Softmax (dense), or a user's RowLoss (its row_terms rebound in the row pass; kept
    per loss, dtype and kind of X)."""
    from . import csr, evaluate, minibatch, prepare
    sparse = problem.sparse
    entry = getattr(problem, "_entry", None)
    if entry is None:
        key = "csr" if sparse else "softmax" if problem.outputs > 1 else "dense"
        if key not in _MADE:
            _MADE[key] = {
                "csr": lambda: _bind(minibatch.csr_rows_of, csr.xtx_csr, csr.csr_columns,
                                     "minibatch_csr"),
                "softmax": lambda: _bind(minibatch.softmax_rows_of, minibatch.xtx_serial,
                                         prepare.columns, "minibatch_softmax"),
                "dense": lambda: _bind(minibatch.dense_rows, minibatch.xtx_serial,
                                       prepare.columns, "minibatch"),
            }[key]()
        return _MADE[key]
    per = entry.setdefault("minibatch", {})
    key = (problem.dtype.str, sparse)
    if key not in per:
        row_terms = {"row_terms": problem.row_function(problem.dtype)}
        if sparse:
            rows = rebind([csr, minibatch], row_terms).csr_rows_of
            per[key] = _bind(rows, csr.xtx_csr, csr.csr_columns, None)
        else:
            rows = rebind([evaluate, minibatch], row_terms).dense_rows
            per[key] = _bind(rows, minibatch.xtx_serial, prepare.columns, None)
    return per[key]


class MinibatchBackend(CpuBackend):
    """CpuBackend of a mini-batch solve: X (1 or B, n, d) read in place (shared X included),
    or one CSR X (the tuple of fastgd/cpu/csr.py), y (B, n), l2 (1 or B,) per problem;
    precondition="diag": CpuBackend's P (computed once on the full data), W in v."""

    def _data(self, problem):
        if not problem.sparse:
            return super()._data(problem)
        data, indices, indptr = problem.csr
        # lr="auto"'s power iteration (csr.xtx_csr) runs over parallel row blocks
        bounds = csr_bounds(indptr, problem.n_params, numba.get_num_threads())
        self.csr = (read_view(data), read_view(indices), read_view(indptr), bounds,
                    int(problem.d))
        return problem.X, read_view(problem.y[None])  # (X.size: the work of a call)

    def __init__(self, plan):
        super().__init__(plan)
        problem = plan.problem
        self.kernels = minibatch_kernels(problem)
        self.L2 = problem.kernel_l2()
        self.epochs = Epochs(plan.minibatch, problem.n)
        self.bsize = plan.minibatch.size
        self.hp = plan.hp.copy()  # (HP_VISIT_AHEAD: dense_rows' distance, plan.tune_for_machine)
        # one problem: solve_epochs called directly (serial; no parallel region to compile)
        m = self.W.shape[1]
        blocks = self.csr[3].shape[0] - 1 if problem.sparse else 1
        self.scratch = (np.empty((6, 2 * m), problem.dtype),
                        np.empty((1 + blocks, max(m, problem.d + 1)), np.float64))

    def _advance(self):
        self.epochs.advance(self.state, self.ip, self._call)

    def _call(self, order, factors, base, upto):
        """Advance every running problem from epoch base up to `upto` (one compiled call);
        returns the state."""
        k, ip, hp, tol = self.kernels, self.ip, self.hp, self.plan.tol
        B = self.y.shape[0]
        if B == 1:
            vec, pw = self.scratch
            X = self.csr if self.plan.problem.sparse else self.X[0]
            m = self.W.shape[1]
            k.solve_epochs(X, self.y[0], self.S[0], self.L2[0], order, factors, base,
                           upto, self.bsize, self.W[0], ip, hp, tol, self.state[0], 0,
                           vec[0, :m], vec[1, :m], self.S1[0], self.S2[0], vec[2, :m], pw,
                           self.hist, self.P_kernel[0], vec[3], vec[4, :m], vec[5, :m])
            return self.state
        with parallel_launch(), _chunksize_one():
            k.solve_minibatch(self.X, self.y, self.S, self.L2, self.W, self.S1, self.S2, ip, hp,
                              tol, self.state, self.hist, order, factors, base, upto,
                              self.bsize, batch_chunks(B, 1, 1, numba.get_num_threads()),
                              self.P_kernel)
        return self.state
