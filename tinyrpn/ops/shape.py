"""Operations that move elements around without changing them: reshape, permute,
indexing, concatenation, rolling, device moves and casts. Their gradients move the
incoming gradient back to where each element came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Function
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.operands import _normalize_dims, _promoted_dtype, _xp
from tinyrpn.tensor import Tensor, _index_to_arrays, _new_tensor


def _sizes(args: Sequence[Any]) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"sizes and dims must be integers, got {tuple(args)}")
    return tuple(int(a) for a in args)


# ----------------------------------------------------------------------------- reshape


class Reshape(Function):
    """out = a with a new shape (same elements, row-major order);  da = d reshaped back."""

    saves_inputs = False
    is_view = True

    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, d: Any) -> Any:
        return d.reshape(self.shape)


def reshape(a: Tensor, *shape: Any) -> Tensor:
    """The same elements in a new shape; one size may be -1 (inferred)."""
    new = _sizes(shape)
    known = math.prod(s for s in new if s != -1)
    inferred = new.count(-1)
    if any(s < -1 for s in new) or inferred > 1 or (inferred == 0 and known != a.numel()) or (
        inferred == 1 and (known == 0 or a.numel() % known)
    ):
        raise ArgumentError(
            f"cannot reshape a tensor of shape {a.shape} ({a.numel()} elements) into "
            f"shape {new}"
        )
    return Reshape.apply(a, shape=new)


def view(a: Tensor, *shape: Any) -> Tensor:
    """``reshape`` that never copies, as PyTorch's ``view``: the result always shares
    ``a``'s memory, so writes through it change ``a``. A non-contiguous tensor (a
    transpose, say) often cannot be viewed in a new shape; that is refused, as in PyTorch,
    rather than silently copied."""
    out = reshape(a, *shape)
    if out.data.size and not _xp(a.data).may_share_memory(out.data, a.data):
        raise ArgumentError(
            f"view: a tensor of shape {a.shape} with strides {_element_strides(a)} cannot "
            f"be viewed as shape {out.shape} without copying (its elements are not laid out "
            "in that order in memory). Use .reshape(...) instead, or .contiguous() first."
        )
    return out


def _element_strides(a: Tensor) -> tuple[int, ...]:
    return tuple(s // a.data.itemsize for s in a.data.strides)


class Contiguous(Function):
    """out = a copied into row-major (C) order;  da = d."""

    saves_inputs = False

    def forward(self, a: Any) -> Any:
        return _xp(a).ascontiguousarray(a)

    def backward(self, d: Any) -> Any:
        return d


def contiguous(a: Tensor) -> Tensor:
    """``a`` itself when its memory is in row-major order, else a row-major copy."""
    if a.data.flags.c_contiguous:
        return a
    return Contiguous.apply(a)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim`` .. ``end_dim`` (inclusive) into one."""
    if a.ndim == 0:
        return reshape(a, 1)
    (start,), (end,) = _normalize_dims(start_dim, a.ndim), _normalize_dims(end_dim, a.ndim)
    if start > end:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = a.shape[:start] + (-1,) + a.shape[end + 1:]
    if 0 in a.shape:
        shape = a.shape[:start] + (int(np.prod(a.shape[start:end + 1])),) + a.shape[end + 1:]
    return Reshape.apply(a, shape=shape)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim`` (negative counts from the new end)."""
    if not -a.ndim - 1 <= dim <= a.ndim:
        raise IndexError(f"unsqueeze: dim {dim} out of range for {a.ndim} dims")
    dim = dim % (a.ndim + 1)
    return Reshape.apply(a, shape=a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim: Any = None) -> Tensor:
    """Remove dims of size 1: all of them, or only those in ``dim`` (an int or a tuple)
    that have size 1; others named in ``dim`` are left alone, as in PyTorch."""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = _normalize_dims(dim, a.ndim)
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1))
    return Reshape.apply(a, shape=shape)


# ----------------------------------------------------------------------------- permute


class Permute(Function):
    """out = a with its axes reordered;  da = d with the inverse order."""

    saves_inputs = False
    is_view = True

    def forward(self, a: Any, dims: tuple[int, ...]) -> Any:
        inverse = [0] * len(dims)
        for position, axis in enumerate(dims):
            inverse[axis] = position
        self.inverse = tuple(inverse)
        return a.transpose(dims)

    def backward(self, d: Any) -> Any:
        return d.transpose(self.inverse)


def permute(a: Tensor, *dims: Any) -> Tensor:
    """Reorder the axes: ``x.permute(0, 2, 1)``."""
    dims = _sizes(dims)
    if sorted(d % max(a.ndim, 1) for d in dims) != list(range(a.ndim)) or any(
        not -a.ndim <= d < a.ndim for d in dims
    ):
        raise ArgumentError(
            f"permute: {dims} is not a permutation of the {a.ndim} dims of {a.shape}")
    return Permute.apply(a, dims=tuple(d % a.ndim for d in dims))


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    if a.ndim == 0:
        _normalize_dims(dim0, 0), _normalize_dims(dim1, 0)  # validates them
        return Permute.apply(a, dims=())
    d0, d1 = (_normalize_dims(dim0, a.ndim)[0], _normalize_dims(dim1, a.ndim)[0])
    order = list(range(a.ndim))
    order[d0], order[d1] = order[d1], order[d0]
    return Permute.apply(a, dims=tuple(order))


# ----------------------------------------------------------------------------- expand


class Expand(Function):
    """out = a broadcast to ``shape`` (no copy);  da = d summed back by the engine."""

    saves_inputs = False
    is_view = True

    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        return _xp(a).broadcast_to(a, shape)

    def backward(self, d: Any) -> Any:
        return d


def expand(a: Tensor, *sizes: Any) -> Tensor:
    """Broadcast size-1 dims to larger sizes (-1 keeps a size), as in PyTorch."""
    sizes = _sizes(sizes)
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise ArgumentError(f"expand: {sizes} has fewer dims than the tensor's shape {a.shape}")
    shape = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    for i, size in enumerate(shape[lead:]):
        if size != a.shape[i] and a.shape[i] != 1:
            raise ArgumentError(
                f"expand: cannot expand shape {a.shape} to {sizes}: dim {i + lead} has size "
                f"{a.shape[i]}, which can only stay {a.shape[i]} (or be given as -1); only "
                "size-1 dims can grow"
            )
    if any(s < 0 for s in shape):
        raise ArgumentError(f"expand: sizes must be non-negative (or -1 to keep a size), "
                            f"got {sizes}")
    return Expand.apply(a, shape=shape)


# ----------------------------------------------------------------------------- roll


class Roll(Function):
    """out = a rolled by ``shifts`` along ``dims`` (wrapping);  da = d rolled back."""

    saves_inputs = False

    def forward(self, a: Any, shifts: Any, dims: Any) -> Any:
        self.shifts, self.dims = shifts, dims
        return _xp(a).roll(a, shifts, dims)

    def backward(self, d: Any) -> Any:
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return _xp(d).roll(d, back, self.dims)


def roll(a: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements along ``dims``, wrapping around (over the flattened tensor if None).

    ``shifts`` and ``dims`` are ints or equally long sequences, as in PyTorch.
    """
    if isinstance(shifts, (list, tuple)) or isinstance(dims, (list, tuple)):
        shifts = tuple(int(s) for s in shifts) if isinstance(shifts, (list, tuple)) else (
            int(shifts),)
        if dims is None and len(shifts) == 1:
            return Roll.apply(a, shifts=shifts[0], dims=None)
        dims = (dims,) if isinstance(dims, (int, np.integer)) else dims
        if dims is None or len(dims) != len(shifts):
            raise ArgumentError(f"roll: shifts {shifts} and dims {dims} must have the same length")
        if a.ndim:  # each dim checked on its own: PyTorch allows rolling one dim twice
            dims = tuple(_normalize_dims(d, a.ndim)[0] for d in dims)
        return Roll.apply(a, shifts=shifts, dims=tuple(dims))
    if dims is not None and a.ndim:
        (dims,) = _normalize_dims(dims, a.ndim)
    return Roll.apply(a, shifts=int(shifts), dims=dims)


