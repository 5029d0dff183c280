"""The CPU backend of a mini-batch solve (``minimize(..., batch_size=m)``, m < n):
CpuBackend's buffers and outer-loop API, the driver of fastgd/cpu/minibatch.py.

The host's share of an epoch: its visiting order and its step-size factors.  Epoch e's
order is the e-th ``rng.permutation(n)`` of the solve's generator
(``np.random.default_rng(random_state)``, or the Generator passed), the same for every
problem of a batch, with each mini-batch's indices sorted (cache-friendly; the
gradient's sum does not depend on the order); ``shuffle=False``: the rows in their
stored order.  Orders are drawn for blocks of epochs (config.MINIBATCH_ORDER_BYTES at
most; 16 epochs, then as many as were run before), always in epoch order, so the result does not depend on how the outer loop chunks
the solve (callback, progress) nor on the thread count.  Update u (1-based over the
solve) has the factor 1 ("constant"), u^-0.5 ("invscaling") or schedule(u) (a callable,
evaluated here).
"""
import numba
import numpy as np

from .. import config, contract
from .._jit import read_view, rebind
from ..runtime import parallel_launch
from ..validate.minibatch import schedule_factor
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


def update_factors(schedule, first, count):
    """(count,) float64: the lr_schedule's factor of updates first .. first + count - 1
    (1-based).  A callable's value must be a finite real >= 0 (ValueError otherwise)."""
    if schedule == "constant":
        return np.ones(count)
    u = np.arange(first, first + count, dtype=np.float64)
    if schedule == "invscaling":
        return 1.0 / np.sqrt(u)
    out = np.empty(count)
    for k in range(count):
        out[k] = schedule_factor(schedule, first + k)
    return out


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
        mb = plan.minibatch
        self.bsize = mb.size
        self.shuffle = mb.shuffle
        self.schedule = mb.schedule
        self.rng = mb.rng
        n = problem.n
        self.updates = -(-n // mb.size)  # per epoch
        self.most_epochs = max(1, config.MINIBATCH_ORDER_BYTES // (8 * (n + self.updates)))
        # one problem: solve_epochs called directly (serial; no parallel region to compile)
        m = self.W.shape[1]
        blocks = self.csr[3].shape[0] - 1 if problem.sparse else 1
        self.scratch = (np.empty((5, 2 * m), problem.dtype),
                        np.empty((1 + blocks, max(m, problem.d + 1)), np.float64))

    def _orders(self, base, epochs):
        """(epochs, n) int64 visiting orders of epochs base .. (or (0, 0): stored order)
        and (epochs, updates) float64 step-size factors."""
        n, m, nb = self.plan.problem.n, self.bsize, self.updates
        factors = update_factors(self.schedule, base * nb + 1, epochs * nb).reshape(epochs, nb)
        if not self.shuffle:
            return np.zeros((0, 0), np.int64), factors
        order = np.empty((epochs, n), np.int64)
        full = (n // m) * m
        for e in range(epochs):
            order[e] = self.rng.permutation(n)
            order[e, :full].reshape(-1, m).sort(axis=1)
            order[e, full:].sort()
        return order, factors

    def _advance(self):
        state, ip = self.state, self.ip
        stop_at = int(ip[contract.IP_STOP_AT])
        running = state[:, contract.ST_STATUS] == contract.RUNNING
        if not running.any():
            return
        # every running problem has reached the same epoch (the last call's stop)
        base = int(state[running, contract.ST_NIT].min())
        while True:  # at least one call: it evaluates x0 (and lr="auto") for max_iter=0
            # blocks grow with the epochs run (a problem that stops early drew few orders)
            epochs = max(0, min(stop_at - base, self.most_epochs, max(16, base)))
            order, factors = self._orders(base, epochs)
            self._call(order, factors, base, base + epochs)
            base += epochs
            if base >= stop_at or ip[contract.IP_STOP_AT] < 0 or \
                    not (state[:, contract.ST_STATUS] == contract.RUNNING).any():
                return

    def _call(self, order, factors, base, upto):
        """Advance every running problem from epoch base up to `upto` (one compiled call)."""
        k, ip, hp, tol = self.kernels, self.ip, self.plan.hp, self.plan.tol
        B = self.y.shape[0]
        if B == 1:
            vec, pw = self.scratch
            X = self.csr if self.plan.problem.sparse else self.X[0]
            m = self.W.shape[1]
            k.solve_epochs(X, self.y[0], self.S[0], self.L2[0], order, factors, base,
                           upto, self.bsize, self.W[0], ip, hp, tol, self.state[0], 0,
                           vec[0, :m], vec[1, :m], self.S1[0], self.S2[0], vec[2, :m], pw,
                           self.hist, self.P_kernel[0], vec[3], vec[4, :m])
            return
        with parallel_launch(), _chunksize_one():
            k.solve_minibatch(self.X, self.y, self.S, self.L2, self.W, self.S1, self.S2, ip, hp,
                              tol, self.state, self.hist, order, factors, base, upto,
                              self.bsize, batch_chunks(B, 1, 1, numba.get_num_threads()),
                              self.P_kernel)
