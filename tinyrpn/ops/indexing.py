"""Indexing by tensors of indices or masks: gather, scatter_add, masked_fill, one_hot,
embedding lookup, sort and topk. Each gradient sends the incoming gradient back to the
element each output came from (adding up where one element fed several outputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Function
from tinyrpn.creation import as_tensor
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.operands import _normalize_dims, _xp, binary_operands
from tinyrpn.tensor import Tensor, _new_tensor
from tinyrpn.tensor_methods import MaxResult


def _one_dim(op: str, dim: Any, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    return _normalize_dims(int(dim), ndim)[0] if ndim else 0


def _index_array(op: str, index: Any, like: Tensor) -> Any:
    """``index`` as an int64 array on ``like``'s device (an integer Tensor or array)."""
    data = index.data if isinstance(index, Tensor) else like.xp.asarray(index)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {data.dtype}")
    return data.astype(np.int64, copy=False)


def _along(dim: int, ndim: int, index: Any) -> tuple[Any, ...]:
    """The fancy index that reads ``index``'s positions along ``dim`` and every other dim
    at the element's own coordinate: what take_along_axis does, usable with add.at."""
    xp = _xp(index)
    grids = xp.indices(index.shape, sparse=True)
    return tuple(index if axis == dim else grids[axis] for axis in range(ndim))


# ----------------------------------------------------------------------------- gather


class Gather(Function):
    """Values picked along ``dim`` at the positions ``index`` names.

    forward:  out[..., i, ...] = a[..., index[..., i, ...], ...]
    backward: da = zeros with d added at those positions (an index picked twice gets both)

    The loops are ``kernels.gather_forward/backward`` (Numba on the CPU, fancy indexing
    and add.at elsewhere).
    """

    saves_inputs = False

    def forward(self, a: Any, *, dim: int, index: Any) -> Any:
        self.shape, self.dim, self.index = a.shape, dim, index
        return _kernels().gather_forward(a, index, dim)

    def backward(self, d: Any) -> Any:
        return _kernels().gather_backward(d, self.index, self.dim, self.shape)


def _check_gather_shapes(op: str, a: Tensor, dim: int, index: Any, what: str) -> None:
    if index.ndim != a.ndim:
        raise ArgumentError(f"{op}: index has {index.ndim} dims but {what} has {a.ndim} "
                         f"(shapes {tuple(index.shape)} and {a.shape}); they must have the "
                         f"same number of dims")
    for axis, (i, s) in enumerate(zip(index.shape, a.shape)):
        if axis != dim and i > s:
            raise ArgumentError(f"{op}: index shape {tuple(index.shape)} is larger than {what} "
                             f"shape {a.shape} in dim {axis} (only dim {dim} may differ)")
    size = a.shape[dim] if a.ndim else 1
    if index.size and (int(index.min()) < 0 or int(index.max()) >= size):
        raise IndexError(f"{op}: index values must be in [0, {size - 1}] for dim {dim} "
                         f"of size {size}, got values from {int(index.min())} to "
                         f"{int(index.max())}")


def gather(input: Tensor, dim: int, index: Any) -> Tensor:
    """Pick elements of ``input`` along ``dim`` at ``index`` (an int64 tensor with as many
    dims as ``input``, no larger than it in the other dims), as ``torch.gather``:
    out[i][j] = input[index[i][j]][j] for dim 0, input[i][index[i][j]] for dim 1."""
    input = as_tensor(input)
    d = _one_dim("gather", dim, input.ndim)
    idx = _index_array("gather", index, input)
    _check_gather_shapes("gather", input, d, idx, "input")
    if input.ndim == 0:
        return Gather.apply(input.reshape(1), dim=0, index=idx.reshape(1)).reshape(())
    # dims other than `dim` may be smaller in index: read only that corner of input
    corner = tuple(slice(None) if a == d else slice(0, n) for a, n in enumerate(idx.shape))
    source = input[corner] if idx.shape != input.shape else input
    return Gather.apply(source, dim=d, index=idx)


# ----------------------------------------------------------------------------- scatter_add