# ----------------------------------------------------------------------------- indexing


class GetItem(Function):
    """out = a[index];  da = zeros like a with d scattered (added) back at ``index``.

    With integer-array indices an element may be picked more than once, so its gradient
    is the sum of all the places it went: ``np.add.at`` does that accumulation.
    """

    saves_inputs = False
    is_view = True  # basic indexing returns a view (the engine checks it really is one)

    def forward(self, a: Any, index: Any) -> Any:
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        out = a[index]
        if isinstance(out, np.generic):
            # NumPy gives a copied scalar for a[0] of a 1-d array; a[0, ...] is the 0-d
            # view PyTorch would return (so x[0].add_(1) changes x, as there).
            out = a[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        return out

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        grad = xp.zeros(self.shape, dtype=d.dtype)
        if _is_basic(self.index):
            grad[self.index] = d
        else:
            backend.scatter_add(grad, self.index, d)
        return grad


def _is_basic(index: Any) -> bool:
    """Whether ``index`` never picks an element twice, so that the gradient can be
    assigned (not accumulated): ints, slices, None, ``...`` and at most one bool mask."""
    parts = index if isinstance(index, tuple) else (index,)
    masks = 0
    for p in parts:
        if getattr(p, "dtype", None) == np.bool_:
            masks += 1
        elif not isinstance(p, (int, np.integer, slice, type(None), type(Ellipsis))):
            return False
    return masks <= 1


def getitem(a: Tensor, index: Any) -> Tensor:
    """``a[index]`` with NumPy/PyTorch semantics (basic and integer-array indexing)."""
    index = _index_to_arrays(index)
    if isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, tuple):
        index = tuple(np.asarray(i) if isinstance(i, list) else i for i in index)
    for part in index if isinstance(index, tuple) else (index,):
        kind = getattr(getattr(part, "dtype", None), "kind", "i")
        if kind not in "biu":
            raise IndexError(
                f"index {_describe(index)} for shape {a.shape}: index arrays must be integer "
                f"or bool, got dtype {part.dtype}"
            )
    if a.ndim == 0 and any(_consumes_a_dim(p) for p in (
            index if isinstance(index, tuple) else (index,))):
        raise IndexError(
            f"index {_describe(index)} into a 0-d tensor, which has no dims to index; use "
            ".item() to get its value as a Python number"
        )
    parts = index if isinstance(index, tuple) else (index,)
    if any(map(_is_integer, parts)) and any(_is_array(p) for p in parts):
        # PyTorch applies integer indices first, as selections, and only then the index
        # arrays: x[0, :, [1, 2]] is x[0][:, [1, 2]]. NumPy treats the 0 as one more index
        # array, which moves the indexed dims to the front when the two are not adjacent.
        selections = tuple(_selection_only(p) for p in parts if p is not None)
        selections = tuple(s for group in selections for s in group)
        rest = tuple(p for p in parts if not _is_integer(p))
        return getitem(getitem(a, selections), rest)
    try:
        return GetItem.apply(a, index=index)
    except IndexError as exc:
        raise IndexError(
            f"index {_describe(index)} is invalid for shape {a.shape}: {exc}"
        ) from None


