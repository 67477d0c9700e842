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
from collections.abc import Iterator, Sequence
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


def device_or_dtype(target: Any, where: str) -> tuple[str | None, Any]:
    """Split the first argument of ``to(...)`` into (device, dtype): ``'cuda'`` and
    ``'cuda:0'`` are devices, ``'float64'`` or ``np.float64`` a dtype. A string that is
    neither (``'gpu'``) is an error that names both lists, not only the dtypes."""
    if not isinstance(target, str):
        return None, target
    if target.split(":")[0].lower() in backend.DEVICES:
        return target, None
    if target.removeprefix("torch.").removeprefix("tinyrpn.") in _DTYPE_NAMES:
        return None, target
    raise ValueError(
        f"{where}: {target!r} is neither a device (valid: 'cpu', 'cuda', 'cuda:N') nor a "
        f"dtype (valid names: {', '.join(sorted(_DTYPE_NAMES))})"
    )


def is_floating(dtype: Any) -> bool:
    """Whether ``dtype`` is a floating-point type (the only kind that carries gradients)."""
    return np.dtype(dtype).kind == "f"


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

    (The mode is one flag for the whole process, not per thread as in PyTorch: tinyrpn
    runs its work on one thread.)

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
    the forward pass saw, and the gradient would be silently wrong. Tensors that share
    memory (a view and its base, a tensor and its ``detach()``) share one counter.
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
    ``backward`` must never write into ``grad``: the same array may be handed elsewhere.

    Class attributes tell the engine what the op keeps:

    - ``saves_inputs`` / ``saves_output``: whether ``backward`` reads the input arrays /
      the output array; if so, modifying them in place before ``backward`` raises an error.
    - ``is_view``: whether the output may share memory with the first input (reshape,
      permute, basic indexing). Such an output shares its input's version counter, so an
      in-place write through either one is seen by every op that saved the other.
    """

    saves_inputs: bool = True
    saves_output: bool = False
    is_view: bool = False

    # Defaults for every node; set per instance only when they differ.
    released: bool = False
    _output_version: tuple[_Version, int] | None = None
    _input_versions: tuple[tuple[_Version, int], ...] = ()
    retained_output: Tensor | None = None  # set by Tensor.retain_grad()

    # The graph: one entry per positional input. A parent is the Function that made that
    # input, or the input itself when it is a leaf that requires grad, or None when no
    # gradient flows to it. The graph never holds an intermediate tensor, so its array is
    # freed as soon as the user and the Functions that saved it let go of it.
    parents: tuple[Function | Tensor | None, ...] = ()
    input_shapes: tuple[tuple[int, ...], ...] = ()
    input_dtypes: tuple[np.dtype, ...] = ()

    def forward(self, *arrays: Any, **options: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: Any) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each positional input, whether backward must produce its gradient: a
        backward may skip (return None for) the others, e.g. the data in ``x @ W``."""
        return tuple([p is not None for p in self.parents])

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays; record the node when a graph is wanted.

        This is the hot path of every operation, so it does only what it must: no checks
        that the public op functions already made, and bookkeeping only when gradients
        will flow.
        """
        fn = cls()
        out = fn.forward(*[t.data for t in inputs], **options)
        if type(out) is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)  # NumPy returns scalars from 0-d math; keep arrays
        result = _new_tensor(out)
        if cls.is_view and _same_memory(out, inputs[0].data):
            result._version = inputs[0]._version
        if not _grad_enabled:
            return result
        for t in inputs:
            if t._requires_grad:
                break
        else:
            return result
        result._requires_grad = True
        result._ctx = fn
        fn.parents = tuple([
            (t._ctx or t) if t._requires_grad else None for t in inputs
        ])
        fn.input_shapes = tuple([t.data.shape for t in inputs])
        fn.input_dtypes = tuple([t.data.dtype for t in inputs])
        if cls.saves_inputs:
            fn._input_versions = tuple([(t._version, t._version.value) for t in inputs])
        if cls.saves_output:
            fn._output_version = (result._version, result._version.value)
        return result

    def _check_versions(self) -> None:
        """Raise if an array that ``backward`` reads was modified in place since forward."""
        for i, (counter, seen) in enumerate(self._input_versions):
            if counter.value != seen:
                raise GradientError(
                    f"{self.name}: input {i} (shape {self.input_shapes[i]}) was modified in "
                    f"place after {self.name} used it (version {seen} -> "
                    f"{counter.value}); its backward needs the original values. "
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


def _same_memory(out: Any, source: Any) -> bool:
    """Whether ``out`` is a view into the memory that ``source`` views (or owns)."""
    out_base = getattr(out, "base", None)
    if out_base is None:
        return False
    source_base = getattr(source, "base", None)
    return out_base is source or (source_base is not None and out_base is source_base)


# ------------------------------------------------------------------------ helpers


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back down to ``shape``.

    Broadcasting adds leading axes and stretches size-1 axes; the gradient of a broadcast
    is the sum over what was added: first the extra leading axes, then (keeping the axis)
    every axis where the operand had size 1. A gradient that cannot have come from a
    broadcast of ``shape`` is returned unchanged, for the caller's shape check to reject.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return grad
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _python_value_to_array(data: Any, dtype: Any) -> np.ndarray:
    """Python numbers and (nested) lists: floats -> float32, ints -> int64, as PyTorch."""
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flatten(data)):
        data = _tensors_to_arrays(data)
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(as_dtype(dtype), copy=False)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"cannot make a tensor from {type(data).__name__} of dtype {array.dtype}; "
            "give numbers, nested lists of numbers, or an array"
        )
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype != np.uint8:
        return array.astype(np.int64)
    return array


def _tensors_to_arrays(items: Any) -> Any:
    if isinstance(items, Tensor):
        return items.numpy()
    if isinstance(items, (list, tuple)):
        return [_tensors_to_arrays(i) for i in items]
    return items


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


def _new_tensor(array: Any, requires_grad: bool = False) -> Tensor:
    """The engine's fast constructor: a Tensor around ``array`` (no copy, no checks)."""
    t = _object_new(Tensor)
    t.data = array
    t._grad = None
    t._ctx = None
    t._version = _Version()
    t._retains_grad = False
    t._requires_grad = requires_grad
    return t


