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


# the float32-data variants: float32 precision (relative error < 1e-8) is their contract
def test_exp_neg_single_to_float32_precision(rng):
    from fastgd.cpu.fastexp import exp_neg_single
    a = np.concatenate([rng.uniform(0, 50, 20000), np.geomspace(1e-30, 700, 5000), [0.0]])
    out = np.full_like(a, np.nan)
    _apply(exp_neg_single, a, out)
    ref = np.exp(-a)
    np.testing.assert_allclose(out, ref, rtol=1e-8, atol=0)
    big = np.full(2, np.nan)
    _apply(exp_neg_single, np.array([1e4, np.inf]), big)
    assert np.isfinite(big).all() and (big >= 0).all() and (big < 1e-300).all()


def test_log1p_unit_single_to_float32_precision(rng):
    from fastgd.losses import log1p_unit_single
    e = np.concatenate([rng.uniform(0, 1, 20000), np.geomspace(1e-300, 1, 5000), [0.0, 1.0]])
    out = np.array([log1p_unit_single(v) for v in e])
    np.testing.assert_allclose(out, np.log1p(e), rtol=1e-8, atol=1e-320)


def test_logistic_terms_single_against_float64(rng):
    """phi = log(1 + exp(-m)) and phi' = sigmoid(z) - y, to 1e-8 of the float64 formulas
    (scipy-free: log1p/exp in NumPy float64), over the margins float32 data produce."""
    from fastgd.cpu.math import losses
    terms = losses.logistic_terms_single
    z = np.concatenate([rng.normal(0, 5, 5000), rng.uniform(-80, 80, 2000), [0.0, -0.0]])
    y = (rng.random(z.size) < 0.5).astype(np.float64)

    @njit
    def both(z, y, phi, dphi):
        for i in range(z.shape[0]):
            phi[i], dphi[i] = terms(z[i], y[i], 1.0)

    phi = np.full_like(z, np.nan)
    dphi = np.full_like(z, np.nan)
    both(z, y, phi, dphi)
    m = (2 * y - 1) * z
    ref_phi = np.maximum(-m, 0) + np.log1p(np.exp(-np.abs(m)))
    ref_dphi = 1.0 / (1.0 + np.exp(-z)) - y
    np.testing.assert_allclose(phi, ref_phi, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(dphi, ref_dphi, rtol=1e-8, atol=1e-15)  # sigmoid - y cancels


def test_exp_any_within_two_ulp(rng):
    from fastgd.cpu.fastexp import exp_any
    x = np.concatenate([rng.uniform(-50, 50, 20000), np.linspace(-708, 709.7, 5000),
                        -np.geomspace(1e-300, 708, 2000), np.geomspace(1e-300, 709.7, 2000),
                        [0.0, -0.0]])
    out = np.full_like(x, np.nan)
    _apply(exp_any, x, out)
    ref = np.exp(x)
    assert (np.abs(out - ref) <= 2 * np.spacing(ref)).all()


def test_exp_any_edges():
    from fastgd.cpu.fastexp import exp_any
    x = np.array([709.8, 1e4, np.inf, -709.0, -1e4, -np.inf, np.nan])
    out = np.full_like(x, -1.0)
    _apply(exp_any, x, out)
    assert np.isposinf(out[:3]).all()  # overflow stays inf: Poisson's divergence test sees it
    assert ((out[3:6] >= 0) & (out[3:6] < 1e-300)).all()
    assert np.isnan(out[6])
