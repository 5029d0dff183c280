"""scipy.sparse CSR X for one problem (fastgd/sparse.py, fastgd/cpu/csr.py): the same
iterates as the dense drivers on the same data, for every row loss, with and without
the intercept and sample weights, float32/float64 data, int32/int64 indices; lr="auto"
against the float64 eigenvalue (numpy.linalg.eigvalsh); a ridge fit against scikit-learn;
no densification; bad CSR refused before anything is written; the CLI on save_npz files."""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
from fastgd import Status, config


@pytest.fixture(autouse=True)
def blocks(monkeypatch):
    """Several parallel row blocks even on small data."""
    monkeypatch.setattr(config, "ROWS_PER_BLOCK", 16)


def csr(rng, n, d, dtype, index, density=0.25, kind=sp.csr_matrix):
    X = sp.random(n, d, density=density, random_state=rng, format="csr",
                  data_rvs=rng.standard_normal).astype(dtype)
    X = kind(X)
    X.indices = X.indices.astype(index)
    X.indptr = X.indptr.astype(index)
    assert X.indices.dtype == index and X.has_sorted_indices
    return X


def targets(loss, rng, X):
    z = X @ rng.standard_normal(X.shape[1])
    n = X.shape[0]
    if loss == "logistic":
        return (z + 0.5 * rng.standard_normal(n) > 0).astype(float)
    if loss == "poisson":
        return rng.poisson(np.exp(0.3 * z)).astype(float)
    if loss == "huber":
        y = z + 0.1 * rng.standard_normal(n)
        y[::17] += 20.0  # outliers
        return y
    return z + 1.5 + 0.1 * rng.standard_normal(n)


from rowlosses import LogCosh  # noqa: E402  (one definition: compiled once per process)
PROBLEMS = {"lstsq": fastgd.LeastSquares, "logistic": fastgd.Logistic,
            "huber": fastgd.Huber, "poisson": fastgd.Poisson, "rowloss": LogCosh}


def both(loss, X, y, **kw):
    cls = PROBLEMS[loss]
    return cls(X, y.astype(X.dtype), **kw), cls(X.toarray(), y.astype(X.dtype), **kw)


def assert_same(rs, rd, dtype):
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert rs.status == rd.status and rs.nit == rd.nit
    np.testing.assert_allclose(rs.x, rd.x, rtol=tol, atol=tol)
    np.testing.assert_allclose(rs.fun, rd.fun, rtol=tol, atol=tol)
    np.testing.assert_allclose(rs.grad_norm, rd.grad_norm, rtol=10 * tol, atol=tol)
    assert rs.x.dtype == dtype and rs.x.shape == rd.x.shape
    if rd.intercept is None:
        assert rs.intercept is None
    else:
        np.testing.assert_allclose(rs.intercept, rd.intercept, rtol=tol, atol=tol)


