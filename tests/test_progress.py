"""minimize(progress=...): a display between chunks, identical results."""
import io

import numpy as np
import pytest

import fastgd
import fastgd.progress as progress_mod


def _batch(rng, B=40, n=30, d=4):
    X = rng.standard_normal((B, n, d))
    y = rng.standard_normal((B, n))
    return fastgd.LeastSquares(X, y)


@pytest.mark.parametrize("kind", ["plain", True])
def test_progress_same_result_and_shows_counts(rng, capsys, kind):
    p = _batch(rng)
    ref = fastgd.minimize(p, lr="auto", gtol=1e-9, max_iter=3000, history=1)
    res = fastgd.minimize(p, lr="auto", gtol=1e-9, max_iter=3000, history=1, progress=kind)
    # chunked runs resume exactly: bitwise the same iterates, statuses and histories
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res.nit, ref.nit)
    np.testing.assert_array_equal(res.status, ref.status)
    np.testing.assert_array_equal(res.history, ref.history)
    err = capsys.readouterr().err
    assert f"converged {int(ref.success.sum())}/40" in err
    assert "best loss" in err
    assert f"{ref.fun.min():.4g}" in err


def test_plain_progress_lines_without_tqdm(rng, monkeypatch, capsys):
    monkeypatch.setattr(progress_mod, "tqdm", None)
    p = _batch(rng, B=6)
    lr = np.full(6, 0.05)
    lr[0] = 100.0  # diverges
    fastgd.minimize(p, lr=lr, gtol=0.0, max_iter=400, progress=True)
    lines = [s for s in capsys.readouterr().err.splitlines() if s.startswith("fastgd:")]
    assert 1 <= len(lines) <= fastgd.config.PROGRESS_MAX_CHUNKS + 1
    assert lines[-1].startswith("fastgd: iteration 400/400")
    assert "diverged 1" in lines[-1] and "converged 0/6" in lines[-1]


@pytest.mark.parametrize("overhead, per_iter", [(1e-4, 1e-3), (0.05, 1e-5), (2.0, 1e-2)])
def test_chunks_keep_reentry_overhead_near_one_percent(monkeypatch, overhead, per_iter):
    """Simulated clock: a chunk of k iterations costs overhead + k * per_iter seconds."""
    clock = [0.0]
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: clock[0])
    max_iter = 200_000
    bar = progress_mod.Progress(max_iter, 3, "plain", file=io.StringIO(), interval=0.5)
    stops = [0]
    total = 0.0
    while stops[-1] < max_iter:
        nxt = bar.next_stop(stops[-1])
        cost = overhead + (nxt - stops[-1]) * per_iter
        clock[0] += cost
        total += cost
        stops.append(nxt)
    sizes = np.diff(stops)
    assert stops[-1] == max_iter
    assert sizes[0] == int(np.ceil(max_iter / 64)) and sizes[1] == 0  # warm-up, probe
    work = max_iter * per_iter
    # one chunk without re-entry would cost overhead + work; chunking adds about 1%
    # (plus the probe and the two fixed-size chunks before the measurement)
    extra = total - (overhead + work)
    assert extra <= 0.01 * work + 3 * overhead + 1e-12, (sizes, extra / work)
    # updates about every 0.5 s, unless the minimum chunk or the overhead bound is longer
    longest = max(0.5, sizes[0] * per_iter, overhead / 0.01)
    assert (sizes[3:-1] * per_iter <= longest * 1.001).all(), sizes


def test_progress_rejects_bad_value(rng):
    with pytest.raises(ValueError, match="progress"):
        fastgd.minimize(_batch(rng, B=2), progress="fancy", max_iter=3)
