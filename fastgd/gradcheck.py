"""check_grad: the analytic gradient of a problem against central finite differences.

The debug check for a user-defined ``dphi`` (fastgd.RowLoss) or ``grad``
(fastgd.Objective): a gradient that is not the derivative shows up as a large relative
error.
"""
import numpy as np

from . import validate
from .problems import Problem


def check_grad(problem, x=None, *, eps=1e-6):
    """Max relative error between the analytic gradient and central finite differences.

    Both are computed in float64 from the problem's own loss (``problem.loss_grad64``,
    which evaluates the same compiled row function -- phi and dphi -- the drivers use):
    ``max_j |g_j - (f(x + h_j e_j) - f(x - h_j e_j)) / (2 h_j)| / max(|g|_inf, |fd|_inf, 1e-12)``
    with ``h_j = eps * max(1, |x_j|)``, maximised over the batch.  A correct gradient
    gives about 1e-8 or less; a wrong dphi gives O(1).

    x: a point of the solution's shape; None uses a fixed pseudo-random point
    (seed 0, entries N(0, 1/d)).  Costs 2 * n_params loss evaluations per problem:
    meant for small problems.
    """
    from .objective import Objective
    if isinstance(problem, Objective):  # points (B, d) or (d,): they give d
        if x is None:
            raise ValueError("check_grad(objective, x) needs x: the point(s) to check, shape "
                             "(d,) or (B, d)")
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"x must be a real array, got dtype {x.dtype}")
        x = np.ascontiguousarray(x, np.float64)
        problem = problem.starts(x)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a fastgd problem or a fastgd.Objective, got "
                        f"{type(problem).__name__}")
    eps = validate.nonneg_real("eps", eps)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    B, p = problem.batch_size, problem.n_coef
    if x is None:
        x = np.random.default_rng(0).standard_normal((B, p)) / np.sqrt(problem.d)
    else:
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"x must be a real array, got dtype {x.dtype}")
        x = x.astype(np.float64)
        validate.shape("x", x, problem.solution_shape, " (the solution's shape)")
        validate.finite("x", x)
        x = x.reshape(B, p)
    worst = 0.0
    for k in range(B):
        _, g = problem.loss_grad64(x[k], k)
        fd = np.empty(p)
        for j in range(p):
            h = eps * max(1.0, abs(x[k, j]))
            xp = x[k].copy()
            xp[j] += h
            xm = x[k].copy()
            xm[j] -= h
            fd[j] = (problem.loss_grad64(xp, k)[0] - problem.loss_grad64(xm, k)[0]) / (2 * h)
        scale = max(np.abs(g).max(), np.abs(fd).max(), 1e-12)
        err = np.abs(g - fd).max() / scale
        if not np.isfinite(err):
            err = np.inf
        worst = max(worst, float(err))
    return worst
