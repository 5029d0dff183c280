"""fastgd.sklearn against the scikit-learn estimators a user would pick instead.

    python -m benchmarks.sklearn_bench            # the sizes of benchmarks/RESULTS.md (minutes)
    python -m benchmarks.sklearn_bench --quick    # small sizes (a smoke test)

Same data, same objective (fastgd's: mean loss + alpha/2 ||w||^2, intercept unpenalised), so
Ridge(alpha=alpha*n), LogisticRegression(C=1/(alpha*n)), SGDRegressor/SGDClassifier(alpha).
Each contender's training objective is evaluated here in float64 NumPy against f* (a direct
solve: Ridge(solver="cholesky"), or LogisticRegression(lbfgs, tol=1e-12)); for each contender
the loosest tol in TOLS that reaches (f - f*) / |f*| <= 1e-6 is found, and its fit is timed
(best of --repeat).  A contender that never gets there is reported with the gap it reached
and its time at its tightest tol.  fastgd is warmed up first (compilation is not timed).
GridSearchCV over 8 alphas (cv=3) is timed for GDRegressor and Ridge(sag), Ridge(lsqr).
"""
import argparse
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12]
TARGET = 1e-6


def ls_objective(X, y, coef, b, alpha):
    r = X @ np.asarray(coef, np.float64) + b - y
    return 0.5 * (r @ r) / len(y) + 0.5 * alpha * float(np.dot(coef, coef))


def log_objective(X, y, coef, b, alpha):
    z = X @ np.asarray(coef, np.float64).ravel() + b
    s = 2.0 * y - 1.0
    m = -s * z
    return float(np.mean(np.maximum(m, 0) + np.log1p(np.exp(-np.abs(m))))) + \
        0.5 * alpha * float(np.dot(np.ravel(coef), np.ravel(coef)))


def warm(est, X, y):
    """Compile fastgd's kernels for this estimator (not timed)."""
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[:100], y[:100])


def best_time(fit, repeat):
    out, best = None, np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fit()
        best = min(best, time.perf_counter() - t)
    return out, best


def to_target(name, make, objective, fstar, repeat, tols=TOLS):
    """The loosest tol reaching TARGET, timed; or the tightest tol's gap and time."""
    from sklearn.exceptions import ConvergenceWarning
    gap = np.inf
    for tol in tols:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = make(tol).fit(*DATA)
            gap = (objective(est) - fstar) / abs(fstar)
            if gap <= TARGET or tol == tols[-1]:
                est, t = best_time(lambda: make(tol).fit(*DATA), repeat)
                gap = (objective(est) - fstar) / abs(fstar)
                return dict(name=name, tol=tol, time=t, gap=gap, reached=gap <= TARGET)
    return None


DATA = None


def ridge_case(n, d, repeat):
    global DATA
    from sklearn.linear_model import Ridge, SGDRegressor

    from fastgd.sklearn import GDRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) @ np.diag(np.linspace(0.5, 2.0, d))
    X = (X - X.mean(0)) / X.std(0)
    y = X @ rng.standard_normal(d) + 3.0 + rng.standard_normal(n)
    alpha = 1e-3
    DATA = (X, y)
    ref = Ridge(alpha=alpha * n, solver="cholesky").fit(X, y)
    fstar = ls_objective(X, y, ref.coef_, ref.intercept_, alpha)

    def obj(e):
        return ls_objective(X, y, e.coef_, np.ravel(e.intercept_)[0] if np.ndim(
            e.intercept_) else e.intercept_, alpha)
    warm(GDRegressor(alpha=alpha, max_iter=5), X, y)
    rows = [to_target("fastgd GDRegressor (gd, lr=1/L)",
                      lambda tol: GDRegressor(alpha=alpha, tol=tol, max_iter=100000),
                      obj, fstar, repeat),
            to_target("Ridge(solver='sag')", lambda tol: Ridge(alpha=alpha * n, solver="sag",
                                                               tol=tol, max_iter=100000),
                      obj, fstar, repeat),
            to_target("Ridge(solver='lsqr')", lambda tol: Ridge(alpha=alpha * n, solver="lsqr",
                                                                tol=tol), obj, fstar, repeat),
            to_target("Ridge(solver='cholesky') (direct)",
                      lambda tol: Ridge(alpha=alpha * n, solver="cholesky"), obj, fstar, repeat,
                      tols=[0.0]),
            to_target("SGDRegressor", lambda tol: SGDRegressor(alpha=alpha, tol=tol,
                                                               max_iter=1000, random_state=0),
                      obj, fstar, repeat, tols=[1e-3, 1e-5, 1e-7])]
    return f"Ridge: n={n}, d={d}, float64, alpha={alpha} (Ridge alpha={alpha * n:g})", rows


