"""The decisions of one iteration (fastgd/decisions.py), and every driver taking them.

The functions are plain Python: here they run as Python, checked against the rules of
the contract written out by hand.  The drivers (CPU row and Gram, Softmax, GPU in
tests/gpu_cases.py, Dask rows in tests/test_dask.py) are checked on the cases where
they once disagreed.
"""
import numpy as np
import pytest

import fastgd
from fastgd import Status, contract as C, decisions as D
from reference import gd_stopping, softmax_loss_grad


def test_trial_outcome_each_branch():
    lim = 100.0
    # (armijo, halvings, f_new, f, alpha, slope, rounding, limit, ww, gsq_new) -> outcome
    assert D.trial_outcome(False, 0, 1.0, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0) == C.ACCEPT
    assert D.trial_outcome(False, 0, 1.0, 2.0, 0.1, 1.0, 0.0, lim, 1.0, np.inf) == C.DIVERGED
    assert D.trial_outcome(False, 0, 1.0, 2.0, 0.1, 1.0, 0.0, lim, np.nan, 1.0) == C.DIVERGED
    assert D.trial_outcome(False, 0, 101.0, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0) == C.DIVERGED
    assert D.trial_outcome(False, 0, np.nan, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0) == C.DIVERGED
    # Armijo: f_new <= f - 1e-4 alpha slope + rounding
    assert D.trial_outcome(True, 0, 2.0 - 1e-5, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0) == C.ACCEPT
    assert D.trial_outcome(True, 0, 2.0, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0) == C.BACKTRACK
    assert D.trial_outcome(True, 0, 2.0, 2.0, 0.1, 1.0, 1e-3, lim, 1.0, 1.0) == C.ACCEPT
    assert D.trial_outcome(True, 5, np.nan, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0) == C.BACKTRACK
    assert (D.trial_outcome(True, C.ARMIJO_MAX_HALVINGS, 3.0, 2.0, 0.1, 1.0, 0.0, lim, 1.0, 1.0)
            == C.LINE_SEARCH_FAILED)
    # a decrease accepted by Armijo can still be a non-finite gradient: DIVERGED
    assert D.trial_outcome(True, 0, 1.0, 2.0, 0.1, 1.0, 0.0, lim, 1.0, np.inf) == C.DIVERGED


def test_stopping_tests_in_the_contract_order():
    # before an update: gtol (squared comparison), then max_iter, then the chunk's end
    assert D.before_update(1e-12, 1e-6, 5, 10, 10, 1.0, 1.0) == C.GTOL
    assert D.before_update(1e-12, 0.0, 5, 10, 10, 1.0, 1.0) == C.RUNNING      # gtol 0 is off
    assert D.before_update(1.0, 1e-6, 10, 10, 10, 1.0, 1.0) == C.MAX_ITER
    assert D.before_update(1e-12, 1e-6, 10, 10, 10, 1.0, 1.0) == C.GTOL  # gtol wins at max_iter
    assert D.before_update(1.0, 1e-6, 4, 10, 4, 1.0, 1.0) == C.PAUSE
    assert D.before_update(1.0, 1e-6, 3, 10, 4, 1.0, 1.0) == C.RUNNING
    # after an accepted update: xtol on |step| (given squared), then ftol relative
    assert D.after_accept(0.99e-8, 1e-4, 1.0, 2.0, 0.0) == C.XTOL
    assert D.after_accept(1.01e-8, 1e-4, 1.0, 2.0, 0.0) == C.RUNNING
    assert D.after_accept(1.0, 0.0, 10.0, 10.0 + 1e-5, 1e-6) == C.FTOL    # 1e-5 <= 1e-6 * 10
    assert D.after_accept(1.0, 0.0, 10.0, 10.0 + 2e-5, 1e-6) == C.RUNNING
    assert D.after_accept(1.0, 0.0, 0.1, 0.1 + 0.9e-6, 1e-6) == C.FTOL    # scale max(1, |f|)
    assert D.start_status(1.0, np.inf) == C.DIVERGED and D.start_status(1.0, 1.0) == C.RUNNING


