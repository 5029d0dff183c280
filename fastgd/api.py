"""minimize(): validate, plan, run one backend in the one outer loop, build the Result.

validate (fastgd/validate.py, problem construction) -> plan (fastgd/plan.py: target,
mode, packed arrays) -> backend (fastgd/cpu/backend.py or fastgd/gpu/backend.py:
``run_until``) -> Result (fastgd/result.py).  The outer loop here is the only one: it
chunks the iterations for ``callback`` and ``progress`` on every target.
"""
import numpy as np

from . import _device, config, contract, runtime, validate
from . import precondition as _precondition
from .objective import Objective
from .plan import choose_mode, make_plan
from .problems import Problem
from .result import (
    AUTO_AVAILABLE, AUTO_NEEDS_ARMIJO, AUTO_UNAVAILABLE, AUTO_USED, build_result,
)

__all__ = ["minimize", "choose_mode"]


def minimize(problem, method="gd", *, lr="auto", x0=None, max_iter=1000, gtol=1e-6, xtol=0.0,
             ftol=0.0, rtol=0.0, line_search=None, momentum=0.9, betas=(0.9, 0.999), eps=None, alpha=0.99,
             restart=False, device=None, history=0, callback=None, mode="auto", progress=False,
             inplace=False, record_x=False, threads=None, intercept0=None, precondition=None,
             batch_size=None, shuffle=True, random_state=None, lr_schedule="constant"):
    """Minimise a problem's loss by gradient descent, per problem for a batch.

    ``method`` in gd/momentum/nesterov/adam/rmsprop/adagrad/bb (docs/methods.md); ``eps``
    None = the method's torch default (Adagrad 1e-10, else 1e-8); ``alpha`` RMSprop's
    smoothing constant; ``restart=True`` adaptive restart for nesterov; ``lr`` a float, a (B,) array or "auto" (1/L
    by power iteration); stopping by ``gtol``/``xtol``/``ftol`` (0 switches a test off)
    or ``max_iter``, per problem (``rtol``: the gradient test becomes |g| <= max(gtol,
    rtol |g(x0)|), relative to the start; default 0, off); ``history=k`` records the loss every k iterations
    (``res.history_every`` = k); ``inplace=True`` writes the solution into ``x0``.
    ``record_x=True`` (with ``history=k``) also keeps the iterates, ``res.x_history``
    of shape (max_iter // k + 1,) + x.shape, by the loss history's rule (record j is
    iterate j k; a stopped problem repeats its final x): the solve then runs in chunks of
    k iterations, one compiled call each (the same iterates; meant for pictures).
    ``callback(result)`` is called after every chunk of iterations (the solve then runs
    in config.CALLBACK_CHUNKS chunks); a problem still iterating has status
    ``Status.RUNNING`` there.  ``progress=True`` shows a progress bar (every target).
    ``threads=k`` caps the CPU threads of this solve (default: Numba's setting,
    ``numba.set_num_threads``); one problem that fits the cache runs serially anyway.

    ``problem`` may be a :class:`fastgd.Objective`: then ``x0`` ((B, d) starts, or (d,))
    is required and ``lr`` must be given (a number or a (B,) array).
    ``intercept0``: the start of the intercept of a problem built with
    ``fit_intercept=True`` (shape of ``res.intercept``; default 0).
    ``precondition="diag"``: gradient descent on implicitly rescaled columns (centred too
    with an intercept; fastgd/precondition.py, docs/problems.md); x0, res.x, res.intercept,
    fun, grad_norm and gtol keep referring to the original variables.

    ``batch_size=m`` (< n): stochastic mini-batch gradient descent; one iteration
    (``nit``) is one epoch of ceil(n / m) updates, each with the gradient of m rows
    (``sum_{i in b} s_i phi'_i x_i / |b| + l2 w``, s the sample weights scaled to mean 1),
    visited in a new order every epoch (the e-th ``rng.permutation(n)`` of
    ``np.random.default_rng(random_state)``, or of the Generator passed, the same for every
    problem of a batch; ``shuffle=False``: the stored order); X is never copied.  Step of
    update t (1-based over the solve): ``lr`` times 1 (``lr_schedule="constant"``),
    ``t ** -0.5`` ("invscaling") or ``lr_schedule(t)`` (a callable, on the host).  The
    stopping tests run once per epoch on the full-data loss and gradient; res.fun and
    res.grad_norm are full-data values at res.x; lr="auto" is the full-data 1/L;
    precondition="diag" is computed once on the full data and the updates run in the
    rescaled variables (CPU).  method="bb": SGD-BB (each epoch's step from the epoch's change
    of the iterate and of the full-data gradient, divided by the updates per epoch; an
    epoch failing bb's non-monotone test is rerun at half the step); restart=True: the
    momentum is zeroed after an epoch whose full-data loss went up.  Not with
    line_search="armijo", mode="gram", Softmax over a CSR X or an Objective (ValueError naming
    batch_size); dense (memmap included), CSR and shared X, batches, fit_intercept,
    sample_weight, every problem family.  device="cuda": what the GPU's full-batch
    path solves (dense X, the built-in losses; no fit_intercept, sample_weight or
    shared X), with the same visiting orders as the CPU.
    batch_size None or >= n: the full-batch solve.

    Returns a :class:`fastgd.Result`.
    """
    objective = isinstance(problem, Objective)
    if isinstance(problem, Objective):
        problem = problem.starts(x0)  # x0's shape and dtype; its values below
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a fastgd problem (e.g. fastgd.LeastSquares) or a "
                        f"fastgd.Objective, got {type(problem).__name__}")
    method_code = validate.method("method", method)
    max_iter = validate.count("max_iter", max_iter)
    gtol = validate.nonneg_real("gtol", gtol)
    xtol = validate.nonneg_real("xtol", xtol)
    ftol = validate.nonneg_real("ftol", ftol)
    rtol = validate.nonneg_real("rtol", rtol)
    validate.choice("line_search", line_search, (None, "armijo"))
    momentum = validate.fits_dtype("momentum", validate.nonneg_real("momentum", momentum),
                                   problem.dtype)
    betas = validate.betas("betas", betas)
    eps = validate.method_eps("eps", eps, method_code)
    eps = validate.fits_dtype("eps", eps, problem.dtype)
    alpha = validate.unit_interval("alpha", alpha)
    restart = validate.restart("restart", restart, method_code)
    history = validate.count("history", history)
    record_x = validate.flag("record_x", record_x)
    if record_x and history == 0:
        raise ValueError("record_x=True needs history=k >= 1 (x is recorded every k "
                         "iterations)")
    threads = validate.thread_count("threads", threads)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")
    lrs = validate.learning_rate(lr, problem.batch_size, problem.dtype)
    # bb always backtracks (its non-monotone test): for lr='auto' it counts as a line search,
    # and line_search='armijo' adds nothing to it (with mini-batches either)
    searching = "armijo" if method_code == contract.BB else line_search
    minibatch = validate.minibatch(
        batch_size, shuffle, random_state, lr_schedule, problem, objective=objective,
        line_search=None if method_code == contract.BB else line_search, mode=mode)
    if lrs is None:
        problem.check_auto_lr(searching)  # e.g. Poisson, RowLoss without lipschitz
    if intercept0 is not None and not problem.fit_intercept:
        raise ValueError("intercept0 needs a problem built with fit_intercept=True")
    intercept0 = validate.intercept_start(intercept0, problem.intercept_shape, problem.dtype)
    x0 = (validate.cuda_initial_point if validate.is_cuda_array(x0) else validate.initial_point)(
        x0, problem.solution_shape, problem.dtype, inplace)
    if inplace and isinstance(x0, np.ndarray):
        # the solution written into x0 would overwrite the data it is computed from
        validate.no_overlap([("x0", x0), ("X", problem.csr[0] if problem.sparse else problem.X),
                             ("y", problem.y)])
    if device == "cuda" and (problem.fit_intercept or problem.sample_weight is not None):
        raise ValueError(validate.CUDA_REAL_DATA)  # (a CUDA X refuses them at construction)
    if problem.sparse:  # a CSR X (fastgd/sparse.py): CPU, its row pass
        from .sparse import solve_mode
        mode = solve_mode(mode, device)
    if device == "cuda" and (problem.shared_x or problem.per_problem_l2):
        raise ValueError(validate.CUDA_SHARED_X)
    precondition = _precondition.checked(precondition, problem, device)  # device="cuda"
    device = _device.resolve(device, problem.X, problem.y, x0)
    precondition = _precondition.checked(precondition, problem, device)  # CUDA arrays
    if device == "cuda" and problem.loss_code not in contract.GPU_LOSSES \
            and not hasattr(problem, "cuda_kernel"):
        # the CUDA kernels know the built-in row losses only (a user RowLoss or Softmax
        # would otherwise run some other loss there)
        raise ValueError(f"device='cuda' solves LeastSquares, Logistic, Huber and Poisson; "
                         f"{type(problem).__name__} runs on the CPU: use device='cpu' with "
                         f"NumPy arrays")
    if record_x:
        need = (max_iter // history + 1) * problem.batch_size * problem.n_params * \
            problem.dtype.itemsize
        if need > config.MAX_RECORD_X_BYTES:
            raise ValueError(f"record_x=True would keep {need / 2**30:.1f} GiB of iterates "
                             f"(> {config.MAX_RECORD_X_BYTES / 2**30:g} GiB): use a larger "
                             f"history=k, fewer problems or a smaller max_iter")
    if minibatch is not None:
        validate.choice("mode", mode, ("auto", "direct"))  # (a mini-batch reads rows)
        mode = "direct"
    elif not problem.sparse:
        mode = choose_mode(problem, mode, max_iter)
    P = None if precondition is None else _precondition.transform(problem)
    plan = make_plan(problem, device, method_code, mode, max_iter, line_search, history, lrs,
                     x0, inplace, momentum, betas, eps, gtol, xtol, ftol, alpha, restart,
                     threads, intercept0, record_x=record_x, rtol=rtol, precondition=P,
                     minibatch=minibatch)
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
    if plan.device == "cuda" and plan.minibatch is not None:
        from .gpu.backend_minibatch import MinibatchCudaBackend
        return MinibatchCudaBackend(plan)
    if plan.device == "cuda":
        from .gpu.backend import CudaBackend
        return CudaBackend(plan)
    if plan.minibatch is not None:
        from .cpu.backend_minibatch import MinibatchBackend
        return MinibatchBackend(plan)
    if plan.problem.sparse:
        from .cpu.backend_csr import CsrBackend
        return CsrBackend(plan)
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
    # a callback gets fixed chunks; a progress bar alone sizes its chunks by time;
    # record_x: one chunk per record (a call leaves every running problem at stop_at)
    timed = bar is not None and callback is None and not plan.record_x
    chunk = max(1, max_iter // config.CALLBACK_CHUNKS) if callback is not None else max_iter
    if plan.record_x:
        chunk = plan.history
        xs = [backend.iterate()]  # record 0: x0
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
        if plan.record_x and stop_at % plan.history == 0:
            xs.append(backend.iterate())
        if callback is not None:
            callback(_result(plan, backend.iterate(), state, backend.history(),
                             _intercept(backend)))
        if bar is not None:
            bar.update(stop_at, state, done)
        if done:
            break
    x = backend.solution(plan.x0 if plan.inplace else None)
    res = _result(plan, x, state, backend.history(), _intercept(backend))
    if plan.record_x:
        # the rows after the last call repeat the final iterates (decisions.record_history)
        rows = max_iter // plan.history + 1
        xs.extend([np.array(x)] * (rows - len(xs)))
        res["x_history"] = np.stack(xs)
    return res


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
                       minibatch=plan.minibatch is not None, **plan.tolerances())
    res["intercept"] = intercept
    if plan.history:
        res["history_every"] = plan.history
    return res
