"""Checks of a scipy.sparse CSR design matrix X (one problem, CPU).

Nothing here imports scipy: a sparse X is recognised by its type's module, so ``import
fastgd`` stays light and scipy is needed only by the caller who passes one.  Every check
runs before any buffer is written; the only copy ever made is the documented one of a
matrix whose column indices are unsorted within a row (``X.sorted_indices()``).
"""
import numpy as np

from .arrays import FLOAT_DTYPES

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def is_sparse(a):
    """Whether `a` is a scipy.sparse (or cupyx.scipy.sparse) matrix or array."""
    mod = type(a).__module__ or ""
    return mod.startswith(("scipy.sparse", "cupyx.scipy.sparse"))


def _rows_ordered(indices, indptr):
    """(sorted, no duplicates) of the column indices within every row (vectorised,
    O(nnz) temporaries)."""
    nnz = indices.shape[0]
    if nnz < 2:
        return True, True
    step = np.diff(indices.astype(np.int64, copy=False))
    # the step from the last entry of a row to the first of the next does not count
    starts = indptr[1:-1].astype(np.int64)
    starts = starts[(starts > 0) & (starts < nnz)]
    inside = np.ones(nnz - 1, bool)
    inside[starts - 1] = False
    return not (inside & (step < 0)).any(), not (inside & (step == 0)).any()


def csr_matrix(name, X):
    """A validated CSR X: returns (X or its sorted copy, data, indices, indptr).

    X: ``scipy.sparse.csr_matrix`` / ``csr_array`` of shape (n, d), n, d >= 1, data
    float32/float64 (finite), indices/indptr int32 or int64 (the same one), indptr
    non-decreasing from 0 to nnz, column indices in [0, d) with no duplicates within a
    row.  Unsorted column indices: a sorted copy (X itself is never modified).
    """
    mod = type(X).__module__ or ""
    if mod.startswith("cupyx"):
        raise TypeError(f"{name} is a cupyx.scipy.sparse matrix: CSR X on the GPU is not "
                        f"supported; pass a scipy.sparse CSR matrix (X.get()) and "
                        f"device='cpu', or a dense CUDA array")
    fmt = getattr(X, "format", None)
    if fmt != "csr":
        raise TypeError(f"{name} must be a scipy.sparse CSR matrix or array (csr_matrix, "
                        f"csr_array), got {type(X).__name__} (format {fmt!r}); convert it "
                        f"with {name}.tocsr()")
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-d (one problem), got shape {shape}")
    n, d = shape
    if n == 0 or d == 0:
        raise ValueError(f"{name} must not be empty, got shape {shape}")
    data, indices, indptr = X.data, X.indices, X.indptr
    if data.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}.data must have dtype float32 or float64, got {data.dtype}; "
                        f"convert with {name}.astype(np.float64)")
    if indices.dtype not in INDEX_DTYPES or indptr.dtype != indices.dtype:
        raise TypeError(f"{name}.indices and {name}.indptr must both be int32 or int64, got "
                        f"{indices.dtype} and {indptr.dtype}")
    nnz = data.shape[0]
    if (data.ndim != 1 or indices.shape != (nnz,) or indptr.shape != (n + 1,)
            or int(indptr[0]) != 0 or int(indptr[-1]) != nnz):
        raise ValueError(f"{name} is not a consistent CSR matrix: data {data.shape}, indices "
                         f"{indices.shape}, indptr {indptr.shape} (expected ({n + 1},) from 0 "
                         f"to nnz={nnz})")
    if (np.diff(indptr) < 0).any():
        raise ValueError(f"{name}.indptr must be non-decreasing")
    if nnz and (int(indices.min()) < 0 or int(indices.max()) >= d):
        raise ValueError(f"{name}.indices must lie in [0, {d}), got "
                         f"[{int(indices.min())}, {int(indices.max())}]")
    if not np.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or Inf")
    ordered, unique = _rows_ordered(indices, indptr)
    if not ordered:
        X = X.sorted_indices()  # the documented copy: the kernels need sorted rows
        data, indices, indptr = X.data, X.indices, X.indptr
        ordered, unique = _rows_ordered(indices, indptr)
    if not unique:
        raise ValueError(f"{name} has duplicate column indices within a row; sum them first "
                         f"with {name}.sum_duplicates() (on a copy if {name} is shared)")
    for a in (data, indices, indptr):
        if not a.flags.c_contiguous:
            raise ValueError(f"{name}'s arrays must be C-contiguous")
    return X, data, indices, indptr


def csr_range(X, data, y):
    """Finite y and products of stored entries of X with X and y inside the dtype's range
    (validate.data_range for a CSR X: the sums run over the n rows, d columns)."""
    from .arrays import finite, products_in_range
    finite("y", y)
    n, d = X.shape
    xmax = float(np.abs(data).max()) if data.shape[0] else 0.0
    products_in_range(xmax, float(np.abs(y).max()), n, d, data.dtype)
