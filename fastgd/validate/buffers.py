"""Checks of the 1-D buffers of the fused step ops (fastgd.ops): NumPy or CUDA alike.

``numpy_step_buffers`` is the fast acceptance of the common valid case (every training
step); anything it does not accept goes through ``flat_buffer`` and
``matching_buffers``, which say what is wrong.
"""
import numpy as np

from .arrays import FLOAT_DTYPES
from .cuda import cuda_interface


def numpy_step_buffers(params, grads, written):
    """Fast acceptance of valid NumPy step buffers: True, or False to run flat_buffer."""
    arrays = [params, grads] + [a for _, a in written]
    for a in arrays:
        if type(a) is not np.ndarray:
            return False
    dtype, shp = params.dtype, params.shape
    if dtype not in FLOAT_DTYPES or len(shp) != 1 or shp[0] == 0:
        return False
    for a in arrays:
        if a.dtype != dtype or a.shape != shp or not a.flags.c_contiguous:
            return False
    if not params.flags.writeable:
        return False
    for _, a in written:
        if not a.flags.writeable:
            return False
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            if np.shares_memory(a, b):
                return False
    return True


class FlatBuffer:
    """What the step ops need to know of a 1-D buffer, NumPy or CUDA alike."""
    __slots__ = ("name", "obj", "dtype", "size", "lo", "hi")

    def __init__(self, name, obj, dtype, size, lo):
        self.name, self.obj, self.dtype, self.size = name, obj, dtype, size
        self.lo, self.hi = lo, lo + size * dtype.itemsize


def flat_buffer(name, a, on_gpu, writeable):
    """A 1-D C-contiguous non-empty float32/float64 buffer on the expected device."""
    if on_gpu:
        iface = cuda_interface(a)
        if iface is None:
            raise TypeError(f"{name} must be a CUDA array (with __cuda_array_interface__) "
                            f"like params, got {type(a).__name__}")
        dtype = np.dtype(iface["typestr"])
        shp = tuple(iface["shape"])
        strides = iface.get("strides")
        contiguous = strides is None or len(shp) != 1 or tuple(strides) == (dtype.itemsize,)
        ptr, readonly = iface["data"]
    else:
        if not isinstance(a, np.ndarray):
            if cuda_interface(a) is not None:
                raise TypeError(f"{name} is a CUDA array but params is not; pass all buffers "
                                f"on the same device")
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
        dtype, shp, contiguous = a.dtype, a.shape, a.flags.c_contiguous
        ptr, readonly = a.__array_interface__["data"][0], not a.flags.writeable
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {dtype}")
    if len(shp) != 1:
        raise ValueError(f"{name} must be 1-d (a flat buffer), got shape {shp}")
    if shp[0] == 0:
        raise ValueError(f"{name} must not be empty")
    if not contiguous:
        raise ValueError(f"{name} must be contiguous (a flat buffer with unit stride)")
    if writeable and readonly:
        raise ValueError(f"{name} is read-only; fastgd.ops updates it in place")
    return FlatBuffer(name, a, dtype, shp[0], ptr)


def matching_buffers(ref, others):
    """Every FlatBuffer in `others` has ref's length and dtype; no two overlap in memory."""
    for b in others:
        if b.dtype != ref.dtype:
            raise TypeError(f"{b.name} has dtype {b.dtype} but {ref.name} has {ref.dtype}; "
                            f"they must match")
        if b.size != ref.size:
            raise ValueError(f"{b.name} has length {b.size} but {ref.name} has {ref.size}; "
                             f"they must match")
    every = [ref] + list(others)
    for i, a in enumerate(every):
        for b in every[i + 1:]:
            if a.lo < b.hi and b.lo < a.hi:
                raise ValueError(f"{a.name} and {b.name} share memory; they must be "
                                 f"separate buffers")
