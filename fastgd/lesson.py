"""The step-size lesson of gradient descent, on a 2-D bowl: too small, good, too large.

``f(w) = (w0^2 + 8 w1^2) / 2`` in coordinates rotated by 30 degrees: an elongated
quadratic whose curvatures are 1 and L = 8.  Gradient descent with step size lr
multiplies the error along the steep axis by |1 - 8 lr| per iteration, so it converges
for lr < 2/L = 0.25 and diverges above; along the flat axis by 1 - lr, so a tiny lr
crawls.  ``fastgd lesson`` prints the three outcomes and draws them (fastgd.plot.path).
"""
import math

import numpy as np

# the bowl's axes: rotated by 30 degrees, curvatures 1 and CURVATURE
COS, SIN = math.cos(math.pi / 6), math.sin(math.pi / 6)
CURVATURE = 8.0
# along the flat axis (u = -3), a little off it (v = 0.3): a too-large step zigzags away
START = (COS * -3.0 - SIN * 0.3, SIN * -3.0 + COS * 0.3)
LRS = (0.004, 0.2, 0.3)      # too small (crawls), good, too large (> 2/L = 0.25: diverges)
MAX_ITER = 100
GTOL = 1e-6


def bowl(w):
    u = COS * w[0] + SIN * w[1]
    v = -SIN * w[0] + COS * w[1]
    return 0.5 * (u * u + CURVATURE * v * v)


def bowl_grad(w, out):
    u = COS * w[0] + SIN * w[1]
    v = -SIN * w[0] + COS * w[1]
    out[0] = COS * u - SIN * CURVATURE * v
    out[1] = SIN * u + COS * CURVATURE * v


def objective():
    import fastgd
    return fastgd.Objective(bowl, bowl_grad)


def solve(lrs=LRS, max_iter=MAX_ITER):
    """The three descents from START, one per step size, with their iterates recorded:
    (objective, Result)."""
    import fastgd
    obj = objective()
    lrs = np.asarray(lrs, np.float64)
    x0 = np.tile(np.array(START, np.float64), (lrs.size, 1))
    res = fastgd.minimize(obj, x0=x0, lr=lrs, max_iter=max_iter, gtol=GTOL, history=1,
                          record_x=True)
    return obj, res
