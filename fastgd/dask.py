"""fastgd on Dask: batches sharded by problem, one large problem sharded by rows.

``fastgd.dask.minimize(X, y, problem="lstsq", method="gd", ...)`` takes dask arrays
(NumPy arrays are wrapped) and returns a :class:`fastgd.Result` of NumPy arrays:

- ``X`` of shape ``(B, n, d)`` (a batch): chunks along B only; every chunk is solved
  entirely by ``fastgd.minimize`` inside one task (``da.blockwise``), so there is no
  communication per iteration.  Per-problem x, fun, grad_norm, nit, status, lr come back.
  Mini-batches (``batch_size=m`` with ``shuffle``, ``random_state``, ``lr_schedule``) are
  passed on; every problem of a batch visits the rows in the same orders (epoch e: the
  e-th ``rng.permutation(n)`` of the solve's generator), so every chunk gets the same
  generator -- ``random_state`` an int, a copy of the Generator passed (the caller's is
  not advanced), or for ``None`` one fresh seed drawn on the client -- and the result is
  that of one ``fastgd.minimize`` call on the whole batch, however B is chunked.
- ``X`` of shape ``(n, d)`` (one problem, rows sharded): the row chunks are made
  contiguous, checked once and kept on the workers (one future per chunk); each
  iteration sends ``w`` (d numbers) with one ``client.map`` over those futures, every
  task returns its chunk's mean (loss, gradient) from the one-pass kernel
  (``fastgd.ops.lstsq_grad`` / ``logistic_grad``), and the client sums them weighted
  by chunk rows and applies the update of ``rules.method_direction`` (every method).
  The iteration, stopping rules, bb's steps and non-monotone test, nesterov's restart,
  ``lr="auto"`` (power iteration, with ``X^T X v`` per chunk) and divergence test are
  the decisions of every driver (fastgd/decisions.py).

The row mode refuses ``batch_size`` (a mini-batch update per round trip to the workers
would be all latency): mini-batches run on one machine (``fastgd.minimize``) or per chunk
in the batch mode.  The row mode needs a ``distributed.Client`` (the ``client=`` argument or the default
one); the batch mode runs on whatever Dask scheduler is active.  A worker lost during
a solve makes Dask recompute its chunks from their graph and rerun the tasks; when
Dask gives up, the error is raised (never a partial or stale x).

dask is imported here, on first use of this module, never by ``import fastgd``.
"""
import copy
import math
import uuid

import numpy as np

from . import contract, decisions, rules, validate
from . import ops as _ops
from .result import build_result

__all__ = ["minimize"]

_PROBLEMS = {"lstsq": contract.LSQ, "logistic": contract.LOGISTIC}


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("fastgd.dask needs dask: pip install 'fastgd[dask]'") from None
    return dask, da


def _as_dask(name, a, da):
    if isinstance(a, da.Array):
        return a
    if isinstance(a, np.ndarray):
        return da.from_array(a)
    raise TypeError(f"{name} must be a dask or NumPy array, got {type(a).__name__}")


