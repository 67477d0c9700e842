"""Gather along one dim and its gradient (scatter-add), for ``tinyrpn.gather``.

With the gathered dim moved last and the other dims flattened into rows, a (R, n) and
index (R, k):

    out[r, j]          = a[r, index[r, j]]
    grad_a[r, index[r, j]] += grad_out[r, j]          (grad_a starts at zero)

The ``xp`` twin is NumPy's fancy indexing and ``add.at`` (cupyx's scatter_add on a GPU);
the Numba loops do the same in one pass each. NumPy's general fancy-index machinery costs
about 50 ns an element here, which the loop avoids (see benchmarks/ops.py, "gather").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from .. import backend
from ..backend import get_array_module
from ._common import JIT, contiguous, float_dtype, use_numba


def _rows(array: Any, dim: int) -> Any:
    """``array`` with ``dim`` moved last and the other dims merged: (R, size along dim)."""
    xp = get_array_module(array)
    moved = xp.moveaxis(array, dim, -1)
    return moved.reshape(int(np.prod(moved.shape[:-1])), moved.shape[-1])


def _moved(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """``shape`` with ``dim`` moved last."""
    return tuple(shape[:dim]) + tuple(shape[dim + 1:]) + (shape[dim],)


def _along(dim: int, index: Any) -> tuple[Any, ...]:
    """The fancy index reading index's positions along ``dim`` and every other dim at the
    element's own coordinate (what take_along_axis does, usable with add.at)."""
    xp = get_array_module(index)
    grids = xp.indices(index.shape, sparse=True)
    return tuple(index if axis == dim else grids[axis] for axis in range(index.ndim))


def gather_forward_xp(a: Any, index: Any, dim: int) -> Any:
    """The twin of ``gather_forward``."""
    return a[_along(dim, index)]


def gather_backward_xp(grad_out: Any, index: Any, dim: int, shape: tuple[int, ...]) -> Any:
    """The twin of ``gather_backward``."""
    grad = get_array_module(grad_out).zeros(shape, dtype=grad_out.dtype)
    backend.scatter_add(grad, _along(dim, index), grad_out)
    return grad


@njit(**JIT)
def _gather_numba(a, index):
    rows, k = index.shape
    out = np.empty((rows, k), dtype=a.dtype)
    for r in range(rows):
        for j in range(k):
            out[r, j] = a[r, index[r, j]]
    return out


@njit(**JIT)
def _scatter_add_numba(grad_out, index, n):
    rows, k = index.shape
    grad = np.zeros((rows, n), dtype=grad_out.dtype)
    for r in range(rows):
        for j in range(k):
            grad[r, index[r, j]] += grad_out[r, j]
    return grad


def gather_forward(a: Any, index: Any, dim: int) -> Any:
    """out = a gathered at ``index`` along ``dim``; a and index have equal shapes except
    along ``dim``, and index's values lie in [0, a.shape[dim])."""
    if not use_numba(a, index) or a.dtype.kind != "f":
        return gather_forward_xp(a, index, dim)
    dtype = float_dtype("gather_forward", a)
    out = _gather_numba(contiguous(_rows(a, dim), dtype),
                        np.ascontiguousarray(_rows(index, dim), dtype=np.int64))
    return np.moveaxis(out.reshape(_moved(index.shape, dim)), -1, dim)


def gather_backward(grad_out: Any, index: Any, dim: int, shape: tuple[int, ...]) -> Any:
    """grad_a of shape ``shape``: zeros with grad_out added at ``index`` along ``dim``."""
    if not use_numba(grad_out, index):
        return gather_backward_xp(grad_out, index, dim, shape)
    dtype = float_dtype("gather_backward", grad_out)
    grad = _scatter_add_numba(contiguous(_rows(grad_out, dim), dtype),
                              np.ascontiguousarray(_rows(index, dim), dtype=np.int64),
                              shape[dim])
    return np.moveaxis(grad.reshape(_moved(shape, dim)), -1, dim)


__all__ = ["gather_forward", "gather_backward"]