# ------------------------------------------------------------ sparse == dense, same data
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array])
def test_least_squares_every_dtype(rng, dtype, index, kind):
    X = csr(rng, 300, 12, dtype, index, kind=kind)
    y = targets("lstsq", rng, X)
    s = rng.uniform(0.0, 2.0, 300)
    ps, pd = both("lstsq", X, y, l2=0.01, fit_intercept=True, sample_weight=s)
    assert ps.sparse and np.shares_memory(ps.csr[0], X.data)  # not copied
    rs = fastgd.minimize(ps, lr="auto", max_iter=60, gtol=0.0)
    rd = fastgd.minimize(pd, lr="auto", max_iter=60, gtol=0.0)
    assert_same(rs, rd, dtype)
    np.testing.assert_allclose(rs.lr, rd.lr, rtol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("loss", ["lstsq", "logistic", "huber", "poisson", "rowloss"])
@pytest.mark.parametrize("intercept,weights", [(False, False), (True, False), (False, True),
                                               (True, True)])
def test_every_row_loss_matches_dense(rng, loss, intercept, weights):
    X = csr(rng, 200, 9, np.float64, np.int32)
    y = targets(loss, rng, X)
    s = rng.uniform(0.0, 2.0, 200) if weights else None
    ps, pd = both(loss, X, y, l2=0.02, fit_intercept=intercept, sample_weight=s)
    kw = dict(max_iter=40, gtol=0.0)
    if loss == "poisson":
        kw.update(lr="auto", line_search="armijo")
    else:
        kw.update(lr="auto")
    for method in ("gd", "adam"):
        if method == "adam":
            kw.update(lr=0.05, line_search=None)
        assert_same(fastgd.minimize(ps, method, **kw), fastgd.minimize(pd, method, **kw),
                    np.float64)


# rowloss: a RowLoss CSR driver compile of its own in float32 (every process): slow
@pytest.mark.parametrize("loss", ["logistic", pytest.param("rowloss", marks=pytest.mark.slow)])
def test_float32_int64_matches_dense(rng, loss):
    X = csr(rng, 200, 7, np.float32, np.int64)
    y = targets(loss, rng, X)
    ps, pd = both(loss, X, y, l2=0.01, fit_intercept=True,
                  sample_weight=rng.uniform(0.5, 1.5, 200))
    kw = dict(lr="auto", max_iter=40, gtol=0.0)
    assert_same(fastgd.minimize(ps, **kw), fastgd.minimize(pd, **kw), np.float32)


@pytest.mark.parametrize("dtype,index", [(np.float64, np.int32), (np.float32, np.int64)])
def test_softmax_matches_dense(rng, dtype, index):
    X = csr(rng, 240, 8, dtype, index)
    y = rng.integers(0, 4, 240).astype(dtype)
    kw = dict(l2=0.01, fit_intercept=True, sample_weight=rng.uniform(0.2, 2.0, 240))
    ps, pd = fastgd.Softmax(X, y, 4, **kw), fastgd.Softmax(X.toarray(), y, 4, **kw)
    for method, lr in (("gd", "auto"), ("momentum", 0.5)):
        rs = fastgd.minimize(ps, method, lr=lr, max_iter=40, gtol=0.0)
        rd = fastgd.minimize(pd, method, lr=lr, max_iter=40, gtol=0.0)
        assert rs.x.shape == (8, 4) and rs.intercept.shape == (4,)
        assert_same(rs, rd, dtype)


def test_softmax_loss_grad64_with_csr(rng):
    X = csr(rng, 60, 5, np.float64, np.int32)
    y = rng.integers(0, 3, 60).astype(float)
    p = fastgd.Softmax(X, y, 3, l2=0.1)
    w = rng.standard_normal(15)
    f, g = p.loss_grad64(w)
    Z = X.toarray() @ w.reshape(5, 3)
    ref = np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(60), y.astype(int)])
    np.testing.assert_allclose(f, ref + 0.05 * w @ w, rtol=1e-12)
    assert g.shape == (15,)


# ------------------------------------------------------------ independent references
@pytest.mark.parametrize("intercept", [False, True])
def test_auto_lr_is_the_float64_eigenvalue(rng, intercept):
    n, d, l2 = 250, 10, 0.1
    X = csr(rng, n, d, np.float64, np.int32)
    y = targets("lstsq", rng, X)
    s = rng.uniform(0.0, 2.0, n)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=intercept,
                                              sample_weight=s), lr="auto", max_iter=1)
    A = X.toarray()
    if intercept:
        A = np.hstack([A, np.ones((n, 1))])
    sw = s / s.sum() * n
    lam = np.linalg.eigvalsh(A.T @ (sw[:, None] * A) / n)[-1]
    np.testing.assert_allclose(res.lr, 1.0 / (lam + l2), rtol=1e-6)


def test_weighted_ridge_matches_sklearn(rng):
    from sklearn.linear_model import Ridge
    n, d, l2 = 400, 8, 0.05
    X = csr(rng, n, d, np.float64, np.int64, density=0.4)
    y = targets("lstsq", rng, X)
    s = rng.uniform(0.0, 3.0, n)
    res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=l2, fit_intercept=True, sample_weight=s),
                          lr="auto", max_iter=50000, gtol=1e-12)
    assert res.status == Status.GTOL
    ref = Ridge(alpha=l2 * s.sum(), solver="cholesky").fit(X.toarray(), y, sample_weight=s)
    np.testing.assert_allclose(res.x, ref.coef_, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-8, atol=1e-9)