def minimize(X, y, problem="lstsq", method="gd", *, l2=0.0, lr="auto", x0=None, max_iter=1000,
             gtol=1e-6, xtol=0.0, ftol=0.0, momentum=0.9, betas=(0.9, 0.999), eps=None,
             alpha=0.99, restart=False, fit_intercept=False, sample_weight=None, client=None,
             callback=None, **options):
    """Minimise a least-squares or logistic loss over dask arrays.

    X: dask array (n, d) -> one problem, chunked along rows (column chunks are merged);
       (B, n, d) -> a batch, chunked along B (other axes are merged into one chunk).
    y: (n,) or (B, n), same dtype as X (float32/float64); rechunked to match X.
    problem: "lstsq" or "logistic"; batch mode also accepts a fastgd problem class
       (e.g. ``fastgd.Huber``), built per chunk as ``problem(Xc, yc, l2=l2)``.
    lr: float, "auto", or for a batch a (B,) array.  x0: (d,) or (B, d) NumPy array.
    method, momentum, betas, eps, alpha, restart: as in ``fastgd.minimize`` (every method).
    fit_intercept, sample_weight: as for fastgd's problems (an unpenalised intercept in
       ``res.intercept``; weights (n,) or, for a batch, (B, n), dask or NumPy, chunked like y).
    client: a ``distributed.Client`` (default: the current one).  The row mode needs one.
    callback(it, w): row mode only, called on the client after every update (w is the
       new iterate, read-only use).
    options: batch mode only, passed on to ``fastgd.minimize`` (e.g. line_search, mode,
       precondition="diag", batch_size, shuffle, random_state, lr_schedule; the
       row-sharded mode refuses precondition="diag" and batch_size).
    Returns a fastgd.Result with NumPy arrays (x computed).
    """
    dask, da = _dask()
    X = _as_dask("X", X, da)
    y = _as_dask("y", y, da)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must have 2 (rows sharded) or 3 (batch) dimensions, got {X.ndim}")
    for name, a in (("X", X), ("y", y)):
        if any(np.isnan(s) for s in a.shape):
            raise ValueError(f"{name} has unknown chunk sizes (shape {a.shape}, e.g. after "
                             f"boolean indexing): call {name}.compute_chunk_sizes() first")
    if X.dtype not in (np.float32, np.float64):
        raise TypeError(f"X must be float32 or float64, got {X.dtype}")
    if y.dtype != X.dtype:
        raise TypeError(f"y must have X's dtype {X.dtype}, got {y.dtype}")
    if y.shape != X.shape[:-1]:
        raise ValueError(f"y must have shape {X.shape[:-1]} (X.shape[:-1]), got {y.shape}")
    if any(s == 0 for s in X.shape):
        raise ValueError(f"X must not be empty, got shape {X.shape}")
    fit_intercept = validate.flag("fit_intercept", fit_intercept)
    if sample_weight is not None:
        sample_weight = _as_dask("sample_weight", sample_weight, da)
        shapes = [X.shape[-2:-1], X.shape[:-1]]
        if sample_weight.shape not in shapes:
            raise ValueError(f"sample_weight must have shape {shapes[0]} or {shapes[1]} (one "
                             f"weight per row of X), got {sample_weight.shape}")
        if sample_weight.dtype.kind not in "fiu":
            raise TypeError(f"sample_weight must be a real (float or integer) array, got dtype "
                            f"{sample_weight.dtype}")
    if X.ndim == 3:
        if callback is not None:
            raise ValueError("callback is supported by the row-sharded mode only")
        return _minimize_batch(dask, da, X, y, problem, method, l2, lr, x0, max_iter, gtol, xtol,
                               ftol, momentum, betas, eps, alpha, restart, client, options,
                               fit_intercept, sample_weight)
    _no_minibatch(options)
    if options.pop("precondition", None) is not None:
        raise ValueError("precondition='diag' is taken by the batch mode only (X of shape "
                         "(B, n, d): fastgd.minimize per chunk); the row-sharded mode does not "
                         "rescale columns: pass precondition=None, or standardise X's columns")
    if options:
        raise TypeError(f"unexpected options for the row-sharded mode: {sorted(options)}")
    if problem not in _PROBLEMS:
        raise ValueError(f"problem must be 'lstsq' or 'logistic' in the row-sharded mode, "
                         f"got {problem!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")
    return _minimize_rows(dask, X, y, _PROBLEMS[problem], method, l2, lr, x0, max_iter, gtol,
                          xtol, ftol, momentum, betas, eps, alpha, restart, client, callback,
                          fit_intercept, sample_weight)


# ------------------------------------------------------------------ mini-batches
_MINIBATCH = ("batch_size", "shuffle", "random_state", "lr_schedule")
_MINIBATCH_DEFAULTS = (None, True, None, "constant")


