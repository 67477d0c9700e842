"""Stochastic gradient descent, with momentum, dampening, Nesterov and L2 weight decay.

The update of one parameter is written out in ``_plain_sgd_step``, in array code that runs
on NumPy and CuPy; ``_fused_sgd_step`` is its fast path, the same arithmetic in one
compiled pass over memory (``tinyrpn.kernels.optim.sgd_loop``). ``sgd_step`` picks one.
"""

from __future__ import annotations

from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.kernels.optim import flat, fusable, sgd_loop
from tinyrpn.optim.optimizer import Optimizer, ParamsT, check_number, check_shapes


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    For each parameter p with gradient g, per step::

        g = g + weight_decay * p                    (L2 penalty)
        b = g                                       (first step)
        b = momentum * b + (1 - dampening) * g      (later steps)
        g = g + momentum * b   if nesterov   else   g = b        (when momentum != 0)
        p = p - lr * g

    Without momentum this is plain ``p -= lr * g``. State per parameter:
    ``momentum_buffer`` (b), only when momentum != 0. Each parameter's update is
    :func:`sgd_step`.
    """

    state_keys = frozenset({"momentum_buffer"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"], low=0.0)
        check_number(name, "momentum", group["momentum"], low=0.0)
        check_number(name, "dampening", group["dampening"])
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{name}: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        first = False
        if momentum != 0 and "momentum_buffer" not in state:
            # Its contents do not matter: the first step writes the gradient into it.
            state["momentum_buffer"] = p.xp.empty(p.data.shape, dtype=p.data.dtype)
            first = True
        sgd_step(
            p.data, grad, state.get("momentum_buffer") if momentum != 0 else None,
            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"], first_step=first,
        )


def sgd_step(
    param: Any, grad: Any, momentum_buffer: Any = None, *, lr: float, momentum: float = 0.0,
    dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
    first_step: bool = False,
) -> None:
    """One SGD step on one parameter's arrays, in place: ``SGD``'s update.

    ``momentum_buffer`` is needed when momentum != 0; on the first step
    (``first_step=True``) its old contents are ignored, so it may be uninitialised.
    The arithmetic is ``_plain_sgd_step``'s; where the compiled loop can take the arrays
    (NumPy with Numba on, float32/float64, C-contiguous) ``_fused_sgd_step`` does it in one
    pass over memory.
    """
    check_shapes("sgd_step", param, grad=grad, momentum_buffer=momentum_buffer)
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_step: momentum != 0 needs a momentum_buffer array")
    buffer = momentum_buffer if momentum != 0 else None
    update = _fused_sgd_step if fusable(param, buffer) else _plain_sgd_step
    update(param, grad, buffer, lr=lr, momentum=momentum, dampening=dampening,
           weight_decay=weight_decay, nesterov=nesterov, first_step=first_step)


def _plain_sgd_step(
    param: Any, grad: Any, momentum_buffer: Any, *, lr: float, momentum: float,
    dampening: float, weight_decay: float, nesterov: bool, first_step: bool,
) -> None:
    """The SGD step in array code (NumPy or CuPy): the definition the fast path follows
    (``torch.optim``'s single-tensor SGD, operation for operation)."""
    if weight_decay != 0:
        grad = grad + weight_decay * param  # the gradient of an L2 penalty
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        if nesterov:  # step from where the momentum is about to carry the weights
            grad = grad + momentum * momentum_buffer
        else:
            grad = momentum_buffer
    param -= lr * grad


def _fused_sgd_step(
    param: Any, grad: Any, momentum_buffer: Any, *, lr: float, momentum: float,
    dampening: float, weight_decay: float, nesterov: bool, first_step: bool,
) -> None:
    """``_plain_sgd_step`` in one compiled pass over memory, for arrays that ``fusable``
    accepts; scalars rounded to the parameter's dtype, as PyTorch does."""
    dtype = param.dtype
    rounded = dtype.type
    sgd_loop(
        flat(param, dtype), flat(grad, dtype), flat(momentum_buffer, dtype),
        lr=rounded(lr), weight_decay=rounded(weight_decay), momentum=rounded(momentum),
        one_minus_dampening=rounded(1 - dampening), first_step=bool(first_step),
        nesterov=bool(nesterov),
    )
