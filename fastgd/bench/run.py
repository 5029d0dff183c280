"""Peer comparison of fastgd, in interleaved rounds: ``python -m benchmarks.run`` (a source
checkout; a shim to this module), ``python -m fastgd.bench.run`` or ``fastgd bench`` (--quick).

    python -m benchmarks.run                      # the issue's sizes, W1-W6, 5 rounds (minutes)
    python -m benchmarks.run --workloads W6 --load 1   # moderate single problems, one core busy
    python -m benchmarks.run --quick              # scaled down, < 60 s on 2 cores (fastgd bench)
    python -m benchmarks.run --workloads W1,W3 --rounds 7 --markdown out.md
    python -m benchmarks.run --smoke              # toy sizes, 1 round, NumPy + fastgd only (CI)

Each workload prepares every contender (data, compilation, one warm-up call, a check against a
float64 reference), then runs ``--rounds`` rounds in which every contender runs, in a
rotating order: once, or for calls shorter than ``--min-round-s`` repeatedly until that much
time has passed, recording the mean per call (timeit style).  Reported: median time, min, best-peer median / median ("x best peer", > 1 is
faster), GB/s of the workload's minimum traffic and its fraction of the same-round ceiling.
"""
import argparse
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import time

from . import harness, workloads

ALL = tuple(workloads.BUILDERS)
PEERS = ("numpy", "torch", "jax")


def machine():
    """CPU model and core count (lscpu), threads, versions."""
    cpu, cores = platform.processor() or platform.machine(), os.cpu_count()
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        cpu = info.get("Model name", cpu).strip()
        cores = info.get("CPU(s)", str(cores)).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    lines = [f"CPU: {cpu}, {cores} logical cores, Python {platform.python_version()}",
             "CPU id: " + cpu_id(info)]
    vers = []
    for mod in ("fastgd", "numpy", "numba", "torch", "jax", "jaxlib"):
        try:
            vers.append(f"{mod} {importlib.metadata.version(mod)}")
        except importlib.metadata.PackageNotFoundError:
            vers.append(f"{mod} (not installed)")
    lines.append("versions: " + ", ".join(vers))
    thr = []
    try:
        import numba
        thr.append(f"numba {numba.get_num_threads()}")
    except ImportError:
        pass
    if "torch" in sys.modules:
        thr.append(f"torch {sys.modules['torch'].get_num_threads()}")
    lines.append("threads: " + ", ".join(thr))
    return lines


SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
              "avx_vnni", "neon", "asimd", "sve")


def cpu_id(info):
    """Vendor, family/model/stepping, caches and SIMD flags from lscpu's fields: the model
    name alone ("AMD EPYC") does not tell Zen 3 from Zen 4 or a Xeon generation."""
    keys = (("Vendor ID", "vendor"), ("CPU family", "family"), ("Model", "model"),
            ("Stepping", "stepping"), ("L2 cache", "L2"), ("L3 cache", "L3"))
    parts = [f"{label} {info[k].strip()}" for k, label in keys if k in info]
    flags = set(info.get("Flags", "").split())
    parts.append("SIMD " + (" ".join(f for f in SIMD_FLAGS if f in flags) or "unknown"))
    try:
        import numba
        numba.get_num_threads()  # starts the layer, so that threading_layer() is known
        parts.append(f"threading layer {numba.threading_layer()}")
    except (ImportError, ValueError):
        pass
    return ", ".join(parts)


