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


def data_array(name, a, ndims, check_finite=True):
    """A C-contiguous float32/float64 NumPy array of one of the `ndims`, non-empty, finite
    (check_finite=False: the caller checks that itself, e.g. with data_range)."""
    if not isinstance(a, np.ndarray):
        if is_cuda_array(a):
            raise TypeError(f"{name} is a GPU array; fastgd's CPU path needs a NumPy array "
                            f"(the GPU target is not available in this build)")
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    not_masked(name, a)
    layout(name, a.dtype, a.shape, a.flags.c_contiguous, ndims)
    if check_finite:
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


def _chunks(a):
    flat = a.reshape(-1)
    step = config.FINITE_CHUNK
    for lo in range(0, flat.size, step):
        yield flat[lo:lo + step]


def data_range(X, y):
    """Finite X and y whose products stay inside their dtype's range; X C-contiguous.

    The kernels sum products of two entries of X (X^T X v, the Gram form) and of an entry
    of X with a residual (X^T (X w - y), at w = 0 X^T y) in X's dtype, over the n rows
    and d columns of a problem: float32 data near 1e18 overflow there and the problem
    stops DIVERGED at iteration 0 on valid-looking data.  So max|X| max(|X|, |y|) 4 n d
    must stay below the dtype's max (float32: about 1e16 for n d = 1e6, far beyond real
    data; float64: 1e150).

    One pass over X, as the finite check alone costs: s = X.X (a dot product) is finite
    exactly when every entry is finite and no square overflows, and s >= max|X|^2 (a sum
    of non-negative terms rounds monotonically).  Only when that bound is too weak are
    the exact maxima computed, in chunks (no temporary of X's size).
    """
    flat = X.reshape(-1)
    n, d = X.shape[-2:]
    big = float(np.finfo(X.dtype).max) / (4.0 * n * d)
    with np.errstate(over="ignore", invalid="ignore"):
        ss = float(np.dot(flat, flat))
    if not np.isfinite(ss):
        finite("X", X)
    finite("y", y)
    ymax = float(np.abs(y).max())
    xmax = np.sqrt(ss)
    if not (ss <= big and xmax * ymax <= big):
        xmax = max(float(np.abs(c).max()) for c in _chunks(X))
    products_in_range(xmax, ymax, n, d, X.dtype)


def products_in_range(xmax, ymax, n, d, dtype):
    """Raise unless max|X| max(|X|, |y|) 4 n d stays below the dtype's max (the kernels
    sum n x d products of two entries)."""
    big = float(np.finfo(dtype).max) / (4.0 * n * d)
    limit = (f"{dtype} (its max is {np.finfo(dtype).max:.3g}; the kernels sum "
             f"{n} x {d} of them)")
    if xmax * xmax > big:
        raise ValueError(f"X holds entries up to {xmax:.3g}: products of two of them overflow "
                         f"{limit}; rescale X, or use float64 data")
    if xmax * ymax > big:
        raise ValueError(f"y holds entries up to {ymax:.3g} and X up to {xmax:.3g}: their "
                         f"products overflow {limit}; rescale y, or use float64 data")


def fits_dtype(name, v, dtype):
    """A float hyper-parameter packed into the data's dtype must stay finite there
    (l2=1e39 is inf in float32)."""
    big = float(np.finfo(dtype).max)
    if abs(v) > big:
        raise ValueError(f"{name}={v:g} overflows {np.dtype(dtype)}, the dtype of X (max "
                         f"{big:.3g}); use float64 data or a smaller {name}")
    return v


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


CUDA_REAL_DATA = "fit_intercept/sample_weight are not supported on device='cuda' yet"


def sample_weight(sw, n, batch, dtype):
    """sample_weight=: None, or a real array (n,) or, for a batch of `batch` problems,
    (batch, n); finite, >= 0, not all zero within a problem.  Returns (weights, kernel):
    the weights in `dtype` (a copy, the shape given) and the kernel's (1 or batch, n)
    array of them scaled to sum n per problem (so that sum_i s_i phi_i / n is the
    weighted mean), or (None, None)."""
    if sw is None:
        return None, None
    if is_cuda_array(sw):
        raise ValueError(f"sample_weight is a GPU array: {CUDA_REAL_DATA}")
    not_masked("sample_weight", sw)
    a = np.asarray(sw)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"sample_weight must be a real (float or integer) array, got dtype "
                        f"{a.dtype}")
    shapes = [(n,)] + ([(batch, n)] if batch is not None else [])
    if a.shape not in shapes:
        want = " or ".join(str(s) for s in shapes)
        raise ValueError(f"sample_weight must have shape {want} (one weight per row of X), "
                         f"got {a.shape}")
    a64 = a.astype(np.float64)
    if not np.isfinite(a64).all():
        raise ValueError("sample_weight contains NaN or Inf")
    if (a64 < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got a minimum of {a64.min():g}")
    rows = a64.reshape(-1, n)
    top = rows.max(axis=1)
    if (top == 0).any():
        k = int(np.argmax(top == 0))
        where = f" for problem {k}" if a.ndim == 2 else ""
        raise ValueError(f"sample_weight must not be all zero{where} (the weighted mean "
                         f"would be undefined)")
    scaled = rows / top[:, None]     # in (0, 1]: the sum cannot overflow
    scaled *= n / scaled.sum(axis=1)[:, None]
    kernel = np.ascontiguousarray(scaled, dtype=dtype)
    with np.errstate(over="ignore"):
        weights = a64.astype(dtype)
    if not np.isfinite(weights).all():
        weights = None  # (only reported back) the scaled weights are what is solved
    return (weights if weights is not None else a64), kernel


def intercept_start(intercept0, expected_shape, dtype):
    """intercept0=: None (zeros), or a real scalar/array of the intercept's shape, finite and
    inside `dtype`'s range.  Returns a float64 array of that shape, or None."""
    if intercept0 is None:
        return None
    if is_cuda_array(intercept0):
        raise ValueError(f"intercept0 is a GPU array: {CUDA_REAL_DATA}")
    not_masked("intercept0", intercept0)
    a = np.asarray(intercept0)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"intercept0 must be a real scalar or array, got dtype {a.dtype}")
    shape("intercept0", a, expected_shape, " (the intercept's shape)")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("intercept0 contains NaN or Inf")
    big = float(np.finfo(dtype).max)
    if a.size and np.abs(a).max() > big:
        raise ValueError(f"intercept0 overflows {np.dtype(dtype)}, the dtype of X")
    return a
