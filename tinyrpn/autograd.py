"""The autograd engine: ``Function``, the graph it records, and the backward pass.

The whole idea in three sentences. Every differentiable operation is a :class:`Function`
whose ``forward`` maps arrays to an array and whose ``backward`` maps the gradient of the
output to the gradients of the inputs. Calling an operation on Tensors runs ``forward`` and
returns a Tensor that remembers the Function (``grad_fn``) and, through it, the graph of
everything it was computed from (``Function.apply``). Calling ``loss.backward()`` visits
that graph from the loss back to the leaves in reverse topological order, applying the
chain rule at every node (:func:`_backward`).

Read it top to bottom: Function and ``apply`` (how a node is recorded), ``unbroadcast``,
the graph walk, then the entry points (``Tensor.backward``, :func:`backward`,
:func:`grad`). Whether a graph is recorded at all is ``no_grad`` (``grad_mode.py``).

Functions work on raw arrays (NumPy, or CuPy on a GPU), never on Tensors; every
operation is a Function in :mod:`tinyrpn.ops`. The Tensor class is in ``tensor.py``: this
module imports it (every op's output is wrapped in one) and, as it loads, hands Tensor the
function ``Tensor.backward`` runs (``use_engine``), so tensor.py need not import the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn import grad_mode
from tinyrpn.errors import ArgumentError, GradientError
from tinyrpn.grad_mode import enable_grad, is_grad_enabled, no_grad
from tinyrpn.tensor import Tensor, _new_tensor, _Version, use_engine

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

    The in-place rules, as PyTorch's:

    - A leaf that requires grad (a parameter) may be changed in place only inside
      ``no_grad()``: elsewhere the change is refused at once.
    - Any other tensor may be changed in place (``y.add_(1)``, ``y[0] = v``). When the
      change involves a tensor that requires grad it is recorded in the graph, as the
      out-of-place op would be, and ``y.grad_fn`` becomes that op; this is refused only
      while another tensor still views the same memory (a view of ``y``, or the base ``y``
      is a view of), whose graph could not see the change. (``y[0] += 1`` is fine: the
      temporary view ``y[0]`` is gone when the sum is written back.)
    - Every in-place change bumps the array's version counter. ``backward`` raises when an
      op that saved an array (``saves_inputs``/``saves_output``) finds its version changed:
      only then would the gradient be wrong.
    """

    saves_inputs: bool = True
    saves_output: bool = False
    is_view: bool = False

    # Defaults for every node; set per instance only when they differ.
    released: bool = False
    _output_version: tuple[_Version, int] | None = None
    _input_versions: tuple[tuple[_Version, int], ...] = ()
    retained_output: Tensor | None = None  # set by Tensor.retain_grad()
    output_hooks: dict[int, Any] | None = None  # set by Tensor.register_hook() on the output

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
            result._version.add_view(inputs[0])
            result._version.add_view(result)
        if not grad_mode.enabled:
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
        return f"<{self.name}Backward>"  # what a tensor's repr shows as its grad_fn


def _same_memory(out: Any, source: Any) -> bool:
    """Whether ``out`` is a view into the memory that ``source`` views (or owns)."""
    out_base = getattr(out, "base", None)
    if out_base is None:
        return False
    source_base = getattr(source, "base", None)
    return out_base is source or (source_base is not None and out_base is source_base)


# ------------------------------------------------------------------------ unbroadcast


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


# ------------------------------------------------------------------------ the graph walk


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


class _Outputs(Function):
    """The start of every backward pass: one node above the outputs that hands each of
    them its seed gradient (dL/doutput), so that one or many outputs take the same path."""

    saves_inputs = False

    def backward(self, d: Any) -> tuple[Any, ...]:
        return self.seeds


def _apply_hooks(hooks: dict[int, Any], grad: Any) -> Any:
    """Run a tensor's gradient hooks in order; a hook that returns a tensor replaces grad."""
    for hook in list(hooks.values()):
        replaced = hook(_new_tensor(grad))
        if replaced is not None:
            grad = replaced.data if isinstance(replaced, Tensor) else replaced
    return grad


