"""Every tunable of fastgd, in one place.

The API layer reads these at call time, so tests (and users who know their machine) may
patch them: ``monkeypatch.setattr(fastgd.config, "LARGE_PROBLEM_ELEMENTS", 1)``.
The CPU kernel constants (``COLUMN_TILE_*``, ``LOCKSTEP_*_BYTES``) are
compile-time constants of cached kernels: changing them needs a fresh ``NUMBA_CACHE_DIR``.  A choice
that depends on the hardware is derived from what the process sees (cache sizes, read from
sysfs) or calibrated once per machine (``PREFETCH_BYTES``, ``ROW_TILE``, ``MINIBATCH_PREFETCH_ROWS``:
fastgd/cpu/calibrate.py).  The GPU block shape
is read once, when fastgd.gpu is first imported (environment overrides for the
simulator).  Semantic constants (status codes, the divergence factor, Armijo's c1) are
not tunables: they live in fastgd.contract.
"""
import os

# ---------------------------------------------------------------- plan (fastgd.plan)
# one problem (B == 1) is parallelised over rows from this many elements of X on (CPU:
# and only when it does not fit the serial limit below; GPU: this alone)
LARGE_PROBLEM_ELEMENTS = 1 << 16
# one CPU problem whose X and its transposed copy fit this many bytes runs serially (the
# batched driver, vectorised over rows); None = measured once per machine (serial_max_bytes:
# fastgd/cpu/calibrate.py, at doubling sizes from SERIAL_CALIBRATION_MIN_BYTES up to the
# last-level cache, at most SERIAL_CALIBRATION_MAX_BYTES); environment:
# FASTGD_SERIAL_MAX_BYTES (0: every large problem runs the row blocks)
SERIAL_MAX_BYTES = (int(os.environ["FASTGD_SERIAL_MAX_BYTES"])
                    if os.environ.get("FASTGD_SERIAL_MAX_BYTES") else None)
SERIAL_CALIBRATION_MIN_BYTES = 512 << 10
SERIAL_CALIBRATION_MAX_BYTES = 64 << 20
# the serial limit is the largest size at which the serial passes beat the row blocks by
# this fraction: on a 2-core Xeon VM the proxies broke even at 16 MiB where the real drivers
# did at 6-8 MiB (LeastSquares, Logistic; 10 and 64 columns), and the proxies' times swing
# by up to 1.5x between runs there
SERIAL_CALIBRATION_MARGIN = 0.2
# mode="auto" never picks Gram form above this many columns (d^2 scratch per problem)
MAX_GRAM_D = 2048
# forming X^T X runs at about a quarter of the speed of a streaming pass over X (measured
# on W2 with the compiled kernel): mode="auto" weighs the Gram set-up by this factor
GRAM_SETUP_WEIGHT = 4.0
# one large problem's Gram form is built by BLAS (fastgd/cpu/gram.py) over row blocks of
# about this many bytes of float64 (a float32 or weighted block is copied once, upcast);
# None = half the last-level cache, within [4 MiB, 64 MiB] (gram_block_bytes)
GRAM_BLOCK_BYTES = None
# per-chunk scratch of the batched driver is about n*d elements: beyond one chunk per
# thread, add chunks only while their scratch stays under this many elements (2 MB)
CHUNK_SCRATCH_ELEMENTS = 1 << 18
# a batch over one shared X in DIRECT mode (a row loss, no precondition) runs the lockstep
# driver (fastgd/cpu/lockstep.py: one pass over X per iteration for all problems) when X
# and the old path's transposed copy exceed LOCKSTEP_MIN_BYTES (None: serial_max_bytes(),
# the cache; below it per-problem solves in parallel over problems read X from cache and
# pay no parallel launch per iteration).  SHARED_X_LOCKSTEP = False: always the per-problem
# driver (fastgd/cpu/shared.py)
SHARED_X_LOCKSTEP = True
LOCKSTEP_MIN_BYTES = None
# at most this many chunks per thread (dynamic scheduling of a batch)
CHUNKS_PER_THREAD = 16
# row blocks of one large problem: one per ROWS_PER_BLOCK rows, at most BLOCKS_PER_THREAD
# per thread
ROWS_PER_BLOCK = 256
BLOCKS_PER_THREAD = 4
# a callback splits the solve into this many chunks of iterations
CALLBACK_CHUNKS = 20
# a compiled call estimated to read fewer elements than this (~10 ms) runs directly in the
# calling thread; longer ones run in a worker so that Ctrl-C can stop them (runtime.py)
INTERRUPT_MIN_WORK = 20_000_000

