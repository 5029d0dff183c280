"""The CPU's vectorisable exp(-a) and the arithmetic log1p against NumPy float64."""
import numpy as np
from numba import njit

from fastgd.cpu.fastexp import exp_neg
from fastgd.losses import log1p_unit


@njit
def _apply(f, a, out):
    for i in range(a.shape[0]):
        out[i] = f(a[i])


def test_exp_neg_within_two_ulp(rng):
    a = np.concatenate([rng.uniform(0, 50, 20000), np.geomspace(1e-300, 700, 5000), [0.0]])
    out = np.full_like(a, np.nan)
    _apply(exp_neg, a, out)
    ref = np.exp(-a)
    assert (np.abs(out - ref) <= 2 * np.spacing(ref)).all()


def test_exp_neg_underflow_is_tiny_not_nan():
    out = np.full(3, np.nan)
    _apply(exp_neg, np.array([708.0, 1e4, np.inf]), out)
    assert np.isfinite(out).all() and (out >= 0).all() and (out < 1e-300).all()


def test_log1p_unit_within_two_ulp(rng):
    e = np.concatenate([rng.uniform(0, 1, 20000), np.geomspace(1e-300, 1, 5000), [0.0, 1.0]])
    out = np.array([log1p_unit(v) for v in e])
    ref = np.log1p(e)
    assert (np.abs(out - ref) <= 2 * np.spacing(ref) + 1e-320).all()
