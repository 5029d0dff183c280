"""scikit-learn estimators over fastgd.minimize: ``GDRegressor`` and ``GDClassifier``.

Thin layers: the data go to a fastgd problem (``alpha`` is its ``l2``, ``fit_intercept`` and
``sample_weight`` passed through) and ``fastgd.minimize`` solves it (``tol`` is its ``gtol``,
``precondition`` passed through); the estimators hold no solver logic of their own.  The
objective is fastgd's, ``sum_i s_i phi(x_i.w + b, y_i) / sum_i s_i + alpha/2 ||w||^2``
(intercept not penalised), so with ``n`` samples (or ``S = sum_i s_i``):
``Ridge(alpha=alpha * n)``, ``LogisticRegression(C=1 / (alpha * n))``,
``PoissonRegressor(alpha=alpha)``, ``SGDRegressor``/``SGDClassifier(alpha=alpha)``.

Importing this module imports scikit-learn (``pip install "fastgd[sklearn]"``);
``import fastgd`` does not.  Reference: docs/sklearn.md.
"""
import warnings

import numpy as np

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("fastgd.sklearn needs scikit-learn: pip install 'fastgd[sklearn]'") from exc

import scipy.sparse as sp

from . import problems
from .api import minimize
from .result import Status

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

__all__ = ["GDRegressor", "GDClassifier"]

_REGRESSION_LOSSES = {"squared_error": problems.LeastSquares, "huber": problems.Huber,
                      "poisson": problems.Poisson}
_WARN_STATUSES = (int(Status.MAX_ITER), int(Status.DIVERGED))


def _validate_data(est, X, y="no_validation", reset=True, **kw):
    """sklearn's validate_data (>= 1.6) or the estimator method of older releases."""
    if _sk_validate_data is not None:
        return _sk_validate_data(est, X, y, reset=reset, **kw)
    return est._validate_data(X, y, reset=reset, **kw)  # pragma: no cover


def _host(a):
    """A NumPy copy of a result array (a CUDA device array is copied to the host)."""
    get = getattr(a, "copy_to_host", None)
    return np.asarray(get() if get is not None else a)


def _build_problem(cls, X, y, sample_weight, *, alpha, fit_intercept, precondition, loss_kw):
    """One fastgd problem for one target y (n,), dense or CSR X (never densified), or for
    targets y (T, n) over a dense X (a shared-X batch).

    y (T, n): T problems sharing X (a dense X).  Returns (problem, options for minimize,
    unmap) with unmap(res) -> (coef, intercept): coef (d,), (d, k) or (T, d) and intercept a
    float, (k,), (T,) or 0.0, in the original variables.
    """
    problem = cls(X, y, l2=alpha, fit_intercept=fit_intercept, sample_weight=sample_weight,
                  **loss_kw)

    def unmap(res):
        b = res.intercept
        return _host(res.x), (0.0 if b is None else _host(b)[()])
    return problem, {"precondition": precondition}, unmap


def _solve_targets(cls, X, Y, sample_weight, *, loss_kw, est):
    """Solve one problem per column of Y (n, T) sharing X.  Returns coef (T, d, ...),
    intercept (T, ...), n_iter (T,), and the results.

    A dense X on the CPU: one shared-X batch (one minimize with y (T, n): X is not copied
    per target, and its column statistics for precondition="diag" are computed once).  A
    CSR X (one problem per solve) or device="cuda" (no shared X there): one solve per
    target, in a loop.
    """
    Yt = np.ascontiguousarray(Y.T)  # (T, n): each target a contiguous row (a copy of y only)
    if not sp.issparse(X) and est.device != "cuda":
        coef, intercept, n_iter, res = _solve(cls, X, Yt, sample_weight, loss_kw=loss_kw,
                                              est=est)
        intercept = np.zeros(Yt.shape[0], coef.dtype) if np.ndim(intercept) == 0 \
            else np.asarray(intercept, coef.dtype)
        return coef, intercept, np.asarray(n_iter), [res]
    out = [_solve(cls, X, Yt[t], sample_weight, loss_kw=loss_kw, est=est)
           for t in range(Yt.shape[0])]
    coef = np.stack([o[0] for o in out])
    intercept = np.array([o[1] for o in out], dtype=coef.dtype)
    return coef, intercept, np.array([o[2] for o in out]), [o[3] for o in out]


