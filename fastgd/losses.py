"""Per-row losses as plain Python functions, compiled for each target by the drivers.

A problem's loss is ``f(w) = mean_i phi(x_i.w, y_i) + l2/2 ||w||^2`` and its
gradient ``X^T phi'(Xw, y) / n + l2 w``.  The drivers only need, per row, the
pair ``(phi(z, y), phi'(z, y))`` -- that is :func:`row_terms`.

``phi`` is returned in float64 (it is summed in float64); ``phi'`` keeps the
dtype of ``z`` so float32 gradient loops stay float32.  ``one`` is 1 in that
dtype (a literal ``1.0`` would promote float32 to float64 inside Numba).
"""
import math

from ._codes import HUBER, LOGISTIC, LSQ, POISSON


def logistic_terms(z, y, one):
    """phi = log(1 + exp(-s z)), s = 2y - 1, and phi' = sigmoid(z) - y, overflow-free."""
    e = math.exp(-abs(z))  # in (0, 1]: never overflows
    if z >= 0:
        sig = one / (one + e)
        # margin m = s z; log(1 + exp(-m)) = max(-m, 0) + log1p(exp(-|m|))
        phi = math.log1p(e) + (z if y < 0.5 else 0.0)
    else:
        sig = e / (one + e)
        phi = math.log1p(e) + (0.0 if y < 0.5 else -z)
    return phi, sig - y


def huber_terms(z, y, delta):
    r = z - y
    a = abs(r)
    if a <= delta:
        return 0.5 * r * r, r
    return delta * (a - 0.5 * delta), delta if r > 0 else -delta


def poisson_terms(z, y):
    """Poisson deviance up to a constant, log link: phi = exp(z) - y z."""
    ez = math.exp(z)
    return ez - y * z, ez - y


def row_terms(code, z, y, one, param):
    """(phi(z, y), phi'(z, y)) for built-in loss `code` (see fastgd._codes)."""
    if code == LSQ:
        r = z - y
        return 0.5 * r * r, r
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
