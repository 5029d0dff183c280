"""The GPU backend of fastgd.minimize: device buffers of one Plan and the launches of its
drivers (fastgd/gpu/solve.py).  Same interface as fastgd/cpu/backend.py: ``run_until``,
``iterate``, ``history``, ``solution``; the API's one outer loop drives both.
"""
import numpy as np
from numba import cuda
from numba.core.errors import NumbaError

from .. import config
from .._device import is_cuda_array
from ..decisions import lr_is_auto
from ..contract import GRAM, IP_LOSS, IP_MODE, IP_STOP_AT, POWER_ITERATIONS, ROWS, RUNNING, ST_LR, ST_STATUS
from .evaluate import CHUNK, TPB
from .solve import (
    CX_DONE, CX_PSTOP, NCX, auto_lr_kernel, power_finish_kernel, power_normalize_kernel,
    power_start_kernel, rows_partial_kernel, single_after_kernel, single_reset_kernel,
    single_start_kernel, solve_batch_kernel,
)


def _grid_blocks(n):
    return max(1, min((n + TPB - 1) // TPB, config.GPU_MAX_GRID_BLOCKS))


class CudaBackend:
    """The GPU backend of fastgd.minimize: device buffers of one Plan (see
    fastgd/cpu/backend.py for the interface the API's outer loop uses).

    X, y: the problem's device arrays (NumPy data are copied to the GPU once, and the
    solution then comes back as NumPy: the result lives where the data live).  W, S1, S2
    (B, m) iterate and method state, G, WN, GN, P (B, m) scratch, cx (B, NCX) control
    rows, all on the device; the state (B, STATE_SIZE) and history come back to the host
    after every ``run_until`` (one small copy).  A large single problem (plan.large) runs
    with a grid-wide gradient per iteration, mode 'gram' as 'rows'.
    """

    def __init__(self, plan):
        problem = plan.problem
        X, y = problem.X, problem.y
        self.plan = plan
        self.on_host = not is_cuda_array(X)
        if self.on_host:
            X, y = cuda.to_device(X), cuda.to_device(y)
        B, m = plan.batch_size, plan.n_params
        n, d = problem.n, problem.d
        self.X3 = X if problem.batched else X.reshape(1, n, d)
        self.y2 = y if problem.batched else y.reshape(1, n)
        self.large = plan.large
        # an Objective's starts bring their own batch kernel (fastgd/gpu/objective.py)
        self.kernel = problem.cuda_kernel() if hasattr(problem, "cuda_kernel") \
            else solve_batch_kernel
        self.ip = plan.ip.copy()
        if self.large and self.ip[IP_MODE] == GRAM:
            self.ip[IP_MODE] = ROWS
        dt = problem.dtype
        x0 = plan.x0
        self.x0_device = None
        self.W = cuda.device_array((B, m), dt)
        if x0 is None:
            self.W.copy_to_device(np.zeros((B, m), dt))
        elif is_cuda_array(x0):
            self.x0_device = (x0 if getattr(type(x0), "__cuda_ndarray__", False)
                              else cuda.as_cuda_array(x0))
            self.W.copy_to_device(self.x0_device.reshape(B, m))
        else:
            self.W.copy_to_device(np.ascontiguousarray(x0).reshape(B, m))
        zeros = lambda shape, t=dt: cuda.to_device(np.zeros(shape, t))  # noqa: E731
        # scratch starts as NaN: a read before a write would show in every result
        scratch = lambda shape, t=dt: cuda.to_device(np.full(shape, np.nan, t))  # noqa: E731
        self.S1, self.S2 = zeros((B, m)), zeros((B, m))
        self.G, self.WN, self.GN, self.P = (scratch((B, m)) for _ in range(4))
        self._state_host = plan.initial_state()
        self.state = cuda.to_device(self._state_host)
        hist = plan.empty_history()
        self.rows = hist.shape[0]
        h = np.full((max(self.rows, 1), B), np.nan)
        self.hist = cuda.to_device(h)
        self.hp = cuda.to_device(np.asarray(plan.hp))
        self.tol = cuda.to_device(np.asarray(plan.tol, np.float64))
        self.cx = scratch((B, NCX), np.float64)
        gram = self.ip[IP_MODE] == GRAM
        self.A = scratch((B, d, d) if gram else (B, 1, 1), np.float64)
        self.Bv = scratch((B, d) if gram else (B, 1), np.float64)
        self.R = scratch((B, n) if d > CHUNK else (B, 1))
        if self.large:
            nb = _grid_blocks(n)
            self.part_g = scratch((nb, d), np.float64)
            self.part_f = scratch(nb, np.float64)

    def run_until(self, stop_at):
        """Advance every running problem up to iteration stop_at; returns the host state."""
        self.ip[IP_STOP_AT] = stop_at
        ip = cuda.to_device(self.ip)
        if self.large:
            self._run_single(ip)
        else:
            B = self.X3.shape[0]
            grid = max(1, min(B, 1 << 20))
            try:
                self.kernel[grid, TPB](self.X3, self.y2, self.W, self.S1, self.S2, self.G,
                                       self.WN, self.GN, self.P, self.R, self.A, self.Bv,
                                       ip, self.hp, self.tol, self.state, self.cx, self.hist)
            except NumbaError as e:
                if self.kernel is solve_batch_kernel:
                    raise
                # only the state of this call's copies was touched: x0 is never written
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise TypeError(f"the Objective's fun/grad cannot be compiled as CUDA device "
                                f"functions ({first}); use device='cpu'") from e
        self._state_host = self.state.copy_to_host()
        return self._state_host

    def _run_single(self, ip):
        if int(self._state_host[0, ST_STATUS]) != RUNNING:
            return
        X, y = self.X3[0], self.y2[0]
        st, cx, w, g, wn, gnew = (self.state[0], self.cx[0], self.W[0], self.G[0], self.WN[0],
                                  self.GN[0])
        s1, s2, p, R = self.S1[0], self.S2[0], self.P[0], self.R[0]
        pg, pf, hp, tol, hist = self.part_g, self.part_f, self.hp, self.tol, self.hist
        nb = pg.shape[0]
        code = int(self.ip[IP_LOSS])
        single_reset_kernel[1, 1](cx)
        if lr_is_auto(self._state_host[0, ST_LR]):  # s1: the power vector, then zeroed
            power_start_kernel[1, TPB](s1, hp)
            for _ in range(POWER_ITERATIONS):
                power_normalize_kernel[1, TPB](s1, cx)
                rows_partial_kernel[nb, TPB](code, 1, X, y, s1, R, pg, pf, hp, cx, CX_PSTOP)
                power_finish_kernel[1, TPB](pg, pf, s1, g, cx, hp)
            auto_lr_kernel[1, TPB](st, cx, s1, hp)
        rows_partial_kernel[nb, TPB](code, 0, X, y, w, R, pg, pf, hp, cx, CX_DONE)
        single_start_kernel[1, TPB](pg, pf, ip, hp, tol, st, cx, w, g, wn, s1, s2, p, hist)
        done = np.zeros(1)
        while True:
            for _ in range(config.GPU_CHECK_EVERY):
                rows_partial_kernel[nb, TPB](code, 0, X, y, wn, R, pg, pf, hp, cx, CX_DONE)
                single_after_kernel[1, TPB](pg, pf, ip, hp, tol, st, cx, w, g, wn, gnew, s1,
                                            s2, p, hist)
            cx[CX_DONE:CX_DONE + 1].copy_to_host(done)
            if done[0] != 0.0:
                break

    def history(self):
        return self.hist.copy_to_host()[:self.rows]

    def _as_x(self, copy):
        """The iterates in the solution's shape: NumPy for host data, else a device array."""
        if self.on_host:
            x = self.W.copy_to_host()
        elif copy:
            x = cuda.device_array_like(self.W)
            x.copy_to_device(self.W)
        else:
            x = self.W
        return x.reshape(self.plan.problem.solution_shape)

    def iterate(self):
        """A copy of the current iterates (for callbacks)."""
        return self._as_x(True)

    def solution(self, into=None):
        """The final iterates; written into `into` (x0) when given.  A numba device x0 is
        returned itself, a CuPy/torch x0 as a zero-copy numba view of it (Result fields
        need a NumPy dtype)."""
        if into is None:
            return self._as_x(False)
        if self.x0_device is not None:
            self.x0_device.reshape(self.W.shape).copy_to_device(self.W)
            return self.x0_device
        into[...] = self.W.copy_to_host().reshape(into.shape)
        return into
