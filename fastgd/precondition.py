"""minimize(precondition="diag"): gradient descent in implicitly rescaled columns.

The drivers iterate on v, and the model's variables are w = T v (never a rescaled copy of
X: each evaluation maps its trial point, fastgd/cpu/precondition.py):

    w_jc = c_j v_jc                          coefficients (c: one output per row, k > 1: Softmax)
    b_c  = v_b,c - sum_j mu_j w_jc           intercepts (fit_intercept=True)

The loss in v is f(T v), its gradient T^T grad f(T v): gradient descent there is gradient
descent on the columns (x_ij - mu_j) c_j, with the intercept absorbing the shift.  With
weights s_i normalised to mean 1 (all ones without sample_weight):

- without an intercept, mu_j = 0 and c_j = 1 / sqrt(mean_i s_i x_ij^2);
- with an intercept, mu_j = mean_i s_i x_ij and c_j = 1 / sqrt(mean_i s_i (x_ij - mu_j)^2),
  the same rescaling of the centred column: scaling alone leaves the columns' means, and a
  column with mean >> spread (a year, a price level) is then nearly parallel to the
  intercept (NIST's Longley data: condition number 2e9 scaled, 1e4 centred and scaled);
- a column whose spread is within rounding of its mean (std_j <= centre_ratio(dtype)
  rms_j, a constant column included) is not centred; an all-zero column gets c_j = 1.

This module computes T from the data (float64, a pass over X in row blocks of bounded size,
two with an intercept; no copy of X) and maps x0 into v and the iterates back.
"""
import numpy as np

from . import config, contract


def centre_ratio(dtype):
    """Below this std_j / rms_j a column is not centred: its centred values would be mostly
    the rounding of X's dtype (relative noise eps rms / std in every gradient)."""
    return max(1e-6, 1e3 * float(np.finfo(dtype).eps))


def none_array():
    """P of a solve without preconditioning: (1, PRE_ROWS, 0) float64."""
    return np.zeros((1, contract.PRE_ROWS, 0), np.float64)


def transform(problem):
    """P (rows, PRE_ROWS, d) float64 of the problem (see the module docstring): rows = B for
    a batch, 1 for a single problem.  Scales in P[:, PRE_SCALE], shifts in P[:, PRE_SHIFT].

    A shared X (X (n, d), y (B, n)): its column moments are computed once (one pass over X
    for all B problems; per problem only with weights (B, n)), and rows = 1 -- one P for the
    batch -- unless the weights or l2 (B,) differ per problem: each problem's P is then that
    of its own single solve (its weights' moments, its l2 in the scale)."""
    X = problem.X
    S = problem.kernel_weights()  # (1 or B, n) scaled to sum n, or (1, 0)
    s = None if S.shape[1] == 0 else S
    if _is_sparse(X):
        mean, msq, var = _sparse_moments(X, None if s is None else s[0], problem.fit_intercept)
    else:
        mean, msq, var = _dense_moments(X if X.ndim == 3 else X[None], s, problem.fit_intercept)
    l2 = np.asarray(problem.l2, np.float64).reshape(-1)  # (1,) or (B,)
    return _assemble(mean, msq, var, problem.fit_intercept, X.dtype, l2)


def _assemble(mean, msq, var, inter, dtype, l2=0.0):
    """P from the per-problem column moments (1 or B, d): mean, mean square, centred
    variance, and l2 (a float, (1,) or (B,)).  With l2 > 0 the scale is 1/sqrt(moment + l2):
    the diagonal of the penalised least-squares Hessian (else a tiny column's penalty
    l2 c_j^2 dominates the curvature in v).  Rows: the moments' or l2's, whichever is B."""
    l2 = np.asarray(l2, np.float64).reshape(-1, 1)
    rows = max(mean.shape[0], l2.shape[0])
    mean, msq, var = (np.broadcast_to(a, (rows, a.shape[1])) for a in (mean, msq, var))
    rms = np.sqrt(msq)
    P = np.zeros((rows, contract.PRE_ROWS, mean.shape[1]), np.float64)
    scale = rms
    if inter:
        std = np.sqrt(np.maximum(var, 0.0))
        centred = std > centre_ratio(dtype) * rms
        scale = np.where(centred, std, rms)
        P[:, contract.PRE_SHIFT] = np.where(centred, mean, 0.0)
    scale = np.sqrt(scale * scale + l2)
    with np.errstate(divide="ignore"):
        P[:, contract.PRE_SCALE] = np.where(scale > 0, 1.0 / scale, 1.0)
    bad = ~np.isfinite(P[:, contract.PRE_SCALE])  # a scale past float64's range: leave it
    P[:, contract.PRE_SCALE][bad] = 1.0
    return P


