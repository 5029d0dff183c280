"""The Gram form of one large problem through BLAS (NumPy's matmul), on the host.

``minimize(mode="gram")`` on one large problem iterates on ``A = [X, 1]^T S [X, 1] / n``,
``b = [X, 1]^T S y / n`` and ``c = y^T S y / (2 n)`` (the intercept column and the weights
only when present).  Forming them is n d^2 / 2 multiply-adds: a compiled loop of rank-1
row updates ran at 8% of BLAS's ``X.T @ X`` (RESULTS.md, "Time to a solution"), so BLAS
forms them here, in float64 whatever X's dtype: float64 X without weights in one ``syrk``
(no copy); otherwise over row blocks (config.gram_block_bytes()) copied once, upcast and
scaled by ``sqrt(s)``.  BLAS runs on its own thread pool (``threads=`` does not cap it).
"""
import numpy as np

from .. import config


def gram_blas(X, y, s, inter):
    """(A, b, c): A (dim, dim) and b (dim,) float64, c a float, dim = d + inter.

    X (n, d) float32/float64, y (n,) of X's dtype, s (n,) weights scaled to sum n or (0,)
    for none, inter: the intercept column [X, 1]."""
    n, d = X.shape
    dim = d + 1 if inter else d
    A = np.zeros((dim, dim))
    b = np.zeros(dim)
    weighted = s.size > 0
    if X.dtype == np.float64 and not weighted:
        A[:d, :d] = X.T @ X  # numpy calls syrk for a product with its own transpose
        b[:d] = X.T @ y
        c = float(y @ y)
        if inter:
            A[:d, d] = X.sum(axis=0)
            b[d] = y.sum()
    else:
        c = 0.0
        rows = max(1, config.gram_block_bytes() // (8 * max(d, 1)))
        for lo in range(0, n, rows):
            Xb = np.asarray(X[lo:lo + rows], np.float64)
            yb = np.asarray(y[lo:lo + rows], np.float64)
            if weighted:
                sb = np.asarray(s[lo:lo + rows], np.float64)
                Xr = Xb * np.sqrt(sb)[:, None]
                sy = sb * yb
            else:
                Xr, sb, sy = Xb, None, yb
            A[:d, :d] += Xr.T @ Xr
            b[:d] += Xb.T @ sy
            c += float(sy @ yb)
            if inter:
                A[:d, d] += Xb.sum(axis=0) if sb is None else Xb.T @ sb
                b[d] += sy.sum()
    if inter:
        A[d, :d] = A[:d, d]
        A[d, d] = float(n) if not weighted else float(np.sum(s, dtype=np.float64))
    A /= n
    b /= n
    return A, b, c / (2.0 * n)
