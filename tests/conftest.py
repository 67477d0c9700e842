"""Shared fixtures (kept small: every test module loads this file)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

import tinyrpn

# The tree is tested on busy shared machines: a per-example deadline would only make
# hypothesis tests flaky. Individual tests still choose their own max_examples.
settings.register_profile("tinyrpn", deadline=None)
settings.load_profile("tinyrpn")


@pytest.fixture
def seeded() -> np.random.Generator:
    """Reseed tinyrpn's global stream (``tinyrpn.manual_seed(0)``) and hand out a NumPy
    generator seeded the same way, so a test's random inputs are the same on every run."""
    tinyrpn.manual_seed(0)
    return np.random.default_rng(0)
