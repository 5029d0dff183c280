"""Every check of user input, one small function per kind of argument.

All of them run before any kernel is called or any buffer written, and raise
ValueError/TypeError messages that name the argument and say what was expected.
"""
import numbers
import operator

import numpy as np

from .contract import METHODS

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def data_array(name, a, ndims):
    """A C-contiguous float32/float64 NumPy array of one of the `ndims`, non-empty, finite."""
    if not isinstance(a, np.ndarray):
        if hasattr(a, "__cuda_array_interface__"):
            raise TypeError(f"{name} is a GPU array; fastgd's CPU path needs a NumPy array "
                            f"(the GPU target is not available in this build)")
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if isinstance(a, np.ma.MaskedArray):
        # the kernels would read the masked-out values: refuse rather than ignore the mask
        raise TypeError(f"{name} is a masked array; pass {name}.filled(...) or drop the "
                        f"masked rows (fastgd would read the hidden values)")
    layout(name, a.dtype, a.shape, a.flags.c_contiguous, ndims)
    finite(name, a)
    return a


FINITE_CHUNK = 1 << 22


def layout(name, dtype, shape, c_contiguous, ndims):
    """dtype float32/float64, one of `ndims` dimensions, non-empty, C-contiguous: the checks
    every data array gets, NumPy or CUDA."""
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {dtype}")
    if len(shape) not in ndims:
        want = " or ".join(f"{k}-d" for k in ndims)
        raise ValueError(f"{name} must be {want}, got shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name} must not be empty, got shape {shape}")
    if not c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name}) "
                         f"(fastgd never copies data silently)")


def finite(name, a):
    """Raise if `a` holds a NaN or Inf, without a temporary of a's size.

    A NaN or Inf makes the (pairwise, IEEE) sum non-finite, so a finite sum proves
    every element finite; only a non-finite sum (possibly plain overflow of large
    finite values) needs the exact element-wise check, done in bounded chunks.
    """
    if np.isfinite(np.sum(a)):
        return
    flat = a.reshape(-1) if a.flags.c_contiguous else a.ravel()
    for lo in range(0, flat.size, FINITE_CHUNK):
        if not np.isfinite(flat[lo:lo + FINITE_CHUNK]).all():
            raise ValueError(f"{name} contains NaN or Inf")


def same_dtype(name, a, ref_name, ref):
    if a.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but {ref_name} has {ref.dtype}; "
                        f"they must match (fastgd does not cast silently)")


def shape(name, a, expected, what=""):
    if a.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}{what}, got {a.shape}")


def binary_labels(name, y):
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(f"{name} must contain only labels 0 and 1")


def nonneg_real(name, v):
    """A finite real number >= 0, returned as float."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {v}")
    return v


def unit_interval(name, v):
    """A real number in [0, 1)."""
    v = nonneg_real(name, v)
    if v >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def count(name, v):
    """An integer >= 0."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}") from None
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def method(name, v):
    if not isinstance(v, str) or v not in METHODS:
        raise ValueError(f"{name} must be one of {sorted(METHODS)}, got {v!r}")
    return METHODS[v]


def choice(name, v, options):
    if v not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {v!r}")
    return v


def learning_rate(lr, batch, dtype):
    """lr: 'auto' -> None; a positive float -> (B,) array; a (B,) array of positive floats."""
    if isinstance(lr, str):
        if lr != "auto":
            raise ValueError(f"lr must be a positive number, an array of shape ({batch},) or "
                             f"'auto', got {lr!r}")
        return None
    if isinstance(lr, (bool, np.bool_)):
        raise TypeError("lr must be a positive number, got bool")
    if isinstance(lr, numbers.Real):
        lr = float(lr)
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {lr}")
        return np.full(batch, lr, np.float64)
    arr = np.asarray(lr)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"lr must be a real number or array, got dtype {arr.dtype}")
    if arr.shape not in ((batch,),) and not (batch == 1 and arr.ndim == 0):
        raise ValueError(f"lr array must have shape ({batch},) (one per problem), got {arr.shape}")
    arr = arr.astype(np.float64).reshape(batch)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError("lr must be finite and > 0 for every problem")
    return arr


def initial_point(x0, expected_shape, dtype, inplace):
    """x0 of the solution's shape and dtype; writable and contiguous when inplace."""
    if x0 is None:
        if inplace:
            raise ValueError("inplace=True needs x0: the buffer the solution is written into")
        return None
    if not isinstance(x0, np.ndarray):
        raise TypeError(f"x0 must be a numpy.ndarray, got {type(x0).__name__}")
    if x0.dtype != dtype:
        raise TypeError(f"x0 must have the dtype of X ({dtype}), got {x0.dtype}")
    shape("x0", x0, expected_shape, " (the solution's shape)")
    finite("x0", x0)
    if inplace:
        if not x0.flags.writeable:
            raise ValueError("x0 is read-only but inplace=True writes the solution into it")
        if not x0.flags.c_contiguous:
            raise ValueError("x0 must be C-contiguous when inplace=True")
    return x0


# ------------------------------------------------------------ fastgd.ops buffers
# The step ops run every training step: common valid inputs take short fast paths.
_INF = float("inf")


