"""Fused in-place optimizer steps and one-pass gradient kernels (a backend for other libraries).

``sgd_`` and ``adam_`` update the caller's flat buffers in place with the semantics of
``torch.optim.SGD`` / ``Adam`` / ``AdamW`` (torch 2.x single-tensor formulas), in one pass
over memory.  Buffers are 1-D contiguous float32/float64 NumPy arrays (CPU kernels) or
CUDA arrays exposing ``__cuda_array_interface__`` (GPU kernels, imported on first use).
``step`` is the 1-based number of the update: torch's ``state["step"]`` after incrementing.

``lstsq_grad`` and ``logistic_grad`` return ``(loss, grad)`` of the mean per-row loss
(no l2 term) for one problem ``X (n, d)`` or a batch ``X (B, n, d)``, reading X once.

Everything is validated before any buffer is written; errors name the argument.
"""
import numba
import numpy as np

from . import validate as _v
from . import config
from .contract import LOGISTIC, LSQ, adam_scalars, sgd_scalars
from .runtime import parallel_launch

__all__ = ["sgd_", "adam_", "lstsq_grad", "logistic_grad"]


_EMPTY = {}


def _empty(dtype):
    """A 0-length placeholder for an unused state buffer (keeps one kernel signature)."""
    e = _EMPTY.get(dtype)
    if e is None:
        e = _EMPTY[dtype] = np.empty(0, dtype)
    return e


def _on_gpu(params):
    return _v.cuda_interface(params) is not None


def _buffers(on_gpu, params, grads, written):
    """Validate params, grads and the written state buffers [(name, obj)]; (dtype, size)."""
    if not on_gpu and _v.numpy_step_buffers(params, grads, written):
        return params.dtype, params.shape[0]
    p = _v.flat_buffer("params", params, on_gpu, writeable=True)
    g = _v.flat_buffer("grads", grads, on_gpu, writeable=False)
    states = [_v.flat_buffer(name, obj, on_gpu, writeable=True) for name, obj in written]
    _v.matching_buffers(p, [g] + states)
    return p.dtype, p.size


def sgd_(params, grads, *, step, lr, momentum=0.0, dampening=0.0, nesterov=False,
         weight_decay=0.0, maximize=False, momentum_buffer=None):
    """One ``torch.optim.SGD`` step on flat buffers, in place.

    params, grads, momentum_buffer: 1-D contiguous float32/float64 of equal length and dtype.
    ``momentum_buffer`` is required when ``momentum > 0``; at ``step == 1`` it is
    overwritten with the (weight-decayed, sign-adjusted) gradient, as torch does.
    ``grads`` is never modified.  Returns ``params``.
    """
    step = _v.step_count("step", step)
    lr = _v.positive_real("lr", lr)
    momentum = _v.nonneg_real("momentum", momentum)
    dampening = _v.finite_real("dampening", dampening)
    nesterov = _v.flag("nesterov", nesterov)
    weight_decay = _v.nonneg_real("weight_decay", weight_decay)
    maximize = _v.flag("maximize", maximize)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov=True requires momentum > 0 and dampening == 0 (as in torch)")
    use_momentum = momentum > 0
    if use_momentum and momentum_buffer is None:
        raise ValueError("momentum_buffer is required when momentum > 0 (a zeroed buffer "
                         "like params; it is filled at step 1)")
    on_gpu = _on_gpu(params)
    written = [("momentum_buffer", momentum_buffer)] if use_momentum else []
    dtype, size = _buffers(on_gpu, params, grads, written)
    dt = dtype.type
    hp = np.array(sgd_scalars(lr, momentum, 1.0 - dampening, weight_decay), dtype)
    flags = (int(maximize), int(weight_decay != 0), int(use_momentum), int(step == 1),
             int(nesterov))
    if on_gpu:
        from .gpu import ops as gpu_ops
        gpu_ops.sgd(params, grads, momentum_buffer if use_momentum else None, dt(lr),
                    dt(momentum), dt(1.0 - dampening), dt(weight_decay), *flags)
        return params
    from .cpu import ops as k
    buf = momentum_buffer if use_momentum else _empty(dtype)
    if size >= config.OPS_PARALLEL_MIN:
        with parallel_launch():
            k.sgd_blocks(params, grads, buf, hp, *flags, config.OPS_BLOCK)
    else:
        k.sgd_range(params, grads, buf, hp, *flags, 0, size)
    return params


