"""The per-machine prefetch distance (fastgd/cpu/calibrate.py): chosen by measurement,
cached per machine, overridable, and without effect on any result."""
import json

import numpy as np
import pytest

import fastgd
from fastgd import config, contract
from fastgd.cpu import calibrate


@pytest.fixture
def cal_file(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "calibration.json"
    monkeypatch.setattr(config, "CALIBRATION_FILE", str(path))
    monkeypatch.setattr(config, "PREFETCH_BYTES", None)
    monkeypatch.setattr(config, "CALIBRATION_BYTES", 1 << 20)  # tiny: the mechanics only
    monkeypatch.setattr(config, "CALIBRATION_ROUNDS", 2)
    monkeypatch.setattr(calibrate, "_MEMO", {})
    return path


def test_choose_prefers_the_fastest_and_a_shorter_distance_within_noise():
    assert calibrate.choose({0: 1.0, 2048: 0.5, 8192: 0.7}) == 2048
    assert calibrate.choose({0: 1.0, 2048: 0.99, 8192: 0.995}) == 0  # within noise: no gain
    assert calibrate.choose({0: 1.0, 8192: 0.97}) == 0  # 3%: Zen 4's misleading 2.5% kind
    assert calibrate.choose({0: 1.0, 4096: 0.9, 8192: 0.89}) == 4096


def test_calibrate_measures_once_then_reads_the_cache(cal_file, monkeypatch):
    best, medians = calibrate.calibrate()
    assert best in config.PREFETCH_CANDIDATES
    assert set(medians) == set(config.PREFETCH_CANDIDATES)
    assert all(t > 0 for t in medians.values())
    saved = json.loads(cal_file.read_text())
    assert saved[calibrate.machine_key()]["prefetch_bytes"] == best

    def no_measure(*a, **k):
        raise AssertionError("measured again although the cache holds this machine")
    monkeypatch.setattr(calibrate, "measure", no_measure)
    assert calibrate.calibrate() == (best, None)
    assert calibrate.prefetch_bytes() == best


def test_cached_seconds_are_redecided_by_todays_margin(cal_file, monkeypatch):
    """An entry written under an older rule (8 KiB kept for a 2.5% win) follows the current one."""
    cal_file.parent.mkdir(parents=True)
    cal_file.write_text(json.dumps({calibrate.machine_key(): {
        "prefetch_bytes": 8192, "seconds": {"0": 1.0, "8192": 0.975}}}))
    monkeypatch.setattr(calibrate, "measure", None)  # would fail if called
    monkeypatch.setattr(config, "CALIBRATION_MARGIN", 0.05)
    assert calibrate.calibrate() == (0, None)
    monkeypatch.setattr(config, "CALIBRATION_MARGIN", 0.01)
    assert calibrate.calibrate() == (8192, None)


def test_other_machines_entries_are_kept_and_a_corrupt_file_is_remeasured(cal_file):
    cal_file.parent.mkdir(parents=True)
    cal_file.write_text("{not json")
    best, medians = calibrate.calibrate()
    assert medians is not None
    data = json.loads(cal_file.read_text())
    data["other-cpu|x"] = {"prefetch_bytes": 4096}
    cal_file.write_text(json.dumps(data))
    calibrate.calibrate(force=True)
    data = json.loads(cal_file.read_text())
    assert data["other-cpu|x"] == {"prefetch_bytes": 4096}
    assert calibrate.machine_key() in data


def test_an_unwritable_cache_still_gives_a_value(tmp_path, monkeypatch, cal_file):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(config, "CALIBRATION_FILE", str(blocker / "cal.json"))  # dir is a file
    best, _ = calibrate.calibrate()
    assert best in config.PREFETCH_CANDIDATES


def test_the_override_skips_the_measurement(cal_file, monkeypatch):
    monkeypatch.setattr(config, "PREFETCH_BYTES", 3000)
    monkeypatch.setattr(calibrate, "calibrate", None)  # would fail if called
    assert calibrate.prefetch_bytes() == 3000


def test_only_the_row_block_path_asks_for_it(rng, monkeypatch):
    """A batch or a problem within the cache never triggers a calibration."""
    def boom():
        raise AssertionError("calibrated for a plan that does not stream rows")
    monkeypatch.setattr(calibrate, "prefetch_bytes", boom)
    X = rng.standard_normal((50, 30, 4))
    y = rng.standard_normal((50, 30))
    fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=5)
    X1 = rng.standard_normal((400, 8))
    fastgd.minimize(fastgd.LeastSquares(X1, X1 @ np.ones(8)), max_iter=5)


