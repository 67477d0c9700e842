"""What every op does before its Function runs: operands made Tensors of one dtype.

- :func:`to_operand` / :func:`binary_operands`: numbers become tensors and dtypes are
  promoted as PyTorch does (bool < integer < floating; a number never widens a tensor).
- :func:`same_dtype`: the refusal, for the ops that do not promote (matmul, conv, norms).
- :func:`_normalize_dims` / :func:`_reduced_dims`: a ``dim`` argument checked and made
  a tuple of non-negative axes.
- :func:`_binary`: both operands, checked to broadcast, with an error that names the op.
- :func:`_float_input`: an operand made floating (integer tensors become float32).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.creation import as_tensor
from tinyrpn.errors import ArgumentError, DTypeError
from tinyrpn.tensor import Tensor, _new_tensor

# Type promotion follows PyTorch's three categories: bool < integer < floating.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}
_DEFAULT_DTYPE = {0: np.dtype(np.bool_), 1: np.dtype(np.int64), 2: np.dtype(np.float32)}


def _xp(array: Any) -> Any:
    """The array module (numpy or cupy) of ``array``."""
    if type(array) is np.ndarray:
        return np
    return backend.get_array_module(array)


def _scalar_category(value: Any) -> int | None:
    """The promotion category of a Python or NumPy number; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    if isinstance(value, (float, np.floating)):
        return 2
    return None


def to_operand(value: Any, like: Tensor | None = None) -> Tensor:
    """A Tensor for an operand: Tensors pass through; numbers take ``like``'s dtype.

    Type promotion follows PyTorch: a Python number never widens a tensor's dtype within
    its category (float32 tensor * 2.5 stays float32), and one of a higher category gives
    that category's default (int tensor * 2.5 is float32; bool tensor + 2 is int64).
    """
    if isinstance(value, Tensor):
        return value
    if like is not None:
        category = _scalar_category(value)
        if category is not None:
            dtype = like.data.dtype
            if category > _CATEGORY.get(dtype.kind, 2):
                dtype = _DEFAULT_DTYPE[category]
            return _new_tensor(_xp(like.data).asarray(value, dtype=dtype))
    return as_tensor(value)


def _promoted_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """PyTorch's result dtype for two tensors of different dtypes.

    The higher category wins outright (int64 tensor + float32 tensor -> float32, not
    NumPy's float64). Within one category, a tensor with dims decides over a 0-d one
    (float32 matrix + float64 scalar tensor -> float32); otherwise the wider type wins.
    """
    ca, cb = _CATEGORY.get(a.dtype.kind, 2), _CATEGORY.get(b.dtype.kind, 2)
    if ca != cb:
        return a.dtype if ca > cb else b.dtype
    if a.ndim and not b.ndim:
        return a.dtype
    if b.ndim and not a.ndim:
        return b.dtype
    return np.promote_types(a.dtype, b.dtype)


def same_dtype(op: str, **operands: Tensor | None) -> None:
    """Refuse operands of different dtypes, as PyTorch does for the ops that do not
    promote: matrix products (matmul, einsum, linear), convolutions and normalizations."""
    given = [(name, t) for name, t in operands.items() if t is not None]
    first_name, first = given[0]
    for name, t in given[1:]:
        if t.dtype != first.dtype:
            raise DTypeError(
                f"{op}: {first_name} has dtype {first.dtype} but {name} has dtype {t.dtype}. "
                f"{op} does not mix dtypes (as in PyTorch, matrix products, convolutions and "
                "normalizations need one dtype; elementwise ops and losses promote). Convert "
                "one side first, e.g. x.float() or model.double()."
            )


def binary_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of one dtype (numbers converted, dtypes promoted)."""
    if isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = to_operand(b, a)
    else:
        b = to_operand(b)
        a = to_operand(a, b)
    if a.data.dtype != b.data.dtype:
        dtype = _promoted_dtype(a, b)
        a = a if a.dtype == dtype else a.to(dtype=dtype)
        b = b if b.dtype == dtype else b.to(dtype=dtype)
    return a, b


def _normalize_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """``dim`` (None, an int, or a sequence) as a tuple of distinct non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    rank = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"dimensions must be integers, got {d!r} in {dim!r}")
        if not -rank <= d < rank:
            raise IndexError(
                f"dimension {d} is out of range for a tensor with {ndim} dims "
                f"(valid: {-rank} to {rank - 1})"
            )
        out.append(int(d) % rank)
    if len(set(out)) != len(out):
        raise ArgumentError(f"dimension {dim!r} names the same axis more than once")
    if ndim == 0:
        return ()
    return tuple(out)


def _reduced_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """The axes a reduction runs over: as PyTorch, an empty tuple means all of them."""
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return None
    return _normalize_dims(dim, ndim)


def _shapes_error(op: str, a: Tensor, b: Tensor) -> ArgumentError:
    return ArgumentError(
        f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together (trailing "
        "dimensions must be equal or 1)"
    )


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    """Raise a readable error (naming the op) when two shapes do not broadcast."""
    sa, sb = a.data.shape, b.data.shape
    if sa == sb or not sa or not sb:
        return  # the common cases: equal shapes, or a scalar operand
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise _shapes_error(op, a, b) from None


def _binary(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor]:
    a, b = binary_operands(a, b)
    _broadcast_check(op, a, b)
    return a, b


def _float_input(a: Any) -> Tensor:
    """``a`` as a floating tensor (integer tensors become float32, as in PyTorch)."""
    a = a if isinstance(a, Tensor) else to_operand(a)
    if a.data.dtype.kind != "f":
        a = a.to(dtype=np.float32)
    return a
