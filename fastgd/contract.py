"""The packed contract between the API layer and every compiled driver (CPU and GPU).

Kernels take a few packed arrays instead of dozens of scalars, so the number of
compiled specialisations stays at one per dtype.  Every slot of those arrays, every
integer code and the semantic constants of an iteration have a name here, and only
here: no other module indexes a packed array by a bare number.

Packed arrays of one solve of B problems with d parameters each:

    state  (B, STATE_SIZE) float64  per-problem, read and written by the drivers:
           ST_LR      step size (LR_AUTO until lr="auto" has been resolved)
           ST_NIT     updates applied
           ST_STATUS  RUNNING, or the Status code it stopped with
           ST_F0      loss at x0 (the divergence limit is relative to it)
           ST_FUN     loss at the current iterate
           ST_GNORM   gradient norm at the current iterate
           ST_LR0     the step size at iteration 0 (Armijo's cap, bb's clipping range)
           ST_FREF    bb's non-monotone reference loss (Zhang & Hager's C_k)
           ST_QREF    its weight Q_k
           ST_STREAK  Armijo: updates in a row accepted at their first trial
           ST_PATIENCE  Armijo: the streak that lets the step grow
           ST_GROWN   Armijo: 1 when the step grew since the last backtrack
           ST_GTOL    the gradient tolerance of this problem: max(gtol, rtol |g(x0)|)
    hp     (HP_SIZE,) dtype of X    float hyper-parameters (HP_*)
    ip     (IP_SIZE,) int64         integer options (IP_*)
    tol    (TOL_SIZE,) float64      tolerances (TOL_*)
    S      (1 or B, n) dtype of X   sample weights scaled to sum n per problem (sum_i s_i
                                    phi_i / n is then the weighted mean), or (1, 0): none
    W, S1, S2 (B, m)                iterate (m = d, or d + 1 with the intercept last;
                                    Softmax: d*k (+ k)), method state (momentum buffer; Adam m, v;
                                    RMSprop's square average and Adagrad's sum in S2)
    hist   (rows, B) float64        loss records (see decisions.record_history)
    P      (1 or B, PRE_ROWS, d) float64  precondition="diag": the change of variables
                                    w = T v of each problem (fastgd/precondition.py), or
                                    (1, PRE_ROWS, 0): none (W then holds w itself)
"""

# ---------------------------------------------------------------- methods
GD, MOMENTUM, NESTEROV, ADAM, RMSPROP, ADAGRAD, BB = range(7)
METHODS = {"gd": GD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM,
           "rmsprop": RMSPROP, "adagrad": ADAGRAD, "bb": BB}
# eps=None means the method's torch.optim default: Adagrad's 1e-10, else 1e-8 (Adam, RMSprop)
EPS_DEFAULT = 1e-8
ADAGRAD_EPS_DEFAULT = 1e-10

# ---------------------------------------------------------------- losses
# built-in per-row losses (see losses.row_terms)
LSQ, LOGISTIC, HUBER, POISSON = 0, 1, 2, 3
GPU_LOSSES = (LSQ, LOGISTIC, HUBER, POISSON)  # the row losses the CUDA kernels implement
OWN_KERNELS = -1  # loss code of a problem with drivers of its own (Softmax)

# ---------------------------------------------------------------- evaluation modes
DIRECT, GRAM, ROWS = 0, 1, 2
MODES = {"direct": DIRECT, "gram": GRAM}

# ---------------------------------------------------------------- per-problem status
# RUNNING: not stopped yet (a paused, resumable problem keeps it)
RUNNING = -1
GTOL, XTOL, FTOL, MAX_ITER, DIVERGED, LINE_SEARCH_FAILED = 0, 1, 2, 3, 4, 5
SUCCESS_CODES = (GTOL, XTOL, FTOL)

# ---------------------------------------------------------------- outcomes of one decision
# before an update (decisions.before_update): RUNNING = go on, PAUSE = this call's chunk
# is done (the problem stays RUNNING), or a stopping status
PAUSE = -2
# of one trial point (decisions.trial_outcome): ACCEPT, BACKTRACK (Armijo halves the
# step), or a stopping status (DIVERGED, LINE_SEARCH_FAILED)
ACCEPT, BACKTRACK = -3, -4

