"""Elementwise arithmetic, unary functions and reductions, each with its gradient.

Every Function here receives arrays and returns an array; the public functions at the
bottom of each section take Tensors (or Python numbers) and are what ``Tensor`` methods
and operators call. The gradient formulas use d for the incoming gradient dL/dout.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from tinyrpn.autograd import Function, MaxResult, Tensor, as_dtype, is_floating

# ----------------------------------------------------------------------------- operands


def to_operand(value: Any, like: Tensor | None = None) -> Tensor:
    """A Tensor for an operand: Tensors pass through; numbers take ``like``'s dtype.

    Type promotion follows PyTorch: a Python number never widens a tensor's dtype
    (float32 tensor * 2.5 stays float32); an int tensor with a float number becomes float32.
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float, bool, np.number)):
        dtype = like.dtype
        if isinstance(value, float) and not is_floating(dtype):
            dtype = np.dtype(np.float32)
        return Tensor._wrap(like.xp.asarray(value, dtype=dtype))
    from tinyrpn.autograd import as_tensor

    return as_tensor(value)


def binary_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, to_operand(b, a)
    b = to_operand(b)
    return to_operand(a, b), b


def _normalize_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """``dim`` (None, an int, or a sequence) as a tuple of non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(
                f"dimension {d} is out of range for a tensor with {ndim} dims "
                f"(valid: {-builtins.max(ndim, 1)} to {builtins.max(ndim, 1) - 1})"
            )
        out.append(int(d) % builtins.max(ndim, 1))
    return tuple(out)


def _shapes_error(op: str, a: Tensor, b: Tensor) -> ValueError:
    return ValueError(
        f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together (trailing "
        "dimensions must be equal or 1)"
    )


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise _shapes_error(op, a, b) from None


# ----------------------------------------------------------------------------- binary


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
        return d * self.b, d * self.a


class Div(Function):
    """out = a / b;  da = d / b, db = -d * a / b²."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a / b

    def backward(self, d: Any) -> tuple[Any, Any]:
        da = d / self.b
        return da, -da * self.a / self.b


class Pow(Function):
    """out = a ** b;  da = d * b * a^(b-1), db = d * out * log(a) (for a > 0)."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, d: Any) -> tuple[Any, Any]:
        xp = _xp(self.a)
        da = d * self.b * self.a ** (self.b - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            # log(a) is undefined for a <= 0; PyTorch gives 0 there when a == 0.
            log_a = xp.where(self.a > 0, xp.log(xp.where(self.a > 0, self.a, 1)), 0)
        return da, d * self.out * log_a


class PowScalar(Function):
    """out = a ** p for a constant p;  da = d * p * a^(p-1)."""

    def forward(self, a: Any, p: float) -> Any:
        self.a, self.p = a, p
        return a**p

    def backward(self, d: Any) -> Any:
        if self.p == 2:
            return d * 2 * self.a
        return d * self.p * self.a ** (self.p - 1)


def add(a: Any, b: Any) -> Tensor:
    """a + b with broadcasting."""
    a, b = binary_operands(a, b)
    _broadcast_check("add", a, b)
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    """a - b with broadcasting."""
    a, b = binary_operands(a, b)
    _broadcast_check("sub", a, b)
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """a * b elementwise, with broadcasting."""
    a, b = binary_operands(a, b)
    _broadcast_check("mul", a, b)
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise (true division: integer tensors give float32)."""
    a, b = binary_operands(a, b)
    _broadcast_check("div", a, b)
    if not is_floating(a.dtype) and not is_floating(b.dtype):
        a = a.to(dtype=np.float32)
    return Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:
    """a ** b elementwise; a constant exponent takes the cheaper path."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar.apply(a, p=b)
    a, b = binary_operands(a, b)
    _broadcast_check("pow", a, b)
    return Pow.apply(a, b)


_COMPARISONS = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}


def compare(a: Any, b: Any, how: str) -> Tensor:
    """Elementwise comparison; the result is a bool tensor with no gradient."""
    a, b = binary_operands(a, b)
    _broadcast_check(how, a, b)
    ufunc = _COMPARISONS[how]
    if a.xp is not np:
        ufunc = getattr(a.xp, ufunc.__name__)
    return Tensor._wrap(ufunc(a.data, b.data))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; on ties the gradient goes to ``a``."""
    a, b = binary_operands(a, b)
    return where(a >= b, a, b)