def _no_minibatch(options):
    """The row mode: pop the mini-batch options, checked; batch_size refused (ValueError)."""
    size, *_ = validate.minibatch_options(*(options.pop(k, v) for k, v in
                                            zip(_MINIBATCH, _MINIBATCH_DEFAULTS)))
    if size is not None:
        raise ValueError(f"batch_size={size}: the row-sharded mode (X of shape (n, d)) runs "
                         f"full-batch descent only (a mini-batch update per round trip to "
                         f"the workers is all latency); for mini-batches use fastgd.minimize "
                         f"on one machine, or the batch mode (X of shape (B, n, d))")


def _shared_random_state(options):
    """The batch mode's mini-batch options checked on the client, with random_state made
    the same for every chunk: an int as given, None -> one fresh seed drawn here (a
    Generator is copied per task, _solve_block).  Returns the options (a new dict)."""
    options = dict(options)
    size, _, rs, _ = validate.minibatch_options(*(options.get(k, v) for k, v in
                                                  zip(_MINIBATCH, _MINIBATCH_DEFAULTS)))
    if size is not None and rs is None:
        options["random_state"] = int(np.random.SeedSequence().entropy)
    return options


# ------------------------------------------------------------------ batch axis
_BATCH_FORBIDDEN = ("history", "callback", "device", "inplace", "progress", "x0", "lr")


def _problem_class(problem):
    from . import problems
    if isinstance(problem, str):
        names = {"lstsq": problems.LeastSquares, "logistic": problems.Logistic}
        if problem not in names:
            raise ValueError(f"problem must be 'lstsq', 'logistic' or a fastgd problem class, "
                             f"got {problem!r}")
        return names[problem]
    if isinstance(problem, type) and issubclass(problem, problems.Problem):
        return problem
    raise TypeError(f"problem must be 'lstsq', 'logistic' or a fastgd problem class, "
                    f"got {problem!r}")


def _solve_block(Xb, yb, lrb, x0b, sb, *, cls, l2, fit_intercept, kwargs):
    """Solve one chunk of problems; (Bc, m + STATE_SIZE) float64 = [x | intercept | state]
    (m = d, or d + 1 with the intercept), the state in the slots of fastgd.contract (ST_F0
    unused: 0).  sb: the chunk's sample weights (Bc, n) or (n,), or None."""
    from .api import minimize as fg_minimize
    kwargs = dict(kwargs)  # shared by the tasks of a threaded worker: never mutate it
    lr = kwargs.pop("lr") if lrb is None else np.ascontiguousarray(lrb)
    if isinstance(kwargs.get("random_state"), np.random.Generator):
        # every chunk draws the orders of one unchunked solve: its own copy of the state
        kwargs["random_state"] = copy.deepcopy(kwargs["random_state"])
    prob = cls(np.ascontiguousarray(Xb), np.ascontiguousarray(yb), l2=l2,
               fit_intercept=fit_intercept,
               sample_weight=None if sb is None else np.ascontiguousarray(sb))
    res = fg_minimize(prob, x0=None if x0b is None else np.ascontiguousarray(x0b), lr=lr,
                      **kwargs)
    d = res.x.shape[1]
    m = d + (1 if fit_intercept else 0)
    packed = np.zeros((res.x.shape[0], m + contract.STATE_SIZE), np.float64)
    packed[:, :d] = res.x
    if fit_intercept:
        packed[:, d] = res.intercept
    state = packed[:, m:]
    state[:, contract.ST_LR] = res.lr
    state[:, contract.ST_NIT] = res.nit
    state[:, contract.ST_STATUS] = res.status
    state[:, contract.ST_FUN] = res.fun
    state[:, contract.ST_GNORM] = res.grad_norm
    return packed


