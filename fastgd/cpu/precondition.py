"""precondition="diag" on the CPU: the change of variables w = T v inside the drivers.

The drivers iterate on v; every evaluation maps the trial point to the model's variables
(``to_original``, into a per-problem scratch vector: X is never rescaled), evaluates the
loss there with the family's own hook, and maps the gradient back (``gradient_to_rescaled``:
the gradient in v is T^T g).  With ``pre`` (PRE_ROWS, d) float64 the rows of
fastgd/contract.py's P[q] (scales c_j, shifts mu_j) and k outputs per row:

    w[j*k + c] = c_j v[j*k + c]                          (coefficients)
    w[d*k + c] = v[d*k + c] - sum_j mu_j w[j*k + c]      (intercepts, when `inter`)

A ``pre`` of zero columns means no preconditioning (``active`` is False): then nothing here
runs.  fastgd/precondition.py computes P and maps x0 and the solution (NumPy).
"""
import numpy as np

from .._jit import cpu_kernel
from ..contract import PRE_SCALE, PRE_SHIFT


@cpu_kernel(refcount=False, inline=True)
def active(pre):
    """Whether the problem runs preconditioned (pre has its d columns)."""
    return pre.shape[1] > 0


@cpu_kernel(refcount=False)
def to_original(pre, v, w, k, inter):
    """w = T v (see the module docstring); v, w (>= (d + inter) k,) of any float dtype; the
    intercepts' sums in float64.  Entries past (d + inter) k are not touched."""
    d = pre.shape[1]
    dk = d * k
    for j in range(d):
        cj = pre[PRE_SCALE, j]
        for c in range(k):
            w[j * k + c] = cj * np.float64(v[j * k + c])
    if inter:
        for c in range(k):
            acc = np.float64(v[dk + c])
            for j in range(d):
                acc -= pre[PRE_SHIFT, j] * np.float64(w[j * k + c])
            w[dk + c] = acc


@cpu_kernel(refcount=False)
def gradient_to_rescaled(pre, g, k, inter):
    """g <- T^T g in place: g[j*k + c] = c_j (g[j*k + c] - mu_j g[d*k + c]) (mu_j read only
    with the intercepts, `inter`); the intercepts' entries are unchanged.  g of any float
    dtype (the gradient, or the power iteration's float64 product)."""
    d = pre.shape[1]
    dk = d * k
    for j in range(d):
        cj = pre[PRE_SCALE, j]
        mu = pre[PRE_SHIFT, j] if inter else 0.0
        for c in range(k):
            q = j * k + c
            gb = np.float64(g[dk + c]) if inter else 0.0
            g[q] = cj * (np.float64(g[q]) - mu * gb)


@cpu_kernel(refcount=False, inline=True)
def penalty_scale(pre):
    """max_j c_j^2 (1 without preconditioning): l2 times it bounds the curvature of the
    penalty l2/2 ||c v||^2 in v, for lr="auto"."""
    top = 1.0
    if pre.shape[1] > 0:
        top = 0.0
        for j in range(pre.shape[1]):
            cj = pre[PRE_SCALE, j]
            top = max(top, cj * cj)
    return top


@cpu_kernel(refcount=False)
def original_gradient_sq(pre, g, k, inter):
    """|T^{-T} g|^2 in float64 for g the gradient in v: the norm of the original
    variables' gradient (its coefficients g_j / c_j + mu_j g_b, its intercepts g_b)."""
    d = pre.shape[1]
    dk = d * k
    gg = 0.0
    for j in range(d):
        cj = pre[PRE_SCALE, j]
        mu = pre[PRE_SHIFT, j] if inter else 0.0
        for c in range(k):
            gb = np.float64(g[dk + c]) if inter else 0.0
            gj = np.float64(g[j * k + c]) / cj + mu * gb
            gg += gj * gj
    if inter:
        for c in range(k):
            gb = np.float64(g[dk + c])
            gg += gb * gb
    return gg


@cpu_kernel(refcount=False)
def gram_to_rescaled(pre, A, b, l2, inter):
    """The Gram form (A, b) float64 of fastgd/cpu/prepare.py turned into that of v, in
    place: A <- T^T A T + l2 C^2 (the penalty l2/2 ||c v||^2 on the d coefficients, so that
    the evaluation adds none), b <- T^T b.  One output (least squares); A (d + inter)^2."""
    d = pre.shape[1]
    m = A.shape[0]
    for r in range(m):  # A <- A T, row by row (a row of A T is T^T applied to A's row)
        gradient_to_rescaled(pre, A[r], 1, inter)
    for r in range(m):  # A <- T^T A, column by column
        if inter:
            for j in range(d):
                A[j, r] = pre[PRE_SCALE, j] * (A[j, r] - pre[PRE_SHIFT, j] * A[d, r])
        else:
            for j in range(d):
                A[j, r] = pre[PRE_SCALE, j] * A[j, r]
    for j in range(d):
        cj = pre[PRE_SCALE, j]
        A[j, j] += l2 * cj * cj
    gradient_to_rescaled(pre, b, 1, inter)


@cpu_kernel(refcount=False, inline=True)
def auto_l2(pre, gram, l2):
    """The l2 that lr="auto" adds to curvature * lambda_max: l2 itself without
    preconditioning; 0 in Gram form (gram_to_rescaled put the penalty into A, whose
    lambda_max it is); else l2 max_j c_j^2 (penalty_scale)."""
    if pre.shape[1] == 0:
        return l2
    if gram:
        return 0.0
    return l2 * penalty_scale(pre)
