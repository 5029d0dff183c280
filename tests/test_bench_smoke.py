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
    for w in ("W1", "W2", "W3", "W4", "W5"):
        assert f"\n{w} " in out
    assert "numpy matmul" in out and "fastgd auto" in out and "ceiling: numba read of X" in out
    assert "FAILED" not in out
    assert "Targets of the performance issue" in out
    text = md.read_text()
    assert "| workload | contender |" in text and "## Targets" in text


def test_bench_check_rejects_a_wrong_result():
    """The correctness gate can fail: a perturbed solution fails W1's check, and the harness
    then reports the contender as failed instead of timing it."""
    from benchmarks import harness, workloads

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