def test_unsorted_indices_are_sorted_in_a_copy(rng):
    X = csr(rng, 120, 8, np.float64, np.int32)
    y = targets("lstsq", rng, X)
    U = X.copy()
    for i in range(U.shape[0]):  # reverse every row's entries
        lo, hi = U.indptr[i], U.indptr[i + 1]
        U.indices[lo:hi] = U.indices[lo:hi][::-1].copy()
        U.data[lo:hi] = U.data[lo:hi][::-1].copy()
    U.has_sorted_indices = False
    before = (U.indices.copy(), U.data.copy())
    p = fastgd.LeastSquares(U, y)
    assert p.X is not U and not np.shares_memory(p.csr[1], U.indices)
    np.testing.assert_array_equal(U.indices, before[0])  # the caller's X is untouched
    np.testing.assert_array_equal(U.data, before[1])
    r = fastgd.minimize(p, max_iter=30, gtol=0.0)
    assert_same(r, fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=30, gtol=0.0),
                np.float64)


def test_never_densified(rng):
    n, d = 200_000, 20_000  # dense: 32 GB
    X = sp.random(n, d, density=2e-6, random_state=rng, format="csr")
    y = rng.standard_normal(n)
    p = fastgd.LeastSquares(X, y, l2=1e-3)
    fastgd.minimize(p, max_iter=2)  # compiled
    tracemalloc.start()
    try:
        res = fastgd.minimize(fastgd.LeastSquares(X, y, l2=1e-3), max_iter=20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.x.shape == (d,) and np.isfinite(res.fun)
    assert peak < 64 << 20, peak  # a few (n,) and (d,) vectors, not (n, d)


def test_objective_and_check_grad_with_csr(rng):
    X = csr(rng, 100, 6, np.float64, np.int32)
    y = targets("logistic", rng, X)
    p = fastgd.Logistic(X, y, l2=0.1, fit_intercept=True)
    w = rng.standard_normal(7)
    f, g = p.loss_grad64(w)
    A = X.toarray()
    z = A @ w[:6] + w[6]
    ref = np.mean(np.logaddexp(0, z) - y * z) + 0.05 * w[:6] @ w[:6]
    np.testing.assert_allclose(f, ref, rtol=1e-12)
    r = 1 / (1 + np.exp(-z)) - y
    np.testing.assert_allclose(g, np.append(A.T @ r / 100 + 0.1 * w[:6], r.mean()), rtol=1e-10)


def test_outer_loop_options_match_dense(rng):
    X = csr(rng, 150, 6, np.float64, np.int32)
    y = targets("huber", rng, X)
    ps, pd = both("huber", X, y, l2=0.01, fit_intercept=True)
    out = []
    for p in (ps, pd):
        x0 = np.full(6, 0.1)
        seen = []
        r = fastgd.minimize(p, "nesterov", lr="auto", x0=x0, inplace=True, history=5,
                            intercept0=0.5, max_iter=60, gtol=0.0, threads=1,
                            callback=lambda res: seen.append(res.nit))
        assert r.x is x0 and len(seen) == config.CALLBACK_CHUNKS
        out.append((r, seen))
    assert_same(out[0][0], out[1][0], np.float64)
    np.testing.assert_allclose(out[0][0].history, out[1][0].history, rtol=1e-10)
    assert out[0][1] == out[1][1]


def test_one_specialisation_per_dtype_pair_cached(rng):
    from fastgd.cpu import drivers_csr
    k = drivers_csr.builtin().solve_csr
    X = csr(rng, 100, 5, np.float64, np.int32)
    y = targets("lstsq", rng, X)
    fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=3)
    before = len(k.signatures)
    R = X.copy()
    for a in (R.data, R.indices, R.indptr):
        a.flags.writeable = False
    r = fastgd.minimize(fastgd.Huber(R, y, fit_intercept=True, sample_weight=np.ones(100)),
                        max_iter=3)
    assert r.nit == 3 and len(k.signatures) == before  # read-only data: no new one
    assert type(k._cache).__name__ == "FunctionCache" and k.targetoptions["nogil"] is True


# ------------------------------------------------------------ bad input
def _dup(rng):
    X = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), np.array([0, 2, 3])),
                      shape=(2, 3))
    return X


