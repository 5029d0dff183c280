"""Small device reductions used by input validation of CUDA arrays (no host copy of data)."""
import numpy as np
from numba import cuda

from .. import config
from .math import decisions

is_bad = decisions.is_bad


@cuda.jit
def _flag_bad(a, out):
    """out[0] = 1 if a (1-D) holds a NaN or Inf."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        if is_bad(a[i]):
            out[0] = 1


@cuda.jit
def _flag_nonbinary(a, out):
    """out[0] = 1 if a (1-D) holds a value other than 0 and 1."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        if a[i] != 0 and a[i] != 1:
            out[0] = 1


def _run(kernel, arr):
    flat = arr.reshape(arr.size)
    out = cuda.to_device(np.zeros(1, np.int32))
    threads = config.GPU_CHECK_THREADS
    blocks = max(1, min((flat.shape[0] + threads - 1) // threads, config.GPU_CHECK_MAX_BLOCKS))
    kernel[blocks, threads](flat, out)
    return bool(out.copy_to_host()[0])


def has_nonfinite(arr):
    """True if the C-contiguous device array holds NaN or Inf."""
    return _run(_flag_bad, arr)


def has_nonbinary(arr):
    """True if the C-contiguous device array holds a value other than 0 and 1."""
    return _run(_flag_nonbinary, arr)


def simulator_view(a):
    """Under NUMBA_ENABLE_CUDASIM: the same simulated device array (no copy) with a plain
    tuple shape, since the simulator's shape object rejects negative indices."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    class SimArray(FakeCUDAArray):
        @property
        def shape(self):
            return self._ary.shape

    return SimArray(a._ary, a.stream)