def _solve(cls, X, y, sample_weight, *, loss_kw, est):
    """Build and solve one problem (y (n,)) or one shared-X batch (y (T, n)) with the
    estimator's settings; warn on MAX_ITER/DIVERGED.  Returns (coef, intercept, n_iter,
    res): n_iter an int, or (T,) for a batch."""
    problem, options, unmap = _build_problem(
        cls, X, y, sample_weight, alpha=est.alpha, fit_intercept=est.fit_intercept,
        precondition=est.precondition, loss_kw=loss_kw)
    options.update(lr=est.lr, max_iter=est.max_iter, gtol=est.tol, device=est.device)
    if est.batch_size is not None:
        options.update(batch_size=est.batch_size, random_state=est.random_state)
    if isinstance(est.lr, str) and est.lr == "auto" and cls is problems.Poisson:
        options["line_search"] = "armijo"  # Poisson has no global curvature bound
    res = minimize(problem, est.method, **options)
    statuses = np.atleast_1d(np.asarray(res.status, np.int64))
    messages = res.message if np.ndim(res.status) else [res.message]
    for t in np.flatnonzero(np.isin(statuses, _WARN_STATUSES)):
        where = f" on target {t}" if np.ndim(res.status) else ""
        warnings.warn(f"{type(est).__name__} did not converge{where}: {messages[t]} "
                      f"({Status(int(statuses[t])).name}; raise max_iter, or tol)",
                      ConvergenceWarning, stacklevel=3)
    coef, intercept = unmap(res)
    nit = np.asarray(res.nit) if np.ndim(res.nit) else int(res.nit)
    return coef, intercept, nit, res


def _check_params(est):
    """ValueError/TypeError naming the estimator's argument (before any work)."""
    if not (isinstance(est.alpha, (int, float, np.floating, np.integer)) and est.alpha >= 0
            and np.isfinite(est.alpha)):
        raise ValueError(f"alpha must be a finite real >= 0, got {est.alpha!r}")
    if not (isinstance(est.tol, (int, float, np.floating, np.integer)) and est.tol >= 0):
        raise ValueError(f"tol must be a real >= 0, got {est.tol!r}")
    if not (isinstance(est.max_iter, (int, np.integer)) and not isinstance(est.max_iter, bool)
            and est.max_iter >= 0):
        raise ValueError(f"max_iter must be an int >= 0, got {est.max_iter!r}")
    if not isinstance(est.fit_intercept, (bool, np.bool_)):
        raise TypeError(f"fit_intercept must be a bool, got {est.fit_intercept!r}")
    if est.precondition not in (None, "diag"):
        raise ValueError(f"precondition must be None or 'diag', got {est.precondition!r}")


def _weights(sample_weight, X):
    """sample_weight as (n,) in X's dtype, >= 0 and not all zero; or None."""
    if sample_weight is None:
        return None
    sw = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    if (sw < 0).any() or not sw.sum() > 0:
        raise ValueError("sample_weight must be >= 0 and not all zero")
    return sw


class _GDBase(BaseEstimator):
    """The parameters and data handling shared by GDRegressor and GDClassifier."""

    def _check_X(self, X, reset):
        return _validate_data(self, X, reset=reset, accept_sparse="csr",
                              dtype=[np.float64, np.float32], order="C")

    def _linear(self, X):
        """X @ coef_.T + intercept_, (n, T) (T = 1 for one target)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        Z = X @ self.coef_.T if not sp.issparse(X) else np.asarray(X @ self.coef_.T)
        return Z + self.intercept_

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": isinstance(self, RegressorMixin), "preserves_dtype":
                [np.float64, np.float32]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class GDRegressor(RegressorMixin, _GDBase):
    """Linear regression fitted by fastgd.minimize.

    loss: "squared_error" (LeastSquares), "huber" (Huber, delta=epsilon) or "poisson"
    (Poisson, log link: predict returns exp(X coef_ + intercept_)).  Objective:
    sum_i s_i phi(x_i.w + b, y_i) / sum_i s_i + alpha/2 ||w||^2 (b not penalised); for
    squared_error, Ridge(alpha=alpha * n_samples) has the same solution.  tol is minimize's
    gtol (gradient norm of that objective).  y of shape (n, T): T problems sharing X;
    coef_ (T, d), intercept_ (T,), n_iter_ (T,).  docs/sklearn.md.
    """

    def __init__(self, loss="squared_error", *, alpha=0.0, fit_intercept=True, method="gd",
                 lr="auto", max_iter=1000, tol=1e-6, batch_size=None, random_state=None,
                 precondition="diag", device=None, epsilon=1.35):
        self.loss = loss
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.method = method
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.random_state = random_state
        self.precondition = precondition
        self.device = device
        self.epsilon = epsilon

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n, d) dense or CSR, y (n,) or (n, T); sample_weight (n,) >= 0."""
        if self.loss not in _REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {sorted(_REGRESSION_LOSSES)}, "
                             f"got {self.loss!r}")
        _check_params(self)
        X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
                              order="C", multi_output=True, y_numeric=True)
        y = np.ascontiguousarray(y, dtype=X.dtype)
        sample_weight = _weights(sample_weight, X)
        cls = _REGRESSION_LOSSES[self.loss]
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError("y must be >= 0 for loss='poisson' (counts)")
        loss_kw = {"delta": self.epsilon} if self.loss == "huber" else {}
        if y.ndim == 1:
            coef, b, self.n_iter_, _ = _solve(cls, X, y, sample_weight, loss_kw=loss_kw,
                                              est=self)
            self.coef_, self.intercept_ = coef, (b if self.fit_intercept else 0.0)
        else:
            self.coef_, self.intercept_, self.n_iter_, _ = _solve_targets(
                cls, X, y, sample_weight, loss_kw=loss_kw, est=self)
        return self

    def predict(self, X):
        """Predictions (n,) or (n, T): X coef_ + intercept_ (exp of it for poisson)."""
        Z = self._linear(X)
        return np.exp(Z) if self.loss == "poisson" else Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