def _backward(roots: Sequence[Tensor], seeds: Sequence[Any], retain_graph: bool,
              capture: dict[int, list[int]] | None = None) -> list[Any] | None:
    """The engine: push each seed (dL/droot) back through the graph to every leaf.

    Each node's incoming gradients are summed before its Function's backward runs (the
    topological order guarantees all its consumers come first). Every input gradient is
    summed back over broadcast axes (:func:`unbroadcast`, the one place that does so) and
    its shape is checked against the input's before it goes any further.

    With ``capture`` (for :func:`grad`: graph node id -> positions in the result), the
    gradients reaching those nodes are returned instead, and no ``.grad`` is touched.
    """
    handed_out: set[int] = {id(s) for s in seeds}  # the caller's: never kept as .grad
    start = _Outputs()
    start.seeds = tuple(seeds)
    start.parents = tuple([r._ctx or r for r in roots])
    start.input_shapes = tuple([r.data.shape for r in roots])
    start.input_dtypes = tuple([r.data.dtype for r in roots])
    captured: list[Any] | None = None
    if capture is not None:
        captured = [None] * sum(len(positions) for positions in capture.values())
    grads: dict[int, Any] = {id(start): True}
    for node in _topological_order(start):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue  # no path from the output reaches this node's use
        if isinstance(node, Tensor):
            if node._hooks:
                grad = _apply_hooks(node._hooks, grad)
            if captured is None:
                _accumulate_grad(node, grad, handed_out)
            elif id(node) in capture:
                for i in capture[id(node)]:
                    captured[i] = grad
            continue
        fn = node
        if fn.released:
            raise GradientError(
                f"backward through the graph a second time: {fn.name} already released "
                "what it saved. Call the first backward(retain_graph=True) if you need "
                "to go through the same graph twice."
            )
        if fn.output_hooks:
            grad = _apply_hooks(fn.output_hooks, grad)
        if captured is not None:
            for i in capture.get(id(fn), ()):
                captured[i] = grad
        elif fn.retained_output is not None:
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
    return captured


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


# ------------------------------------------------------------------------ entry points


def tensor_backward(root: Tensor, gradient: Any, retain_graph: bool | None,
                    create_graph: bool, inputs: Any) -> None:
    """``root.backward(gradient, retain_graph, create_graph, inputs)``: check the seed
    (dL/droot), then run :func:`_backward` from ``root``."""
    if inputs is not None:
        if gradient is not None and not isinstance(gradient, Tensor):
            gradient = Tensor(gradient, dtype=root.dtype)
        found = grad(root, inputs, gradient, retain_graph, create_graph, allow_unused=True)
        targets = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        for t, g in zip(targets, found):
            if g is not None:
                _accumulate_grad(t, g.data, set())
        return
    if create_graph:
        raise NotImplementedError("backward(create_graph=True): gradients of gradients "
                                  "are not supported")
    if not root._requires_grad:
        raise GradientError(
            "backward() on a tensor that does not require grad and has no grad_fn: "
            "no input of the computation had requires_grad=True (or it was computed "
            "inside no_grad())"
        )
    if gradient is None:
        if root.data.size != 1:
            raise GradientError(
                f"backward() without a gradient works only on a scalar (one element); "
                f"this tensor has shape {root.shape}. Reduce it first (loss.sum() or "
                "loss.mean()), or pass backward(gradient=...) of the same shape."
            )
        seed = root.xp.ones_like(root.data)
    else:
        seed = gradient.data if isinstance(gradient, Tensor) else root.xp.asarray(gradient)
        if tuple(seed.shape) != root.shape:
            raise GradientError(
                f"backward(gradient=...) got shape {tuple(seed.shape)}, but the tensor "
                f"has shape {root.shape}; they must match"
            )
        # No copy: no backward writes into its gradient, and the engine copies the
        # caller's array before a leaf's .grad could become it (see _accumulate_grad).
        seed = seed.astype(root.dtype, copy=False)
    _backward([root], [seed], bool(retain_graph))


