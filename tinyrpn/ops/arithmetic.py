"""Arithmetic: ``+ - * / **``, negation and the square root, each with its gradient.

Every Function here receives arrays and returns an array; the public functions at the
bottom (``add``, ``sub``, ...) take Tensors or Python numbers and are what ``Tensor``'s
operators call. The gradient formulas use d for the incoming gradient dL/dout; the
engine sums a gradient back over broadcast axes (``autograd.unbroadcast``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.ops.operands import _binary, _float_input, _xp, to_operand
from tinyrpn.tensor import Tensor


class Add(Function):
    """out = a + b;  da = d, db = d (summed over broadcast axes by the engine)."""

    saves_inputs = False

    def forward(self, a: Any, b: Any) -> Any:
        return a + b

    def backward(self, d: Any) -> tuple[Any, Any]:
        return d, d


class Sub(Function):
    """out = a - b;  da = d, db = -d."""

    saves_inputs = False

    def forward(self, a: Any, b: Any) -> Any:
        return a - b

    def backward(self, d: Any) -> tuple[Any, Any]:
        return d, -d


class Mul(Function):
    """out = a * b;  da = d * b, db = d * a."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a * b

    def backward(self, d: Any) -> tuple[Any, Any]:
        need_a, need_b = self.needs_input_grad
        return (d * self.b if need_a else None), (d * self.a if need_b else None)


class Div(Function):
    """out = a / b;  da = d / b, db = -d * a / b²."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a / b

    def backward(self, d: Any) -> tuple[Any, Any]:
        da = d / self.b
        return da, (-da * self.a / self.b if self.needs_input_grad[1] else None)


# A Python number as the other operand of a floating tensor: the number stays a number
# (NumPy, like PyTorch, never lets it widen the tensor's dtype), which saves making a
# tensor of it and a gradient nobody wants.


class AddScalar(Function):
    """out = a + c for a constant c;  da = d."""

    name = "Add"  # grad_fn reads as the op, with or without a number

    saves_inputs = False

    def forward(self, a: Any, c: float) -> Any:
        return a + c

    def backward(self, d: Any) -> Any:
        return d


class MulScalar(Function):
    """out = a * c for a constant c;  da = d * c."""

    name = "Mul"  # grad_fn reads as the op, with or without a number

    saves_inputs = False

    def forward(self, a: Any, c: float) -> Any:
        self.c = c
        return a * c

    def backward(self, d: Any) -> Any:
        return d * self.c


class DivScalar(Function):
    """out = a / c for a constant c;  da = d / c."""

    name = "Div"  # grad_fn reads as the op, with or without a number

    saves_inputs = False

    def forward(self, a: Any, c: float) -> Any:
        self.c = c
        return a / c

    def backward(self, d: Any) -> Any:
        return d / self.c


class RSubScalar(Function):
    """out = c - a for a constant c;  da = -d."""

    name = "Sub"  # grad_fn reads as the op, with or without a number

    saves_inputs = False

    def forward(self, a: Any, c: float) -> Any:
        return c - a

    def backward(self, d: Any) -> Any:
        return -d


class RDivScalar(Function):
    """out = c / a for a constant c;  da = -d * c / a² = -d * out / a."""

    name = "Div"  # grad_fn reads as the op, with or without a number

    def forward(self, a: Any, c: float) -> Any:
        self.a, self.c = a, c
        return c / a

    def backward(self, d: Any) -> Any:
        return -d * self.c / (self.a * self.a)


def _number_for(t: Any, c: Any) -> bool:
    """Whether ``c`` is a plain Python number that ``t``, a floating tensor, can use as is."""
    return (type(c) is float or type(c) is int) and isinstance(t, Tensor) and (
        t.data.dtype.kind == "f")


class Pow(Function):
    """out = a ** b;  da = d * b * a^(b-1), db = d * out * log(a).

    As in PyTorch: da is 0 where b = 0 (a^0 is constant even at a = 0), and db is 0 where
    a = 0 and b >= 0 (the limit of a^b log a); elsewhere log of a negative gives nan.
    """

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(self.a)
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        da = db = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_a:
                da = xp.where(b == 0, 0, d * b * a ** (b - 1)).astype(d.dtype, copy=False)
            if need_b:
                db = xp.where((a == 0) & (b >= 0), 0, d * self.out * xp.log(a))
                db = db.astype(d.dtype, copy=False)
        return da, db


class PowScalar(Function):
    """out = a ** p for a constant p;  da = d * p * a^(p-1) (0 when p = 0)."""

    def forward(self, a: Any, p: float) -> Any:
        self.a, self.p = a, p
        return a**p

    def backward(self, d: Any) -> Any:
        if self.p == 0:
            return d * 0
        if self.p == 2:
            return d * 2 * self.a
        with np.errstate(divide="ignore", invalid="ignore"):
            return d * self.p * self.a ** (self.p - 1)


class Sqrt(Function):
    """out = √a;  da = d / (2 out)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with np.errstate(invalid="ignore"):
            self.out = _xp(a).sqrt(a)
        return self.out

    def backward(self, d: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return d / (2 * self.out)


def add(a: Any, b: Any) -> Tensor:
    """a + b with broadcasting."""
    if _number_for(a, b):
        return AddScalar.apply(a, c=b)
    if _number_for(b, a):
        return AddScalar.apply(b, c=a)
    return Add.apply(*_binary("add", a, b))


def sub(a: Any, b: Any) -> Tensor:
    """a - b with broadcasting (not for bool tensors, as in PyTorch)."""
    if _number_for(a, b):
        return AddScalar.apply(a, c=-b)  # exactly a - b in floating point
    if _number_for(b, a):
        return RSubScalar.apply(b, c=a)
    for t in (a, b):
        if isinstance(t, Tensor) and t.data.dtype == np.bool_:
            raise TypeError("sub: subtraction with a bool tensor is not defined; to invert a "
                            "mask use ~mask or mask.logical_not()")
    return Sub.apply(*_binary("sub", a, b))


def mul(a: Any, b: Any) -> Tensor:
    """a * b elementwise, with broadcasting."""
    if _number_for(a, b):
        return MulScalar.apply(a, c=b)
    if _number_for(b, a):
        return MulScalar.apply(b, c=a)
    return Mul.apply(*_binary("mul", a, b))


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise (true division: integer tensors give float32, as PyTorch)."""
    if _number_for(a, b):
        return DivScalar.apply(a, c=b)
    if _number_for(b, a):
        return RDivScalar.apply(b, c=a)
    a, b = _binary("div", a, b)
    if a.dtype.kind != "f":
        a, b = a.to(dtype=np.float32), b.to(dtype=np.float32)
    return Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:
    """a ** b elementwise; a constant exponent takes the cheaper path."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if isinstance(b, float) and a.dtype.kind != "f":
            a = a.to(dtype=np.float32)  # int tensor ** 0.5 is float32, as in PyTorch
        return PowScalar.apply(a, p=b)
    return Pow.apply(*_binary("pow", a, b))


class Neg(Function):
    """out = -a;  da = -d."""

    saves_inputs = False

    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, d: Any) -> Any:
        return -d


def neg(a: Tensor) -> Tensor:
    """-a."""
    a = to_operand(a)
    if a.dtype == np.bool_:
        raise TypeError("negation of a bool tensor is not defined; use ~x or x.logical_not()")
    return Neg.apply(a)


def sqrt(a: Tensor) -> Tensor:
    """Square root, elementwise (nan below 0)."""
    return Sqrt.apply(_float_input(a))