def small_nonneg(name, v):
    """nonneg_real with a fast path for plain floats."""
    if type(v) is float and 0 <= v < _INF:
        return v
    return nonneg_real(name, v)


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
def flag(name, v):
    """A bool (or numpy bool)."""
    if v is True or v is False:
        return v
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
    return bool(v)


def positive_real(name, v):
    """A finite real number > 0, returned as float."""
    if type(v) is float and 0 < v < _INF:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {v}")
    return v


def finite_real(name, v):
    """Any finite real number, returned as float."""
    if type(v) is float and -_INF < v < _INF:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def step_count(name, v):
    """The 1-based step number of an optimizer update: an integer >= 1."""
    if type(v) is int and v >= 1:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1 (1 on the first update), "
                        f"got {type(v).__name__}")
    v = int(v)
    if v < 1:
        raise ValueError(f"{name} must be >= 1 (1 on the first update), got {v}")
    return v


def betas(name, v):
    """A pair (beta1, beta2) of reals in [0, 1)."""
    if type(v) is tuple and len(v) == 2 and type(v[0]) is float and type(v[1]) is float \
            and 0 <= v[0] < 1 and 0 <= v[1] < 1:
        return v
    try:
        b1, b2 = v
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {v!r}") from None
    return unit_interval(f"{name}[0]", b1), unit_interval(f"{name}[1]", b2)


def kernel_array(name, a, ndims):
    """data_array without the NaN/Inf scan (a kernel's own input, read exactly once)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    layout(name, a.dtype, a.shape, a.flags.c_contiguous, ndims)
    return a


def out_array(name, a, expected_shape, dtype):
    """A writeable C-contiguous NumPy output buffer of the given shape and dtype."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {a.dtype}")
    shape(name, a, expected_shape)
    if not a.flags.writeable:
        raise ValueError(f"{name} is read-only; fastgd writes the result into it")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    return a


def no_overlap(named):
    """named: [(name, array)]; raise if any two share memory."""
    for i, (na, a) in enumerate(named):
        for nb, b in named[i + 1:]:
            if np.shares_memory(a, b):
                raise ValueError(f"{na} and {nb} share memory; they must be separate buffers")


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


def cuda_interface(a):
    """__cuda_array_interface__ of `a`, or None; numba's CUDA simulator arrays count too."""
    iface = getattr(a, "__cuda_array_interface__", None)
    if iface is not None:
        return iface
    import sys
    sim = sys.modules.get("numba.cuda.simulator.cudadrv.devicearray")
    if sim is not None and isinstance(a, sim.FakeCUDAArray):
        return a.__array_interface__
    return None


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


# ---------------------------------------------------------------- CUDA arrays
def is_cuda_array(a):
    """True for objects with __cuda_array_interface__ (numba device arrays, CuPy, torch CUDA)."""
    from ._device import is_cuda_array
    return is_cuda_array(a)


def _as_cuda(name, a):
    """A zero-copy numba view of a CUDA array (raises RuntimeError without a usable GPU)."""
    from . import _device
    _device.require_cuda()
    from numba import cuda
    if getattr(type(a), "__cuda_ndarray__", False):  # already a numba device array
        if type(a).__module__.startswith("numba.cuda.simulator"):
            from .gpu.checks import simulator_view
            return simulator_view(a)
        return a
    try:
        return cuda.as_cuda_array(a)
    except Exception as exc:
        raise TypeError(f"{name}: could not read its __cuda_array_interface__ ({exc})") from None


def cuda_data_array(name, a, ndims):
    """As data_array, for a CUDA array: returns a zero-copy numba device array.

    Checks dtype, shape, size and C-contiguity from the interface, and NaN/Inf with a
    small reduction kernel on the device.
    """
    arr = _as_cuda(name, a)
    layout(name, arr.dtype, arr.shape, arr.is_c_contiguous(), ndims)
    from .gpu.checks import has_nonfinite
    if has_nonfinite(arr):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def cuda_binary_labels(name, y):
    """binary_labels for a device array (a reduction kernel, no host copy)."""
    from .gpu.checks import has_nonbinary
    if has_nonbinary(y):
        raise ValueError(f"{name} must contain only labels 0 and 1")


def cuda_initial_point(x0, expected_shape, dtype, inplace):
    """initial_point for a CUDA x0: dtype, shape, C-contiguity (always: it is read in place),
    finite.  Returns x0 unchanged (the driver copies it unless inplace)."""
    arr = _as_cuda("x0", x0)
    if arr.dtype != dtype:
        raise TypeError(f"x0 must have the dtype of X ({dtype}), got {arr.dtype}")
    shape("x0", arr, expected_shape, " (the solution's shape)")
    if not arr.is_c_contiguous():
        raise ValueError("x0 must be C-contiguous")
    from .gpu.checks import has_nonfinite
    if has_nonfinite(arr):
        raise ValueError("x0 contains NaN or Inf")
    return x0


def same_device(name, a, ref_name, ref):
    """Both NumPy arrays or both CUDA arrays."""
    if is_cuda_array(a) != is_cuda_array(ref):
        where = lambda v: "a GPU array" if is_cuda_array(v) else "a NumPy array"  # noqa: E731
        raise ValueError(f"{name} is {where(a)} but {ref_name} is {where(ref)}; "
                         f"they must live on the same device")
