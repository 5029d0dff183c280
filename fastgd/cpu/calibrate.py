"""What the row loops of one large problem depend on the machine for, measured once and
cached: the software-prefetch distance (hp[HP_PREFETCH]) and the tiled row loop's tile.

The streaming row loops of one large problem (fastgd/cpu/evaluate.py's rows_pairs and
rows_tiled, the power iteration's xtx_rows) can prefetch X a few KB ahead.  Whether that
helps depends on the microarchitecture: one W2 pass (2e6 x 64 float32, 2 threads) ran at
91% of the read ceiling with 8 KiB ahead and 80% with none on a Zen 5 EPYC, but at 81% with
8 KiB and 97% with none on a Zen 4 EPYC.  So the distance is not a constant: the first large
row-block solve on a machine times one pass of the real row loop over a synthetic X several
times the last-level cache, for each candidate of config.PREFETCH_CANDIDATES, in
interleaved rounds, and keeps the fastest; the choice is cached in a JSON file keyed by the
CPU (LLVM's host CPU name and features, the cache size, the CPU count) so later processes
read it (``fastgd calibrate`` re-measures and prints the table).  config.PREFETCH_BYTES
(environment FASTGD_PREFETCH_BYTES) fixes it instead.  The distance is a hint only: results
never depend on it.

The tile of the tiled (logistic) row loop, rows_tiled, is chosen the same way, per row
width: on a Zen 4 the best tile was 16-32 rows for 256-byte rows and 64-128 for 64-byte rows
(benchmarks/RESULTS.md), which no cache-size rule predicts.  The first large logistic
row-block solve times one pass of the real loop for each of config.ROW_TILE_CANDIDATES at
each of config.ROW_TILE_WIDTHS (float32 rows of that many bytes), keeps per width the
fastest when it beats config.ROW_TILE_DEFAULT by CALIBRATION_MARGIN, and a problem uses the
nearest width's tile.  config.ROW_TILE (environment FASTGD_ROW_TILE) fixes it instead.  The
tile only changes the summation order of the loss and gradient.

Whether one problem runs serially (the batched driver over a transposed copy of X, SIMD over
its rows, no parallel launch) or on row blocks on every thread is decided by its size
against ``serial_max_bytes()``, measured the same way: at doubling sizes up to the
last-level cache, two serial passes over a transposed copy (what the serial driver reads per
evaluation) against one row-block pass on every thread (the large-problem driver's), and the
limit is the largest size at which the serial passes still win by a margin
(config.SERIAL_CALIBRATION_MARGIN).  The size of the cache alone
is no rule: on a 2-core Intel Xeon VM that reports a 480 MiB L3 the serial driver ran 3.5x
slower than the row blocks at 61 MiB, and lost from ~4 MiB on (its L2 is 2 MiB; on a Zen 4
with a 32 MiB L3 the serial driver won 2-7x at 3 MiB).  config.SERIAL_MAX_BYTES fixes it
instead.
"""
import json
import math
import os
import time

import numpy as np
from numba import prange

from .. import config
from .._jit import cpu_kernel
from ..contract import HP_ONE, HP_PREFETCH, HP_SIZE, HP_VISIT_AHEAD, LOGISTIC, LSQ
from .evaluate import block_rows, rows_ahead, rows_pairs, rows_tiled, xt_matvec, xt_rmatvec
from .minibatch import dense_rows

_MEMO = {}


@cpu_kernel(parallel=True)
def stream_pass(X, y, s, w, part, z, hp, tile):
    """One pass over X (n, d) in row blocks, as eval_rows runs it, with hp[HP_PREFETCH]
    bytes of prefetch: least squares by the paired row loop (tile 0), or logistic by the
    tiled row loop in tiles of `tile` rows.  part (nblocks, d), z (nblocks * tile,) scratch;
    s (0,).  Returns sum phi."""
    n = X.shape[0]
    nblocks = part.shape[0]
    one = hp[HP_ONE]
    ahead = rows_ahead(X, hp)
    f = np.zeros(nblocks)
    for blk in prange(nblocks):
        lo, hi = block_rows(blk, n, nblocks)
        acc = part[blk]
        for j in range(acc.shape[0]):
            acc[j] = one - one
        if tile == 0:
            f[blk] = rows_pairs(LSQ, False, X, y, w, acc, lo, hi, one, one, ahead)
        else:
            zt = z[blk * tile:(blk + 1) * tile]
            f[blk] = rows_tiled(LOGISTIC, False, X, y, s, w, acc, zt, lo, hi, one, one - one,
                                ahead)
    return f.sum()


