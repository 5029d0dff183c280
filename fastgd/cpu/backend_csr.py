"""The CPU backend of one problem with a CSR X: CpuBackend's buffers and outer-loop API,
the driver of fastgd/cpu/drivers_csr.py."""
import numba
import numpy as np

from .._jit import read_view
from ..runtime import parallel_launch
from .backend import CpuBackend, row_blocks


def csr_kernels(problem):
    """The CSR driver of the problem's family: built-in losses, or a user's RowLoss (kept
    per loss and dtype, like its dense drivers)."""
    from . import drivers_csr
    if problem.outputs > 1:
        return drivers_csr.softmax()
    entry = getattr(problem, "_entry", None)
    if entry is None:
        return drivers_csr.builtin()
    per = entry.setdefault("csr", {})
    key = problem.dtype.str
    if key not in per:
        per[key] = drivers_csr.row_loss(problem.row_function(problem.dtype))
    return per[key]


def csr_bounds(indptr, m, threads):
    """(nblocks + 1,) int64: the first row of each parallel row block of a CSR X with
    row pointers `indptr` and m parameters.  As many blocks as the dense row pass
    (backend.row_blocks) but no more than nnz / (4 m) (each block costs O(m) to clear and
    to sum, besides its entries: a wide, very sparse X takes few blocks, one when the
    whole pass is small); the rows are split where the running count of entries + rows
    crosses an equal share, so a few long rows do not leave one thread with the work."""
    n = indptr.shape[0] - 1
    nnz = int(indptr[-1])
    nblocks = max(1, min(row_blocks(n, threads), (nnz + n) // (4 * m)))
    cost = indptr.astype(np.int64) + np.arange(n + 1, dtype=np.int64)  # entries + rows
    bounds = np.searchsorted(cost, np.linspace(0, cost[-1], nblocks + 1), side="left")
    bounds[0], bounds[-1] = 0, n
    return np.maximum.accumulate(bounds).astype(np.int64)


class CsrBackend(CpuBackend):
    """CpuBackend for one CSR problem: X stays the scipy matrix (its size, nnz, is the work
    of an iteration); the kernels get (data, indices, indptr, bounds, d)."""

    def _data(self, problem):
        self.csr_kernels = csr_kernels(problem)
        return problem.X, read_view(problem.y[None])

    def _advance(self):
        problem = self.plan.problem
        data, indices, indptr = problem.csr
        threads = numba.get_num_threads()  # (minimize(threads=) caps it around this call)
        if getattr(self, "_bounds", (None,))[0] != threads:
            self._bounds = (threads, csr_bounds(indptr, self.W.shape[1], threads))
        bounds = self._bounds[1]
        X = (read_view(data), read_view(indices), read_view(indptr), bounds, int(problem.d))
        with parallel_launch():
            self.csr_kernels.solve_csr(X, self.y[0], self.S[0], self.W[0], self.S1[0],
                                       self.S2[0], self.ip, self.plan.hp, self.plan.tol,
                                       self.state[0], self.hist, self.P_kernel[0])