_object_new = object.__new__


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

    # Fixed attributes: faster attribute access and less memory per tensor, which matters
    # when a graph of small ops creates thousands of them. (Subclasses such as Parameter
    # get a __dict__ back unless they declare __slots__ themselves.)
    __slots__ = ("data", "_grad", "_ctx", "_version", "_retains_grad", "_requires_grad",
                 "__weakref__")

    # Make NumPy hand over to Tensor's reflected operators: ndarray * Tensor -> Tensor.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        self._grad: Tensor | None = None
        self._ctx: Function | None = None
        self._version = _Version()
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: Any, requires_grad: bool = False) -> Tensor:
        """A tensor around an existing array, without copying (for the engine's use)."""
        if type(array) is not np.ndarray and isinstance(array, np.generic):
            array = np.asarray(array)
        if cls is Tensor:
            return _new_tensor(array, requires_grad)
        t = cls.__new__(cls)
        t.data = array
        t._grad = None
        t._ctx = None
        t._version = _Version()
        t._retains_grad = False
        t._requires_grad = requires_grad
        return t

    # -- properties ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

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

    def element_size(self) -> int:
        return int(self.data.itemsize)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # -- gradients -------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor (settable on leaves)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(bool(value))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this leaf tensor as one whose gradient ``backward`` should compute."""
        if requires_grad and self.data.dtype.kind != "f":
            raise GradientError(
                f"only floating-point tensors can require gradients; this tensor has "
                f"dtype {self.dtype}. Convert it first, e.g. x.float()."
            )
        if not requires_grad and self._ctx is not None:
            raise GradientError(
                f"requires_grad_(False) on a non-leaf tensor (made by {self._ctx.name}); "
                "use .detach() to cut it from the graph instead"
            )
        self._requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by backward (``None`` until one reaches this tensor).

        It may be assigned, as in PyTorch: ``None``, or a Tensor with this tensor's shape,
        dtype and device.
        """
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"grad must be a Tensor or None, got {type(value).__name__}; wrap an "
                    "array with tinyrpn.tensor(array)"
                )
            if value.data.shape != self.data.shape:
                raise GradientError(
                    f"cannot assign a gradient of shape {value.shape} to a tensor of shape "
                    f"{self.shape}; they must be the same"
                )
            if value.dtype != self.dtype:
                raise GradientError(
                    f"cannot assign a gradient of dtype {value.dtype} to a tensor of dtype "
                    f"{self.dtype}; convert it first, e.g. g.to({str(self.dtype)!r})"
                )
            if value.device != self.device:
                raise GradientError(
                    f"cannot assign a gradient on device {value.device!r} to a tensor on "
                    f"{self.device!r}"
                )
        self._grad = value

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        if self._ctx is not None:
            self._ctx.retained_output = self  # the graph holds Functions, not tensors
        return self

    def detach(self) -> Tensor:
        """The same array, cut from the graph (shares memory and version counter)."""
        t = _new_tensor(self.data)
        t._version = self._version
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place: it becomes a leaf without grad."""
        self._ctx = None
        self._requires_grad = False
        return self

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires one.

        The graph is visited in reverse topological order (built iteratively, so deep
        graphs need no recursion); each node's gradient is the sum over its uses. Leaf
        gradients accumulate into ``.grad``. The graph's saved arrays are released as soon
        as each node has used them, unless ``retain_graph=True``.
        """
        if not self._requires_grad:
            raise GradientError(
                "backward() on a tensor that does not require grad and has no grad_fn: "
                "no input of the computation had requires_grad=True (or it was computed "
                "inside no_grad())"
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
            # No copy: no backward writes into its gradient, and the engine copies the
            # caller's array before a leaf's .grad could become it (see _accumulate_grad).
            seed = seed.astype(self.dtype, copy=False)
        _run_backward(self, seed, retain_graph)

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
            device, as_type = device_or_dtype(target, "Tensor.to")
            if device is not None:
                out = shape_ops.to_device(out, device)
            else:
                dtype = as_type
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
        """PyTorch's layout: ``tensor([1., 2.], requires_grad=True)``,
        ``tensor([0.5000, 1.2500], dtype=tinyrpn.float64, grad_fn=<MulBackward>)``."""
        body = _format_values(self.numpy())
        extras = []
        if self.data.size == 0 and self.shape != (0,):
            extras.append(f"size={self.shape}")
        default_dtype = self.dtype in (np.float32, np.bool_) or (
            self.dtype == np.int64 and self.data.size > 0
        )
        if not default_dtype:
            extras.append(f"dtype=tinyrpn.{self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}Backward>")
        elif self._requires_grad:
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
        if _grad_enabled and self._requires_grad:
            kind = "a leaf that requires grad" if self._ctx is None else "a tensor in a graph"
            raise GradientError(
                f"{what}: in-place change of {kind} (shape {self.shape}) while gradients are "
                "recorded. Wrap it in `with tinyrpn.no_grad():` (e.g. for a weight update), "
                "or use the out-of-place form."
            )

    def _modified(self) -> Tensor:
        self._version.value += 1
        return self

    def _inplace(self, what: str, new_values: Any) -> Tensor:
        self._check_inplace(what)
        self.data[...] = new_values
        return self._modified()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        if isinstance(value, Tensor):
            if _grad_enabled and value._requires_grad:
                raise GradientError(
                    f"__setitem__: assigning a tensor that requires grad into a tensor of "
                    f"shape {self.shape} would lose its gradient (assignment records no "
                    "graph here). Build the result with tinyrpn.cat, stack or where instead."
                )
            value = value.data
        self.data[_index_to_arrays(index)] = value
        self._modified()

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha * other, in place."""
        self._check_inplace("add_")
        other = other.data if isinstance(other, Tensor) else other
        self.data += other if alpha == 1 else alpha * other
        return self._modified()

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self -= alpha * other, in place."""
        self._check_inplace("sub_")
        other = other.data if isinstance(other, Tensor) else other
        self.data -= other if alpha == 1 else alpha * other
        return self._modified()

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        self._check_inplace("mul_")
        self.data *= other.data if isinstance(other, Tensor) else other
        return self._modified()

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place."""
        self._check_inplace("div_")
        self.data /= other.data if isinstance(other, Tensor) else other
        return self._modified()

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def fill_(self, value: float) -> Tensor:
        return self._inplace("fill_", value)

    def copy_(self, source: Any) -> Tensor:
        """Copy ``source``'s values (broadcast to this shape) into this tensor."""
        values = source.data if isinstance(source, Tensor) else source
        values = backend.to_device(values, self.device)
        if tuple(np.shape(values)) != self.shape:
            try:
                np.broadcast_to(np.empty(np.shape(values), dtype=bool), self.shape)
            except ValueError:
                raise ValueError(
                    f"copy_: source of shape {tuple(np.shape(values))} cannot be broadcast "
                    f"to this tensor's shape {self.shape}"
                ) from None
        return self._inplace("copy_", values)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        self._check_inplace("clamp_")
        self.xp.clip(self.data, min, max, out=self.data)
        return self._modified()

    # -- augmented assignment: x += y changes x in place, as in PyTorch -------------------
    #
    # Without these methods Python runs `x = x + y`: a new tensor is bound to the name and
    # the old one is left as it was, so `p -= lr * p.grad` in a hand-written optimizer would
    # leave the model's parameter unchanged, without a word. In-place methods record no
    # graph here, so where one would be needed (grad recording on, and a tensor in a graph
    # or an operand that requires grad) the operator stays out of place, as before. A leaf
    # that requires grad raises while grad is recorded, as its add_ does (and as in PyTorch).

    def _augmented(self, symbol: str, other: Any, inplace: Any, out_of_place: Any) -> Tensor:
        if _grad_enabled:
            if self._requires_grad and self._ctx is None:
                self._check_inplace(symbol)
            if self._requires_grad or (isinstance(other, Tensor) and other._requires_grad):
                return out_of_place(self, other)
        try:
            return inplace(self, other)
        except (TypeError, ValueError, OverflowError):
            # NumPy refuses before writing anything when the result cannot live in self's
            # array: another dtype (int_tensor += 0.5) or a bigger broadcast shape. Then
            # the result is a new tensor, as before (or the op's own error names the shapes).
            return out_of_place(self, other)

    def __iadd__(self, other: Any) -> Tensor:
        return self._augmented("+=", other, Tensor.add_, Tensor.__add__)

    def __isub__(self, other: Any) -> Tensor:
        return self._augmented("-=", other, Tensor.sub_, Tensor.__sub__)

    def __imul__(self, other: Any) -> Tensor:
        return self._augmented("*=", other, Tensor.mul_, Tensor.__mul__)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._augmented("/=", other, Tensor.div_, Tensor.__truediv__)

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

    # Logical / bitwise operators, for masks (bool) and integer tensors; no gradient.

    def _bitwise(self, other: Any, how: str) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        other_kind = (other.dtype if hasattr(other, "dtype") else np.asarray(other).dtype).kind
        if self.data.dtype.kind not in "biu" or other_kind not in "biu":
            raise TypeError(
                f"{how} needs bool or integer tensors, got {self.dtype}; for a mask compare "
                "first, e.g. (x > 0) & (x < 1)"
            )
        return Tensor._wrap(getattr(self.xp, how)(self.data, other))

    def __and__(self, other: Any) -> Tensor:
        return self._bitwise(other, "bitwise_and")

    __rand__ = __and__

    def __or__(self, other: Any) -> Tensor:
        return self._bitwise(other, "bitwise_or")

    __ror__ = __or__

    def __xor__(self, other: Any) -> Tensor:
        return self._bitwise(other, "bitwise_xor")

    __rxor__ = __xor__

    def __invert__(self) -> Tensor:
        """~mask: logical not for bool tensors, bitwise not for integers."""
        if self.data.dtype.kind not in "biu":
            raise TypeError(f"~ needs a bool or integer tensor, got {self.dtype}")
        return Tensor._wrap(self.xp.invert(self.data))

    def logical_not(self) -> Tensor:
        return Tensor._wrap(self.xp.logical_not(self.data))

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

    def square(self) -> Tensor:
        return _math.pow(self, 2)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        return _math.clamp(self, min, max)

    clip = clamp

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _math.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _math.mean(self, dim, keepdim)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        return _math.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        return _math.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _math.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return _math.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _math.amax(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _math.amin(self, dim, keepdim)

    def maximum(self, other: Any) -> Tensor:
        return _math.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _math.minimum(self, other)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _math.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return _math.argmin(self, dim, keepdim)


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

    def squeeze(self, dim: Any = None) -> Tensor:
        return _shape.squeeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return _shape.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _shape.expand(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return _shape.reshape(self, other.shape)

    view_as = reshape_as

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return _shape.roll(self, shifts, dims)

    def contiguous(self) -> Tensor:
        return self

    # --- reductions (ops/reductions.py) ---

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _reductions.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _reductions.all(self, dim, keepdim)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _reductions.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _reductions.cumprod(self, dim, dtype=dtype)

    def cummax(self, dim: int) -> MaxResult:
        return _reductions.cummax(self, dim)

    def cummin(self, dim: int) -> MaxResult:
        return _reductions.cummin(self, dim)

    def logsumexp(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _reductions.logsumexp(self, dim, keepdim)

    def logcumsumexp(self, dim: int) -> Tensor:
        return _reductions.logcumsumexp(self, dim)

    # --- shape and layout (ops/layout.py) ---

    def flip(self, *dims: Any) -> Tensor:
        return _layout.flip(self, dims[0] if len(dims) == 1 else dims)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _layout.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _layout.triu(self, diagonal)

    def repeat(self, *sizes: Any) -> Tensor:
        return _layout.repeat(self, *sizes)

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        return _layout.repeat_interleave(self, repeats, dim)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return _layout.index_select(self, dim, index)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        return _layout.unflatten(self, dim, sizes)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return _layout.diagonal(self, offset, dim1, dim2)

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        return _layout.unfold(self, dimension, size, step)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _layout.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _layout.chunk(self, chunks, dim)

    # --- indexing by tensors (ops/indexing.py) ---

    def gather(self, dim: int, index: Any) -> Tensor:
        return _indexing.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: Tensor) -> Tensor:
        return _indexing.scatter_add(self, dim, index, src)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return _indexing.masked_fill(self, mask, value)

    def sort(self, dim: int = -1, descending: bool = False, *,
             stable: bool = False) -> MaxResult:
        return _indexing.sort(self, dim, descending, stable=stable)

    def argsort(self, dim: int = -1, descending: bool = False, *,
                stable: bool = False) -> Tensor:
        return _indexing.argsort(self, dim, descending, stable=stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> MaxResult:
        return _indexing.topk(self, k, dim, largest, sorted)


def _topological_order(root: Function) -> list[Function | Tensor]:
    """Every graph node the root depends on, root first, each after all its consumers.

    Nodes are Functions and the leaf tensors that require grad. An iterative depth-first
    search (no recursion limit); a node reachable by several paths is visited once.
    """
    order: list[Function | Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    pop, push, append, mark = stack.pop, stack.append, order.append, visited.add
    while stack:
        node, children_done = pop()
        if children_done:
            append(node)
            continue
        if id(node) in visited:
            continue
        mark(id(node))
        push((node, True))
        if not isinstance(node, Tensor) and not node.released:
            for parent in node.parents:
                if parent is not None and id(parent) not in visited:
                    push((parent, False))
    order.reverse()
    return order


def _run_backward(root: Tensor, seed: Any, retain_graph: bool) -> None:
    """The engine: push ``seed`` (dL/droot) back through the graph to every leaf.

    Each node's incoming gradients are summed before its Function's backward runs (the
    topological order guarantees all its consumers come first). Every input gradient is
    summed back over broadcast axes (:func:`unbroadcast`, the one place that does so) and
    its shape is checked against the input's before it goes any further.
    """
    handed_out: set[int] = {id(seed)}  # the seed may be the caller's: never keep it as .grad
    if root._ctx is None:  # backward() on a leaf: its gradient is the seed itself
        _accumulate_grad(root, seed, handed_out)
        return
    grads: dict[int, Any] = {id(root._ctx): seed}
    for node in _topological_order(root._ctx):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue  # no path from the output reaches this node's use
        if isinstance(node, Tensor):
            _accumulate_grad(node, grad, handed_out)
            continue
        fn = node
        if fn.released:
            raise GradientError(
                f"backward through the graph a second time: {fn.name} already released "
                "what it saved. Call the first backward(retain_graph=True) if you need "
                "to go through the same graph twice."
            )
        if fn.retained_output is not None:
            _accumulate_grad(fn.retained_output, grad, handed_out)
        fn._check_versions()
        input_grads = fn.backward(grad)
        parents = fn.parents
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        if len(input_grads) != len(parents):
            raise GradientError(
                f"{fn.name}.backward returned {len(input_grads)} gradients for "
                f"{len(parents)} inputs"
            )
        for parent, g, shape, dtype in zip(parents, input_grads, fn.input_shapes,
                                           fn.input_dtypes):
            if g is None or parent is None:
                continue
            if g.shape != shape:
                g = unbroadcast(g, shape)
                if g.shape != shape:
                    raise GradientError(
                        f"{fn.name}.backward produced a gradient of shape {tuple(g.shape)} "
                        f"for an input of shape {shape}"
                    )
            if g.dtype is not dtype and g.dtype != dtype:  # (`is`: the fast path)
                g = g.astype(dtype)  # as PyTorch: a gradient has its input's dtype
            key = id(parent)
            previous = grads.get(key)
            grads[key] = g if previous is None else previous + g
        if not retain_graph:
            fn.release()


def _accumulate_grad(t: Tensor, grad: Any, handed_out: set[int]) -> None:
    """Add ``grad`` into ``t.grad``.

    A backward may pass one array to several inputs (``a + b`` gives both the same
    gradient) or a view of another; a leaf's ``.grad`` must own its array, because
    optimizers may modify it in place. Fresh arrays are kept without a copy.
    """
    if type(grad) is not np.ndarray and isinstance(grad, np.generic):
        grad = np.asarray(grad)  # a NumPy scalar from 0-d arithmetic: make it an array
    if t._grad is None:
        if id(grad) in handed_out or grad.base is not None:
            grad = grad.copy()
        handed_out.add(id(grad))
        t._grad = _new_tensor(grad)
    else:
        t._grad = _new_tensor(t._grad.data + grad)


def _format_values(array: np.ndarray) -> str:
    """The bracketed values as PyTorch prints them.

    Floats that are all whole numbers print as ``1.``; others with 4 decimals
    (``0.5000``), or in scientific notation when they span more than three orders of
    magnitude; all are padded to one width. Large tensors are summarized with ``...``.
    """
    options: dict[str, Any] = {}
    if array.dtype.kind == "f" and array.size:
        values = _summarized(array).astype(np.float64)  # PyTorch: only what is shown counts
        finite = values[np.isfinite(values)]
        nonzero = np.abs(finite[finite != 0])
        int_mode, sci_mode = True, False
        if nonzero.size:
            lo, hi = nonzero.min(), nonzero.max()
            int_mode = bool(np.all(np.ceil(finite) == finite))
            sci_mode = hi / lo > 1000.0 or hi > 1e8 or (not int_mode and lo < 1e-4)

        def fmt(v: float) -> str:
            if sci_mode:
                return f"{v:.4e}"
            if int_mode:
                return f"{v:.0f}" + ("" if np.isinf(v) or np.isnan(v) else ".")
            return f"{v:.4f}"

        # The widest string comes from the largest or the most negative finite value.
        extremes = (finite.max(), finite.min()) if finite.size else ()
        width = max((len(fmt(float(v))) for v in extremes), default=0)
        options["formatter"] = {"float_kind": lambda v: fmt(float(v)).rjust(width)}
    body = np.array2string(
        array, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=80,
        **options,
    )
    return body.replace(", ...,", ",  ...,")  # PyTorch's spacing around an elided run


def _summarized(array: np.ndarray, edge: int = 3) -> np.ndarray:
    """The first and last ``edge`` entries along every long axis (what a repr shows)."""
    if array.size <= 1000:
        return array
    for axis, n in enumerate(array.shape):
        if n > 2 * edge:
            array = np.take(array, list(range(edge)) + list(range(n - edge, n)), axis=axis)
    return array


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


def _shape_arg(shape: Sequence[Any], where: str) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``; every size a non-negative integer."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    sizes = []
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{where}: sizes must be non-negative integers, got {tuple(shape)}")
        sizes.append(int(s))
    return tuple(sizes)


def _float_dtype(dtype: Any) -> np.dtype:
    return np.dtype(np.float32) if dtype is None else as_dtype(dtype)


def _leaf(array: Any, requires_grad: bool, device: str | None) -> Tensor:
    """A new leaf tensor around ``array`` (moved to ``device`` when one is given)."""
    if device is not None:
        array = backend.to_device(array, device)
    t = _new_tensor(array)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: str | None = None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))`` (float32 unless ``dtype``)."""
    return _leaf(np.zeros(_shape_arg(size, "zeros"), _float_dtype(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))`` (float32 unless ``dtype``)."""
    return _leaf(np.ones(_shape_arg(size, "ones"), _float_dtype(dtype)), requires_grad, device)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False,
          device: str | None = None, generator: np.random.Generator | None = None) -> Tensor:
    """Samples of N(0, 1) from tinyrpn's global stream (see ``manual_seed``), or from
    ``generator``. Drawn in float64 on the CPU, then cast, so every dtype and device sees
    the same numbers for the same seed."""
    rng = generator if generator is not None else _random.default_generator()
    array = rng.standard_normal(_shape_arg(size, "randn")).astype(_float_dtype(dtype))
    return _leaf(array, requires_grad, device)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None, generator: np.random.Generator | None = None) -> Tensor:
    """Samples of U[0, 1) from tinyrpn's global stream (see ``manual_seed``), or from
    ``generator``."""
    rng = generator if generator is not None else _random.default_generator()
    array = rng.random(_shape_arg(size, "rand")).astype(_float_dtype(dtype))
    return _leaf(array, requires_grad, device)


