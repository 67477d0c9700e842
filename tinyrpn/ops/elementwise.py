"""More elementwise math: trigonometric and hyperbolic functions, erf, other bases of
exp and log, rounding, floor division and remainder, copysign, logaddexp, lerp, and the
product reduction. Each Function states its formula and its gradient (d = dL/dout), as
in :mod:`tinyrpn.ops.math` (exp, log, tanh, ...); the operand helpers are ``ops/operands.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.operands import _binary, _float_input, _reduced_dims, _xp, to_operand
from tinyrpn.ops.reductions import _kept_shape
from tinyrpn.tensor import Tensor, _new_tensor

# ----------------------------------------------------------------------------- trigonometric


class Sin(Function):
    """out = sin a;  da = d cos a."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(invalid="ignore"):  # sin and cos of ±inf are NaN, as in PyTorch
            return _xp(a).sin(a)

    def backward(self, d: Any) -> Any:
        return d * _xp(d).cos(self.a)


class Cos(Function):
    """out = cos a;  da = −d sin a."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(invalid="ignore"):  # sin and cos of ±inf are NaN, as in PyTorch
            return _xp(a).cos(a)

    def backward(self, d: Any) -> Any:
        return -d * _xp(d).sin(self.a)


class Tan(Function):
    """out = tan a;  da = d (1 + out²)   (1 + tan² = 1 / cos²)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with np.errstate(invalid="ignore"):
            self.out = _xp(a).tan(a)
        return self.out

    def backward(self, d: Any) -> Any:
        return d * (1 + self.out * self.out)


class Asin(Function):
    """out = arcsin a;  da = d / √(1 − a²)   (inf at a = ±1, nan outside [−1, 1])."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(invalid="ignore"):
            return _xp(a).arcsin(a)

    def backward(self, d: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return d / _xp(d).sqrt(1 - self.a * self.a)


class Atan(Function):
    """out = arctan a;  da = d / (1 + a²)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return _xp(a).arctan(a)

    def backward(self, d: Any) -> Any:
        return d / (1 + self.a * self.a)


class Sinh(Function):
    """out = sinh a;  da = d cosh a."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(over="ignore"):
            return _xp(a).sinh(a)

    def backward(self, d: Any) -> Any:
        with np.errstate(over="ignore"):
            return d * _xp(d).cosh(self.a)


class Cosh(Function):
    """out = cosh a;  da = d sinh a."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(over="ignore"):
            return _xp(a).cosh(a)

    def backward(self, d: Any) -> Any:
        with np.errstate(over="ignore"):
            return d * _xp(d).sinh(self.a)


# ----------------------------------------------------------------------------- erf, exp, log


class Erf(Function):
    """out = erf a = 2/√π ∫₀ᵃ e^(−t²) dt;  da = d · 2/√π · e^(−a²)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return _kernels().erf(a)

    def backward(self, d: Any) -> Any:
        return d * (2 / math.sqrt(math.pi)) * _xp(d).exp(-self.a * self.a)


class Exp2(Function):
    """out = 2^a;  da = d · out · ln 2."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with np.errstate(over="ignore"):
            self.out = _xp(a).exp2(a)
        return self.out

    def backward(self, d: Any) -> Any:
        return d * self.out * math.log(2)


