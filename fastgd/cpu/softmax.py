"""CPU drivers for Softmax (multinomial logistic regression), W flattened to (d*k,).

Same contract as fastgd.cpu.solve: ``solve_batch`` / ``solve_single`` with the
same arguments, resumable state (B, 6) float64 = [lr, nit, status, f0, fun,
grad_norm], the same stopping tests, divergence rule, Armijo search and history.
Only the evaluation differs: per row, k logits z = x_i W (W[j, c] = w[j*k + c]),
then ``losses.softmax_terms``.  k is read from the shapes: k = len(w) // d.
Update rules are shared with solve.py (take_direction, record_history).
"""
import math

import numpy as np
from numba import prange

from ..contract import (
    ARMIJO_C1, ARMIJO_MAX_HALVINGS, DIVERGE_FACTOR, DIVERGED, FTOL, GTOL, HP_CURV, HP_L2,
    HP_LOSS_ROUNDING, HP_NINV, HP_ONE, IP_ARMIJO, IP_HIST_EVERY, IP_MAX_ITER, IP_METHOD,
    IP_STOP_AT, LINE_SEARCH_FAILED, MAX_ITER, POWER_ITERATIONS, RUNNING, TOL_F, TOL_G, TOL_X,
    XTOL,
)
from .._jit import cpu_kernel
from .math import losses, rules
from .solve import record_history, take_direction

softmax_terms = losses.softmax_terms
is_bad = rules.is_bad


# ----------------------------------------------------------------- evaluation
@cpu_kernel
def rows_block(X, y, w, lo, hi, zrow, acc, hp):
    """Sum over rows lo..hi of phi (float64, returned) and of x_i (x) r_i into acc (d*k,)."""
    d = X.shape[1]
    k = zrow.shape[0]
    one = hp[HP_ONE]
    zero = one - one
    for q in range(d * k):
        acc[q] = zero
    f = 0.0
    for i in range(lo, hi):
        for c in range(k):
            zrow[c] = zero
        for j in range(d):
            xij = X[i, j]
            for c in range(k):
                zrow[c] += xij * w[j * k + c]
        f += softmax_terms(zrow, int(y[i]), one)
        for j in range(d):
            xij = X[i, j]
            for c in range(k):
                acc[j * k + c] += xij * zrow[c]
    return f


@cpu_kernel
def finish(acc_f, w, g, hp):
    """g = g * (1/n) + l2 w in place; returns acc_f / n + l2/2 |w|^2."""
    l2 = hp[HP_L2]
    ninv = hp[HP_NINV]
    ww = 0.0
    for q in range(w.shape[0]):
        g[q] = g[q] * ninv + l2 * w[q]
        ww += float(w[q]) * float(w[q])
    return acc_f * float(ninv) + 0.5 * float(l2) * ww


@cpu_kernel(parallel=True)
def rows_parallel(X, y, w, g, zblk, part_g, part_f, hp):
    """The gradient sum of one large X over parallel row blocks into g; returns sum phi."""
    n = X.shape[0]
    nblocks = part_g.shape[0]
    for blk in prange(nblocks):
        lo = blk * n // nblocks
        hi = (blk + 1) * n // nblocks
        part_f[blk] = rows_block(X, y, w, lo, hi, zblk[blk], part_g[blk], hp)
    f = 0.0
    for blk in range(nblocks):
        f += part_f[blk]
    zero = hp[HP_ONE] - hp[HP_ONE]
    for q in range(g.shape[0]):
        s = zero
        for blk in range(nblocks):
            s += part_g[blk, q]
        g[q] = s
    return f


@cpu_kernel
def evaluate(parallel, X, y, w, g, zblk, part_g, part_f, hp):
    """Loss at w (float64) and gradient into g (d*k,)."""
    if parallel:
        f = rows_parallel(X, y, w, g, zblk, part_g, part_f, hp)
    else:
        f = rows_block(X, y, w, 0, X.shape[0], zblk[0], g, hp)
    return finish(f, w, g, hp)


@cpu_kernel
def lambda_max(X, v, u, gv, hp):
    """Largest eigenvalue of X^T X / n by power iteration (v, gv (d,), u (n,) scratch)."""
    n, d = X.shape
    one = hp[HP_ONE]
    for j in range(d):
        v[j] = one + one * (j % 3) / 7
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        nrm = 0.0
        for j in range(d):
            nrm += float(v[j]) * float(v[j])
        nrm = math.sqrt(nrm)
        if nrm == 0.0 or is_bad(nrm):
            return lam
        for j in range(d):
            v[j] = v[j] / nrm
            gv[j] = one - one
        for i in range(n):
            s = one - one
            for j in range(d):
                s += X[i, j] * v[j]
            u[i] = s
        for i in range(n):
            for j in range(d):
                gv[j] += X[i, j] * u[i]
        lam = 0.0
        for j in range(d):
            gv[j] = gv[j] * hp[HP_NINV]
            lam += float(v[j]) * float(gv[j])
        for j in range(d):
            v[j] = gv[j]
    return lam