def _is_integer(part: Any) -> bool:
    """An int, or a 0-d integer array (PyTorch treats a 0-d index tensor as an int)."""
    if isinstance(part, (int, np.integer)):
        return not isinstance(part, bool)
    return getattr(part, "ndim", None) == 0 and part.dtype.kind in "iu"


def _is_array(part: Any) -> bool:
    return hasattr(part, "dtype") and not _is_integer(part)


def _consumes_a_dim(part: Any) -> bool:
    if part is None or part is Ellipsis or isinstance(part, (bool, np.bool_)):
        return False
    return not (getattr(part, "dtype", None) == np.bool_ and part.ndim == 0)


def _selection_only(part: Any) -> tuple[Any, ...]:
    """What ``part`` becomes in the first step of a PyTorch-order index: an integer stays,
    ``...`` stays, and anything else keeps its dims whole (a bool mask spans its ndim)."""
    if _is_integer(part):
        return (int(part),)
    if part is Ellipsis:
        return (part,)
    if getattr(part, "dtype", None) == np.bool_:
        return (slice(None),) * part.ndim
    return (slice(None),)


def _describe(index: Any) -> str:
    if hasattr(index, "shape") and getattr(index, "ndim", 0) > 0:
        return f"array(shape={tuple(index.shape)}, dtype={index.dtype})"
    if isinstance(index, tuple):
        return "(" + ", ".join(_describe(i) for i in index) + ")"
    return repr(index)


