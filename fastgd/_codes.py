"""Integer codes shared by the API layer and the compiled drivers (CPU and GPU).

Kernels take a few packed parameter arrays instead of dozens of scalars, so the
number of compiled specialisations stays at one per dtype.  The index constants
below name the slots of those arrays.
"""

# methods
GD, MOMENTUM, NESTEROV, ADAM = 0, 1, 2, 3
METHODS = {"gd": GD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}

# built-in per-row losses (see losses.row_terms)
LSQ, LOGISTIC, HUBER, POISSON = 0, 1, 2, 3
GPU_LOSSES = (LSQ, LOGISTIC, HUBER, POISSON)  # the row losses the CUDA kernels implement

# how the gradient is evaluated
DIRECT, GRAM, ROWS = 0, 1, 2
MODES = {"direct": DIRECT, "gram": GRAM}

# per-problem status; RUNNING only lives inside the drivers
RUNNING = -1
GTOL, XTOL, FTOL, MAX_ITER, DIVERGED, LINE_SEARCH_FAILED = 0, 1, 2, 3, 4, 5

# a loss that exceeds its start by this factor (of max(|f0|, tiny)) counts as diverged
DIVERGE_FACTOR = 1e10
ARMIJO_C1 = 1e-4
ARMIJO_MAX_HALVINGS = 60
POWER_ITERATIONS = 50

# slots of the float hyper-parameter array `hp` (dtype of X)
(HP_MOMENTUM, HP_KEEP, HP_BETA1, HP_BETA2, HP_EPS, HP_L2, HP_NINV, HP_ONE, HP_LPARAM, HP_CURV,
 HP_LOSS_ROUNDING) = range(11)
HP_SIZE = 11
# slots of the int64 option array `ip`
IP_METHOD, IP_LOSS, IP_MODE, IP_MAX_ITER, IP_STOP_AT, IP_ARMIJO, IP_HIST_EVERY = range(7)
IP_SIZE = 7
# slots of the float64 tolerance array `tol`
TOL_G, TOL_X, TOL_F = range(3)
TOL_SIZE = 3