# ----------------------------------------------------------------------------- unary


class Neg(Function):
    """out = -a;  da = -d."""

    saves_inputs = False

    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, d: Any) -> Any:
        return -d


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
        return d / self.a


class Sqrt(Function):
    """out = √a;  da = d / (2 out)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with np.errstate(invalid="ignore"):
            self.out = _xp(a).sqrt(a)
        return self.out

    def backward(self, d: Any) -> Any:
        return d / (2 * self.out)


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
        xp = _xp(a)
        # Split by sign so that exp never overflows: for a < 0, use exp(a) / (1 + exp(a)).
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        return self.out

    def backward(self, d: Any) -> Any:
        return d * self.out * (1 - self.out)


class Relu(Function):
    """out = max(a, 0);  da = d where a > 0, else 0."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = _xp(a).maximum(a, 0)
        return self.out

    def backward(self, d: Any) -> Any:
        return d * (self.out > 0)


class Clamp(Function):
    """out = min(max(a, lo), hi);  da = d where lo <= a <= hi, else 0."""

    def forward(self, a: Any, lo: float | None, hi: float | None) -> Any:
        self.a, self.lo, self.hi = a, lo, hi
        return _xp(a).clip(a, lo, hi)

    def backward(self, d: Any) -> Any:
        inside = _xp(self.a).ones(self.a.shape, dtype=bool)
        if self.lo is not None:
            inside &= self.a >= self.lo
        if self.hi is not None:
            inside &= self.a <= self.hi
        return d * inside


def _xp(array: Any) -> Any:
    from tinyrpn.backend import get_array_module

    return get_array_module(array)


def _unary(fn: type[Function], a: Any) -> Tensor:
    return fn.apply(a if isinstance(a, Tensor) else to_operand(a))


def _float_input(name: str, a: Any) -> Tensor:
    a = a if isinstance(a, Tensor) else to_operand(a)
    if not is_floating(a.dtype):
        a = a.to(dtype=np.float32)
    return a


def neg(a: Tensor) -> Tensor:
    """-a."""
    return _unary(Neg, a)


def exp(a: Tensor) -> Tensor:
    """e to the power a, elementwise."""
    return Exp.apply(_float_input("exp", a))


def log(a: Tensor) -> Tensor:
    """Natural logarithm, elementwise (-inf at 0, nan below 0, as NumPy)."""
    return Log.apply(_float_input("log", a))


def sqrt(a: Tensor) -> Tensor:
    """Square root, elementwise."""
    return Sqrt.apply(_float_input("sqrt", a))


def abs(a: Tensor) -> Tensor:
    """|a|, elementwise."""
    return _unary(Abs, a)


