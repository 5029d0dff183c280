"""Compile latency: import compiles nothing; same dtypes never recompile."""
import subprocess
import sys

import numpy as np

import fastgd


def test_import_compiles_nothing():
    code = ("import fastgd, numba.core.registry as r;"
            "from fastgd.cpu import drivers, evaluate, prepare, solve, softmax;"
            "sets = [vars(m) for m in (evaluate, prepare, solve, softmax)];"
            "sets += [vars(s) for s in (drivers.builtin().small, drivers.builtin().large)];"
            "n = sum(len(d.overloads) for v in sets"
            "        for d in v.values() if isinstance(d, r.CPUDispatcher));"
            "print(n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_second_call_with_same_dtypes_does_not_recompile(rng):
    from fastgd.cpu import drivers
    solve = drivers.builtin()
    X = rng.standard_normal((3, 20, 2))
    y = rng.standard_normal((3, 20))
    fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=3)
    before = len(solve.solve_batch.signatures)
    X2 = rng.standard_normal((7, 11, 5))  # other shapes, same dtype
    fastgd.minimize(fastgd.Logistic(X2, (X2[..., 0] > 0).astype(float)), max_iter=3,
                    method="adam", lr=[0.1] * 7, history=2)
    assert len(solve.solve_batch.signatures) == before


def test_read_only_data_share_the_writable_specialisation(rng, tmp_path, row_blocks):
    """A memmap opened "r" or a read-only view runs the kernels compiled for writable
    arrays (a new specialisation would cost a whole driver compile), with equal results."""
    from fastgd.cpu import drivers, evaluate
    solve = drivers.builtin()
    X = rng.standard_normal((4, 30, 3))
    y = rng.standard_normal((4, 30))
    ref = fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=50, lr=0.1, gtol=0)
    Xs, ys = rng.standard_normal((80000, 2)), rng.standard_normal(80000)  # one large problem
    ref1 = fastgd.minimize(fastgd.LeastSquares(Xs, ys), max_iter=5, lr=0.1, gtol=0)
    counts = [len(solve.solve_batch.signatures), len(solve.solve_single.signatures),
              len(evaluate.eval_rows.signatures)]
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    yr = y.copy()
    yr.flags.writeable = False
    res = fastgd.minimize(fastgd.LeastSquares(Xm, yr), max_iter=50, lr=0.1, gtol=0)
    Xr, yr1 = Xs.copy(), ys.copy()
    Xr.flags.writeable = yr1.flags.writeable = False
    res1 = fastgd.minimize(fastgd.LeastSquares(Xr, yr1), max_iter=5, lr=0.1, gtol=0)
    assert [len(solve.solve_batch.signatures), len(solve.solve_single.signatures),
            len(evaluate.eval_rows.signatures)] == counts
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res1.x, ref1.x)
    assert not Xm.flags.writeable and not yr.flags.writeable  # the caller's arrays untouched


def test_kernels_are_cached_and_release_the_gil():
    from fastgd.cpu import drivers, evaluate
    for k in (drivers.builtin().solve_batch, drivers.builtin().solve_single, evaluate.eval_rows,
              drivers.softmax().solve_batch):
        assert type(k._cache).__name__ == "FunctionCache"  # cache=True (NullCache otherwise)
        assert k.targetoptions["nogil"] is True
        assert not {"nnan", "ninf", "nsz", "fast"} & set(k.targetoptions["fastmath"])
