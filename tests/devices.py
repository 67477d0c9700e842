"""Helpers for tests that run on every device (see the ``device`` fixture in conftest.py):
put NumPy inputs on the device under test, and bring results back to compare on the host."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn import Tensor, backend


def on(device: str, *arrays: Any) -> Any:
    """Each NumPy array (or Tensor) moved to ``device``; one value for one argument."""
    moved = tuple(a.to(device) if isinstance(a, Tensor) else backend.to_device(a, device)
                  for a in arrays)
    return moved[0] if len(moved) == 1 else moved


def layout_on(device: str, values: Any, layout: str) -> Any:
    """``values`` on ``device`` in a memory layout: 'contiguous', 'transposed' (Fortran
    order) or 'strided' (every other element of a larger buffer)."""
    values = np.asarray(values)
    xp = backend.xp_for(device)
    if layout == "transposed":
        return xp.asarray(np.array(values, order="F"), order="K")  # kept Fortran-ordered
    if layout == "strided":
        array = xp.zeros(values.shape + (2,), dtype=values.dtype)[..., 0]
        array[...] = xp.asarray(values)
        return array
    return xp.asarray(values.copy())


def host(x: Any) -> Any:
    """NumPy values of a device array, a Tensor, or a tuple/list of them."""
    if isinstance(x, (tuple, list)):
        return type(x)(host(v) for v in x)
    if isinstance(x, Tensor):
        return x.numpy()
    if x is None or isinstance(x, (int, float)):
        return x
    return backend.to_numpy(x)
