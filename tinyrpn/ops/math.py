"""Elementwise arithmetic, unary functions and reductions, each with its gradient.

Every Function here receives arrays and returns an array; the public functions at the
bottom of each section take Tensors (or Python numbers) and are what ``Tensor`` methods
and operators call. The gradient formulas use d for the incoming gradient dL/dout.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import (
    ArgumentError,
    DTypeError,
    Function,
    MaxResult,
    Tensor,
    _new_tensor,
    as_dtype,
    as_tensor,
    is_floating,
)

# ----------------------------------------------------------------------------- operands

# Type promotion follows PyTorch's three categories: bool < integer < floating.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}
_DEFAULT_DTYPE = {0: np.dtype(np.bool_), 1: np.dtype(np.int64), 2: np.dtype(np.float32)}


def _xp(array: Any) -> Any:
    """The array module (numpy or cupy) of ``array``."""
    if type(array) is np.ndarray:
        return np
    return backend.get_array_module(array)


def _scalar_category(value: Any) -> int | None:
    """The promotion category of a Python or NumPy number; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    if isinstance(value, (float, np.floating)):
        return 2
    return None


def to_operand(value: Any, like: Tensor | None = None) -> Tensor:
    """A Tensor for an operand: Tensors pass through; numbers take ``like``'s dtype.

    Type promotion follows PyTorch: a Python number never widens a tensor's dtype within
    its category (float32 tensor * 2.5 stays float32), and one of a higher category gives
    that category's default (int tensor * 2.5 is float32; bool tensor + 2 is int64).
    """
    if isinstance(value, Tensor):
        return value
    if like is not None:
        category = _scalar_category(value)
        if category is not None:
            dtype = like.data.dtype
            if category > _CATEGORY.get(dtype.kind, 2):
                dtype = _DEFAULT_DTYPE[category]
            return _new_tensor(_xp(like.data).asarray(value, dtype=dtype))
    return as_tensor(value)


def _promoted_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """PyTorch's result dtype for two tensors of different dtypes.

    The higher category wins outright (int64 tensor + float32 tensor -> float32, not
    NumPy's float64). Within one category, a tensor with dims decides over a 0-d one
    (float32 matrix + float64 scalar tensor -> float32); otherwise the wider type wins.
    """
    ca, cb = _CATEGORY.get(a.dtype.kind, 2), _CATEGORY.get(b.dtype.kind, 2)
    if ca != cb:
        return a.dtype if ca > cb else b.dtype
    if a.ndim and not b.ndim:
        return a.dtype
    if b.ndim and not a.ndim:
        return b.dtype
    return np.promote_types(a.dtype, b.dtype)


def same_dtype(op: str, **operands: Tensor | None) -> None:
    """Refuse operands of different dtypes, as PyTorch does for the ops that do not
    promote: matrix products (matmul, einsum, linear), convolutions and normalizations."""
    given = [(name, t) for name, t in operands.items() if t is not None]
    first_name, first = given[0]
    for name, t in given[1:]:
        if t.dtype != first.dtype:
            raise DTypeError(
                f"{op}: {first_name} has dtype {first.dtype} but {name} has dtype {t.dtype}. "
                f"{op} does not mix dtypes (as in PyTorch, matrix products, convolutions and "
                "normalizations need one dtype; elementwise ops and losses promote). Convert "
                "one side first, e.g. x.float() or model.double()."
            )


def binary_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of one dtype (numbers converted, dtypes promoted)."""
    if isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = to_operand(b, a)
    else:
        b = to_operand(b)
        a = to_operand(a, b)
    if a.data.dtype != b.data.dtype:
        dtype = _promoted_dtype(a, b)
        a = a if a.dtype == dtype else a.to(dtype=dtype)
        b = b if b.dtype == dtype else b.to(dtype=dtype)
    return a, b


def _normalize_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """``dim`` (None, an int, or a sequence) as a tuple of distinct non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    rank = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"dimensions must be integers, got {d!r} in {dim!r}")
        if not -rank <= d < rank:
            raise IndexError(
                f"dimension {d} is out of range for a tensor with {ndim} dims "
                f"(valid: {-rank} to {rank - 1})"
            )
        out.append(int(d) % rank)
    if len(set(out)) != len(out):
        raise ArgumentError(f"dimension {dim!r} names the same axis more than once")
    if ndim == 0:
        return ()
    return tuple(out)


def _reduced_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """The axes a reduction runs over: as PyTorch, an empty tuple means all of them."""
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return None
    return _normalize_dims(dim, ndim)


def _shapes_error(op: str, a: Tensor, b: Tensor) -> ArgumentError:
    return ArgumentError(
        f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together (trailing "
        "dimensions must be equal or 1)"
    )


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    """Raise a readable error (naming the op) when two shapes do not broadcast."""
    sa, sb = a.data.shape, b.data.shape
    if sa == sb or not sa or not sb:
        return  # the common cases: equal shapes, or a scalar operand
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise _shapes_error(op, a, b) from None


def _binary(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor]:
    a, b = binary_operands(a, b)
    _broadcast_check(op, a, b)
    return a, b


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


class Maximum(Function):
    """out = max(a, b) (or min) elementwise;  d goes to the operand that is the result,
    split half-and-half where they are equal (as PyTorch's ``maximum``/``minimum``).

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
        with np.errstate(divide="ignore", invalid="ignore"):
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
        with np.errstate(divide="ignore", invalid="ignore"):
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


def _float_input(a: Any) -> Tensor:
    """``a`` as a floating tensor (integer tensors become float32, as in PyTorch)."""
    a = a if isinstance(a, Tensor) else to_operand(a)
    if a.data.dtype.kind != "f":
        a = a.to(dtype=np.float32)
    return a


def neg(a: Tensor) -> Tensor:
    """-a."""
    a = to_operand(a)
    if a.dtype == np.bool_:
        raise TypeError("negation of a bool tensor is not defined; use ~x or x.logical_not()")
    return Neg.apply(a)


def exp(a: Tensor) -> Tensor:
    """e to the power a, elementwise."""
    return Exp.apply(_float_input(a))


def log(a: Tensor) -> Tensor:
    """Natural logarithm, elementwise (-inf at 0, nan below 0, as PyTorch)."""
    return Log.apply(_float_input(a))


def sqrt(a: Tensor) -> Tensor:
    """Square root, elementwise (nan below 0)."""
    return Sqrt.apply(_float_input(a))


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


# ----------------------------------------------------------------------------- reductions


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
    """out = max (or min) of a over ``dims``;  da = d shared equally by the elements that
    attain it (one element in the usual case of no ties). This is PyTorch's rule for
    ``amax``/``amin`` and for the full reduction ``x.max()``.

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
    """out = a at ``indices`` (the arg-max or arg-min along ``dim``);  da = d at those
    indices, 0 elsewhere: as PyTorch's ``x.max(dim)``, a tie sends the whole gradient
    to the one index returned."""

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


__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "tanh",
    "sigmoid", "relu", "clamp", "where", "sum", "mean", "max", "min", "amax", "amin",
    "argmax", "argmin", "var", "std", "compare", "maximum", "minimum", "as_dtype",
]
