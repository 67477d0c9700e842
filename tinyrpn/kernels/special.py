"""The error function, erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, elementwise.

NumPy has no erf, but Python's ``math.erf`` does (to the last bit of a double), and so
does Numba inside a compiled loop. The loop applies it to every element; the twin is the
same call through ``np.vectorize`` (for arrays on a GPU, on a copy brought to the host).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from .. import backend
from ._common import JIT, contiguous, float_dtype, use_numba


@njit(**JIT)
def _erf_loop(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = math.erf(np.float64(x[i]))  # in double, as the twin; then rounded


def erf_twin(x: Any) -> Any:
    """erf through ``math.erf``, one element at a time (the reference for the kernel)."""
    host = backend.to_numpy(x)
    out = np.vectorize(math.erf, otypes=[host.dtype])(host) if host.size else host.copy()
    return backend.to_device(out.reshape(host.shape), backend.device_of(x))


def erf(x: Any) -> Any:
    """erf(x) elementwise for a float32 or float64 array; the result has x's dtype."""
    dtype = float_dtype("erf", x)
    if not use_numba(x):
        return erf_twin(x)
    flat = contiguous(x, dtype).reshape(-1)
    out = np.empty_like(flat)
    _erf_loop(flat, out)
    return out.reshape(x.shape)
