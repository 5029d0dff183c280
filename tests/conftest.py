import os
import tempfile

# A fresh kernel cache per test session: Numba's cache only watches each kernel's
# own file, so a cache from an older checkout could hold stale shared math.
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="fastgd-numba-cache-"))
# The machine's calibrated prefetch distance (fastgd/cpu/calibrate.py) is measured once per
# test session into a temporary file, never into the user's cache directory.
os.environ.setdefault("FASTGD_CALIBRATION_FILE",
                      os.path.join(tempfile.mkdtemp(prefix="fastgd-calibration-"), "cal.json"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _serial_limit_measured():
    """The machine's serial limit (config.serial_max_bytes: fastgd/cpu/calibrate.py) measured
    once at the start of the session, not inside whichever test first needs it: its synthetic
    arrays (up to 64 MiB) would count in the tests that bound a solve's allocations."""
    import fastgd
    fastgd.config.serial_max_bytes()


@pytest.fixture
def rng(request):
    """A seeded generator, different per test (seeded from the test's name)."""
    seed = sum(map(ord, request.node.name)) * 7919
    return np.random.default_rng(seed)


@pytest.fixture
def row_blocks(monkeypatch):
    """One large CPU problem runs the parallel row-block drivers however well its data
    fits the cache (config.SERIAL_MAX_BYTES = 0): for tests of those drivers on small data,
    which would otherwise run serially in the batched driver (fastgd.plan.is_large)."""
    import fastgd
    monkeypatch.setattr(fastgd.config, "SERIAL_MAX_BYTES", 0)


@pytest.fixture(params=["rows", "serial"])
def single_driver(request, monkeypatch):
    """Both CPU drivers of one large problem: "rows" (the parallel row blocks) and "serial"
    (the batched driver with B=1, which a problem within the cache runs)."""
    import fastgd
    limit = 0 if request.param == "rows" else 1 << 62
    monkeypatch.setattr(fastgd.config, "SERIAL_MAX_BYTES", limit)
    return request.param
