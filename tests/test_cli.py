"""The fastgd command line, run in subprocesses: exit codes, outputs, files."""
import importlib.util
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import fastgd.cli as cli

ENV = dict(os.environ)
# the subprocess imports this checkout of fastgd (and shares the test session's kernel cache)
ENV["PYTHONPATH"] = os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
ENV["MPLBACKEND"] = "Agg"


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastgd", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def assert_clean_error(out):
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("fastgd ")
    return lines[0]


@pytest.fixture
def lstsq_files(tmp_path, rng):
    X = rng.standard_normal((80, 6))
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(80)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path, X, y


@pytest.mark.parametrize("sub", [[], ["demo"], ["solve"], ["sweep"]])
def test_help_everywhere(sub):
    out = run(*sub, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: fastgd")
    if not sub:
        for name in ("demo", "solve", "sweep", "bench"):
            assert name in out.stdout


def test_console_script_help():
    exe = shutil.which("fastgd")
    if exe is None:
        pytest.skip("the fastgd console script is not on PATH (package not installed)")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 0 and "solve" in out.stdout


def test_no_command_prints_help_and_fails():
    out = run()
    assert out.returncode == 2 and "usage: fastgd" in out.stdout


def test_demo_default_main_job():
    t = time.perf_counter()
    out = run("demo")
    secs = time.perf_counter() - t
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "2000 least-squares problems, X 64x8 float64" in text
    assert "status: GTOL 2000" in text
    err = float(text.split("max relative error vs numpy.linalg.lstsq:")[1].split()[0])
    assert 0 <= err < 1e-6
    speedup = float(text.split("speedup, fastgd vs NumPy batched GD loop:")[1].split("x")[0])
    assert speedup > 0
    assert "NumPy batched GD loop" in text and "first call" in text
    assert secs < 120  # the 30 s budget on 2 idle cores is checked by hand; this guards hangs


def test_demo_small_float32():
    out = run("demo", "--batch", "50", "--n", "20", "--d", "3", "--dtype", "float32",
              "--gtol", "1e-4", "--repeat", "1")
    assert out.returncode == 0, out.stderr
    assert "50 least-squares problems, X 20x3 float32" in out.stdout
    assert "status: GTOL 50" in out.stdout


def test_numpy_loop_of_demo_is_gradient_descent(rng):
    X = rng.standard_normal((3, 20, 2))
    y = rng.standard_normal((3, 20))
    lr = np.array([0.1, 0.2, 0.3])
    W, nit = cli.numpy_batched_gd(X, y, lr, 0.0, 7)
    assert (nit == 7).all()
    for b in range(3):
        w = np.zeros(2)
        for _ in range(7):
            w = w - lr[b] * X[b].T @ (X[b] @ w - y[b]) / 20
        np.testing.assert_allclose(W[b], w, rtol=1e-12)


def test_solve_lstsq_writes_solution(lstsq_files):
    d, X, y = lstsq_files
    out = run("solve", d / "X.npy", d / "y.npy", "--gtol", "1e-10", "--max-iter", "5000",
              "--out", d / "w.npy")
    assert out.returncode == 0, out.stderr
    assert "status     GTOL" in out.stdout and "wrote" in out.stdout
    w = np.load(d / "w.npy")
    np.testing.assert_allclose(w, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-7, atol=1e-9)
    assert not [p for p in os.listdir(d) if ".tmp" in p]


def test_solve_npz_and_batch_and_logistic(tmp_path, rng):
    Xb = rng.standard_normal((5, 30, 3)).astype(np.float32)
    yb = (rng.random((5, 30)) < 0.5).astype(np.float32)
    np.savez(tmp_path / "data.npz", X=Xb, y=yb)
    out = run("solve", tmp_path / "data.npz", "--problem", "logistic", "--method", "adam",
              "--lr", "0.05", "--l2", "0.1", "--max-iter", "3000", "--gtol", "1e-4",
              "--out", tmp_path / "w.npy")
    assert out.returncode == 0, out.stderr
    assert "problems   5 (logistic, adam" in out.stdout and "GTOL 5" in out.stdout
    w = np.load(tmp_path / "w.npy")
    assert w.shape == (5, 3) and w.dtype == np.float32
    # first-order optimality of the l2-regularised logistic loss, checked in NumPy
    for b in range(5):
        z = Xb[b].astype(float) @ w[b]
        g = Xb[b].T.astype(float) @ (1 / (1 + np.exp(-z)) - yb[b]) / 30 + 0.1 * w[b]
        assert np.linalg.norm(g) < 2e-4


def test_solve_not_converged_exits_1_and_still_writes(lstsq_files):
    d, X, y = lstsq_files
    out = run("solve", d / "X.npy", d / "y.npy", "--max-iter", "2", "--out", d / "w.npy")
    assert out.returncode == 1, out.stderr
    assert "MAX_ITER" in out.stdout
    assert np.load(d / "w.npy").shape == (6,)


def _bad_files(d, rng):
    X = rng.standard_normal((10, 3))
    y = rng.standard_normal(10)
    Xnan = X.copy()
    Xnan[2, 1] = np.nan
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    np.save(d / "y_short.npy", y[:7])
    np.save(d / "X_int.npy", np.arange(30).reshape(10, 3))
    np.save(d / "X_nan.npy", Xnan)
    np.save(d / "y32.npy", y.astype(np.float32))
    np.save(d / "X_obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(d / "X_1d.npy", y)
    (d / "garbage.npy").write_bytes(b"this is not a numpy file at all" * 10)
    (d / "empty.npy").write_bytes(b"")
    np.savez(d / "two.npz", A=X, B=X)
    raw = (d / "X.npy").read_bytes()
    (d / "X_trunc.npy").write_bytes(raw[: len(raw) // 2])
    return {
        "missing": ("nope.npy", "y.npy", "no such file"),
        "wrong shape": ("X.npy", "y_short.npy", "shape"),
        "int dtype": ("X_int.npy", "y.npy", "float"),
        "NaN": ("X_nan.npy", "y.npy", "NaN"),
        "dtype mismatch": ("X.npy", "y32.npy", "dtype"),
        "pickled object": ("X_obj.npy", "y.npy", "cannot read"),
        "1-d X": ("X_1d.npy", "y.npy", "X must be"),
        "garbage": ("garbage.npy", "y.npy", "cannot read"),
        "empty file": ("empty.npy", "y.npy", "cannot read"),
        "truncated": ("X_trunc.npy", "y.npy", "cannot read"),
        "ambiguous npz": ("two.npz", "y.npy", "holds arrays"),
    }


def test_solve_bad_files_exit_2_without_output(tmp_path, rng):
    cases = _bad_files(tmp_path, rng)
    for what, (xf, yf, needle) in cases.items():
        out_file = tmp_path / f"w_{what.replace(' ', '_')}.npy"
        out = run("solve", tmp_path / xf, tmp_path / yf, "--out", out_file)
        line = assert_clean_error(out)
        assert needle in line, (what, line)
        assert not out_file.exists(), what
        assert out.stdout == "", what
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p or p.startswith("w_")]


def test_solve_bad_options_exit_2(lstsq_files):
    d, X, y = lstsq_files
    line = assert_clean_error(run("solve", d / "X.npy", d / "y.npy", "--out",
                                  d / "no_dir" / "w.npy"))
    assert "does not exist" in line
    line = assert_clean_error(run("solve", d / "X.npy", d / "y.npy", "--max-iter", "-1",
                                  "--out", d / "w.npy"))
    assert "max_iter" in line
    assert not (d / "w.npy").exists()
    line = assert_clean_error(run("solve", d / "X.npy", d / "y.npy", "--problem", "logistic"))
    assert "labels" in line
    out = run("solve", d / "X.npy", d / "y.npy", "--lr", "-1")  # argparse: usage + error
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--lr" in out.stderr
    line = assert_clean_error(run("solve", d / "X.npy"))
    assert "y" in line


def test_solve_mmaps_and_never_writes_inputs(lstsq_files):
    d, X, y = lstsq_files
    before = (d / "X.npy").read_bytes()
    out = run("solve", d / "X.npy", d / "y.npy", "--max-iter", "50")
    assert out.returncode in (0, 1), out.stderr
    assert (d / "X.npy").read_bytes() == before
    X_loaded = cli._load(str(d / "X.npy"), "X", "X")
    assert type(X_loaded) is np.ndarray and not X_loaded.flags.owndata  # a view of the map
    np.testing.assert_array_equal(X_loaded, X)


def test_sweep_generated_with_plot(tmp_path):
    png = tmp_path / "sweep.png"
    out = run("sweep", "--max-iter", "60", "--plot", png)
    assert out.returncode == 0, out.stderr
    assert "DIVERGED" in out.stdout and "MAX_ITER" in out.stdout
    assert "lr='auto' (1/L)" in out.stdout
    assert png.exists() and png.stat().st_size > 5000
    assert sorted(os.listdir(tmp_path)) == ["sweep.png"]


def test_sweep_given_files_and_lrs(lstsq_files):
    d, X, y = lstsq_files
    out = run("sweep", d / "X.npy", d / "y.npy", "--lrs", "0.01,0.1", "--max-iter", "20",
              "--gtol", "0")
    assert out.returncode == 0, out.stderr
    rows = [r.split() for r in out.stdout.splitlines() if r.strip().startswith(("0.01 ", "0.1 "))]
    assert [r[0] for r in rows] == ["0.01", "0.1"]
    # final losses against NumPy gradient descent
    for lr, row in zip((0.01, 0.1), rows):
        w = np.zeros(6)
        for _ in range(20):
            w -= lr * X.T @ (X @ w - y) / 80
        r = X @ w - y
        np.testing.assert_allclose(float(row[3]), r @ r / 160, rtol=1e-5)
    out = run("sweep", "--lrs", "1e-3:1:4", "--max-iter", "5")
    assert out.returncode == 0 and out.stdout.count("MAX_ITER") == 4


def test_sweep_bad_input(tmp_path, lstsq_files):
    d, X, y = lstsq_files
    line = assert_clean_error(run("sweep", d / "missing.npy", d / "y.npy",
                                  "--plot", d / "s.png"))
    assert "no such file" in line and not (d / "s.png").exists()
    out = run("sweep", "--lrs", "0,1")
    assert out.returncode == 2 and "--lrs" in out.stderr and "Traceback" not in out.stderr


def test_bench_dispatch():
    if importlib.util.find_spec("fastgd.bench") is None:
        out = run("bench")
        line = assert_clean_error(out)
        assert "fastgd.bench is not part of this installation" in line
    else:
        out = run("bench", "--help")
        assert out.returncode == 0 and "Traceback" not in out.stderr


def test_bench_missing_module_message(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastgd.bench", None)
    assert cli.main(["bench", "--quick"]) == 2
    assert "fastgd.bench is not part of this installation" in capsys.readouterr().err


def test_bench_passes_arguments(monkeypatch):
    seen = []
    fake = type(sys)("fastgd.bench")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "fastgd.bench", fake)
    assert cli.main(["bench", "--help", "-k", "x"]) == 3
    assert seen == [["--help", "-k", "x"]]