# ---------------------------------------------------------------- progress, sweeps, checks
# a progress bar splits a solve into at most this many chunks of iterations
PROGRESS_MAX_CHUNKS = 64
# sweep_lr keeps one float64 loss history per step size (X is shared, never copied):
# refuse sweeps whose histories exceed this many bytes
MAX_SWEEP_BYTES = 1 << 30
# minimize(record_x=True): the most iterates it keeps (records x problems x parameters)
MAX_RECORD_X_BYTES = 1 << 30
# precondition="diag": the column statistics cast this many elements of X to float64 at a
# time (the only temporary; X itself is never copied)
PRECONDITION_BLOCK_ELEMENTS = 1 << 16
# sweep_lr's default step sizes: this many, log-spaced over this span times 1/L
SWEEP_POINTS = 13
SWEEP_SPAN = (1e-2, 4.0)
# minimize(batch_size=m): the visiting orders and step-size factors of at most this many
# bytes of epochs are drawn on the host per compiled call (cpu/backend_minibatch.py)
MINIBATCH_ORDER_BYTES = 32 << 20
# the NaN/Inf scan of a large array that failed the quick sum test goes in chunks this long
FINITE_CHUNK = 1 << 22

# ---------------------------------------------------------------- CPU kernels (compile time)
# Softmax's column-wise evaluation (cpu/softmax.py) runs in tiles of rows whose 8 rows of the
# transposed X and k rows of logits fit this many bytes; None = the L1 data cache
# (column_tile_bytes); at least COLUMN_TILE_MIN_ROWS rows (8 vectors of 8 float64: the
# per-tile reductions stay a small part of a pass).  W6 Softmax (k=10, 32 KiB L1): 224 rows,
# as fast as the best of 64..2048 measured
COLUMN_TILE_BYTES = None
COLUMN_TILE_MIN_ROWS = 64
# the lockstep driver's transposed tile of rows of X (cpu/lockstep.py), read from cache by
# every active problem, two targets at a time: one register-blocked inner loop streams 8 rows
# of the tile and 2 rows of z, which should fit LOCKSTEP_INNER_BYTES (None: the L1 data
# cache, lockstep_inner_bytes), and the whole tile (d rows), re-read once per pair of targets,
# LOCKSTEP_TILE_BYTES (None: half the level-2 cache, lockstep_tile_bytes).  Measured on a
# Zen 4 (32 KiB L1d, 1 MiB L2; 200000 x 50 float32, B = 32): benchmarks/RESULTS.md
LOCKSTEP_INNER_BYTES = None
LOCKSTEP_TILE_BYTES = None

# ---------------------------------------------------------------- calibrated per machine
# how far ahead (bytes) the streaming row loops of one large problem prefetch X; None = the
# machine's own, measured once and cached (fastgd/cpu/calibrate.py: 8 KiB lifted a W2 pass
# from 80% to 91% of the read ceiling on a Zen 5, and cut it from 97% to 81% on a Zen 4);
# environment FASTGD_PREFETCH_BYTES.  A hint only: results never depend on it
PREFETCH_BYTES = (int(os.environ["FASTGD_PREFETCH_BYTES"])
                  if os.environ.get("FASTGD_PREFETCH_BYTES") else None)
