"""``Tensor``: an array that remembers how it was computed, so gradients can flow back.

A Tensor holds its array (``data``: NumPy, or CuPy on a GPU), ``grad_fn`` (the Function
that made it; the engine is ``autograd.py``), ``grad`` and a version counter that lets
backward detect an input changed in place after an op saved it. Here, by topic:
construction and properties; gradients; conversion; printing; in-place changes; masks.
The operators and methods that are one op each (``a + b``, ``x.sum()``) are inherited
from ``tensor_methods.py``.

Imports: the engine wraps every op's output in a Tensor, so Tensor imports only what
lies below both (errors, dtypes, grad mode); ``backward()`` reaches the engine through the
entry point the engine hands over when it loads (:func:`use_engine`).
(``tinyrpn.tensor`` is the factory function, as in PyTorch; import this module's names
with ``from tinyrpn.tensor import Tensor``.)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyrpn import backend, grad_mode, ops, printing
from tinyrpn.dtypes import as_dtype, device_or_dtype
from tinyrpn.errors import ArgumentError, GradientError
from tinyrpn.tensor_methods import TensorMethods

if TYPE_CHECKING:
    from tinyrpn.autograd import Function

# ------------------------------------------------------------------------ version counter


class _Version:
    """How many times a tensor's array was modified in place.

    A Function records the version of each input when it runs; if that number has changed
    by the time ``backward`` needs the input, the array it saved no longer holds the values
    the forward pass saw, and the gradient would be silently wrong. Tensors that share
    memory (a view and its base, a tensor and its ``detach()``) share one counter.
    """

    __slots__ = ("value", "views")

    def __init__(self) -> None:
        self.value = 0
        # The tensors that view this memory through an op (see Function.is_view), held
        # weakly: a view the program no longer holds cannot be used again, so it does not
        # stand in the way of an in-place change recorded in the graph.
        self.views: dict[int, weakref.ref] | None = None

    def add_view(self, t: Tensor) -> None:
        if self.views is None:
            self.views = {}
        views, key = self.views, id(t)
        if key not in views:
            views[key] = weakref.ref(t, lambda _, views=views, key=key: views.pop(key, None))

    def other_views_alive(self, t: Tensor) -> bool:
        """Whether a tensor other than ``t`` still views (or is the base of) this memory."""
        return self.views is not None and any(
            key != id(t) and ref() is not None for key, ref in list(self.views.items()))


# ------------------------------------------------------------------------ hooks and results


class RemovableHandle:
    """What ``register_hook`` and ``register_forward_hook`` return: ``handle.remove()``
    takes the hook away again (also usable as ``with handle: ...``)."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any], hook: Any) -> None:
        RemovableHandle._next_id += 1
        self.id = RemovableHandle._next_id
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


# ------------------------------------------------------------------------ Tensor


