"""Progress display for long solves (``minimize(..., progress=True)``).

The compiled driver is resumable: minimize() runs it in chunks of iterations and calls
`Progress.update` between chunks, so the kernel itself is untouched.  Re-entering the
driver costs about one loss evaluation per running problem plus re-forming X^T (direct
mode) or X^T X (gram mode, which can cost many iterations), so `Progress.next_stop`
measures that overhead once (a zero-length chunk) and sizes the chunks to keep it near 1%
of the solve, with an update about every `interval` seconds when that allows it.

tqdm draws the bar when it is installed (``pip install 'fastgd[progress]'``); otherwise a
plain line goes to stderr after every chunk.
"""
import math
import sys
import time

import numpy as np

from . import config, contract

try:
    from tqdm.auto import tqdm
except ImportError:  # optional dependency
    tqdm = None



class Progress:
    """Iterations done, best (lowest) current loss and problems converged, per chunk.

    ``progress`` as passed to minimize: True (tqdm if installed, else plain lines),
    "plain" (plain lines), or "tqdm".
    """

    def __init__(self, max_iter, batch, progress=True, *, interval=0.5, max_overhead=0.01,
                 file=None):
        if progress not in (True, "plain", "tqdm"):
            raise ValueError(f"progress must be True, False, 'plain' or 'tqdm', got {progress!r}")
        if progress == "tqdm" and tqdm is None:
            raise ImportError("progress='tqdm' needs tqdm: pip install 'fastgd[progress]'")
        self.max_iter = max_iter
        self.batch = batch
        self.interval = interval
        self.file = sys.stderr if file is None else file
        self.min_chunk = max(1, math.ceil(max_iter / config.PROGRESS_MAX_CHUNKS))
        self.max_overhead = max_overhead
        self._overhead = None
        self._t_last = None
        self._done_iters = 0
        self._bar = None
        self._shown = -1
        self._t0 = time.perf_counter()
        if tqdm is not None and progress != "plain":
            self._bar = tqdm(total=max_iter, unit="it", desc="fastgd", file=self.file,
                             dynamic_ncols=True, leave=True)

    def next_stop(self, stop_at):
        """The iteration the next chunk should stop at, after one that stopped at `stop_at`.

        Chunk 1 (min_chunk iterations) warms up (auto lr, kernel loading); chunk 2 has zero
        iterations: the driver re-enters and leaves at once, so its time is the re-entry
        overhead O.  From then on, with c the measured time per iteration, a chunk has
        max(min_chunk, interval / c, O / (max_overhead * c)) iterations.
        """
        now = time.perf_counter()
        if self._t_last is None:
            k = self.min_chunk
        elif self._overhead is None and stop_at == self._done_iters:
            self._overhead = now - self._t_last  # the zero-length probe just ran
            k = self.min_chunk
        elif self._overhead is None:
            k = 0  # probe
        else:
            iters = max(1, stop_at - self._done_iters)
            per_iter = max((now - self._t_last - self._overhead) / iters, 1e-12)
            k = max(self.min_chunk, int(self.interval / per_iter),
                    int(self._overhead / (self.max_overhead * per_iter)))
        self._t_last = now
        self._done_iters = stop_at
        return min(self.max_iter, stop_at + k)

    def update(self, stop_at, state, done=False):
        """Show progress after a chunk; `state` is the drivers' (B, STATE_SIZE) array."""
        status = state[:, contract.ST_STATUS]
        fun = state[:, contract.ST_FUN]
        live = status != contract.DIVERGED
        best = float(np.min(fun[live])) if live.any() else float("nan")
        converged = int(np.isin(status, contract.SUCCESS_CODES).sum())
        diverged = int((~live).sum())
        it = int(state[:, contract.ST_NIT].max()) if done else stop_at
        text = f"best loss {best:.4g}, converged {converged}/{self.batch}"
        if diverged:
            text += f", diverged {diverged}"
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(max(0, it - self._bar.n))
            if done:
                self._bar.close()
        elif it != self._shown or done:
            self._shown = it
            secs = time.perf_counter() - self._t0
            print(f"fastgd: iteration {it}/{self.max_iter}, {text} ({secs:.1f} s)",
                  file=self.file, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
