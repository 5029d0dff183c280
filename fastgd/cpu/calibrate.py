"""The machine's software-prefetch distance, measured once and cached (hp[HP_PREFETCH]).

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
"""
import json
import os
import time

import numpy as np
from numba import prange

from .. import config
from .._jit import cpu_kernel
from ..contract import HP_ONE, HP_PREFETCH, HP_SIZE, LSQ
from .evaluate import block_rows, rows_ahead, rows_pairs

_MEMO = {}


@cpu_kernel(parallel=True)
def stream_pass(X, y, w, part, hp):
    """One least-squares pass over X (n, d) in row blocks, as eval_rows runs it, with
    hp[HP_PREFETCH] bytes of prefetch; part (nblocks, d) scratch.  Returns sum phi."""
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
        f[blk] = rows_pairs(LSQ, False, X, y, w, acc, lo, hi, one, one, ahead)
    return f.sum()


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
    hps = {}
    for c in candidates:
        hp = np.zeros(HP_SIZE, np.float32)
        hp[HP_ONE] = 1.0
        hp[HP_PREFETCH] = c
        hps[c] = hp
    stream_pass(X, y, w, part, hps[candidates[0]])  # compile / warm up
    times = {c: [] for c in candidates}
    for r in range(rounds):
        for k in range(len(candidates)):
            c = candidates[(k + r) % len(candidates)]
            t0 = time.perf_counter()
            stream_pass(X, y, w, part, hps[c])
            times[c].append(time.perf_counter() - t0)
    return {c: float(np.median(t)) for c, t in times.items()}


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


def _cached_seconds(entry):
    """{candidate bytes: seconds} stored in a cache entry, or {} when absent or malformed."""
    seconds = entry.get("seconds")
    if not isinstance(seconds, dict):
        return {}
    try:
        return {int(c): float(t) for c, t in seconds.items()}
    except (TypeError, ValueError):
        return {}


def calibrate(force=False):
    """Measure (or, unless force, read the cached) prefetch distance of this machine;
    returns (bytes, {candidate: seconds} or None when read from the cache)."""
    key = machine_key()
    path = config.calibration_file()
    data = _load(path)
    entry = data.get(key)
    if not force and isinstance(entry, dict):
        cached = _cached_seconds(entry)
        if cached:  # re-decided by today's rule (the margin may have changed since)
            return int(choose(cached)), None
        if isinstance(entry.get("prefetch_bytes"), int):
            return entry["prefetch_bytes"], None
    medians = measure()
    best = choose(medians)
    data[key] = {"prefetch_bytes": int(best),
                 "seconds": {str(c): t for c, t in medians.items()},
                 "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the value still serves this process
    return int(best), medians


def prefetch_bytes():
    """config.PREFETCH_BYTES when set, else this machine's calibrated distance (measured on
    first use and cached on disk; memoised per process)."""
    if config.PREFETCH_BYTES is not None:
        return int(config.PREFETCH_BYTES)
    key = config.calibration_file()
    if key not in _MEMO:
        _MEMO[key] = calibrate()[0]
    return _MEMO[key]
