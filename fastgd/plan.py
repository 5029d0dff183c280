"""From validated arguments to a Plan: the target, the mode and the packed arrays of one solve.

The packed layout is fastgd/contract.py's; a backend (fastgd/cpu/backend.py,
fastgd/gpu/backend.py) turns a Plan into buffers and runs it.
"""
from dataclasses import dataclass

import numpy as np

from . import config, contract, validate
from .result import AUTO_AVAILABLE


def choose_mode(problem, mode, max_iter):
    """'direct' or 'gram'.  'auto' picks gram for a quadratic loss when its cost,
    n d^2/2 once (weighted config.GRAM_SETUP_WEIGHT: forming X^T X runs slower than a
    streaming pass) plus d^2 per iteration, is below direct's 2 n d per iteration."""
    validate.choice("mode", mode, ("auto", "direct", "gram"))
    if mode == "gram" and not problem.quadratic:
        raise ValueError(f"mode='gram' needs a quadratic loss (LeastSquares), "
                         f"not {type(problem).__name__}")
    if mode != "auto":
        return mode
    n, d = problem.n, problem.d
    if not problem.quadratic or d > config.MAX_GRAM_D:
        return "direct"
    gram_cost = config.GRAM_SETUP_WEIGHT * n * d * (d + 1) / 2 + max_iter * d * d
    return "gram" if gram_cost < 2.0 * max_iter * n * d else "direct"


def is_large(problem, device):
    """One problem run by the large-problem drivers (mode ROWS: parallel over row blocks,
    no copy of X; or GRAM built in parallel): X.size >= config.LARGE_PROBLEM_ELEMENTS and,
    on the CPU, X with its transposed copy past config.serial_max_bytes() (the cache).
    A CPU problem within it runs serially in the batched driver (B=1), SIMD over the rows
    of the copy: there an iteration is a few microseconds of work, less than a parallel
    launch costs, and a parallel region collapses when the cores are shared."""
    if problem.sparse:
        return True  # a CSR X: the parallel row-block driver (fastgd/cpu/csr.py)
    if problem.batched or problem.X.size < config.LARGE_PROBLEM_ELEMENTS:
        return False
    if device == "cuda":
        return True
    return 2 * problem.X.nbytes > config.serial_max_bytes()


def shared_lockstep(plan):
    """Whether a CPU batch over one shared X runs the lockstep driver (fastgd/cpu/lockstep.py:
    one pass over X per iteration for all its problems) instead of the per-problem
    shared.solve_shared: a dense X (n, d) with y (B, n), mode DIRECT, a row loss (not
    Softmax), no precondition, config.SHARED_X_LOCKSTEP on, and X with the old path's
    transposed copy past config.lockstep_min_bytes() (in cache the per-problem solves,
    parallel over problems, need no parallel launch per iteration)."""
    problem = plan.problem
    return (config.SHARED_X_LOCKSTEP and plan.device == "cpu" and not plan.large
            and problem.shared_x and not problem.sparse and problem.outputs == 1
            and int(plan.ip[contract.IP_MODE]) == contract.DIRECT
            and plan.precondition is None and plan.minibatch is None
            and 2 * problem.X.nbytes > config.lockstep_min_bytes())


@dataclass
class Plan:
    """One validated solve: the problem, where it runs, and its packed arrays.

    ip/hp/tol are the packed options (contract IP_*, HP_*, TOL_*); lrs is (B,) float64 or
    None for lr="auto"; x0 the validated initial point (NumPy or CUDA) or None.
    """

    problem: object
    device: str
    large: bool
    ip: np.ndarray
    hp: np.ndarray
    tol: np.ndarray
    lrs: object
    x0: object
    inplace: bool
    history: int
    advice: str = AUTO_AVAILABLE  # lr='auto' remedies a message may suggest (result.AUTO_*)
    record_x: bool = False  # keep the iterates every `history` iterations (api.run)
    threads: object = None  # the CPU thread cap of this solve (None: Numba's setting)
    intercept0: object = None  # (B, outputs) float64 start of the intercepts, or None (zeros)
    # precondition="diag": P (1 or B, PRE_ROWS, d) float64 of fastgd/precondition.py, or None
    precondition: object = None
    # batch_size=m < n: validate.MiniBatch (rows per update, shuffle, generator, schedule)
    minibatch: object = None
    # rows per tile of the tiled row loop (a large logistic's row pass on the CPU; else 1)
    row_tile: int = 1

    @property
    def max_iter(self):
        return int(self.ip[contract.IP_MAX_ITER])

    @property
    def batch_size(self):
        return self.problem.batch_size

    @property
    def n_params(self):
        return self.problem.n_params

    def initial_state(self):
        """The per-problem state (B, STATE_SIZE) float64 before the first iteration."""
        state = np.zeros((self.batch_size, contract.STATE_SIZE), np.float64)
        state[:, contract.ST_LR] = contract.LR_AUTO if self.lrs is None else self.lrs
        state[:, contract.ST_STATUS] = contract.RUNNING
        return state

    def empty_history(self):
        """hist (max_iter // history + 1, B) float64 of NaN, or (0, B) with history off."""
        rows = self.max_iter // self.history + 1 if self.history else 0
        return np.full((rows, self.batch_size), np.nan)

    def tolerances(self):
        """The tolerances by name, for Result messages."""
        return dict(gtol=float(self.tol[contract.TOL_G]), xtol=float(self.tol[contract.TOL_X]),
                    ftol=float(self.tol[contract.TOL_F]), rtol=float(self.tol[contract.TOL_R]),
                    max_iter=self.max_iter)


