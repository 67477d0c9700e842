"""The operators and methods of ``Tensor`` that are each one op: ``a + b`` is
``ops.arithmetic.add(a, b)``, ``x.sum(1)`` is ``ops.reductions.sum(x, 1)``.

They are grouped as the ops are, and each names the ops module it calls, so a reader of
``__add__`` sees at once where addition is defined (``ops/arithmetic.py``: the Function
``Add`` with its forward and backward). ``Tensor`` (``tensor.py``) inherits them.

Imports: this is the one upward edge of the engine layer. The ops are built on Tensor
(their public functions take and return Tensors), and Tensor's methods call the ops. The
circle does not bite at import time because ``tinyrpn.ops`` loads its family modules on
first use (see ``ops/__init__.py``): this file and ``tensor.py`` import the package, and
by the time a method runs, ``ops.arithmetic`` and its siblings are there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from tinyrpn import ops
from tinyrpn.errors import ArgumentError

if TYPE_CHECKING:
    from tinyrpn.tensor import Tensor


class MaxResult(NamedTuple):
    """What ``x.max(dim)`` and ``x.min(dim)`` return, as in PyTorch."""

    values: Tensor
    indices: Tensor


class TensorMethods:
    """Tensor's operators and one-op methods (a base class of Tensor; no state of its own)."""

    __slots__ = ()

    # -- arithmetic operators (ops/arithmetic.py; @ is ops/linalg.py) ----------------------

    def __add__(self, other: Any) -> Tensor:
        return ops.arithmetic.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.arithmetic.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.arithmetic.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.arithmetic.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.arithmetic.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.arithmetic.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.arithmetic.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.arithmetic.div(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return ops.elementwise.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return ops.elementwise.remainder(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.arithmetic.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.arithmetic.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.arithmetic.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.math.abs(self)

    # -- the operators as named methods ----------------------------------------------------

    def add(self, other: Any) -> Tensor:
        return ops.arithmetic.add(self, other)

    def sub(self, other: Any) -> Tensor:
        return ops.arithmetic.sub(self, other)

    def mul(self, other: Any) -> Tensor:
        return ops.arithmetic.mul(self, other)

    def div(self, other: Any) -> Tensor:
        return ops.arithmetic.div(self, other)

    def pow(self, exponent: Any) -> Tensor:
        return ops.arithmetic.pow(self, exponent)

    def neg(self) -> Tensor:
        return ops.arithmetic.neg(self)

    def square(self) -> Tensor:
        return ops.arithmetic.pow(self, 2)

    def floor_divide(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(self, other)

    def remainder(self, other: Any) -> Tensor:
        return ops.elementwise.remainder(self, other)

    def matmul(self, other: Any) -> Tensor:
        return ops.linalg.matmul(self, other)

    # -- comparisons (ops/comparison.py): bool tensors, no gradient ------------------------

    def __lt__(self, other: Any) -> Tensor:
        return ops.comparison.compare(self, other, "lt")

    def __le__(self, other: Any) -> Tensor:
        return ops.comparison.compare(self, other, "le")

    def __gt__(self, other: Any) -> Tensor:
        return ops.comparison.compare(self, other, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return ops.comparison.compare(self, other, "ge")

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.comparison.compare(self, other, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.comparison.compare(self, other, "ne")

    # -- choosing by comparison (ops/comparison.py) ----------------------------------------

    def maximum(self, other: Any) -> Tensor:
        return ops.comparison.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return ops.comparison.minimum(self, other)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        return ops.comparison.clamp(self, min, max)

    clip = clamp

    # -- elementwise math (ops/math.py; sqrt: ops/arithmetic.py; the rest: ops/elementwise.py)

    def exp(self) -> Tensor:
        return ops.math.exp(self)

    def log(self) -> Tensor:
        return ops.math.log(self)

    def sqrt(self) -> Tensor:
        return ops.arithmetic.sqrt(self)

    def abs(self) -> Tensor:
        return ops.math.abs(self)

    def tanh(self) -> Tensor:
        return ops.math.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.math.sigmoid(self)

    def relu(self) -> Tensor:
        return ops.math.relu(self)

    def sin(self) -> Tensor:
        return ops.elementwise.sin(self)

    def cos(self) -> Tensor:
        return ops.elementwise.cos(self)

    def tan(self) -> Tensor:
        return ops.elementwise.tan(self)

    def asin(self) -> Tensor:
        return ops.elementwise.asin(self)

    arcsin = asin

    def atan(self) -> Tensor:
        return ops.elementwise.atan(self)

    arctan = atan

    def sinh(self) -> Tensor:
        return ops.elementwise.sinh(self)

    def cosh(self) -> Tensor:
        return ops.elementwise.cosh(self)

    def erf(self) -> Tensor:
        return ops.elementwise.erf(self)

    def exp2(self) -> Tensor:
        return ops.elementwise.exp2(self)

    def log2(self) -> Tensor:
        return ops.elementwise.log2(self)

    def log10(self) -> Tensor:
        return ops.elementwise.log10(self)

    def rsqrt(self) -> Tensor:
        return ops.elementwise.rsqrt(self)

    def sign(self) -> Tensor:
        return ops.elementwise.sign(self)

    def floor(self) -> Tensor:
        return ops.elementwise.floor(self)

    def ceil(self) -> Tensor:
        return ops.elementwise.ceil(self)

    def trunc(self) -> Tensor:
        return ops.elementwise.trunc(self)

    def round(self, decimals: int = 0) -> Tensor:
        return ops.elementwise.round(self, decimals)

    def __round__(self, ndigits: int | None = None) -> Tensor:
        return ops.elementwise.round(self, ndigits or 0)

    def isnan(self) -> Tensor:
        return ops.elementwise.isnan(self)

    def isinf(self) -> Tensor:
        return ops.elementwise.isinf(self)

    def isfinite(self) -> Tensor:
        return ops.elementwise.isfinite(self)

    def copysign(self, other: Any) -> Tensor:
        return ops.elementwise.copysign(self, other)

    def logaddexp(self, other: Any) -> Tensor:
        return ops.elementwise.logaddexp(self, other)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        return ops.elementwise.lerp(self, end, weight)

    # -- reductions (ops/reductions.py; prod is ops/elementwise.py) ------------------------

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.mean(self, dim, keepdim)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        return ops.reductions.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        return ops.reductions.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return ops.reductions.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return ops.reductions.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.amax(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.amin(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.argmin(self, dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.elementwise.prod(self, dim, keepdim)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.all(self, dim, keepdim)

    def logsumexp(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reductions.logsumexp(self, dim, keepdim)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return ops.reductions.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return ops.reductions.cumprod(self, dim, dtype=dtype)

    def cummax(self, dim: int) -> MaxResult:
        return ops.reductions.cummax(self, dim)

    def cummin(self, dim: int) -> MaxResult:
        return ops.reductions.cummin(self, dim)

    def logcumsumexp(self, dim: int) -> Tensor:
        return ops.reductions.logcumsumexp(self, dim)

    # -- shape (ops/shape.py): views where NumPy gives one ---------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        return ops.shape.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """The same memory in a new shape (refused when that would need a copy)."""
        return ops.shape.view(self, *shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.shape.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return ops.shape.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return ops.shape.permute(self, *dims)

    @property
    def T(self) -> Tensor:
        return ops.shape.permute(self, *reversed(range(self.ndim)))

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise ArgumentError(f"t() expects a tensor with at most 2 dims, got {self.ndim}")
        return self.T

    def unsqueeze(self, dim: int) -> Tensor:
        return ops.shape.unsqueeze(self, dim)

    def squeeze(self, dim: Any = None) -> Tensor:
        return ops.shape.squeeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return ops.shape.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return ops.shape.expand(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return ops.shape.reshape(self, other.shape)

    def view_as(self, other: Tensor) -> Tensor:
        return ops.shape.view(self, other.shape)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return ops.shape.roll(self, shifts, dims)

    def contiguous(self) -> Tensor:
        """This tensor if its memory is in row-major order, else a row-major copy."""
        return ops.shape.contiguous(self)

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    # -- layout (ops/layout.py) ------------------------------------------------------------

    def flip(self, *dims: Any) -> Tensor:
        return ops.layout.flip(self, dims[0] if len(dims) == 1 else dims)

    def tril(self, diagonal: int = 0) -> Tensor:
        return ops.layout.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return ops.layout.triu(self, diagonal)

    def repeat(self, *sizes: Any) -> Tensor:
        return ops.layout.repeat(self, *sizes)

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        return ops.layout.repeat_interleave(self, repeats, dim)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        return ops.layout.unflatten(self, dim, sizes)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return ops.layout.diagonal(self, offset, dim1, dim2)

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        return ops.layout.unfold(self, dimension, size, step)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.layout.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.layout.chunk(self, chunks, dim)

    # -- indexing (ops/shape.py for x[i]; the rest ops/indexing.py and ops/layout.py) ------

    def __getitem__(self, index: Any) -> Tensor:
        return ops.shape.getitem(self, index)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return ops.layout.index_select(self, dim, index)

    def gather(self, dim: int, index: Any) -> Tensor:
        return ops.indexing.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: Tensor) -> Tensor:
        return ops.indexing.scatter_add(self, dim, index, src)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return ops.indexing.masked_fill(self, mask, value)

    def sort(self, dim: int = -1, descending: bool = False, *,
             stable: bool = False) -> MaxResult:
        return ops.indexing.sort(self, dim, descending, stable=stable)

    def argsort(self, dim: int = -1, descending: bool = False, *,
                stable: bool = False) -> Tensor:
        return ops.indexing.argsort(self, dim, descending, stable=stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> MaxResult:
        return ops.indexing.topk(self, k, dim, largest, sorted)

    # -- nn-style (ops/nn.py) --------------------------------------------------------------

    def softmax(self, dim: int | None = None) -> Tensor:
        return ops.nn.softmax(self, dim)

    def log_softmax(self, dim: int | None = None) -> Tensor:
        return ops.nn.log_softmax(self, dim)
