"""fastgd on Dask: batches sharded by problem, one large problem sharded by rows.

``fastgd.dask.minimize(X, y, problem="lstsq", method="gd", ...)`` takes dask arrays
(NumPy arrays are wrapped) and returns a :class:`fastgd.Result` of NumPy arrays:

- ``X`` of shape ``(B, n, d)`` (a batch): chunks along B only; every chunk is solved
  entirely by ``fastgd.minimize`` inside one task (``da.blockwise``), so there is no
  communication per iteration.  Per-problem x, fun, grad_norm, nit, status, lr come back.
- ``X`` of shape ``(n, d)`` (one problem, rows sharded): the row chunks are made
  contiguous, checked once and kept on the workers (one future per chunk); each
  iteration sends ``w`` (d numbers) with one ``client.map`` over those futures, every
  task returns its chunk's mean (loss, gradient) from the one-pass kernel
  (``fastgd.ops.lstsq_grad`` / ``logistic_grad``), and the client sums them weighted
  by chunk rows and applies the update of ``rules.method_direction`` (every method).
  The iteration, stopping rules, bb's steps and non-monotone test, nesterov's restart,
  ``lr="auto"`` (power iteration, with ``X^T X v`` per chunk) and divergence test are
  the decisions of every driver (fastgd/decisions.py).

The row mode needs a ``distributed.Client`` (the ``client=`` argument or the default
one); the batch mode runs on whatever Dask scheduler is active.  A worker lost during
a solve makes Dask recompute its chunks from their graph and rerun the tasks; when
Dask gives up, the error is raised (never a partial or stale x).

dask is imported here, on first use of this module, never by ``import fastgd``.
"""
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
             alpha=0.99, restart=False, client=None, callback=None, **options):
    """Minimise a least-squares or logistic loss over dask arrays.

    X: dask array (n, d) -> one problem, chunked along rows (column chunks are merged);
       (B, n, d) -> a batch, chunked along B (other axes are merged into one chunk).
    y: (n,) or (B, n), same dtype as X (float32/float64); rechunked to match X.
    problem: "lstsq" or "logistic"; batch mode also accepts a fastgd problem class
       (e.g. ``fastgd.Huber``), built per chunk as ``problem(Xc, yc, l2=l2)``.
    lr: float, "auto", or for a batch a (B,) array.  x0: (d,) or (B, d) NumPy array.
    method, momentum, betas, eps, alpha, restart: as in ``fastgd.minimize`` (every method).
    client: a ``distributed.Client`` (default: the current one).  The row mode needs one.
    callback(it, w): row mode only, called on the client after every update (w is the
       new iterate, read-only use).
    options: batch mode only, passed on to ``fastgd.minimize`` (e.g. line_search, mode).
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
    if X.ndim == 3:
        if callback is not None:
            raise ValueError("callback is supported by the row-sharded mode only")
        return _minimize_batch(dask, da, X, y, problem, method, l2, lr, x0, max_iter, gtol, xtol,
                               ftol, momentum, betas, eps, alpha, restart, client, options)
    if options:
        raise TypeError(f"unexpected options for the row-sharded mode: {sorted(options)}")
    if problem not in _PROBLEMS:
        raise ValueError(f"problem must be 'lstsq' or 'logistic' in the row-sharded mode, "
                         f"got {problem!r}")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable or None")
    return _minimize_rows(dask, X, y, _PROBLEMS[problem], method, l2, lr, x0, max_iter, gtol,
                          xtol, ftol, momentum, betas, eps, alpha, restart, client, callback)


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


def _solve_block(Xb, yb, lrb, x0b, *, cls, l2, kwargs):
    """Solve one chunk of problems; (Bc, d + STATE_SIZE) float64 = [x | state], the state
    in the slots of fastgd.contract (ST_F0 unused: 0)."""
    from .api import minimize as fg_minimize
    kwargs = dict(kwargs)  # shared by the tasks of a threaded worker: never mutate it
    lr = kwargs.pop("lr") if lrb is None else np.ascontiguousarray(lrb)
    res = fg_minimize(cls(np.ascontiguousarray(Xb), np.ascontiguousarray(yb), l2=l2),
                      x0=None if x0b is None else np.ascontiguousarray(x0b), lr=lr, **kwargs)
    packed = np.zeros((res.x.shape[0], res.x.shape[1] + contract.STATE_SIZE), np.float64)
    d = res.x.shape[1]
    packed[:, :d] = res.x
    state = packed[:, d:]
    state[:, contract.ST_LR] = res.lr
    state[:, contract.ST_NIT] = res.nit
    state[:, contract.ST_STATUS] = res.status
    state[:, contract.ST_FUN] = res.fun
    state[:, contract.ST_GNORM] = res.grad_norm
    return packed


def _minimize_batch(dask, da, X, y, problem, method, l2, lr, x0, max_iter, gtol, xtol, ftol,
                    momentum, betas, eps, alpha, restart, client, options):
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
    out = da.blockwise(_solve_block, "bk", *args, new_axes={"k": d + contract.STATE_SIZE}, concatenate=True,
                       dtype=np.float64, meta=np.empty((0, 0), np.float64), cls=cls,
                       l2=float(l2), kwargs=kwargs)
    packed = client.compute(out).result() if client is not None else out.compute()
    state = np.ascontiguousarray(packed[:, d:])
    x = np.ascontiguousarray(packed[:, :d].astype(X.dtype))
    return build_result(x, state, None, batched=True, gtol=gtol, xtol=xtol, ftol=ftol,
                        max_iter=max_iter)


# ------------------------------------------------------------------ rows sharded
def _prepare_chunk(Xb, yb, code, index):
    """Contiguous copies of one row chunk, checked once: (X_c, y_c, zeros_c)."""
    Xc = np.ascontiguousarray(Xb)
    yc = np.ascontiguousarray(yb)
    if not np.isfinite(Xc).all():
        raise ValueError(f"X must be finite: row chunk {index} holds NaN or Inf")
    if not np.isfinite(yc).all():
        raise ValueError(f"y must be finite: row chunk {index} holds NaN or Inf")
    if code == contract.LOGISTIC and not ((yc == 0) | (yc == 1)).all():
        raise ValueError(f"y must hold labels in {{0, 1}} for logistic: row chunk {index} "
                         f"does not")
    return Xc, yc, np.zeros_like(yc)


def _chunk_grad(chunk, w, code):
    """(rows, mean loss, mean gradient) of one chunk at w: one pass over X_c."""
    Xc, yc, _ = chunk
    grad = _ops.logistic_grad if code == contract.LOGISTIC else _ops.lstsq_grad
    f, g = grad(Xc, yc, w, check_finite=False)
    return Xc.shape[0], f, g


def _chunk_xtxv(chunk, w):
    """(rows, 0, X_c^T X_c w / rows): lstsq's gradient with y = 0."""
    Xc, _, zeros = chunk
    _, g = _ops.lstsq_grad(Xc, zeros, w, check_finite=False)
    return Xc.shape[0], 0.0, g