class ScatterAdd(Function):
    """``src`` added into a copy of ``a`` along ``dim`` at the positions ``index`` names.

    forward:  out = a, then out[..., index[..., i, ...], ...] += src[..., i, ...]
    backward: da = d,  dsrc = d gathered at the same positions (what gather does)
    """

    saves_inputs = False

    def forward(self, a: Any, src: Any, *, dim: int, index: Any) -> Any:
        self.dim, self.index = dim, index
        out = a.copy()
        corner = tuple(slice(0, n) for n in index.shape)
        backend.scatter_add(out, _along(dim, a.ndim, index), src[corner])
        self.src_shape = src.shape
        return out

    def backward(self, d: Any) -> tuple[Any, Any]:
        dsrc = None
        if self.needs_input_grad[1]:
            dsrc = _xp(d).zeros(self.src_shape, dtype=d.dtype)
            corner = tuple(slice(0, n) for n in self.index.shape)
            dsrc[corner] = d[_along(self.dim, d.ndim, self.index)]
        return d, dsrc


def scatter_add(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """A copy of ``input`` with src[...] added at ``index`` along ``dim`` (repeated
    indices accumulate), as ``torch.scatter_add``; index may be smaller than src."""
    input, src = binary_operands(input, src)
    d = _one_dim("scatter_add", dim, input.ndim)
    idx = _index_array("scatter_add", index, input)
    _check_gather_shapes("scatter_add", input, d, idx, "input")
    if idx.ndim != src.ndim or any(i > s for i, s in zip(idx.shape, src.shape)):
        raise ArgumentError(f"scatter_add: index shape {tuple(idx.shape)} must be no larger than "
                         f"src shape {src.shape} in every dim")
    if input.ndim == 0:
        out = ScatterAdd.apply(input.reshape(1), src.reshape(1), dim=0, index=idx.reshape(1))
        return out.reshape(())
    return ScatterAdd.apply(input, src, dim=d, index=idx)


# ----------------------------------------------------------------------------- masked_fill


class MaskedFill(Function):
    """out = value where mask else a;  da = d where not mask, 0 where filled.

    The mask broadcasts to a's shape.
    """

    saves_inputs = False

    def forward(self, a: Any, *, mask: Any, value: Any) -> Any:
        self.mask = mask
        return _xp(a).where(mask, a.dtype.type(value), a)

    def backward(self, d: Any) -> Any:
        return _xp(d).where(self.mask, d.dtype.type(0), d)


class MaskedFillTensor(Function):
    """masked_fill with a 0-d tensor as the value.

    forward:  out = v where mask else a
    backward: da = d where not mask,  dv = Σ d where mask
    """

    saves_inputs = False

    def forward(self, a: Any, v: Any, *, mask: Any) -> Any:
        self.mask = mask
        return _xp(a).where(mask, v, a)

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp, zero = _xp(d), d.dtype.type(0)
        dv = xp.where(self.mask, d, zero).sum() if self.needs_input_grad[1] else None
        return xp.where(self.mask, zero, d), dv


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` written where the bool ``mask`` (broadcast to input's
    shape) is true, as ``torch.masked_fill``; ``value`` is a number or a 0-d tensor."""
    input = as_tensor(input)
    mask_data = mask.data if isinstance(mask, Tensor) else input.xp.asarray(mask)
    if mask_data.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {mask_data.dtype}")
    try:
        shape = np.broadcast_shapes(mask_data.shape, input.shape)
    except ValueError:
        shape = None
    if shape != input.shape:
        raise ArgumentError(f"masked_fill: mask of shape {tuple(mask_data.shape)} does not "
                         f"broadcast to the input's shape {input.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ArgumentError(f"masked_fill: a tensor value must be 0-d, got shape "
                             f"{value.shape}")
        value = value if value.dtype == input.dtype else value.to(dtype=input.dtype)
        return MaskedFillTensor.apply(input, value, mask=mask_data)
    if input.dtype.kind in "biu" and isinstance(value, float) and not float(value).is_integer():
        raise TypeError(f"masked_fill: cannot fill a {input.dtype} tensor with {value!r}")
    return MaskedFill.apply(input, mask=mask_data, value=value)


# ----------------------------------------------------------------------------- one_hot


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor with a new last dim of ``num_classes`` (default: max + 1) holding 1 at
    each index and 0 elsewhere, as ``torch.nn.functional.one_hot`` (no gradient)."""
    t = as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got dtype "
                        f"{t.dtype}")
    data = t.data.astype(np.int64, copy=False)
    if num_classes == -1:
        if data.size == 0:
            raise ArgumentError("one_hot: cannot infer num_classes from an empty tensor; give it")
        num_classes = int(data.max()) + 1
    if data.size and (int(data.min()) < 0 or int(data.max()) >= num_classes):
        raise ArgumentError(f"one_hot: class values must be in [0, {num_classes - 1}] for "
                         f"num_classes={num_classes}, got values from {int(data.min())} to "
                         f"{int(data.max())}")
    xp = t.xp
    return _new_tensor((data[..., None] == xp.arange(num_classes)).astype(np.int64))


# ----------------------------------------------------------------------------- embedding


class Embedding(Function):
    """Rows of ``weight`` looked up by index.

    forward:  out[..., :] = weight[index[...], :]
    backward: dweight[k] = Σ of d over the positions whose index is k (none for
              ``padding_idx``, whose row is never trained)
    """

    saves_inputs = False

    def forward(self, weight: Any, *, index: Any, padding_idx: int | None) -> Any:
        self.shape, self.index, self.padding_idx = weight.shape, index, padding_idx
        return weight[index]

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        rows = d.reshape(-1, self.shape[1])
        index = self.index.reshape(-1)
        if self.padding_idx is not None:
            keep = index != self.padding_idx
            rows, index = rows[keep], index[keep]
        grad = xp.zeros(self.shape, dtype=d.dtype)
        backend.scatter_add(grad, index, rows)
        return grad


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer tensor ``input``, as
    ``torch.nn.functional.embedding``; ``padding_idx`` receives no gradient."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        got = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ArgumentError(f"embedding: weight must be a 2-D Tensor (num_embeddings, "
                         f"embedding_dim), got {got}")
    index = _index_array("embedding", input, weight)
    n = weight.shape[0]
    if index.size and (int(index.min()) < 0 or int(index.max()) >= n):
        raise IndexError(f"embedding: indices must be in [0, {n - 1}] for {n} embeddings, "
                         f"got values from {int(index.min())} to {int(index.max())}")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ArgumentError(f"embedding: padding_idx {padding_idx} is out of range for {n} "
                             f"embeddings")
        padding_idx %= n
    return Embedding.apply(weight, index=index, padding_idx=padding_idx)


# ----------------------------------------------------------------------------- sort, topk


def _sort_indices(a: Any, dim: int, descending: bool) -> Any:
    """Stable sorting order along ``dim``: equal values keep their order, and NaN counts
    as the largest value, as in PyTorch."""
    xp = _xp(a)
    if not descending:
        return xp.argsort(a, axis=dim, kind="stable")
    # descending and stable: sort the reversed array ascending, then reverse the order
    n = a.shape[dim]
    order = xp.argsort(xp.flip(a, axis=dim), axis=dim, kind="stable")
    return n - 1 - xp.flip(order, axis=dim)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> MaxResult:
    """(values, indices) of ``input`` sorted along ``dim``, as ``torch.sort``. The sort is
    always stable (``stable`` is accepted for PyTorch's signature); gradients flow back to
    the element each value came from."""
    input = as_tensor(input)
    if input.ndim == 0:
        return MaxResult(Gather.apply(input.reshape(1), dim=0, index=input.xp.zeros(
            1, np.int64)).reshape(()), _new_tensor(input.xp.zeros((), np.int64)))
    d = _one_dim("sort", dim, input.ndim)
    indices = _sort_indices(input.data, d, descending).astype(np.int64, copy=False)
    return MaxResult(Gather.apply(input, dim=d, index=indices), _new_tensor(indices))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (see :func:`sort`)."""
    return sort(input, dim, descending).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> MaxResult:
    """(values, indices) of the ``k`` largest (or smallest) elements along ``dim``, as
    ``torch.topk``; ties go to the lower index. Values come sorted either way."""
    input = as_tensor(input)
    size = input.shape[_one_dim("topk", dim, input.ndim)] if input.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise ArgumentError(f"topk: k must be an int in [0, {size}] for dim {dim} of shape "
                         f"{input.shape}, got {k!r}")
    if input.ndim == 0:
        return sort(input)
    d = _one_dim("topk", dim, input.ndim)
    order = _sort_indices(input.data, d, descending=largest)
    first_k = (slice(None),) * d + (slice(0, int(k)),)
    indices = order[first_k].astype(np.int64)
    return MaxResult(Gather.apply(input, dim=d, index=indices), _new_tensor(indices))


__all__ = ["gather", "scatter_add", "masked_fill", "one_hot", "embedding", "sort", "argsort",
           "topk"]
