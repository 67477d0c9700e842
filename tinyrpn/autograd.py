"""Reverse-mode automatic differentiation: ``Tensor``, ``Function``, ``backward``, ``no_grad``.

The whole idea in three sentences. Every differentiable operation is a :class:`Function`
whose ``forward`` maps arrays to an array and whose ``backward`` maps the gradient of the
output to the gradients of the inputs. Calling an operation on Tensors runs ``forward`` and
returns a Tensor that remembers the Function (``grad_fn``) and its input Tensors. Calling
``loss.backward()`` visits that graph from the loss back to the leaves in reverse
topological order, applying the chain rule at every node.

Functions work on raw arrays (NumPy, or CuPy on a GPU), never on Tensors. The operators
and methods of ``Tensor`` (``+``, ``@``, ``.sum()``, ...) are thin wrappers around the
functions in :mod:`tinyrpn.ops`, where each operation's forward and backward sit together.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from tinyrpn import backend
from tinyrpn import random as _random

# ----------------------------------------------------------------------------- dtypes

float16 = np.float16
float32 = np.float32
float64 = np.float64
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool_ = np.bool_

_DTYPE_NAMES = {
    "float16": np.float16, "half": np.float16,
    "float32": np.float32, "float": np.float32,
    "float64": np.float64, "double": np.float64,
    "int32": np.int32, "int": np.int32,
    "int64": np.int64, "long": np.int64,
    "uint8": np.uint8, "bool": np.bool_,
}


def as_dtype(dtype: Any) -> np.dtype:
    """Turn ``'float32'``, ``np.float32`` or ``tinyrpn.float32`` into a NumPy dtype."""
    if isinstance(dtype, str):
        key = dtype.removeprefix("torch.").removeprefix("tinyrpn.")
        if key not in _DTYPE_NAMES:
            raise TypeError(f"unknown dtype {dtype!r}; valid names are {sorted(_DTYPE_NAMES)}")
        return np.dtype(_DTYPE_NAMES[key])
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None


def is_floating(dtype: Any) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


# ------------------------------------------------------------------------ grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph for ``backward``."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


def no_grad() -> _GradMode:
    """Context manager (or decorator) in which no graph is recorded, as in PyTorch.

    >>> with tinyrpn.no_grad():
    ...     prediction = model(x)      # no grad_fn, no memory held for backward
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (or decorator) that turns graph recording back on."""
    return _GradMode(True)


# -------------------------------------------------------------------------- errors


class GradientError(RuntimeError):
    """Something about a backward pass is wrong: a freed graph, a modified input, a shape."""


# ------------------------------------------------------------------------ version counter


class _Version:
    """How many times a tensor's array was modified in place.

    A Function records the version of each input when it runs; if that number has changed
    by the time ``backward`` needs the input, the array it saved no longer holds the values
    the forward pass saw, and the gradient would be silently wrong.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


# ------------------------------------------------------------------------ Function