def _minimize_batch(dask, da, X, y, problem, method, l2, lr, x0, max_iter, gtol, xtol, ftol,
                    momentum, betas, eps, alpha, restart, client, options, fit_intercept,
                    sample_weight):
    cls = _problem_class(problem)
    for k in options:
        if k in _BATCH_FORBIDDEN:
            raise ValueError(f"{k}= is not supported by fastgd.dask.minimize's batch mode")
    # validated here, once, so a bad option fails on the client before any task runs
    mcode = validate.method("method", method)
    validate.count("max_iter", max_iter)
    for name, v in (("gtol", gtol), ("xtol", xtol), ("ftol", ftol), ("l2", l2),
                    ("momentum", momentum)):
        validate.nonneg_real(name, v)
    validate.betas("betas", betas)
    validate.method_eps("eps", eps, mcode)
    validate.unit_interval("alpha", alpha)
    validate.restart("restart", restart, mcode)
    options = _shared_random_state(options)
    B, n, d = X.shape
    X = X.rechunk({1: -1, 2: -1})
    bchunks = X.chunks[0]
    y = y.rechunk((bchunks, -1))
    kwargs = dict(method=method, max_iter=max_iter, gtol=gtol, xtol=xtol, ftol=ftol,
                  momentum=momentum, betas=betas, eps=eps, alpha=alpha, restart=restart,
                  **options)
    args = [X, "bnd", y, "bn"]
    if isinstance(lr, str) or np.ndim(lr) == 0:
        validate.learning_rate(lr, B, X.dtype)
        kwargs["lr"] = lr
        args += [None, None]
    else:
        lrs = validate.learning_rate(lr, B, X.dtype)
        args += [da.from_array(np.asarray(lrs), chunks=(bchunks,)), "b"]
    if x0 is None:
        args += [None, None]
    else:
        x0 = validate.initial_point(x0, (B, d), X.dtype, False)
        args += [da.from_array(x0, chunks=(bchunks, d)), "bd"]
    if sample_weight is None:
        args += [None, None]
    elif sample_weight.ndim == 1:
        args += [sample_weight.rechunk(-1), "n"]
    else:
        args += [sample_weight.rechunk((bchunks, -1)), "bn"]
    m = d + (1 if fit_intercept else 0)
    out = da.blockwise(_solve_block, "bk", *args, new_axes={"k": m + contract.STATE_SIZE},
                       concatenate=True, dtype=np.float64, meta=np.empty((0, 0), np.float64),
                       cls=cls, l2=float(l2), fit_intercept=fit_intercept, kwargs=kwargs)
    packed = client.compute(out).result() if client is not None else out.compute()
    state = np.ascontiguousarray(packed[:, m:])
    x = np.ascontiguousarray(packed[:, :d].astype(X.dtype))
    res = build_result(x, state, None, batched=True, gtol=gtol, xtol=xtol, ftol=ftol,
                       max_iter=max_iter)
    res["intercept"] = packed[:, d].astype(X.dtype) if fit_intercept else None
    return res


# ------------------------------------------------------------------ rows sharded
def _prepare_chunk(Xb, yb, sb, code, index):
    """Contiguous copies of one row chunk, checked once: (X_c, y_c, zeros_c, s_c), s_c the
    chunk's sample weights as float64 or None."""
    Xc = np.ascontiguousarray(Xb)
    yc = np.ascontiguousarray(yb)
    if not np.isfinite(Xc).all():
        raise ValueError(f"X must be finite: row chunk {index} holds NaN or Inf")
    if not np.isfinite(yc).all():
        raise ValueError(f"y must be finite: row chunk {index} holds NaN or Inf")
    if code == contract.LOGISTIC and not ((yc == 0) | (yc == 1)).all():
        raise ValueError(f"y must hold labels in {{0, 1}} for logistic: row chunk {index} "
                         f"does not")
    sc = None
    if sb is not None:
        sc = np.asarray(sb, np.float64)
        if not np.isfinite(sc).all():
            raise ValueError(f"sample_weight contains NaN or Inf (row chunk {index})")
        if (sc < 0).any():
            raise ValueError(f"sample_weight must be >= 0, got a minimum of {sc.min():g} "
                             f"(row chunk {index})")
    return Xc, yc, np.zeros_like(yc), sc


def _chunk_weight(chunk):
    """The chunk's total weight: its rows, or the sum of its sample weights."""
    sc = chunk[3]
    return float(chunk[0].shape[0]) if sc is None else float(sc.sum())


