"""More operations that move elements without changing them: flip, tril/triu, repeat,
repeat_interleave, index_select, unflatten, diagonal, unfold, split, chunk, meshgrid.

Each gradient returns the incoming gradient to where every element came from: a flip
flips it back, a copy made several times (repeat, repeat_interleave, overlapping unfold
windows) sums the gradients of its copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Function
from tinyrpn.creation import as_tensor
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.operands import _normalize_dims, _xp
from tinyrpn.ops.shape import _sizes, expand, getitem, permute, reshape
from tinyrpn.tensor import Tensor


def _one_dim(op: str, dim: Any, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    return _normalize_dims(int(dim), ndim)[0]


# ----------------------------------------------------------------------------- flip


class Flip(Function):
    """out = a reversed along ``dims``;  da = d reversed along the same dims."""

    saves_inputs = False

    def forward(self, a: Any, *, dims: tuple[int, ...]) -> Any:
        self.dims = dims
        return _xp(a).flip(a, axis=dims).copy()  # a copy, as torch.flip returns

    def backward(self, d: Any) -> Any:
        return _xp(d).flip(d, axis=self.dims)


def flip(input: Tensor, dims: Any) -> Tensor:
    """Reverse the order of elements along each dim in ``dims`` (an int or a sequence)."""
    input = as_tensor(input)
    return Flip.apply(input, dims=_normalize_dims(dims, input.ndim))


# ----------------------------------------------------------------------------- tril / triu


class Triangle(Function):
    """out = a where the (last two dims') position is kept, else 0;  da = d likewise."""

    saves_inputs = False

    def forward(self, a: Any, *, keep: Any) -> Any:
        self.keep = keep
        return _xp(a).where(keep, a, a.dtype.type(0))

    def backward(self, d: Any) -> Any:
        return _xp(d).where(self.keep, d, d.dtype.type(0))


def _triangle(op: str, input: Tensor, diagonal: int, lower: bool) -> Tensor:
    input = as_tensor(input)
    if input.ndim < 2:
        raise ArgumentError(f"{op}: input must have at least 2 dims, got shape {input.shape}")
    rows, cols = input.shape[-2:]
    xp = input.xp
    offset = xp.arange(cols)[None, :] - xp.arange(rows)[:, None]  # column minus row
    keep = offset <= diagonal if lower else offset >= diagonal
    return Triangle.apply(input, keep=keep)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims: elements with col − row <= ``diagonal``
    kept, the rest zero (``diagonal`` > 0 keeps diagonals above the main one)."""
    return _triangle("tril", input, diagonal, lower=True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims: col − row >= ``diagonal`` kept."""
    return _triangle("triu", input, diagonal, lower=False)


# ----------------------------------------------------------------------------- repeat


class Repeat(Function):
    """``a`` tiled ``reps`` times along each dim (a given leading ones as needed).

    forward:  out = a repeated reps[k] times along dim k
    backward: da = d viewed as (r0, n0, r1, n1, ...) summed over the copies r
    """

    saves_inputs = False

    def forward(self, a: Any, *, reps: tuple[int, ...]) -> Any:
        shape = (1,) * (len(reps) - a.ndim) + a.shape
        self.shape, self.reps = a.shape, reps
        self.full_shape = shape
        return _xp(a).tile(a.reshape(shape), reps)

    def backward(self, d: Any) -> Any:
        split = []
        for r, n in zip(self.reps, self.full_shape):
            split += [r, n]
        copies = tuple(range(0, 2 * len(self.reps), 2))
        return d.reshape(split).sum(axis=copies).reshape(self.shape)


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Tile the tensor: ``x.repeat(2, 3)`` copies x twice along dim 0 and thrice along
    dim 1, as ``torch.Tensor.repeat`` (sizes may add leading dims, never fewer)."""
    reps = _sizes(sizes)
    if len(reps) < input.ndim:
        raise ArgumentError(f"repeat: {len(reps)} repeat counts {reps} for a tensor with "
                         f"{input.ndim} dims (shape {input.shape}); give at least {input.ndim}")
    if any(r < 0 for r in reps):
        raise ArgumentError(f"repeat: repeat counts must be >= 0, got {reps}")
    return Repeat.apply(input, reps=reps)


# ----------------------------------------------------------------------------- index_select


class IndexSelect(Function):
    """``a`` taken at ``index`` (any shape) along ``dim``.

    forward:  out = a at ``index`` along ``dim``: out's dims are a's dims before ``dim``,
              then index's, then a's after it
    backward: da = zeros with d added back at ``index``
    """

    saves_inputs = False

    def forward(self, a: Any, *, dim: int, index: Any) -> Any:
        self.shape, self.dim, self.index = a.shape, dim, index
        return _xp(a).take(a, index, axis=dim)

    def backward(self, d: Any) -> Any:
        grad = _xp(d).zeros(self.shape, dtype=d.dtype)
        backend.scatter_add(grad, (slice(None),) * self.dim + (self.index,), d)
        return grad


def index_select(input: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of ``input`` at the 1-D integer ``index`` along ``dim``."""
    input = as_tensor(input)
    d = _one_dim("index_select", dim, input.ndim)
    idx = index.data if isinstance(index, Tensor) else input.xp.asarray(index)
    if idx.ndim > 1 or idx.dtype.kind not in "iu":
        raise ArgumentError(f"index_select: index must be a 1-D integer tensor, got shape "
                         f"{tuple(idx.shape)} and dtype {idx.dtype}")
    n = input.shape[d] if input.ndim else 1
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise IndexError(f"index_select: index values must be in [0, {n - 1}] for dim {dim} "
                         f"of shape {input.shape}")
    return IndexSelect.apply(input, dim=d, index=idx.astype(np.int64, copy=False).reshape(-1))


def repeat_interleave(input: Tensor, repeats: Any, dim: int | None = None) -> Tensor:
    """Repeat each element (each slice along ``dim``) ``repeats`` times in place, as
    ``torch.repeat_interleave``: [a, b] with 2 repeats is [a, a, b, b]. ``repeats`` is an
    int or a tensor with one count per slice; without ``dim`` the input is flattened."""
    input = as_tensor(input)
    if dim is None:
        input, dim = reshape(input, -1), 0
    d = _one_dim("repeat_interleave", dim, input.ndim) if input.ndim else 0
    if input.ndim == 0:
        input = reshape(input, 1)
    n = input.shape[d]
    counts = repeats.data if isinstance(repeats, Tensor) else np.asarray(repeats)
    counts = np.asarray(backend.to_device(counts, "cpu") if not isinstance(
        counts, np.ndarray) else counts)
    if counts.dtype.kind not in "iu" or counts.ndim > 1 or (
            counts.ndim == 1 and counts.size not in (1, n)):
        raise ArgumentError(f"repeat_interleave: repeats must be an int or a 1-D integer tensor "
                         f"of {n} counts (one per slice of dim {dim}), got {repeats!r}")
    if (counts < 0).any():
        raise ArgumentError(f"repeat_interleave: repeats must be >= 0, got {counts.tolist()}")
    index = np.repeat(np.arange(n), np.broadcast_to(counts.reshape(-1), (n,)))
    return IndexSelect.apply(input, dim=d, index=input.xp.asarray(index, dtype=np.int64))


# ----------------------------------------------------------------------------- unflatten


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1), as ``torch.unflatten``."""
    d = _one_dim("unflatten", dim, input.ndim)
    sizes = tuple(int(s) for s in sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1 or (-1 not in sizes and known != input.shape[d]) or (
            -1 in sizes and (known == 0 or input.shape[d] % known)):
        raise ArgumentError(f"unflatten: sizes {sizes} do not multiply to dim {dim}'s size "
                         f"{input.shape[d]} (input shape {input.shape})")
    return reshape(input, *input.shape[:d], *sizes, *input.shape[d + 1:])


# ----------------------------------------------------------------------------- diagonal


class Diagonal(Function):
    """A diagonal over dims (dim1, dim2), moved last.

    forward:  out[..., k] = a[..., r0 + k, c0 + k]
    backward: da = zeros with d written back on that diagonal
    """

    saves_inputs = False

    def forward(self, a: Any, *, offset: int, dim1: int, dim2: int) -> Any:
        xp = _xp(a)
        self.shape, self.dims = a.shape, (dim1, dim2)
        rows, cols = a.shape[dim1], a.shape[dim2]
        length = max(min(rows - max(-offset, 0), cols - max(offset, 0)), 0)
        self.rows = xp.arange(length) + max(-offset, 0)
        self.cols = xp.arange(length) + max(offset, 0)
        return xp.moveaxis(a, (dim1, dim2), (-2, -1))[..., self.rows, self.cols]

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        grad = xp.zeros(self.shape, dtype=d.dtype)
        xp.moveaxis(grad, self.dims, (-2, -1))[..., self.rows, self.cols] = d
        return grad


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the 2-D slices over ``dim1`` and ``dim2`` (``offset`` > 0: above the
    main one), as a new last dim, as ``torch.diagonal`` (a copy here, not a view)."""
    input = as_tensor(input)
    d1, d2 = _one_dim("diagonal", dim1, input.ndim), _one_dim("diagonal", dim2, input.ndim)
    if d1 == d2:
        raise ArgumentError(f"diagonal: dim1 and dim2 must differ, both are {dim1}")
    return Diagonal.apply(input, offset=int(offset), dim1=d1, dim2=d2)