class Log2(Function):
    """out = log₂ a;  da = d / (a ln 2)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(divide="ignore", invalid="ignore"):
            return _xp(a).log2(a)

    def backward(self, d: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return d / (self.a * math.log(2))


class Log10(Function):
    """out = log₁₀ a;  da = d / (a ln 10)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        with np.errstate(divide="ignore", invalid="ignore"):
            return _xp(a).log10(a)

    def backward(self, d: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return d / (self.a * math.log(10))


class Rsqrt(Function):
    """out = 1/√a;  da = −d · out³ / 2."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            self.out = 1 / _xp(a).sqrt(a)
        return self.out

    def backward(self, d: Any) -> Any:
        with np.errstate(invalid="ignore"):
            return -0.5 * d * self.out * self.out * self.out


# ----------------------------------------------------------------------------- rounding


class _PiecewiseConstant(Function):
    """out = f(a) for a step function f;  da = 0.

    f' is 0 wherever it exists; at the jumps PyTorch takes 0 as well.
    """

    saves_inputs = False

    def backward(self, d: Any) -> Any:
        return _xp(d).zeros_like(d)


class Sign(_PiecewiseConstant):
    """out = sign a: −1, 0 or 1, and 0 for NaN (as PyTorch; NumPy would give NaN);  da = 0."""

    def forward(self, a: Any) -> Any:
        xp = _xp(a)
        out = xp.sign(a)
        return xp.where(xp.isnan(out), 0, out).astype(a.dtype, copy=False) if (
            a.dtype.kind == "f") else out


class Floor(_PiecewiseConstant):
    """out = ⌊a⌋;  da = 0."""

    def forward(self, a: Any) -> Any:
        return _xp(a).floor(a)


class Ceil(_PiecewiseConstant):
    """out = ⌈a⌉;  da = 0."""

    def forward(self, a: Any) -> Any:
        return _xp(a).ceil(a)


class Trunc(_PiecewiseConstant):
    """out = a rounded toward zero;  da = 0."""

    def forward(self, a: Any) -> Any:
        return _xp(a).trunc(a)


class Round(_PiecewiseConstant):
    """out = a rounded to ``decimals`` places, halves to even (0.5 → 0, 1.5 → 2);  da = 0."""

    def forward(self, a: Any, decimals: int) -> Any:
        return _xp(a).round(a, decimals)


class Remainder(Function):
    """out = a − b ⌊a / b⌋ (the sign of b, as Python's %);  da = d,  db = −d ⌊a / b⌋."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        with np.errstate(divide="ignore", invalid="ignore"):
            return _xp(a).mod(a, b)

    def backward(self, d: Any) -> tuple[Any, Any]:
        if not self.needs_input_grad[1]:
            return d, None
        with np.errstate(divide="ignore", invalid="ignore"):
            return d, -d * _xp(d).floor_divide(self.a, self.b)


# ----------------------------------------------------------------------------- two operands


class Copysign(Function):
    """|a| with the sign of b (its sign bit: −0.0 counts as negative).

    forward:  out = |a| · sign(b)
    backward: da = d · out / a (±1; 0 where a = 0 and NaN where a is, as PyTorch),  db = 0
    """

    saves_output = True

    def forward(self, a: Any, b: Any) -> Any:
        self.a = a
        self.out = _xp(a).copysign(a, b)
        return self.out

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(d)
        with np.errstate(divide="ignore", invalid="ignore"):
            flips = xp.where(self.a == 0, 0, self.out / self.a)
        return d * flips.astype(d.dtype, copy=False), xp.zeros_like(d)


class LogAddExp(Function):
    """log(e^a + e^b), without overflow.

    forward:  out = log(e^a + e^b)
    backward: da = d / (1 + e^(b − a)),  db = d / (1 + e^(a − b))   (the softmax weights
              of a and b, written so that an infinite operand still gets its weight of 1 or 0)
    """

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return _xp(a).logaddexp(a, b)

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(d)
        need_a, need_b = self.needs_input_grad
        with np.errstate(over="ignore", invalid="ignore"):
            da = d / (1 + xp.exp(self.b - self.a)) if need_a else None
            db = d / (1 + xp.exp(self.a - self.b)) if need_b else None
        return da, db


class Lerp(Function):
    """Linear interpolation from start to end.

    forward:  out = start + w (end − start)
    backward: dstart = d (1 − w),  dend = d w,  dw = d (end − start)
    """

    def forward(self, start: Any, end: Any, weight: Any) -> Any:
        self.start, self.end, self.weight = start, end, weight
        return start + weight * (end - start)

    def backward(self, d: Any) -> tuple[Any, Any, Any]:
        need_start, need_end, need_weight = self.needs_input_grad
        return (d * (1 - self.weight) if need_start else None,
                d * self.weight if need_end else None,
                d * (self.end - self.start) if need_weight else None)


# ----------------------------------------------------------------------------- product


def _exclusive_cumprod(a: Any, axis: int, reverse: bool) -> Any:
    """Along ``axis``, the product of the elements strictly before (or after) each one."""
    xp = _xp(a)
    if reverse:
        a = xp.flip(a, axis)
    ones = xp.ones_like(xp.take(a, [0], axis=axis))
    before = xp.concatenate([ones, xp.cumprod(a, axis=axis)], axis=axis)
    before = xp.take(before, xp.arange(a.shape[axis]), axis=axis)
    return xp.flip(before, axis) if reverse else before


class Prod(Function):
    """The product over ``dim`` (or over everything).

    forward:  out = Π a
    backward: da_i = d · Π_{j≠i} a_j, computed as (product of the elements before i) ×
              (product of the elements after i), so it stays exact where some a_j are 0
              (d · out / a_i would divide by zero there)
    """

    def forward(self, a: Any, dim: int | None, keepdim: bool) -> Any:
        self.a, self.dim = a, dim
        self.kept = _kept_shape(a.shape, None if dim is None else (dim,))
        if dim is None:
            out = a.prod()
            return out.reshape(self.kept) if keepdim else out
        return a.prod(axis=dim, keepdims=keepdim)

    def backward(self, d: Any) -> Any:
        if self.a.size == 0:
            return _xp(d).zeros(self.a.shape, dtype=d.dtype)
        a = self.a.reshape(-1) if self.dim is None else self.a
        axis = 0 if self.dim is None else self.dim
        others = _exclusive_cumprod(a, axis, False) * _exclusive_cumprod(a, axis, True)
        return (d.reshape(self.kept) * others.reshape(self.a.shape)).astype(d.dtype,
                                                                              copy=False)


# ----------------------------------------------------------------------------- public functions


def sin(a: Tensor) -> Tensor:
    """sin a, elementwise (radians)."""
    return Sin.apply(_float_input(a))


def cos(a: Tensor) -> Tensor:
    """cos a, elementwise (radians)."""
    return Cos.apply(_float_input(a))


def tan(a: Tensor) -> Tensor:
    """tan a, elementwise (radians)."""
    return Tan.apply(_float_input(a))


def asin(a: Tensor) -> Tensor:
    """arcsin a, elementwise (nan outside [−1, 1])."""
    return Asin.apply(_float_input(a))


def atan(a: Tensor) -> Tensor:
    """arctan a, elementwise, in (−π/2, π/2)."""
    return Atan.apply(_float_input(a))


def sinh(a: Tensor) -> Tensor:
    """Hyperbolic sine, elementwise."""
    return Sinh.apply(_float_input(a))


def cosh(a: Tensor) -> Tensor:
    """Hyperbolic cosine, elementwise."""
    return Cosh.apply(_float_input(a))


def erf(a: Tensor) -> Tensor:
    """The error function 2/√π ∫₀ᵃ e^(−t²) dt, elementwise."""
    return Erf.apply(_float_input(a))


def exp2(a: Tensor) -> Tensor:
    """2 to the power a, elementwise."""
    return Exp2.apply(_float_input(a))


def log2(a: Tensor) -> Tensor:
    """Base-2 logarithm, elementwise."""
    return Log2.apply(_float_input(a))


def log10(a: Tensor) -> Tensor:
    """Base-10 logarithm, elementwise."""
    return Log10.apply(_float_input(a))


def rsqrt(a: Tensor) -> Tensor:
    """1 / √a, elementwise."""
    return Rsqrt.apply(_float_input(a))


def _step(cls: type[_PiecewiseConstant], a: Any, **options: Any) -> Tensor:
    a = to_operand(a)
    if a.dtype.kind in "biu" and cls is not Sign:
        return _new_tensor(a.data.copy())  # integers are already whole: PyTorch copies
    if a.dtype == np.bool_:
        raise TypeError("sign of a bool tensor is not defined; convert it first, e.g. x.int()")
    return cls.apply(a, **options)


def sign(a: Tensor) -> Tensor:
    """−1, 0 or 1 by the sign of each element (zero gradient)."""
    return _step(Sign, a)


def floor(a: Tensor) -> Tensor:
    """The largest whole number ≤ each element (zero gradient)."""
    return _step(Floor, a)


def ceil(a: Tensor) -> Tensor:
    """The smallest whole number ≥ each element (zero gradient)."""
    return _step(Ceil, a)


def trunc(a: Tensor) -> Tensor:
    """Each element rounded toward zero (zero gradient)."""
    return _step(Trunc, a)


def round(a: Tensor, decimals: int = 0) -> Tensor:
    """Each element rounded to ``decimals`` places, halves to even (zero gradient)."""
    return _step(Round, a, decimals=int(decimals))


def isnan(a: Tensor) -> Tensor:
    """A bool tensor: where ``a`` is NaN."""
    a = to_operand(a)
    return Tensor._wrap(_xp(a.data).isnan(a.data))


def isinf(a: Tensor) -> Tensor:
    """A bool tensor: where ``a`` is +inf or −inf."""
    a = to_operand(a)
    return Tensor._wrap(_xp(a.data).isinf(a.data))


def isfinite(a: Tensor) -> Tensor:
    """A bool tensor: where ``a`` is neither NaN nor ±inf."""
    a = to_operand(a)
    return Tensor._wrap(_xp(a.data).isfinite(a.data))


def floor_divide(a: Any, b: Any) -> Tensor:
    """⌊a / b⌋ elementwise, as Python's ``//`` (and PyTorch's since 1.13): no gradient."""
    a, b = _binary("floor_divide", a, b)
    if a.dtype.kind in "iu" and bool((b.data == 0).any()):
        raise ZeroDivisionError(f"floor_divide: integer division by zero (divisor shape "
                                f"{b.shape})")
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor._wrap(_xp(a.data).floor_divide(a.data, b.data))


def remainder(a: Any, b: Any) -> Tensor:
    """a − b ⌊a / b⌋ elementwise, as Python's ``%``: the result has the sign of b."""
    a, b = _binary("remainder", a, b)
    if a.dtype.kind in "iu":
        if bool((b.data == 0).any()):
            raise ZeroDivisionError(f"remainder: integer division by zero (divisor shape "
                                    f"{b.shape})")
        return Tensor._wrap(_xp(a.data).mod(a.data, b.data))
    return Remainder.apply(a, b)


def copysign(a: Any, b: Any) -> Tensor:
    """|a| with the sign of b, elementwise (the gradient flows to a only)."""
    a, b = _binary("copysign", _float_input(a), b)
    return Copysign.apply(a, b)


def logaddexp(a: Any, b: Any) -> Tensor:
    """log(e^a + e^b) elementwise, computed without overflow."""
    a, b = _binary("logaddexp", _float_input(a), b)
    return LogAddExp.apply(a, b)


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """start + weight · (end − start), elementwise; ``weight`` is a number or a tensor."""
    start, end = _binary("lerp", start, end)
    weight = to_operand(weight, start)
    if weight.dtype != start.dtype:
        weight = weight.to(dtype=start.dtype)
    _binary("lerp", start, weight)  # checks that the weight broadcasts
    return Lerp.apply(start, end, weight)


def prod(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The product of all elements, or along one ``dim``. Bool and integer tensors give
    int64 (as PyTorch); the gradient is exact even where elements are 0."""
    a = to_operand(a)
    if a.dtype.kind in "biu" and a.dtype != np.int64:
        a = a.to(dtype=np.int64)
    if dim is not None:
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"prod takes one int dim, got {dim!r}")
        dims = _reduced_dims(dim, a.ndim)
        dim = dims[0] if dims else None
        if a.ndim == 0:
            dim = None
    return Prod.apply(a, dim=dim, keepdim=keepdim)


__all__ = [
    "sin", "cos", "tan", "asin", "atan", "sinh", "cosh", "erf", "exp2", "log2", "log10",
    "rsqrt", "sign", "floor", "ceil", "trunc", "round", "isnan", "isinf", "isfinite",
    "floor_divide", "remainder", "copysign", "logaddexp", "lerp", "prod",
]