@cpu_kernel
def visit_pass(X, y, s, w, acc, order, hp):
    """Least squares over the rows order[...] of X (n, d), one visited row at a time as a
    mini-batch epoch visits them (minibatch.dense_rows: hp[HP_VISIT_AHEAD] rows ahead
    prefetched); acc (d,) scratch, s (0,).  Returns sum phi."""
    for j in range(acc.shape[0]):
        acc[j] = 0.0
    return dense_rows(LSQ, X, y, s, w, acc, order, 0, order.shape[0], hp, acc)


@cpu_kernel
def serial_passes(Xt, w, z, g, reps):
    """`reps` times what the serial driver reads per evaluation: z = X w and g = X^T z from
    the transposed copy Xt (d, n) (evaluate.xt_matvec / xt_rmatvec, one thread)."""
    n = Xt.shape[1]
    zero = w[0] - w[0]
    t = 0.0
    for _ in range(reps):
        xt_matvec(Xt, w, z, n, zero)
        xt_rmatvec(Xt, z, g, n, zero)
        t += g[0]
    return t


@cpu_kernel(parallel=True)
def row_block_passes(X, y, w, part, hp, reps):
    """`reps` passes over X (n, d) in row blocks on every thread, least squares by the
    paired row loop (hp[HP_PREFETCH] bytes of prefetch), each launched from compiled code as
    solve_single launches one per evaluation (a call from Python per pass would time the
    dispatch instead)."""
    n = X.shape[0]
    nblocks = part.shape[0]
    one = hp[HP_ONE]
    ahead = rows_ahead(X, hp)
    t = 0.0
    for _ in range(reps):
        for blk in prange(nblocks):
            lo, hi = block_rows(blk, n, nblocks)
            acc = part[blk]
            for j in range(acc.shape[0]):
                acc[j] = one - one
            rows_pairs(LSQ, False, X, y, w, acc, lo, hi, one, one, ahead)
        t += part[0, 0]
    return t


def machine_key():
    """What the best distance depends on: the CPU (LLVM's name and features, which also key
    Numba's cache), the last-level cache and the CPUs this process may use."""
    from llvmlite import binding
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count() or 1
    return (f"{binding.get_host_cpu_name()}|{binding.get_host_cpu_features().flatten()}|"
            f"llc={config.last_level_cache()}|cpus={ncpu}")