def full(size: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; its dtype follows the value
    (float -> float32, int -> int64, bool -> bool) unless ``dtype`` is given."""
    shape = _shape_arg((size,) if isinstance(size, (int, np.integer)) else tuple(size), "full")
    dtype = as_dtype(dtype) if dtype is not None else _python_value_to_array(fill_value, None).dtype
    return _leaf(np.full(shape, fill_value, dtype=dtype), requires_grad, device)


def _like(t: Tensor, dtype: Any) -> tuple[Any, np.dtype]:
    return t.xp, (as_dtype(dtype) if dtype is not None else t.dtype)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device."""
    xp, dtype = _like(t, dtype)
    return _leaf(xp.zeros(t.shape, dtype=dtype), requires_grad, None)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device."""
    xp, dtype = _like(t, dtype)
    return _leaf(xp.ones(t.shape, dtype=dtype), requires_grad, None)


def full_like(t: Tensor, fill_value: float, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with ``t``'s shape, dtype and device."""
    xp, dtype = _like(t, dtype)
    return _leaf(xp.full(t.shape, fill_value, dtype=dtype), requires_grad, None)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """N(0, 1) samples with ``t``'s shape, dtype and device."""
    return randn(t.shape, dtype=dtype if dtype is not None else t.dtype,
                 requires_grad=requires_grad, device=t.device)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """U[0, 1) samples with ``t``'s shape, dtype and device."""
    return rand(t.shape, dtype=dtype if dtype is not None else t.dtype,
                requires_grad=requires_grad, device=t.device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False, device: str | None = None) -> Tensor:
    """Values from ``start`` (inclusive) to ``end`` (exclusive) in steps of ``step``:
    int64 when all three are integers, else float32 (as PyTorch), unless ``dtype``."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    whole = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if whole else np.float32
    array = np.arange(start, end, step).astype(as_dtype(dtype))
    return _leaf(array, requires_grad, device)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
        device: str | None = None) -> Tensor:
    """The n x m identity matrix (m = n when not given)."""
    return _leaf(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)


# The operators above call into tinyrpn.ops; imported last because ops builds on Function.
from tinyrpn.ops import indexing as _indexing  # noqa: E402
from tinyrpn.ops import layout as _layout  # noqa: E402
from tinyrpn.ops import linalg as _linalg  # noqa: E402
from tinyrpn.ops import math as _math  # noqa: E402
from tinyrpn.ops import reductions as _reductions  # noqa: E402
from tinyrpn.ops import shape as _shape  # noqa: E402