# ----------------------------------------------------------------------------- unfold


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """All windows of ``size`` elements along ``dimension``, ``step`` apart, as
    ``torch.Tensor.unfold``: that dim becomes the window count and a new last dim of
    ``size`` holds each window."""
    input = as_tensor(input)
    if input.ndim == 0:  # one element: its windows form a 1-D tensor, as in PyTorch
        return reshape(unfold(reshape(input, 1), dimension, size, step), -1)
    d = _one_dim("unfold", dimension, input.ndim)
    n = input.shape[d]
    if size < 0 or size > n or step < 1:
        raise ArgumentError(f"unfold: need 0 <= size <= {n} (dim {dimension}'s size) and step "
                         f">= 1, got size={size}, step={step}")
    starts = np.arange((n - size) // step + 1) * step
    index = input.xp.asarray(starts[:, None] + np.arange(size)[None, :])
    windows = IndexSelect.apply(input, dim=d, index=index)  # (..., count, size, ...)
    order = list(range(windows.ndim))
    order.append(order.pop(d + 1))
    return permute(windows, *order)


# ----------------------------------------------------------------------------- split, chunk


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along ``dim``: of ``split_size`` each (the last may be
    smaller), or of the listed sizes, which must add up to the dim's size."""
    d = _one_dim("split", dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and n > 0:
            raise ArgumentError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ArgumentError(f"split: sections {sizes} must be >= 0 and add up to dim {dim}'s "
                             f"size {n} (shape {tensor.shape})")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(getitem(tensor, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` pieces of ⌈size / chunks⌉ along ``dim`` (fewer when the size
    runs out first), as ``torch.chunk``."""
    if chunks < 1:
        raise ArgumentError(f"chunk: chunks must be >= 1, got {chunks}")
    n = input.shape[_one_dim("chunk", dim, input.ndim)]
    return split(input, max(-(-n // chunks), 1), dim)


# ----------------------------------------------------------------------------- meshgrid


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids of 1-D tensors, as ``torch.meshgrid``: with 'ij' output k varies
    along dim k; with 'xy' the first two dims are swapped (Cartesian, as NumPy's default).
    Each grid is an expanded view of its input, so its gradient sums back over the grid."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ArgumentError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    tensors = [as_tensor(t) for t in tensors]
    for i, t in enumerate(tensors):
        if t.ndim > 1:
            raise ArgumentError(f"meshgrid: tensor {i} must be 0-D or 1-D, got shape {t.shape}")
    flat = [reshape(t, -1) for t in tensors]
    shape = [t.shape[0] for t in flat]
    order = list(range(len(flat)))
    if indexing == "xy" and len(flat) >= 2:
        order[0], order[1] = 1, 0
    grid_shape = tuple(shape[k] for k in order)
    out = []
    for i, t in enumerate(flat):
        position = order.index(i)
        view = [1] * len(flat)
        view[position] = shape[i]
        out.append(expand(reshape(t, *view), *grid_shape))
    return tuple(out)


__all__ = ["flip", "tril", "triu", "repeat", "repeat_interleave", "index_select", "unflatten",
           "diagonal", "unfold", "split", "chunk", "meshgrid"]
