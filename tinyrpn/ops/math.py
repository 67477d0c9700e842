"""The elementwise functions of a first course: exp, log, abs, tanh, sigmoid, relu.

(The others, trigonometric, hyperbolic, rounding and more, are in ``ops/elementwise.py``.)
Every Function receives arrays and returns an array; d is the incoming gradient dL/dout.

(``sqrt`` is with the arithmetic, ``ops/arithmetic.py``, beside ``pow``.) This module also
gives the arithmetic, comparison and reduction functions under their old address
(``tinyrpn.ops.math.add``, ``.sum``, ``.where``...), for code written before ``ops/math.py``
was split by family; new code imports them from their own module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.ops.arithmetic import add, div, mul, neg, pow, sqrt, sub
from tinyrpn.ops.comparison import clamp, compare, maximum, minimum, where
from tinyrpn.ops.operands import _float_input, _xp, to_operand
from tinyrpn.ops.reductions import (
    amax,
    amin,
    argmax,
    argmin,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from tinyrpn.tensor import Tensor


class Exp(Function):
    """out = exp(a);  da = d * out."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = _xp(a).exp(a)
        return self.out

    def backward(self, d: Any) -> Any:
        return d * self.out


class Log(Function):
    """out = log(a);  da = d / a."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(divide="ignore", invalid="ignore"):
            return _xp(a).log(a)

    def backward(self, d: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return d / self.a


class Abs(Function):
    """out = |a|;  da = d * sign(a) (0 at a = 0, as PyTorch)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return _xp(a).abs(a)

    def backward(self, d: Any) -> Any:
        return d * _xp(self.a).sign(self.a)


class Tanh(Function):
    """out = tanh(a);  da = d * (1 - out²)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = _xp(a).tanh(a)
        return self.out

    def backward(self, d: Any) -> Any:
        return d * (1 - self.out * self.out)


class Sigmoid(Function):
    """out = 1 / (1 + exp(-a));  da = d * out * (1 - out)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        # For a very negative, exp(-a) overflows to inf and 1 / (1 + inf) is the right
        # limit, 0; the formula keeps full relative precision everywhere else.
        with np.errstate(over="ignore"):
            self.out = 1 / (1 + _xp(a).exp(-a))
        return self.out

    def backward(self, d: Any) -> Any:
        return d * self.out * (1 - self.out)


class Relu(Function):
    """out = max(a, 0);  da = 0 where out <= 0, else d (so a NaN passes d, as PyTorch)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = _xp(a).maximum(a, 0)
        return self.out

    def backward(self, d: Any) -> Any:
        return _xp(d).where(self.out <= 0, d.dtype.type(0), d)


def exp(a: Tensor) -> Tensor:
    """e to the power a, elementwise."""
    return Exp.apply(_float_input(a))


def log(a: Tensor) -> Tensor:
    """Natural logarithm, elementwise (-inf at 0, nan below 0, as PyTorch)."""
    return Log.apply(_float_input(a))


def abs(a: Tensor) -> Tensor:
    """|a|, elementwise."""
    return Abs.apply(to_operand(a))


def tanh(a: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return Tanh.apply(_float_input(a))


def sigmoid(a: Tensor) -> Tensor:
    """The logistic function 1 / (1 + e^-a), elementwise."""
    return Sigmoid.apply(_float_input(a))


def relu(a: Tensor) -> Tensor:
    """max(a, 0), elementwise."""
    return Relu.apply(to_operand(a))


__all__ = [
    "exp", "log", "abs", "tanh", "sigmoid", "relu",
    # at their old address (see the docstring):
    "add", "sub", "mul", "div", "pow", "neg", "sqrt", "clamp", "where", "compare", "maximum",
    "minimum", "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
]
