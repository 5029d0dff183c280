"""The ``fastgd`` command line: demo, solve, sweep, lesson, bench.  See docs/cli.md.

Exit codes: 0 success; 1 solved but not every problem converged (solve); 2 bad input
(unreadable file, wrong shape or dtype, NaN, bad option, an output that exists or is an input)
-- a one-line message on stderr, no traceback, no output file written.
"""
import argparse
import math
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from .contract import METHODS as _METHODS  # a plain module: imports nothing, compiles nothing

PROBLEMS = ("lstsq", "logistic", "huber", "poisson", "softmax")
PROBLEM_HELP = ("loss: lstsq (least squares), logistic (labels 0/1), huber (--delta), poisson "
                "(counts; lr='auto' needs --line-search armijo), softmax (class ids 0..k-1, "
                "--classes) (lstsq)")
FORMATS = ("fastgd reads NumPy .npy files (np.save), .npz archives (np.savez) and sparse CSR "
           ".npz files (scipy.sparse.save_npz); for a CSV or "
           "text file: python -c \"import numpy as np; np.save('X.npy', np.loadtxt('data.csv', "
           "delimiter=','))\"")
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"
METHODS = tuple(_METHODS)
INT64_MAX = 2**63 - 1
# an .npz member is read only if its .npy header declares at most NPZ_FREE_BYTES, or at most
# NPZ_MAX_RATIO bytes per byte stored in the zip (a larger ratio is a zip bomb, not data)
NPZ_FREE_BYTES = 64 << 20
NPZ_MAX_RATIO = 100
NDIMS = {"X": (2, 3), "y": (1, 2), "weights": (1, 2)}  # as fastgd.problems validates them
CSR_MEMBERS = {"data", "indices", "indptr", "format", "shape"}  # scipy.sparse.save_npz


class UsageError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


# ---------------------------------------------------------------- helpers
class _Parser(argparse.ArgumentParser):
    """argparse with a bad option reported as one line (the usage is one --help away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int(lo, name="N"):
    """An argparse type: an integer lo <= N < 2**63 (the kernels count in int64)."""
    def integer(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= v <= INT64_MAX:
            raise argparse.ArgumentTypeError(
                f"expected an integer {lo} <= {name} < 2**63, got {text!r}")
        return v
    return integer


def _real(strict, what):
    """An argparse type: a finite float > 0 (strict) or >= 0; `what` names it in errors."""
    def real(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (np.isfinite(v) and (v > 0 if strict else v >= 0)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v
    return real


_positive = _real(True, "a number > 0")
_nonneg = _real(False, "a number >= 0")
_positive_or_auto = _real(True, "a positive number or 'auto'")


def _lr(text):
    return "auto" if text == "auto" else _positive_or_auto(text)


def _lrs(text):
    """'1e-3,1e-2,0.1' or 'START:STOP:NUM' (NUM log-spaced values)."""
    try:
        if ":" in text:
            a, b, num = text.split(":")
            a, b, num = float(a), float(b), int(num)
            if not (0 < a < np.inf and 0 < b < np.inf and 1 <= num <= INT64_MAX):
                raise ValueError
            return np.geomspace(a, b, num)
        vals = np.array([float(t) for t in text.split(",") if t.strip()])
        if vals.size == 0 or not (np.isfinite(vals).all() and (vals > 0).all()):
            raise ValueError
        return vals
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive step sizes or START:STOP:NUM, got {text!r}")


def _load(path, name, key):
    """One array from .npy (memory-mapped, copy-on-write: never modified on disk) or .npz."""
    if not os.path.isfile(path):
        raise UsageError(f"{name}: no such file {path!r}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if not (magic.startswith(NPY_MAGIC) or magic.startswith(ZIP_MAGIC)):
        raise UsageError(f"{name}: {path!r} is not a NumPy .npy or .npz file; {FORMATS}")
    try:
        if path.endswith(".npz"):
            return _load_npz(path, name, key)
        arr = np.load(path, mmap_mode="c", allow_pickle=False)
    except UsageError:
        raise
    except Exception as e:  # any unreadable file: one line, no traceback
        raise UsageError(f"{name}: cannot read {path!r} as a NumPy array "
                         f"({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{name}: {path!r} does not hold a NumPy array")
    return np.asarray(arr)  # a plain ndarray view of the memory map (no copy)


def _load_npz(path, name, key):
    """The array `key` (or the only one) of an .npz, read only after its .npy header passed."""
    with zipfile.ZipFile(path) as zf:
        members = {(n[:-4] if n.endswith(".npy") else n): n for n in zf.namelist()}
        if name == "X" and CSR_MEMBERS <= set(members):  # scipy.sparse.save_npz
            return _load_csr(path, zf, members)
        if key not in members and len(members) != 1:
            raise UsageError(f"{name}: {path!r} holds arrays {list(members)}; expected one named "
                             f"{key!r} or a single array")
        info = zf.getinfo(members.get(key) or next(iter(members.values())))
        with zf.open(info) as f:
            shape, fortran, dtype = _npy_header(f)
            header = f.tell()
        _check_member(path, name, info, header, shape, fortran, dtype)
        with zf.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)


def _load_csr(path, zf, members):
    """A CSR matrix saved by scipy.sparse.save_npz (members data, indices, indptr,
    format, shape): each array member's header is checked first (no unpickling, no zip
    bomb), then scipy reads it; fastgd validates it as any CSR X (fastgd/sparse.py)."""
    for key in ("data", "indices", "indptr", "shape", "format"):
        info = zf.getinfo(members[key])
        with zf.open(info) as f:
            shape, fortran, dtype = _npy_header(f)
            header = f.tell()
        where = f"{path!r} member {info.filename!r} (shape {shape}, {dtype})"
        if dtype.hasobject:
            raise UsageError(f"X: {where} holds Python objects; refusing to unpickle")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > max(NPZ_FREE_BYTES, NPZ_MAX_RATIO * info.compress_size):
            raise UsageError(f"X: {where} declares {nbytes / 2**20:.0f} MiB stored in "
                             f"{info.compress_size / 2**20:.2g} MiB (more than "
                             f"{NPZ_MAX_RATIO}x): refusing a possible zip bomb")
    import scipy.sparse
    X = scipy.sparse.load_npz(path)
    if X.format != "csr":
        raise UsageError(f"X: {path!r} holds a sparse {X.format.upper()} matrix; fastgd "
                         f"takes CSR: save X.tocsr() with scipy.sparse.save_npz")
    return X


def _npy_header(f):
    """(shape, fortran_order, dtype) from an .npy stream, reading the header only."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")