class GDClassifier(ClassifierMixin, _GDBase):
    """Logistic regression fitted by fastgd.minimize: Logistic for two classes, Softmax for
    more.  Objective sum_i s_i log-loss_i / sum_i s_i + alpha/2 ||w||^2 (intercept not
    penalised): LogisticRegression(C=1 / (alpha * n_samples)) has the same solution.
    classes_ of any label type; coef_ (1, d) and intercept_ (1,) for two classes, (k, d) and
    (k,) for k > 2.  docs/sklearn.md.
    """

    def __init__(self, loss="log_loss", *, alpha=0.0, fit_intercept=True, method="gd",
                 lr="auto", max_iter=1000, tol=1e-6, batch_size=None, random_state=None,
                 precondition="diag", device=None):
        self.loss = loss
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.method = method
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.random_state = random_state
        self.precondition = precondition
        self.device = device

    def fit(self, X, y, sample_weight=None):
        """Fit on X (n, d) dense or CSR, labels y (n,); sample_weight (n,) >= 0."""
        if self.loss != "log_loss":
            raise ValueError(f"loss must be 'log_loss', got {self.loss!r}")
        _check_params(self)
        X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
                              order="C")
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"the classifier needs samples of at least 2 classes in the data, "
                             f"got 1 class: {self.classes_[0]!r}")
        ids = np.ascontiguousarray(enc.transform(y), dtype=X.dtype)
        sample_weight = _weights(sample_weight, X)
        if k == 2:
            coef, b, self.n_iter_, _ = _solve(problems.Logistic, X, ids, sample_weight,
                                              loss_kw={}, est=self)
            self.coef_ = coef.reshape(1, -1)
            self.intercept_ = np.array([b if self.fit_intercept else 0.0], X.dtype)
        else:
            W, b, self.n_iter_, _ = _solve(problems.Softmax, X, ids, sample_weight,
                                           loss_kw={"n_classes": k}, est=self)
            self.coef_ = np.ascontiguousarray(W.T)
            self.intercept_ = (np.asarray(b, X.dtype).reshape(k) if self.fit_intercept
                               else np.zeros(k, X.dtype))
        return self

    def decision_function(self, X):
        """Scores: (n,) for two classes (the log-odds of classes_[1]), (n, k) for more."""
        Z = self._linear(X)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict(self, X):
        """The most probable class of each row, from classes_."""
        Z = self.decision_function(X)
        idx = (Z > 0).astype(np.int64) if Z.ndim == 1 else Z.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Class probabilities (n, k), columns in the order of classes_."""
        Z = self.decision_function(X)
        if Z.ndim == 1:
            p = np.empty(Z.shape, Z.dtype)
            pos = Z >= 0
            p[pos] = 1.0 / (1.0 + np.exp(-Z[pos]))
            e = np.exp(Z[~pos])
            p[~pos] = e / (1.0 + e)
            return np.column_stack([1.0 - p, p])
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """log of predict_proba (n, k), computed without overflow."""
        Z = self.decision_function(X)
        if Z.ndim == 1:
            Z = np.column_stack([np.zeros_like(Z), Z])
        m = Z.max(axis=1, keepdims=True)
        return Z - (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))
