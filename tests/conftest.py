"""Shared fixtures (kept small: every test module loads this file)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import tinyrpn
from tinyrpn import backend

# The tree is tested on busy shared machines: a per-example deadline would only make
# hypothesis tests flaky. Individual tests still choose their own max_examples. The
# ``device`` fixture below is function-scoped on purpose: what it sets up holds for every
# example of a test, so hypothesis need not warn about it.
settings.register_profile("tinyrpn", deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("tinyrpn")


@pytest.fixture
def seeded() -> np.random.Generator:
    """Reseed tinyrpn's global stream (``tinyrpn.manual_seed(0)``) and hand out a NumPy
    generator seeded the same way, so a test's random inputs are the same on every run."""
    tinyrpn.manual_seed(0)
    return np.random.default_rng(0)


_real_gpu: list[bool] = []  # filled on first use: whether CuPy sees a GPU here


def _has_real_gpu() -> bool:
    if not _real_gpu:
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("TINYRPN_CUPY", raising=False)
            _real_gpu.append(backend.cuda_is_available())
    return _real_gpu[0]


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.device)])
def device(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on 'cpu' and once on 'cuda'.

    'cuda' is a real GPU through CuPy where there is one, and otherwise tinyrpn's strict
    CuPy stand-in (``TINYRPN_CUPY=standin``), switched on for this test only: NumPy arrays
    mixed with device arrays, implicit conversions and Numba kernels given device arrays
    fail as they would on a GPU. ``pytest -m device`` runs only the 'cuda' cases.
    """
    if request.param == "cuda":
        _use_cuda(monkeypatch)
    return request.param


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> str:
    """'cuda' only (a GPU, else the stand-in), for tests that compare it with the cpu
    themselves; mark them ``@pytest.mark.device``."""
    _use_cuda(monkeypatch)
    return "cuda"


def _use_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    if not _has_real_gpu():
        monkeypatch.setenv("TINYRPN_CUPY", "standin")
        monkeypatch.setattr(backend, "_standin_announced", True)  # tests need no warning