def _design_apply(Xc, w, inter):
    """[X_c, 1] w in float64 (the intercept w[d] only with `inter`)."""
    d = Xc.shape[1]
    z = (Xc @ w[:d].astype(Xc.dtype)).astype(np.float64)
    return z + float(w[d]) if inter else z


def _design_transpose(Xc, r, inter):
    """[X_c, 1]^T r in float64."""
    g = Xc.T.astype(np.float64, copy=False) @ r if Xc.dtype == np.float64 else \
        (Xc.T @ r.astype(Xc.dtype)).astype(np.float64)
    return np.append(g, r.sum()) if inter else g


def _chunk_grad(chunk, w, code, inter=False):
    """(rows, weight, weighted mean loss, weighted mean gradient) of one chunk at w: one
    pass over X_c (fastgd.ops' kernels), or in NumPy float64 with the intercept or weights."""
    Xc, yc, _, sc = chunk
    if not inter and sc is None:
        grad = _ops.logistic_grad if code == contract.LOGISTIC else _ops.lstsq_grad
        f, g = grad(Xc, yc, w, check_finite=False)
        return Xc.shape[0], float(Xc.shape[0]), f, g
    z = _design_apply(Xc, w, inter)
    y64 = yc.astype(np.float64)
    if code == contract.LOGISTIC:
        m = (2.0 * y64 - 1.0) * z
        phi = np.logaddexp(0.0, -m)
        dphi = -(2.0 * y64 - 1.0) / (1.0 + np.exp(m))
    else:
        r = z - y64
        phi = 0.5 * r * r
        dphi = r
    s = np.ones_like(phi) if sc is None else sc
    wt = float(s.sum())
    if wt == 0.0:
        return Xc.shape[0], 0.0, 0.0, np.zeros(w.shape[0])
    return Xc.shape[0], wt, float(s @ phi) / wt, _design_transpose(Xc, s * dphi, inter) / wt


def _chunk_xtxv(chunk, w, inter=False):
    """(rows, weight, 0, [X_c, 1]^T S_c [X_c, 1] w / weight): lstsq's gradient with y = 0."""
    Xc, _, zeros, sc = chunk
    if not inter and sc is None:
        _, g = _ops.lstsq_grad(Xc, zeros, w, check_finite=False)
        return Xc.shape[0], float(Xc.shape[0]), 0.0, g
    u = _design_apply(Xc, w, inter)
    if sc is not None:
        u = u * sc
    wt = _chunk_weight(chunk)
    if wt == 0.0:
        return Xc.shape[0], 0.0, 0.0, np.zeros(w.shape[0])
    return Xc.shape[0], wt, 0.0, _design_transpose(Xc, u, inter) / wt


