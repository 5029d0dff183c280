import os
import tempfile

# A fresh kernel cache per test session: Numba's cache only watches each kernel's
# own file, so a cache from an older checkout could hold stale shared math.
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="fastgd-numba-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng(request):
    """A seeded generator, different per test (seeded from the test's name)."""
    seed = sum(map(ord, request.node.name)) * 7919
    return np.random.default_rng(seed)