def _gd_reference(X, y, lr, iters, loss):
    """Plain float64 gradient descent, NumPy (the independent reference)."""
    Xd, yd = X.astype(np.float64), y.astype(np.float64)
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        z = Xd @ w
        r = z - yd if loss == "lsq" else 1.0 / (1.0 + np.exp(-z)) - yd
        w -= lr * Xd.T @ r / len(yd)
    return w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["lsq", "logistic"])
def test_results_do_not_depend_on_the_distance(rng, monkeypatch, row_blocks, dtype, loss):
    n, d = 6001, 13  # past config.LARGE_PROBLEM_ELEMENTS: the row blocks
    X = rng.standard_normal((n, d)).astype(dtype)
    if loss == "lsq":
        y = (X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)).astype(dtype)
        cls = fastgd.LeastSquares
    else:
        y = (rng.random(n) < 0.5).astype(dtype)
        cls = fastgd.Logistic
    xs = []
    for nbytes in (0, 512, 8192, 1 << 20):
        monkeypatch.setattr(config, "PREFETCH_BYTES", nbytes)
        res = fastgd.minimize(cls(X, y), lr=0.2, max_iter=30, gtol=0, mode="direct")
        assert res.nit == 30
        xs.append(res.x)
    for x in xs[1:]:
        np.testing.assert_array_equal(x, xs[0])
    ref = _gd_reference(X, y, 0.2, 30, loss)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(xs[0], ref, rtol=tol, atol=tol)


def test_auto_lr_power_iteration_with_any_distance(rng, monkeypatch, row_blocks):
    X = rng.standard_normal((8000, 9))
    y = X @ rng.standard_normal(9)
    lrs = []
    for nbytes in (0, 4096):
        monkeypatch.setattr(config, "PREFETCH_BYTES", nbytes)
        lrs.append(fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=1).lr)
    lam = np.linalg.eigvalsh(X.T @ X / len(y))[-1]
    assert lrs[0] == lrs[1]
    # the power iteration stops within a few percent of lambda_max, from below
    assert 1.0 / lam <= lrs[0] <= 1.05 / lam


def test_the_plan_carries_the_distance(rng, monkeypatch, row_blocks):
    from fastgd.plan import make_plan
    monkeypatch.setattr(config, "PREFETCH_BYTES", 6144)
    X = rng.standard_normal((7000, 10))  # past config.LARGE_PROBLEM_ELEMENTS
    prob = fastgd.LeastSquares(X, X @ np.ones(10))
    plan = make_plan(prob, "cpu", contract.GD, "direct", 10, None, 0, None, None, False, 0.9,
                     (0.9, 0.999), 1e-8, 0.0, 0.0, 0.0)
    assert plan.hp[contract.HP_PREFETCH] == 6144
    assert plan.ip[contract.IP_MODE] == contract.ROWS


# ---------------------------------------------------------------- the tiled row loop's tile
def test_choose_tile_keeps_the_default_unless_another_clearly_wins():
    assert calibrate.choose_tile({16: 0.7, 32: 0.72, 64: 1.0, 128: 0.95}) == 16
    assert calibrate.choose_tile({16: 0.97, 32: 0.98, 64: 1.0, 128: 0.99}) == 64  # noise
    assert calibrate.choose_tile({16: 2.0, 32: 1.5, 64: 1.0, 128: 0.5}) == 128
    assert calibrate.choose_tile({16: 1.0, 32: 0.5}) == 32  # default not timed: the smallest


