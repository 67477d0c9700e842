"""Comparisons, and the ops that choose by one: ``maximum``/``minimum``, ``clamp``, ``where``.

A comparison (``a < b``) gives a bool tensor and no gradient. The others pass the
incoming gradient d to whichever operand was chosen (split equally on a tie, the
subgradient of smallest norm).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.operands import _binary, _xp, binary_operands, to_operand
from tinyrpn.tensor import Tensor


class Maximum(Function):
    """The elementwise maximum (or minimum) of two tensors.

    forward:  out = max(a, b)   (min(a, b) for Minimum)
    backward: d goes to the operand that is the result, split half-and-half where they
              are equal (as PyTorch's ``maximum``/``minimum``)

    An operand loses its share only where the other one strictly wins, so where either is
    NaN (the result is NaN) both receive all of d, as in PyTorch.
    """

    def forward(self, a: Any, b: Any, take_max: bool) -> Any:
        self.a, self.b, self.take_max = a, b, take_max
        return _xp(a).maximum(a, b) if take_max else _xp(a).minimum(a, b)

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(d)
        a, b = self.a, self.b
        a_loses, b_loses = (a < b, a > b) if self.take_max else (a > b, a < b)
        share = xp.where(a == b, d * 0.5, d)
        zero = d.dtype.type(0)
        return xp.where(a_loses, zero, share), xp.where(b_loses, zero, share)


class Minimum(Maximum):
    """minimum(a, b): see Maximum."""


_COMPARISONS = {
    "lt": "less", "le": "less_equal", "gt": "greater",
    "ge": "greater_equal", "eq": "equal", "ne": "not_equal",
}


def compare(a: Any, b: Any, how: str) -> Tensor:
    """Elementwise comparison; the result is a bool tensor with no gradient."""
    a, b = _binary(how, a, b)
    ufunc = getattr(_xp(a.data), _COMPARISONS[how])
    return Tensor._wrap(ufunc(a.data, b.data))  # (_wrap: 0-d results come back as scalars)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; where a == b the gradient is split equally (as PyTorch)."""
    return Maximum.apply(*_binary("maximum", a, b), take_max=True)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; where a == b the gradient is split equally (as PyTorch)."""
    return Minimum.apply(*_binary("minimum", a, b), take_max=False)


class Clamp(Function):
    """out = min(max(a, lo), hi);  da = d where lo < a < hi, else 0.

    On a bound the function has a kink, and the gradient taken there is 0: the subgradient
    of smallest norm, the one ``relu`` takes at 0 (``clamp(x, min=0)`` is ``relu(x)``, and
    they should train alike). PyTorch does the same since 2.14; up to 2.13 it passed the
    gradient through an element sitting exactly on a bound.
    """

    def forward(self, a: Any, lo: float | None, hi: float | None) -> Any:
        self.a, self.lo, self.hi = a, lo, hi
        return _xp(a).clip(a, lo, hi)

    def backward(self, d: Any) -> Any:
        a, lo, hi = self.a, self.lo, self.hi
        if lo is None:
            inside = a < hi
        elif hi is None:
            inside = a > lo
        else:
            inside = (a > lo) & (a < hi)
        return d * inside


def clamp(a: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit every element to [min, max] (either bound may be None; either may be a
    tensor, which then broadcasts and receives the gradient where it is the result).

    Where an element equals a bound, a number bound leaves it no gradient (see
    :class:`Clamp`) and a tensor bound shares the gradient with it equally, as
    :func:`maximum` and :func:`minimum` do; both are the subgradient of smallest norm."""
    if min is None and max is None:
        raise ArgumentError("clamp needs at least one of min and max")
    a = to_operand(a)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a
        if isinstance(min, Tensor):
            out = maximum(out, min)
        elif min is not None:  # a number beside a tensor max: ties go to the number
            out = where(compare(out, min, "le"), min, out)
        if isinstance(max, Tensor):
            out = minimum(out, max)
        elif max is not None:
            out = where(compare(out, max, "ge"), max, out)
        return out
    if a.dtype.kind != "f" and any(isinstance(v, float) for v in (min, max)):
        a = a.to(dtype=np.float32)
    return Clamp.apply(a, lo=min, hi=max)


# ----------------------------------------------------------------------------- where


class Where(Function):
    """out = a where cond else b;  da = d where cond, db = d where not cond."""

    saves_inputs = False

    def forward(self, a: Any, b: Any, cond: Any) -> Any:
        self.cond = cond
        return _xp(a).where(cond, a, b)

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(d)
        zero = d.dtype.type(0)
        return xp.where(self.cond, d, zero), xp.where(self.cond, zero, d)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick from ``a`` where ``condition`` is true, from ``b`` elsewhere (all three
    broadcast together); gradients flow to ``a`` and ``b``, none to the condition."""
    a, b = binary_operands(a, b)
    if isinstance(condition, Tensor):
        cond = condition.data
    else:
        cond = _xp(a.data).asarray(condition)
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ArgumentError(
            f"where: condition {tuple(cond.shape)}, a {a.shape} and b {b.shape} cannot be "
            "broadcast together"
        ) from None
    return Where.apply(a, b, cond=cond.astype(bool, copy=False))

