"""fastgd: compiled, batched gradient descent (Numba CPU kernels; CUDA later).

Import compiles nothing: kernels compile on first use and are cached on disk.
"""
from . import ops, problems
from .api import minimize
from .gradcheck import check_grad
from .problems import Huber, LeastSquares, Logistic, Poisson, RowLoss, Softmax
from .result import Result, Status

__all__ = ["minimize", "Result", "Status", "LeastSquares", "Logistic", "Huber", "Poisson",
           "Softmax", "RowLoss", "check_grad", "problems", "ops"]
__version__ = "0.1.0"
