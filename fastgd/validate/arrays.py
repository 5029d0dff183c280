"""Checks of NumPy data arrays, initial points and output buffers (minimize, problems,
the gradient ops).  All run before any kernel is called or any buffer written."""
import numpy as np

from .. import config
from .._device import is_cuda_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def not_masked(name, a):
    """Refuse a numpy.ma.MaskedArray: the kernels would read the masked-out values (and a
    masked NaN would pass the finite check)."""
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array; pass {name}.filled(...) or drop the "
                        f"masked entries (fastgd would read the hidden values)")


def data_array(name, a, ndims):
    """A C-contiguous float32/float64 NumPy array of one of the `ndims`, non-empty, finite."""
    if not isinstance(a, np.ndarray):
        if is_cuda_array(a):
            raise TypeError(f"{name} is a GPU array; fastgd's CPU path needs a NumPy array "
                            f"(the GPU target is not available in this build)")
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    not_masked(name, a)
    layout(name, a.dtype, a.shape, a.flags.c_contiguous, ndims)
    finite(name, a)
    return a




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
    step = config.FINITE_CHUNK
    for lo in range(0, flat.size, step):
        if not np.isfinite(flat[lo:lo + step]).all():
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


def initial_point(x0, expected_shape, dtype, inplace):
    """x0 of the solution's shape and dtype; writable and contiguous when inplace."""
    if x0 is None:
        if inplace:
            raise ValueError("inplace=True needs x0: the buffer the solution is written into")
        return None
    if not isinstance(x0, np.ndarray):
        raise TypeError(f"x0 must be a numpy.ndarray, got {type(x0).__name__}")
    not_masked("x0", x0)
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


def kernel_array(name, a, ndims):
    """data_array without the NaN/Inf scan (a kernel's own input, read exactly once)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    not_masked(name, a)
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