def load_note(warn=True):
    """The 1-minute load average, with a warning when the machine is not quiet."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average: unknown"
    cores = os.cpu_count() or 1
    note = f"load average (1 min): {load:.2f} on {cores} cores"
    if warn and load > 0.5 * cores:
        note += (" -- WARNING: the machine is busy; parallel regions (Numba, torch OpenMP) then "
                 "wait on the scheduler and times inflate: do not record these figures")
    return note


def parse(argv, prog="python -m benchmarks.run"):
    ap = argparse.ArgumentParser(prog=prog,
                                 description=__doc__.split("\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="scaled-down sizes (< 60 s on 2 cores)")
    size.add_argument("--smoke", action="store_true",
                      help="toy sizes, 1 round, NumPy + fastgd only (checks the benchmark code)")
    ap.add_argument("--workloads", default=",".join(ALL), help="comma list of W1..W6 (default all)")
    ap.add_argument("--peers", default=None,
                    help="comma list of peer families from numpy,torch,jax (default all; "
                         "--smoke: numpy)")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; smoke 1)")
    ap.add_argument("--max-call-s", type=float, default=None,
                    help="a contender slower than this per call runs no further rounds "
                         "(default: none; --quick: 3)")
    ap.add_argument("--min-round-s", type=float, default=None,
                    help="within a round, repeat a contender's call until this many seconds "
                         "have passed and record the mean per call (default 0.5; quick 0.1; "
                         "smoke 0)")
    ap.add_argument("--load", type=int, default=0, metavar="N",
                    help="run N busy-loop processes (one core each) during the run: the "
                         "figures of a loaded machine, on purpose (default 0)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the results as Markdown")
    args = ap.parse_args(argv)
    args.size = "smoke" if args.smoke else "quick" if args.quick else "full"
    args.wl = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in args.wl if w not in workloads.BUILDERS]
    if bad:
        ap.error(f"--workloads: unknown {bad}; choose from {','.join(ALL)}")
    peers = args.peers or ("numpy" if args.smoke else ",".join(PEERS))
    args.peer_set = {p.strip().lower() for p in peers.split(",") if p.strip()}
    if args.peer_set - set(PEERS):
        ap.error(f"--peers: unknown {sorted(args.peer_set - set(PEERS))}; "
                 f"choose from numpy,torch,jax")
    if args.max_call_s is None and args.size == "quick":
        args.max_call_s = 3.0
    args.rounds = args.rounds if args.rounds is not None else (1 if args.smoke else 5)
    if args.min_round_s is None:
        args.min_round_s = {"smoke": 0.0, "quick": 0.1, "full": 0.5}[args.size]
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if args.load < 0:
        ap.error("--load must be >= 0")
    return args


def main(argv=None, prog="python -m benchmarks.run"):
    """Run the benchmark; prints the table and the issue's targets.  Returns an exit code
    (0; 1 when a contender failed its correctness check).  ``prog``: the command named in
    the usage text and in the Markdown report."""
    args = parse(argv, prog)
    cmd = prog + " " + " ".join(argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    print(f"fastgd peer benchmark ({args.size} sizes, {args.rounds} interleaved round(s), "
          f"medians; 'x best peer' = best peer median / median)", flush=True)
    busy = busy_loops(args.load)
    try:
        return _run(args, cmd, started, t0, busy)
    finally:
        for p in busy:
            p.kill()
            p.wait()


def busy_loops(n):
    """n Python processes spinning on one core each (synthetic load, --load)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _run(args, cmd, started, t0, busy):
    if busy:
        time.sleep(1.0)          # let the load average see them
    load_start = load_note(warn=not busy)
    if busy:
        load_start += f" -- synthetic load: {len(busy)} busy-loop process(es) (--load)"
    print(load_start, flush=True)
    sections, all_rows, all_targets = [], [], []
    for w in args.wl:
        title, contenders, targets = workloads.BUILDERS[w](args.size, args.peer_set)
        print(f"\n{title}", flush=True)
        rows = harness.run_workload(w, contenders, args.rounds, log=lambda m: print(m, flush=True),
                                    max_call_s=args.max_call_s, min_round_s=args.min_round_s)
        print(harness.text_table(rows), flush=True)
        tg = targets(rows)
        sections.append((title, rows))
        all_rows += rows
        all_targets += tg
        for c in contenders:            # let the workload's buffers go before the next one
            c.prepare = c.check = None
        del contenders
    elapsed = time.perf_counter() - t0
    print("\nTargets of the performance issue" + ("" if args.size == "full" else
          f" ({args.size} sizes: indicative only, the targets are for the full sizes)"))
    for text, measured, met in all_targets:
        flag = "n/a" if met is None else "MET" if met else "MISSED"
        print(f"  {flag:7s} {text}: {measured}")
    info = machine() + [f"at start: {load_start}", f"at end (includes this run): {load_note(warn=False)}"]
    print("\n" + "\n".join(info))
    print(f"total {elapsed:.1f} s")
    if args.markdown:
        write_markdown(args.markdown, cmd, started, info, sections, all_targets, args, elapsed)
        print(f"wrote {args.markdown}")
    failed = [r for r in all_rows if r.status == "failed"]
    return 1 if failed else 0


def write_markdown(path, cmd, started, info, sections, targets, args, elapsed):
    lines = [f"# fastgd benchmark results ({args.size} sizes)", "",
             f"- date: {started:%Y-%m-%d %H:%M} UTC", *[f"- {x}" for x in info],
             f"- command: `{cmd.strip()}`",
             f"- {args.rounds} interleaved rounds, medians; total {elapsed:.0f} s", ""]
    for title, rows in sections:
        lines += [f"## {title}", "", harness.markdown_table(rows), ""]
    lines += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    for text, measured, met in targets:
        verdict = "n/a" if met is None else "met" if met else "MISSED"
        lines.append(f"| {text} | {measured} | {verdict} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
