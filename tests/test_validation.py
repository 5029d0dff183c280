"""Bad input raises a clear error naming the argument, before any buffer is touched."""
import numpy as np
import pytest

import fastgd


def good(rng, B=None, dtype=np.float64):
    shape = (20, 3) if B is None else (B, 20, 3)
    X = rng.standard_normal(shape).astype(dtype)
    y = (rng.uniform(size=shape[:-1]) < 0.5).astype(dtype)
    return X, y


def fortran(a):
    return np.asfortranarray(a)


CTOR_CASES = [
    # (label, make(X, y) -> (X, y), exception, word in message)
    ("X list", lambda X, y: (X.tolist(), y), TypeError, "X"),
    ("X int", lambda X, y: (X.astype(np.int64), y), TypeError, "X"),
    ("X bool", lambda X, y: (X > 0, y), TypeError, "X"),
    ("X complex", lambda X, y: (X.astype(np.complex128), y), TypeError, "X"),
    ("X float16", lambda X, y: (X.astype(np.float16), y), TypeError, "X"),
    ("X 1-d", lambda X, y: (X[:, 0].copy(), y), ValueError, "X"),
    ("X 0-d", lambda X, y: (np.array(1.0), y), ValueError, "X"),
    ("X 4-d", lambda X, y: (X[None, None], y), ValueError, "X"),
    ("n=0", lambda X, y: (X[:0], y[:0]), ValueError, "X"),
    ("d=0", lambda X, y: (X[:, :0], y), ValueError, "X"),
    ("B=0", lambda X, y: (np.zeros((0, 4, 3)), np.zeros((0, 4))), ValueError, "X"),
    ("X NaN", lambda X, y: (np.where(X > 1, np.nan, X), y), ValueError, "X"),
    ("X Inf", lambda X, y: (np.where(X > 1, np.inf, X), y), ValueError, "X"),
    ("y NaN", lambda X, y: (X, np.where(y > 0, np.nan, y)), ValueError, "y"),
    ("X fortran", lambda X, y: (fortran(X), y), ValueError, "X"),
    ("X strided", lambda X, y: (np.repeat(X, 2, axis=1)[:, ::2], y), ValueError, "X"),
    ("y strided", lambda X, y: (X, np.repeat(y, 2)[::2]), ValueError, "y"),
    ("y wrong length", lambda X, y: (X, y[:-1]), ValueError, "y"),
    ("y 2-d", lambda X, y: (X, y[:, None]), ValueError, "y"),
    ("mixed dtypes", lambda X, y: (X, y.astype(np.float32)), TypeError, "y"),
    # integer y (labels, counts) is accepted and converted: tests/test_inputs.py
]


@pytest.mark.parametrize("label,make,exc,word", CTOR_CASES, ids=[c[0] for c in CTOR_CASES])
@pytest.mark.parametrize("problem", [fastgd.LeastSquares, fastgd.Logistic])
def test_problem_constructor_rejects(rng, label, make, exc, word, problem):
    X, y = make(*good(rng))
    with pytest.raises(exc, match=rf"\b{word}\b"):
        problem(X, y)


@pytest.mark.parametrize("label", [0.5, 2.0, -1.0])
def test_logistic_rejects_labels_outside_0_1(rng, label):
    X, y = good(rng)
    y[3] = label
    with pytest.raises(ValueError, match=r"\by\b.*0 and 1"):
        fastgd.Logistic(X, y)


@pytest.mark.parametrize("l2", [-1.0, np.nan, np.inf, "a"])
def test_problem_rejects_bad_l2(rng, l2):
    with pytest.raises((ValueError, TypeError), match="l2"):
        fastgd.LeastSquares(*good(rng), l2=l2)