def adam_(params, grads, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
          weight_decay=0.0, decoupled_weight_decay=False, amsgrad=False, max_exp_avg_sq=None,
          maximize=False):
    """One ``torch.optim.Adam`` step (``AdamW`` with ``decoupled_weight_decay=True``), in place.

    params, grads, exp_avg, exp_avg_sq (and max_exp_avg_sq, required with ``amsgrad``):
    1-D contiguous float32/float64 of equal length and dtype; state buffers start zeroed.
    ``grads`` is never modified.  Returns ``params``.
    """
    step = _v.step_count("step", step)
    lr = _v.positive_real("lr", lr)
    beta1, beta2 = _v.betas("betas", betas)
    eps = _v.nonneg_real("eps", eps)
    weight_decay = _v.nonneg_real("weight_decay", weight_decay)
    decoupled = _v.flag("decoupled_weight_decay", decoupled_weight_decay)
    amsgrad = _v.flag("amsgrad", amsgrad)
    maximize = _v.flag("maximize", maximize)
    if amsgrad and max_exp_avg_sq is None:
        raise ValueError("max_exp_avg_sq is required when amsgrad=True (a zeroed buffer "
                         "like params)")
    on_gpu = _on_gpu(params)
    written = [("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)]
    if amsgrad:
        written.append(("max_exp_avg_sq", max_exp_avg_sq))
    dtype, size = _buffers(on_gpu, params, grads, written)
    # torch computes these in Python floats (float64), then the tensor ops use the dtype
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    bc2_sqrt = bias_correction2 ** 0.5
    scalars = adam_scalars(step_size, 1 - beta1, beta2, 1 - beta2, bc2_sqrt, eps, weight_decay,
                           1 - lr * weight_decay)
    flags = (int(maximize), int(weight_decay != 0), int(decoupled), int(amsgrad))
    if on_gpu:
        from .gpu import ops as gpu_ops
        dt = dtype.type
        gpu_ops.adam(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None,
                     *(dt(s) for s in scalars), *flags)
        return params
    from .cpu import ops as k
    hp = np.array(scalars, dtype)
    vmax = max_exp_avg_sq if amsgrad else _empty(dtype)
    if size >= config.OPS_PARALLEL_MIN:
        with parallel_launch():
            k.adam_blocks(params, grads, exp_avg, exp_avg_sq, vmax, hp, *flags, config.OPS_BLOCK)
    else:
        k.adam_range(params, grads, exp_avg, exp_avg_sq, vmax, hp, *flags, 0, size)
    return params


def _gradient(code, X, y, w, out, check_finite):
    X = _v.kernel_array("X", X, (2, 3))
    y = _v.kernel_array("y", y, (1, 2))
    _v.same_dtype("y", y, "X", X)
    _v.shape("y", y, X.shape[:-1], " (X.shape[:-1])")
    w = _v.kernel_array("w", w, (1, 2))
    _v.same_dtype("w", w, "X", X)
    wshape = X.shape[:-2] + X.shape[-1:]
    _v.shape("w", w, wshape, " (X.shape[:-2] + (d,))")
    if check_finite:
        for name, a in (("X", X), ("y", y), ("w", w)):
            _v.finite(name, a)
    if code == LOGISTIC:
        _v.binary_labels("y", y)
    if out is None:
        out = np.empty(wshape, X.dtype)
    else:
        _v.out_array("out", out, wshape, X.dtype)
        _v.no_overlap([("out", out), ("X", X), ("y", y), ("w", w)])
    from .cpu import ops as k
    if X.ndim == 2:
        n, d = X.shape
        if X.size >= config.OPS_GRAD_PARALLEL_MIN and n >= 2:
            nblocks = min(n, 4 * numba.get_num_threads())
            part = np.empty((nblocks, d), X.dtype)
            with parallel_launch():
                return float(k.gradient_blocks(code, X, y, w, out, part)), out
        return float(k.gradient(code, X, y, w, out)), out
    loss = np.empty(X.shape[0], np.float64)
    if X.size >= config.OPS_GRAD_PARALLEL_MIN and X.shape[0] > 1:
        with parallel_launch():
            k.gradient_batch_parallel(code, X, y, w, out, loss)
    else:
        k.gradient_batch(code, X, y, w, out, loss)
    return loss, out


def lstsq_grad(X, y, w, out=None, *, check_finite=True):
    """Least squares ``(loss, grad)``: loss = ||X w - y||^2 / (2 n), grad = X^T (X w - y) / n.

    X (n, d) or (B, n, d); y (n,) or (B, n); w (d,) or (B, d); one dtype (float32/float64).
    ``grad`` has w's shape and dtype and is written into ``out`` when given; ``loss`` is a
    float (float64 array of shape (B,) for a batch).  No l2 term.  NaN/Inf in X, y, w raise
    ValueError; ``check_finite=False`` skips that extra read of X (as in scipy.linalg), and
    then NaN/Inf propagate into the result.
    """
    return _gradient(LSQ, X, y, w, out, check_finite)


def logistic_grad(X, y, w, out=None, *, check_finite=True):
    """Logistic ``(loss, grad)``: loss = mean log(1 + exp(-s x.w)), s = 2y - 1, y in {0, 1}.

    grad = X^T (sigmoid(X w) - y) / n.  Shapes, dtypes and ``out`` as in :func:`lstsq_grad`.
    """
    return _gradient(LOGISTIC, X, y, w, out, check_finite)
