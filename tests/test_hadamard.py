"""The fast Walsh–Hadamard transform: against the Sylvester matrix, Numba against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from devices import host, on

from tinyrpn import backend
from tinyrpn.kernels import hadamard
from tinyrpn.kernels.hadamard import fwht, fwht_numba, fwht_xp


def sylvester(n: int) -> np.ndarray:
    """H_1 = [1], H_2n = [[H, H], [H, -H]] (built here, independently of the kernel)."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


IMPLEMENTATIONS = [fwht_numba, fwht_xp]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32, 64, 128, 512, 2048, 8192])
def test_matches_sylvester_matrix(impl, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n))
    expected = x @ sylvester(n).T
    np.testing.assert_allclose(impl(x), expected, rtol=1e-12, atol=1e-12 * n)
    np.testing.assert_allclose(impl(x, normalize=True), expected / np.sqrt(n),
                               rtol=1e-12, atol=1e-12 * np.sqrt(n))


@pytest.mark.parametrize("block,bundle", [(4, 2), (8, 4), (16, 16), (64, 8)])
@pytest.mark.parametrize("kernel", ["_fwht_parallel", "_fwht_serial"])
def test_numba_phases_for_every_split(kernel, block, bundle):
    # Small blocks force the second phase (stages across rows) with odd and even stage
    # counts in each phase; every split must give the same H x.
    rng = np.random.default_rng(0)
    for n in (block, 2 * block, 8 * block, 32 * block):
        x = rng.standard_normal((2, n))
        got = getattr(hadamard, kernel)(x, block, bundle)
        np.testing.assert_allclose(got, x @ sylvester(n).T, rtol=1e-12, atol=1e-12 * n)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_numba_agrees_with_numpy_twin_on_long_vectors(dtype, tol):
    # 2^18 is the Fastfood length for the 199,210-parameter network: both phases, parallel.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(1 << 18).astype(dtype)
    a, b = fwht_numba(x), fwht_xp(x)
    assert a.dtype == b.dtype == dtype and a.shape == x.shape
    scale = np.abs(b).max()
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale)
    for shape in ((2, 3, 1 << 12), (4, 1 << 18)):  # serial, then the parallel kernel
        batch = rng.standard_normal(shape).astype(dtype)
        assert (batch.size >= hadamard._PARALLEL_MIN) == (shape[-1] == 1 << 18)
        np.testing.assert_allclose(fwht_numba(batch), fwht_xp(batch), rtol=0,
                                   atol=tol * np.abs(fwht_xp(batch)).max())


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_properties(impl):
    rng = np.random.default_rng(2)
    n = 1024
    x = rng.standard_normal((4, n))
    y = impl(x, normalize=True)
    # Orthonormal: norms kept, and the normalised transform is its own inverse.
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-12)
    np.testing.assert_allclose(impl(y, normalize=True), x, atol=1e-12)
    # H e_0 is all ones; H applied to all ones is n e_0.
    e0 = np.zeros(n)
    e0[0] = 1.0
    np.testing.assert_array_equal(impl(e0), np.ones(n))
    np.testing.assert_array_equal(impl(np.ones(n)), n * e0)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_input_is_not_modified_and_output_is_new(impl):
    x = np.arange(16, dtype=np.float64)
    keep = x.copy()
    y = impl(x)
    np.testing.assert_array_equal(x, keep)
    assert not np.shares_memory(x, y)
    one = np.array([3.0])
    out = impl(one)
    out[0] = 5.0
    assert one[0] == 3.0


def test_strided_input_and_dtype_kept():
    x = np.random.default_rng(3).standard_normal((8, 64)).astype(np.float32)[:, ::2]
    assert not x.flags.c_contiguous
    got = fwht_numba(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, x.astype(np.float64) @ sylvester(32).T, rtol=1e-5,
                               atol=1e-4)


def test_dispatcher_follows_tinyrpn_numba(monkeypatch):
    calls = []
    monkeypatch.setattr(hadamard, "fwht_numba", lambda x, n=False: calls.append("numba") or 1)
    monkeypatch.setattr(hadamard, "fwht_xp", lambda x, n=False: calls.append("xp") or 2)
    x = np.ones(4)
    monkeypatch.setenv("TINYRPN_NUMBA", "1")
    assert fwht(x) == 1
    monkeypatch.setenv("TINYRPN_NUMBA", "0")
    assert fwht(x) == 2
    assert calls == ["numba", "xp"]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="length 12, which is not a power of two; pad .* to 16"):
        fwht(np.zeros((2, 12)))
    with pytest.raises(ValueError, match="at least one axis"):
        fwht(np.float64(1.0))
    with pytest.raises(TypeError, match="fwht: expected float32 or float64"):
        fwht(np.zeros(8, dtype=np.int64))


@pytest.mark.parametrize("n", [1, 2, 64, 2048])
def test_dispatcher_on_every_device_matches_sylvester_matrix(n, device):
    """Device arrays go to the xp twin; its result stays on the device."""
    x = np.random.default_rng(n).standard_normal((3, n))
    expected = x @ sylvester(n).T
    y = fwht(on(device, x))
    assert backend.device_of(y) == device
    np.testing.assert_allclose(host(y), expected, rtol=1e-12, atol=1e-12 * n)
    np.testing.assert_allclose(host(fwht(on(device, x), normalize=True)), expected / np.sqrt(n),
                               rtol=1e-12, atol=1e-12 * np.sqrt(n))