def test_max_iter_far_above_the_start_is_diverged():
    # (gsq, gtol, t, max_iter, stop_at, f, f0): at max_iter, a loss above f0 + 1e3 |f0|
    assert D.before_update(1.0, 1e-6, 10, 10, 10, 1000.9, 1.0) == C.MAX_ITER
    assert D.before_update(1.0, 1e-6, 10, 10, 10, 1001.1, 1.0) == C.DIVERGED
    assert D.before_update(1.0, 1e-6, 10, 10, 10, -1.0 + 999.0, -1.0) == C.MAX_ITER  # f0 < 0
    assert D.before_update(1.0, 1e-6, 9, 10, 10, 1e6, 1.0) == C.RUNNING  # only at the end
    assert D.end_limit(2.0) == pytest.approx(2.0 + 2e3)


def test_step_size_decisions():
    # Armijo's first trial: after ARMIJO_GROW_AFTER clean accepts, twice the last accepted
    # step, never above the initial lr; else the last accepted step
    k = C.ARMIJO_GROW_AFTER
    assert D.trial_lr(True, C.GD, 0.25, 1.0, k, k) == 0.5
    assert D.trial_lr(True, C.GD, 0.25, 1.0, k - 1, k) == 0.25
    assert D.trial_lr(True, C.GD, 0.75, 1.0, k, k) == 1.0
    assert D.trial_lr(False, C.GD, 0.25, 1.0, k, k) == 0.25
    assert D.trial_lr(True, C.BB, 7.0, 1.0, k, k) == 7.0      # bb's step is its own
    # (streak, patience, grown, halvings) -> (streak, patience, grown)
    assert D.next_growth(3, k, False, 0) == (4, k, False)      # a first-trial success
    assert D.next_growth(3, k, False, 2) == (0, k, False)      # a backtrack, no growth before
    assert D.next_growth(k, k, False, 0) == (0, k, True)       # a growth that held
    assert D.next_growth(4, k, True, 1) == (0, 2 * k, False)   # a backtrack after a growth
    assert D.next_growth(k, k, False, 1) == (0, 2 * k, False)  # a growth that backtracked
    assert D.next_growth(0, C.ARMIJO_MAX_PATIENCE, True, 1)[1] == C.ARMIJO_MAX_PATIENCE
    # after acceptance
    assert D.next_lr(True, C.ADAM, 0.2, 2.0, 1.0, 1.0, 1.0, 1.0) == 0.1   # alpha / scale
    assert D.next_lr(False, C.GD, 0.2, 1.0, 0.3, 1.0, 1.0, 1.0) == 0.3
    assert D.next_lr(False, C.BB, 0.2, 1.0, 0.2, 1.0, 4.0, 2.0) == 2.0    # s.s / s.y
    assert D.next_lr(False, C.BB, 0.2, 1.0, 0.2, 1.0, 4.0, 0.0) == 0.2    # s.y <= 0: last
    assert D.next_lr(False, C.BB, 0.2, 1.0, 0.2, 1.0, 4.0, -1.0) == 0.2
    assert D.next_lr(False, C.BB, 0.2, 1.0, 0.2, 1.0, 0.0, 0.0) == 0.2
    assert D.bb_step(1.0, 1e-30, 0.5, 1.0) == C.BB_STEP_RANGE             # clipped
    assert D.bb_step(1e-30, 1.0, 0.5, 1.0) == 1 / C.BB_STEP_RANGE
    assert D.bb_step(np.inf, 1.0, 0.5, 1.0) == 0.5
    # bb always tests its trials, against the non-monotone reference
    assert D.line_search_on(False, C.BB) and not D.line_search_on(False, C.NESTEROV)
    assert D.acceptance_reference(C.BB, 1.0, 3.0) == 3.0
    assert D.acceptance_reference(C.GD, 1.0, 3.0) == 1.0
    c, q = D.nonmonotone_reference(4.0, 1.0, 1.0)      # Q' = 1.85, C' = (0.85 * 4 + 1) / 1.85
    assert q == pytest.approx(1.85) and c == pytest.approx(4.4 / 1.85)
    # adaptive restart: only when asked and the loss went up
    assert D.restarts(True, 2.0, 1.0) and not D.restarts(True, 1.0, 1.0)
    assert not D.restarts(False, 2.0, 1.0)