def test_tile_calibration_measures_once_then_reads_the_cache_beside_the_distance(cal_file,
                                                                                monkeypatch):
    monkeypatch.setattr(config, "ROW_TILE", None)
    best, _ = calibrate.calibrate()
    tiles, medians = calibrate.calibrate_tiles()
    assert set(tiles) == set(config.ROW_TILE_WIDTHS) == set(medians)
    for wd, row in medians.items():
        assert set(row) == set(config.ROW_TILE_CANDIDATES)
        assert all(t > 0 for t in row.values())
        assert tiles[wd] == calibrate.choose_tile(row)
    entry = json.loads(cal_file.read_text())[calibrate.machine_key()]
    assert entry["prefetch_bytes"] == best  # merged into the entry, not replacing it
    assert set(entry["row_tile_seconds"]) == {str(wd) for wd in config.ROW_TILE_WIDTHS}

    def no_measure(*a, **k):
        raise AssertionError("measured again although cached")
    monkeypatch.setattr(calibrate, "measure_tiles", no_measure)
    monkeypatch.setattr(calibrate, "measure", no_measure)
    assert calibrate.calibrate_tiles() == (tiles, None)
    assert calibrate.calibrate() == (best, None)
    wd = config.ROW_TILE_WIDTHS[0]
    assert calibrate.row_tile(wd // 4, 4) == tiles[wd]


def test_a_problem_uses_the_nearest_measured_width(cal_file, monkeypatch):
    monkeypatch.setattr(config, "ROW_TILE", None)
    table = {32: 128, 64: 64, 256: 16, 1024: 32}
    monkeypatch.setattr(calibrate, "_MEMO", {("tiles", config.calibration_file()): table})
    monkeypatch.setattr(calibrate, "calibrate_tiles", None)  # would fail if called
    assert calibrate.row_tile(8, 4) == 128     # 32 B rows
    assert calibrate.row_tile(2, 8) == 128     # 16 B: below every width, the smallest
    assert calibrate.row_tile(16, 4) == 64     # 64 B
    assert calibrate.row_tile(32, 8) == 16     # 256 B
    assert calibrate.row_tile(30, 4) == 64     # 120 B: below the log-midpoint 128 B
    assert calibrate.row_tile(34, 4) == 16     # 136 B: above it
    assert calibrate.row_tile(200, 8) == 32    # 1600 B
    assert calibrate.nearest_width((32, 64), 45) == 32  # log-midpoint 45.25


def test_the_tile_override_skips_the_measurement(monkeypatch):
    monkeypatch.setattr(config, "ROW_TILE", 5)
    monkeypatch.setattr(calibrate, "calibrate_tiles", None)  # would fail if called
    assert calibrate.row_tile(64, 4) == 5
    monkeypatch.setattr(config, "ROW_TILE", 0)
    assert calibrate.row_tile(64, 4) == 1


def test_only_a_large_logistic_row_pass_asks_for_a_tile(rng, monkeypatch, row_blocks):
    asked = []

    def tile(d, itemsize):
        asked.append((d, itemsize))
        return 7
    monkeypatch.setattr(calibrate, "row_tile", tile)
    X = rng.standard_normal((6001, 11))
    fastgd.minimize(fastgd.LeastSquares(X, X @ np.ones(11)), max_iter=3, mode="direct")
    fastgd.minimize(fastgd.Logistic(X[:40], (X[:40, 0] > 0) * 1.0), max_iter=3)  # small
    assert asked == []
    res = fastgd.minimize(fastgd.Logistic(X.astype(np.float32),
                                          (X[:, 0] > 0).astype(np.float32)),
                          max_iter=3, mode="direct")
    assert asked == [(11, 4)] and res.nit == 3


def test_the_command_prints_the_cached_choices_without_measuring(cal_file, monkeypatch, capsys):
    import argparse
    from fastgd import cli
    monkeypatch.setattr(config, "ROW_TILE", None)
    cal_file.parent.mkdir(parents=True)
    cal_file.write_text(json.dumps({calibrate.machine_key(): {
        "seconds": {"0": 1.0, "4096": 0.5},
        "row_tile_seconds": {"64": {"32": 1.0, "64": 1.0}, "256": {"16": 0.5, "64": 1.0}},
        "visit_ahead_seconds": {"0": 1.0, "8": 0.5, "16": 0.49}}}))
    monkeypatch.setattr(calibrate, "measure", None)  # would fail if called
    monkeypatch.setattr(calibrate, "measure_tiles", None)
    monkeypatch.setattr(calibrate, "measure_visits", None)
    assert cli.cmd_calibrate(argparse.Namespace(show=True)) == 0
    out = capsys.readouterr().out
    assert "prefetch distance 4096 bytes" in out
    assert "64 rows for 64 B rows, 16 rows for 256 B rows" in out
    assert "mini-batch visits prefetch 8 rows ahead" in out


# ---------------------------------------------------------------- mini-batch visits ahead
def test_visit_calibration_measures_once_then_reads_the_cache(cal_file, monkeypatch):
    monkeypatch.setattr(config, "MINIBATCH_PREFETCH_ROWS", None)
    monkeypatch.setattr(config, "MINIBATCH_CALIBRATION_ROWS", 4096)
    rows, medians = calibrate.calibrate_visits()
    assert set(medians) == set(config.MINIBATCH_PREFETCH_CANDIDATES)
    assert rows == calibrate.choose(medians) and all(t > 0 for t in medians.values())
    entry = json.loads(cal_file.read_text())[calibrate.machine_key()]
    assert set(entry["visit_ahead_seconds"]) == {str(c) for c in medians}

    def no_measure(*a, **k):
        raise AssertionError("measured again although cached")
    monkeypatch.setattr(calibrate, "measure_visits", no_measure)
    assert calibrate.calibrate_visits() == (rows, None)
    assert calibrate.visit_ahead_rows() == rows
    monkeypatch.setattr(config, "MINIBATCH_PREFETCH_ROWS", 12)
    assert calibrate.visit_ahead_rows() == 12


def test_only_a_dense_row_loss_mini_batch_asks_for_the_visit_distance(rng, monkeypatch):
    from scipy import sparse
    asked = []

    def rows():
        asked.append(1)
        return 8
    monkeypatch.setattr(calibrate, "visit_ahead_rows", rows)
    X = rng.standard_normal((300, 5))
    y = X @ np.ones(5)
    fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.05, max_iter=2)
    fastgd.minimize(fastgd.LeastSquares(sparse.csr_matrix(X), y), lr=0.05, max_iter=2,
                    batch_size=32)
    fastgd.minimize(fastgd.Softmax(X, (X[:, 0] > 0) * 1.0, 2), lr=0.05, max_iter=2,
                    batch_size=32)
    assert asked == []
    fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.05, max_iter=2, batch_size=32)
    assert asked == [1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mini_batch_results_do_not_depend_on_the_visit_distance(rng, monkeypatch, dtype):
    X = rng.standard_normal((1000, 7)).astype(dtype)
    y = (X @ rng.standard_normal(7) + 0.1 * rng.standard_normal(1000)).astype(dtype)
    xs = []
    for rows in (0, 1, 8, 5000):  # 5000 > n: never prefetches
        monkeypatch.setattr(config, "MINIBATCH_PREFETCH_ROWS", rows)
        res = fastgd.minimize(fastgd.LeastSquares(X, y, fit_intercept=True), "momentum",
                              lr=0.05, max_iter=5, gtol=0, batch_size=64, random_state=3)
        assert res.nit == 5
        xs.append((res.x, res.intercept))
    for x, b in xs[1:]:
        np.testing.assert_array_equal(x, xs[0][0])
        np.testing.assert_array_equal(b, xs[0][1])


# ---------------------------------------------------------------- the serial limit
def test_choose_serial_limit_stops_where_the_serial_passes_stop_clearly_winning():
    margin = config.SERIAL_CALIBRATION_MARGIN
    table = {512: {0: 0.1, 1: 1.0}, 1024: {0: 0.5, 1: 1.0},
             2048: {0: (1 - margin) * 1.01, 1: 1.0},    # wins, but not by the margin
             4096: {0: 0.1, 1: 1.0}}                   # past the first loss: not looked at
    assert calibrate.choose_serial_limit(table) == 1024
    assert calibrate.choose_serial_limit({512: {0: 2.0, 1: 1.0}}) == 0
    assert calibrate.choose_serial_limit({512: {0: 0.1, 1: 1.0}, 1024: {0: 0.1, 1: 1.0}}) == 1024


def test_serial_sizes_double_up_to_the_cache_and_the_cap(monkeypatch):
    monkeypatch.setattr(config, "SERIAL_CALIBRATION_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(config, "SERIAL_CALIBRATION_MAX_BYTES", 8 << 20)
    monkeypatch.setattr(config, "last_level_cache", lambda: 480 << 20)
    assert calibrate.serial_sizes() == (1 << 20, 2 << 20, 4 << 20, 8 << 20)
    monkeypatch.setattr(config, "last_level_cache", lambda: 3 << 20)
    assert calibrate.serial_sizes() == (1 << 20, 2 << 20)


def test_serial_calibration_measures_once_then_reads_the_cache(cal_file, monkeypatch):
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", None)
    monkeypatch.setattr(config, "SERIAL_CALIBRATION_MIN_BYTES", 256 << 10)
    monkeypatch.setattr(config, "SERIAL_CALIBRATION_MAX_BYTES", 1 << 20)
    limit, table = calibrate.calibrate_serial()
    assert set(table) <= {256 << 10, 512 << 10, 1 << 20} and 256 << 10 in table
    assert all(t[0] > 0 and t[1] > 0 for t in table.values())
    assert limit == calibrate.choose_serial_limit(table)
    entry = json.loads(cal_file.read_text())[calibrate.machine_key()]
    assert set(entry["serial_seconds"]) == {str(s) for s in table}

    def no_measure(*a, **k):
        raise AssertionError("measured again although cached")
    monkeypatch.setattr(calibrate, "measure_serial", no_measure)
    assert calibrate.calibrate_serial() == (limit, None)
    assert config.serial_max_bytes() == limit
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 12345)
    assert config.serial_max_bytes() == 12345


def test_the_measured_serial_limit_decides_serial_or_row_blocks(rng, monkeypatch):
    """plan.is_large follows the machine's measured limit (not the reported cache size);
    config.SERIAL_MAX_BYTES overrides it without measuring."""
    from fastgd.plan import is_large
    X = rng.standard_normal((20_000, 5))                 # 800 kB, 1.6 MB with its copy
    prob = fastgd.LeastSquares(X, X @ np.ones(5))
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", None)
    for limit, large in ((2 * X.nbytes, False), (2 * X.nbytes - 1, True), (0, True)):
        monkeypatch.setattr(calibrate, "_MEMO", {("serial", config.calibration_file()): limit})
        assert is_large(prob, "cpu") is large
    monkeypatch.setattr(calibrate, "calibrate_serial", None)  # would fail if called
    monkeypatch.setattr(calibrate, "_MEMO", {})
    monkeypatch.setattr(config, "SERIAL_MAX_BYTES", 2 * X.nbytes)
    assert not is_large(prob, "cpu")
