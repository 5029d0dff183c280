"""A scipy.sparse CSR X for one problem of the row-loss family (CPU; docs/sparse.md).

A problem built with a CSR X keeps it as given (``problem.X``; a sorted copy when its
column indices are unsorted within a row) and hands the kernels its three arrays
(``problem.csr``); nothing densifies it.  The solve runs fastgd/cpu/csr.py's driver
(fastgd/cpu/backend_csr.py).  scipy is never imported here: a CSR X is recognised by its
type (validate/sparse.py), so only a caller who passes one needs scipy.
"""
import numpy as np

from . import validate
from .validate import sparse as vsparse

CUDA_CSR = ("a CSR X is solved on the CPU only (device='cpu'); for the GPU pass a dense "
            "CUDA array")


def init_problem(problem, X, y, l2, fit_intercept, sample_weight):
    """Problem.__init__ for a sparse X: validate X, y, l2, the weights; set the fields."""
    X, data, indices, indptr = vsparse.csr_matrix("X", X)
    n = X.shape[0]
    if validate.is_cuda_array(y):
        raise TypeError(f"y is a GPU array but X is a CSR matrix on the host: {CUDA_CSR}")
    y = validate.target_array("y", y, data.dtype)
    y = validate.data_array("y", y, (1,), check_finite=False)
    if y.dtype != data.dtype:
        raise TypeError(f"y has dtype {y.dtype} but X.data has {data.dtype}; they must match "
                        f"(fastgd does not cast silently)")
    validate.shape("y", y, (n,), " (X.shape[0]; a CSR X is one problem)")
    vsparse.csr_range(X, data, y)
    problem._l2 = validate.fits_dtype("l2", validate.nonneg_real("l2", l2), data.dtype)
    problem._sample_weight, problem._sw_kernel = validate.sample_weight(
        sample_weight, n, None, data.dtype)
    problem._fit_intercept = fit_intercept
    problem._X = X
    problem._y = y
    problem._csr = (data, indices, indptr)
    problem._check_labels(y)


def solve_mode(mode, device):
    """The mode of a CSR solve ('direct': its row pass); refuses 'gram' and the GPU."""
    validate.choice("mode", mode, ("auto", "direct", "gram"))
    if mode == "gram":
        raise ValueError("mode='gram' is for a dense X only; a CSR X runs mode='direct' "
                         "(or 'auto')")
    if device == "cuda":
        raise ValueError(CUDA_CSR)
    return "direct"


def as_float64(X):
    """X with float64 data, still sparse (for the float64 reference checks)."""
    return X.astype(np.float64)