def test_auto_lr_divergence_limit_and_history_rule():
    assert D.auto_lr(0.25, 8.0, 1.0) == pytest.approx(1 / 3)
    assert D.auto_lr(1.0, 0.0, 0.0) == 1.0
    assert D.diverge_limit(2.0) == pytest.approx(2.0 + 2e10)
    assert D.diverge_limit(0.0) == pytest.approx(1e-20)
    assert D.lr_is_auto(C.LR_AUTO) and not D.lr_is_auto(1e-9)
    h = np.full((5, 2), np.nan)           # history=3, max_iter=12: rows at 0, 3, 6, 9, 12
    for t, f in enumerate([5.0, 4.0, 3.0, 2.5]):
        D.record_history(h, 1, t, 3, f, False)
    D.record_history(h, 1, 4, 3, 2.0, True)  # stopped at iterate 4: rows 2.. repeat 2.0
    np.testing.assert_array_equal(h[:, 1], [5.0, 2.5, 2.0, 2.0, 2.0])
    assert np.isnan(h[:, 0]).all()


def _softmax_data(rng, B=3, n=40, d=3, k=3):
    X = rng.standard_normal((B, n, d))
    y = rng.integers(0, k, (B, n)).astype(np.float64)
    return X, y


@pytest.mark.parametrize("opts,want", [(dict(gtol=1e-3), Status.GTOL),
                                       (dict(gtol=0.0, xtol=1e-5), Status.XTOL),
                                       (dict(gtol=0.0, ftol=1e-8), Status.FTOL),
                                       (dict(gtol=0.0), Status.MAX_ITER)])
def test_softmax_stopping_rules_match_a_numpy_loop(rng, opts, want):
    X, y = _softmax_data(rng)
    res = fastgd.minimize(fastgd.Softmax(X, y, 3), lr=0.5, max_iter=400, **opts)
    for b in range(3):
        lg = lambda w: tuple(a.reshape(-1) if i else a for i, a in  # noqa: E731
                             enumerate(softmax_loss_grad(X[b], y[b], w.reshape(3, 3))))
        w, nit, status = gd_stopping(lg, np.zeros(9), 0.5, 400, **opts)
        assert status == want.name and res.status[b] == want and res.nit[b] == nit
        np.testing.assert_allclose(res.x[b].reshape(-1), w, rtol=1e-9, atol=1e-12)


def test_softmax_diverges_and_line_search_fails_like_every_driver(rng, row_blocks):
    X, y = _softmax_data(rng)
    x0 = np.full((3, 3, 3), 0.01)
    res = fastgd.minimize(fastgd.Softmax(X, y, 3), x0=x0, lr=1e300, max_iter=5, gtol=0)
    assert (res.status == Status.DIVERGED).all() and (res.nit == 0).all()
    np.testing.assert_array_equal(res.x, x0)           # the last finite iterate: x0
    res = fastgd.minimize(fastgd.Softmax(X, y, 3), lr=1e300, line_search="armijo",
                          max_iter=5, gtol=0)
    assert (res.status == Status.LINE_SEARCH_FAILED).all() and (res.nit == 0).all()
    # one large Softmax problem (row blocks) takes the same decisions
    Xl = rng.standard_normal((30000, 3))
    yl = rng.integers(0, 3, 30000).astype(np.float64)
    res = fastgd.minimize(fastgd.Softmax(Xl, yl, 3), lr=1e300, max_iter=5, gtol=0)
    assert res.status == Status.DIVERGED and res.nit == 0 and (res.x == 0).all()


def test_callback_on_a_single_problem_sees_running_results(rng):
    """A Result in progress has status RUNNING and a readable message (issue 14, item 1)."""
    X, y = rng.standard_normal((200, 3)), rng.standard_normal(200)
    seen = []
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.01, max_iter=100, gtol=0.0,
                          callback=lambda r: seen.append((r.nit, r.status, r.message)))
    assert [s[0] for s in seen] == list(range(5, 101, 5))
    assert all(s[1] is Status.RUNNING and "running" in s[2] for s in seen[:-1])
    assert seen[-1][1] is Status.MAX_ITER and res.status is Status.MAX_ITER
    Xb, yb = rng.standard_normal((2, 50, 3)), rng.standard_normal((2, 50))
    msgs = []
    fastgd.minimize(fastgd.LeastSquares(Xb, yb), lr=0.01, max_iter=40, gtol=0.0,
                    callback=lambda r: msgs.append(r.message[0]))
    assert "running" in msgs[0] and "maximum number of iterations" in msgs[-1]


