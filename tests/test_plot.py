"""fastgd.plot: PNG files of sane size whose pixels are not blank (Agg, no display)."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastgd

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

import fastgd.plot  # noqa: E402


def _check_png(path, min_w=300, min_h=200):
    assert path.exists() and 5_000 < path.stat().st_size < 2_000_000
    img = imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h
    rgb = img[..., :3]
    # not blank: many pixels differ from the background, and several colours are present
    background = rgb[0, 0]
    drawn = np.abs(rgb - background).sum(axis=-1) > 0.1
    assert drawn.mean() > 0.01
    colours = np.unique((rgb.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 20
    return img


def test_history_single_problem(rng, tmp_path):
    X, y = rng.standard_normal((50, 4)), rng.standard_normal(50)
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.05, max_iter=100, gtol=0, history=1)
    fig = fastgd.plot.history(res, path=tmp_path / "h1.png")
    _check_png(tmp_path / "h1.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(101))
    np.testing.assert_allclose(line.get_ydata(), res.history)


def test_history_batch_quantile_band(rng, tmp_path):
    X, y = rng.standard_normal((30, 40, 3)), rng.standard_normal((30, 40))
    res = fastgd.minimize(fastgd.LeastSquares(X, y), lr=0.1, max_iter=60, gtol=0, history=5)
    fig = fastgd.plot.history(res, every=5, path=tmp_path / "hb.png")
    _check_png(tmp_path / "hb.png")
    median = fig.axes[0].get_lines()[0]
    np.testing.assert_array_equal(median.get_xdata(), np.arange(13) * 5)
    np.testing.assert_allclose(median.get_ydata(), np.median(res.history, axis=1))
    fig = fastgd.plot.history(res, every=5, gap=True, path=tmp_path / "hg.png")
    _check_png(tmp_path / "hg.png")
    gap = res.history - res.history.min(axis=0)
    gap[gap <= 0] = np.nan
    with warnings.catch_warnings():  # records where every gap is 0 are all-NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmedian(gap, axis=1)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), want)
    fig = fastgd.plot.history(res, problems=[0, 3], path=tmp_path / "hp.png")
    _check_png(tmp_path / "hp.png")
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), res.history[:, 3])


def test_history_without_history_is_a_clear_error(rng):
    res = fastgd.minimize(fastgd.LeastSquares(rng.standard_normal((10, 2)),
                                              rng.standard_normal(10)), max_iter=3)
    with pytest.raises(ValueError, match="history="):
        fastgd.plot.history(res)


def test_sweep_picture(rng, tmp_path):
    X = rng.standard_normal((60, 5)) * np.geomspace(1, 0.2, 5)
    y = rng.standard_normal(60)
    res = fastgd.sweep_lr(fastgd.LeastSquares(X, y), max_iter=80)
    assert (res.status == fastgd.Status.DIVERGED).any()
    fig = fastgd.plot.sweep(res, res.lr, path=tmp_path / "s.png")
    img = _check_png(tmp_path / "s.png", min_w=800)
    assert len(fig.axes) >= 2
    # the diverged runs are marked in red somewhere on the picture
    red = (img[..., 0] > 0.8) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    assert red.sum() > 20
    # auto lr marked on the final-loss panel
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert any("auto" in s for s in labels)
    with pytest.raises(ValueError, match="lrs"):
        fastgd.plot.sweep(res, res.lr[:-1])


def test_descent_paths_of_an_objective(tmp_path):
    from fastgd import lesson
    obj, res = lesson.solve()
    assert list(res.status) == [fastgd.Status.MAX_ITER, fastgd.Status.GTOL,
                                fastgd.Status.DIVERGED]
    fig = fastgd.plot.path(obj, res, path=tmp_path / "paths.png")
    _check_png(tmp_path / "paths.png")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [lbl.split(": ")[1].split()[0] for lbl in labels] == ["MAX_ITER", "GTOL", "DIVERGED"]
    # the diverged path is dashed and stops where it leaves the picture
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and len(dashed[0].get_xdata()) < res.nit[2]
    # from starting points and step sizes: solved inside, one path per step size
    fig2 = fastgd.plot.path(obj, lesson.START, lrs=[0.01, 0.1])
    assert len(fig2.axes[0].get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="record_x=True"):
        fastgd.plot.path(obj, fastgd.minimize(obj, x0=np.zeros(2), lr=0.1, max_iter=3))
    with pytest.raises(ValueError, match="one step size per start"):
        fastgd.plot.path(obj, np.zeros((3, 2)), lrs=[0.1, 0.2])
    with pytest.raises(TypeError, match="fastgd.Objective"):
        fastgd.plot.path(lesson.bowl, lesson.START, lrs=[0.1])


def test_import_fastgd_does_not_import_matplotlib():
    code = ("import sys, fastgd; assert 'matplotlib' not in sys.modules; "
            "fastgd.sweep_lr; fastgd.plot; assert 'matplotlib' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_missing_matplotlib_gives_clear_import_error(rng, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_mpl(name, *args, **kw):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    res = fastgd.Result(history=np.ones(3))
    with pytest.raises(ImportError, match=r"pip install 'fastgd\[plot\]'"):
        fastgd.plot.history(res)
