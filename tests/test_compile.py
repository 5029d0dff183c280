"""Compile latency: import compiles nothing; same dtypes never recompile."""
import subprocess
import sys

import numpy as np

import fastgd


def test_import_compiles_nothing():
    code = ("import fastgd, numba.core.registry as r;"
            "from fastgd.cpu import solve;"
            "n = sum(len(d.overloads) for d in vars(solve).values()"
            "        if isinstance(d, r.CPUDispatcher));"
            "print(n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_second_call_with_same_dtypes_does_not_recompile(rng):
    from fastgd.cpu import solve
    X = rng.standard_normal((3, 20, 2))
    y = rng.standard_normal((3, 20))
    fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=3)
    before = len(solve.solve_batch.signatures)
    X2 = rng.standard_normal((7, 11, 5))  # other shapes, same dtype
    fastgd.minimize(fastgd.Logistic(X2, (X2[..., 0] > 0).astype(float)), max_iter=3,
                    method="adam", lr=[0.1] * 7, history=2)
    assert len(solve.solve_batch.signatures) == before


def test_kernels_are_cached_and_release_the_gil():
    from fastgd.cpu import solve
    for k in (solve.solve_batch, solve.solve_single, solve.eval_rows):
        assert type(k._cache).__name__ == "FunctionCache"  # cache=True (NullCache otherwise)
        assert k.targetoptions["nogil"] is True
        assert not {"nnan", "ninf", "nsz", "fast"} & set(k.targetoptions["fastmath"])
