"""In-place changes of tensors that a gradient flows through, recorded as PyTorch does.

``y.mul_(2)`` on a tensor in a graph is the out-of-place ``y * 2`` whose result is then
written back into ``y``'s memory: ``y`` keeps its identity (and every view of it sees
the new values) while its ``grad_fn`` becomes the new op. Ops that saved ``y``'s old array
find its version counter bumped and refuse to run backward (see ``Function``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinyrpn.autograd import Function
from tinyrpn.errors import GradientError
from tinyrpn.ops.comparison import where
from tinyrpn.ops.operands import _xp, to_operand
from tinyrpn.tensor import Tensor, _index_to_arrays, _new_tensor


class SetItem(Function):
    """``a`` with ``v`` written at ``index`` (``y[index] = v`` in a graph).

    forward:  out = a with out[index] = v
    backward: da = d with d[index] = 0,  dv = d[index]   (summed back over v's broadcast
              dims by the engine)
    """

    saves_inputs = False

    def forward(self, a: Any, v: Any, index: Any) -> Any:
        self.index = index
        out = a.copy()
        out[index] = v
        return out

    def backward(self, d: Any) -> tuple[Any, Any]:
        need_a, need_v = self.needs_input_grad
        da = dv = None
        if need_a:
            da = d.copy()
            da[self.index] = 0
        if need_v:
            dv = d[self.index]
        return da, dv


def setitem(a: Tensor, index: Any, value: Any) -> Tensor:
    """``a`` with ``a[index] = value``, out of place and differentiable in both."""
    value = to_operand(value, a)
    if value.dtype != a.dtype:
        value = value.to(dtype=a.dtype)
    index = _index_to_arrays(index)
    target_ndim = a.data[index].ndim
    extra = value.ndim - target_ndim
    if extra > 0 and all(n == 1 for n in value.shape[:extra]):
        value = value.reshape(value.shape[extra:])  # leading 1s are dropped, as PyTorch
    return SetItem.apply(a, value, index=index)


def filled(a: Tensor, value: Any) -> Tensor:
    """A tensor shaped like ``a`` holding ``value`` (a number or a tensor that broadcasts);
    ``a`` gets a zero gradient and a tensor ``value`` the gradient of every place it went."""
    keep_nothing = _new_tensor(_xp(a.data).zeros(a.shape, dtype=bool))
    value = to_operand(value, a)
    if value.dtype != a.dtype:
        value = value.to(dtype=a.dtype)
    return where(keep_nothing, a, value)


def rewrite(t: Tensor, what: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
    """Replace ``t``'s values by ``compute(old values of t)``, recorded in the graph.

    ``compute`` receives a copy of ``t`` that stands for its old values in the graph, so
    that the op it runs saves that copy, which nothing will overwrite, rather than ``t``'s
    array, which is about to be.
    """
    if t._version.other_views_alive(t):
        raise GradientError(
            f"{what}: in-place change of a tensor in a graph (shape {t.shape}) that shares "
            "its memory with a view or a base still in use; that tensor's graph would not "
            "see the change. Use the out-of-place form (y = y * 2 instead of y.mul_(2)), "
            "or drop the view first."
        )
    old = _new_tensor(t.data.copy(), t._requires_grad)
    old._ctx = t._ctx
    if t._ctx is not None and t._ctx.retained_output is t:
        t._ctx.retained_output = None  # t's .grad now belongs to its new values
    new = compute(old)
    if new.dtype != t.dtype:
        new = new.to(dtype=t.dtype)
    if new.shape != t.shape:
        raise GradientError(
            f"{what}: the result has shape {new.shape}, which cannot be written into a "
            f"tensor of shape {t.shape}"
        )
    t.data[...] = new.data
    t._version.value += 1
    t._ctx, t._requires_grad = new._ctx, new._requires_grad
    if t._retains_grad and t._ctx is not None:
        t._ctx.retained_output = t
    return t