class Tensor(TensorMethods):
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
                 "_hooks", "__weakref__")

    # Make NumPy hand over to Tensor's reflected operators: ndarray * Tensor -> Tensor.
    __array_ufunc__ = None

    # -- construction ----------------------------------------------------------------------

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        self._grad: Tensor | None = None
        self._ctx: Function | None = None
        self._version = _Version()
        self._retains_grad = False
        self._requires_grad = False
        self._hooks: dict[int, Any] | None = None
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
        t._hooks = None
        return t

    # -- properties ------------------------------------------------------------------------

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

    # -- gradients -------------------------------------------------------------------------

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

    def register_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(grad)`` whenever backward computes the gradient of this tensor.

        ``grad`` is a Tensor; when the hook returns a Tensor, that is used in its place
        (for a leaf, before it is added into ``.grad``; otherwise, before it flows on to
        the inputs). Hooks run in the order they were registered, in ``backward()`` and
        in ``tinyrpn.autograd.grad``. ``handle.remove()`` takes the hook away again.

        >>> h = y.register_hook(lambda g: print("dL/dy =", g))
        """
        if not self._requires_grad:
            raise GradientError(
                f"register_hook on a tensor that does not require grad (shape {self.shape}): "
                "no gradient will ever reach it"
            )
        if self._ctx is None:
            if self._hooks is None:
                self._hooks = {}
            store = self._hooks
        else:
            if self._ctx.output_hooks is None:
                self._ctx.output_hooks = {}
            store = self._ctx.output_hooks
        return RemovableHandle(store, hook)

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

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires one,
        adding it into their ``.grad`` (into only the ``inputs`` given, if any), as in
        PyTorch. ``gradient`` (dL/dself) is needed unless this tensor has one element; the
        graph is freed unless ``retain_graph=True``. The engine's ``tensor_backward`` does it.
        """
        _engine_backward(self, gradient, retain_graph, create_graph, inputs)  # see use_engine

    # -- conversion ------------------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy when the tensor lives on a GPU).

        On the CPU the array shares this tensor's memory, so it is refused for a tensor
        that requires grad, as in PyTorch: writing into it would silently change values
        the graph has saved. Use ``t.detach().numpy()``.
        """
        if self._requires_grad:
            raise GradientError(
                f"numpy() of a tensor that requires grad (shape {self.shape}); writing into "
                "the array would corrupt the gradients. Use t.detach().numpy() instead."
            )
        return backend.to_numpy(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self) -> Any:
        """The single value of a one-element tensor, as a Python number."""
        if self.data.size != 1:
            raise ArgumentError(
                f"item() needs a tensor with exactly one element; this one has shape "
                f"{self.shape} ({self.data.size} elements)"
            )
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return backend.to_numpy(self.data).tolist()

    def to(self, target: Any = None, dtype: Any = None) -> Tensor:
        """Move to a device (``'cpu'``, ``'cuda'``) and/or cast to a dtype, differentiably."""
        out = self
        if target is not None:
            device, as_type = device_or_dtype(target, "Tensor.to")
            if device is not None:
                out = ops.shape.to_device(out, device)
            else:
                dtype = as_type
        if dtype is not None:
            out = ops.shape.cast(out, as_dtype(dtype))
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

    # -- printing --------------------------------------------------------------------------

    def __repr__(self) -> str:
        """PyTorch's layout: ``tensor([1., 2.], requires_grad=True)``,
        ``tensor([0.5000, 1.2500], dtype=tinyrpn.float64, grad_fn=<MulBackward>)``."""
        return printing.tensor_repr(self)

    def __str__(self) -> str:
        return self.__repr__()

    def __format__(self, spec: str) -> str:
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return str(self)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ArgumentError(
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

    # -- in-place (they bump the version counter; see Function for the rules) --------------

    def _check_inplace(self, what: str) -> None:
        if grad_mode.enabled and self._requires_grad and self._ctx is None:
            raise GradientError(
                f"{what}: in-place change of a leaf that requires grad (shape {self.shape}) "
                "while gradients are recorded. Wrap it in `with tinyrpn.no_grad():` (e.g. "
                "for a weight update), or use the out-of-place form."
            )

    def _in_graph(self, other: Any = None) -> bool:
        """Whether an in-place change must be recorded: a gradient flows through it."""
        return grad_mode.enabled and (self._requires_grad or (
            isinstance(other, Tensor) and other._requires_grad))

    def _modified(self) -> Tensor:
        self._version.value += 1
        return self

    def _inplace(self, what: str, new_values: Any) -> Tensor:
        self._check_inplace(what)
        if self._in_graph():
            return ops.inplace.rewrite(self, what, lambda old: ops.inplace.filled(old, new_values))
        self.data[...] = new_values
        return self._modified()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        if self._in_graph(value):
            ops.inplace.rewrite(self, "__setitem__",
                             lambda old: ops.inplace.setitem(old, index, value))
            return
        if isinstance(value, Tensor):
            value = value.data
        self.data[_index_to_arrays(index)] = value
        self._modified()

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha * other, in place."""
        self._check_inplace("add_")
        if self._in_graph(other):
            return ops.inplace.rewrite(self, "add_", lambda old: old + (
                other if alpha == 1 else other * alpha))
        other = other.data if isinstance(other, Tensor) else other
        self.data += other if alpha == 1 else alpha * other
        return self._modified()

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """self -= alpha * other, in place."""
        self._check_inplace("sub_")
        if self._in_graph(other):
            return ops.inplace.rewrite(self, "sub_", lambda old: old - (
                other if alpha == 1 else other * alpha))
        other = other.data if isinstance(other, Tensor) else other
        self.data -= other if alpha == 1 else alpha * other
        return self._modified()

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        self._check_inplace("mul_")
        if self._in_graph(other):
            return ops.inplace.rewrite(self, "mul_", lambda old: old * other)
        self.data *= other.data if isinstance(other, Tensor) else other
        return self._modified()

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place."""
        self._check_inplace("div_")
        if self._in_graph(other):
            return ops.inplace.rewrite(self, "div_", lambda old: old / other)
        self.data /= other.data if isinstance(other, Tensor) else other
        return self._modified()

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def fill_(self, value: float) -> Tensor:
        return self._inplace("fill_", value)

    def copy_(self, source: Any) -> Tensor:
        """Copy ``source``'s values (broadcast to this shape) into this tensor."""
        if isinstance(source, Tensor) and source.device != self.device:
            source = source.to(self.device)
        values = source.data if isinstance(source, Tensor) else backend.to_device(
            source, self.device)
        if tuple(np.shape(values)) != self.shape:
            try:
                np.broadcast_to(np.empty(np.shape(values), dtype=bool), self.shape)
            except ValueError:
                raise ArgumentError(
                    f"copy_: source of shape {tuple(np.shape(values))} cannot be broadcast "
                    f"to this tensor's shape {self.shape}"
                ) from None
        self._check_inplace("copy_")
        if self._in_graph(source):
            return ops.inplace.rewrite(self, "copy_", lambda old: ops.inplace.filled(old, source))
        self.data[...] = values
        return self._modified()

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        self._check_inplace("clamp_")
        if self._in_graph():
            return ops.inplace.rewrite(self, "clamp_",
                                       lambda old: ops.comparison.clamp(old, min, max))
        self.xp.clip(self.data, min, max, out=self.data)
        return self._modified()

    # -- augmented assignment: x += y changes x in place, as in PyTorch --------------------
    #
    # Without these methods Python runs `x = x + y`: a new tensor is bound to the name and
    # the old one is left as it was, so `p -= lr * p.grad` in a hand-written optimizer would
    # leave the model's parameter unchanged, without a word. In-place methods record no
    # graph here, so where one would be needed (grad recording on, and a tensor in a graph
    # or an operand that requires grad) the operator stays out of place, as before. A leaf
    # that requires grad raises while grad is recorded, as its add_ does (and as in PyTorch).

    def _augmented(self, symbol: str, other: Any, inplace: Any, out_of_place: Any) -> Tensor:
        if grad_mode.enabled:
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

    # -- masks: logical / bitwise operators for bool and integer tensors; no gradient ------

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


# ------------------------------------------------------------------------ the engine's entry

# What Tensor.backward runs: the engine's tensor_backward. The engine imports this file (it
# wraps every op's output in a Tensor), so this file does not import it: the engine hands
# its entry point over as it loads (use_engine, at the end of autograd.py).
def _engine_backward(*args: Any) -> None:  # replaced by use_engine
    raise RuntimeError("backward(): the autograd engine is not loaded; import tinyrpn")


def use_engine(tensor_backward: Callable[..., None]) -> None:
    """Called once, by autograd.py as it loads: the function ``Tensor.backward`` runs."""
    global _engine_backward
    _engine_backward = tensor_backward


# ------------------------------------------------------------------------ helpers


def _new_tensor(array: Any, requires_grad: bool = False) -> Tensor:
    """The engine's fast constructor: a Tensor around ``array`` (no copy, no checks)."""
    t = _object_new(Tensor)
    t.data = array
    t._grad = None
    t._ctx = None
    t._version = _Version()
    t._retains_grad = False
    t._requires_grad = requires_grad
    t._hooks = None
    return t


_object_new = object.__new__


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
        return backend.to_numpy(items.data)
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


def _index_to_arrays(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return [i.data if isinstance(i, Tensor) else i for i in index]
    return index

