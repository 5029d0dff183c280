"""Checks of a batch over one shared design matrix: X (n, d) with y (B, n), and the
per-problem l2 of shape (B,) (docs/problems.md, "One X, many problems")."""
import numbers

import numpy as np

from .arrays import fits_dtype, not_masked
from .scalars import nonneg_real

CUDA_SHARED_X = ("a shared X (X (n, d) with y (B, n)) and l2 of shape (B,) are solved on the "
                 "CPU only; on device='cuda' pass X (B, n, d) and one l2")


def target_shape(y, X_shape, on_gpu):
    """y (n,) or (B, n) for X (n, d) -- (B, n) is a batch of B problems sharing X --, and
    (B, n) for X (B, n, d).  Returns the batch size, or None for a single problem."""
    if len(X_shape) == 3:
        want = X_shape[:-1]
        if y.shape != want:
            raise ValueError(f"y must have shape {want} (X.shape[:-1]), got {y.shape}")
        return X_shape[0]
    n = X_shape[0]
    if y.shape == (n,):
        return None
    if y.ndim == 2 and y.shape[1] == n:
        if on_gpu:
            raise ValueError(CUDA_SHARED_X)
        return y.shape[0]
    raise ValueError(f"y must have shape ({n},) (X.shape[:-1]) or (B, {n}) (B problems "
                     f"sharing X), got {y.shape}")


def l2_values(l2, batch, dtype):
    """l2: a real number >= 0 (every problem), or for a batch of `batch` problems an array
    of shape (batch,) of them (one per problem: a regularisation path).  Returns a float or
    a (batch,) float64 array (a copy), each value finite in `dtype`."""
    if isinstance(l2, np.ndarray) and l2.ndim == 0:
        l2 = l2[()]
    if isinstance(l2, (numbers.Real, bool, np.bool_)) or not hasattr(l2, "__len__"):
        return fits_dtype("l2", nonneg_real("l2", l2), dtype)
    not_masked("l2", l2)
    a = np.asarray(l2)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"l2 must be a real number or a real array, got dtype {a.dtype}")
    if batch is None:  # (as before batches took an l2 array)
        raise TypeError(f"l2 must be a real number for a single problem, got an array of "
                        f"shape {a.shape}")
    if a.shape != (batch,):
        raise ValueError(f"l2 must be a number or an array of shape ({batch},) (one per "
                         f"problem), got shape {a.shape}")
    a = a.astype(np.float64)
    if not (np.isfinite(a).all() and (a >= 0).all()):
        raise ValueError("l2 must be finite and >= 0 for every problem")
    fits_dtype("l2", float(a.max()), dtype)
    return a
