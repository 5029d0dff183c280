"""fastgd: compiled, batched gradient descent (Numba CPU kernels, numba-cuda GPU kernels).

Import compiles nothing: kernels compile on first use and are cached on disk.
"""
from . import ops, problems, runtime
from .api import minimize
from .gradcheck import check_grad
from .objective import Objective, multistart
from .problems import Huber, LeastSquares, Logistic, Poisson, RowLoss, Softmax
from .result import Result, Status
from .sweep import sweep_lr

runtime.choose_threading_layer()  # a config value only: nothing starts or compiles

__all__ = ["minimize", "sweep_lr", "Result", "Status", "LeastSquares", "Logistic", "Huber",
           "Poisson", "Softmax", "RowLoss", "Objective", "multistart", "check_grad", "problems",
           "ops", "plot"]
__version__ = "0.1.0"


def __getattr__(name):
    # fastgd.plot / fastgd.progress on first use (plot imports matplotlib only when drawing)
    if name in ("plot", "progress"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
