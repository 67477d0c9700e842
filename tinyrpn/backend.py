"""Which array module holds the numbers: NumPy on the CPU, CuPy on a GPU.

This is the only module in tinyrpn that imports CuPy, and it does so lazily, the first
time a GPU is asked for. Everything above it asks ``get_array_module(array)`` (``xp``)
and writes code that works on either.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

_cupy: ModuleType | None = None
_cupy_error: str | None = None

DEVICES = ("cpu", "cuda")


def _import_cupy() -> ModuleType:
    """Import CuPy once, or raise an error that says why a GPU is not available."""
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy  # the one place tinyrpn imports cupy

            if cupy.cuda.runtime.getDeviceCount() < 1:
                _cupy_error = "CuPy is installed but it sees no CUDA device."
            else:
                _cupy = cupy
        except ImportError:
            _cupy_error = (
                "CuPy is not installed. Install the GPU extra (pip install 'tinyrpn[gpu]') "
                "on a machine with an NVIDIA GPU, or use device='cpu'."
            )
        except Exception as exc:  # a CUDA driver error, for example
            _cupy_error = f"CuPy could not reach a GPU: {exc}"
    if _cupy is None:
        raise RuntimeError(f"device 'cuda' is not available: {_cupy_error}")
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        _import_cupy()
    except RuntimeError:
        return False
    return True


def normalize_device(device: Any) -> str:
    """Turn 'cpu', 'cuda', 'cuda:0' (or None, meaning cpu) into 'cpu' or 'cuda'."""
    if device is None:
        return "cpu"
    name = str(device).lower()
    if name.startswith("cuda"):
        return "cuda"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"unknown device {device!r}; valid devices are 'cpu' and 'cuda'")


def get_array_module(*arrays: Any) -> ModuleType:
    """The array module (numpy or cupy) that owns these arrays; numpy for plain values."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_of(array: Any) -> str:
    """'cuda' for a CuPy array, 'cpu' otherwise."""
    return "cuda" if get_array_module(array) is not np else "cpu"


def xp_for(device: str) -> ModuleType:
    """The array module that holds arrays on ``device``."""
    return _import_cupy() if normalize_device(device) == "cuda" else np


def to_device(array: Any, device: str) -> Any:
    """Copy ``array`` onto ``device`` (no copy when it is already there)."""
    device = normalize_device(device)
    if device == "cuda":
        cp = _import_cupy()
        return cp.asarray(array)
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy array with the same values, wherever ``array`` lives."""
    return to_device(array, "cpu")


def numba_enabled() -> bool:
    """Whether the Numba kernels are used; ``TINYRPN_NUMBA=0`` switches them off."""
    return os.environ.get("TINYRPN_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` in place, adding up repeated indices (``np.add.at``)."""
    if isinstance(target, np.ndarray):
        np.add.at(target, index, values)
    else:
        import cupyx  # only reached with a CuPy array, so CuPy is installed

        cupyx.scatter_add(target, index, values)


# ----------------------------------------------------------------------------- big scratch arrays

#: Arrays smaller than this are left to NumPy's allocator, which serves them cheaply.
REUSE_MIN_BYTES = 16 * 1024 * 1024


class ArrayCache:
    """Large NumPy arrays kept after use and handed out again once nothing refers to them.

    Asking the operating system for fresh pages costs more than filling them, for big
    arrays: glibc serves every allocation over 32 MB with a new ``mmap``, so each new
    64 × 615,440 Taylor expansion (157 MB) pays about 38,000 page faults and the zeroing of
    its pages, about 40 ms here, several times what computing it takes. PyTorch avoids this
    with a caching allocator; tinyrpn does the same for the few arrays that are that big.

    ``empty(name, shape, dtype)`` returns the array it handed out last time under this
    name if it has that shape and dtype and nothing else holds a reference to it any more
    (no Tensor, no view, no saved input of a pending backward: its reference count says
    so); otherwise a new array, which it keeps instead. So it holds at most one array per
    name. Contents are garbage, as with ``np.empty``. Arrays under ``REUSE_MIN_BYTES`` are
    not cached. One cache per process; not meant to be shared by threads.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) * dtype.itemsize < REUSE_MIN_BYTES:
            return np.empty(shape, dtype)
        array = self._arrays.get(name)
        # 3 references when it is free: the dict's, ``array`` here, getrefcount's argument
        if (array is not None and array.shape == shape and array.dtype == dtype
                and sys.getrefcount(array) <= 3):
            return array
        array = np.empty(shape, dtype)
        self._arrays[name] = array
        return array

    def clear(self) -> None:
        """Forget every kept array (memory held only by the cache is freed)."""
        self._arrays.clear()


#: The process-wide cache used by the kernels and ops that produce very large arrays.
array_cache = ArrayCache()
