"""The CPU backend of one problem with a CSR X: CpuBackend's buffers and outer-loop API,
the driver of fastgd/cpu/drivers_csr.py."""
import numba

from .._jit import read_view
from ..runtime import parallel_launch
from .backend import CpuBackend, row_blocks


def csr_kernels(problem):
    """The CSR driver of the problem's family: built-in losses, or a user's RowLoss (kept
    per loss and dtype, like its dense drivers)."""
    from . import drivers_csr
    entry = getattr(problem, "_entry", None)
    if entry is None:
        return drivers_csr.builtin()
    per = entry.setdefault("csr", {})
    key = problem.dtype.str
    if key not in per:
        per[key] = drivers_csr.row_loss(problem.row_function(problem.dtype))
    return per[key]


class CsrBackend(CpuBackend):
    """CpuBackend for one CSR problem: X stays the scipy matrix (its size, nnz, is the work
    of an iteration); the kernels get (data, indices, indptr, d)."""

    def _data(self, problem):
        data, indices, indptr = problem.csr
        self.csr = (read_view(data), read_view(indices), read_view(indptr), int(problem.d))
        self.csr_kernels = csr_kernels(problem)
        return problem.X, read_view(problem.y[None])

    def _advance(self):
        n = self.plan.problem.n
        with parallel_launch():
            self.csr_kernels.solve_csr(self.csr, self.y[0], self.S[0], self.W[0], self.S1[0],
                                       self.S2[0], self.ip, self.plan.hp, self.plan.tol,
                                       self.state[0], self.hist,
                                       row_blocks(n, numba.get_num_threads()))
