"""minimize(): validate, plan, run one backend in the one outer loop, build the Result.

validate (fastgd/validate.py, problem construction) -> plan (fastgd/plan.py: target,
mode, packed arrays) -> backend (fastgd/cpu/backend.py or fastgd/gpu/backend.py:
``run_until``) -> Result (fastgd/result.py).  The outer loop here is the only one: it
chunks the iterations for ``callback`` and ``progress`` on every target.
"""
import numpy as np

from . import _device, config, contract, runtime, validate
from .plan import choose_mode, make_plan
from .problems import Problem
from .result import (
    AUTO_AVAILABLE, AUTO_NEEDS_ARMIJO, AUTO_UNAVAILABLE, AUTO_USED, build_result,
)

__all__ = ["minimize", "choose_mode"]


def minimize(problem, method="gd", *, lr="auto", x0=None, max_iter=1000, gtol=1e-6, xtol=0.0,
             ftol=0.0, line_search=None, momentum=0.9, betas=(0.9, 0.999), eps=None, alpha=0.99,
             restart=False, device=None, history=0, callback=None, mode="auto", progress=False,
             inplace=False, intercept0=None):
    """Minimise a problem's loss by gradient descent, per problem for a batch.

    ``method`` in gd/momentum/nesterov/adam/rmsprop/adagrad/bb (docs/methods.md); ``eps``
    None = the method's torch default (Adagrad 1e-10, else 1e-8); ``alpha`` RMSprop's
    smoothing constant; ``restart=True`` adaptive restart for nesterov; ``lr`` a float, a (B,) array or "auto" (1/L
    by power iteration); stopping by ``gtol``/``xtol``/``ftol`` (0 switches a test off)
    or ``max_iter``, per problem; ``history=k`` records the loss every k iterations
    (``res.history_every`` = k); ``inplace=True`` writes the solution into ``x0``.
    ``callback(result)`` is called after every chunk of iterations (the solve then runs
    in config.CALLBACK_CHUNKS chunks); a problem still iterating has status
    ``Status.RUNNING`` there.  ``progress=True`` shows a progress bar (every target).
    ``intercept0``: the start of the intercept of a problem built with
    ``fit_intercept=True`` (shape of ``res.intercept``; default 0).

    Returns a :class:`fastgd.Result`.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a fastgd problem (e.g. fastgd.LeastSquares), "
                        f"got {type(problem).__name__}")
    method_code = validate.method("method", method)
    max_iter = validate.count("max_iter", max_iter)
    gtol = validate.nonneg_real("gtol", gtol)
    xtol = validate.nonneg_real("xtol", xtol)
    ftol = validate.nonneg_real("ftol", ftol)
    validate.choice("line_search", line_search, (None, "armijo"))
    momentum = validate.fits_dtype("momentum", validate.nonneg_real("momentum", momentum),
                                   problem.dtype)
    betas = validate.betas("betas", betas)
    eps = validate.method_eps("eps", eps, method_code)
    eps = validate.fits_dtype("eps", eps, problem.dtype)
    alpha = validate.unit_interval("alpha", alpha)
    restart = validate.restart("restart", restart, method_code)
    history = validate.count("history", history)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")
    lrs = validate.learning_rate(lr, problem.batch_size, problem.dtype)
    # bb always backtracks (its non-monotone test): for lr='auto' it counts as a line search
    searching = "armijo" if method_code == contract.BB else line_search
    if lrs is None:
        problem.check_auto_lr(searching)  # e.g. Poisson, RowLoss without lipschitz
    if intercept0 is not None and not problem.fit_intercept:
        raise ValueError("intercept0 needs a problem built with fit_intercept=True")
    intercept0 = validate.intercept_start(intercept0, problem.intercept_shape, problem.dtype)
    x0 = (validate.cuda_initial_point if validate.is_cuda_array(x0) else validate.initial_point)(
        x0, problem.solution_shape, problem.dtype, inplace)
    if inplace and isinstance(x0, np.ndarray):
        # the solution written into x0 would overwrite the data it is computed from
        validate.no_overlap([("x0", x0), ("X", problem.X), ("y", problem.y)])
    if device == "cuda" and (problem.fit_intercept or problem.sample_weight is not None):
        raise ValueError(validate.CUDA_REAL_DATA)  # (a CUDA X refuses them at construction)
    device = _device.resolve(device, problem.X, problem.y, x0)
    if device == "cuda" and problem.loss_code not in contract.GPU_LOSSES:
        # the CUDA kernels know the built-in row losses only (a user RowLoss or Softmax
        # would otherwise run some other loss there)
        raise ValueError(f"device='cuda' solves LeastSquares, Logistic, Huber and Poisson; "
                         f"{type(problem).__name__} runs on the CPU: use device='cpu' with "
                         f"NumPy arrays")
    mode = choose_mode(problem, mode, max_iter)
    plan = make_plan(problem, device, method_code, mode, max_iter, line_search, history, lrs,
                     x0, inplace, momentum, betas, eps, gtol, xtol, ftol, alpha, restart,
                     intercept0)
    plan.advice = auto_lr_advice(problem, lrs is None, searching)
    return run(plan, callback, progress)


def auto_lr_advice(problem, auto_used, line_search):
    """Which lr='auto' remedies a Result message may suggest for this problem (AUTO_*)."""
    if auto_used:
        return AUTO_USED
    for ls, advice in ((line_search, AUTO_AVAILABLE), ("armijo", AUTO_NEEDS_ARMIJO)):
        try:
            problem.check_auto_lr(ls)
        except ValueError:
            continue
        return advice
    return AUTO_UNAVAILABLE


def _backend(plan):
    if plan.device == "cuda":
        from .gpu.backend import CudaBackend
        return CudaBackend(plan)
    from .cpu.backend import CpuBackend
    return CpuBackend(plan)


def run(plan, callback=None, progress=False):
    """The outer loop of every target: chunks of iterations, callback and progress after
    each, until every problem has stopped or max_iter is reached."""
    max_iter = plan.max_iter
    bar = None
    if progress:  # Progress validates `progress` itself, before any buffer exists
        from .progress import Progress
        bar = Progress(max_iter, plan.batch_size, progress)
    backend = _backend(plan)
    # a callback gets fixed chunks; a progress bar alone sizes its chunks by time
    timed = bar is not None and callback is None
    chunk = max(1, max_iter // config.CALLBACK_CHUNKS) if callback is not None else max_iter
    stop_at = 0
    while True:
        stop_at = bar.next_stop(stop_at) if timed else min(max_iter, stop_at + chunk)
        try:
            state = _checked(backend.run_until(stop_at), stop_at)
        except KeyboardInterrupt:
            # every problem paused after a whole iteration: inplace keeps what was reached
            if plan.inplace:
                backend.solution(plan.x0)
            if bar is not None:
                bar.close()
            raise
        done = stop_at >= max_iter or not (state[:, contract.ST_STATUS] == contract.RUNNING).any()
        if callback is not None:
            callback(_result(plan, backend.iterate(), state, backend.history(),
                             _intercept(backend)))
        if bar is not None:
            bar.update(stop_at, state, done)
        if done:
            break
    x = backend.solution(plan.x0 if plan.inplace else None)
    return _result(plan, x, state, backend.history(), _intercept(backend))


def _intercept(backend):
    """res.intercept: the backend's intercepts, or None (no fit_intercept; the CUDA
    backend has none)."""
    get = getattr(backend, "intercept", None)
    return None if get is None else get()


def _checked(state, stop_at):
    """The state after a call that ran to stop_at: every problem still RUNNING must have
    reached it; one that did not was cut short by an exception inside compiled code,
    which Numba's parallel regions drop (or raise as SystemError)."""
    running = state[:, contract.ST_STATUS] == contract.RUNNING
    if (state[running, contract.ST_NIT] < stop_at).any():
        raise RuntimeError(runtime.STOPPED_EARLY)
    return state


def _result(plan, x, state, hist, intercept=None):
    problem = plan.problem
    h = np.asarray(hist).astype(problem.dtype) if plan.history else None
    res = build_result(x, state, h, batched=problem.batched, advice=plan.advice,
                       **plan.tolerances())
    res["intercept"] = intercept
    if plan.history:
        res["history_every"] = plan.history
    return res
