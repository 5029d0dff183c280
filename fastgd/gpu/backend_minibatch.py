"""The GPU backend of a mini-batch solve (``minimize(..., batch_size=m, device="cuda")``,
m < n, dense X): CudaBackend's buffers and outer-loop API, the kernel of
fastgd/gpu/minibatch.py.

The host's share (each epoch's visiting order, each update's lr_schedule factor, the
loop of calls over blocks of epochs) is fastgd/epochs.py's, the CPU backend's too: the
same seed visits the same rows on both.  Each call copies its block of orders (E, n)
int64 and factors (E, updates) float64 to the device, launches one block per problem,
and brings the state back (the host loop reads the statuses).
"""
import numpy as np
from numba import cuda

from ..contract import IP_STOP_AT
from ..epochs import Epochs
from .backend import CudaBackend
from .evaluate import TPB
from .minibatch import minibatch_kernel


class MinibatchCudaBackend(CudaBackend):
    """CudaBackend of a mini-batch solve: X (B, n, d), y (B, n) on the device; W, S1, S2
    (B, m) iterate and method state; G, WN, GN (the epoch's start: iterate and full-data
    gradient), P (B, m) scratch.  One
    problem runs in one block as well (see fastgd/gpu/minibatch.py)."""

    def __init__(self, plan):
        super().__init__(plan)
        self.epochs = Epochs(plan.minibatch, plan.problem.n)
        self.bsize = plan.minibatch.size
        self.stored = cuda.to_device(np.zeros((1, 1), np.int64))  # shuffle=False: unread
        self.ip_device = None

    def run_until(self, stop_at):
        """Advance every running problem up to epoch stop_at; returns the host state."""
        self.ip[IP_STOP_AT] = stop_at
        self.ip_device = cuda.to_device(self.ip)
        self.epochs.advance(self._state_host, self.ip, self._call)
        return self._state_host

    def _call(self, order, factors, base, upto):
        """Advance every running problem from epoch base up to `upto` (one launch);
        returns the host state."""
        shuffled = order.shape[0] > 0
        order_d = cuda.to_device(order) if shuffled else self.stored
        if factors.shape[0] == 0:  # no epoch to run (it evaluates x0): one unread row
            factors = np.zeros((1, self.epochs.updates))
        B = self.X3.shape[0]
        minibatch_kernel[max(1, min(B, 1 << 20)), TPB](
            self.X3, self.y2, self.W, self.S1, self.S2, self.G, self.WN, self.GN, self.P, self.R,
            self.A, self.Bv, self.ip_device, self.hp, self.tol, self.state, self.hist,
            order_d, shuffled, cuda.to_device(factors), base, upto, self.bsize)
        self._state_host = self.state.copy_to_host()
        return self._state_host
