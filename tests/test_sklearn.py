"""fastgd.sklearn: scikit-learn's estimator checks, meta-estimators, and the same solutions
as scikit-learn's own solvers (Ridge, LogisticRegression, PoissonRegressor) and SciPy."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
scipy_sparse = pytest.importorskip("scipy.sparse")

from sklearn.datasets import (load_breast_cancer, load_diabetes, load_wine,  # noqa: E402
                              make_classification)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastgd.sklearn import GDClassifier, GDRegressor  # noqa: E402

TIGHT = dict(tol=1e-10, max_iter=200000)


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


# ------------------------------------------------------------------ estimator checks
def _expected_failed(est):
    """Checks that cannot pass, with the reason (also listed in docs/sklearn.md)."""
    out = {}
    if getattr(est, "loss", None) == "poisson":
        out["check_regressor_multioutput"] = (
            "the check fits make_regression targets, which are negative: Poisson needs y >= 0 "
            "(it ignores the positive_only tag)")
    return out


@parametrize_with_checks([GDRegressor(), GDClassifier(), GDRegressor(loss="huber"),
                          GDRegressor(loss="poisson")],
                         expected_failed_checks=_expected_failed)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ------------------------------------------------------------------ same as sklearn
@pytest.mark.parametrize("ridge_alpha", [0.0, 1.0, 10.0])
def test_diabetes_equals_ridge(ridge_alpha):
    X, y = load_diabetes(return_X_y=True)
    n = len(y)
    ref = Ridge(alpha=ridge_alpha, solver="svd").fit(X, y)
    est = GDRegressor(alpha=ridge_alpha / n, **TIGHT).fit(X, y)
    assert rel(est.coef_, ref.coef_) < 1e-5
    assert abs(est.intercept_ - ref.intercept_) < 1e-5 * abs(ref.intercept_)
    assert rel(est.predict(X), ref.predict(X)) < 1e-5


def test_diabetes_weighted_equals_ridge():
    X, y = load_diabetes(return_X_y=True)
    sw = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    ref = Ridge(alpha=2.0, solver="svd").fit(X, y, sample_weight=sw)
    est = GDRegressor(alpha=2.0 / sw.sum(), **TIGHT).fit(X, y, sample_weight=sw)
    assert rel(est.coef_, ref.coef_) < 1e-5
    assert abs(est.intercept_ - ref.intercept_) < 1e-5 * abs(ref.intercept_)


def _scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine], ids=["cancer", "wine"])
def test_equals_logistic_regression_no_intercept(loader):
    X, y = _scaled(loader)
    ref = LogisticRegression(C=1.0, fit_intercept=False, tol=1e-12, max_iter=10000).fit(X, y)
    est = GDClassifier(alpha=1.0 / len(y), fit_intercept=False, **TIGHT).fit(X, y)
    assert rel(est.coef_, ref.coef_) < 1e-5
    assert np.abs(est.predict_proba(X) - ref.predict_proba(X)).max() < 1e-4
    assert np.abs(est.predict_log_proba(X) - ref.predict_log_proba(X)).max() < 1e-3
    assert (est.predict(X) == ref.predict(X)).all()


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine], ids=["cancer", "wine"])
def test_equals_logistic_regression_intercept(loader):
    X, y = _scaled(loader)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10000).fit(X, y)
    est = GDClassifier(alpha=1.0 / len(y), **TIGHT).fit(X, y)
    assert rel(est.coef_, ref.coef_) < 1e-5
    assert np.abs(est.predict_proba(X) - ref.predict_proba(X)).max() < 1e-4


def test_unpenalised_intercept_equals_logistic_regression():
    # alpha = 0 with an intercept (exact in today's fallback too), on non-separable data
    X, y = make_classification(400, 6, n_informative=4, flip_y=0.2, random_state=0)
    X = X * np.array([1e2, 1.0, 1e-2, 3.0, 0.5, 10.0]) + 5.0   # badly scaled: precondition
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100000).fit(
        StandardScaler().fit_transform(X), y)
    Xs = StandardScaler().fit_transform(X)
    est = GDClassifier(**TIGHT).fit(Xs, y)
    assert rel(est.coef_, ref.coef_) < 1e-5
    assert abs(est.intercept_[0] - ref.intercept_[0]) < 1e-5 * max(1, abs(ref.intercept_[0]))
    raw = GDClassifier(**TIGHT).fit(X, y)                     # unscaled: diag preconditioning
    assert np.abs(raw.predict_proba(X) - ref.predict_proba(Xs)).max() < 1e-4


def test_weighted_logistic_equals_logistic_regression():
    X, y = _scaled(load_breast_cancer)
    sw = np.random.default_rng(1).integers(0, 4, len(y)).astype(np.float64)
    ref = LogisticRegression(C=1.0, fit_intercept=False, tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=sw)
    est = GDClassifier(alpha=1.0 / sw.sum(), fit_intercept=False, **TIGHT).fit(
        X, y, sample_weight=sw)
    assert rel(est.coef_, ref.coef_) < 1e-5


def _counts(n=500, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 0.5
    y = rng.poisson(np.exp(X @ rng.uniform(-0.5, 0.5, d) + 0.3)).astype(np.float64)
    return X, y


def test_poisson_equals_poisson_regressor():
    X, y = _counts()
    ref = PoissonRegressor(alpha=0.05, fit_intercept=False, tol=1e-12, max_iter=1000).fit(X, y)
    est = GDRegressor("poisson", alpha=0.05, fit_intercept=False, **TIGHT).fit(X, y)
    assert rel(est.coef_, ref.coef_) < 1e-5
    ref = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    est = GDRegressor("poisson", **TIGHT).fit(X, y)
    assert rel(est.coef_, ref.coef_) < 1e-5
    assert abs(est.intercept_ - ref.intercept_) < 1e-5 * max(1, abs(ref.intercept_))
    assert rel(est.predict(X), ref.predict(X)) < 1e-5


def test_huber_equals_scipy():
    from scipy.optimize import minimize as sp_minimize
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4))
    y = X @ rng.standard_normal(4) + 0.5 + rng.standard_t(2, 300)
    delta, alpha = 1.35, 0.01

    def f(w):
        r = X @ w - y
        a = np.abs(r)
        h = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
        return h.mean() + 0.5 * alpha * w @ w, X.T @ np.clip(r, -delta, delta) / len(y) + alpha * w
    ref = sp_minimize(f, np.zeros(4), jac=True, method="L-BFGS-B",
                      options=dict(gtol=1e-13, ftol=1e-15, maxiter=10000)).x
    est = GDRegressor("huber", alpha=alpha, fit_intercept=False, epsilon=delta, **TIGHT).fit(X, y)
    assert rel(est.coef_, ref) < 1e-5


# ------------------------------------------------------------------ the estimator contract
def test_multi_target_equals_per_target_and_ridge():
    X, y = load_diabetes(return_X_y=True)
    Y = np.column_stack([y, np.sqrt(y), -2 * y + 3])
    est = GDRegressor(alpha=1e-3, **TIGHT).fit(X, Y)
    ref = Ridge(alpha=1e-3 * len(y), solver="svd").fit(X, Y)
    assert est.coef_.shape == (3, X.shape[1]) and est.intercept_.shape == (3,)
    assert est.n_iter_.shape == (3,) and est.predict(X).shape == (len(y), 3)
    assert rel(est.coef_, ref.coef_) < 1e-5
    one = GDRegressor(alpha=1e-3, **TIGHT).fit(X, Y[:, 1])
    assert rel(est.coef_[1], one.coef_) < 1e-8


def test_unscaled_multi_target_is_one_shared_solve_equal_to_ridge(monkeypatch):
    import fastgd.sklearn as fsk
    rng = np.random.default_rng(11)
    n, d, T = 300, 4, 3
    scales = np.array([1e-2, 1.0, 30.0, 1e3])
    X = (rng.standard_normal((n, d)) + 3.0) * scales
    Y = X @ (rng.standard_normal((d, T)) / scales[:, None]) + rng.standard_normal(T) \
        + 0.1 * rng.standard_normal((n, T))
    s = rng.uniform(0.2, 3.0, n)
    calls = []

    def spy(problem, *args, **kwargs):
        calls.append((problem.y.shape, problem.shared_x, kwargs.get("precondition")))
        return minimize(problem, *args, **kwargs)
    minimize = fsk.minimize
    monkeypatch.setattr(fsk, "minimize", spy)
    alpha = 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDRegressor(alpha=alpha, method="bb", tol=1e-9, max_iter=5000).fit(
            X, Y, sample_weight=s)
    assert calls == [((T, n), True, "diag")]  # one call, y (T, n) over the one X
    ref = Ridge(alpha=alpha * s.sum(), solver="cholesky").fit(X, Y, sample_weight=s)
    assert est.coef_.shape == (T, d) and est.intercept_.shape == (T,)
    assert est.n_iter_.shape == (T,)
    assert rel(est.coef_, ref.coef_) < 1e-7
    assert rel(est.intercept_, ref.intercept_) < 1e-7
    with pytest.warns(ConvergenceWarning, match="on target"):
        GDRegressor(alpha=alpha, method="bb", tol=1e-9, max_iter=5000,
                    precondition=None).fit(X, Y, sample_weight=s)


def test_float32_kept_and_csr_equals_dense():
    X, y = _scaled(load_breast_cancer)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    est = GDClassifier(alpha=1e-2, fit_intercept=False, max_iter=5000, tol=1e-5).fit(X32, y)
    assert est.coef_.dtype == np.float32 and est.decision_function(X32).dtype == np.float32
    dense = GDClassifier(alpha=1e-2, fit_intercept=False, **TIGHT).fit(X, y)
    assert rel(est.coef_, dense.coef_) < 1e-3
    Xd, yd = _scaled(load_diabetes)
    X32, y32 = Xd.astype(np.float32), yd.astype(np.float32)
    reg = GDRegressor(alpha=1.0 / len(yd), tol=1e-4, max_iter=20000).fit(X32, y32)
    assert reg.coef_.dtype == np.float32 and reg.predict(X32).dtype == np.float32
    assert rel(reg.coef_, Ridge(alpha=1.0, solver="svd").fit(Xd, yd).coef_) < 1e-3  # float32
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = np.where(np.abs(Xd) < 0.02, 0.0, Xd)                  # some zeros
    sparse = GDRegressor(alpha=1e-3, **TIGHT).fit(scipy_sparse.csr_matrix(Xd), yd)
    dense = GDRegressor(alpha=1e-3, **TIGHT).fit(Xd, yd)
    assert rel(sparse.coef_, dense.coef_) < 1e-8
    assert rel(sparse.predict(scipy_sparse.csr_matrix(Xd)), dense.predict(Xd)) < 1e-8


def test_string_labels_and_shapes():
    X, y = _scaled(load_wine)
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    est = GDClassifier(alpha=1e-2, fit_intercept=False, max_iter=3000).fit(X, names)
    assert list(est.classes_) == sorted(set(names.tolist()))
    assert est.coef_.shape == (3, 13) and est.intercept_.shape == (3,)
    assert est.predict_proba(X).shape == (len(y), 3)
    assert set(est.predict(X)) <= set(names) and est.score(X, names) > 0.95
    binary = GDClassifier(max_iter=3000, alpha=1e-2, fit_intercept=False).fit(
        X[y < 2], names[y < 2])
    assert binary.coef_.shape == (1, 13) and binary.decision_function(X).shape == (len(y),)
    p = binary.predict_proba(X)
    assert np.allclose(p.sum(axis=1), 1) and (binary.predict(X) == binary.classes_[
        (p[:, 1] > 0.5).astype(int)]).all()


def test_pipeline_grid_search_cross_val():
    X, y = load_diabetes(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), GDRegressor(max_iter=5000))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.4
    grid = GridSearchCV(pipe, {"gdregressor__alpha": [1e-3, 1e-2, 1e-1, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["gdregressor__alpha"] in (1e-3, 1e-2, 1e-1)
    Xc, yc = load_breast_cancer(return_X_y=True)
    clf = GridSearchCV(make_pipeline(StandardScaler(), GDClassifier(fit_intercept=False)),
                       {"gdclassifier__alpha": [1e-3, 1e-1]}, cv=3).fit(Xc, yc)
    assert clf.best_score_ > 0.9


def test_unscaled_data_converge_with_precondition():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 5)) * np.array([1e3, 1.0, 1e-3, 50.0, 0.1])
    y = X @ (1.0 / np.array([1e3, 1.0, 1e-3, 50.0, 0.1])) + 0.1 * rng.standard_normal(400)
    ref = np.linalg.lstsq(np.column_stack([X, np.ones(400)]), y, rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GDRegressor(max_iter=2000, tol=1e-10).fit(X, y)
    assert rel(est.coef_, ref[:5]) < 1e-6
    with pytest.warns(ConvergenceWarning, match="maximum number of iterations"):
        GDRegressor(precondition=None, max_iter=2000, tol=1e-10).fit(X, y)


def test_convergence_warning_names_status():
    X, y = load_diabetes(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="MAX_ITER"):
        est = GDRegressor(max_iter=3).fit(X, y)
    assert est.n_iter_ == 3
    with pytest.warns(ConvergenceWarning, match="DIVERGED"):
        GDRegressor(lr=1e6, precondition=None).fit(X, y)


def test_get_set_params_and_bad_input():
    est = GDRegressor(alpha=0.5)
    assert est.get_params()["alpha"] == 0.5 and est.set_params(tol=1e-3).tol == 1e-3
    X, y = load_diabetes(return_X_y=True)
    for kw, name in [({"loss": "hinge"}, "loss"), ({"alpha": -1.0}, "alpha"),
                     ({"tol": -1.0}, "tol"), ({"max_iter": 1.5}, "max_iter"),
                     ({"precondition": "full"}, "precondition")]:
        with pytest.raises(ValueError, match=name):
            GDRegressor(**kw).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        GDClassifier(loss="hinge").fit(X, y > 100)
    with pytest.raises(ValueError, match=">= 0"):
        GDRegressor("poisson").fit(X, y - 200)
    for sw in (np.zeros(len(y)), -np.ones(len(y))):
        with pytest.raises(ValueError, match="(?i)sample.weight"):
            GDRegressor().fit(X, y, sample_weight=sw)


def test_import_fastgd_does_not_import_sklearn():
    code = "import sys, fastgd; assert 'sklearn' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_batch_size_runs_mini_batches_to_the_interpolating_solution():
    """Noise-free targets (every row's gradient vanishes at the solution): constant-step
    mini-batch descent reaches numpy's lstsq; the same random_state gives the same fit."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 5))
    w = rng.standard_normal(5)
    y = X @ w + 3.0
    Xc = X - X.mean(axis=0)
    lr = 0.5 / np.linalg.eigvalsh(Xc.T @ Xc / 400)[-1]
    kw = dict(alpha=0.0, batch_size=32, precondition=None, lr=lr, max_iter=400, tol=1e-10)
    a = GDRegressor(random_state=3, **kw).fit(X, y)
    ref = np.linalg.lstsq(np.c_[X, np.ones(400)], y, rcond=None)[0]
    np.testing.assert_allclose(a.coef_, ref[:5], atol=1e-7)
    np.testing.assert_allclose(a.intercept_, ref[5], atol=1e-7)
    b = GDRegressor(random_state=3, **kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    early = dict(kw, max_iter=2, tol=0.0)  # two epochs: the visiting order shows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c3, c4 = (GDRegressor(random_state=r, **early).fit(X, y).coef_ for r in (3, 4))
    assert np.abs(c3 - c4).max() > 1e-6
    # precondition='diag' (the default) with lr="auto": the full-data 1/L of the rescaled,
    # centred columns
    pre = GDRegressor(batch_size=32, random_state=3, alpha=0.0, max_iter=400,
                      tol=1e-10).fit(X * [1e-2, 1, 1, 1, 100], y)
    np.testing.assert_allclose(pre.coef_ * [1e-2, 1, 1, 1, 100], ref[:5], atol=1e-6)
    np.testing.assert_allclose(pre.intercept_, ref[5], atol=1e-6)
