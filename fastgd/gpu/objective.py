"""A user's smooth objective (fastgd.Objective) on the GPU.

The batch kernel of fastgd/gpu/solve.py, copied with its evaluation hook
``block_evaluate`` bound to the objective's: thread 0 of a problem's block calls the
user's ``fun(w, *args)`` and ``grad(w, *args, g)``, compiled as CUDA device functions
from the same Python source as on the CPU, and the block shares the value.  Everything
else (the skeleton's start_tail / after, the decisions, the update rules) is the batch
kernel's own: the same iteration on both targets.  Compiled on the first launch per
dtype and kept for the process (user code is not cached on disk).
"""
import types

from numba import cuda

from . import solve

_HOOK_SOURCE = """
def evaluate(mode, code, X, y, A, b, c, w, g, R, sh, shr, acc, hp):
    cuda.syncthreads()
    if cuda.threadIdx.x == 0:
        sh[0] = fun(w{args})
        grad(w{args}, g)
    cuda.syncthreads()
    f = sh[0]
    cuda.syncthreads()
    return f
"""


def python_function(f, name):
    """The plain Python function behind `f` (a numba.njit dispatcher or a function)."""
    py = getattr(f, "py_func", f)
    if not isinstance(py, types.FunctionType):
        raise TypeError(f"{name} must be a Python function or a numba.njit function to run on "
                        f"device='cuda', got {type(f).__name__}")
    return py


def _kernel_function(k):
    """The Python function of a cuda.jit kernel (real CUDA or the simulator)."""
    return getattr(k, "py_func", None) or getattr(k, "fn")


def batch_kernel(fun, grad, args):
    """solve.solve_batch_kernel with its evaluation bound to fun/grad (and frozen args)."""
    glb = {"cuda": cuda,
           "fun": cuda.jit(device=True)(python_function(fun, "fun")),
           "grad": cuda.jit(device=True)(python_function(grad, "grad"))}
    names = []
    for i, a in enumerate(args):
        glb[f"a{i}"] = a
        names.append(f"a{i}")
    src = _HOOK_SOURCE.format(args="".join(", " + n for n in names))
    exec(compile(src, f"<fastgd.Objective CUDA hook of {getattr(fun, '__name__', 'fun')}>",
                 "exec"), glb)
    evaluate = cuda.jit(device=True)(glb["evaluate"])
    py = _kernel_function(solve.solve_batch_kernel)
    kglb = dict(solve.__dict__)
    kglb["block_evaluate"] = evaluate
    fn = types.FunctionType(py.__code__, kglb, py.__name__, py.__defaults__, py.__closure__)
    return cuda.jit(fn)
