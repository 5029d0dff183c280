"""Data as users hold it (issue "Real data", item 10): pandas objects, strided scikit-learn
arrays, integer labels. Accepted without a copy where NumPy can view them; otherwise an
error whose fix is one line, and the fix works."""
import numpy as np
import pytest

import fastgd

pd = pytest.importorskip("pandas")


def ls_ref(X, y):
    return np.linalg.lstsq(X, y, rcond=None)[0]


def test_series_target_is_accepted(rng):
    X = rng.standard_normal((200, 4))
    y = pd.Series(X @ np.arange(1.0, 5.0) + 0.1 * rng.standard_normal(200))
    res = fastgd.minimize(fastgd.LeastSquares(X, y), gtol=1e-10, max_iter=10_000)
    np.testing.assert_allclose(res.x, ls_ref(X, y.to_numpy()), rtol=1e-7)


def test_dataframe_viewed_without_a_copy(rng):
    X = rng.standard_normal((300, 3))
    df = pd.DataFrame(X.T.copy()).T          # one block, rows contiguous: a C-ordered view
    v = df.to_numpy()
    if not v.flags.c_contiguous or not np.shares_memory(v, df.to_numpy()):
        pytest.skip("this pandas stores the frame so that no C-ordered view exists")
    y = X @ [1.0, -2.0, 0.5]
    p = fastgd.LeastSquares(df, y)
    assert np.shares_memory(p.X, v)                     # not copied
    res = fastgd.minimize(p, gtol=1e-10, max_iter=10_000)
    np.testing.assert_allclose(res.x, ls_ref(X, y), rtol=1e-7)


def test_column_major_dataframe_refused_with_a_one_line_fix(rng):
    df = pd.DataFrame(rng.standard_normal((50, 3)), columns=list("abc"))
    y = np.zeros(50)
    if df.to_numpy().flags.c_contiguous:
        pytest.skip("this pandas gives a C-ordered view")
    with pytest.raises(ValueError, match=r"X \(pandas.DataFrame\).*np.ascontiguousarray"):
        fastgd.LeastSquares(df, y)
    fastgd.LeastSquares(np.ascontiguousarray(df, dtype=np.float64), y)  # the fix


def test_mixed_dtype_dataframe_refused(rng):
    df = pd.DataFrame({"a": rng.standard_normal(20), "b": np.arange(20)})
    with pytest.raises((ValueError, TypeError), match=r"X \(pandas.DataFrame\)"):
        fastgd.LeastSquares(df, np.zeros(20))
    obj = pd.DataFrame({"a": ["x"] * 20})
    with pytest.raises(TypeError, match="X .* dtype object"):
        fastgd.LeastSquares(obj, np.zeros(20))


def test_digits_with_integer_labels():
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    with pytest.raises(ValueError, match=r"C-contiguous.*np.ascontiguousarray\(X\)"):
        fastgd.Softmax(d.data, d.target, 10)
    X = np.ascontiguousarray(d.data) / 16.0
    assert d.target.dtype.kind == "i"
    a = fastgd.minimize(fastgd.Softmax(X, d.target, 10, l2=1e-2), max_iter=50, gtol=0.0)
    b = fastgd.minimize(fastgd.Softmax(X, d.target.astype(np.float64), 10, l2=1e-2),
                        max_iter=50, gtol=0.0)
    np.testing.assert_array_equal(a.x, b.x)
    # and the labels are honoured: the same objective as scikit-learn's multinomial fit
    lm = pytest.importorskip("sklearn.linear_model")
    ref = lm.LogisticRegression(C=1 / (1e-2 * len(X)), fit_intercept=False, tol=1e-12,
                                max_iter=10_000).fit(X, d.target)
    c = fastgd.minimize(fastgd.Softmax(X, d.target, 10, l2=1e-2), method="bb", lr="auto",
                        gtol=1e-9, max_iter=20_000)
    assert c.success
    # sklearn's multinomial W is identifiable only up to a per-row shift across classes;
    # with l2 > 0 the minimiser is unique and the shifts are zero
    np.testing.assert_allclose(c.x, ref.coef_.T, rtol=1e-4, atol=1e-5)


def test_boolean_and_integer_labels(rng):
    X = rng.standard_normal((100, 3))
    yb = rng.random(100) < 0.5
    a = fastgd.minimize(fastgd.Logistic(X, yb), max_iter=30, gtol=0.0)
    b = fastgd.minimize(fastgd.Logistic(X, yb.astype(np.float64)), max_iter=30, gtol=0.0)
    np.testing.assert_array_equal(a.x, b.x)
    counts = rng.poisson(2.0, 100)
    p = fastgd.Poisson(X, pd.Series(counts))
    assert p.y.dtype == np.float64 and (p.y == counts).all()


def test_integers_not_exact_in_float32_refused(rng):
    X = rng.standard_normal((4, 2)).astype(np.float32)
    with pytest.raises(ValueError, match="y holds integers up to 33554432, not exact in float32"):
        fastgd.LeastSquares(X, np.array([1, 2, 3, 2 ** 25]))
    p = fastgd.LeastSquares(X, np.array([1, 2, 3, 2 ** 24]))
    assert p.y.dtype == np.float32
