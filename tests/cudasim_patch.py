"""A thread-safe `cuda.shared.array` for Numba's CUDA simulator (tests only).

The simulator runs each CUDA thread as a Python thread, and its FakeCUDAShared.array
looks the block's array up in a dict and, when missing, creates and stores it -- with
no lock.  A thread switch inside that window (likely under gpu_cases.py's short switch
interval on a loaded 2-core CI machine) gives two threads two different "shared"
arrays: block reductions then read uninitialised memory and a correct kernel returns
garbage now and then (seen in CI: a problem stopped at iteration 0 with a NaN norm).
`install()` replaces the method with the same logic under a lock; a no-op on a GPU.
"""
import sys
import threading
import traceback

import numpy as np

_LOCK = threading.Lock()
_new_array = np.empty  # module-level so a test can slow it down to widen the window


def _shared_array(self, shape, dtype, alignment=None):
    from numba.core import types
    from numba.np import numpy_support
    if shape == 0 or alignment is not None:  # dynamic shared memory / unsupported: upstream
        return _upstream(self, shape, dtype, alignment)
    if isinstance(dtype, types.Type):
        dtype = numpy_support.as_dtype(dtype)
    # one array per source line of the kernel, as upstream (the caller's frame)
    caller = traceback.extract_stack(sys._getframe(), limit=2)[0][0:2]
    with _LOCK:
        res = self._allocations.get(caller)
        if res is None:
            res = self._allocations[caller] = _new_array(shape, dtype)
    return res


_upstream = None


def install():
    """Patch the simulator (when NUMBA_ENABLE_CUDASIM=1); returns True if patched."""
    global _upstream
    from numba import config
    if not config.ENABLE_CUDASIM:
        return False
    from numba.cuda.simulator import kernelapi
    if _upstream is None:
        _upstream = kernelapi.FakeCUDAShared.array
        kernelapi.FakeCUDAShared.array = _shared_array
    return True
