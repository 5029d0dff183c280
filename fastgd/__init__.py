"""fastgd: compiled, batched gradient descent (Numba CPU kernels; CUDA later).

Import compiles nothing: kernels compile on first use and are cached on disk.
"""
from . import ops, problems
from .api import minimize
from .problems import LeastSquares, Logistic
from .result import Result, Status

__all__ = ["minimize", "Result", "Status", "LeastSquares", "Logistic", "problems", "ops"]
__version__ = "0.1.0"