# ------------------------------------------------------------ one problem
@cpu_kernel
def solve_problem(parallel, X, y, zblk, part_g, part_f, u, w, ip, hp, tol, state, col,
                  w_new, g, g_new, s1, s2, p, hist):
    """Run one problem from its saved state up to iteration ip[IP_STOP_AT].

    As fastgd.cpu.solve.solve_problem (same state, tests and order), for w (d*k,).
    """
    method = ip[IP_METHOD]
    max_iter = ip[IP_MAX_ITER]
    stop_at = ip[IP_STOP_AT]
    armijo = ip[IP_ARMIJO] != 0
    hist_every = ip[IP_HIST_EVERY]
    gtol = tol[TOL_G]
    xtol = tol[TOL_X]
    ftol = tol[TOL_F]
    m = w.shape[0]
    d = X.shape[1]
    status = int(state[2])
    if status != RUNNING:
        return
    t = int(state[1])
    lr = state[0]
    if lr <= 0.0:  # "auto": 1 / (curvature * lambda_max(X^T X / n) + l2), curvature 1/2
        lam = lambda_max(X, s1[:d], u, g[:d], hp)
        big_l = float(hp[HP_CURV]) * lam + float(hp[HP_L2])
        lr = 1.0 / big_l if big_l > 0.0 else 1.0
        for j in range(d):
            s1[j] = 0.0
    f = evaluate(parallel, X, y, w, g, zblk, part_g, part_f, hp)
    if t == 0:
        state[3] = f
        record_history(hist, col, 0, hist_every, f, False)
    f0 = state[3]
    limit = f0 + DIVERGE_FACTOR * max(abs(f0), 1e-30)
    gn = 0.0
    for j in range(m):
        gn += float(g[j]) * float(g[j])
    gn = math.sqrt(gn)
    if is_bad(f) or is_bad(gn):
        status = DIVERGED
    while status == RUNNING:
        if gtol > 0.0 and gn <= gtol:
            status = GTOL
            break
        if t >= max_iter:
            status = MAX_ITER
            break
        if t >= stop_at:
            break
        scale = take_direction(method, t, g, s1, s2, p, hp)
        slope = 0.0
        if armijo:
            for j in range(m):
                slope += float(g[j]) * float(p[j])
        alpha = lr * scale
        rounding = float(hp[HP_LOSS_ROUNDING]) * abs(f)
        halvings = 0
        while True:
            for j in range(m):
                w_new[j] = w[j] - alpha * p[j]
            f_new = evaluate(parallel, X, y, w_new, g_new, zblk, part_g, part_f, hp)
            if not armijo:
                break
            if not is_bad(f_new) and f_new <= f - ARMIJO_C1 * alpha * slope + rounding:
                break
            halvings += 1
            if halvings > ARMIJO_MAX_HALVINGS:
                break
            alpha *= 0.5
        if armijo:
            if halvings > ARMIJO_MAX_HALVINGS:
                status = LINE_SEARCH_FAILED
                break
            lr = alpha / scale
        bad = is_bad(f_new) or f_new > limit
        step = 0.0
        gn_new = 0.0
        for j in range(m):
            dj = float(w_new[j]) - float(w[j])
            step += dj * dj
            gn_new += float(g_new[j]) * float(g_new[j])
            if is_bad(w_new[j]):
                bad = True
        if bad or is_bad(gn_new):  # as solve.solve_problem: w stays the last finite iterate
            status = DIVERGED
            break
        step = math.sqrt(step)
        df = abs(f_new - f)
        fscale = max(1.0, abs(f))
        for j in range(m):
            w[j] = w_new[j]
            g[j] = g_new[j]
        gn = math.sqrt(gn_new)
        f = f_new
        t += 1
        record_history(hist, col, t, hist_every, f, False)
        if xtol > 0.0 and step <= xtol:
            status = XTOL
        elif ftol > 0.0 and df <= ftol * fscale:
            status = FTOL
    if status != RUNNING:
        record_history(hist, col, t, hist_every, f, True)
    state[0] = lr
    state[1] = t
    state[2] = status
    state[4] = f
    state[5] = gn


# ------------------------------------------------------------ drivers
@cpu_kernel(parallel=True)
def solve_batch(X, y, W, S1, S2, ip, hp, tol, state, hist, nchunks):
    """Solve B problems X (B, n, d), y (B, n) from W (B, d*k), in place, in `nchunks`
    contiguous chunks of problems (see solve.solve_batch)."""
    B, n, d = X.shape
    m = W.shape[1]
    k = m // d
    for ch in prange(nchunks):
        zblk = np.empty((1, k), X.dtype)
        part_g = np.empty((1, 1), X.dtype)
        part_f = np.empty(1, np.float64)
        u = np.empty(n, X.dtype)
        w_new = np.empty(m, X.dtype)
        g = np.empty(m, X.dtype)
        g_new = np.empty(m, X.dtype)
        p = np.empty(m, X.dtype)
        for b in range(ch * B // nchunks, (ch + 1) * B // nchunks):
            if int(state[b, 2]) != RUNNING:
                continue
            solve_problem(False, X[b], y[b], zblk, part_g, part_f, u, W[b], ip, hp, tol,
                          state[b], b, w_new, g, g_new, S1[b], S2[b], p, hist)


@cpu_kernel
def solve_single(X, y, w, s1, s2, ip, hp, tol, state, hist, nblocks):
    """One large problem X (n, d), w (d*k,): each evaluation parallel over row blocks."""
    n, d = X.shape
    m = w.shape[0]
    k = m // d
    zblk = np.empty((nblocks, k), X.dtype)
    part_g = np.empty((nblocks, m), X.dtype)
    part_f = np.empty(nblocks, np.float64)
    u = np.empty(n, X.dtype)
    w_new = np.empty(m, X.dtype)
    g = np.empty(m, X.dtype)
    g_new = np.empty(m, X.dtype)
    p = np.empty(m, X.dtype)
    solve_problem(True, X, y, zblk, part_g, part_f, u, w, ip, hp, tol, state, 0,
                  w_new, g, g_new, s1, s2, p, hist)
