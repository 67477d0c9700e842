"""Stochastic gradient descent, with momentum, dampening, Nesterov and L2 weight decay."""

from __future__ import annotations

from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.kernels.optim import sgd_update
from tinyrpn.optim.optimizer import Optimizer, ParamsT, check_number


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    For each parameter p with gradient g, per step::

        g = g + weight_decay * p                    (L2 penalty)
        b = g                                       (first step)
        b = momentum * b + (1 - dampening) * g      (later steps)
        g = g + momentum * b   if nesterov   else   g = b        (when momentum != 0)
        p = p - lr * g

    Without momentum this is plain ``p -= lr * g``. State per parameter:
    ``momentum_buffer`` (b), only when momentum != 0.
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
        sgd_update(
            p.data, grad, state.get("momentum_buffer") if momentum != 0 else None,
            lr=group["lr"], momentum=momentum, dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"], first_step=first,
        )