def tanh(a: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return Tanh.apply(_float_input("tanh", a))


def sigmoid(a: Tensor) -> Tensor:
    """The logistic function 1 / (1 + e^-a), elementwise."""
    return Sigmoid.apply(_float_input("sigmoid", a))


def relu(a: Tensor) -> Tensor:
    """max(a, 0), elementwise."""
    return _unary(Relu, a)


def clamp(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Limit every element to [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp needs at least one of min and max")
    return Clamp.apply(a, lo=min, hi=max)


# ----------------------------------------------------------------------------- where


class Where(Function):
    """out = a where cond else b;  da = d where cond, db = d where not cond."""

    saves_inputs = False

    def forward(self, a: Any, b: Any, cond: Any) -> Any:
        self.cond = cond
        return _xp(a).where(cond, a, b)

    def backward(self, d: Any) -> tuple[Any, Any]:
        zero = d.dtype.type(0)
        xp = _xp(d)
        return xp.where(self.cond, d, zero), xp.where(self.cond, zero, d)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick from ``a`` where ``condition`` is true, from ``b`` elsewhere (broadcasting)."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a, b = binary_operands(a, b)
    return Where.apply(a, b, cond=cond.astype(bool, copy=False))


# ----------------------------------------------------------------------------- reductions


class Sum(Function):
    """out = Σ a over ``dims``;  da = d broadcast back over the summed axes."""

    saves_inputs = False

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        return a.sum(axis=dims, keepdims=keepdim)

    def backward(self, d: Any) -> Any:
        if not self.keepdim and self.dims is not None:
            d = _xp(d).expand_dims(d, self.dims)
        return _xp(d).broadcast_to(d, self.shape)


class Mean(Function):
    """out = (1/n) Σ a over ``dims``;  da = d / n broadcast back (n = elements averaged)."""

    saves_inputs = False

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        self.count = int(np.prod([a.shape[i] for i in dims])) if dims is not None else a.size
        return a.mean(axis=dims, keepdims=keepdim)

    def backward(self, d: Any) -> Any:
        if not self.keepdim and self.dims is not None:
            d = _xp(d).expand_dims(d, self.dims)
        return _xp(d).broadcast_to(d / self.count, self.shape)


class MaxMin(Function):
    """out = max (or min) of a over ``dims``;  da = d shared equally by the elements that
    attain it (one element in the usual case of no ties)."""

    def forward(self, a: Any, dims: tuple[int, ...] | None, keepdim: bool, take_max: bool) -> Any:
        self.a, self.dims, self.keepdim = a, dims, keepdim
        self.out = a.max(axis=dims, keepdims=True) if take_max else a.min(axis=dims, keepdims=True)
        if keepdim:
            return self.out
        return self.out.reshape(()) if dims is None else self.out.squeeze(axis=dims)

    def backward(self, d: Any) -> Any:
        if not self.keepdim:
            d = d.reshape(self.out.shape)
        winners = self.a == self.out
        return d * winners / winners.sum(axis=self.dims, keepdims=True)


def sum(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (an int, a tuple of ints, or None for all)."""
    a = to_operand(a)
    if a.dtype == np.bool_:
        a = a.to(dtype=np.int64)
    return Sum.apply(a, dims=_normalize_dims(dim, a.ndim), keepdim=keepdim)


def mean(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Arithmetic mean over ``dim`` (an int, a tuple of ints, or None for all)."""
    a = to_operand(a)
    if not is_floating(a.dtype):
        raise TypeError(
            f"mean() needs a floating-point tensor, got dtype {a.dtype}; use x.float().mean()"
        )
    return Mean.apply(a, dims=_normalize_dims(dim, a.ndim), keepdim=keepdim)


def _max_or_min(a: Tensor, dim: int | None, keepdim: bool, take_max: bool) -> Any:
    if a.data.size == 0:
        raise ValueError(f"{'max' if take_max else 'min'}() of an empty tensor")
    if dim is None:
        return MaxMin.apply(a, dims=None, keepdim=False, take_max=take_max)
    dims = _normalize_dims(dim, a.ndim)
    values = MaxMin.apply(a, dims=dims, keepdim=keepdim, take_max=take_max)
    find = a.data.argmax if take_max else a.data.argmin
    indices = find(axis=dims[0], keepdims=keepdim) if a.ndim else find()
    return MaxResult(values, Tensor._wrap(indices.astype(np.int64, copy=False)))


def max(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The largest element; with ``dim``, a (values, indices) pair as in PyTorch."""
    return _max_or_min(a, dim, keepdim, take_max=True)


def min(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The smallest element; with ``dim``, a (values, indices) pair as in PyTorch."""
    return _max_or_min(a, dim, keepdim, take_max=False)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (over the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(a.xp.asarray(a.data.argmax(), dtype=np.int64))
    return Tensor._wrap(a.data.argmax(axis=dim, keepdims=keepdim).astype(np.int64))


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (over the flattened tensor when ``dim`` is None)."""
    if dim is None:
        return Tensor._wrap(a.xp.asarray(a.data.argmin(), dtype=np.int64))
    return Tensor._wrap(a.data.argmin(axis=dim, keepdims=keepdim).astype(np.int64))


def var(a: Tensor, dim: Any = None, keepdim: bool = False, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Variance Σ(a - mean)² / (n - correction); ``unbiased=False`` means correction 0.

    Composed from differentiable ops, so its gradient needs no code of its own.
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = _normalize_dims(dim, a.ndim)
    n = a.data.size if dims is None else int(np.prod([a.shape[d] for d in dims]))
    centred = a - mean(a, dims, keepdim=True)
    return sum(centred * centred, dims, keepdim) / builtins.max(n - correction, 0)


def std(a: Tensor, dim: Any = None, keepdim: bool = False, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Standard deviation, the square root of :func:`var`."""
    return sqrt(var(a, dim, keepdim, correction, unbiased))


__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "tanh",
    "sigmoid", "relu", "clamp", "where", "sum", "mean", "max", "min", "argmax", "argmin",
    "var", "std", "compare", "maximum", "as_dtype",
]
