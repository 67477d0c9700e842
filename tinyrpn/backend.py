"""Which array module holds the numbers: NumPy on the CPU, CuPy on a GPU.

This is the only module in tinyrpn that imports CuPy, and it does so lazily, the first
time a GPU is asked for. Everything above it asks ``get_array_module(array)`` (``xp``)
and writes code that works on either. With ``TINYRPN_CUPY=standin`` in the environment,
``tinyrpn.cupy_standin`` (NumPy behind CuPy's refusals) plays CuPy's part, so that the GPU
path can be tested on any machine.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from tinyrpn.display import TinyrpnWarning

_cupy: ModuleType | None = None  # cupy, or the stand-in, once device 'cuda' was asked for
_cupy_error: str | None = None
_cupy_choice: str | None = None  # the TINYRPN_CUPY value that _cupy/_cupy_error belong to
_standin_announced = False

DEVICES = ("cpu", "cuda")

STANDIN_WARNING = (
    "device 'cuda' runs on tinyrpn's CuPy stand-in (TINYRPN_CUPY=standin): NumPy on the CPU, "
    "with CuPy's refusals, for testing the GPU path; it is not a GPU"
)


def _import_cupy() -> ModuleType:
    """Import CuPy once, or raise an error that says why a GPU is not available.

    With ``TINYRPN_CUPY=standin`` in the environment, the strict NumPy-backed stand-in
    (``tinyrpn.cupy_standin``) takes CuPy's place, and a warning says so once. The variable
    is read on every call, so a test can switch to the stand-in and back.
    """
    global _cupy, _cupy_error, _cupy_choice
    choice = os.environ.get("TINYRPN_CUPY", "").strip().lower()
    if choice != _cupy_choice:
        _cupy, _cupy_error, _cupy_choice = None, None, choice
    if _cupy is not None:
        return _cupy
    if choice == "standin":
        _cupy = _import_standin()
        return _cupy
    if choice not in ("", "cupy"):
        raise RuntimeError(f"TINYRPN_CUPY={choice!r} is not understood; valid values are "
                           "'standin' (the NumPy-backed stand-in) and 'cupy' (or unset)")
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


class StandinWarning(TinyrpnWarning):
    """Device 'cuda' is the CuPy stand-in (NumPy on the CPU), not a GPU."""


def _import_standin() -> ModuleType:
    global _standin_announced
    from tinyrpn import cupy_standin

    if not _standin_announced:
        _standin_announced = True
        warnings.warn(STANDIN_WARNING, StandinWarning, stacklevel=4)
    return cupy_standin


def using_standin() -> bool:
    """True when device 'cuda' is (or would be) the CuPy stand-in."""
    return os.environ.get("TINYRPN_CUPY", "").strip().lower() == "standin"


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


def as_array(values: Any) -> Any:
    """``values`` as an array where they are: a device (CuPy) array stays on its device;
    anything else (a NumPy array, a list) becomes a NumPy array."""
    return values if get_array_module(values) is not np else np.asarray(values)


def numba_enabled() -> bool:
    """Whether the Numba kernels are used; ``TINYRPN_NUMBA=0`` switches them off."""
    return os.environ.get("TINYRPN_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` in place, adding up repeated indices.

    ``target[index] += values`` alone would add a repeated index's values only once; the
    ufunc method ``add.at`` adds every one, in NumPy and in CuPy alike (CuPy 13 deprecated
    its older ``cupyx.scatter_add`` for it).
    """
    get_array_module(target).add.at(target, index, values)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_freed_memory_kept = False


def keep_freed_memory() -> bool:
    """Let this process reuse the memory of freed large arrays instead of returning it.

    glibc serves every allocation over 32 MB with a fresh ``mmap`` and unmaps it on free,
    so each new 157 MB array (the gradient of the identity RPN's 64 × 615,440 first-layer
    matrix, on every step; the Taylor expansion itself where one is built) pays about
    38,000 page faults and the zeroing of its pages: about 40 ms here. Turning ``mmap``
    off for malloc (``M_MMAP_MAX = 0``) and never trimming the heap makes a freed array's
    pages available to the next allocation of any shape, as PyTorch's caching allocator
    does on a GPU. Nothing is kept alive longer than before; the cost is that the process's
    resident memory stays at its high-water mark. The reference identity RPN trained about
    15% faster with it (measured when its layer 1 still built the expansion).

    ``tinyrpn.train.Trainer`` calls this when it starts on the CPU; ``TINYRPN_KEEP_FREED_MEMORY=0``
    switches it off. Returns True when the setting was made (Linux with glibc), else False.
    """
    global _freed_memory_kept
    if _freed_memory_kept:
        return True
    if os.environ.get("TINYRPN_KEEP_FREED_MEMORY", "1").strip().lower() in ("0", "false",
                                                                             "no", "off"):
        return False
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return False
    _freed_memory_kept = bool(mallopt(_M_MMAP_MAX, 0)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _freed_memory_kept