def _check_member(path, name, info, header, shape, fortran, dtype):
    """Refuse an .npz member from its header: not what `name` must be, or a zip bomb."""
    from . import validate
    member = f"{path!r} member {info.filename!r}"
    where = f"{member} (shape {shape}, {dtype})"
    if dtype.hasobject:
        raise UsageError(f"{name}: {where} holds Python objects; refusing to unpickle")
    try:
        # labels/counts/integer weights: converted to X's dtype by the problem
        labels = name in ("y", "weights") and dtype.kind in "biu"
        validate.layout(name, np.dtype(np.float64) if labels else dtype, shape,
                        not fortran or len(shape) < 2, NDIMS[name])
    except (ValueError, TypeError) as e:
        raise UsageError(f"{_first_line(e)} ({member})") from None
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size - header:
        raise UsageError(f"{name}: cannot read {where}: it declares {nbytes} bytes but holds "
                         f"{info.file_size - header}")
    if nbytes > max(NPZ_FREE_BYTES, NPZ_MAX_RATIO * info.compress_size):
        raise UsageError(f"{name}: {where} declares {nbytes / 2**20:.0f} MiB stored in "
                         f"{info.compress_size / 2**20:.2g} MiB (more than {NPZ_MAX_RATIO}x): "
                         f"refusing a possible zip bomb; save it with np.save (.npy) instead")


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else ""


def _problem(kind, X, y, args):
    """The problem `kind` (PROBLEMS) over X, y with the command's loss options."""
    import fastgd
    real = dict(l2=args.l2, fit_intercept=args.intercept, sample_weight=_weights(args))
    if kind == "huber":
        return fastgd.Huber(X, y, delta=args.delta, **real)
    if kind == "softmax":
        k = args.classes
        if k is None:
            top = np.max(y) if np.size(y) else 0
            if not np.isfinite(top) or top != np.floor(top) or top < 1 or top >= 2**31:
                raise UsageError("y: softmax needs class ids 0..k-1 (integers, k >= 2); "
                                 "give --classes K")
            k = int(top) + 1
        return fastgd.Softmax(X, y, k, **real)
    cls = {"lstsq": fastgd.LeastSquares, "logistic": fastgd.Logistic,
           "poisson": fastgd.Poisson}[kind]
    return cls(X, y, **real)