B = 4
MIN_CASES = [
    ("method", dict(method="sgdx"), ValueError),
    ("method", dict(method=3), ValueError),
    ("lr", dict(lr=0.0), ValueError),
    ("lr", dict(lr=-0.1), ValueError),
    ("lr", dict(lr=np.nan), ValueError),
    ("lr", dict(lr=np.inf), ValueError),
    ("lr", dict(lr="fast"), ValueError),
    ("lr", dict(lr=np.ones(B + 1)), ValueError),
    ("lr", dict(lr=np.array([0.1, np.nan, 0.1, 0.1])), ValueError),
    ("lr", dict(lr=np.array([0.1, -1, 0.1, 0.1])), ValueError),
    ("lr", dict(lr=True), TypeError),
    ("max_iter", dict(max_iter=-1), ValueError),
    ("max_iter", dict(max_iter=2.5), TypeError),
    ("gtol", dict(gtol=-1e-6), ValueError),
    ("xtol", dict(xtol=-1.0), ValueError),
    ("ftol", dict(ftol=np.nan), ValueError),
    ("line_search", dict(line_search="wolfe"), ValueError),
    ("momentum", dict(momentum=-0.5), ValueError),
    ("betas", dict(betas=(0.9, 1.0)), ValueError),
    ("betas", dict(betas=0.9), TypeError),
    ("eps", dict(eps=-1.0), ValueError),
    ("eps", dict(eps="small"), TypeError),
    ("alpha", dict(method="rmsprop", alpha=1.0), ValueError),
    ("alpha", dict(method="rmsprop", alpha=-0.1), ValueError),
    ("alpha", dict(method="rmsprop", alpha="0.9"), TypeError),
    ("restart", dict(method="gd", restart=True), ValueError),
    ("restart", dict(method="momentum", restart=True), ValueError),
    ("restart", dict(method="nesterov", restart=1), TypeError),
    ("method", dict(method="RMSprop"), ValueError),
    ("history", dict(history=-2), ValueError),
    ("mode", dict(mode="fast"), ValueError),
    ("mode", dict(mode="gram"), ValueError),  # logistic has no Gram form
    ("device", dict(device="tpu"), ValueError),
    ("callback", dict(callback=3), TypeError),
    ("x0", dict(x0=np.zeros((B, 2))), ValueError),
    ("x0", dict(x0=np.zeros(3)), ValueError),
    ("x0", dict(x0=np.zeros((B, 3), np.float32)), TypeError),
    ("x0", dict(x0=np.full((B, 3), np.nan)), ValueError),
    ("x0", dict(x0=[[0.0] * 3] * B), TypeError),
    ("x0", dict(inplace=True), ValueError),
    ("x0", dict(x0=np.zeros((3, B)).T, inplace=True), ValueError),
    ("read-only", dict(x0=np.zeros((B, 3)), inplace=True, readonly=True), ValueError),
]


@pytest.mark.parametrize("word,kwargs,exc", MIN_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(MIN_CASES)])
def test_minimize_rejects_before_touching_buffers(rng, word, kwargs, exc):
    X, y = good(rng, B=B)
    prob = fastgd.Logistic(X, y)
    kwargs = dict(kwargs)
    readonly = kwargs.pop("readonly", False)
    x0 = kwargs.get("x0")
    if isinstance(x0, np.ndarray):
        x0[...] = np.nan if np.isnan(x0).any() else 0.75  # poison: must survive unchanged
        if readonly:
            x0.flags.writeable = False
    snap = [a.copy() for a in (X, y) + ((x0,) if isinstance(x0, np.ndarray) else ())]
    with pytest.raises(exc, match=word):
        fastgd.minimize(prob, **kwargs)
    after = [X, y] + ([x0] if isinstance(x0, np.ndarray) else [])
    for a, b in zip(snap, after):
        assert np.array_equal(a, b, equal_nan=True)


def test_unknown_option_is_a_type_error(rng):
    with pytest.raises(TypeError, match="learning_rate"):
        fastgd.minimize(fastgd.LeastSquares(*good(rng)), learning_rate=0.1)


def test_not_a_problem(rng):
    with pytest.raises(TypeError, match="problem"):
        fastgd.minimize(good(rng))


def test_cuda_without_gpu_says_what_is_missing(rng):
    with pytest.raises(RuntimeError, match="cuda|CUDA|GPU"):
        fastgd.minimize(fastgd.LeastSquares(*good(rng)), device="cuda")
