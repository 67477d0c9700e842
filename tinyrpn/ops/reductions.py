"""Reductions, each with its gradient: sum, mean, max/min (and amax/amin, argmax/argmin),
var/std; then the cumulative and log-domain ones: cumsum, cumprod, cummax/cummin,
logsumexp, logcumsumexp, std_mean/var_mean, any/all over a dim.

The cumulative ops run on NumPy's accumulating ufuncs (``cumsum``, ``maximum.accumulate``,
``logaddexp.accumulate``), which are already one compiled pass over memory: a Numba loop
would do the same work, so there is none. d is the incoming gradient dL/dout.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Function
from tinyrpn.creation import as_tensor
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.arithmetic import sqrt
from tinyrpn.ops.comparison import maximum, minimum
from tinyrpn.ops.operands import _normalize_dims, _reduced_dims, _xp, to_operand
from tinyrpn.tensor import Tensor, _new_tensor
from tinyrpn.tensor_methods import MaxResult

# ------------------------------------------------------------- sum, mean, max, min, var, std


def _kept_shape(shape: tuple[int, ...], dims: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as size 1 (what keepdim=True gives)."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _spread(d: Any, kept_shape: tuple[int, ...], shape: tuple[int, ...]) -> Any:
    """The gradient of a reduction: ``d`` copied to every element that was reduced."""
    grad = _xp(d).empty(shape, dtype=d.dtype)
    grad[...] = d.reshape(kept_shape)
    return grad


class Sum(Function):
    """out = Σ a over ``dims``;  da = d broadcast back over the summed axes."""

    saves_inputs = False

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.shape, self.kept = a.shape, _kept_shape(a.shape, dims)
        return a.sum(axis=dims, keepdims=keepdim)

    def backward(self, d: Any) -> Any:
        return _spread(d, self.kept, self.shape)


class Mean(Function):
    """out = (1/n) Σ a over ``dims``;  da = d / n broadcast back (n = elements averaged)."""

    saves_inputs = False

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.shape, self.kept = a.shape, _kept_shape(a.shape, dims)
        self.count = a.size if dims is None else math.prod(a.shape[i] for i in dims)
        return a.mean(axis=dims, keepdims=keepdim)

    def backward(self, d: Any) -> Any:
        return _spread(d / builtins.max(self.count, 1), self.kept, self.shape)


class AmaxAmin(Function):
    """The max (or min) of a over ``dims``.

    forward:  out = max (or min) of a over ``dims``
    backward: da = d shared equally by the elements that attain it (one element in the
              usual case of no ties): PyTorch's rule for ``amax``/``amin`` and for the
              full reduction ``x.max()``

    A NaN anywhere makes the result NaN. The full reduction then shares d among the NaN
    elements (``nan_wins``); ``amax``/``amin`` find no element equal to NaN and, as in
    PyTorch, give NaN gradients to the whole reduced slice.
    """

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool, take_max: bool,
                nan_wins: bool = False) -> Any:
        self.a, self.dims, self.nan_wins = a, dims, nan_wins
        kept = a.max(axis=dims, keepdims=True) if take_max else a.min(axis=dims, keepdims=True)
        self.kept = kept
        if keepdim:
            return kept
        return kept.reshape(()) if dims is None else kept.squeeze(axis=dims)

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        winners = self.a == self.kept
        if self.nan_wins and xp.isnan(self.kept).any():
            winners = xp.isnan(self.a)
        count = winners.sum(axis=self.dims, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (d.reshape(self.kept.shape) / count * winners).astype(d.dtype, copy=False)


class MaxMinDim(Function):
    """The values at the arg-max (or arg-min) along ``dim``.

    forward:  out = a at ``indices``
    backward: da = d at those indices, 0 elsewhere: as PyTorch's ``x.max(dim)``, a tie
              sends the whole gradient to the one index returned
    """

    saves_inputs = False

    def forward(self, a: Any, indices: Any, dim: int, keepdim: bool) -> Any:
        self.shape, self.indices, self.dim = a.shape, indices, dim
        values = _xp(a).take_along_axis(a, indices, axis=dim)
        return values if keepdim else values.squeeze(axis=dim)

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        n = self.shape[self.dim]
        along_dim = [n if i == self.dim else 1 for i in range(len(self.shape))]
        positions = xp.arange(n).reshape(along_dim)
        d = d.reshape(self.indices.shape)
        return xp.where(positions == self.indices, d, d.dtype.type(0))


class Max(AmaxAmin):
    """x.max() / x.amax(dims): the full or multi-dim reduction (ties share d)."""


class Min(AmaxAmin):
    """x.min() / x.amin(dims): the full or multi-dim reduction (ties share d)."""


class MaxDim(MaxMinDim):
    """x.max(dim): values at the arg-max (d goes to the returned index)."""


class MinDim(MaxMinDim):
    """x.min(dim): values at the arg-min (d goes to the returned index)."""


def sum(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (an int, a tuple of ints, or None for all). Bool and integer
    tensors sum to int64, as in PyTorch."""
    a = to_operand(a)
    if a.dtype.kind in "biu" and a.dtype != np.int64:
        a = a.to(dtype=np.int64)
    return Sum.apply(a, dims=_reduced_dims(dim, a.ndim), keepdim=keepdim)