def _weights(args):
    """The --weights array (n,) or (B, n), converted to X's dtype by the problem, or None."""
    return None if args.weights is None else _load(args.weights, "weights", "weights")


def _solution(res, multi):
    """What --out writes: res.x, or with an intercept [w, b] (the intercept(s) appended
    along the last axis: (d + 1,), (B, d + 1); Softmax (d + 1, k), (B, d + 1, k))."""
    if res.intercept is None:
        return res.x
    b = np.asarray(res.intercept, res.x.dtype)
    if multi:  # Softmax: b is one more row
        return np.concatenate([res.x, b[..., None, :]], axis=-2)
    return np.concatenate([res.x, b[..., None]], axis=-1)


def _write_atomic(path, write, option, force):
    """write(f) into a fresh file beside `path` (mkstemp: O_EXCL, unpredictable, never a
    symlink), then move it into place: a failed solve or write leaves no file behind."""
    root, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{root}.tmp-", suffix=ext,
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if hasattr(os, "fchmod"):  # mkstemp makes it 0600; give it the usual mode
                umask = os.umask(0o022)
                os.umask(umask)
                os.fchmod(f.fileno(), 0o666 & ~umask)
        _publish(tmp, path, option, force)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


def _publish(tmp, path, option, force):
    """Move tmp to path; without force, never replace a file that appeared meanwhile."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise UsageError(_exists(option, path)) from None
    except OSError:  # no hard links on this file system: check, then move
        if os.path.lexists(path):
            raise UsageError(_exists(option, path)) from None
        os.replace(tmp, path)
        return
    os.remove(tmp)


def _exists(option, path):
    return f"{option}: {path!r} exists; use --force to overwrite it"


def _check_out(path, option, inputs, force):
    """Before any work: the directory exists, and `path` is no input, nor (unless force) a file
    that exists.  inputs: {name: path}."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{option}: directory {parent!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path!r} is a directory")
    for name, inp in inputs.items():
        if inp is not None and os.path.exists(path) and os.path.exists(inp) and \
                os.path.samefile(path, inp):  # the same file: same path, symlink, hard link
            raise UsageError(f"{option}: {path!r} is the input file {name} ({inp!r}); "
                             f"writing it would destroy the input")
    if os.path.lexists(path) and not force:
        raise UsageError(_exists(option, path))


def _plot_format(path):
    """The image format matplotlib writes for `path` (png when it has no extension)."""
    from matplotlib.backend_bases import FigureCanvasBase
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    known = FigureCanvasBase.get_supported_filetypes()
    if fmt not in known:
        raise UsageError(f"--plot: matplotlib cannot write {fmt!r} images; use one of "
                         f"{', '.join(sorted(known))}")
    return fmt


def _status_counts(status):
    from .result import Status
    vals, counts = np.unique(np.atleast_1d(np.asarray(status)), return_counts=True)
    return ", ".join(f"{Status(int(v)).name} {c}" for v, c in zip(vals, counts))


