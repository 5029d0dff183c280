"""The time-to-solution benchmark (benchmarks/time_to_solution.py) runs and its verification
can fail: the --small sizes end to end (every contender checked in float64 against the
target), and contenders that do not converge, exceed the limit or need a tighter tolerance
are reported as such.  No timing assertions (shared, noisy machine)."""
import importlib.util
import time

import numpy as np
import pytest

import fastgd
from benchmarks import time_to_solution as tts


def test_small_run_every_contender_reaches_the_target(capsys, tmp_path):
    md = tmp_path / "tts.md"
    code = tts.main(["--small", "--threads", "1", "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 0, out
    text = md.read_text()
    for key in tts.ALL:
        assert f"## {key}:" in text
    assert "| contender | time | iterations | reached |" in text
    assert "## Targets" in text and "batched LS" in text and "X^T X" in text
    # every contender of the small sizes reaches the target (their tolerances are right)
    table = [line for line in text.splitlines() if line.startswith("| fastgd") or
             line.startswith("| numpy") or line.startswith("| sklearn") or
             line.startswith("| scipy") or line.startswith("| torch") or
             line.startswith("| np.")]
    assert len(table) > 30
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[1] == "SKIPPED":  # only an optional peer that is not installed may be
            peer = cells[-1].removesuffix(" not installed")
            assert cells[-1].endswith(" not installed") and \
                importlib.util.find_spec(peer) is None, line
            continue
        assert cells[3].startswith("yes"), line


def _small_ls():
    return tts.build_ls("small", 30.0)


def test_verify_against_the_float64_gradient():
    wl = _small_ls()
    x = np.linalg.lstsq(*_ls_arrays(), rcond=None)[0]
    ok, ratio, _ = tts.verify(wl, x)
    assert ok and ratio < 1e-10
    ok, ratio, _ = tts.verify(wl, np.zeros_like(x))
    assert not ok and abs(ratio - 1.0) < 1e-12
    ok, ratio, _ = tts.verify(wl, np.full_like(x, np.nan))
    assert not ok and ratio == np.inf


def _ls_arrays():
    p = tts.SIZES["ls"]["small"]
    return tts.ls_data(p["n"], p["d"], p["kappa"])


def test_non_converged_contender_is_reported_not_reached():
    wl = _small_ls()
    X, y = _ls_arrays()
    prob = fastgd.LeastSquares(X, y)

    def short(level):
        return lambda: tts.Out(fastgd.minimize(prob, max_iter=3).x, 3)
    good = next(c for c in wl.contenders if c.name == "numpy normal equations")
    wl.contenders = [good, tts.Contender("fastgd 3 iterations", tts.FASTGD, short)]
    rows = tts.run_workload(wl, 1, 30.0, 30.0, log=lambda m: None)
    assert rows[0].reached and rows[0].ratio < 1e-10
    assert rows[1].reached is False and rows[1].ratio > 1e-6 and rows[1].times
    cells = tts.format_rows(rows, 30.0)
    assert cells[1][3] == "NO" and cells[0][3] == "yes"
    assert tts.best_alternative(rows) is rows[0]


def test_batch_subset_and_loosened_tolerance_are_handled():
    """A loop over a subset is verified on that subset only; a peer whose first tolerance
    misses the target is rerun with the tighter one (and says so)."""
    wl = tts.build_batched_ls("small", 30.0)
    p = tts.SIZES["batched_ls"]["small"]
    X, y = tts.ls_data(p["n"], p["d"], p["kappa"], B=p["B"], tag="bls")
    idx = np.arange(5)
    exact = np.stack([np.linalg.lstsq(X[i], y[i], rcond=None)[0] for i in idx])
    ok, ratio, count = tts.verify(wl, exact, idx)
    assert ok and count == "5/5"
    calls = []

    def prep(level):
        calls.append(level)
        return lambda: tts.Out(exact * (1.0 if level else 1.001), None, idx)
    wl.contenders = [tts.Contender("peer", tts.ALT, prep, levels=2)]
    (row,) = tts.run_workload(wl, 1, 30.0, 30.0, log=lambda m: None)
    assert calls == [0, 1] and row.reached and "tol tightened" in row.note
    assert row.n_reached == "5/5"
    one_wrong = exact.copy()
    one_wrong[2] *= 1.01
    ok, _, count = tts.verify(wl, one_wrong, idx)
    assert not ok and count == "4/5"


def test_limit_kills_a_slow_contender_and_reports_it():
    wl = _small_ls()
    good = next(c for c in wl.contenders if c.name == "numpy normal equations")

    def slow(level):
        def fn():
            time.sleep(20)
            return good.prepare(0)()
        return fn
    wl.contenders = [good, tts.Contender("slow peer", tts.ALT, slow, limit=True),
                     tts.Contender("limited but quick", tts.ALT, good.prepare, limit=True)]
    t0 = time.perf_counter()
    rows = tts.run_workload(wl, 1, 1.0, 30.0, log=lambda m: None)
    assert time.perf_counter() - t0 < 15
    assert rows[1].status == "limit" and not rows[1].times
    assert rows[2].status == "ok" and rows[2].reached      # result came back from the child
    cells = tts.format_rows(rows, 1.0)
    assert cells[1][1] == "> 1 s" and "not within the limit" in cells[1][3]


def test_targets_read_the_rows():
    R = tts.Row
    rows = {"ls": [R("fastgd default (gd)", tts.FASTGD, times=[1.1], reached=True),
                   R("fastgd bb", tts.FASTGD, times=[0.5], reached=True),
                   R("numpy normal equations", tts.ALT, times=[1.0], reached=True),
                   R("quick but wrong", tts.ALT, times=[0.1], reached=False)],
            "batched_ls": [R("fastgd default (gd)", tts.FASTGD, times=[2.0], reached=True),
                           R("numpy batched normal equations", tts.ALT, times=[1.0], reached=True)]}
    (ls, bls) = tts.targets(rows)
    assert ls[2] is True and "1.10x" in ls[1] and "fastgd bb 0.50x" in ls[1]
    assert bls[2] is False and "2.00x" in bls[1]


def test_cli_rejects_unknown_workload():
    with pytest.raises(SystemExit):
        tts.parse(["--workloads", "nope"])


def test_sgd_ls_held_out_check_and_target():
    """sgd_ls checks the held-out MSE against the least-squares solution's (not a gradient);
    its target compares the time per epoch of the rows that reached it."""
    p = tts.SIZES["sgd_ls"]["small"]
    X, y, Xt, yt = tts.sgd_data(p["n"], p["d"], p["n_test"], p["noise"])
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    best = float(np.mean((Xt @ w - yt) ** 2))
    excess = tts.heldout_excess(Xt, yt, best)
    assert abs(excess(w)) < 1e-12
    assert tts._sgd_check(excess, w * 1.001)[0] and not tts._sgd_check(excess, 0 * w)[0]
    np.testing.assert_allclose(excess(np.stack([w, 0 * w]))[1],
                               (np.mean(yt ** 2) - best) / best)
    assert tts.first_epoch([0.5, 0.02, 0.009, 0.001]) == 2 and tts.first_epoch([1.0]) is None
    R = tts.Row
    rows = [R("fastgd mb", tts.FASTGD, times=[1.0], reached=True, nit="2"),
            R("fastgd slow", tts.FASTGD, times=[0.1], reached=False, nit="1"),
            R("sklearn SGDRegressor", tts.ALT, times=[6.0], reached=True, nit="5")]
    text, measured, met = tts._sgd_target(rows)
    assert "per epoch 2.4x" in measured and "to the target 6.0x" in measured and met is False
