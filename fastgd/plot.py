"""Convergence, learning-rate-sweep and descent-path pictures (matplotlib, optional:
fastgd[plot]).

The functions build a ``matplotlib.figure.Figure`` directly (no pyplot, no global backend
change), save it when ``path`` is given, and return it.
"""
import warnings

import numpy as np

from . import contract

_MISSING = "fastgd.plot needs matplotlib: pip install 'fastgd[plot]' (or pip install matplotlib)"


def _figure(**kw):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_MISSING) from None
    return Figure(**kw)


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=fig.dpi)
    return fig


def _every(res, every):
    """(k, x-axis label): history record j is iterate j * k."""
    if every is not None:
        return int(every), "iteration"
    if res.get("history_every"):
        return int(res["history_every"]), "iteration"
    return 1, "history record (pass every=k for iterations)"


def _history(res):
    h = res.get("history") if isinstance(res, dict) else None
    if h is None:
        raise ValueError("the result has no loss history: solve with history=k (k >= 1), "
                         "e.g. fastgd.minimize(problem, history=1)")
    return np.asarray(h, np.float64)


def _use_log(values):
    v = values[np.isfinite(values)]
    return v.size > 0 and (v > 0).all()


def history(res, *, problems=None, quantiles=(0.1, 0.5, 0.9), every=None, gap=False, ax=None,
            path=None, title=None):
    """Loss against iteration for a result solved with ``history=k``.

    One problem: its loss curve.  A batch: the median (``quantiles[1]``) with a band between
    ``quantiles[0]`` and ``quantiles[2]`` and a lighter min-max band; ``problems`` (indices)
    draws those problems' own curves instead.  The x axis is the iteration (record j is
    iterate j * every; ``every`` defaults to ``res.history_every`` when present, else the
    axis counts records: pass the ``history=k`` of the solve).  The y axis is
    logarithmic when every loss is positive.

    ``gap=True`` draws each problem's loss minus its lowest recorded loss (an estimate of
    f - f*), which makes a band over problems with different optima readable.

    Returns the matplotlib Figure (saved to ``path`` when given).
    """
    h = _history(res)
    ylabel = "loss"
    if gap:
        h = h - np.nanmin(h, axis=0)
        h[h <= 0] = np.nan  # the minimum itself has no place on a log axis
        ylabel = "loss - lowest recorded loss"
    k, xlabel = _every(res, every)
    if ax is None:
        fig = _figure(figsize=(6.4, 4.2), dpi=100, layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    it = np.arange(h.shape[0]) * k
    if h.ndim == 1:
        ax.plot(it, h, color="C0", lw=1.8, label="loss")
    elif problems is not None:
        for i in np.atleast_1d(problems):
            ax.plot(it, h[:, int(i)], lw=1.2, label=f"problem {int(i)}")
    else:
        if len(quantiles) != 3:
            raise ValueError(f"quantiles must be (low, middle, high), got {quantiles!r}")
        with warnings.catch_warnings():  # a record where every gap is 0 (NaN) is fine
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, mid, hi = np.nanquantile(h, quantiles, axis=1)
            hmin, hmax = np.nanmin(h, axis=1), np.nanmax(h, axis=1)
        ax.fill_between(it, hmin, hmax, color="C0", alpha=0.12, lw=0, label="min - max")
        ax.fill_between(it, lo, hi, color="C0", alpha=0.3, lw=0,
                        label=f"quantiles {quantiles[0]:g} - {quantiles[2]:g}")
        ax.plot(it, mid, color="C0", lw=1.8, label=f"quantile {quantiles[1]:g}")
        ax.text(0.98, 0.97, f"{h.shape[1]} problems", transform=ax.transAxes, ha="right",
                va="top", fontsize=9)
    if _use_log(h):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "loss per iteration")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right" if h.ndim == 1 or problems is not None else "center right",
              fontsize=8)
    return _save(fig, path)