def _seeds(op: str, outputs: list[Tensor], grad_outputs: Any) -> list[Any]:
    """The starting gradient (dL/doutput) of each output, checked: a given one must have
    the output's shape; None means 1 and needs a one-element output."""
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ArgumentError(f"{op}: {len(grad_outputs)} gradients given for {len(outputs)} "
                            "outputs; give one per output (or None)")
    seeds = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out._requires_grad:
            raise GradientError(f"{op}: output {i} does not require grad and has no grad_fn: "
                                "it does not depend on any input that requires grad")
        if g is None:
            if out.data.size != 1:
                raise GradientError(
                    f"{op}: output {i} has shape {out.shape}; without a given gradient only "
                    "one-element outputs can be differentiated (pass grad_outputs=...)")
            seeds.append(out.xp.ones_like(out.data))
        else:
            seed = g.data if isinstance(g, Tensor) else out.xp.asarray(g)
            if tuple(seed.shape) != out.shape:
                raise GradientError(f"{op}: gradient {i} has shape {tuple(seed.shape)} but "
                                    f"output {i} has shape {out.shape}")
            seeds.append(seed.astype(out.dtype, copy=False))
    return seeds


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None,
             retain_graph: bool | None = None, inputs: Any = None) -> None:
    """``torch.autograd.backward``: backward from several tensors at once, accumulating
    Σ over tensors of grad_tensor · d tensor / d leaf into each leaf's ``.grad`` (into
    only the ``inputs`` given, if any)."""
    if inputs is None:
        tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
        _backward(tensors, _seeds("backward", tensors, grad_tensors), bool(retain_graph))
        return
    found = grad(tensors, inputs, grad_tensors, retain_graph, allow_unused=True)
    for t, g in zip([inputs] if isinstance(inputs, Tensor) else list(inputs), found):
        if g is not None:
            _accumulate_grad(t, g.data, set())


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, returned rather than
    accumulated into ``.grad`` (which stays untouched), as ``torch.autograd.grad``.

    ``grad_outputs`` gives dL/doutput for each output (None: 1 for a one-element output);
    the result is Σ over outputs of grad_output · d output / d input, one tensor per input.
    Inputs may be leaves or intermediate tensors. An input the outputs do not depend on
    is an error unless ``allow_unused=True`` (then its gradient is None). The graph is
    freed afterwards unless ``retain_graph=True``. Gradients of gradients
    (``create_graph=True``) are not supported: backward passes compute on arrays.

    >>> x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = tinyrpn.autograd.grad((x * x).sum(), x)      # tensor([2., 4.])
    """
    if create_graph:
        raise NotImplementedError(
            "grad(create_graph=True): gradients of gradients are not supported, because "
            "tinyrpn's backward functions compute on arrays, not on Tensors"
        )
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t._requires_grad:
            raise GradientError(f"grad: input {i} does not require grad, so no gradient "
                                "can be computed for it")
    seeds = _seeds("grad", outputs, grad_outputs)
    capture: dict[int, list[int]] = {}
    for i, t in enumerate(inputs):
        capture.setdefault(id(t._ctx or t), []).append(i)
    found = _backward(outputs, seeds, bool(retain_graph), capture)
    results: list[Tensor | None] = []
    for i, g in enumerate(found):
        if g is None and not allow_unused:
            raise GradientError(
                f"grad: input {i} (shape {inputs[i].shape}) was not used to compute the "
                "outputs; pass allow_unused=True to get None for it"
            )
        results.append(None if g is None else _new_tensor(g.copy()))
    return tuple(results)


# Tensor.backward runs tensor_backward. tensor.py cannot import this module, which is built
# on it, so the engine hands Tensor its entry point here, as it loads.
use_engine(tensor_backward)


# --------------------------------------------------------- names that moved out of this file
# Tensor, the factories and the dtypes lived here until the engine got a file of its own;
# ``from tinyrpn.autograd import Tensor, zeros`` keeps working for code written then.
from tinyrpn.creation import (  # noqa: E402
    arange,
    as_tensor,
    eye,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from tinyrpn.dtypes import (  # noqa: E402
    as_dtype,
    bool_,
    device_or_dtype,
    float16,
    float32,
    float64,
    int32,
    int64,
    is_floating,
    uint8,
)
from tinyrpn.errors import DTypeError  # noqa: E402
from tinyrpn.tensor import RemovableHandle  # noqa: E402
from tinyrpn.tensor_methods import MaxResult  # noqa: E402

__all__ = [
    # the engine
    "Function", "unbroadcast", "backward", "grad", "tensor_backward",
    "no_grad", "enable_grad", "is_grad_enabled", "GradientError", "ArgumentError",
    # at their old address (see above)
    "Tensor", "MaxResult", "RemovableHandle", "DTypeError", "arange", "as_tensor", "eye",
    "full", "full_like", "ones", "ones_like", "rand", "rand_like", "randn", "randn_like",
    "tensor", "zeros", "zeros_like", "as_dtype", "bool_", "device_or_dtype", "float16",
    "float32", "float64", "int32", "int64", "is_floating", "uint8",
]