# ---------------------------------------------------------------- semantic constants
# a loss that exceeds its start by this factor (of max(|f0|, tiny)) counts as diverged
DIVERGE_FACTOR = 1e10
ARMIJO_C1 = 1e-4
ARMIJO_MAX_HALVINGS = 60
# Armijo lets the step grow again: after `patience` updates in a row accepted at their
# first trial (ARMIJO_GROW_AFTER at the start), the next first trial is ARMIJO_GROW times
# the last accepted step, never above the initial lr.  A backtrack after a growth doubles
# the patience (up to ARMIJO_MAX_PATIENCE): growing after every success zigzags at the
# edge of 2/L on ill-conditioned quadratics
ARMIJO_GROW = 2.0
ARMIJO_GROW_AFTER = 10
ARMIJO_MAX_PATIENCE = 1 << 30
# a loss still above its start by this factor (of max(|f0|, tiny)) when max_iter is reached
# is reported DIVERGED, not MAX_ITER
END_DIVERGE_FACTOR = 1e3
# bb: Barzilai-Borwein steps s.s / s.y stay within [lr0 / BB_STEP_RANGE, lr0 * BB_STEP_RANGE];
# acceptance is Zhang & Hager's non-monotone Armijo test against a weighted mean of the past
# losses (weight NONMONOTONE_ETA; 0 would be monotone Armijo)
BB_STEP_RANGE = 1e10
NONMONOTONE_ETA = 0.85
POWER_ITERATIONS = 50

# ---------------------------------------------------------------- state (B, STATE_SIZE)
(ST_LR, ST_NIT, ST_STATUS, ST_F0, ST_FUN, ST_GNORM, ST_LR0, ST_FREF, ST_QREF, ST_STREAK,
 ST_PATIENCE, ST_GROWN, ST_GTOL) = range(13)
STATE_SIZE = 13
# ST_LR before lr="auto" is resolved by the driver (any value <= 0 would do; this one)
LR_AUTO = -1.0

# ---------------------------------------------------------------- hp: float hyper-parameters
# HP_PREFETCH: how far ahead (bytes) the streaming row loops of one large CPU problem
# prefetch X; 0 = no software prefetch (chosen per machine: fastgd/cpu/calibrate.py).
# HP_VISIT_AHEAD: how many visited rows ahead a CPU mini-batch epoch over a dense X prefetches
# (0 = none; chosen per machine too)
(HP_MOMENTUM, HP_KEEP, HP_BETA1, HP_BETA2, HP_EPS, HP_L2, HP_NINV, HP_ONE, HP_LPARAM, HP_CURV,
 HP_LOSS_ROUNDING, HP_ALPHA, HP_PREFETCH, HP_VISIT_AHEAD) = range(14)
HP_SIZE = 14
# ---------------------------------------------------------------- ip: int64 options
# IP_OUTPUTS: outputs per row (Softmax's k; 1 for a row loss); IP_INTERCEPT: 1 when the
# last IP_OUTPUTS coordinates of an iterate are unpenalised intercepts (fit_intercept=True)
(IP_METHOD, IP_LOSS, IP_MODE, IP_MAX_ITER, IP_STOP_AT, IP_ARMIJO, IP_HIST_EVERY,
 IP_RESTART, IP_OUTPUTS, IP_INTERCEPT) = range(10)
IP_SIZE = 10
# ip[IP_STOP_AT] set by Ctrl-C while a call runs: every problem pauses, none starts
INTERRUPTED = -1
# ---------------------------------------------------------------- tol: float64 tolerances
TOL_G, TOL_X, TOL_F, TOL_R = range(4)
TOL_SIZE = 4

# ---------------------------------------------------------------- P: precondition="diag"
# rows of P[q] (PRE_ROWS, d): PRE_SCALE the column scales c_j; PRE_SHIFT the column means
# mu_j that the intercept absorbs (0 without fit_intercept).  The drivers iterate on v;
# the model's variables are w_jc = c_j v_jc and b_c = v_b,c - sum_j mu_j w_jc
PRE_SCALE, PRE_SHIFT = 0, 1
PRE_ROWS = 2
PRECONDITIONS = (None, "diag")


# ---------------------------------------------------------------- fastgd.ops scalar arrays
# sgd_ (buffer dtype): lr, momentum, keep = 1 - dampening, weight decay
SGD_LR, SGD_MOMENTUM, SGD_KEEP, SGD_WD = range(4)
SGD_HP_SIZE = 4
# adam_ (buffer dtype): lr / (1 - beta1^t), 1 - beta1, beta2, 1 - beta2,
# sqrt(1 - beta2^t), eps, weight decay, 1 - lr * weight decay (AdamW's shrink)
AD_STEP_SIZE, AD_OMB1, AD_BETA2, AD_OMB2, AD_BC2_SQRT, AD_EPS, AD_WD, AD_DECAY = range(8)
AD_HP_SIZE = 8


def sgd_scalars(lr, momentum, keep, weight_decay):
    """The sgd_ scalars in slot order (SGD_*): a tuple, packed once per step."""
    return (lr, momentum, keep, weight_decay)


def adam_scalars(step_size, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps,
                 weight_decay, shrink):
    """The adam_ scalars in slot order (AD_*)."""
    return (step_size, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, weight_decay,
            shrink)
