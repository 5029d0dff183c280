"""Slow, obvious NumPy float64 references.  Never call fastgd from here."""
import numpy as np


def lstsq_loss_grad(X, y, w, l2=0.0):
    X, y, w = (np.asarray(a, np.float64) for a in (X, y, w))
    r = X @ w - y
    n = X.shape[0]
    return r @ r / (2 * n) + l2 / 2 * w @ w, X.T @ r / n + l2 * w


def logistic_loss_grad(X, y, w, l2=0.0):
    X, y, w = (np.asarray(a, np.float64) for a in (X, y, w))
    z = X @ w
    s = 2 * y - 1
    loss = np.logaddexp(0.0, -s * z).mean() + l2 / 2 * w @ w
    sig = 0.5 * (1 + np.tanh(z / 2))
    return loss, X.T @ (sig - y) / X.shape[0] + l2 * w


def ridge_solution(X, y, l2):
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + l2 * np.eye(d), X.T @ y / n)


def lipschitz(X, curvature=1.0, l2=0.0):
    X = np.asarray(X, np.float64)
    return curvature * np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1] + l2


def gd_run(grad, w0, lr, steps, method="gd", momentum=0.9, betas=(0.9, 0.999), eps=1e-8):
    """`steps` updates of the torch.optim formulas (SGD momentum/nesterov, Adam), float64."""
    w = np.array(w0, np.float64)
    buf = m = v = None
    for t in range(1, steps + 1):
        g = grad(w)
        if method == "gd":
            w = w - lr * g
        elif method in ("momentum", "nesterov"):
            buf = g.copy() if buf is None else momentum * buf + g
            w = w - lr * (g + momentum * buf if method == "nesterov" else buf)
        elif method == "adam":
            b1, b2 = betas
            m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g
            v = (1 - b2) * g * g if v is None else b2 * v + (1 - b2) * g * g
            mhat = m / (1 - b1 ** t)
            vhat = v / (1 - b2 ** t)
            w = w - lr * mhat / (np.sqrt(vhat) + eps)
    return w


def softmax_loss_grad(X, y, W, l2=0.0):
    """Multinomial logistic loss mean_i [logsumexp(x_i W) - (x_i W)_{y_i}] + l2/2 |W|^2
    and its gradient (d, k), float64 (scipy.special.logsumexp-style, shifted by the max)."""
    X, W = np.asarray(X, np.float64), np.asarray(W, np.float64)
    y = np.asarray(y).astype(np.int64)
    Z = X @ W
    m = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - m)
    s = E.sum(axis=1, keepdims=True)
    rows = np.arange(X.shape[0])
    f = (m[:, 0] + np.log(s[:, 0]) - Z[rows, y]).mean() + l2 / 2 * (W * W).sum()
    P = E / s
    P[rows, y] -= 1.0
    return f, X.T @ P / X.shape[0] + l2 * W


def gd_stopping(loss_grad, w0, lr, max_iter, gtol=0.0, xtol=0.0, ftol=0.0):
    """Plain GD w <- w - lr g with the contract's stopping rules, float64: returns
    (w, nit, status name).  gtol: |g| <= gtol before an update; xtol: |step| <= xtol;
    ftol: |f_new - f| <= ftol max(1, |f|); else MAX_ITER after max_iter updates."""
    w = np.array(w0, np.float64)
    f, g = loss_grad(w)
    for t in range(max_iter + 1):
        if gtol > 0 and np.linalg.norm(g) <= gtol:
            return w, t, "GTOL"
        if t == max_iter:
            return w, t, "MAX_ITER"
        w_new = w - lr * g
        f_new, g_new = loss_grad(w_new)
        step = np.linalg.norm(w_new - w)
        df = abs(f_new - f)
        scale = max(1.0, abs(f))
        w, f, g = w_new, f_new, g_new
        if xtol > 0 and step <= xtol:
            return w, t + 1, "XTOL"
        if ftol > 0 and df <= ftol * scale:
            return w, t + 1, "FTOL"