# ----------------------------------------------------------------------------- cat / stack


class Cat(Function):
    """out = the inputs joined along ``dim``;  d input_k = input k's slice of d."""

    saves_inputs = False

    def forward(self, *arrays: Any, dim: int) -> Any:
        self.dim = dim
        self.bounds = np.cumsum([0] + [x.shape[dim] for x in arrays])
        return _xp(arrays[0]).concatenate(arrays, axis=dim)

    def backward(self, d: Any) -> tuple[Any, ...]:
        index = [slice(None)] * d.ndim
        grads = []
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:]):
            index[self.dim] = slice(int(lo), int(hi))
            grads.append(d[tuple(index)])
        return tuple(grads)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dim; the other dims must match."""
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError("cat needs at least one tensor")
    first = tensors[0]
    if first.ndim == 0:
        raise ArgumentError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    (d,) = _normalize_dims(dim, first.ndim)
    for i, t in enumerate(tensors[1:], start=1):
        if t.ndim != first.ndim or any(
            a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != d
        ):
            raise ArgumentError(
                f"cat along dim {dim}: tensor {i} has shape {t.shape}, tensor 0 has "
                f"{first.shape}; all dims except {dim} must match"
            )
    dtype = first.dtype
    for t in tensors[1:]:
        if t.dtype != dtype:  # promote as PyTorch does (int64 with float32 is float32)
            dtype = _promoted_dtype(Tensor._wrap(np.empty(1, dtype)), t)
    tensors = [t if t.dtype == dtype else t.to(dtype=dtype) for t in tensors]
    return Cat.apply(*tensors, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError("stack needs at least one tensor")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ArgumentError(
                f"stack: tensor {i} has shape {t.shape}, tensor 0 has {tensors[0].shape}; "
                "all must be equal"
            )
    return cat([unsqueeze(t, dim) for t in tensors], dim)


# ----------------------------------------------------------------------------- device, dtype


class ToDevice(Function):
    """out = a copied to another device;  da = d copied back."""

    saves_inputs = False

    def forward(self, a: Any, device: str) -> Any:
        self.source = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, d: Any) -> Any:
        return backend.to_device(d, self.source)


class Cast(Function):
    """out = a converted to ``dtype``;  da = d converted back to a's dtype."""

    saves_inputs = False

    def forward(self, a: Any, dtype: np.dtype) -> Any:
        self.source = a.dtype
        return a.astype(dtype)

    def backward(self, d: Any) -> Any:
        return d.astype(self.source) if is_floating(self.source) else None


def to_device(a: Tensor, device: str) -> Tensor:
    """``a`` on ``device`` ('cpu' or 'cuda'); the same tensor if it is already there."""
    device = backend.normalize_device(device)
    if a.device == device:
        return a
    return ToDevice.apply(a, device=device)


def cast(a: Tensor, dtype: np.dtype) -> Tensor:
    """``a`` converted to ``dtype``; the same tensor if it already has it."""
    if a.dtype == dtype:
        return a
    if not is_floating(dtype):
        return _new_tensor(a.data.astype(dtype))  # integer results carry no gradient
    return Cast.apply(a, dtype=dtype)
