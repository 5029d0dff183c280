"""Interleaved timing of contenders: each round runs every contender once (rotating the order),
medians over rounds, ratios to the best peer of the same run (per group of contenders doing
the same work), bandwidth against same-round ceilings.

A contender's time only counts when its result passed a check against a float64 reference.
"""
import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

PEER, FASTGD, CEILING, EXTRA = "peer", "fastgd", "ceiling", "extra"


class Skip(Exception):
    """Raised by a contender's prepare() when it cannot run here (missing package or API)."""


@dataclass
class Contender:
    """One way of doing a workload's work.

    prepare() builds buffers and compiles outside timing, and returns the callable that is
    timed (or (callable, compile seconds) for JIT peers; the harness adds one warm-up call);
    check(output) returns None when the output matches the float64 reference,
    else a message.  nbytes: the bytes of the workload's minimum memory traffic per call
    (GB/s is reported only when set).  recheck: also check the output of the last timed round
    (False for stateful steps such as Adam, whose check applies to step 1 only).
    """

    name: str
    role: str
    prepare: Callable[[], Callable[[], Any]]
    check: Callable[[Any], Optional[str]]
    nbytes: Optional[float] = None
    recheck: bool = True
    note: str = ""
    compile_s: Optional[float] = None     # JIT compile seconds (JAX lower+compile), outside timing
    group: str = ""     # contenders of one workload doing different work: ratios per group


@dataclass
class Row:
    workload: str
    name: str
    role: str
    times: list = field(default_factory=list)
    status: str = "ok"          # ok | skipped | failed
    message: str = ""
    nbytes: Optional[float] = None
    compile_s: Optional[float] = None
    note: str = ""
    group: str = ""
    ceiling_fraction: Optional[float] = None   # median over rounds: GB/s / that round's ceiling
    vs_best_peer: Optional[float] = None       # best peer median / this median (> 1: faster)

    @property
    def median(self):
        return statistics.median(self.times) if self.times else None

    @property
    def gbps(self):
        m = self.median
        return self.nbytes / m / 1e9 if (self.nbytes and m) else None


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _timed_round(fn, min_s, max_calls=100):
    """(seconds per call, last output): fn is called until `min_s` seconds have passed
    (timeit style), so a round of a fast contender averages over about as much machine
    time as a round of a slow one instead of sampling one short stretch of this VM's
    bandwidth swings.  min_s=0: one call."""
    t, out = _timed(fn)
    calls, total = 1, t
    while total < min_s and calls < max_calls:
        del out
        t, out = _timed(fn)
        calls += 1
        total += t
    return total / calls, out


def run_workload(workload, contenders, rounds, log=print, max_call_s=None, min_round_s=0.0):
    """Prepare and check every contender, then time `rounds` interleaved rounds.
    max_call_s: a contender whose timed call takes longer than this runs no further rounds
    (its row keeps the rounds it ran, with a note; keeps --quick bounded on a slow machine).
    min_round_s: within a round, a contender is called until this much time has passed
    and the round records the mean time per call (every contender alike).
    Returns a list of Row (skipped and failed contenders included, with their message)."""
    rows, live = [], []
    for c in contenders:
        row = Row(workload, c.name, c.role, nbytes=c.nbytes, note=c.note, group=c.group)
        rows.append(row)
        try:
            fn = c.prepare()
            if isinstance(fn, tuple):    # (callable, compile seconds) from JIT peers
                fn, c.compile_s = fn
            out = fn()                   # warm-up call (JIT, caches, first-touch of buffers)
            err = c.check(out)
        except Skip as e:
            row.status, row.message = "skipped", str(e)
            log(f"  {workload} {c.name}: skipped: {e}")
            continue
        except Exception as e:           # one broken contender must not end the whole run
            row.status, row.message = "failed", f"error: {type(e).__name__}: {e}"
            log(f"  {workload} {c.name}: {row.message}")
            continue
        row.compile_s, row.nbytes, row.note = c.compile_s, c.nbytes, c.note   # prepare may set them
        if err:
            row.status, row.message = "failed", f"check failed: {err}"
            log(f"  {workload} {c.name}: {row.message} (time not counted)")
            continue
        live.append((c, row, fn))
    last, stopped = {}, set()
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(rounds):
            k = r % max(1, len(live))
            gc.collect()
            gc.disable()                 # no collector pauses inside a timed call
            for c, row, fn in live[k:] + live[:k]:
                if c.name in stopped:
                    continue
                t, out = _timed_round(fn, min_round_s)
                row.times.append(t)
                last[c.name] = out
                del out
                if max_call_s is not None and t > max_call_s and r < rounds - 1:
                    stopped.add(c.name)
                    row.note = "; ".join(x for x in (
                        f"stopped after {r + 1} round(s): {t:.1f} s > {max_call_s:g} s/call limit",
                        row.note) if x)
                    log(f"  {workload} {c.name}: {row.note}")
            gc.enable()
    finally:
        if gc_was_enabled:
            gc.enable()
    for c, row, fn in live:
        if c.recheck and rounds:
            err = c.check(last.pop(c.name))
            if err:
                row.status, row.message = "failed", f"check of the last round failed: {err}"
                row.times = []
    last.clear()
    _ratios(rows)
    return rows


def _ratios(rows):
    best = {}
    for r in rows:
        if r.role == PEER and r.status == "ok" and r.times:
            best[r.group] = min(best.get(r.group, r.median), r.median)
    ceil = next((r for r in rows if r.role == CEILING and r.status == "ok" and r.times), None)
    for r in rows:
        if r.status != "ok" or not r.times:
            continue
        if r.group in best and r.role != CEILING:
            r.vs_best_peer = best[r.group] / r.median
        if ceil is not None and r.nbytes and r is not ceil:
            fr = [(r.nbytes / t) / (ceil.nbytes / tc) for t, tc in zip(r.times, ceil.times)]
            r.ceiling_fraction = statistics.median(fr)


def best_peer(rows, group=""):
    ok = [r for r in rows if r.role == PEER and r.status == "ok" and r.times and r.group == group]
    return min(ok, key=lambda r: r.median) if ok else None


def find(rows, name):
    return next((r for r in rows if r.name == name and r.status == "ok" and r.times), None)


# ----------------------------------------------------------------- formatting
HEADER = ("workload", "contender", "median", "min", "x best peer", "GB/s", "% ceiling",
          "compile", "notes")


def _fmt_t(t):
    if t is None:
        return "-"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def format_rows(rows):
    out = []
    for r in rows:
        if r.status != "ok":
            out.append((r.workload, r.name, r.status.upper(), "", "", "", "", "", r.message))
            continue
        out.append((
            r.workload, r.name, _fmt_t(r.median), _fmt_t(min(r.times)),
            "-" if r.vs_best_peer is None else f"{r.vs_best_peer:.2f}x",
            "-" if r.gbps is None else f"{r.gbps:.1f}",
            "-" if r.ceiling_fraction is None else f"{100 * r.ceiling_fraction:.0f}%",
            "-" if r.compile_s is None else _fmt_t(r.compile_s),
            "; ".join(x for x in (r.role if r.role != PEER else "", r.note) if x),
        ))
    return out


def text_table(rows):
    cells = [HEADER] + format_rows(rows)
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(HEADER))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows):
    cells = format_rows(rows)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells]
    return "\n".join(lines)