def _row_step(B, d):
    return max(1, config.PRECONDITION_BLOCK_ELEMENTS // max(1, B * d))


def _dense_moments(X, s, inter):
    """(mean, mean square, centred variance) (B, d) float64 of X (B or 1, n, d) with weights
    s (1 or B, n) of mean 1 or None (X (1, n, d) with s (B, n): a shared X, per-problem
    weights); row blocks of config.PRECONDITION_BLOCK_ELEMENTS elements cast to float64 at a
    time.  The variance (a second pass) only with `inter`."""
    _, n, d = X.shape
    B = max(X.shape[0], 1 if s is None else s.shape[0])
    step = _row_step(B, d)
    w = None if s is None else np.asarray(s, np.float64)
    total = np.zeros((B, d))
    squares = np.zeros((B, d))
    for i0 in range(0, n, step):
        blk = np.asarray(X[:, i0:i0 + step], np.float64)
        wb = blk if w is None else blk * w[:, i0:i0 + step, None]
        total += wb.sum(axis=1)
        squares += (wb * blk).sum(axis=1)
    mean, msq = total / n, squares / n
    var = np.zeros((B, d))
    if inter:
        for i0 in range(0, n, step):
            dev = np.asarray(X[:, i0:i0 + step], np.float64) - mean[:, None, :]
            sq = dev * dev
            if w is not None:
                sq *= w[:, i0:i0 + step, None]
            var += sq.sum(axis=1)
        var /= n
    return mean, msq, var


def _is_sparse(X):
    return hasattr(X, "indptr") and hasattr(X, "indices")


def _sparse_moments(X, s, inter):
    """_dense_moments of a CSR X (n, d) (one problem), from its stored entries in row
    blocks; the variance as mean square - mean^2 (the centring threshold, centre_ratio,
    keeps its cancellation harmless)."""
    n, d = X.shape
    step = _row_step(1, d)
    total = np.zeros(d)
    squares = np.zeros(d)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        lo, hi = X.indptr[i0], X.indptr[i1]
        vals = np.asarray(X.data[lo:hi], np.float64)
        cols = X.indices[lo:hi]
        if s is not None:
            rows = np.repeat(np.arange(i0, i1), np.diff(X.indptr[i0:i1 + 1]))
            wv = vals * np.asarray(s, np.float64)[rows]
        else:
            wv = vals
        total += np.bincount(cols, weights=wv, minlength=d)
        squares += np.bincount(cols, weights=wv * vals, minlength=d)
    mean, msq = total / n, squares / n
    var = msq - mean * mean if inter else np.zeros(d)
    return mean[None], msq[None], var[None]


# ------------------------------------------------------------------ v <-> original variables
def _split(W, d, k):
    """Views of W (B, m): coefficients (B, d, k) and intercepts (B, k) or None."""
    coef = W[:, :d * k].reshape(W.shape[0], d, k)
    inter = W[:, d * k:] if W.shape[1] > d * k else None
    return coef, inter


def to_rescaled(P, W, d, k):
    """W (B, m) in the original variables -> v = T^{-1} W, in place (x0 and intercept0
    into the drivers' variables).  P (1 or B, PRE_ROWS, d)."""
    coef, inter = _split(W, d, k)
    c = P[:, contract.PRE_SCALE, :, None]
    if inter is not None:
        mu = P[:, contract.PRE_SHIFT]
        inter[...] = inter + np.einsum("bj,bjk->bk", np.broadcast_to(mu, coef.shape[:2]),
                                       np.asarray(coef, np.float64))
    coef[...] = np.asarray(coef, np.float64) / c


def to_original(P, V, d, k):
    """A copy of V (B, m) in the drivers' variables v mapped to w = T v (same dtype): the
    NumPy twin of fastgd/cpu/precondition.to_original, for iterates handed to the user."""
    W = np.empty_like(V)
    coef_v, inter_v = _split(V, d, k)
    coef, inter = _split(W, d, k)
    coef[...] = np.asarray(coef_v, np.float64) * P[:, contract.PRE_SCALE, :, None]
    if inter_v is not None:
        mu = P[:, contract.PRE_SHIFT]
        inter[...] = np.asarray(inter_v, np.float64) - np.einsum(
            "bj,bjk->bk", np.broadcast_to(mu, coef.shape[:2]), np.asarray(coef, np.float64))
    return W


# ------------------------------------------------------------------ the option
def checked(value, problem, device):
    """minimize's precondition= validated: None or "diag" (ValueError otherwise, and for a
    problem or device that cannot run it).  `problem` is the fastgd problem (an Objective
    was turned into its starts already: ``problem.loss_code == OWN_KERNELS`` without X
    rows), `device` the resolved target."""
    if not (value is None or (isinstance(value, str) and value in contract.PRECONDITIONS)):
        raise ValueError(f"precondition must be None or 'diag', got {value!r}")
    if value is None:
        return None
    if problem.X.shape[-2] == 0 or getattr(problem, "objective", None) is not None:
        raise ValueError("precondition='diag' rescales the columns of X: a fastgd.Objective "
                         "has none; pass precondition=None")
    if device == "cuda":
        raise ValueError("precondition='diag' runs on the CPU only: pass device='cpu' with "
                         "NumPy arrays, or precondition=None on device='cuda'")
    return value
