"""minimize() and sweep_lr(): validate, choose target and mode, call one driver, build Result."""
import numba
import numpy as np

from . import contract, _device, _jit, validate
from .problems import Problem
from .result import build_result

# one large problem is parallelised over rows from this many elements of X on
LARGE_PROBLEM_ELEMENTS = 1 << 16
MAX_GRAM_D = 2048
GRAM_SETUP_WEIGHT = 4.0
# per-chunk scratch of the batched driver is about n*d elements: beyond one chunk per
# thread, add chunks only while their scratch stays under this many elements (2 MB)
CHUNK_SCRATCH_ELEMENTS = 1 << 18


def choose_mode(problem, mode, max_iter):
    """'direct' or 'gram'.  'auto' picks gram for a quadratic loss when its cost,
    n d^2/2 once (weighted GRAM_SETUP_WEIGHT: forming X^T X runs at a quarter of the speed
    of a streaming pass, measured on W2) plus d^2 per iteration, is below direct's
    2 n d per iteration."""
    validate.choice("mode", mode, ("auto", "direct", "gram"))
    if mode == "gram" and not problem.quadratic:
        raise ValueError(f"mode='gram' needs a quadratic loss (LeastSquares), "
                         f"not {type(problem).__name__}")
    if mode != "auto":
        return mode
    n, d = problem.n, problem.d
    if not problem.quadratic or d > MAX_GRAM_D:
        return "direct"
    gram_cost = GRAM_SETUP_WEIGHT * n * d * (d + 1) / 2 + max_iter * d * d
    return "gram" if gram_cost < 2.0 * max_iter * n * d else "direct"


def _hyper_parameters(problem, momentum, betas, eps):
    hp = np.zeros(contract.HP_SIZE, problem.dtype)
    hp[contract.HP_MOMENTUM] = momentum
    hp[contract.HP_KEEP] = 1.0
    hp[contract.HP_BETA1], hp[contract.HP_BETA2] = betas
    hp[contract.HP_EPS] = eps
    hp[contract.HP_L2] = problem.l2
    hp[contract.HP_NINV] = 1.0 / problem.n
    hp[contract.HP_ONE] = 1.0
    hp[contract.HP_LPARAM] = problem.loss_param
    hp[contract.HP_CURV] = problem.curvature
    # relative rounding of a computed loss: Armijo accepts a step within it
    hp[contract.HP_LOSS_ROUNDING] = 16 * np.finfo(problem.dtype).eps
    return hp