def test_status_prints_as_its_name():
    """README's print(res.status) shows Status.GTOL, not 0 (IntEnum on Python >= 3.11)."""
    assert str(Status.GTOL) == "Status.GTOL" and f"{Status.DIVERGED}" == "Status.DIVERGED"
    assert f"{Status.XTOL:d}" == "1" and Status.FTOL == 2


def test_problem_data_cannot_be_replaced_and_x0_may_not_alias_it(rng):
    """Issue 14, item 4: a problem's arrays are read-only attributes; an inplace x0 that
    shares memory with X or y is refused before anything is written."""
    X, y = rng.standard_normal((20, 20)), rng.standard_normal(20)
    p = fastgd.LeastSquares(X, y)
    for name in ("X", "y", "l2"):
        with pytest.raises(AttributeError):
            setattr(p, name, np.zeros(3))
    before = X.copy(), y.copy()
    for x0 in (X[0], y[:20]):
        with pytest.raises(ValueError, match="share memory"):
            fastgd.minimize(p, x0=x0, inplace=True, lr=0.1, max_iter=5)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(y, before[1])
    res = fastgd.minimize(p, x0=X[0], lr=0.1, max_iter=5)  # not inplace: x0 is only read
    np.testing.assert_array_equal(X, before[0])
    assert res.nit == 5


def test_result_knows_its_history_stride(rng):
    """The plot's x axis is iterations when minimize recorded the history (issue 13, 8)."""
    from fastgd.plot import _every
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.1, max_iter=20, gtol=0, history=5)
    assert res.history_every == 5 and res.history.shape == (5,)
    assert _every(res, None) == (5, "iteration")
    assert "history_every" not in fastgd.minimize(fastgd.LeastSquares(X, y), max_iter=3)


def test_huge_counts_and_masked_arrays_get_clear_errors(rng):
    """Issue 14, items 4 and 6: ValueError/TypeError naming the argument, nothing written."""
    X, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    p = fastgd.LeastSquares(X, y)
    for kw, name in ((dict(max_iter=2 ** 63), "max_iter"), (dict(history=2 ** 64), "history"),
                     (dict(lr=10 ** 400), "lr"), (dict(gtol=10 ** 400), "gtol")):
        with pytest.raises(ValueError, match=name):
            fastgd.minimize(p, **kw)
    with pytest.raises(ValueError, match="n_classes"):
        fastgd.Softmax(X, np.zeros(10), 2 ** 63)
    x0 = np.ma.masked_array(np.array([np.nan, 0.0]), mask=[True, False])
    with pytest.raises(TypeError, match="x0 is a masked array"):
        fastgd.minimize(p, x0=x0)
    with pytest.raises(TypeError, match="X is a masked array"):
        fastgd.ops.lstsq_grad(np.ma.masked_array(X), y, np.zeros(2))


def test_check_grad_and_sweep_refuse_what_they_cannot_do(rng, monkeypatch):
    """Issue 14, item 6: check_grad rejects complex/datetime x; sweep_lr counts its history."""
    X, y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    p = fastgd.LeastSquares(X, y)
    for x in (np.zeros(2, complex), np.zeros(2, "datetime64[s]")):
        with pytest.raises(TypeError, match="x must be a real array"):
            fastgd.check_grad(p, x)
    with pytest.raises(ValueError, match="max_iter"):
        fastgd.sweep_lr(p, [0.1], max_iter=2 ** 63)
    # 2 step sizes x 10001 history rows x 8 bytes = 160 kB of history, data 2 x 240 bytes
    monkeypatch.setattr(fastgd.config, "MAX_SWEEP_BYTES", 100_000)
    with pytest.raises(ValueError, match="histories"):
        fastgd.sweep_lr(p, [0.1, 0.2], max_iter=10_000)
    fastgd.sweep_lr(p, [0.1, 0.2], max_iter=10_000, history=10)  # 16 kB: runs
