"""A scalar row function applied to whole arrays, for float64 checks (not for solving).

Used by ``Problem.loss_grad64`` (and so by ``fastgd.check_grad``): one compiled loop per
row function.  Not cached on disk: a user's RowLoss function cannot be.
"""
import numpy as np

_ROW_LOOPS = {}


def _row_loop(row_terms):
    """A compiled loop applying a scalar row_terms to whole arrays (one per row function)."""
    fn = _ROW_LOOPS.get(row_terms)
    if fn is None:
        from numba import njit

        def loop(code, z, y, param, phi, r):
            one = 1.0  # z, y are float64 here
            for i in range(z.shape[0]):
                phi[i], r[i] = row_terms(code, z[i], y[i], one, param)
        fn = _ROW_LOOPS[row_terms] = njit(loop)
    return fn


def row_values(row_terms, code, z, y, param):
    """(phi, phi') arrays over the rows z (n,), y (n,) float64, from a compiled row_terms."""
    phi = np.empty_like(z)
    r = np.empty_like(z)
    _row_loop(row_terms)(code, z, y, param, phi, r)
    return phi, r