def mean(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Arithmetic mean over ``dim`` (an int, a tuple of ints, or None for all)."""
    a = to_operand(a)
    if not is_floating(a.dtype):
        raise TypeError(
            f"mean() needs a floating-point tensor, got dtype {a.dtype}; use x.float().mean()"
        )
    return Mean.apply(a, dims=_reduced_dims(dim, a.ndim), keepdim=keepdim)


def _max_or_min(a: Tensor, dim: Any, keepdim: bool, take_max: bool) -> Any:
    name = "max" if take_max else "min"
    a = to_operand(a)
    if isinstance(dim, Tensor):  # x.max(other): the elementwise form, as PyTorch
        return maximum(a, dim) if take_max else minimum(a, dim)
    if a.data.size == 0:
        raise ArgumentError(f"{name}() of an empty tensor (shape {a.shape}) has no value")
    if dim is None:
        return (Max if take_max else Min).apply(a, dims=None, keepdim=False, take_max=take_max,
                                                nan_wins=True)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(
            f"{name}(dim) takes one int dim, got {dim!r}; use a{name}(dims) to reduce several"
        )
    _normalize_dims(dim, a.ndim)  # validates dim
    if a.ndim == 0:  # one element: it is the max, at index 0
        values = (Max if take_max else Min).apply(a, dims=None, keepdim=False,
                                                  take_max=take_max)
        return MaxResult(values, _new_tensor(_xp(a.data).zeros((), dtype=np.int64)))
    d = int(dim) % a.ndim
    find = a.data.argmax if take_max else a.data.argmin
    indices = find(axis=d, keepdims=True).astype(np.int64, copy=False)
    values = (MaxDim if take_max else MinDim).apply(a, indices=indices, dim=d, keepdim=keepdim)
    return MaxResult(values, Tensor._wrap(indices if keepdim else indices.squeeze(axis=d)))


def max(a: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The largest element (a tie shares the gradient equally); with an int ``dim``, a
    (values, indices) pair as in PyTorch (the gradient goes to the returned index)."""
    return _max_or_min(a, dim, keepdim, take_max=True)


def min(a: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The smallest element; with an int ``dim``, a (values, indices) pair (see ``max``)."""
    return _max_or_min(a, dim, keepdim, take_max=False)


def amax(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The largest values over ``dim`` (int, tuple or None); ties share the gradient."""
    a = to_operand(a)
    if a.data.size == 0:
        raise ArgumentError(f"amax() of an empty tensor (shape {a.shape}) has no value")
    return Max.apply(a, dims=_reduced_dims(dim, a.ndim), keepdim=keepdim, take_max=True)


def amin(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The smallest values over ``dim`` (int, tuple or None); ties share the gradient."""
    a = to_operand(a)
    if a.data.size == 0:
        raise ArgumentError(f"amin() of an empty tensor (shape {a.shape}) has no value")
    return Min.apply(a, dims=_reduced_dims(dim, a.ndim), keepdim=keepdim, take_max=False)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (over the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(_xp(a.data).asarray(a.data.argmax(), dtype=np.int64))
    return Tensor._wrap(a.data.argmax(axis=dim, keepdims=keepdim).astype(np.int64))


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (over the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(_xp(a.data).asarray(a.data.argmin(), dtype=np.int64))
    return Tensor._wrap(a.data.argmin(axis=dim, keepdims=keepdim).astype(np.int64))


def _correction(dim: Any, unbiased: Any, correction: float | None) -> tuple[Any, float]:
    """Sort out PyTorch's overloads: ``var(unbiased)``, ``var(dim, unbiased, keepdim)``
    and ``var(dim, correction=c)``; correction defaults to 1 (Bessel's)."""
    if isinstance(dim, bool):  # x.var(False): the old var(unbiased) overload
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise ArgumentError("give either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


def var(a: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance Σ(a - mean)² / (n - correction) over ``dim``; correction 1 (the default)
    is the unbiased estimate, 0 (or ``unbiased=False``) the population variance. With
    n - correction <= 0 the result is inf or nan, as in PyTorch.

    Composed from differentiable ops, so its gradient needs no code of its own:
    d var / d a_i = 2 (a_i - mean) / (n - correction).
    """
    a = to_operand(a)
    dim, correction = _correction(dim, unbiased, correction)
    dims = _reduced_dims(dim, a.ndim)
    n = a.data.size if dims is None else math.prod(a.shape[d] for d in dims)
    centred = a - mean(a, dims, keepdim=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sum(centred * centred, dims, keepdim) / float(builtins.max(n - correction, 0))


def std(a: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation, the square root of :func:`var` (same arguments)."""
    return sqrt(var(a, dim, unbiased, keepdim, correction=correction))


# ------------------------------------------------------------------ cumulative and log-domain


def _one_dim(op: str, dim: Any, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    return _normalize_dims(int(dim), ndim)[0] if ndim else 0


def _reverse_cumsum(d: Any, dim: int) -> Any:
    """out_i = Σ_{j >= i} d_j along ``dim``."""
    xp = _xp(d)
    return xp.flip(xp.cumsum(xp.flip(d, axis=dim), axis=dim), axis=dim)


# ----------------------------------------------------------------------------- cumsum


class Cumsum(Function):
    """out_i = Σ_{j <= i} a_j along ``dim``;  da_i = Σ_{j >= i} d_j (a reversed cumsum)."""

    saves_inputs = False

    def forward(self, a: Any, *, dim: int) -> Any:
        self.dim = dim
        return _xp(a).cumsum(a, axis=dim, dtype=a.dtype)

    def backward(self, d: Any) -> Any:
        return _reverse_cumsum(d, self.dim)


def _cumulative_input(op: str, input: Any, dim: Any, dtype: Any) -> tuple[Tensor, int]:
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype=dtype)
    elif input.dtype.kind in "biu":
        input = input.to(dtype=np.int64)  # integer and bool inputs accumulate in int64
    return input, _one_dim(op, dim, input.ndim)


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sums along ``dim``: out_i = a_0 + ... + a_i, as ``torch.cumsum``."""
    input, d = _cumulative_input("cumsum", input, dim, dtype)
    if input.ndim == 0:
        return Cumsum.apply(input.reshape(1), dim=0).reshape(())
    return Cumsum.apply(input, dim=d)


# ----------------------------------------------------------------------------- cumprod


class Cumprod(Function):
    """The cumulative product along ``dim``.

    forward:  out_i = Π_{j <= i} a_j
    backward: da_i = Σ_{j >= i} d_j Π_{k <= j, k ≠ i} a_k

    Where no a_k is zero that is (Σ_{j >= i} d_j out_j) / a_i. With zeros, let z be the
    first zero of a row: for i < z only the terms j < z survive (every later product holds
    a_z = 0), and the formula above holds with out_j set to 0 from z on; for i = z,
    da_z = out_{z-1} · Σ_{j >= z} d_j Π_{z < k <= j} a_k; for i > z, da_i = 0.
    """

    def forward(self, a: Any, *, dim: int) -> Any:
        self.a, self.dim = a, dim
        self.out = _xp(a).cumprod(a, axis=dim, dtype=a.dtype)
        return self.out

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        a = xp.moveaxis(self.a, self.dim, -1)
        out = xp.moveaxis(self.out, self.dim, -1)
        d = xp.moveaxis(d, self.dim, -1)
        n = a.shape[-1]
        position = xp.arange(n)
        is_zero = a == 0
        first_zero = xp.where(is_zero.any(axis=-1), is_zero.argmax(axis=-1), n)[..., None]
        before = position < first_zero
        safe_a = xp.where(before, a, 1)
        grad = xp.where(before, _reverse_cumsum(d * xp.where(before, out, 0), -1) / safe_a, 0)
        at_zero = position == first_zero
        if at_zero.any():
            # the products a_{z+1} ... a_j, and out_{z-1} (1 when z = 0)
            after = xp.cumprod(xp.where(position > first_zero, a, 1), axis=-1)
            tail = (d * after * (position >= first_zero)).sum(axis=-1, keepdims=True)
            prefix = xp.take_along_axis(out, xp.clip(first_zero - 1, 0, n - 1), axis=-1)
            prefix = xp.where(first_zero == 0, 1, prefix)
            grad = xp.where(at_zero, prefix * tail, grad)
        return xp.moveaxis(grad.astype(d.dtype, copy=False), -1, self.dim)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running products along ``dim``: out_i = a_0 · ... · a_i, as ``torch.cumprod`` (the
    gradient is exact with zeros in the input)."""
    input, d = _cumulative_input("cumprod", input, dim, dtype)
    if input.ndim == 0:
        return Cumprod.apply(input.reshape(1), dim=0).reshape(())
    return Cumprod.apply(input, dim=d)


# ----------------------------------------------------------------------------- cummax


class CumExtreme(Function):
    """The running max (or min) along ``dim``.

    forward:  out_i = a at indices_i (the running max or min's position)
    backward: da = d added at those positions (the whole gradient goes to the index
              reported, as in PyTorch)
    """

    saves_inputs = False

    def forward(self, a: Any, *, dim: int, indices: Any) -> Any:
        self.shape, self.dim, self.indices = a.shape, dim, indices
        return _xp(a).take_along_axis(a, indices, axis=dim)

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        grad = xp.zeros(self.shape, dtype=d.dtype)
        grids = list(xp.indices(self.shape, sparse=True))
        grids[self.dim] = self.indices
        backend.scatter_add(grad, tuple(grids), d)
        return grad


def _cum_extreme(op: str, input: Tensor, dim: int, take_max: bool) -> MaxResult:
    input = as_tensor(input)
    if input.ndim == 0:
        values = CumExtreme.apply(input.reshape(1), dim=0, indices=input.xp.zeros(1, np.int64))
        return MaxResult(values.reshape(()), _new_tensor(input.xp.zeros((), np.int64)))
    d = _one_dim(op, dim, input.ndim)
    a, xp = input.data, input.xp
    running = (xp.maximum if take_max else xp.minimum).accumulate(a, axis=d)
    # PyTorch's rule: a new element takes over when it equals or passes the running
    # extreme (so ties go to the later index), and a NaN takes over and stays.
    takes_over = a == running
    if a.dtype.kind == "f":
        takes_over |= xp.isnan(a)
    view = [1] * a.ndim
    view[d] = a.shape[d]
    positions = xp.arange(a.shape[d]).reshape(view)
    indices = xp.maximum.accumulate(xp.where(takes_over, positions, 0), axis=d)
    values = CumExtreme.apply(input, dim=d, indices=indices.astype(np.int64))
    return MaxResult(values, _new_tensor(indices.astype(np.int64)))


def cummax(input: Tensor, dim: int) -> MaxResult:
    """(values, indices) of the running maximum along ``dim``, as ``torch.cummax``."""
    return _cum_extreme("cummax", input, dim, take_max=True)


def cummin(input: Tensor, dim: int) -> MaxResult:
    """(values, indices) of the running minimum along ``dim``, as ``torch.cummin``."""
    return _cum_extreme("cummin", input, dim, take_max=False)


# ----------------------------------------------------------------------------- logsumexp


class LogSumExp(Function):
    """log Σ exp(a) over ``dims``, stable.

    forward:  out = m + log Σ exp(a − m)   (m = the max, for stability)
    backward: da = d · exp(a − out), the softmax of a over those dims
    """

    def forward(self, a: Any, *, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        xp = _xp(a)
        m = a.max(axis=dims, keepdims=True) if a.size else xp.zeros(
            [1 if dims is None or i in dims else n for i, n in enumerate(a.shape)], a.dtype)
        m = xp.where(xp.isinf(m), 0, m)  # all -inf (or an inf) must not give inf - inf
        with np.errstate(divide="ignore"):
            out = xp.log(xp.exp(a - m).sum(axis=dims, keepdims=True)) + m
        self.a, self.kept = a, out
        if keepdim:
            return out
        return out.reshape(()) if dims is None else out.squeeze(axis=dims)

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        with np.errstate(invalid="ignore"):
            return d.reshape(self.kept.shape) * xp.exp(self.a - self.kept)


def logsumexp(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """log Σ exp(x) over ``dim`` (an int or a tuple; all dims when None or ``()``, as
    for ``sum``), computed stably, as ``torch.logsumexp``."""
    input = as_tensor(input)
    if input.dtype.kind != "f":
        input = input.to(dtype=np.float32)
    return LogSumExp.apply(input, dims=_reduced_dims(dim, input.ndim), keepdim=keepdim)


class LogCumSumExp(Function):
    """The cumulative log-sum-exp along ``dim`` (``logaddexp.accumulate``, stable).

    forward:  out_i = log Σ_{j <= i} exp(a_j)
    backward: da_i = Σ_{j >= i} d_j exp(a_i − out_j)

    The backward sum is done in the log domain too, for the positive and the negative
    parts of d apart: Σ_{j >= i} d⁺_j exp(−out_j) = exp(L⁺_i) with L⁺ the reversed
    logcumsumexp of log d⁺ − out; likewise for d⁻.
    """

    def forward(self, a: Any, *, dim: int) -> Any:
        self.a, self.dim = a, dim
        self.out = _xp(a).logaddexp.accumulate(a, axis=dim)
        return self.out

    def backward(self, d: Any) -> Any:
        xp, dim = _xp(d), self.dim
        grad = xp.zeros(d.shape, dtype=d.dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for sign in (1, -1):
                part = xp.log(xp.maximum(sign * d, 0)) - self.out
                reversed_sums = xp.flip(xp.logaddexp.accumulate(xp.flip(part, axis=dim),
                                                                axis=dim), axis=dim)
                grad += sign * xp.exp(self.a + reversed_sums)
        return grad


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log of the running sums of exp(x) along ``dim``, as ``torch.logcumsumexp``."""
    input = as_tensor(input)
    if input.dtype.kind != "f":
        input = input.to(dtype=np.float32)
    if input.ndim == 0:
        return LogCumSumExp.apply(input.reshape(1), dim=0).reshape(())
    return LogCumSumExp.apply(input, dim=_one_dim("logcumsumexp", dim, input.ndim))


# ----------------------------------------------------------------------------- std_mean


def var_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: float | None = None
             ) -> tuple[Tensor, Tensor]:
    """(variance, mean) over ``dim`` in one call, as ``torch.var_mean`` (the arguments
    of :func:`tinyrpn.var`)."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim if not isinstance(dim, bool) else None, keepdim))


def std_mean(input: Tensor, dim: Any = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: float | None = None
             ) -> tuple[Tensor, Tensor]:
    """(standard deviation, mean) over ``dim``, as ``torch.std_mean``."""
    variance, average = var_mean(input, dim, unbiased, keepdim, correction=correction)
    return sqrt(variance), average


# ----------------------------------------------------------------------------- any / all


def _logical_reduction(op: str, input: Tensor, dim: Any, keepdim: bool) -> Tensor:
    input = as_tensor(input)
    dims = _normalize_dims(dim, input.ndim)
    data = input.data
    result = data.any(axis=dims, keepdims=keepdim) if op == "any" else data.all(
        axis=dims, keepdims=keepdim)
    return Tensor._wrap(input.xp.asarray(result))


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether any element is nonzero (over ``dim``: an int, a tuple, or all when None);
    a bool tensor, no gradient."""
    return _logical_reduction("any", input, dim, keepdim)


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether every element is nonzero (over ``dim``, as :func:`any`)."""
    return _logical_reduction("all", input, dim, keepdim)


__all__ = ["cumsum", "cumprod", "cummax", "cummin", "logsumexp", "logcumsumexp",
           "var_mean", "std_mean", "any", "all"]

