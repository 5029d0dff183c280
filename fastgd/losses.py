"""Per-row losses as plain Python functions, compiled for each target by the drivers.

A problem's loss is ``f(w) = mean_i phi(x_i.w, y_i) + l2/2 ||w||^2`` and its
gradient ``X^T phi'(Xw, y) / n + l2 w``.  The drivers only need, per row, the
pair ``(phi(z, y), phi'(z, y))`` -- that is :func:`row_terms`.

``phi`` is returned in float64 (it is summed in float64); ``phi'`` keeps the
dtype of ``z`` so float32 gradient loops stay float32.  ``one`` is 1 in that
dtype (a literal ``1.0`` would promote float32 to float64 inside Numba).
"""
import math

from .contract import HUBER, LOGISTIC, LSQ

LN2 = 0.6931471805599453
SQRT2_MINUS_1 = 0.41421356237309503


def log1p_unit(e):
    """log(1 + e) for 0 <= e <= 1 in float64, to ~1 ulp, with no library call.

    Written as arithmetic (the atanh series of 1 + e = 2^k u, u in [0.71, 1.42]) so a
    loop over rows vectorises; math.log1p is an opaque call per row.
    """
    e = float(e)
    if e > SQRT2_MINUS_1:
        t = (e - 1.0) / (e + 3.0)  # log(1 + e) = ln 2 + 2 atanh((e - 1) / (e + 3))
        base = LN2
    else:
        t = e / (e + 2.0)          # log(1 + e) = 2 atanh(e / (e + 2))
        base = 0.0
    t2 = t * t                     # |t| <= 0.172: ten terms reach float64 precision
    p = 1.0 / 21.0
    p = p * t2 + 1.0 / 19.0
    p = p * t2 + 1.0 / 17.0
    p = p * t2 + 1.0 / 15.0
    p = p * t2 + 1.0 / 13.0
    p = p * t2 + 1.0 / 11.0
    p = p * t2 + 1.0 / 9.0
    p = p * t2 + 1.0 / 7.0
    p = p * t2 + 1.0 / 5.0
    p = p * t2 + 1.0 / 3.0
    return base + 2.0 * t * (p * t2 + 1.0)


def exp_neg(a):
    """exp(-a) for a >= 0.  The CPU build swaps in a vectorisable version
    (fastgd/cpu/fastexp.py, tested against NumPy); GPUs use this one."""
    return math.exp(-a)


def exp_neg_single(a):
    """exp(-a) for a >= 0, to float32 precision (relative error < 1e-8) for float32 data.
    The CPU build swaps in a shorter vectorisable polynomial (fastgd/cpu/fastexp.py)."""
    return math.exp(-a)


def log1p_unit_single(e):
    """log1p_unit to float32 precision (relative error < 1e-8): five terms of its series
    instead of ten, for float32 data (computed in float64 all the same)."""
    e = float(e)
    if e > SQRT2_MINUS_1:
        t = (e - 1.0) / (e + 3.0)
        base = LN2
    else:
        t = e / (e + 2.0)
        base = 0.0
    t2 = t * t                     # |t| <= 0.172: the next term, t2^5 / 11, is < 2.1e-9
    p = 1.0 / 9.0
    p = p * t2 + 1.0 / 7.0
    p = p * t2 + 1.0 / 5.0
    p = p * t2 + 1.0 / 3.0
    return base + 2.0 * t * (p * t2 + 1.0)


def sigmoid_parts(z, one):
    """(e, sigmoid(z)) with e = exp(-|z|) in (0, 1]: never overflows."""
    e = exp_neg(abs(z))
    return e, (one if z >= 0 else e) / (one + e)


def logistic_terms(z, y, one):
    """phi = log(1 + exp(-m)) with margin m = (2y - 1) z, and phi' = sigmoid(z) - y.

    Overflow-free for any margin: log(1 + exp(-m)) = max(-m, 0) + log1p(exp(-|m|)), and
    |m| = |z|.  Branch-free, so row loops vectorise.
    """
    e, sig = sigmoid_parts(z, one)
    return log1p_unit(e) + max((one - y - y) * z, 0.0), sig - y


def logistic_terms_single(z, y, one):
    """logistic_terms to float32 precision (phi and phi' relative error < 1e-8, far below
    float32's 6e-8): the CPU row loops of float32 data run it (a third fewer operations per
    row than the float64-exact one)."""
    e = exp_neg_single(abs(z))
    sig = (one if z >= 0 else e) / (one + e)
    return log1p_unit_single(e) + max((one - y - y) * z, 0.0), sig - y


def lsq_terms(z, y):
    r = z - y
    return 0.5 * r * r, r


def huber_terms(z, y, delta):
    r = z - y
    a = abs(r)
    if a <= delta:
        return 0.5 * r * r, r
    return delta * (a - 0.5 * delta), delta if r > 0 else -delta


def exp_any(x):
    """exp(x) for any real x.  The CPU build swaps in a vectorisable version
    (fastgd/cpu/fastexp.py); GPUs use this one."""
    return math.exp(x)


def poisson_terms(z, y):
    """Poisson deviance up to a constant, log link: phi = exp(z) - y z."""
    ez = exp_any(z)
    return ez - y * z, ez - y


def row_terms(code, z, y, one, param):
    """(phi(z, y), phi'(z, y)) for built-in loss `code` (see fastgd.contract)."""
    if code == LSQ:
        return lsq_terms(z, y)
    elif code == LOGISTIC:
        return logistic_terms(z, y, one)
    elif code == HUBER:
        return huber_terms(z, y, param)
    else:  # POISSON
        return poisson_terms(z, y)


def softmax_terms(z, label, one):
    """Multinomial logistic loss of one row, in place over its k logits.

    z (k,) holds the logits x_i.W on entry and softmax(z) - onehot(label) on exit
    (the row's gradient factor).  Returns phi = logsumexp(z) - z[label] (float64),
    computed after subtracting max(z): no overflow for any logits.
    """
    k = z.shape[0]
    m = z[0]
    for c in range(1, k):
        if z[c] > m:
            m = z[c]
    zl = z[label]
    s = 0.0
    for c in range(k):
        e = math.exp(z[c] - m)
        z[c] = e
        s += e
    inv = one / s
    for c in range(k):
        z[c] = z[c] * inv
    z[label] -= one
    return (float(m) - float(zl)) + math.log(s)