class _Rows:
    """Row chunks persisted on the workers and one map-reduce per evaluation."""

    def __init__(self, dask, X, y, sample_weight, code, client):
        if client is None:
            from distributed import default_client
            try:
                client = default_client()
            except ValueError:
                raise ValueError("client: the row-sharded mode (X of shape (n, d)) needs a "
                                 "distributed.Client; pass client= or create one first, e.g. "
                                 "Client(LocalCluster())") from None
        self.client = client
        X = X.rechunk({1: -1})
        y = y.rechunk((X.chunks[0],))
        self.n = X.shape[0]
        self.rows = X.chunks[0]
        Xd = X.to_delayed().ravel()
        yd = y.to_delayed().ravel()
        sd = ([None] * len(yd) if sample_weight is None
              else sample_weight.rechunk((X.chunks[0],)).to_delayed().ravel())
        tasks = [dask.delayed(_prepare_chunk, pure=True)(xb, yb, sb, code, i)
                 for i, (xb, yb, sb) in enumerate(zip(Xd, yd, sd))]
        self.chunks = self.client.compute(tasks)
        self.client.gather(self.chunks)  # raises the first validation error, if any; waits
        if sample_weight is not None:
            total = sum(self.client.gather(self.client.map(_chunk_weight, self.chunks)))
            if total == 0.0:
                self.close()
                raise ValueError("sample_weight must not be all zero (the weighted mean "
                                 "would be undefined)")
        self.tag = uuid.uuid4().hex[:12]
        self.calls = 0

    def reduce(self, fn, w, **kwargs):
        """sum_c weight_c fn_c(w) / sum_c weight_c over the chunks (weight_c: the chunk's
        rows, or its total sample weight): (float64 loss, float64 vector)."""
        self.calls += 1
        keys = [f"fastgd-{fn.__name__}-{self.tag}-{self.calls}-{i}"
                for i in range(len(self.chunks))]
        futs = self.client.map(fn, self.chunks, key=keys, w=w, **kwargs)
        try:
            parts = self.client.gather(futs)
        except Exception as e:
            raise RuntimeError(f"fastgd.dask: a chunk task failed in distributed evaluation "
                               f"{self.calls} ({type(e).__name__}: {e}); no result is "
                               f"returned") from e
        finally:
            for f in futs:
                f.release()
        rows = [p[0] for p in parts]
        if list(rows) != list(self.rows):  # a chunk came back from the wrong data: never sum it
            raise RuntimeError(f"fastgd.dask: chunk row counts {rows} differ from {self.rows}")
        f = 0.0
        g = np.zeros(w.shape[0], np.float64)
        total = 0.0
        for _, wt, fc, gc in parts:
            f += wt * fc
            g += wt * gc.astype(np.float64)
            total += wt
        return f / total, g / total

    def close(self):
        for f in self.chunks:
            f.release()


