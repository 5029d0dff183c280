"""What a user hands over as data, turned into the NumPy arrays the checks expect.

Array-likes (pandas Series/DataFrame, xarray, anything with ``__array__``) are taken only
as a view of their own memory: fastgd never copies a design matrix silently.  Targets may
be integer or boolean (class labels, counts): they are converted to X's dtype, a copy of
n values, O(1/d) of X.
"""
import numpy as np

from .._device import is_cuda_array
from .arrays import FLOAT_DTYPES


def _kind(a):
    return type(a).__module__.split(".")[0] + "." + type(a).__name__


def _is_array_like(a):
    if isinstance(a, np.ndarray) or is_cuda_array(a):
        return False
    if hasattr(a, "tocsr") or hasattr(a, "format") and hasattr(a, "indptr"):
        return False  # scipy.sparse: checked where sparse input is accepted
    return hasattr(a, "__array__") or hasattr(a, "to_numpy")


def _view(a):
    return np.asarray(a.to_numpy() if hasattr(a, "to_numpy") else a)


def array_view(name, a):
    """`a` itself when it is a NumPy (or CUDA) array; for an array-like (a pandas
    DataFrame/Series, ...), the NumPy view of its memory when one exists without a copy.

    A view that is not C-contiguous float32/float64 (a DataFrame's values are usually
    column-major) or an array-like that converts only by a copy (mixed column dtypes)
    raises a ValueError/TypeError whose fix is one line.
    """
    if not _is_array_like(a):
        return a
    fix = f"pass np.ascontiguousarray({name}, dtype=np.float64)"
    try:
        v = _view(a)
        shared = np.shares_memory(v, _view(a))  # a fresh copy per conversion shares nothing
    except Exception as e:  # noqa: BLE001 - an array-like that cannot convert
        raise TypeError(f"{name} ({_kind(a)}) does not convert to a NumPy array: {e}") from e
    if v.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} ({_kind(a)}) holds dtype {v.dtype}, not float32/float64; "
                        f"{fix} (a copy; fastgd never copies data silently)")
    if not shared:
        raise ValueError(f"{name} ({_kind(a)}) converts to NumPy only by a copy (its columns "
                         f"are stored apart or differ in dtype); {fix} (fastgd never copies data silently)")
    if not v.flags.c_contiguous:
        raise ValueError(f"{name} ({_kind(a)}) is not C-contiguous (a DataFrame stores its "
                         f"columns, so its rows are strided); {fix} (one copy, made by you: "
                         f"fastgd never copies data silently)")
    return v


def target_array(name, y, dtype):
    """y as the NumPy targets of a problem with data of `dtype`: an array-like is taken as
    a view (array_view); integer or boolean targets (labels, counts) become a copy in
    `dtype`, refused when a value is not exactly representable there (|y| > 2**24 in
    float32).  Anything else is returned for the usual checks."""
    if is_cuda_array(y):
        return y
    if _is_array_like(y):
        try:
            v = _view(y)
        except Exception as e:  # noqa: BLE001
            raise TypeError(f"{name} ({_kind(y)}) does not convert to a NumPy array: "
                            f"{e}") from e
        y = v if v.dtype.kind in "biu" else array_view(name, y)
    if isinstance(y, np.ndarray) and y.dtype.kind in "biu" and y.size:
        dtype = np.dtype(dtype)
        exact = 2 ** (np.finfo(dtype).nmant + 1)
        if y.dtype.kind != "b" and np.abs(y).max() > exact:
            raise ValueError(f"{name} holds integers up to {np.abs(y).max()}, not exact in "
                             f"{dtype} (X's dtype; exact up to {exact}): pass float64 X and y")
        y = np.ascontiguousarray(y, dtype=dtype)
    return y
