"""The CPU backend of fastgd.minimize: buffers of one Plan and the calls of its drivers.

The API layer (fastgd/api.py) owns the outer loop; a backend offers
``run_until(stop_at)`` (advance every running problem up to that iteration, return the
state), ``iterate()`` (a copy of the current iterates), ``history()`` and
``solution(into)``.  The GPU backend (fastgd/gpu/backend.py) offers the same.
"""
import contextlib

import numba
import numpy as np

from .. import config, contract
from .. import precondition as pre
from .._jit import read_view
from .gram import gram_blas
from ..plan import shared_lockstep
from ..runtime import STOPPED_EARLY, interruptible, parallel_launch, thread_cap


def batch_chunks(B, n, d, threads):
    """How many chunks the batched driver hands out: at least one per thread, more (up to
    CHUNKS_PER_THREAD per thread) while their scratch stays small, so problems that run
    long do not leave one thread with the tail."""
    by_scratch = config.CHUNK_SCRATCH_ELEMENTS // (n * d + 1)
    return min(B, max(threads, min(config.CHUNKS_PER_THREAD * threads, by_scratch)))


def row_blocks(n, threads):
    """Row blocks of one large problem's parallel evaluation."""
    return max(1, min(n // config.ROWS_PER_BLOCK, config.BLOCKS_PER_THREAD * threads))


@contextlib.contextmanager
def _chunksize_one():
    """Numba's parallel chunk size 1 (chunks of problems handed out one at a time)."""
    previous = numba.get_parallel_chunksize()
    numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(previous)


class CpuBackend:
    """W, S1, S2 (B, m), state (B, STATE_SIZE), hist of one Plan on the CPU."""

    def __init__(self, plan):
        problem = plan.problem
        B, m = plan.batch_size, plan.n_params
        self.plan = plan
        self.kernels = problem.kernels()
        self.X, self.y = self._data(problem)
        # a shared X or l2 per problem: the shared-X driver (fastgd/cpu/shared.py)
        self.L2 = problem.kernel_l2() if problem.shared_x or problem.per_problem_l2 else None
        self.S = problem.kernel_weights()  # (1 or B, n), or (1, 0): no sample weights
        # one shared X in DIRECT mode, a row loss: all problems in lockstep (plan.py says when)
        self.lockstep = (self.L2 is not None and shared_lockstep(plan)
                         and hasattr(self.kernels, "solve_lockstep"))
        x0 = plan.x0
        nc = self.n_coef = problem.n_coef  # W = (coefficients, intercepts)
        if nc == m:
            self.W = np.zeros((B, m), problem.dtype) if x0 is None else x0.reshape(B, m).copy()
        else:
            self.W = np.zeros((B, m), problem.dtype)
            if x0 is not None:
                self.W[:, :nc] = x0.reshape(B, nc)
            if plan.intercept0 is not None:
                self.W[:, nc:] = plan.intercept0
        # precondition="diag": W holds the rescaled variables v (fastgd/precondition.py)
        self.P = plan.precondition
        if self.P is not None:
            pre.to_rescaled(self.P, self.W, problem.d, problem.outputs)
        self.P_kernel = pre.none_array() if self.P is None else self.P
        self.S1 = np.zeros((B, m), problem.dtype)
        self.S2 = np.zeros((B, m), problem.dtype)
        self.state = plan.initial_state()
        self.hist = plan.empty_history()
        self.ip = plan.ip.copy()
        if plan.large and plan.ip[contract.IP_MODE] == contract.GRAM:
            # once per solve (not per chunk): BLAS on the host (cpu/gram.py)
            self.gram = gram_blas(self.X[0], self.y[0], self.S[0], problem.fit_intercept)
        else:
            self.gram = (np.zeros((1, 1)), np.zeros(1), 0.0)
        self.tile = plan.row_tile  # rows per tile of the tiled row loop (plan.tune_for_machine)

    def _data(self, problem):
        """X (B, n, d), y (B, n) of the drivers (a CSR X: backend_csr.py); a shared X (n, d)
        of a batch is passed as (1, n, d): never copied.  Read-only data compile no
        specialisation of their own (see _jit.read_view)."""
        return (read_view(problem.X if problem.X.ndim == 3 else problem.X[None]),
                read_view(problem.y if problem.batched else problem.y[None]))

    def run_until(self, stop_at):
        """Advance every running problem up to iteration stop_at; returns the state.
        Ctrl-C pauses every problem after its current iteration (runtime.interruptible)."""
        self.ip[contract.IP_STOP_AT] = stop_at
        iters = max(1, stop_at - int(self.state[:, contract.ST_NIT].min()))
        try:
            # work: the data read per iteration (an Objective has none: its iterates)
            with thread_cap(self.plan.threads):
                interruptible(self._advance, self.ip, max(self.X.size, self.W.size) * iters)
        except SystemError as exc:  # an exception in compiled code that Numba could not raise
            raise RuntimeError(STOPPED_EARLY) from exc
        return self.state

    def _advance(self):
        k = self.kernels
        threads = numba.get_num_threads()
        with parallel_launch():
            if self.plan.large:
                nblocks = row_blocks(self.X.shape[1], threads)
                A, b, c = self.gram
                k.solve_single(self.X[0], self.y[0], self.S[0], A, b, c, self.W[0], self.S1[0],
                               self.S2[0], self.ip,
                               self.plan.hp, self.plan.tol, self.state[0], self.hist, nblocks,
                               self.tile,
                               self.P_kernel[0])
            elif self.lockstep:
                _, n, _ = self.X.shape
                k.solve_lockstep(self.X, self.y, self.S, self.L2, self.W, self.S1, self.S2,
                                 self.ip, self.plan.hp, self.plan.tol, self.state, self.hist,
                                 row_blocks(n, threads), self.P_kernel)
            elif self.L2 is not None:
                _, n, d = self.X.shape
                B = self.y.shape[0]
                # chunk scratch: a transposed copy per chunk only for separate X (B, n, d)
                per_chunk = 1 if self.X.shape[0] == 1 else d
                with _chunksize_one():
                    k.solve_shared(self.X, self.y, self.S, self.L2, self.W, self.S1, self.S2,
                                   self.ip, self.plan.hp, self.plan.tol, self.state, self.hist,
                                   batch_chunks(B, n, per_chunk, threads), self.P_kernel)
            else:
                B, n, d = self.X.shape
                previous = numba.get_parallel_chunksize()
                numba.set_parallel_chunksize(1)  # chunks are handed out one at a time
                try:
                    k.solve_batch(self.X, self.y, self.S, self.W, self.S1, self.S2, self.ip,
                                  self.plan.hp, self.plan.tol, self.state, self.hist,
                                  batch_chunks(B, n, d, threads), self.P_kernel)
                finally:
                    numba.set_parallel_chunksize(previous)

    def _original(self):
        """W in the original variables: W itself, or a copy mapped from v (precondition)."""
        if self.P is None:
            return self.W
        problem = self.plan.problem
        return pre.to_original(self.P, self.W, problem.d, problem.outputs)

    def iterate(self):
        """A copy of the current iterates, in the solution's shape (for callbacks)."""
        return self._original()[:, :self.n_coef].reshape(self.plan.problem.solution_shape).copy()

    def intercept(self):
        """A copy of the current intercepts in res.intercept's shape, or None."""
        problem = self.plan.problem
        if not problem.fit_intercept:
            return None
        b = self._original()[:, self.n_coef:].reshape(problem.intercept_shape).copy()
        return b[()] if b.ndim == 0 else b

    def history(self):
        return self.hist

    def solution(self, into=None):
        """The final iterates in the solution's shape; written into `into` (x0) if given."""
        x = self._original()[:, :self.n_coef].reshape(self.plan.problem.solution_shape)
        if into is None:
            return x
        into[...] = x
        return into