def _minimize_rows(dask, X, y, code, method, l2, lr, x0, max_iter, gtol, xtol, ftol, momentum,
                   betas, eps, alpha, restart, client, callback, fit_intercept=False,
                   sample_weight=None):
    mcode = validate.method("method", method)
    max_iter = validate.count("max_iter", max_iter)
    gtol = validate.nonneg_real("gtol", gtol)
    xtol = validate.nonneg_real("xtol", xtol)
    ftol = validate.nonneg_real("ftol", ftol)
    l2 = validate.nonneg_real("l2", l2)
    momentum = validate.nonneg_real("momentum", momentum)
    betas = validate.betas("betas", betas)
    eps = validate.method_eps("eps", eps, mcode)
    alpha = validate.unit_interval("alpha", alpha)
    restart = validate.restart("restart", restart, mcode)
    dtype = X.dtype
    dt = dtype.type
    d = X.shape[1]
    inter = fit_intercept
    m = d + 1 if inter else d  # the iterate: coefficients, then the intercept (from 0)
    lrs = validate.learning_rate(lr, 1, dtype)
    x0 = validate.initial_point(x0, (d,), dtype, False)
    w = np.zeros(m, dtype)
    if x0 is not None:
        w[:d] = x0
    penalised = np.ones(m, dtype)
    penalised[d:] = 0  # l2 leaves the intercept alone
    from .plan import method_parameters
    hp = method_parameters(dtype, momentum, betas, eps, alpha)

    rows = _Rows(dask, X, y, sample_weight, code, client)
    try:
        if lrs is None:
            from .problems import LeastSquares, Logistic
            curvature = (Logistic if code == contract.LOGISTIC else LeastSquares).curvature
            lr = decisions.auto_lr(curvature, _power_iteration(rows, m, dtype, inter), l2)
        else:
            lr = float(lrs[0])

        def evaluate(wv):
            f, gs = rows.reduce(_chunk_grad, wv, code=code, inter=inter)
            g = gs.astype(dtype) + dt(l2) * wv * penalised
            w64 = wv[:d].astype(np.float64)
            g64 = g.astype(np.float64)
            return f + 0.5 * l2 * float(w64 @ w64), g, float(g64 @ g64)

        # the skeleton of fastgd/decisions.py, as every driver runs it (no Armijo here: a
        # line search only for bb's non-monotone safeguard)
        searching = decisions.line_search_on(False, mcode)
        rel = 16 * float(np.finfo(dtype).eps)  # as plan.hyper_parameters' HP_LOSS_ROUNDING
        t = 0
        f, g, gsq = evaluate(w)
        f0 = f
        lr0 = lr
        fref, qref = f, 1.0
        limit = decisions.diverge_limit(f0)
        status = decisions.start_status(f, gsq)
        s1 = np.zeros(m, dtype)
        s2 = np.zeros(m, dtype)
        p = np.zeros(m, dtype)
        while status == contract.RUNNING:
            status = decisions.before_update(gsq, gtol, t, max_iter, max_iter, f, f0)
            if status != contract.RUNNING:
                break
            scale = rules.method_direction(mcode, t, g, s1, s2, p, hp, 0, 1)
            slope = float(g.astype(np.float64) @ p.astype(np.float64)) if searching else 0.0
            step = decisions.trial_lr(False, mcode, lr, lr0, 0, 1) * scale
            f_ref = decisions.acceptance_reference(mcode, f, fref)
            rounding = decisions.loss_rounding(rel, f, 0.0)
            halvings = 0
            while True:
                w_new = (w.astype(np.float64) - step * p.astype(np.float64)).astype(dtype)
                dw = w_new.astype(np.float64) - w.astype(np.float64)
                step_sq = float(dw @ dw)
                ww = float(w_new.astype(np.float64) @ w_new.astype(np.float64))
                f_new, g_new, gsq_new = evaluate(w_new)
                outcome = decisions.trial_outcome(searching, halvings, f_new, f_ref, step, slope,
                                                  rounding, limit, ww, gsq_new)
                if outcome != contract.BACKTRACK:
                    break
                halvings += 1
                step *= 0.5
            if outcome != contract.ACCEPT:
                status = outcome  # DIVERGED or LINE_SEARCH_FAILED: w stays the last finite iterate
                break
            sy = float((g_new.astype(np.float64) - g.astype(np.float64)) @ dw)
            lr = decisions.next_lr(False, mcode, step, scale, lr, lr0, step_sq, sy)
            if decisions.restarts(restart, f_new, f):
                s1[:] = 0
            fref, qref = decisions.nonmonotone_reference(fref, qref, f_new)
            status = decisions.after_accept(step_sq, xtol, f_new, f, ftol)
            w, g, f, gsq = w_new, g_new, f_new, gsq_new
            t += 1
            if callback is not None:
                callback(t, w[:d])
    finally:
        rows.close()
    state = np.zeros((1, contract.STATE_SIZE), np.float64)
    state[0, contract.ST_LR] = lr
    state[0, contract.ST_NIT] = t
    state[0, contract.ST_STATUS] = status
    state[0, contract.ST_F0] = f0
    state[0, contract.ST_FUN] = f
    state[0, contract.ST_GNORM] = math.sqrt(gsq)
    res = build_result(w[:d].copy(), state, None, batched=False, gtol=gtol, xtol=xtol,
                       ftol=ftol, max_iter=max_iter)
    res["intercept"] = w[d] if inter else None
    return res


def _power_iteration(rows, d, dtype, inter=False):
    """lambda_max(X^T X / n) as fastgd's CPU kernel computes it, one map-reduce per step
    (of [X, 1]^T S [X, 1] / sum s, dimension d, with the intercept or the weights)."""
    one = dtype.type(1.0)
    v = np.array([rules.power_start(j, one) for j in range(d)], dtype)
    lam = 0.0
    for _ in range(contract.POWER_ITERATIONS):
        v64 = v.astype(np.float64)
        nrm = math.sqrt(float(v64 @ v64))
        if nrm == 0.0 or decisions.is_bad(nrm):
            return lam
        v = (v / nrm).astype(dtype)
        _, gv = rows.reduce(_chunk_xtxv, v, inter=inter)
        gv = gv.astype(dtype)
        lam = float(v.astype(np.float64) @ gv.astype(np.float64))
        v = gv
    return lam