class Function:
    """One differentiable operation.

    Subclasses implement ``forward(self, *arrays, **options) -> array`` and
    ``backward(self, grad) -> array | tuple[array | None, ...]`` (one gradient per
    positional input, ``None`` where an input needs none). ``forward`` stores on ``self``
    whatever ``backward`` will need. The engine sums broadcast gradients back to each
    input's shape, so ``backward`` may return a gradient with the broadcast shape.

    ``saves_inputs`` / ``saves_output`` say whether ``backward`` reads the input arrays /
    the output array; if so, modifying them in place before ``backward`` raises an error.
    """

    saves_inputs: bool = True
    saves_output: bool = False

    inputs: tuple[Tensor, ...]
    _versions: tuple[int, ...]
    _output_version: tuple[_Version, int] | None
    released: bool

    def forward(self, *arrays: Any, **options: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: Any) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays and record the node when grad is on."""
        fn = cls()
        out = fn.forward(*[t.data for t in inputs], **options)
        needs_grad = _grad_enabled and any(t.requires_grad for t in inputs)
        result = Tensor._wrap(out, needs_grad)
        if needs_grad:
            fn.inputs = inputs
            fn._versions = tuple(t._version.value for t in inputs)
            fn._output_version = (result._version, 0) if cls.saves_output else None
            fn.released = False
            result._ctx = fn
        return result

    def _check_versions(self) -> None:
        """Raise if an array that ``backward`` reads was modified in place since forward."""
        if self.saves_inputs:
            for i, (t, seen) in enumerate(zip(self.inputs, self._versions)):
                if t._version.value != seen:
                    raise GradientError(
                        f"{self.name}: input {i} (shape {tuple(t.shape)}) was modified in "
                        f"place after {self.name} used it (version {seen} -> "
                        f"{t._version.value}); its backward needs the original values. "
                        "Use an out-of-place operation (x = x + 1 instead of x.add_(1)), "
                        "or call backward() before changing it."
                    )
        if self._output_version is not None:
            counter, seen = self._output_version
            if counter.value != seen:
                raise GradientError(
                    f"{self.name}: its output was modified in place before backward, and "
                    f"{self.name}'s backward needs that output. Use an out-of-place operation."
                )

    def release(self) -> None:
        """Drop everything saved for backward (called once backward has used it)."""
        self.__dict__.clear()
        self.released = True

    def __repr__(self) -> str:
        return f"<{self.name}>"


# ------------------------------------------------------------------------ helpers


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back down to ``shape``.

    Broadcasting adds leading axes and stretches size-1 axes; the gradient of a broadcast
    is the sum over what was added: first the extra leading axes, then (keeping the axis)
    every axis where the operand had size 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _python_value_to_array(data: Any, dtype: Any) -> np.ndarray:
    """Python numbers and (nested) lists: floats -> float32, ints -> int64, as PyTorch."""
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flatten(data)):
        data = [d.numpy() if isinstance(d, Tensor) else d for d in data]
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(as_dtype(dtype), copy=False)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype != np.uint8:
        return array.astype(np.int64)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"cannot make a tensor from {type(data).__name__} of dtype {array.dtype}; "
            "give numbers, nested lists of numbers, or an array"
        )
    return array


def _flatten(items: Any) -> Iterator[Any]:
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _to_array(data: Any, dtype: Any = None, device: str | None = None) -> Any:
    """The array a new tensor should hold (always a fresh or owned array)."""
    if isinstance(data, Tensor):
        array = data.data.copy()
        if dtype is not None:
            array = array.astype(as_dtype(dtype), copy=False)
    elif isinstance(data, np.ndarray) or backend.get_array_module(data) is not np:
        array = data.copy()
        if dtype is not None:
            array = array.astype(as_dtype(dtype), copy=False)
    else:
        array = _python_value_to_array(data, dtype)
    if device is not None:
        array = backend.to_device(array, device)
    return array


# ------------------------------------------------------------------------ Tensor


class MaxResult(NamedTuple):
    """What ``x.max(dim)`` and ``x.min(dim)`` return, as in PyTorch."""

    values: Tensor
    indices: Tensor


class Tensor:
    """An array that can remember how it was computed, so gradients can flow back.

    ``data`` is the array itself (NumPy, or CuPy on a GPU). ``grad`` is ``None`` until a
    backward pass reaches this tensor, then a Tensor of the same shape; it accumulates over
    backward calls until zeroed. ``grad_fn`` is the Function that produced this tensor
    (``None`` for leaves: tensors made by the user, and parameters).

    Writing into ``t.data`` directly bypasses every safety check; use the in-place methods
    (``t.add_``, ``t[...] = v``, ``t.zero_()``), which let backward detect stale inputs.
    """

    # Make NumPy hand over to Tensor's reflected operators: ndarray * Tensor -> Tensor.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self._version = _Version()
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: Any, requires_grad: bool = False) -> Tensor:
        """A tensor around an existing array, without copying (for the engine's use)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t._ctx = None
        t._version = _Version()
        t._retains_grad = False
        t.requires_grad = requires_grad
        return t

    # -- properties ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def grad_fn(self) -> Function | None:
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) that holds this tensor's data."""
        return backend.get_array_module(self.data)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # -- gradients -------------------------------------------------------------------

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this leaf tensor as one whose gradient ``backward`` should compute."""
        if requires_grad and not is_floating(self.dtype):
            raise GradientError(
                f"only floating-point tensors can require gradients; this tensor has "
                f"dtype {self.dtype}. Convert it first, e.g. x.float()."
            )
        if not requires_grad and not self.is_leaf:
            raise GradientError(
                "requires_grad_(False) on a non-leaf tensor; use .detach() to cut it "
                "from the graph instead"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        return self

    def detach(self) -> Tensor:
        """The same array, cut from the graph (shares memory and version counter)."""
        t = Tensor._wrap(self.data)
        t._version = self._version
        return t

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires one.

        The graph is visited in reverse topological order (built iteratively, so deep
        graphs need no recursion); each node's gradient is the sum over its uses. Leaf
        gradients accumulate into ``.grad``. The graph's saved arrays are released
        afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise GradientError(
                "backward() on a tensor that does not require grad and has no grad_fn: "
                "no input of the computation had requires_grad=True"
            )
        if gradient is None:
            if self.data.size != 1:
                raise GradientError(
                    f"backward() without a gradient works only on a scalar (one element); "
                    f"this tensor has shape {self.shape}. Reduce it first (loss.sum() or "
                    "loss.mean()), or pass backward(gradient=...) of the same shape."
                )
            seed = self.xp.ones_like(self.data)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else self.xp.asarray(gradient)
            if tuple(seed.shape) != self.shape:
                raise GradientError(
                    f"backward(gradient=...) got shape {tuple(seed.shape)}, but the tensor "
                    f"has shape {self.shape}; they must match"
                )
            seed = seed.astype(self.dtype, copy=True)  # never alias the caller's array

        order = _topological_order(self)
        grads: dict[int, Any] = {id(self): seed}
        handed_out: set[int] = set()
        for node in order:
            grad = grads.pop(id(node), None)
            if grad is None:
                continue  # no path from the output reaches this node's use
            fn = node._ctx
            if fn is None or node._retains_grad:
                _accumulate_grad(node, grad, handed_out)
            if fn is None:
                continue
            if fn.released:
                raise GradientError(
                    f"backward through the graph a second time: {fn.name} already released "
                    "what it saved. Call the first backward(retain_graph=True) if you need "
                    "to go through the same graph twice."
                )
            fn._check_versions()
            input_grads = fn.backward(grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(fn.inputs):
                raise GradientError(
                    f"{fn.name}.backward returned {len(input_grads)} gradients for "
                    f"{len(fn.inputs)} inputs"
                )
            for parent, g in zip(fn.inputs, input_grads):
                if g is None or not parent.requires_grad:
                    continue
                g = unbroadcast(g, parent.shape)
                if tuple(g.shape) != parent.shape:
                    raise GradientError(
                        f"{fn.name}.backward produced a gradient of shape {tuple(g.shape)} "
                        f"for an input of shape {parent.shape}"
                    )
                key = id(parent)
                grads[key] = grads[key] + g if key in grads else g
            if not retain_graph:
                fn.release()

    # -- conversion -------------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy when the tensor lives on a GPU)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self) -> Any:
        """The single value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with exactly one element; this one has shape "
                f"{self.shape} ({self.data.size} elements)"
            )
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, target: Any = None, dtype: Any = None) -> Tensor:
        """Move to a device (``'cpu'``, ``'cuda'``) and/or cast to a dtype, differentiably."""
        from tinyrpn.ops import shape as shape_ops

        out = self
        if target is not None:
            if isinstance(target, str) and target.split(":")[0].lower() in backend.DEVICES:
                out = shape_ops.to_device(out, target)
            else:
                dtype = target
        if dtype is not None:
            out = shape_ops.cast(out, as_dtype(dtype))
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtype=np.float32)

    def double(self) -> Tensor:
        return self.to(dtype=np.float64)

    def long(self) -> Tensor:
        return self.to(dtype=np.int64)

    def int(self) -> Tensor:
        return self.to(dtype=np.int32)

    def bool(self) -> Tensor:
        return self.to(dtype=np.bool_)

    # -- printing ----------------------------------------------------------------------

    def __repr__(self) -> str:
        body = np.array2string(
            self.numpy(), precision=4, separator=", ", prefix="tensor(", threshold=200,
            edgeitems=3, suppress_small=False,
        )
        extras = []
        if self.dtype != np.float32 and not (self.dtype == np.int64 and self.data.size):
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __str__(self) -> str:
        return self.__repr__()

    def __format__(self, spec: str) -> str:
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return str(self)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data.reshape(()).item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    # -- in-place (no graph; they bump the version counter) -------------------------

    def _check_inplace(self, what: str) -> None:
        if _grad_enabled and self.requires_grad:
            kind = "a leaf that requires grad" if self.is_leaf else "a tensor in a graph"
            raise GradientError(
                f"{what}: in-place change of {kind} (shape {self.shape}) while gradients are "
                "recorded. Wrap it in `with tinyrpn.no_grad():` (e.g. for a weight update), "
                "or use the out-of-place form."
            )

    def _inplace(self, what: str, new_values: Any) -> Tensor:
        self._check_inplace(what)
        self.data[...] = new_values
        self._version.value += 1
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        self.data[_index_to_arrays(index)] = value.data if isinstance(value, Tensor) else value
        self._version.value += 1

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("add_", self.data + alpha * other if alpha != 1 else self.data + other)

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("sub_", self.data - alpha * other)

    def mul_(self, other: Any) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("mul_", self.data * other)

    def div_(self, other: Any) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("div_", self.data / other)

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def fill_(self, value: float) -> Tensor:
        return self._inplace("fill_", value)

    def copy_(self, source: Any) -> Tensor:
        values = source.data if isinstance(source, Tensor) else source
        values = backend.to_device(values, self.device)
        if tuple(np.shape(values)) != self.shape:
            np.broadcast_shapes(np.shape(values), self.shape)  # raises on a mismatch
        return self._inplace("copy_", values)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        return self._inplace("clamp_", self.xp.clip(self.data, min, max))

    # -- operators (each one is a function in tinyrpn.ops) ------------------------------

    def __add__(self, other: Any) -> Tensor:
        return _math.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _math.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _math.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _math.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _math.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _math.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _math.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _math.div(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return _math.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return _math.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _math.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _math.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _shape.getitem(self, index)

    def __lt__(self, other: Any) -> Tensor:
        return _math.compare(self, other, "lt")

    def __le__(self, other: Any) -> Tensor:
        return _math.compare(self, other, "le")

    def __gt__(self, other: Any) -> Tensor:
        return _math.compare(self, other, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return _math.compare(self, other, "ge")

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _math.compare(self, other, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _math.compare(self, other, "ne")

    # -- methods ----------------------------------------------------------------------

    def add(self, other: Any) -> Tensor:
        return _math.add(self, other)

    def sub(self, other: Any) -> Tensor:
        return _math.sub(self, other)

    def mul(self, other: Any) -> Tensor:
        return _math.mul(self, other)

    def div(self, other: Any) -> Tensor:
        return _math.div(self, other)

    def pow(self, exponent: Any) -> Tensor:
        return _math.pow(self, exponent)

    def matmul(self, other: Any) -> Tensor:
        return _linalg.matmul(self, other)

    def exp(self) -> Tensor:
        return _math.exp(self)

    def log(self) -> Tensor:
        return _math.log(self)

    def sqrt(self) -> Tensor:
        return _math.sqrt(self)

    def abs(self) -> Tensor:
        return _math.abs(self)

    def neg(self) -> Tensor:
        return _math.neg(self)

    def tanh(self) -> Tensor:
        return _math.tanh(self)

    def sigmoid(self) -> Tensor:
        return _math.sigmoid(self)

    def relu(self) -> Tensor:
        return _math.relu(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        return _math.clamp(self, min, max)

    clip = clamp

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _math.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _math.mean(self, dim, keepdim)

    def var(self, dim: Any = None, keepdim: bool = False, correction: int = 1,
            unbiased: bool | None = None) -> Tensor:
        return _math.var(self, dim, keepdim=keepdim, correction=correction, unbiased=unbiased)

    def std(self, dim: Any = None, keepdim: bool = False, correction: int = 1,
            unbiased: bool | None = None) -> Tensor:
        return _math.std(self, dim, keepdim=keepdim, correction=correction, unbiased=unbiased)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return _math.max(self, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return _math.min(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _math.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _math.argmin(self, dim, keepdim)

    def any(self) -> Tensor:
        return Tensor._wrap(self.xp.asarray(self.data.any()))

    def all(self) -> Tensor:
        return Tensor._wrap(self.xp.asarray(self.data.all()))

    def reshape(self, *shape: Any) -> Tensor:
        return _shape.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return _shape.reshape(self, *shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _shape.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _shape.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return _shape.permute(self, *dims)

    @property
    def T(self) -> Tensor:
        return _shape.permute(self, *reversed(range(self.ndim)))

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with at most 2 dims, got {self.ndim}")
        return self.T

    def unsqueeze(self, dim: int) -> Tensor:
        return _shape.unsqueeze(self, dim)

    def squeeze(self, dim: int | None = None) -> Tensor:
        return _shape.squeeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return _shape.expand(self, *sizes)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return _shape.roll(self, shifts, dims)

    def contiguous(self) -> Tensor:
        return self


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor the root depends on, root first, each after all its consumers.

    An iterative depth-first search (no recursion limit); a node reachable by several
    paths is visited once.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        fn = node._ctx
        if fn is not None and not fn.released:
            for parent in fn.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _accumulate_grad(t: Tensor, grad: Any, handed_out: set[int]) -> None:
    """Add ``grad`` into ``t.grad``.

    A backward may pass one array to several inputs (``a + b`` gives both the same
    gradient) or a view of another; a leaf's ``.grad`` must own its array, because
    optimizers may modify it in place. Fresh arrays are kept without a copy.
    """
    if t.grad is None:
        if id(grad) in handed_out or getattr(grad, "base", None) is not None:
            grad = grad.copy()
        handed_out.add(id(grad))
        t.grad = Tensor._wrap(grad)
    else:
        t.grad = Tensor._wrap(t.grad.data + grad)


def _index_to_arrays(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return [i.data if isinstance(i, Tensor) else i for i in index]
    return index


# ------------------------------------------------------------------------ factories


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    Python floats become float32 and Python ints int64 (as in PyTorch); arrays keep their
    dtype unless ``dtype`` is given.
    """
    t = Tensor._wrap(_to_array(data, dtype, device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, without copying when it already is one (or a matching array)."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == as_dtype(dtype) else data.to(dtype=dtype)
    if isinstance(data, np.ndarray) or backend.get_array_module(data) is not np:
        return Tensor._wrap(data if dtype is None else data.astype(as_dtype(dtype), copy=False))
    return Tensor._wrap(_python_value_to_array(data, dtype))


def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _factory(make: Callable[[tuple[int, ...], np.dtype], np.ndarray]) -> Callable[..., Tensor]:
    @functools.wraps(make)
    def factory(*shape: Any, dtype: Any = None, requires_grad: bool = False,
                device: str | None = None) -> Tensor:
        array = make(_shape_arg(shape), as_dtype(dtype if dtype is not None else np.float32))
        if device is not None:
            array = backend.to_device(array, device)
        t = Tensor._wrap(array)
        return t.requires_grad_(True) if requires_grad else t

    return factory


@_factory
def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return np.zeros(shape, dtype)


@_factory
def ones(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return np.ones(shape, dtype)


@_factory
def randn(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Samples of N(0, 1) from tinyrpn's global stream (see ``manual_seed``)."""
    return _random.default_generator().standard_normal(shape).astype(dtype)


@_factory
def rand(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Samples of U[0, 1) from tinyrpn's global stream (see ``manual_seed``)."""
    return _random.default_generator().random(shape).astype(dtype)


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = dtype if dtype is not None else _python_value_to_array(fill_value, None).dtype
    t = Tensor._wrap(np.full(shape, fill_value, dtype=as_dtype(dtype)))
    if device is not None:
        t = Tensor._wrap(backend.to_device(t.data, device))
    return t.requires_grad_(True) if requires_grad else t


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    out = Tensor._wrap(t.xp.zeros(t.shape, dtype=as_dtype(dtype) if dtype else t.dtype))
    return out.requires_grad_(True) if requires_grad else out


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    out = Tensor._wrap(t.xp.ones(t.shape, dtype=as_dtype(dtype) if dtype else t.dtype))
    return out.requires_grad_(True) if requires_grad else out


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` (inclusive) to ``end`` (exclusive): int64 for whole numbers."""
    if end is None:
        start, end = 0, start
    array = np.arange(start, end, step)
    array = array.astype(as_dtype(dtype)) if dtype else _python_value_to_array(array.tolist(), None)
    t = Tensor._wrap(array)
    return t.requires_grad_(True) if requires_grad else t


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix."""
    t = Tensor._wrap(np.eye(n, m, dtype=as_dtype(dtype) if dtype else np.float32))
    return t.requires_grad_(True) if requires_grad else t


# The operators above call into tinyrpn.ops; imported last because ops builds on Function.
from tinyrpn.ops import linalg as _linalg  # noqa: E402
from tinyrpn.ops import math as _math  # noqa: E402
from tinyrpn.ops import shape as _shape  # noqa: E402