def _bad_cases(rng):
    X = csr(rng, 30, 5, np.float64, np.int32)
    nan = X.copy()
    nan.data[3] = np.nan
    inf = X.copy()
    inf.data[0] = np.inf
    rng_idx = X.copy()
    rng_idx.indices[2] = 5
    neg = X.copy()
    neg.indices[2] = -1
    mono = X.copy()
    mono.indptr[5], mono.indptr[6] = mono.indptr[6], mono.indptr[5] - 1
    mixed = X.copy()
    mixed.indptr = mixed.indptr.astype(np.int64)
    return {
        "csc": (X.tocsc(), TypeError, "tocsr"),
        "coo": (X.tocoo(), TypeError, "tocsr"),
        "int data": (X.astype(np.int64), TypeError, "float32 or float64"),
        "complex data": (X.astype(np.complex128), TypeError, "float32 or float64"),
        "nan": (nan, ValueError, "NaN or Inf"),
        "inf": (inf, ValueError, "NaN or Inf"),
        "index out of range": (rng_idx, ValueError, r"indices must lie in \[0, 5\)"),
        "negative index": (neg, ValueError, "indices must lie"),
        "indptr": (mono, ValueError, "non-decreasing"),
        "mixed index dtypes": (mixed, TypeError, "both be int32 or int64"),
        "empty": (sp.csr_matrix((0, 5)), ValueError, "must not be empty"),
        "duplicates": (_dup(rng), ValueError, "sum_duplicates"),
    }


@pytest.mark.parametrize("case", list(_bad_cases(np.random.default_rng(0))))
def test_bad_csr_rejected_before_anything_is_written(rng, case):
    X, exc, match = _bad_cases(rng)[case]
    arrays = [a.copy() for a in (X.data, X.indices, X.indptr)] if hasattr(X, "indptr") else None
    with pytest.raises(exc, match=match):
        fastgd.LeastSquares(X, np.zeros(X.shape[0]))
    if arrays is not None:
        for a, b in zip(arrays, (X.data, X.indices, X.indptr)):
            np.testing.assert_array_equal(a, b)


def test_bad_options_and_targets(rng):
    X = csr(rng, 40, 5, np.float64, np.int32)
    y = targets("lstsq", rng, X)
    with pytest.raises(TypeError, match="dtype float32 but X.data has float64"):
        fastgd.LeastSquares(X, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(40,\)"):
        fastgd.LeastSquares(X, y[:-1])
    with pytest.raises(ValueError, match="y contains NaN"):
        fastgd.LeastSquares(X, np.full(40, np.nan))
    with pytest.raises(ValueError, match="class ids"):
        fastgd.Softmax(X, np.full(40, 3.0), 3)
    with pytest.raises(ValueError, match="labels 0 and 1"):
        fastgd.Logistic(X, y)
    p = fastgd.LeastSquares(X, y)
    with pytest.raises(ValueError, match="dense X"):
        fastgd.sweep_lr(p)
    x0 = np.ones(5)
    for kw, match in (({"mode": "gram"}, "dense X only"), ({"device": "cuda"}, "CPU only")):
        with pytest.raises(ValueError, match=match):
            fastgd.minimize(p, x0=x0, inplace=True, **kw)
        np.testing.assert_array_equal(x0, 1.0)


def test_import_fastgd_imports_no_scipy_sparse():
    # (numba itself imports the scipy package when it is installed, for a version check;
    # fastgd imports none of scipy's modules: not scipy.sparse, not scipy.optimize)
    code = ("import sys, fastgd; bad = [m for m in sys.modules if m.startswith(('scipy.sparse', "
            "'scipy.optimize', 'scipy.linalg'))]; assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.path.dirname(
                             os.path.dirname(os.path.abspath(fastgd.__file__)))))
    assert out.stdout.strip() == "ok", out.stderr


# ------------------------------------------------------------ the command line
def test_cli_solves_a_save_npz_file(tmp_path, rng):
    from test_cli import ENV
    X = csr(rng, 150, 6, np.float64, np.int32, density=0.5)
    y = targets("lstsq", rng, X)
    sp.save_npz(tmp_path / "X.npz", X)
    np.save(tmp_path / "y.npy", y)
    out = subprocess.run([sys.executable, "-m", "fastgd", "solve", str(tmp_path / "X.npz"),
                          str(tmp_path / "y.npy"), "--gtol", "1e-11", "--max-iter", "20000",
                          "--out", str(tmp_path / "w.npy")], capture_output=True, text=True,
                         env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    ref = np.linalg.lstsq(X.toarray(), y, rcond=None)[0]
    np.testing.assert_allclose(np.load(tmp_path / "w.npy"), ref, rtol=1e-8, atol=1e-9)
    sp.save_npz(tmp_path / "C.npz", X.tocsc())
    out = subprocess.run([sys.executable, "-m", "fastgd", "solve", str(tmp_path / "C.npz"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, env=ENV,
                         timeout=300)
    assert out.returncode == 2 and "CSR" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "fastgd", "solve", str(tmp_path / "X.npz")],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 2 and "needs a y file" in out.stderr
