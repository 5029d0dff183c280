"""Update rules as plain Python functions over one coordinate, compiled per target.

Semantics follow ``torch.optim`` (SGD with momentum/dampening/nesterov, Adam, RMSprop,
Adagrad),
so ``fastgd.minimize`` and ``fastgd.ops`` share them.  Coefficients such as
``1 - beta1`` are computed once by the caller in the parameter dtype.
"""
import math

from .contract import (
    ADAGRAD, ADAM, BB, GD, HP_ALPHA, HP_BETA1, HP_BETA2, HP_EPS, HP_KEEP, HP_MOMENTUM, HP_ONE,
    NESTEROV, RMSPROP,
)


def momentum_buffer(buf, g, momentum, keep, first):
    """torch SGD: buf = g on the first step, else momentum * buf + (1 - dampening) * g."""
    if first:
        return g
    return momentum * buf + keep * g


def sgd_direction(g, buf, momentum, nesterov):
    """The vector SGD subtracts (times lr): buf, or g + momentum * buf for Nesterov."""
    if nesterov:
        return g + momentum * buf
    return buf


def adam_moments(m, v, g, one_minus_beta1, beta2, one_minus_beta2):
    """torch Adam: m.lerp_(g, 1 - beta1); v = beta2 * v + (1 - beta2) * g^2."""
    return m + one_minus_beta1 * (g - m), beta2 * v + one_minus_beta2 * g * g


def adam_direction(m, v, bias_correction2_sqrt, eps):
    """m / (sqrt(v) / sqrt(1 - beta2^t) + eps); the caller scales by lr / (1 - beta1^t)."""
    return m / (math.sqrt(v) / bias_correction2_sqrt + eps)


def rmsprop_square_avg(v, g, alpha, one_minus_alpha):
    """torch RMSprop: square_avg = alpha * square_avg + (1 - alpha) * g^2."""
    return alpha * v + one_minus_alpha * g * g


def adagrad_sum(s, g):
    """torch Adagrad: state_sum += g^2 (initial_accumulator_value 0)."""
    return s + g * g


def scaled_gradient(g, v, eps):
    """RMSprop and Adagrad's direction g / (sqrt(v) + eps)."""
    return g / (math.sqrt(v) + eps)


def plain_gradient(method):
    """True for the methods whose direction is the gradient itself (gd, bb): no state, the
    step size alone differs."""
    return method == GD or method == BB


def coupled_decay(g, p, weight_decay):
    """L2 weight decay folded into the gradient (torch SGD, Adam): g + weight_decay * p."""
    return g + weight_decay * p


def amsgrad_max(vmax, v):
    """AMSGrad's running maximum of the second moment; NaN propagates like torch.maximum."""
    if v > vmax or math.isnan(v):
        return v
    return vmax


def adam_bias_corrections(beta1, beta2, step):
    """torch Adam at update `step` (1-based): (1 - beta1^step, sqrt(1 - beta2^step)), float64."""
    return 1.0 - float(beta1) ** step, math.sqrt(1.0 - float(beta2) ** step)


def power_start(j, one):
    """Power iteration's start vector, coordinate j: deterministic, not orthogonal to
    typical top eigenvectors."""
    return one + one * (j % 3) / 7


def sgd_element(p, g, buf, lr, momentum, keep, weight_decay, maximize, decay, use_momentum,
                first, nesterov):
    """One parameter of torch.optim.SGD (maximize, weight decay, momentum, dampening via
    keep = 1 - dampening, nesterov): returns (new p, new momentum buffer)."""
    if maximize:
        g = -g
    if decay:
        g = coupled_decay(g, p, weight_decay)
    if use_momentum:
        buf = momentum_buffer(buf, g, momentum, keep, first)
        g = sgd_direction(g, buf, momentum, nesterov)
    return p - lr * g, buf


def adam_element(p, g, m, v, vmax, step_size, one_minus_beta1, beta2, one_minus_beta2,
                 bias_correction2_sqrt, eps, weight_decay, shrink, maximize, decay, decoupled,
                 amsgrad):
    """One parameter of torch.optim.Adam / AdamW (decoupled: p *= 1 - lr wd) / AMSGrad:
    returns (new p, m, v, vmax); step_size = lr / (1 - beta1^t)."""
    if maximize:
        g = -g
    if decay:
        if decoupled:
            p = p * shrink
        else:
            g = coupled_decay(g, p, weight_decay)
    m, v = adam_moments(m, v, g, one_minus_beta1, beta2, one_minus_beta2)
    v_used = v
    if amsgrad:
        vmax = amsgrad_max(vmax, v)
        v_used = vmax
    return p - step_size * adam_direction(m, v_used, bias_correction2_sqrt, eps), m, v, vmax


def method_direction(method, t, g, s1, s2, p, hp, start, stride):
    """Advance the method's state at update number t + 1 and write its direction p, over
    coordinates start, start + stride, ... (all of them on a CPU: 0, 1; one thread's share
    on a GPU).  The update is w <- w - alpha p; returns alpha / lr (1 / (1 - beta1^t) for
    Adam, else 1).  s1, s2: momentum buffer, or Adam's m and v; RMSprop's square average
    and Adagrad's sum live in s2.  gd and bb: p = g (bb's step is the driver's, see
    decisions.next_lr)."""
    d = g.shape[0]
    if plain_gradient(method):
        for j in range(start, d, stride):
            p[j] = g[j]
        return 1.0
    if method == ADAM:
        b1 = hp[HP_BETA1]
        b2 = hp[HP_BETA2]
        one = hp[HP_ONE]
        bc1, bc2_sqrt = adam_bias_corrections(b1, b2, t + 1)
        bc2s = (one - one) + bc2_sqrt
        for j in range(start, d, stride):
            m, v = adam_moments(s1[j], s2[j], g[j], one - b1, b2, one - b2)
            s1[j] = m
            s2[j] = v
            p[j] = adam_direction(m, v, bc2s, hp[HP_EPS])
        return 1.0 / bc1
    if method == RMSPROP:
        a = hp[HP_ALPHA]
        oma = hp[HP_ONE] - a
        for j in range(start, d, stride):
            v = rmsprop_square_avg(s2[j], g[j], a, oma)
            s2[j] = v
            p[j] = scaled_gradient(g[j], v, hp[HP_EPS])
        return 1.0
    if method == ADAGRAD:
        for j in range(start, d, stride):
            v = adagrad_sum(s2[j], g[j])
            s2[j] = v
            p[j] = scaled_gradient(g[j], v, hp[HP_EPS])
        return 1.0
    mu = hp[HP_MOMENTUM]
    nesterov = method == NESTEROV
    for j in range(start, d, stride):
        buf = momentum_buffer(s1[j], g[j], mu, hp[HP_KEEP], t == 0)
        s1[j] = buf
        p[j] = sgd_direction(g[j], buf, mu, nesterov)
    return 1.0
