"""The benchmark code runs: every workload at toy size, one round, NumPy + fastgd (+ ceilings),
every contender's result checked against its float64 reference (a failed check -> exit 1)."""
import numpy as np
import pytest

from fastgd import bench


def test_bench_smoke_runs_and_checks(capsys, tmp_path):
    md = tmp_path / "smoke.md"
    code = bench.main(["--smoke", "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 0, out
    for w in ("W1", "W2", "W3", "W4", "W5", "W6"):
        assert f"\n{w} " in out
    assert "numpy matmul" in out and "fastgd auto" in out and "ceiling: numba read of X" in out
    assert "FAILED" not in out
    assert "Targets of the performance issue" in out
    text = md.read_text()
    assert "| workload | contender |" in text and "## Targets" in text


def test_bench_check_rejects_a_wrong_result():
    """The correctness gate can fail: a perturbed solution fails W1's check, and the harness
    then reports the contender as failed instead of timing it."""
    from fastgd.bench import harness, workloads

    title, cs, _ = workloads.build_w1("smoke", {"numpy"})
    numpy_c = cs[0]
    good = numpy_c.prepare()

    def bad():
        w = good().copy()
        w[:, 0] += 1e-6 * np.abs(w).max()
        return w
    wrong = harness.Contender("wrong", harness.PEER, lambda: bad, numpy_c.check)
    rows = harness.run_workload("W1", [numpy_c, wrong], rounds=1, log=lambda m: None)
    assert rows[0].status == "ok" and rows[0].times
    assert rows[1].status == "failed" and not rows[1].times
    assert "check failed" in rows[1].message


def test_bench_cli_rejects_unknown_workload(capsys):
    assert bench.main(["--smoke", "--workloads", "W9"]) == 2
    assert "W9" in capsys.readouterr().err


def test_bench_interleaved_rounds_and_call_limit():
    """Every round runs every contender once; a contender over the per-call limit stops after
    the round in which it exceeded it; the ratio is best peer median / median."""
    import time

    from fastgd.bench import harness

    calls = []

    def contender(name, role, seconds):
        def prep():
            def fn():
                calls.append(name)
                time.sleep(seconds)
                return name
            return fn
        return harness.Contender(name, role, prep, lambda out: None if out == name else "bad")

    cs = [contender("fast", harness.PEER, 0.002), contender("slow", harness.PEER, 0.03),
          contender("mine", harness.FASTGD, 0.001)]
    rows = harness.run_workload("WX", cs, rounds=3, log=lambda m: None, max_call_s=0.02)
    fast, slow, mine = rows
    assert len(fast.times) == 3 and len(mine.times) == 3 and len(slow.times) == 1
    assert "stopped after 1 round" in slow.note
    assert calls[:3] == ["fast", "slow", "mine"]             # warm-up calls, then rounds
    assert calls[3:6] == ["fast", "slow", "mine"]
    assert calls[6:] == ["mine", "fast", "mine", "fast"]     # order rotated; slow stopped
    assert abs(mine.vs_best_peer - fast.median / mine.median) < 1e-12


def test_bench_broken_contender_is_reported_not_fatal():
    from fastgd.bench import harness

    def broken():
        raise RuntimeError("kernel exploded")
    ok = harness.Contender("ok", harness.PEER, lambda: (lambda: 1), lambda out: None)
    bad = harness.Contender("bad", harness.FASTGD, broken, lambda out: None)
    rows = harness.run_workload("WX", [bad, ok], rounds=2, log=lambda m: None)
    assert rows[0].status == "failed" and "kernel exploded" in rows[0].message
    assert rows[1].status == "ok" and len(rows[1].times) == 2


def test_bench_round_repeats_short_calls_and_records_the_mean():
    import time
    from fastgd.bench import harness
    durations = iter([0.03, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    calls = []

    def fn():
        t = next(durations)
        calls.append(t)
        time.sleep(t)
        return len(calls)
    per_call, out = harness._timed_round(fn, min_s=0.055)
    # 0.03 + 0.01 + 0.01 + 0.01 >= 0.055 after four calls: the mean of those four
    assert len(calls) == 4 and out == 4
    assert 0.0145 <= per_call <= 0.03  # sleep overshoots on a loaded machine
    one, _ = harness._timed_round(lambda: time.sleep(0.005), min_s=0.0)
    assert 0.004 <= one < 0.05


def test_multistart_benchmark_smoke():
    """benchmarks/multistart.py at toy size: every contender runs and converges."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    out = subprocess.run([sys.executable, "-m", "benchmarks.multistart", "--starts", "20",
                          "--scipy-limit-s", "5"], capture_output=True, text=True, cwd=root,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    table = [ln for ln in out.stdout.splitlines()
             if ln.startswith("| ") and "%" in ln and "jax" not in ln]
    assert len(table) == 6  # 2 cases x (fastgd, scipy L-BFGS-B, scipy BFGS); jax if installed
    fastgd_rows = [ln for ln in table if "fastgd" in ln]
    assert all("100.0%" in ln for ln in fastgd_rows), out.stdout


def test_bench_ratios_are_per_group():
    """W6 holds four problems in one workload: each fastgd row is compared with the NumPy
    loop of its own problem (group), not with the fastest peer of another problem."""
    from fastgd.bench import harness

    def c(name, role, group, value):
        return harness.Contender(name, role, lambda: (lambda: value), lambda out: None,
                                 group=group)
    rows = [harness.Row("WX", "a", harness.PEER, times=[1.0], group="a"),
            harness.Row("WX", "fa", harness.FASTGD, times=[0.5], group="a"),
            harness.Row("WX", "b", harness.PEER, times=[10.0], group="b"),
            harness.Row("WX", "fb", harness.FASTGD, times=[20.0], group="b")]
    harness._ratios(rows)
    assert [r.vs_best_peer for r in rows] == [1.0, 2.0, 1.0, 0.5]
    assert harness.best_peer(rows, "b").name == "b"
    out = harness.run_workload("WX", [c("p", harness.PEER, "g", 1), c("f", harness.FASTGD, "g", 2)],
                               rounds=1, log=lambda m: None)
    assert out[1].group == "g" and out[1].vs_best_peer is not None


def test_bench_load_option(capsys):
    from fastgd.bench import run
    assert run.parse(["--load", "2"]).load == 2
    with pytest.raises(SystemExit):
        run.parse(["--load", "-1"])
    assert "--load" in capsys.readouterr().err
    procs = run.busy_loops(1)
    try:
        assert procs[0].poll() is None          # spinning
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_sklearn_benchmark_smoke():
    """benchmarks/sklearn_bench.py --quick: every contender runs; fastgd reaches 1e-6."""
    import os
    import subprocess
    import sys
    pytest.importorskip("sklearn")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    out = subprocess.run([sys.executable, "-m", "benchmarks.sklearn_bench", "--quick"],
                         capture_output=True, text=True, cwd=root, env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| ") and "---" not in ln
            and "estimator" not in ln]
    assert len(rows) == 16  # 5 ridge + 3 logistic + 4 multi-target + 4 grid
    assert all(ln.endswith("| yes |") for ln in rows if "fastgd" in ln and "tol" not in ln
               and ln.count("|") == 6), out.stdout


def test_simple_kernels_benchmark_smoke():
    """benchmarks/simple_kernels.py at toy size: the hand-written W4/W5 kernels agree with
    fastgd (checked inside, before timing) and every row is printed."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    out = subprocess.run([sys.executable, "-m", "benchmarks.simple_kernels", "--scale", "0.01",
                          "--rounds", "1"], capture_output=True, text=True, cwd=root, env=env,
                         timeout=900)
    assert out.returncode == 0, out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith(("W4 ", "W5 "))]
    assert len(rows) == 5 and all("fastgd's time" in ln for ln in rows), out.stdout