class _Rows:
    """Row chunks persisted on the workers and one map-reduce per evaluation."""

    def __init__(self, dask, X, y, code, client):
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
        tasks = [dask.delayed(_prepare_chunk, pure=True)(xb, yb, code, i)
                 for i, (xb, yb) in enumerate(zip(Xd, yd))]
        self.chunks = self.client.compute(tasks)
        self.client.gather(self.chunks)  # raises the first validation error, if any; waits
        self.tag = uuid.uuid4().hex[:12]
        self.calls = 0

    def reduce(self, fn, w, **kwargs):
        """sum_c rows_c * fn_c(w) / n over the chunks: (float64 loss, float64 vector)."""
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
        for r, fc, gc in parts:
            f += r * fc
            g += r * gc.astype(np.float64)
        return f / self.n, g / self.n

    def close(self):
        for f in self.chunks:
            f.release()


def _minimize_rows(dask, X, y, code, method, l2, lr, x0, max_iter, gtol, xtol, ftol, momentum,
                   betas, eps, alpha, restart, client, callback):
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
    lrs = validate.learning_rate(lr, 1, dtype)
    x0 = validate.initial_point(x0, (d,), dtype, False)
    w = np.zeros(d, dtype) if x0 is None else np.array(x0, dtype)
    from .plan import method_parameters
    hp = method_parameters(dtype, momentum, betas, eps, alpha)

    rows = _Rows(dask, X, y, code, client)
    try:
        if lrs is None:
            from .problems import LeastSquares, Logistic
            curvature = (Logistic if code == contract.LOGISTIC else LeastSquares).curvature
            lr = decisions.auto_lr(curvature, _power_iteration(rows, d, dtype), l2)
        else:
            lr = float(lrs[0])

        def evaluate(wv):
            f, gs = rows.reduce(_chunk_grad, wv, code=code)
            g = gs.astype(dtype) + dt(l2) * wv
            w64 = wv.astype(np.float64)
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
        s1 = np.zeros(d, dtype)
        s2 = np.zeros(d, dtype)
        p = np.zeros(d, dtype)
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
                callback(t, w)
    finally:
        rows.close()
    state = np.zeros((1, contract.STATE_SIZE), np.float64)
    state[0, contract.ST_LR] = lr
    state[0, contract.ST_NIT] = t
    state[0, contract.ST_STATUS] = status
    state[0, contract.ST_F0] = f0
    state[0, contract.ST_FUN] = f
    state[0, contract.ST_GNORM] = math.sqrt(gsq)
    return build_result(w, state, None, batched=False, gtol=gtol, xtol=xtol, ftol=ftol,
                        max_iter=max_iter)


def _power_iteration(rows, d, dtype):
    """lambda_max(X^T X / n) as fastgd's CPU kernel computes it, one map-reduce per step."""
    one = dtype.type(1.0)
    v = np.array([rules.power_start(j, one) for j in range(d)], dtype)
    lam = 0.0
    for _ in range(contract.POWER_ITERATIONS):
        v64 = v.astype(np.float64)
        nrm = math.sqrt(float(v64 @ v64))
        if nrm == 0.0 or decisions.is_bad(nrm):
            return lam
        v = (v / nrm).astype(dtype)
        _, gv = rows.reduce(_chunk_xtxv, v)
        gv = gv.astype(dtype)
        lam = float(v.astype(np.float64) @ gv.astype(np.float64))
        v = gv
    return lam
