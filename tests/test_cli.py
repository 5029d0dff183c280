"""The fastgd command line, run in subprocesses: exit codes, outputs, files."""
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
import zipfile

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


@pytest.mark.parametrize("sub", [[], ["demo"], ["solve"], ["sweep"], ["lesson"]])
def test_help_everywhere(sub):
    out = run(*sub, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: fastgd")
    if not sub:
        for name in ("demo", "solve", "sweep", "lesson", "bench"):
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
        "garbage": ("garbage.npy", "y.npy", "is not a NumPy .npy or .npz file"),
        "empty file": ("empty.npy", "y.npy", "is not a NumPy .npy or .npz file"),
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


def test_lesson_prints_three_outcomes_and_draws_them(tmp_path):
    png = tmp_path / "lesson.png"
    out = subprocess.run([sys.executable, "-m", "fastgd", "lesson", "--plot", str(png)],
                         capture_output=True, text=True, timeout=300, env=ENV, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[1] + " " + line.split()[2]: line.split() for line in
            out.stdout.splitlines() if line.split()[1:3] in (["too", "small"], ["good", "GTOL"],
                                                              ["too", "large"])}
    assert rows["too small"][3] == "MAX_ITER" and rows["too small"][4] == "100"
    assert rows["good GTOL"][2] == "GTOL"
    assert rows["too large"][3] == "DIVERGED" and "nan" not in rows["too large"][-1]
    assert png.exists() and png.stat().st_size > 5000
    assert sorted(os.listdir(tmp_path)) == ["lesson.png"]
    again = run("lesson", "--plot", png)             # exists: refused without --force
    assert "--force" in assert_clean_error(again)
    quiet = subprocess.run([sys.executable, "-m", "fastgd", "lesson", "--no-plot",
                            "--max-iter", "20"], capture_output=True, text=True, timeout=300,
                           env=ENV, cwd=tmp_path)
    assert quiet.returncode == 0 and "wrote" not in quiet.stdout
    assert sorted(os.listdir(tmp_path)) == ["lesson.png"]


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


# ---------------------------------------------------------------- writing files safely
@pytest.mark.parametrize("command", ["solve", "sweep"])
def test_temporary_output_name_is_not_predictable(lstsq_files, command, capsys):
    # the old temporary name, {out}.tmp-{pid}, pre-created as a symlink to an unrelated file
    d, X, y = lstsq_files
    victim = d / "victim.txt"
    victim.write_text("precious")
    if command == "solve":
        out = d / "w.npy"
        trap = d / f"w.npy.tmp-{os.getpid()}"
        argv = ["solve", d / "X.npy", d / "y.npy", "--max-iter", "50", "--out", out]
    else:
        pytest.importorskip("matplotlib")
        out = d / "s.png"
        trap = d / f"s.tmp-{os.getpid()}.png"
        argv = ["sweep", d / "X.npy", d / "y.npy", "--lrs", "0.01,0.1", "--max-iter", "5",
                "--plot", out]
    trap.symlink_to(victim)
    assert cli.main(list(map(str, argv))) in (0, 1), capsys.readouterr().err
    assert victim.read_text() == "precious"
    assert trap.is_symlink() and os.readlink(trap) == str(victim)
    assert out.is_file() and not out.is_symlink() and out.stat().st_size > 100
    if command == "solve":
        assert np.load(out).shape == (6,)
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    assert [p for p in os.listdir(d) if ".tmp" in p] == [trap.name]


def test_write_atomic_cleans_up_and_never_clobbers(tmp_path):
    target = tmp_path / "w.npy"

    def fail(f):
        f.write(b"partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        cli._write_atomic(str(target), fail, "--out", False)
    assert os.listdir(tmp_path) == []

    def race(f):  # another process creates the output while we write
        target.write_bytes(b"theirs")
        f.write(b"ours")
    with pytest.raises(cli.UsageError, match="--force"):
        cli._write_atomic(str(target), race, "--out", False)
    assert target.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["w.npy"]
    cli._write_atomic(str(target), lambda f: f.write(b"ours"), "--out", True)
    assert target.read_bytes() == b"ours" and os.listdir(tmp_path) == ["w.npy"]


def test_output_is_never_an_input(lstsq_files):
    d, X, y = lstsq_files
    os.link(d / "X.npy", d / "X_hard.npy")
    os.symlink(d / "y.npy", d / "y_link.npy")
    np.savez(d / "data.npz", X=X, y=y)
    before = {p: (d / p).read_bytes() for p in ("X.npy", "y.npy", "data.npz")}
    cases = [
        (["solve", d / "X.npy", d / "y.npy", "--out", d / "X.npy"], "--out", "input file X"),
        (["solve", d / "X.npy", d / "y.npy", "--out", d / "X_hard.npy", "--force"], "--out",
         "input file X"),
        (["solve", d / "X.npy", d / "y.npy", "--out", d / "y_link.npy", "--force"], "--out",
         "input file y"),
        (["solve", d / "data.npz", "--out", d / "data.npz", "--force"], "--out", "input file X"),
        (["sweep", d / "X.npy", d / "y.npy", "--plot", d / "y.npy", "--force"], "--plot",
         "input file y"),
    ]
    for argv, option, needle in cases:
        out = run(*argv)
        line = assert_clean_error(out)
        assert option in line and needle in line, line
        assert out.stdout == ""
    assert {p: (d / p).read_bytes() for p in before} == before


def test_existing_output_needs_force(lstsq_files):
    d, X, y = lstsq_files
    w, png = d / "w.npy", d / "s.png"
    w.write_bytes(b"old solution")
    png.write_bytes(b"old picture")
    t = time.perf_counter()
    out = run("solve", d / "X.npy", d / "y.npy", "--out", w)
    line = assert_clean_error(out)
    assert "--out" in line and "exists" in line and "--force" in line
    assert out.stdout == "" and w.read_bytes() == b"old solution"  # refused before solving
    out = run("sweep", "--max-iter", "5", "--plot", png)
    line = assert_clean_error(out)
    assert "--plot" in line and "--force" in line
    assert out.stdout == "" and png.read_bytes() == b"old picture"
    assert time.perf_counter() - t < 60  # no solve, no compile
    out = run("solve", d / "X.npy", d / "y.npy", "--max-iter", "50", "--out", w, "--force")
    assert out.returncode in (0, 1), out.stderr
    assert np.load(w).shape == (6,)
    out = run("sweep", "--max-iter", "5", "--lrs", "0.01,0.1", "--plot", png, "--force")
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(d)) == ["X.npy", "s.png", "w.npy", "y.npy"]


def _npz_member(zf, name, dtype, shape, body=b"", total=None):
    """Write an .npy member by hand: its header, then `body`, or `total` zero bytes in 1 MB
    chunks (a zip bomb, never held in memory)."""
    with zf.open(name, "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                "shape": shape})
        f.write(body)
        chunk = bytes(1 << 20)
        for start in range(0, total or 0, len(chunk)):
            f.write(chunk[: total - start])


def test_npz_zip_bomb_is_refused_before_inflating(tmp_path, capsys):
    bomb = tmp_path / "bomb.npz"
    shape = (20000, 4000)  # 640 MB of float64 zeros declared, about 0.6 MB on disk
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        _npz_member(zf, "X.npy", np.float64, shape, total=20000 * 4000 * 8)
        _npz_member(zf, "y.npy", np.float32, (20000,), total=20000 * 4)
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        code = cli.main(["solve", str(bomb), "--out", str(tmp_path / "w.npy")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert peak < 100 << 20, f"peak {peak / 2**20:.0f} MiB"
    assert len(err.splitlines()) == 1 and "zip bomb" in err
    assert "X.npy" in err and "(20000, 4000)" in err and "float64" in err
    assert sorted(os.listdir(tmp_path)) == ["bomb.npz"]


def test_npz_header_is_checked_before_reading(tmp_path):
    # headers whose bodies are missing: only a check of the header gives these messages
    cases = {
        "int": ("int64", (10, 3), b"", "X must have dtype float32 or float64, got int64"),
        "1-d": ("float64", (30,), b"", "X must be 2-d or 3-d"),
        "object": ("object", (3, 3), b"", "Python objects"),
        "short": ("float64", (10, 3), bytes(8), "declares 240 bytes but holds 8"),
    }
    for what, (dtype, shape, body, needle) in cases.items():
        path = tmp_path / f"{what}.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            _npz_member(zf, "X.npy", dtype, shape, body)
        line = assert_clean_error(run("solve", path, tmp_path / "y.npy"))
        assert needle in line and f"{what}.npz" in line and "X.npy" in line, (what, line)
    # an ordinary (small, well-formed) .npz still reads, through the same checks
    X = np.arange(12.0).reshape(4, 3)
    np.savez_compressed(tmp_path / "ok.npz", X=X, y=np.ones(4))
    np.testing.assert_array_equal(cli._load(str(tmp_path / "ok.npz"), "X", "X"), X)
    np.testing.assert_array_equal(cli._load(str(tmp_path / "ok.npz"), "y", "y"), np.ones(4))


@pytest.mark.parametrize("argv, option", [
    (["solve", "X.npy", "y.npy", "--max-iter", str(2**63)], "--max-iter"),
    (["solve", "X.npy", "y.npy", "--max-iter", "1e3"], "--max-iter"),
    (["sweep", "--max-iter", str(2**64)], "--max-iter"),
    (["demo", "--max-iter", str(2**63)], "--max-iter"),
    (["demo", "--batch", "0"], "--batch"),
    (["demo", "--repeat", "0"], "--repeat"),
    (["demo", "--seed", "-1"], "--seed"),
    (["sweep", "--n", str(-2**63 - 1)], "--n"),
    (["sweep", "--d", "0"], "--d"),
    (["solve", "X.npy", "y.npy", "--gtol", "1e400"], "--gtol"),
    (["solve", "X.npy", "y.npy", "--lr", "1e-400"], "--lr"),
    (["sweep", "--lrs", "1e-3:1e400:4"], "--lrs"),
])
def test_out_of_range_numbers_exit_2_naming_the_option(lstsq_files, argv, option):
    d, X, y = lstsq_files
    argv = [d / a if a.endswith(".npy") else a for a in argv]
    out = run(*argv)
    line = assert_clean_error(out)
    assert f"error: argument {option}: " in line, line
    assert out.stdout == ""


# ---------------------------------------------------------------- every built-in loss
def _glm_files(tmp_path, rng, kind):
    X = rng.standard_normal((300, 4))
    z = X @ np.array([0.5, -0.2, 0.1, 0.3])
    y = {"poisson": rng.poisson(np.exp(z)),                      # int64 counts
         "softmax": np.digitize(z, [-0.3, 0.3]),                 # int64 class ids
         "huber": z + rng.standard_t(2, 300)}[kind]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return X, y


def _huber_ref(X, y, delta):
    from scipy.optimize import minimize

    def fg(w):
        r = X @ w - y
        a = np.abs(r)
        f = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)).mean()
        return f, X.T @ np.clip(r, -delta, delta) / len(y)
    return minimize(fg, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B",
                    options=dict(gtol=1e-12, ftol=1e-15, maxiter=10_000)).x


@pytest.mark.parametrize("kind,opts", [
    ("poisson", ["--line-search", "armijo"]),
    ("softmax", ["--l2", "0.01", "--lr", "1.0"]),
    ("huber", ["--delta", "0.5"]),
])
def test_solve_every_builtin_loss(tmp_path, rng, kind, opts):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression, PoissonRegressor
    X, y = _glm_files(tmp_path, rng, kind)
    out = run("solve", tmp_path / "X.npy", tmp_path / "y.npy", "--problem", kind, *opts,
              "--gtol", "1e-9", "--max-iter", "20000", "--out", tmp_path / "w.npy")
    assert out.returncode == 0, (out.stdout, out.stderr)
    w = np.load(tmp_path / "w.npy")
    if kind == "poisson":
        ref = PoissonRegressor(alpha=0.0, fit_intercept=False, tol=1e-12,
                               max_iter=10_000).fit(X, y).coef_
    elif kind == "softmax":    # k = max(y) + 1 = 3 classes inferred from y
        assert w.shape == (4, 3)
        ref = LogisticRegression(C=1 / (0.01 * len(y)), fit_intercept=False, tol=1e-12,
                                 max_iter=10_000).fit(X, y).coef_.T
    else:
        ref = _huber_ref(X, y, 0.5)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)


def test_csv_input_gets_a_formats_message(tmp_path, rng):
    np.savetxt(tmp_path / "data.csv", rng.standard_normal((5, 2)), delimiter=",")
    np.save(tmp_path / "y.npy", np.zeros(5))
    line = assert_clean_error(run("solve", tmp_path / "data.csv", tmp_path / "y.npy"))
    assert "is not a NumPy .npy or .npz file" in line and "np.loadtxt" in line
    assert "pickle" not in line


def test_sweep_poisson_with_given_lrs(rng):
    out = run("sweep", "--problem", "poisson", "--lrs", "0.01,0.1", "--max-iter", "20")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "lr='auto': none for poisson" in out.stdout


@pytest.mark.parametrize("kind", ["lstsq", "softmax"])
def test_solve_intercept_and_weights_match_sklearn(tmp_path, rng, kind):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression, Ridge
    n, d = 300, 4
    X = rng.standard_normal((n, d))
    s = rng.integers(0, 4, n)  # integer weights, some 0: converted to X's dtype
    s[0] = 1
    if kind == "lstsq":
        y = X @ rng.standard_normal(d) + 2.5 + 0.1 * rng.standard_normal(n)
        opts = ["--l2", "0.01"]
        ref = Ridge(alpha=0.01 * s.sum(), tol=1e-12).fit(X, y, sample_weight=s)
        ref_w = np.append(ref.coef_, ref.intercept_)
    else:
        y = rng.integers(0, 3, n).astype(np.float64)
        opts = ["--l2", "0.01", "--classes", "3"]
        ref = LogisticRegression(C=1 / (0.01 * s.sum()), tol=1e-12, max_iter=10_000).fit(
            X, y, sample_weight=s)
        # fastgd's softmax intercepts are defined up to a common shift: compare centred
        ref_w = np.vstack([ref.coef_.T, ref.intercept_ - ref.intercept_.mean()])
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "s.npy", s)
    out = run("solve", tmp_path / "X.npy", tmp_path / "y.npy", "--problem", kind, *opts,
              "--intercept", "--weights", tmp_path / "s.npy", "--method", "bb",
              "--gtol", "1e-10", "--max-iter", "20000", "--out", tmp_path / "w.npy")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "intercept" in out.stdout and "the coefficients then the intercept" in out.stdout
    w = np.load(tmp_path / "w.npy")
    assert w.shape == ref_w.shape
    if kind == "softmax":
        w[-1] -= w[-1].mean()
    np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


def test_solve_bad_weights_exit_2(tmp_path, rng):
    np.save(tmp_path / "X.npy", rng.standard_normal((20, 3)))
    np.save(tmp_path / "y.npy", rng.standard_normal(20))
    np.save(tmp_path / "s.npy", -np.ones(20))
    line = assert_clean_error(run("solve", tmp_path / "X.npy", tmp_path / "y.npy",
                                  "--weights", tmp_path / "s.npy"))
    assert "sample_weight" in line
    np.save(tmp_path / "s.npy", np.ones(19))
    line = assert_clean_error(run("solve", tmp_path / "X.npy", tmp_path / "y.npy",
                                  "--weights", tmp_path / "s.npy"))
    assert "sample_weight" in line
