"""pytest-benchmark entry point for W1-W6: ``python -m pytest benchmarks/ --benchmark-only``.

One test per (workload, contender); every contender's output is checked against the float64
reference before it is timed (a failed check fails the test) and, except for stateful steps,
again after.  Sizes: FASTGD_BENCH_SIZE=full (default, the issue's sizes) | quick | smoke;
rounds: FASTGD_BENCH_ROUNDS (default 5).  pytest-benchmark times each contender in its own
block: for ratios measured in interleaved rounds (the issue's method) use
``python -m benchmarks.run``.  Not collected by the default ``python -m pytest`` (testpaths).
"""
import os

import pytest

from fastgd.bench import harness, workloads

SIZE = os.environ.get("FASTGD_BENCH_SIZE", "full")
ROUNDS = int(os.environ.get("FASTGD_BENCH_ROUNDS", "5"))
PEERS = {"numpy", "torch", "jax"}

CASES = [(w, c.name) for w, build in workloads.BUILDERS.items() for c in build(SIZE, PEERS)[1]]
_current = {}          # the workload whose data is alive (one at a time: W3 holds GBs)


def _contender(workload, name):
    if _current.get("workload") != workload:
        _current.clear()
        title, cs, _ = workloads.BUILDERS[workload](SIZE, PEERS)
        _current.update(workload=workload, contenders={c.name: c for c in cs})
    return _current["contenders"][name]


@pytest.mark.parametrize("workload,name", CASES, ids=[f"{w}-{n}" for w, n in CASES])
def test_workload(benchmark, workload, name):
    c = _contender(workload, name)
    try:
        fn = c.prepare()
    except harness.Skip as e:
        pytest.skip(str(e))
    if isinstance(fn, tuple):
        fn, c.compile_s = fn
    err = c.check(fn())                  # warm-up call, checked before any time counts
    assert err is None, f"{workload} {name}: {err}"
    benchmark.group = workload
    benchmark.extra_info.update(role=c.role, compile_s=c.compile_s, note=c.note)
    out = benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    if c.recheck:
        err = c.check(out)
        assert err is None, f"{workload} {name} (after timing): {err}"
    if c.nbytes and benchmark.stats is not None:
        benchmark.extra_info["GB/s"] = c.nbytes / benchmark.stats.stats.median / 1e9