def logistic_case(n, d, repeat):
    global DATA
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from fastgd.sklearn import GDClassifier
    X, y = make_classification(n, d, n_informative=d // 2, flip_y=0.1, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    alpha = 1e-3
    DATA = (X, y)
    kw = dict(C=1.0 / (alpha * n))
    ref = LogisticRegression(tol=1e-12, max_iter=100000, **kw).fit(X, y)
    fstar = log_objective(X, y, ref.coef_, ref.intercept_[0], alpha)

    def obj(e):
        return log_objective(X, y, e.coef_, float(np.ravel(e.intercept_)[0]), alpha)
    warm(GDClassifier(alpha=alpha, max_iter=5), X, y)
    rows = [to_target("fastgd GDClassifier (gd, lr=1/L)",
                      lambda tol: GDClassifier(alpha=alpha, tol=tol, max_iter=100000),
                      obj, fstar, repeat),
            to_target("LogisticRegression(lbfgs)",
                      lambda tol: LogisticRegression(tol=tol, max_iter=100000, **kw),
                      obj, fstar, repeat),
            to_target("SGDClassifier(log_loss)",
                      lambda tol: SGDClassifier(loss="log_loss", alpha=alpha, tol=tol,
                                                max_iter=1000, random_state=0),
                      obj, fstar, repeat, tols=[1e-3, 1e-5, 1e-7])]
    return (f"Logistic: n={n}, d={d}, float64, alpha={alpha} (C={1 / (alpha * n):g}), "
            f"with an intercept"), rows


def multi_target_case(n, d, repeat, T=8):
    """y (n, T): GDRegressor's one shared-X call against Ridge's multi-target solvers."""
    global DATA
    from sklearn.linear_model import Ridge

    from fastgd.sklearn import GDRegressor
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d) + 1.0
    Y = X @ rng.standard_normal((d, T)) + rng.standard_normal((n, T))
    alpha = 1e-3
    DATA = (X, Y)
    ref = Ridge(alpha=alpha * n, solver="cholesky").fit(X, Y)

    def obj(e):
        return sum(ls_objective(X, Y[:, t], e.coef_[t], e.intercept_[t], alpha)
                   for t in range(T))
    fstar = obj(ref)
    warm(GDRegressor(alpha=alpha, max_iter=5), X, Y)
    rows = [to_target("fastgd GDRegressor (one shared-X call)",
                      lambda tol: GDRegressor(alpha=alpha, tol=tol, max_iter=100000),
                      obj, fstar, repeat)]
    for solver in ("sag", "lsqr", "cholesky"):
        tols = [0.0] if solver == "cholesky" else TOLS
        rows.append(to_target(f"Ridge(solver='{solver}')",
                              lambda tol, s=solver: Ridge(alpha=alpha * n, solver=s, tol=tol,
                                                          max_iter=100000),
                              obj, fstar, repeat, tols=tols))
    return f"Ridge, {T} targets over one X: n={n}, d={d}, float64, alpha={alpha}", rows


def grid_case(n, d, repeat):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from fastgd.sklearn import GDRegressor
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    alphas = np.geomspace(1e-4, 1.0, 8)
    m = n * 2 // 3   # training rows per fold (cv=3)
    rows = []
    for name, est, grid in [
            ("fastgd GDRegressor (tol=1e-6)", GDRegressor(tol=1e-6, max_iter=100000),
             {"alpha": alphas}),
            ("Ridge(solver='sag')", Ridge(solver="sag", max_iter=100000),
             {"alpha": alphas * m}),
            ("Ridge(solver='lsqr')", Ridge(solver="lsqr"), {"alpha": alphas * m}),
            ("Ridge(solver='cholesky')", Ridge(solver="cholesky"), {"alpha": alphas * m})]:
        g, t = best_time(lambda: GridSearchCV(est, grid, cv=3).fit(X, y), repeat)
        rows.append(dict(name=name, time=t, best=g.best_score_))
    return f"GridSearchCV over 8 alphas, cv=3: n={n}, d={d}", rows


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = [ln.split(":", 1)[1].strip() for ln in out.splitlines()
                 if ln.startswith("Model name")]
        cpus = [ln.split(":", 1)[1].strip() for ln in out.splitlines()
                if ln.startswith("CPU(s)")]
        return f"{model[0] if model else platform.processor()}, {cpus[0] if cpus else '?'} CPUs"
    except OSError:
        return platform.processor()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    import numba
    import sklearn
    sizes = dict(ridge=(20000, 20), logistic=(5000, 20), grid=(5000, 20), multi=(5000, 20)) \
        if args.quick else dict(ridge=(200000, 50), logistic=(100000, 50), grid=(50000, 50),
                                multi=(100000, 50))
    repeat = 1 if args.quick else args.repeat
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; Python "
          f"{sys.version.split()[0]}, NumPy {np.__version__}, Numba {numba.__version__}, "
          f"scikit-learn {sklearn.__version__}")
    for case in (ridge_case, logistic_case, multi_target_case):
        title, rows = case(*sizes[case.__name__.split("_")[0]], repeat)
        print(f"\n### {title}\n\n| estimator | tol | time (s) | (f - f*)/f* | reached 1e-6 |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['name']} | {r['tol']:g} | {r['time']:.3f} | {r['gap']:.1e} | "
                  f"{'yes' if r['reached'] else 'no'} |")
    title, rows = grid_case(*sizes["grid"], repeat)
    print(f"\n### {title}\n\n| estimator | time (s) | best CV R^2 |\n|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['time']:.3f} | {r['best']:.5f} |")


if __name__ == "__main__":
    main()