def method_parameters(dtype, momentum, betas, eps, alpha):
    """hp (HP_SIZE,) in `dtype` with the update rules' slots filled (the rest 0): what
    rules.method_direction reads (also the Dask row loop's)."""
    hp = np.zeros(contract.HP_SIZE, dtype)
    hp[contract.HP_ALPHA] = alpha
    hp[contract.HP_MOMENTUM] = momentum
    hp[contract.HP_KEEP] = 1.0
    hp[contract.HP_BETA1], hp[contract.HP_BETA2] = betas
    hp[contract.HP_EPS] = eps
    hp[contract.HP_ONE] = 1.0
    return hp


def hyper_parameters(problem, momentum, betas, eps, alpha):
    """hp (HP_SIZE,) in the problem's dtype."""
    hp = method_parameters(problem.dtype, momentum, betas, eps, alpha)
    hp[contract.HP_L2] = problem.kernel_l2()[0]  # l2 (B,): the shared-X driver sets it per problem
    hp[contract.HP_NINV] = 1.0 / problem.n
    hp[contract.HP_LPARAM] = problem.loss_param
    hp[contract.HP_CURV] = problem.curvature
    # relative rounding of a computed loss: Armijo accepts a step within it
    hp[contract.HP_LOSS_ROUNDING] = 16 * np.finfo(problem.dtype).eps
    return hp


def options(method_code, loss_code, mode_code, max_iter, armijo, history, restart, outputs=1,
            intercept=False):
    """ip (IP_SIZE,) int64; IP_STOP_AT starts at max_iter (the outer loop moves it)."""
    ip = np.zeros(contract.IP_SIZE, np.int64)
    ip[contract.IP_OUTPUTS] = outputs
    ip[contract.IP_INTERCEPT] = int(bool(intercept))
    ip[contract.IP_METHOD] = method_code
    ip[contract.IP_LOSS] = loss_code
    ip[contract.IP_MODE] = mode_code
    ip[contract.IP_MAX_ITER] = max_iter
    ip[contract.IP_STOP_AT] = max_iter
    ip[contract.IP_ARMIJO] = int(bool(armijo))
    ip[contract.IP_HIST_EVERY] = history
    ip[contract.IP_RESTART] = int(bool(restart))
    return ip


def tolerances(gtol, xtol, ftol, rtol=0.0):
    tol = np.zeros(contract.TOL_SIZE, np.float64)
    tol[contract.TOL_G], tol[contract.TOL_X], tol[contract.TOL_F] = gtol, xtol, ftol
    tol[contract.TOL_R] = rtol
    return tol


def make_plan(problem, device, method_code, mode, max_iter, line_search, history, lrs, x0,
              inplace, momentum, betas, eps, gtol, xtol, ftol, alpha=0.99, restart=False,
              threads=None, intercept0=None, *, record_x=False, rtol=0.0, precondition=None,
              minibatch=None):
    """A Plan from arguments already validated by fastgd.minimize."""
    large = is_large(problem, device)
    if mode == "gram":
        mode_code = contract.GRAM
    else:
        mode_code = contract.ROWS if large else contract.DIRECT
    ip = options(method_code, problem.loss_code, mode_code, max_iter, line_search == "armijo",
                 history, restart, problem.outputs, problem.fit_intercept)
    if intercept0 is not None:
        intercept0 = intercept0.reshape(problem.batch_size, problem.outputs)
    hp = hyper_parameters(problem, momentum, betas, eps, alpha)
    plan = Plan(problem=problem, device=device, large=large, ip=ip, hp=hp,
                tol=tolerances(gtol, xtol, ftol, rtol), lrs=lrs, x0=x0, inplace=inplace,
                history=history, threads=threads, record_x=record_x, intercept0=intercept0,
                precondition=precondition, minibatch=minibatch)
    tune_for_machine(plan)
    return plan


def tune_for_machine(plan):
    """The machine-dependent choices of a CPU solve (fastgd/cpu/calibrate.py: measured once
    per machine and cached), only where the plan's path reads them: the streaming row loops'
    prefetch distance (hp[HP_PREFETCH], a dense X on row blocks), the tiled row loop's tile
    (plan.row_tile, a large dense logistic's row pass) and the mini-batch visit-ahead
    distance (hp[HP_VISIT_AHEAD], a dense row-loss mini-batch).  Hints for speed only."""
    problem = plan.problem
    if plan.device != "cpu" or problem.sparse:
        return
    from .cpu import calibrate
    rows = int(plan.ip[contract.IP_MODE]) == contract.ROWS
    if rows:
        plan.hp[contract.HP_PREFETCH] = calibrate.prefetch_bytes()
    if rows and plan.large and problem.loss_code == contract.LOGISTIC:
        plan.row_tile = calibrate.row_tile(problem.d, problem.dtype.itemsize)
    if plan.minibatch is not None and problem.outputs == 1:
        plan.hp[contract.HP_VISIT_AHEAD] = calibrate.visit_ahead_rows()
