"""The CuPy stand-in (tinyrpn.cupy_standin): it computes like NumPy, refuses what CuPy
refuses, and backend hands it out for device 'cuda' when TINYRPN_CUPY=standin."""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest

import tinyrpn
from tinyrpn import backend
from tinyrpn import cupy_standin as cp


@pytest.fixture
def a() -> cp.ndarray:
    return cp.asarray(np.arange(6.0).reshape(2, 3))


def test_arithmetic_ufuncs_and_functions_stay_on_the_device(a):
    b = (a * 2 + 1) @ a.T
    assert type(b) is cp.ndarray and type(np.exp(a)) is cp.ndarray
    assert type(cp.exp(a)) is cp.ndarray and type(np.concatenate([a, a])) is cp.ndarray
    np.testing.assert_array_equal(b.get(), (np.arange(6.0).reshape(2, 3) * 2 + 1)
                                  @ np.arange(6.0).reshape(2, 3).T)
    # reductions and scalar indexing give 0-d device arrays, as CuPy's do
    assert type(a.sum()) is cp.ndarray and a.sum().shape == () and float(a.sum()) == 15.0
    assert type(a[1, 2]) is cp.ndarray and a[1, 2].item() == 5.0
    element = a[1, 2]  # a 0-d view, as in CuPy: it follows writes into the array
    a[1, 2] = -1.0
    assert float(element) == -1.0 and float(a[1][2]) == -1.0
    # Python and NumPy scalars mix in, keeping NumPy's promotion rules
    assert (a.astype(np.float32) * np.float32(2)).dtype == np.float32
    assert (a.astype(np.float32) * 2.0).dtype == np.float32


def test_numpy_arrays_are_refused_as_cupy_refuses_them(a):
    host = np.ones(3)
    for mix in (lambda: a + host, lambda: host + a, lambda: a * np.asarray(2.0),
                lambda: cp.exp(host), lambda: cp.concatenate([a, host[None]]),
                lambda: np.maximum(a, host), lambda: cp.maximum(a, 1.0, out=host)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    with pytest.raises(TypeError, match="host ndarray into a device array"):
        a[0] = host
    with pytest.raises(TypeError, match="host ndarray into a device array"):
        a[[0, 1], 0] = np.asarray(2.0)  # advanced indexing takes no host array at all
    a[0, :] = np.asarray(7.0)  # but a plain slice is filled with a 0-d one, as in CuPy
    assert (a[0].get() == 7.0).all()
    for implicit in (np.asarray, np.ascontiguousarray, lambda x: np.array(x, np.float32)):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            implicit(a)
    with pytest.raises(TypeError, match="expected a device array"):
        cp.ascontiguousarray(host)


def test_numba_kernels_refuse_device_arrays(a):
    @numba.njit
    def total(x):
        return x.sum()

    assert total(np.ones(3)) == 3.0
    with pytest.raises(numba.core.errors.TypingError):
        total(a)


def test_explicit_moves_indexing_and_scatter_add(a):
    host = np.arange(6.0).reshape(2, 3)
    assert type(a.get()) is np.ndarray and type(cp.asnumpy(a)) is np.ndarray
    np.testing.assert_array_equal(cp.asnumpy(a), host)
    assert cp.asnumpy(host) is host  # a host array passes through, as in CuPy
    # host index arrays and lists are allowed (CuPy copies them over)
    np.testing.assert_array_equal(a[np.array([1, 0]), [2, 0]].get(), host[[1, 0], [2, 0]])
    a[a > 3] = -1.0
    assert (a.get() == np.where(host > 3, -1.0, host)).all()
    counts = cp.zeros(3)
    cp.add.at(counts, cp.asarray([0, 0, 2]), 1.0)
    np.add.at(counts, np.array([1]), 5.0)
    np.testing.assert_array_equal(counts.get(), [2.0, 5.0, 1.0])
    a += 1  # in place, through out=
    assert float(a[0, 0]) == 1.0
    assert cp.get_array_module(a) is cp and cp.get_array_module(host) is np


def test_a_device_array_has_no_host_buffer_behind_data(a):
    with pytest.raises(AttributeError, match="memory pointer"):
        a.data  # noqa: B018


def test_backend_hands_out_the_standin_and_warns_once(monkeypatch):
    monkeypatch.setenv("TINYRPN_CUPY", "standin")
    for name in ("_cupy", "_cupy_error", "_cupy_choice"):  # as in a fresh process, and
        monkeypatch.setattr(backend, name, None)            # put back afterwards
    monkeypatch.setattr(backend, "_standin_announced", False)
    with pytest.warns(backend.StandinWarning, match="CuPy stand-in"):
        assert backend.cuda_is_available()
    assert issubclass(backend.StandinWarning, tinyrpn.TinyrpnWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second time: no warning
        t = tinyrpn.ones(2, 3).to("cuda")
    assert t.device == "cuda" and type(t.data) is cp.ndarray
    assert backend.xp_for("cuda") is cp and backend.get_array_module(t.data) is cp
    assert type(backend.to_numpy(t.data)) is np.ndarray
    monkeypatch.setenv("TINYRPN_CUPY", "nonsense")
    with pytest.raises(RuntimeError, match="TINYRPN_CUPY='nonsense' is not understood"):
        backend.xp_for("cuda")


def test_without_the_variable_cuda_is_real_cupy_or_unavailable(monkeypatch):
    monkeypatch.delenv("TINYRPN_CUPY", raising=False)
    try:
        xp = backend.xp_for("cuda")
    except RuntimeError as e:
        assert "device 'cuda' is not available" in str(e)
    else:
        assert xp.__name__ == "cupy"


def test_the_device_fixture_puts_cuda_tensors_on_a_gpu_or_the_standin(device):
    t = tinyrpn.ones(2, 3, device=device)
    if device == "cpu":
        assert type(t.data) is np.ndarray
    else:
        assert t.device == "cuda" and type(t.data) is not np.ndarray
        assert type(t.data).__module__.split(".")[0] in ("tinyrpn", "cupy")
