"""Memory-bandwidth ceilings: trivial Numba kernels that move the same bytes as a workload.

They are timed in the same interleaved rounds as the contenders, so a contender's
fraction of the ceiling is immune to the machine's minute-to-minute bandwidth drift.
"""
import numba
import numpy as np
from numba import prange

from .._jit import FASTMATH  # reassoc lets the sum vectorise; no NaN/Inf flags needed


@numba.njit(parallel=True, fastmath=set(FASTMATH), cache=True, nogil=True)
def read_sum(x):
    """Sum of a contiguous 1-D array, read once (a prange reduction: SIMD, per-thread partials)."""
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i]
    return s


@numba.njit(parallel=True, fastmath=set(FASTMATH), cache=True, nogil=True)
def touch_adam_bytes(p, g, m, v, a):
    """Reads p, g, m, v and writes p, m, v (the traffic of one Adam step), trivial maths:
    m += g; v += g*g; p -= a*m."""
    for i in prange(p.shape[0]):
        gi = g[i]
        mi = m[i] + gi
        m[i] = mi
        v[i] = v[i] + gi * gi
        p[i] = p[i] - a * mi


def read_ceiling(X):
    """Callable reading every element of X once; returns the sum (for a sanity check)."""
    flat = X.reshape(-1)
    return lambda: read_sum(flat)


def check_read_sum(X):
    """The exact float64 sum of X computed in blocks (reference for read_ceiling)."""
    flat = X.reshape(-1)
    ref = 0.0
    for s in range(0, flat.size, 1 << 22):
        ref += flat[s:s + (1 << 22)].astype(np.float64).sum()
    return ref
