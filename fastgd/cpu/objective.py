"""A user's smooth objective (fastgd.Objective) on the CPU: its evaluation hook.

Only the evaluation is the objective's own: ``fun(w, *args)`` and ``grad(w, *args, g)``
of the user, compiled by Numba.  Its drivers are those of fastgd/cpu/solve.py with the
hooks bound by fastgd/cpu/drivers.py: ``evaluate`` to the function made here,
``prepare_problem`` and ``lambda_max`` to the no-ops below (an objective has no data to
transpose and no X^T X: lr="auto" is refused by the API).  The same skeleton, decisions,
stopping tests, Armijo search, history and divergence rule as every other problem.
The batch driver sees B starts as B problems of zero rows: X (B, 0, d), y (B, 0).
"""
import math

import numpy as np
from numba import njit

from .._jit import FASTMATH, cpu_kernel


@cpu_kernel(refcount=False, inline=True)
def no_setup(mode, X, y, s, Xt, A, b, inter):
    """prepare_problem of an objective: nothing to set up; c = 0."""
    return 0.0


@cpu_kernel(refcount=False)
def no_curvature(mode, X, s, Xt, A, v, u, pw, hp, ip, pre, t):
    """lambda_max of an objective: never reached (the API refuses lr="auto"); (lam, stopped)."""
    return 0.0, False


_HOOK_SOURCE = """
def evaluate(mode, code, X, y, s, Xt, z, zk, A, b, c, part_g, part_f, w, g, hp):
    try:
        f = np.float64(fun(w{args}))
        grad(w{args}, g)
    except Exception:
        return math.nan, math.nan
    gg = 0.0
    for j in range(g.shape[0]):
        gg += np.float64(g[j]) * np.float64(g[j])
    return f, gg
"""


def evaluate_hook(fun, grad, args):
    """The drivers' evaluation hook (signature of fastgd.cpu.evaluate.evaluate_small) over a
    user's compiled ``fun`` and ``grad`` with the fixed ``args`` (a tuple, frozen into the
    compiled code as globals: Numba copies their arrays as constants).

    Returns (f, |g|^2) in float64 with the gradient written into g; an exception inside
    the user's code (which cannot leave the parallel kernels) makes the point undefined
    (NaN: the skeleton reports DIVERGED and keeps the last finite iterate).  The call is
    spelled out per arity (``fun(w, a0, a1)``): Numba cannot star-call inside ``try``.
    """
    glb = {"math": math, "np": np, "fun": fun, "grad": grad}
    names = []
    for i, a in enumerate(args):
        glb[f"a{i}"] = a
        names.append(f"a{i}")
    src = _HOOK_SOURCE.format(args="".join(", " + n for n in names))
    exec(compile(src, f"<fastgd.Objective hook of {getattr(fun, '__name__', 'fun')}>", "exec"),
         glb)
    return njit(nogil=True, fastmath=set(FASTMATH), error_model="numpy")(glb["evaluate"])