# a longer distance is kept only when it beats every shorter one by this fraction: on a
# shared VM the run-to-run swing is several percent (a Zen 4 calibration picked 8 KiB by
# 2.5%, and W2 then ran 7-18% slower than with none, same-process A/B)
CALIBRATION_MARGIN = 0.05
# the distances the calibration times (bytes; 0 = no software prefetch), rounds per candidate
PREFETCH_CANDIDATES = (0, 2048, 4096, 8192, 16384)
CALIBRATION_ROUNDS = 5
# the calibration's synthetic X: this many bytes; None = 4 x the last-level cache, at least
# 64 MiB and at most 512 MiB (it must stream from memory, as the large problems it tunes do;
# a VM may report its host's whole L3: 480 MiB on a 2-core Xeon guest)
CALIBRATION_BYTES = None
# rows per tile of the tiled row loop of one large logistic problem (cpu/evaluate.rows_tiled:
# z for the tile, the loss, then the tile's rows of X again, from cache), a run-time argument
# of solve_single.  None = calibrated per machine and row width (fastgd/cpu/calibrate.py:
# no cache-size rule fits what was measured on a Zen 4, benchmarks/RESULTS.md: 16-32 rows
# best for 256 B rows, 64-128 for 64 B rows, flat for 512 B rows); environment FASTGD_ROW_TILE
ROW_TILE = int(os.environ["FASTGD_ROW_TILE"]) if os.environ.get("FASTGD_ROW_TILE") else None
# the tiles the calibration times, the row widths (bytes) it times them at (X float32,
# d = bytes / 4; a problem uses the nearest width's choice), and the tile kept unless another
# beats it by CALIBRATION_MARGIN
ROW_TILE_CANDIDATES = (16, 32, 64, 128)
ROW_TILE_WIDTHS = (32, 64, 256, 1024)
ROW_TILE_DEFAULT = 64
# mini-batches over a dense X (cpu/minibatch.py): the row visited this many rows ahead is
# prefetched (shuffled epochs of 1e6 x 32 float32, batch 256, loaded 2-core Zen 4 VM: 8 rows
# cut 127 -> 97 ms an epoch); None = calibrated per machine among MINIBATCH_PREFETCH_CANDIDATES
# (0 = none; a longer distance kept only when it wins by CALIBRATION_MARGIN) by visiting
# MINIBATCH_CALIBRATION_ROWS rows of the synthetic X in an epoch's order; environment
# FASTGD_MINIBATCH_PREFETCH_ROWS.  A hint only: results never depend on it
MINIBATCH_PREFETCH_ROWS = (int(os.environ["FASTGD_MINIBATCH_PREFETCH_ROWS"])
                           if os.environ.get("FASTGD_MINIBATCH_PREFETCH_ROWS") else None)
MINIBATCH_PREFETCH_CANDIDATES = (0, 4, 8, 16, 32)
MINIBATCH_CALIBRATION_ROWS = 1 << 18
# where calibrated values are kept (JSON, one entry per machine key); None = the user cache
# directory ($XDG_CACHE_HOME or ~/.cache)/fastgd/calibration.json; environment
# FASTGD_CALIBRATION_FILE
CALIBRATION_FILE = os.environ.get("FASTGD_CALIBRATION_FILE") or None

# ---------------------------------------------------------------- fastgd.ops
# a step op runs its prange kernel from this many elements on, in blocks of OPS_BLOCK
# elements (a multiple of the SIMD width)
OPS_PARALLEL_MIN = 1 << 17
OPS_BLOCK = 1 << 15
# a gradient op (lstsq_grad, logistic_grad) runs in parallel from this many elements of X
OPS_GRAD_PARALLEL_MIN = 1 << 16

# ---------------------------------------------------------------- GPU (read at import)
# threads per block (a power of two) and gradient columns per thread per pass over X;
# the environment overrides exist so the CUDA simulator can run tiny blocks in tests
GPU_THREADS = int(os.environ.get("FASTGD_GPU_THREADS", "128"))
GPU_COLUMNS = int(os.environ.get("FASTGD_GPU_COLUMNS", "16"))
# single large problem: trial steps launched between two looks at the done flag
GPU_CHECK_EVERY = 8
GPU_MAX_GRID_BLOCKS = 1024
# element-wise GPU kernels (fastgd.ops steps; NaN/label checks of device arrays)
GPU_OPS_THREADS = 256
GPU_OPS_MAX_BLOCKS = 65536
GPU_CHECK_THREADS = 256
GPU_CHECK_MAX_BLOCKS = 1024


