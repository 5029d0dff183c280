"""Problems: validated data plus the per-row loss the drivers evaluate.

Every problem is ``f(w) = mean_i phi(x_i.w, y_i) + l2/2 ||w||^2`` for one
per-row loss ``phi`` (see fastgd.losses).  X is (n, d) for one problem or
(B, n, d) for a batch of B independent problems; y is (n,) or (B, n).
"""
import numpy as np

from . import _codes, validate


class Problem:
    """Base of the per-row loss family.  Arrays are validated once, here."""

    loss_code = None      # built-in loss code of fastgd._codes
    curvature = 1.0       # sup phi'' (for lr="auto": L = curvature * lambda_max(X^T X / n) + l2)
    quadratic = False     # True when mode="gram" applies (phi quadratic in z)
    loss_param = 0.0      # a loss parameter (Huber's delta)

    def __init__(self, X, y, *, l2=0.0):
        # CUDA arrays (__cuda_array_interface__) become zero-copy numba device arrays
        check = validate.cuda_data_array if validate.is_cuda_array(X) else validate.data_array
        X = check("X", X, (2, 3))
        check = validate.cuda_data_array if validate.is_cuda_array(y) else validate.data_array
        y = check("y", y, (1, 2))
        validate.same_device("y", y, "X", X)
        validate.same_dtype("y", y, "X", X)
        validate.shape("y", y, X.shape[:-1], " (X.shape[:-1])")
        self.l2 = validate.nonneg_real("l2", l2)
        self.X = X
        self.y = y
        self._check_labels(y)

    def _check_labels(self, y):
        pass

    @property
    def batched(self):
        return self.X.ndim == 3

    @property
    def batch_size(self):
        return self.X.shape[0] if self.batched else 1

    @property
    def n(self):
        return self.X.shape[-2]

    @property
    def d(self):
        return self.X.shape[-1]

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def solution_shape(self):
        return (self.X.shape[0], self.d) if self.batched else (self.d,)

    def kernels(self):
        """The CPU driver module for this problem's loss."""
        from .cpu import solve
        return solve

    def __repr__(self):
        shape = "x".join(map(str, self.X.shape))
        return f"{type(self).__name__}(X: {shape} {self.dtype}, l2={self.l2:g})"


class LeastSquares(Problem):
    """f(w) = ||X w - y||^2 / (2 n) + l2/2 ||w||^2; gradient X^T (X w - y) / n + l2 w."""

    loss_code = _codes.LSQ
    curvature = 1.0
    quadratic = True


class Logistic(Problem):
    """f(w) = mean_i log(1 + exp(-s_i x_i.w)) + l2/2 ||w||^2, s_i = 2 y_i - 1, y in {0, 1}.

    Computed as max(-m, 0) + log1p(exp(-|m|)): no overflow for any margin m.
    """

    loss_code = _codes.LOGISTIC
    curvature = 0.25

    def _check_labels(self, y):
        if validate.is_cuda_array(y):
            validate.cuda_binary_labels("y", y)
        else:
            validate.binary_labels("y", y)