def _fmt_time(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


# ---------------------------------------------------------------- demo
def numpy_batched_gd(X, y, lr, gtol, max_iter):
    """The obvious NumPy batched gradient-descent loop for least squares (active-set masked).

    X (B, n, d), y (B, n), lr (B,).  Returns (W (B, d), nit (B,)).
    """
    B, n, d = X.shape
    W = np.zeros((B, d), X.dtype)
    nit = np.zeros(B, np.int64)
    active = np.arange(B)
    for _ in range(max_iter + 1):
        Xa, Wa = X[active], W[active]
        r = np.matmul(Xa, Wa[:, :, None])[:, :, 0] - y[active]
        G = np.matmul(r[:, None, :], Xa)[:, 0, :] / n
        gn = np.sqrt((G * G).sum(axis=1))
        keep = (gn > gtol) & (nit[active] < max_iter)
        active, G = active[keep], G[keep]
        if active.size == 0:
            break
        W[active] -= lr[active, None] * G
        nit[active] += 1
    return W, nit


def cmd_demo(args):
    import fastgd
    from .api import choose_mode
    B, n, d = args.batch, args.n, args.d
    rng = np.random.default_rng(args.seed)
    dtype = np.dtype(args.dtype)
    X = rng.standard_normal((B, n, d)).astype(dtype)
    w_true = rng.standard_normal((B, d))
    y = (np.einsum("bnd,bd->bn", X, w_true) + 0.1 * rng.standard_normal((B, n))).astype(dtype)
    problem = fastgd.LeastSquares(X, y)
    print(f"fastgd demo: {B} least-squares problems, X {n}x{d} {dtype}, seed {args.seed}")
    print(f"solving with method='gd', lr='auto' (1/L per problem), gtol={args.gtol:g}, "
          f"max_iter={args.max_iter} ...", flush=True)

    t = time.perf_counter()
    res = fastgd.minimize(problem, lr="auto", gtol=args.gtol, max_iter=args.max_iter,
                          progress=args.progress)
    t_first = time.perf_counter() - t
    t_fast = np.inf
    for _ in range(args.repeat):
        t = time.perf_counter()
        res = fastgd.minimize(problem, lr="auto", gtol=args.gtol, max_iter=args.max_iter)
        t_fast = min(t_fast, time.perf_counter() - t)

    # reference solutions: numpy.linalg.lstsq per problem (float64)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    x_ls = np.stack([np.linalg.lstsq(X64[b], y64[b], rcond=None)[0] for b in range(B)])
    rel = np.linalg.norm(res.x - x_ls, axis=1) / np.maximum(np.linalg.norm(x_ls, axis=1),
                                                           np.finfo(float).tiny)
    # the same algorithm as a NumPy loop: same step sizes, same stopping rule
    t = time.perf_counter()
    W_np, nit_np = numpy_batched_gd(X64, y64, np.asarray(res.lr, np.float64), args.gtol,
                                    args.max_iter)
    t_np = time.perf_counter() - t
    rel_np = np.linalg.norm(W_np - x_ls, axis=1) / np.maximum(np.linalg.norm(x_ls, axis=1),
                                                              np.finfo(float).tiny)

    mode = choose_mode(problem, "auto", args.max_iter)
    rows = [
        ("", "time", "iterations (median / max)", "max rel. error vs lstsq"),
        (f"fastgd (mode={mode})", _fmt_time(t_fast),
         f"{np.median(res.nit):g} / {res.nit.max()}", f"{rel.max():.1e}"),
        ("fastgd first call (incl. compile)", _fmt_time(t_first), "", ""),
        ("NumPy batched GD loop", _fmt_time(t_np),
         f"{np.median(nit_np):g} / {nit_np.max()}", f"{rel_np.max():.1e}"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print()
    print(f"status: {_status_counts(res.status)}")
    print(f"max relative error vs numpy.linalg.lstsq: {rel.max():.2e}")
    print(f"speedup, fastgd vs NumPy batched GD loop: {t_np / t_fast:.1f}x")
    return 0


# ---------------------------------------------------------------- solve
def cmd_solve(args):
    import fastgd
    if args.out is not None:
        _check_out(args.out, "--out", {"X": args.X, "y": args.y, "weights": args.weights},
                   args.force)
    X = _load(args.X, "X", "X")
    if args.y is None:
        if not args.X.endswith(".npz") or not isinstance(X, np.ndarray):
            raise UsageError("y: give a y file, or an .npz holding arrays 'X' and 'y' (a "
                             "sparse X.npz from scipy.sparse.save_npz needs a y file)")
        y = _load(args.X, "y", "y")
    else:
        y = _load(args.y, "y", "y")
    problem = _problem(args.problem, X, y, args)
    t = time.perf_counter()
    res = fastgd.minimize(problem, args.method, lr=args.lr, max_iter=args.max_iter,
                          gtol=args.gtol, rtol=args.rtol, xtol=args.xtol, ftol=args.ftol,
                          line_search=args.line_search, mode=args.mode, progress=args.progress)
    secs = time.perf_counter() - t
    if problem.batched:
        print(f"problems   {problem.batch_size} ({args.problem}, {args.method}, "
              f"X {'x'.join(map(str, X.shape))} {X.dtype})")
        print(f"status     {_status_counts(res.status)}")
        print(f"iterations median {np.median(res.nit):g}, max {res.nit.max()}")
        print(f"loss       median {np.median(res.fun):.6g}, max {np.max(res.fun):.6g}")
        ok = bool(np.all(res.success))
    else:
        print(f"status     {res.status.name}: {res.message}")
        print(f"iterations {res.nit}")
        print(f"loss       {res.fun:.6g}")
        print(f"grad norm  {res.grad_norm:.3g}")
        if res.intercept is not None:
            print(f"intercept  {np.array2string(np.asarray(res.intercept), precision=6)}")
        print(f"lr         {res.lr:.6g}")
        ok = bool(res.success)
    print(f"time       {_fmt_time(secs)}")
    if args.out is not None:
        x = _solution(res, problem.outputs > 1)
        _write_atomic(args.out, lambda f: np.save(f, x), "--out", args.force)
        what = "" if res.intercept is None else ", the coefficients then the intercept"
        print(f"wrote      {args.out} (shape {x.shape}, {x.dtype}{what})")
    return 0 if ok else 1


# ---------------------------------------------------------------- sweep
def sweep_problem(n=200, d=10, seed=0, dtype=np.float64):
    """A seeded least-squares problem with column scales from 1 to 0.1 (condition ~100)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.geomspace(1.0, 0.1, d)
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def generated_targets(kind, X, y, seed):
    """Targets of the generated sweep problem for loss `kind`, from its least-squares y."""
    if kind == "logistic":
        return (y > np.median(y)).astype(X.dtype)
    if kind == "poisson":
        rng = np.random.default_rng(seed + 1)
        return rng.poisson(np.exp(0.3 * y / np.std(y))).astype(X.dtype)
    if kind == "softmax":
        return np.digitize(y, np.quantile(y, [1 / 3, 2 / 3])).astype(X.dtype)
    return y


def cmd_sweep(args):
    import fastgd
    if args.plot is not None:
        _check_out(args.plot, "--plot", {"X": args.X, "y": args.y, "weights": args.weights},
                   args.force)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'fastgd[plot]'") from None
        fmt = _plot_format(args.plot)
    if args.X is not None:
        X = _load(args.X, "X", "X")
        y = _load(args.y if args.y is not None else args.X, "y", "y")
        source = args.X
    else:
        X, y = sweep_problem(args.n, args.d, args.seed)
        source = f"generated {args.n}x{args.d} least squares, seed {args.seed}"
        y = generated_targets(args.problem, X, y, args.seed)
    problem = _problem(args.problem, X, y, args)
    if problem.batched:
        raise UsageError("X: a sweep runs one problem (X of shape (n, d)), got shape "
                         f"{X.shape}")
    res = fastgd.sweep_lr(problem, args.lrs, method=args.method, max_iter=args.max_iter,
                          gtol=args.gtol, rtol=args.rtol)
    print(f"lr sweep: {args.problem} ({source}), method {args.method}, "
          f"max_iter {args.max_iter}, gtol {args.gtol:g}")
    print(f"{'lr':>10}  {'status':<9} {'iterations':>10}  final loss")
    order = np.argsort(res.lr)
    from .result import Status
    for j in order:
        print(f"{res.lr[j]:>10.4g}  {Status(int(res.status[j])).name:<9} {res.nit[j]:>10d}  "
              f"{res.fun[j]:.6g}")
    ok = res.status != Status.DIVERGED
    if np.isfinite(res.auto_lr):
        print(f"lr='auto' (1/L) = {res.auto_lr:.4g}")
    else:
        print(f"lr='auto': none for {args.problem} with these options")
    if ok.any():
        best = np.flatnonzero(ok)[np.argmin(np.where(ok, res.fun, np.inf)[ok])]
        print(f"lowest final loss {res.fun[best]:.6g} at lr = {res.lr[best]:.4g}")
    if (~ok).any():
        print(f"diverged for lr >= {res.lr[~ok].min():.4g}")
    if args.plot is not None:
        from . import plot
        fig = plot.sweep(res, title=f"fastgd.sweep_lr: {args.problem}, {args.method}")
        _write_atomic(args.plot, lambda f: fig.savefig(f, format=fmt, dpi=fig.dpi), "--plot",
                      args.force)
        print(f"wrote {args.plot}")
    return 0


# ---------------------------------------------------------------- lesson
def cmd_lesson(args):
    from . import lesson
    fmt = None
    if args.plot is not None:
        _check_out(args.plot, "--plot", {}, args.force)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("fastgd lesson: matplotlib is not installed, so no picture "
                  "(pip install 'fastgd[plot]')", file=sys.stderr)
            args.plot = None
        else:
            fmt = _plot_format(args.plot)
    print("fastgd lesson: gradient descent on the bowl f(w) = (u^2 + 8 v^2) / 2 (u, v: w "
          "rotated by 30 degrees),")
    print(f"from w0 = ({lesson.START[0]:.3g}, {lesson.START[1]:.3g}), max_iter "
          f"{args.max_iter}, gtol {lesson.GTOL:g}.  The steep axis has curvature "
          f"L = {lesson.CURVATURE:g}:")
    print(f"a step size lr converges for lr < 2/L = {2 / lesson.CURVATURE:g}, diverges "
          f"above, and crawls when tiny.", flush=True)
    obj, res = lesson.solve(max_iter=args.max_iter)
    from .result import Status
    print()
    print(f"{'lr':>6}  {'outcome':<11} {'status':<9} {'iterations':>10}  {'final loss':>10}  x")
    for j, what in enumerate(("too small", "good", "too large")):
        st = Status(int(res.status[j]))
        print(f"{res.lr[j]:>6.3g}  {what:<11} {st.name:<9} {res.nit[j]:>10d}  "
              f"{res.fun[j]:>10.3g}  ({res.x[j, 0]:.3g}, {res.x[j, 1]:.3g})")
    print()
    print("too small: still crawling at max_iter; good: converged; too large: every step "
          "overshoots")
    print("further than the last (DIVERGED; x is its last finite iterate).")
    if args.plot is not None:
        from . import plot
        fig = plot.path(obj, res, title="the step size: too small, good, too large")
        _write_atomic(args.plot, lambda f: fig.savefig(f, format=fmt, dpi=fig.dpi), "--plot",
                      args.force)
        print(f"wrote {args.plot}")
    return 0


# ---------------------------------------------------------------- calibrate
def cmd_calibrate(args):
    from . import config
    from .cpu import calibrate
    best, medians = calibrate.calibrate(force=not args.show)
    tiles, tile_medians = calibrate.calibrate_tiles(force=not args.show)
    visits, visit_medians = calibrate.calibrate_visits(force=not args.show)
    serial, serial_medians = calibrate.calibrate_serial(force=not args.show)
    print(f"machine: {calibrate.machine_key().split('|')[0]}, last-level cache "
          f"{config.last_level_cache() >> 20} MiB")
    print(f"prefetch distance {best} bytes; tiled row loop: "
          + ", ".join(f"{t} rows for {wd} B rows" for wd, t in sorted(tiles.items()))
          + f"; mini-batch visits prefetch {visits} rows ahead; one problem runs serially "
            f"up to {serial >> 10} KiB of X with its transposed copy")
    if medians is None and tile_medians is None and visit_medians is None and serial_medians is None:
        print(f"(cached in {config.calibration_file()}; run without --show to measure again)")
        return 0
    mib = config.calibration_bytes() >> 20
    print(f"one pass over {mib} MiB of float32 X (d = 64), median "
          f"of {config.CALIBRATION_ROUNDS} interleaved rounds:")
    for c, t in sorted((medians or {}).items()):
        mark = "  <- chosen" if c == best else ""
        print(f"  prefetch {c:6d} bytes: {t * 1e3:8.2f} ms{mark}")
    print(f"one logistic pass over {mib} MiB of float32 X per row width, rows per tile:")
    for wd, row in sorted((tile_medians or {}).items()):
        cells = "  ".join(f"{c}: {t * 1e3:.2f} ms" + ("*" if c == tiles[wd] else "")
                          for c, t in sorted(row.items()))
        print(f"  {wd:5d} B rows  {cells}")
    print(f"{config.MINIBATCH_CALIBRATION_ROWS} rows of float32 X (d = 32) visited in a shuffled "
          f"mini-batch order, rows prefetched ahead:")
    for c, t in sorted((visit_medians or {}).items()):
        mark = "  <- chosen" if c == visits else ""
        print(f"  ahead {c:3d} rows: {t * 1e3:8.2f} ms{mark}")
    print("one problem's evaluation, X with its transposed copy of each size: two serial passes "
          "over the copy against one row-block pass on every thread:")
    for size, pair in sorted((serial_medians or {}).items()):
        mark = "  <- serial up to here" if size == serial else ""
        print(f"  {size >> 10:7d} KiB  serial {pair[0] * 1e3:8.3f} ms  row blocks "
              f"{pair[1] * 1e3:8.3f} ms{mark}")
    print(f"(* chosen) saved to {config.calibration_file()}")
    for name, value in (("FASTGD_SERIAL_MAX_BYTES", config.SERIAL_MAX_BYTES),
                        ("FASTGD_PREFETCH_BYTES", config.PREFETCH_BYTES),
                        ("FASTGD_ROW_TILE", config.ROW_TILE),
                        ("FASTGD_MINIBATCH_PREFETCH_ROWS", config.MINIBATCH_PREFETCH_ROWS)):
        if value is not None:
            print(f"note: {name}={value} overrides it in this environment")
    return 0


# ---------------------------------------------------------------- bench
def cmd_bench(argv):
    import importlib
    try:  # ships with the package; the peers it compares with (torch, jax) are optional
        bench = importlib.import_module("fastgd.bench")
    except ImportError as e:
        print(f"fastgd bench: fastgd.bench is not part of this installation ({e}); "
              f"reinstall fastgd", file=sys.stderr)
        return 2
    return int(bench.main(list(argv)) or 0)


# ---------------------------------------------------------------- parser
def build_parser():
    p = _Parser(
        prog="fastgd",
        description="Compiled, batched gradient descent (Numba). Subcommands: demo, solve, "
                    "sweep, lesson, calibrate, bench; `fastgd <command> --help` for each.",
        epilog="Exit codes: 0 ok; 1 (solve) some problem did not converge; 2 bad input.")
    from . import __version__
    p.add_argument("--version", action="version", version=f"fastgd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="command")

    def progress_flag(sp):
        sp.add_argument("--progress", action=argparse.BooleanOptionalAction,
                        default=sys.stderr.isatty(),
                        help="progress bar on stderr (default: on when stderr is a terminal)")

    d = sub.add_parser("demo", help="solve a generated batch, compare with NumPy",
                       description="Generate a seeded batch of least-squares problems, solve "
                                   "it with lr='auto', compare with numpy.linalg.lstsq and "
                                   "with the same gradient descent written as a NumPy loop.")
    d.add_argument("--batch", type=_int(1), default=2000, help="number of problems B (2000)")
    d.add_argument("--n", type=_int(1), default=64, help="rows per problem (64)")
    d.add_argument("--d", type=_int(1), default=8, help="unknowns per problem (8)")
    d.add_argument("--seed", type=_int(0), default=0, help="random seed (0)")
    d.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    d.add_argument("--gtol", type=_nonneg, default=1e-8, help="gradient-norm tolerance (1e-8)")
    d.add_argument("--max-iter", type=_int(0, "max_iter"), default=2000,
                   help="iteration limit (2000)")
    d.add_argument("--repeat", type=_int(1), default=3, help="timed warm runs, best kept (3)")
    progress_flag(d)
    d.set_defaults(func=cmd_demo)

    def solver_options(sp, max_iter, gtol):
        sp.add_argument("--problem", choices=PROBLEMS, default="lstsq", help=PROBLEM_HELP)
        sp.add_argument("--delta", type=_positive, default=1.0,
                        help="huber: quadratic below |residual| <= delta (1.0)")
        sp.add_argument("--classes", type=_int(2), default=None,
                        help="softmax: number of classes k (default: max(y) + 1)")
        sp.add_argument("--method", choices=METHODS, default="gd", help="update rule (gd)")
        sp.add_argument("--l2", type=_nonneg, default=0.0, help="ridge penalty l2/2 ||w||^2 (0)")
        sp.add_argument("--intercept", action="store_true",
                        help="fit an unpenalised intercept b (x_i.w + b); --out then holds "
                             "[w, b]")
        sp.add_argument("--weights", metavar="S.npy",
                        help="sample weights (n,) or (B, n), >= 0 (.npy/.npz; default: all 1)")
        sp.add_argument("--max-iter", type=_int(0, "max_iter"), default=max_iter,
                        help=f"iteration limit ({max_iter})")
        sp.add_argument("--gtol", type=_nonneg, default=gtol,
                        help=f"stop when the gradient norm <= gtol ({gtol:g}; 0: off)")
        sp.add_argument("--rtol", type=_nonneg, default=0.0,
                        help="or when it is <= rtol x the gradient norm at x0 (0: off)")

    s = sub.add_parser("solve", help="solve a problem stored in .npy/.npz files",
                       description="Solve min_w loss(X w, y) for X (n, d) and y (n,), or a batch "
                                   "X (B, n, d), y (B, n), read from .npy (memory-mapped) or "
                                   ".npz files, or X a sparse CSR .npz saved by scipy.sparse.save_npz (one "
                                   "problem); X and y must share a dtype (float32/float64).")
    s.add_argument("X", help="X.npy or X.npz (dense, or CSR from scipy.sparse.save_npz); "
                               "or data.npz holding arrays 'X' and 'y'")
    s.add_argument("y", nargs="?", help="y.npy or y.npz (omit when X is an .npz with 'y')")
    solver_options(s, 1000, 1e-6)
    s.add_argument("--lr", type=_lr, default="auto", help="step size or 'auto' = 1/L (auto)")
    s.add_argument("--xtol", type=_nonneg, default=0.0, help="step-norm tolerance (0: off)")
    s.add_argument("--ftol", type=_nonneg, default=0.0, help="relative loss-change tolerance "
                                                              "(0: off)")
    s.add_argument("--line-search", choices=("armijo",), default=None,
                   help="backtracking line search")
    s.add_argument("--mode", choices=("auto", "direct", "gram"), default="auto",
                   help="gradient evaluation (auto)")
    s.add_argument("--out", metavar="W.npy", help="write the solution here (.npy; never an "
                                                   "input file)")
    s.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    progress_flag(s)
    s.set_defaults(func=cmd_solve)

    w = sub.add_parser("sweep", help="learning-rate sweep, optionally plotted",
                       description="Solve one problem at many step sizes as one batch "
                                   "(fastgd.sweep_lr) and print each run's status and final "
                                   "loss; --plot draws the loss curves and final loss vs lr.")
    w.add_argument("X", nargs="?", help="X.npy/.npz of one problem (default: a generated one)")
    w.add_argument("y", nargs="?", help="y.npy/.npz (omit when X is an .npz with 'y')")
    solver_options(w, 150, 1e-6)
    w.add_argument("--lrs", type=_lrs, default=None,
                   help="step sizes: 'a,b,c' or START:STOP:NUM log-spaced "
                        "(default: 13 values from 0.01/L to 4/L)")
    w.add_argument("--n", type=_int(1), default=200, help="rows of the generated problem (200)")
    w.add_argument("--d", type=_int(1), default=10, help="columns of the generated problem (10)")
    w.add_argument("--seed", type=_int(0), default=0, help="seed of the generated problem (0)")
    w.add_argument("--plot", metavar="PNG", help="draw the sweep into this image file "
                                                 "(png, pdf, svg, ...: by its extension)")
    w.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    w.set_defaults(func=cmd_sweep)

    ls = sub.add_parser("lesson", help="the step-size lesson: too small, good, too large",
                        description="Gradient descent on a 2-D bowl from one start with three "
                                    "step sizes: too small (MAX_ITER, still crawling), good "
                                    "(converged), too large (DIVERGED, with a finite x). "
                                    "Prints the outcomes and draws the paths over the "
                                    "contours (fastgd.plot.path).")
    ls.add_argument("--max-iter", type=_int(1, "max_iter"), default=100,
                    help="iteration limit (100)")
    ls.add_argument("--plot", metavar="PNG", default="fastgd-lesson.png",
                    help="draw the paths into this image file when matplotlib is available "
                         "(fastgd-lesson.png)")
    ls.add_argument("--no-plot", dest="plot", action="store_const", const=None,
                    help="print only, draw nothing")
    ls.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    ls.set_defaults(func=cmd_lesson)

    c = sub.add_parser("calibrate", help="measure this machine's prefetch distances, "
                                         "row tiles and serial limit",
                       description="Time one streaming pass of the row loop of large problems "
                                   "at each software-prefetch distance, and of the tiled "
                                   "(logistic) row loop at each tile and row width, and of a "
                                   "shuffled mini-batch visit at each prefetch distance, and keep "
                                   "the fastest for this machine; and find the largest problem "
                                   "a serial evaluation still runs faster than the row blocks on "
                                   "every thread (done automatically on the "
                                   "first large solve; this measures again and prints the "
                                   "tables).")
    c.add_argument("--show", action="store_true",
                   help="print the cached value (measuring only if there is none)")
    c.set_defaults(func=cmd_calibrate)

    b = sub.add_parser("bench", help="compare fastgd with its peers on this machine",
                       description="Runs fastgd.bench (arguments are passed on to it).",
                       add_help=False)
    b.set_defaults(func=None)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":  # every argument, --help included, belongs to fastgd.bench
        return cmd_bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        print(f"fastgd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:  # fastgd's own input checks name the argument
        print(f"fastgd {args.command}: error: {_first_line(e)}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"fastgd {args.command}: error: {_first_line(e)}", file=sys.stderr)
        return 2
    except MemoryError as e:  # e.g. a --batch too large for this machine
        print(f"fastgd {args.command}: error: out of memory ({_first_line(e)})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastgd {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