def measure(nbytes=None, rounds=None, candidates=None, threads=None):
    """{candidate bytes: median seconds of one pass} over a synthetic float32 X (d = 64) of
    about nbytes (default config.calibration_bytes()), candidates in rotating order per
    round.  A few tenths of a second on a 2-core machine (plus the kernel's one compile)."""
    import numba
    nbytes = config.calibration_bytes() if nbytes is None else int(nbytes)
    rounds = config.CALIBRATION_ROUNDS if rounds is None else int(rounds)
    candidates = tuple(config.PREFETCH_CANDIDATES if candidates is None else candidates)
    d = 64
    n = max(2 * config.ROWS_PER_BLOCK, nbytes // (4 * d))
    X = np.ones((n, d), np.float32)  # the values do not matter; ones keep sums finite
    y = np.ones(n, np.float32)
    w = np.full(d, 1.0 / d, np.float32)
    threads = numba.get_num_threads() if threads is None else threads
    nblocks = max(1, min(n // config.ROWS_PER_BLOCK, config.BLOCKS_PER_THREAD * threads))
    part = np.empty((nblocks, d), np.float32)
    none = np.empty(0, np.float32)
    hps = {}
    for c in candidates:
        hp = np.zeros(HP_SIZE, np.float32)
        hp[HP_ONE] = 1.0
        hp[HP_PREFETCH] = c
        hps[c] = hp
    stream_pass(X, y, none, w, part, none, hps[candidates[0]], 0)  # compile / warm up
    times = {c: [] for c in candidates}
    for r in range(rounds):
        for k in range(len(candidates)):
            c = candidates[(k + r) % len(candidates)]
            t0 = time.perf_counter()
            stream_pass(X, y, none, w, part, none, hps[c], 0)
            times[c].append(time.perf_counter() - t0)
    return {c: float(np.median(t)) for c, t in times.items()}


def measure_tiles(nbytes=None, rounds=None, widths=None, candidates=None, threads=None):
    """{row width bytes: {tile: median seconds of one pass}}: the logistic row loop over a
    synthetic float32 X of about nbytes (default config.calibration_bytes()) seen as rows of
    each width, the tiles in rotating order per round, with this machine's prefetch
    distance.  About a second on a 2-core machine (plus the kernel's one compile)."""
    import numba
    nbytes = config.calibration_bytes() if nbytes is None else int(nbytes)
    rounds = config.CALIBRATION_ROUNDS if rounds is None else int(rounds)
    widths = tuple(config.ROW_TILE_WIDTHS if widths is None else widths)
    candidates = tuple(config.ROW_TILE_CANDIDATES if candidates is None else candidates)
    threads = numba.get_num_threads() if threads is None else threads
    hp = np.zeros(HP_SIZE, np.float32)
    hp[HP_ONE] = 1.0
    hp[HP_PREFETCH] = prefetch_bytes()
    flat = np.ones(max(nbytes // 4, 2 * config.ROWS_PER_BLOCK * max(widths) // 4), np.float32)
    s = np.empty(0, np.float32)
    out = {}
    for width in widths:
        d = max(1, width // 4)
        n = flat.shape[0] // d
        X = flat[:n * d].reshape(n, d)  # values do not matter; ones keep the sums finite
        y = np.ones(n, np.float32)
        w = np.full(d, 1.0 / d, np.float32)
        nblocks = max(1, min(n // config.ROWS_PER_BLOCK, config.BLOCKS_PER_THREAD * threads))
        part = np.empty((nblocks, d), np.float32)
        zs = {c: np.empty(nblocks * c, np.float32) for c in candidates}
        for c in candidates:  # compile, then one untimed round (the first passes run slow)
            stream_pass(X, y, s, w, part, zs[c], hp, c)
        times = {c: [] for c in candidates}
        for r in range(rounds):
            for k in range(len(candidates)):
                c = candidates[(k + r) % len(candidates)]
                t0 = time.perf_counter()
                stream_pass(X, y, s, w, part, zs[c], hp, c)
                times[c].append(time.perf_counter() - t0)
        out[width] = {c: float(np.median(t)) for c, t in times.items()}
    return out


def measure_visits(nbytes=None, rounds=None, candidates=None, nrows=None, batch=256):
    """{candidate rows ahead: median seconds}: config.MINIBATCH_CALIBRATION_ROWS rows of a
    synthetic float32 X (d = 32) of about nbytes visited in a shuffled epoch's order (sorted
    within mini-batches of `batch` rows, fastgd/epochs.py), the candidates in rotating order
    per round.  A fraction of a second (plus the kernel's one compile)."""
    nbytes = config.calibration_bytes() if nbytes is None else int(nbytes)
    rounds = config.CALIBRATION_ROUNDS if rounds is None else int(rounds)
    candidates = tuple(config.MINIBATCH_PREFETCH_CANDIDATES if candidates is None
                       else candidates)
    d = 32
    n = max(batch, nbytes // (4 * d))
    X = np.ones((n, d), np.float32)
    y = np.ones(n, np.float32)
    w = np.full(d, 1.0 / d, np.float32)
    acc = np.empty(d, np.float32)
    nrows = min(n, config.MINIBATCH_CALIBRATION_ROWS if nrows is None else int(nrows))
    order = np.random.default_rng(0).permutation(n)[:nrows]
    full = nrows // batch * batch
    order[:full].reshape(-1, batch).sort(axis=1)
    order[full:].sort()
    none = np.empty(0, np.float32)
    hps = {}
    for c in candidates:
        hps[c] = np.zeros(HP_SIZE, np.float32)
        hps[c][HP_ONE] = 1.0
        hps[c][HP_VISIT_AHEAD] = c
    visit_pass(X, y, none, w, acc, order, hps[candidates[0]])  # compile / warm up
    times = {c: [] for c in candidates}
    for r in range(rounds):
        for k in range(len(candidates)):
            c = candidates[(k + r) % len(candidates)]
            t0 = time.perf_counter()
            visit_pass(X, y, none, w, acc, order, hps[c])
            times[c].append(time.perf_counter() - t0)
    return {c: float(np.median(t)) for c, t in times.items()}


def serial_sizes():
    """The sizes (bytes of X with its transposed copy) the serial limit is measured at:
    doubling from config.SERIAL_CALIBRATION_MIN_BYTES to the last-level cache (at most
    config.SERIAL_CALIBRATION_MAX_BYTES)."""
    top = min(config.last_level_cache(), config.SERIAL_CALIBRATION_MAX_BYTES)
    sizes = []
    size = config.SERIAL_CALIBRATION_MIN_BYTES
    while size <= top:
        sizes.append(size)
        size *= 2
    return tuple(sizes)


def measure_serial(sizes=None, rounds=None, threads=None, min_s=0.005):
    """{size: {0: serial seconds, 1: row-block seconds}} per evaluation of a synthetic
    float32 X (d = 64) whose bytes with its transposed copy are `size`: two serial passes
    over the copy (serial_passes) against one row-block pass on every thread
    (row_block_passes, least squares), alternated per round, each timed over enough repeats
    (in one compiled call) to last min_s.
    Stops one size after the row blocks first win.  About a second (plus two compiles)."""
    import numba
    sizes = serial_sizes() if sizes is None else tuple(sizes)
    rounds = config.CALIBRATION_ROUNDS if rounds is None else int(rounds)
    threads = numba.get_num_threads() if threads is None else threads
    d = 64
    hp = np.zeros(HP_SIZE, np.float32)
    hp[HP_ONE] = 1.0
    # no software prefetch (the row blocks' own distance would cost the first mid-size solve
    # the prefetch calibration too; below ~16 MiB, where the limit falls, it changed nothing)
    w = np.full(d, 1.0 / d, np.float32)
    g = np.empty(d, np.float32)
    out = {}
    lost = 0
    for size in sizes:
        n = max(2, size // (2 * 4 * d))
        X = np.ones((n, d), np.float32)
        Xt = np.ascontiguousarray(X.T)
        y = np.ones(n, np.float32)
        z = np.empty(n, np.float32)
        nblocks = max(1, min(n // config.ROWS_PER_BLOCK, config.BLOCKS_PER_THREAD * threads))
        part = np.empty((nblocks, d), np.float32)
        runs = (lambda k: serial_passes(Xt, w, z, g, k),
                lambda k: row_block_passes(X, y, w, part, hp, k))
        for fn in runs:  # compile (first size), warm the caches
            fn(2)
        reps = []
        for fn in runs:
            t0 = time.perf_counter()
            fn(1)
            reps.append(max(1, int(min_s / max(time.perf_counter() - t0, 1e-7))))
        times = ([], [])
        for r in range(rounds):
            for k in (r % 2, 1 - r % 2):
                runs[k](1)  # the other pass evicted this one's data: a solve's iterations
                t0 = time.perf_counter()  # find it in cache
                runs[k](reps[k])
                times[k].append((time.perf_counter() - t0) / reps[k])
        out[size] = {0: float(np.median(times[0])), 1: float(np.median(times[1]))}
        lost = lost + 1 if out[size][0] >= out[size][1] else 0
        if lost == 2:
            break
    return out


def choose_serial_limit(table):
    """The largest size of {size: {0: serial s, 1: row-block s}} up to which the serial
    passes beat the row blocks by config.SERIAL_CALIBRATION_MARGIN at every size (0 when
    they do not at the smallest)."""
    keep = 1.0 - config.SERIAL_CALIBRATION_MARGIN
    limit = 0
    for size in sorted(table):
        if table[size].get(0, math.inf) >= keep * table[size].get(1, 0.0):
            break
        limit = size
    return limit


def calibrate_serial(force=False):
    """Measure (or, unless force, read the cached) serial limit of this machine; returns
    (bytes, {size: {0: serial s, 1: row-block s}} or None when read from the cache)."""
    return _measured("serial_seconds", lambda: measure_serial(), choose_serial_limit, force)


def measured_serial_limit():
    """This machine's calibrated serial limit (bytes of X with its transposed copy; measured
    on first use and cached on disk; memoised per process): config.serial_max_bytes()
    without config.SERIAL_MAX_BYTES."""
    return _memo("serial", lambda: calibrate_serial()[0])


def choose_tile(medians):
    """The fastest tile of {tile: seconds} when it beats config.ROW_TILE_DEFAULT (or, not
    timed, the smallest tile) by config.CALIBRATION_MARGIN, else that one."""
    default = config.ROW_TILE_DEFAULT if config.ROW_TILE_DEFAULT in medians else min(medians)
    best = min(medians, key=medians.get)
    return best if medians[best] < (1.0 - config.CALIBRATION_MARGIN) * medians[default] \
        else default


def choose(medians):
    """The fastest candidate; a larger distance must beat a smaller one by
    config.CALIBRATION_MARGIN (noise)."""
    best = None
    keep = 1.0 - config.CALIBRATION_MARGIN
    for c in sorted(medians):
        if best is None or medians[c] < keep * medians[best]:
            best = c
    return best


def _load(path):
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _numbers(table):
    """{int: float} or {int: {int: float}} from a JSON table (string keys), or {} when
    absent or malformed."""
    if not isinstance(table, dict):
        return {}
    try:
        out = {int(k): ({int(c): float(t) for c, t in v.items()} if isinstance(v, dict)
                        else float(v)) for k, v in table.items()}
    except (TypeError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in out.items() if v or v == 0.0}


def _jsonable(table):
    return {str(k): (_jsonable(v) if isinstance(v, dict) else v) for k, v in table.items()}


def _measured(field, measure_fn, decide, force):
    """(decide(seconds), seconds or None): this machine's table `field` of the calibration
    file, re-decided by today's rule (the margin may have changed since), or, when absent
    or force, measured by measure_fn() and merged into the file."""
    key = machine_key()
    entry = _load(config.calibration_file()).get(key)
    if not force and isinstance(entry, dict):
        cached = _numbers(entry.get(field))
        if cached:
            return decide(cached), None
    medians = measure_fn()
    _save(key, {field: _jsonable(medians)})
    return decide(medians), medians


def calibrate(force=False):
    """Measure (or, unless force, read the cached) prefetch distance of this machine;
    returns (bytes, {candidate: seconds} or None when read from the cache)."""
    if not force:  # an entry of an older fastgd: the choice without its table
        entry = _load(config.calibration_file()).get(machine_key())
        if (isinstance(entry, dict) and not _numbers(entry.get("seconds"))
                and isinstance(entry.get("prefetch_bytes"), int)):
            return entry["prefetch_bytes"], None
    best, medians = _measured("seconds", lambda: measure(), lambda t: int(choose(t)), force)
    if medians is not None:
        _save(machine_key(), {"prefetch_bytes": best})
    return best, medians


def _save(key, fields):
    """Merge `fields` into this machine's entry of the calibration file (re-read, so a
    concurrent process's other fields survive), stamped with the date; never raises."""
    path = config.calibration_file()
    data = _load(path)
    entry = data.get(key) if isinstance(data.get(key), dict) else {}
    entry.update(fields)
    entry["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    data[key] = entry
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the value still serves this process


def calibrate_tiles(force=False):
    """Measure (or, unless force, read the cached) tiles of this machine; returns
    ({row width bytes: tile}, {width: {tile: seconds}} or None when read from the cache)."""
    return _measured("row_tile_seconds", lambda: measure_tiles(),
                     lambda t: {wd: choose_tile(row) for wd, row in t.items()}, force)


def calibrate_visits(force=False):
    """Measure (or, unless force, read the cached) mini-batch visit-ahead distance (rows)
    of this machine; returns (rows, {candidate: seconds} or None when read from the cache)."""
    return _measured("visit_ahead_seconds", lambda: measure_visits(),
                     lambda t: int(choose(t)), force)


def nearest_width(widths, row_bytes):
    """The width of `widths` closest to row_bytes on a log scale."""
    return min(widths, key=lambda wd: abs(math.log(max(row_bytes, 1) / wd)))


def row_tile(d, itemsize):
    """Rows per tile of the tiled row loop for X (n, d) of this itemsize: config.ROW_TILE
    when set, else this machine's calibrated tile for the nearest row width (measured on
    first use and cached on disk; memoised per process), at least 1."""
    if config.ROW_TILE is not None:
        return max(1, int(config.ROW_TILE))
    table = _memo("tiles", lambda: calibrate_tiles()[0])
    return max(1, int(table[nearest_width(tuple(table), d * itemsize)]))


def _memo(name, compute):
    key = (name, config.calibration_file())
    if key not in _MEMO:
        _MEMO[key] = compute()
    return _MEMO[key]


def visit_ahead_rows():
    """config.MINIBATCH_PREFETCH_ROWS when set, else this machine's calibrated distance
    (measured on first use and cached on disk; memoised per process)."""
    if config.MINIBATCH_PREFETCH_ROWS is not None:
        return max(0, int(config.MINIBATCH_PREFETCH_ROWS))
    return _memo("visits", lambda: calibrate_visits()[0])


def prefetch_bytes():
    """config.PREFETCH_BYTES when set, else this machine's calibrated distance (measured on
    first use and cached on disk; memoised per process)."""
    if config.PREFETCH_BYTES is not None:
        return int(config.PREFETCH_BYTES)
    return _memo("prefetch", lambda: calibrate()[0])
