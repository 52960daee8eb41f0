"""Shared test settings.

Hypothesis: no deadline (the first call of a Numba kernel compiles), a bounded number of
examples so that the default suite stays fast on 2 cores. ``HYPOTHESIS_PROFILE=thorough``
runs many more examples.
"""

import os

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

from tinyadv.threads import get_num_threads, set_num_threads

matplotlib.use("Agg")

settings.register_profile(
    "default", deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def restore_threads():
    """Gives back tinyadv's thread count after a test that sets it."""
    before = get_num_threads()
    yield
    set_num_threads(before)