def sweep(result, lrs=None, *, auto_lr=None, every=None, path=None, title=None):
    """Picture of a learning-rate sweep (`fastgd.sweep_lr`).

    Left: the loss curves, coloured by step size on a log colour scale; a diverged run is
    dashed and ends in a red x.  Right: the final loss against the step size (converged o,
    iteration limit s, diverged x), with the automatic step size 1/L marked.

    ``lrs`` defaults to ``result.lr``; ``auto_lr`` to ``result.auto_lr`` (if present).
    Returns the matplotlib Figure (saved to ``path`` when given).
    """
    h = _history(result)
    if h.ndim != 2:
        raise ValueError("sweep() needs a batched result (one column per step size), "
                         "e.g. from fastgd.sweep_lr")
    lrs = np.asarray(result["lr"] if lrs is None else lrs, np.float64)
    if lrs.shape != (h.shape[1],):
        raise ValueError(f"lrs must have shape ({h.shape[1]},) (one per run), got {lrs.shape}")
    if auto_lr is None:
        auto_lr = result.get("auto_lr")
    k, xlabel = _every(result, every)
    status = np.asarray(result["status"])
    nit = np.asarray(result["nit"])
    fun = np.asarray(result["fun"], np.float64)
    diverged = status == contract.DIVERGED

    from matplotlib import cm, colors  # available: _figure succeeded
    fig = _figure(figsize=(11, 4.3), dpi=100, layout="constrained")
    ax, ax2 = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=(1.35, 1)))
    norm = colors.LogNorm(vmin=lrs.min(), vmax=lrs.max() if lrs.max() > lrs.min()
                          else lrs.min() * 10)
    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    it = np.arange(h.shape[0]) * k
    ok = ~diverged
    # keep the y range on the runs that did not diverge: a diverged loss is up to 1e10 x f0
    ref = h[:, ok] if ok.any() else h[:1]
    ref = ref[np.isfinite(ref)]
    log = _use_log(ref)
    top = ref.max() * (3.0 if log else 1.1) if ref.size else 1.0
    for j in np.argsort(lrs):
        c = cmap(norm(lrs[j]))
        if diverged[j]:
            stop = min(int(nit[j]) // k + 1, h.shape[0])
            yy = np.minimum(h[:stop, j], top)
            ax.plot(it[:stop], yy, color=c, lw=1.2, ls="--")
            ax.plot(it[stop - 1], top, marker="x", color="red", ms=8, mew=2, clip_on=False)
        else:
            ax.plot(it, h[:, j], color=c, lw=1.4)
    if log:
        ax.set_yscale("log")
    bottom = ref.min() / 2 if log and ref.size else None
    ax.set_ylim(bottom, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title("loss curves (dashed, red x: diverged)", fontsize=10)
    ax.grid(True, alpha=0.3)
    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    fig.colorbar(sm, ax=ax, label="step size lr (log scale)")

    success = np.asarray(result["success"], bool)
    limit = ok & ~success
    shown = np.where(diverged, top, np.minimum(fun, top))
    ax2.plot(lrs[np.argsort(lrs)], shown[np.argsort(lrs)], color="0.6", lw=1, zorder=1)
    if success.any():
        ax2.scatter(lrs[success], shown[success], c=[cmap(norm(v)) for v in lrs[success]],
                    marker="o", s=40, zorder=3, label="converged", edgecolors="k",
                    linewidths=0.5)
    if limit.any():
        ax2.scatter(lrs[limit], shown[limit], c=[cmap(norm(v)) for v in lrs[limit]],
                    marker="s", s=36, zorder=3, label="iteration limit", edgecolors="k",
                    linewidths=0.5)
    if diverged.any():
        ax2.scatter(lrs[diverged], shown[diverged], color="red", marker="x", s=60, zorder=3,
                    linewidths=2, label="diverged", clip_on=False)
    if auto_lr is not None:
        ax2.axvline(float(auto_lr), color="k", ls=":", lw=1.5,
                    label=f"lr='auto' = 1/L = {float(auto_lr):.3g}")
    ax2.set_xscale("log")
    if log:
        ax2.set_yscale("log")
    ax2.set_ylim(bottom, top)
    ax2.set_xlabel("step size lr")
    ax2.set_ylabel(f"final loss (after at most {h.shape[0] * k - k} iterations)")
    ax2.set_title("final loss vs step size", fontsize=10)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _grid_values(objective, extent, num):
    """fun on a num x num grid over extent (x0, x1, y0, y1), through the compiled fun."""
    fun = objective.compiled(np.float64)[0]
    xs = np.linspace(extent[0], extent[1], num)
    ys = np.linspace(extent[2], extent[3], num)
    F = np.empty((num, num))
    w = np.empty(2)
    for i, yv in enumerate(ys):
        w[1] = yv
        for j, xv in enumerate(xs):
            w[0] = xv
            F[i, j] = fun(w, *objective.args)
    return xs, ys, F


def _extent(paths, diverged):
    """A box around the starts and the paths that did not diverge, widened to the points
    of diverged paths within twice its size (a diverged path may reach 1e10: its first
    steps show, not its end), padded by 15%."""
    keep = [paths[0]] + [paths[:, b] for b in np.flatnonzero(~diverged)]
    pts = np.concatenate(keep, axis=0)
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    half = np.maximum(hi - lo, 1.0)
    for b in np.flatnonzero(diverged):
        q = paths[:, b]
        near = np.isfinite(q).all(axis=1) & (q >= lo - half).all(axis=1) & \
            (q <= hi + half).all(axis=1)
        if near.any():
            lo, hi = np.minimum(lo, q[near].min(axis=0)), np.maximum(hi, q[near].max(axis=0))
    pad = np.maximum(0.15 * (hi - lo), 0.5)
    return (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])


def path(objective, results_or_x0, *, lrs=None, path=None, method="gd", max_iter=100,
         extent=None, grid=160, title=None, **options):
    """Contours of a 2-D ``fastgd.Objective`` with descent paths drawn over them.

    ``results_or_x0``: a Result solved with ``history=k, record_x=True`` (its
    ``x_history`` is drawn, one path per start), or starting points x0 ((2,) or (B, 2)):
    then ``minimize(objective, method, x0=..., lr=lrs, max_iter=max_iter, history=1,
    record_x=True, **options)`` is solved here, one path per step size of ``lrs`` (x0
    (2,) is used for every step size; x0 (B, 2) needs B step sizes, or lr in options).
    A converged path ends in a circle, one stopped by max_iter in a square; a diverged
    one is dashed, drawn until it leaves the picture (which frames the starts and the
    paths that did not diverge, unless ``extent=(x0, x1, y0, y1)`` is given), with a red
    x at its last iterate inside (its last finite one when that is inside).  Returns the
    Figure (saved to ``path``).
    """
    from .objective import Objective
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a fastgd.Objective, got {type(objective).__name__}")
    if isinstance(results_or_x0, dict):
        res = results_or_x0
        if res.get("x_history") is None:
            raise ValueError("the result has no iterates: solve with history=k and "
                             "record_x=True, e.g. fastgd.minimize(objective, x0=..., lr=..., "
                             "history=1, record_x=True)")
    else:
        from .api import minimize
        x0 = np.asarray(results_or_x0)
        if x0.dtype.kind not in "fiu" or x0.ndim not in (1, 2) or x0.shape[-1] != 2:
            raise ValueError(f"results_or_x0 must be a Result or starting points of shape (2,) "
                             f"or (B, 2), got {x0.shape}")
        x0 = x0.astype(np.float64)
        if lrs is not None:
            lrs = np.atleast_1d(np.asarray(lrs, np.float64))
            if x0.ndim == 1:
                x0 = np.tile(x0, (lrs.size, 1))
            elif x0.shape[0] != lrs.size:
                raise ValueError(f"lrs must have one step size per start ({x0.shape[0]}), "
                                 f"got {lrs.size}")
            options["lr"] = lrs
        res = minimize(objective, method, x0=x0, max_iter=max_iter, history=1, record_x=True,
                       **options)
    P = np.asarray(res["x_history"], np.float64)
    if P.shape[-1] != 2:
        raise ValueError(f"path() draws 2-D objectives, got d = {P.shape[-1]}")
    if P.ndim == 2:
        P = P[:, None, :]
    status = np.atleast_1d(np.asarray(res["status"]))
    nit = np.atleast_1d(np.asarray(res["nit"]))
    lr = np.atleast_1d(np.asarray(res["lr"], np.float64))
    diverged = status == contract.DIVERGED
    every = int(res.get("history_every") or 1)
    ext = _extent(P, diverged) if extent is None else tuple(float(v) for v in extent)

    fig = _figure(figsize=(6.8, 5.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    xs, ys, F = _grid_values(objective, ext, int(grid))
    finite = np.isfinite(F)
    if finite.any():
        # log-spaced levels above the lowest value in the picture: basins and walls both show
        shift = F[finite].min()
        span = max(F[finite].max() - shift, 1e-300)
        Z = np.log10(np.where(finite, F - shift, np.nan) + 1e-4 * span)
        ax.contourf(xs, ys, Z, levels=24, cmap="Greys", alpha=0.35)
        ax.contour(xs, ys, Z, levels=24, colors="0.45", linewidths=0.6)
    from .result import Status
    for b in range(P.shape[1]):
        c = f"C{b % 10}"
        stop = min(int(nit[b]) // every + 1, P.shape[0])
        xy = P[:stop, b]
        if diverged[b]:  # up to the first iterate outside the picture: it has left
            out = np.flatnonzero((xy[:, 0] < ext[0]) | (xy[:, 0] > ext[1]) |
                                 (xy[:, 1] < ext[2]) | (xy[:, 1] > ext[3]))
            if out.size:
                xy = xy[:out[0] + 1]
        name = Status(int(status[b])).name
        label = f"lr = {lr[b]:.3g}: {name} after {int(nit[b])} iterations"
        ax.plot(xy[:, 0], xy[:, 1], color=c, lw=1.4, ls="--" if diverged[b] else "-",
                marker=".", ms=3.5, label=label)
        ax.plot(*xy[0], marker="o", color="k", ms=4, zorder=4)
        if diverged[b]:  # its last finite iterate, or where it left the picture
            inside = xy[-2] if len(xy) > 1 and not (ext[0] <= xy[-1, 0] <= ext[1] and
                                                     ext[2] <= xy[-1, 1] <= ext[3]) else xy[-1]
            ax.plot(*inside, marker="x", color="red", ms=10, mew=2.5, zorder=5)
        elif status[b] in contract.SUCCESS_CODES:
            ax.plot(*xy[-1], marker="o", mfc="none", mec=c, ms=10, mew=2, zorder=5)
        else:
            ax.plot(*xy[-1], marker="s", mfc="none", mec=c, ms=9, mew=2, zorder=5)
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_xlabel("w[0]")
    ax.set_ylabel("w[1]")
    ax.set_title(title or "gradient descent paths (o converged, s iteration limit, "
                          "x diverged)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return _save(fig, path)
