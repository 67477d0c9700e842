"""The functions that make tensors: ``tensor``, ``as_tensor``, ``zeros``, ``ones``,
``full``, ``arange``, ``eye``, the random ``randn``/``rand`` and the ``*_like`` forms.

As in PyTorch: Python floats become float32 and Python ints int64; a size may be given
as ``zeros(2, 3)`` or ``zeros((2, 3))``; ``device='cuda'`` puts the result on the GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn import random as _random
from tinyrpn.dtypes import as_dtype
from tinyrpn.errors import ArgumentError
from tinyrpn.tensor import Tensor, _new_tensor, _python_value_to_array, _to_array


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Python floats become float32 and Python ints int64 (as in PyTorch); arrays keep their
    dtype unless ``dtype`` is given.
    """
    t = Tensor._wrap(_to_array(data, dtype, device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, without copying when it already is one (or a matching array)."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == as_dtype(dtype) else data.to(dtype=dtype)
    if isinstance(data, np.ndarray) or backend.get_array_module(data) is not np:
        return Tensor._wrap(data if dtype is None else data.astype(as_dtype(dtype), copy=False))
    return Tensor._wrap(_python_value_to_array(data, dtype))


def _shape_arg(shape: Sequence[Any], where: str) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``; every size a non-negative integer."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    sizes = []
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ArgumentError(f"{where}: sizes must be non-negative integers, got {tuple(shape)}")
        sizes.append(int(s))
    return tuple(sizes)


def _float_dtype(dtype: Any) -> np.dtype:
    return np.dtype(np.float32) if dtype is None else as_dtype(dtype)


def _leaf(array: Any, requires_grad: bool, device: str | None) -> Tensor:
    """A new leaf tensor around ``array`` (moved to ``device`` when one is given)."""
    if device is not None:
        array = backend.to_device(array, device)
    t = _new_tensor(array)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: str | None = None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))`` (float32 unless ``dtype``)."""
    return _leaf(np.zeros(_shape_arg(size, "zeros"), _float_dtype(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))`` (float32 unless ``dtype``)."""
    return _leaf(np.ones(_shape_arg(size, "ones"), _float_dtype(dtype)), requires_grad, device)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: str | None = None, generator: np.random.Generator | None = None) -> Tensor:
    """Samples of N(0, 1) from tinyrpn's global stream (see ``manual_seed``), or from
    ``generator``. Drawn in float64 on the CPU, then cast, so every dtype and device sees
    the same numbers for the same seed."""
    rng = generator if generator is not None else _random.default_generator()
    array = rng.standard_normal(_shape_arg(size, "randn")).astype(_float_dtype(dtype))
    return _leaf(array, requires_grad, device)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None, generator: np.random.Generator | None = None) -> Tensor:
    """Samples of U[0, 1) from tinyrpn's global stream (see ``manual_seed``), or from
    ``generator``."""
    rng = generator if generator is not None else _random.default_generator()
    array = rng.random(_shape_arg(size, "rand")).astype(_float_dtype(dtype))
    return _leaf(array, requires_grad, device)


def full(size: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; its dtype follows the value
    (float -> float32, int -> int64, bool -> bool) unless ``dtype`` is given."""
    shape = _shape_arg((size,) if isinstance(size, (int, np.integer)) else tuple(size), "full")
    dtype = as_dtype(dtype) if dtype is not None else _python_value_to_array(fill_value, None).dtype
    return _leaf(np.full(shape, fill_value, dtype=dtype), requires_grad, device)


def _like(t: Tensor, dtype: Any) -> tuple[Any, np.dtype]:
    return t.xp, (as_dtype(dtype) if dtype is not None else t.dtype)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device."""
    xp, dtype = _like(t, dtype)
    return _leaf(xp.zeros(t.shape, dtype=dtype), requires_grad, None)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device."""
    xp, dtype = _like(t, dtype)
    return _leaf(xp.ones(t.shape, dtype=dtype), requires_grad, None)


def full_like(t: Tensor, fill_value: float, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with ``t``'s shape, dtype and device."""
    xp, dtype = _like(t, dtype)
    return _leaf(xp.full(t.shape, fill_value, dtype=dtype), requires_grad, None)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """N(0, 1) samples with ``t``'s shape, dtype and device."""
    return randn(t.shape, dtype=dtype if dtype is not None else t.dtype,
                 requires_grad=requires_grad, device=t.device)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """U[0, 1) samples with ``t``'s shape, dtype and device."""
    return rand(t.shape, dtype=dtype if dtype is not None else t.dtype,
                requires_grad=requires_grad, device=t.device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False, device: str | None = None) -> Tensor:
    """Values from ``start`` (inclusive) to ``end`` (exclusive) in steps of ``step``:
    int64 when all three are integers, else float32 (as PyTorch), unless ``dtype``."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ArgumentError("arange: step must be nonzero")
    whole = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if whole else np.float32
    array = np.arange(start, end, step).astype(as_dtype(dtype))
    return _leaf(array, requires_grad, device)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
        device: str | None = None) -> Tensor:
    """The n x m identity matrix (m = n when not given)."""
    for name, size in (("n", n), ("m", m)):
        if size is not None and size < 0:
            raise ArgumentError(f"eye: {name} must be a non-negative size, got {name}={size}")
    return _leaf(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)