def serial_max_bytes():
    """SERIAL_MAX_BYTES, or this machine's measured limit (fastgd/cpu/calibrate.py).

    In cache, an evaluation is compute-bound: the serial driver, vectorised over the rows of
    a transposed copy, ran a 20190 x 10 problem 2-7x faster than the row-block pass on two
    threads, which also pays a parallel launch per evaluation and collapses when the cores
    are shared.  Past the caches one thread serves it no longer, and row blocks on every
    thread win (and need no copy of X).  Where that happens is not the size of the
    last-level cache as Linux reports it (a 2-core VM may see its host's whole L3), so it
    is measured once per machine and cached on disk.
    """
    if SERIAL_MAX_BYTES is not None:
        return SERIAL_MAX_BYTES
    from .cpu.calibrate import measured_serial_limit  # (config itself imports nothing)
    return measured_serial_limit()


def lockstep_min_bytes():
    """LOCKSTEP_MIN_BYTES, or serial_max_bytes()."""
    return serial_max_bytes() if LOCKSTEP_MIN_BYTES is None else LOCKSTEP_MIN_BYTES


_LLC = []


def gram_block_bytes():
    """GRAM_BLOCK_BYTES, or half the last-level cache clipped to [4 MiB, 64 MiB]: a block
    the BLAS product reads from cache while the next block is upcast."""
    if GRAM_BLOCK_BYTES is not None:
        return GRAM_BLOCK_BYTES
    return min(64 << 20, max(4 << 20, last_level_cache() // 2))


def calibration_bytes():
    """CALIBRATION_BYTES, or 4 x the last-level cache within [64 MiB, 512 MiB]."""
    if CALIBRATION_BYTES is not None:
        return CALIBRATION_BYTES
    return max(64 << 20, min(512 << 20, 4 * last_level_cache()))


def calibration_file():
    """CALIBRATION_FILE, or calibration.json in the user's cache directory."""
    if CALIBRATION_FILE:
        return CALIBRATION_FILE
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "fastgd", "calibration.json")


def cpu_caches():
    """[(level, type, bytes)] of the caches cpu0 reports in sysfs, read once; [] if none."""
    if not _LLC:
        found = []
        root = "/sys/devices/system/cpu/cpu0/cache"
        try:
            for entry in sorted(os.listdir(root)):
                if entry.startswith("index"):
                    info = []
                    for field in ("level", "type", "size"):
                        with open(os.path.join(root, entry, field)) as f:
                            info.append(f.read().strip())
                    text = info[2].upper()
                    unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                    found.append((int(info[0]), info[1], int(text.rstrip("KMG")) * unit))
        except (OSError, ValueError):
            found = []
        _LLC.append(found)
    return _LLC[0]


def last_level_cache():
    """The largest cache size cpu0 reports in sysfs (bytes); 8 MiB if none."""
    return max((size for _, _, size in cpu_caches()), default=0) or 8 << 20


def column_tile_bytes():
    """COLUMN_TILE_BYTES, or cpu0's level-1 data cache (sysfs); 32 KiB if none is reported."""
    if COLUMN_TILE_BYTES is not None:
        return COLUMN_TILE_BYTES
    return data_cache(1) or 32 << 10


def data_cache(level):
    """The size (bytes) of cpu0's data (or unified) cache of this level (sysfs), the
    smallest if several; 0 if none is reported."""
    found = [size for lv, kind, size in cpu_caches() if lv == level and kind != "Instruction"]
    return min(found, default=0)


def lockstep_inner_bytes():
    """LOCKSTEP_INNER_BYTES, or cpu0's level-1 data cache (sysfs); 32 KiB if none is
    reported."""
    if LOCKSTEP_INNER_BYTES is not None:
        return LOCKSTEP_INNER_BYTES
    return data_cache(1) or 32 << 10


def lockstep_tile_bytes():
    """LOCKSTEP_TILE_BYTES, or half of cpu0's level-2 cache (sysfs; 256 KiB if none is
    reported): the tile stays there while every active problem reads it."""
    if LOCKSTEP_TILE_BYTES is not None:
        return LOCKSTEP_TILE_BYTES
    return (data_cache(2) or 512 << 10) // 2