def _betas(betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return validate.unit_interval("betas[0]", b1), validate.unit_interval("betas[1]", b2)


def minimize(problem, method="gd", *, lr="auto", x0=None, max_iter=1000, gtol=1e-6, xtol=0.0,
             ftol=0.0, line_search=None, momentum=0.9, betas=(0.9, 0.999), eps=1e-8,
             device=None, history=0, callback=None, mode="auto", progress=False, inplace=False):
    """Minimise a problem's loss by gradient descent, per problem for a batch.

    Parameters follow ``fastgd`` API.md: ``method`` in gd/momentum/nesterov/adam;
    ``lr`` a float, a (B,) array or "auto" (1/L by power iteration); stopping by
    ``gtol``/``xtol``/``ftol`` (0 switches a test off) or ``max_iter``, per problem;
    ``history=k`` records the loss every k iterations; ``inplace=True`` writes the
    solution into ``x0``.  ``callback(result)`` is called after every chunk of
    iterations (the solve then runs in chunks of max(1, max_iter // 20)).

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
    momentum = validate.nonneg_real("momentum", momentum)
    betas = _betas(betas)
    eps = validate.nonneg_real("eps", eps)
    history = validate.count("history", history)
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")
    B = problem.batch_size
    lrs = validate.learning_rate(lr, B, problem.dtype)
    if lrs is None:
        problem.check_auto_lr(line_search)  # e.g. Poisson, RowLoss without lipschitz
    x0 = (validate.cuda_initial_point if validate.is_cuda_array(x0) else validate.initial_point)(
        x0, problem.solution_shape, problem.dtype, inplace)
    device = _device.resolve(device, problem.X, problem.y, x0)
    if device == "cuda" and problem.loss_code not in contract.GPU_LOSSES:
        # the CUDA kernels know the built-in row losses only (a user RowLoss or Softmax
        # would otherwise run some other loss there)
        raise ValueError(f"device='cuda' solves LeastSquares, Logistic, Huber and Poisson; "
                         f"{type(problem).__name__} runs on the CPU: use device='cpu' with "
                         f"NumPy arrays")
    mode = choose_mode(problem, mode, max_iter)

    d = problem.n_params  # d * n_classes for Softmax
    on_host_x0 = x0 is not None and device == "cpu"
    W = x0.reshape(B, d).copy() if on_host_x0 else np.zeros((B, d), problem.dtype)
    S1 = np.zeros((B, d), problem.dtype)
    S2 = np.zeros((B, d), problem.dtype)
    state = np.zeros((B, 6), np.float64)
    state[:, 0] = -1.0 if lrs is None else lrs
    state[:, 2] = contract.RUNNING
    hist = np.full((max_iter // history + 1 if history else 0, B), np.nan)
    hp = _hyper_parameters(problem, momentum, betas, eps)
    tol = np.array([gtol, xtol, ftol], np.float64)
    large = not problem.batched and problem.X.size >= LARGE_PROBLEM_ELEMENTS
    if large:
        mode_code = contract.GRAM if mode == "gram" else contract.ROWS
    else:
        mode_code = contract.MODES[mode]
    ip = np.array([method_code, problem.loss_code, mode_code, max_iter, max_iter,
                   line_search == "armijo", history], np.int64)

    # --- GPU target (fastgd/gpu/solve.py; its docstring says which fields are device arrays)
    if device == "cuda":
        from .gpu.solve import minimize_cuda
        return minimize_cuda(problem, x0, inplace, W, state, hist, ip, hp, tol, large,
                             max(1, max_iter // 20) if callback is not None else None, callback,
                             lambda x, st, h: _result(problem, x, st, h, history, gtol, xtol,
                                                      ftol, max_iter, x))
    # --- end GPU target
    kernels = problem.kernels()
    X3 = problem.X if problem.batched else problem.X[None]
    y2 = problem.y if problem.batched else problem.y[None]
    threads = numba.get_num_threads()
    chunk_iters = max(1, max_iter // 20) if callback is not None else max_iter
    # --- progress=True (fastgd/progress.py): chunks sized by time, a display after each
    bar = None
    if progress:
        from .progress import Progress
        bar = Progress(max_iter, B, progress)
    timed_chunks = bar is not None and callback is None
    # --- end progress
    stop_at = 0
    while True:
        stop_at = bar.next_stop(stop_at) if timed_chunks else min(max_iter, stop_at + chunk_iters)
        ip[contract.IP_STOP_AT] = stop_at
        with _jit.parallel_launch():
            if large:
                nblocks = max(1, min(problem.n // 256, 4 * threads))
                kernels.solve_single(problem.X, problem.y, W[0], S1[0], S2[0], ip, hp, tol,
                                     state[0], hist, nblocks)
            else:
                # many small chunks handed out dynamically: problems that run long (W5's
                # ill-conditioned tenth) do not leave one thread with the tail
                nchunks = min(B, max(threads, min(16 * threads, CHUNK_SCRATCH_ELEMENTS
                                                  // (problem.n * problem.d + 1))))
                previous = numba.get_parallel_chunksize()
                numba.set_parallel_chunksize(1)
                try:
                    kernels.solve_batch(X3, y2, W, S1, S2, ip, hp, tol, state, hist, nchunks)
                finally:
                    numba.set_parallel_chunksize(previous)
        done = stop_at >= max_iter or not (state[:, 2] == contract.RUNNING).any()
        if callback is not None:
            callback(_result(problem, W, state, hist, history, gtol, xtol, ftol, max_iter, None))
        if bar is not None:
            bar.update(stop_at, state, done)
        if done:
            break
    x = W.reshape(problem.solution_shape)  # [glm]
    if inplace:
        x0[...] = x
        x = x0
    return _result(problem, x, state, hist, history, gtol, xtol, ftol, max_iter, x)


def _result(problem, W, state, hist, history, gtol, xtol, ftol, max_iter, x):
    if x is None:
        x = W.reshape(problem.solution_shape).copy()  # [glm]
    h = hist.astype(problem.dtype) if history else None
    return build_result(x, state, h, batched=problem.batched, gtol=gtol, xtol=xtol, ftol=ftol,
                        max_iter=max_iter)