def torch_run(grad, w0, steps, make_opt):
    """`steps` updates of a torch.optim optimizer (made by make_opt([param])) fed with the
    NumPy float64 gradient grad(w): the iterate, float64."""
    import torch
    p = torch.tensor(np.array(w0, np.float64), requires_grad=True)
    opt = make_opt([p])
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(grad(p.detach().numpy().copy()))
        opt.step()
    return p.detach().numpy().copy()


C1 = 1e-4            # the Armijo constant of the contract
ROUNDING = 16 * np.finfo(np.float64).eps


def _decrease(f_new, f_ref, alpha, slope, f):
    return np.isfinite(f_new) and f_new <= f_ref - C1 * alpha * slope + ROUNDING * abs(f)


def armijo_growth_run(loss_grad, w0, lr, max_iter, gtol=0.0, grow_after=10):
    """GD with Armijo backtracking (halving) whose first trial is the last accepted step,
    or 2 x it (never above lr) after `patience` updates in a row accepted at their first
    trial (the count restarts after a backtrack or a growth).  patience starts at
    grow_after and doubles at every backtrack that follows a growth (the growing trial
    itself included): (w, nit, accepted steps)."""
    w = np.array(w0, np.float64)
    f, g = loss_grad(w)
    step, steps, clean, patience, grown_since = lr, [], 0, grow_after, False
    for t in range(max_iter):
        if gtol > 0 and np.linalg.norm(g) <= gtol:
            return w, t, steps
        grow = clean >= patience
        alpha = min(2 * step, lr) if grow else step
        backtracked = False
        while True:
            w_new = w - alpha * g
            f_new, g_new = loss_grad(w_new)
            if _decrease(f_new, f, alpha, g @ g, f):
                break
            alpha /= 2
            backtracked = True
        if backtracked:
            if grown_since or grow:
                patience *= 2
            clean, grown_since = 0, False
        elif grow:
            clean, grown_since = 0, True
        else:
            clean += 1
        step = alpha
        steps.append(alpha)
        w, f, g = w_new, f_new, g_new
    return w, max_iter, steps


def nesterov_restart_run(loss_grad, w0, lr, steps, momentum=0.9):
    """torch SGD(nesterov=True) updates, with the momentum buffer reset to zero after an
    update whose loss went up (O'Donoghue & Candes' function restart): (w, restarts)."""
    w = np.array(w0, np.float64)
    f, g = loss_grad(w)
    buf = None
    restarts = 0
    for _ in range(steps):
        buf = g.copy() if buf is None else momentum * buf + g
        w_new = w - lr * (g + momentum * buf)
        f_new, g_new = loss_grad(w_new)
        if f_new > f:
            buf = np.zeros_like(w)
            restarts += 1
        w, f, g = w_new, f_new, g_new
    return w, restarts


def bb_run(loss_grad, w0, lr, max_iter, gtol=0.0, eta=0.85, step_range=1e10):
    """Barzilai-Borwein GD (step s.s / s.y, first step lr, clipped to [lr / R, lr R], the
    last accepted step when s.y <= 0) with Zhang & Hager's non-monotone Armijo test
    (reference C, weight Q, eta) and halving: returns (w, nit, steps)."""
    w = np.array(w0, np.float64)
    f, g = loss_grad(w)
    C, Q, step, steps = f, 1.0, lr, []
    for t in range(max_iter):
        if gtol > 0 and np.linalg.norm(g) <= gtol:
            return w, t, steps
        alpha = step
        while True:
            w_new = w - alpha * g
            f_new, g_new = loss_grad(w_new)
            if _decrease(f_new, C, alpha, g @ g, f):
                break
            alpha /= 2
        s, yv = w_new - w, g_new - g
        sy = s @ yv
        step = min(max(s @ s / sy, lr / step_range), lr * step_range) if sy > 0 else alpha
        steps.append(alpha)
        Q_new = eta * Q + 1
        C = (eta * Q * C + f_new) / Q_new
        Q = Q_new
        w, f, g = w_new, f_new, g_new
    return w, max_iter, steps
