"""MADGRAD (Defazio & Jelassi 2021): momentumized, adaptive, dual-averaged gradient method."""

from __future__ import annotations

from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.kernels.optim import madgrad_update
from tinyrpn.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_number,
    copy_of_param,
    zeros_like_param,
)


class MADGRAD(Optimizer):
    """MADGRAD, the algorithm of facebookresearch/madgrad (dense gradients).

    With k the optimizer's step counter (0 at the first step, shared by all parameters),
    c = 1 - momentum and x0 each parameter's value at its first step::

        lambda_k = (lr + eps) * sqrt(k + 1)
        g  = g + weight_decay * p
        nu = nu + lambda_k * g^2                    (``grad_sum_sq``)
        s  = s + lambda_k * g
        z  = x0 - s / (cbrt(nu) + eps)
        p  = (1 - c) * p + c * z                    (p = z when momentum is 0)

    State per parameter: ``grad_sum_sq`` (nu), ``s`` and, when momentum != 0, ``x0``
    (without momentum, x0 is recovered from p, s and nu, saving memory). Optimizer-wide:
    ``state["k"]``, the step counter, which counts every ``step()`` call as in the
    reference (a parameter without a gradient in a step is skipped but k still advances).

    Unlike the reference, the weight decay does not modify ``p.grad`` in place.
    """

    state_keys = frozenset({"grad_sum_sq", "s", "x0"})
    global_state_keys = frozenset({"k"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum,
                                  "weight_decay": weight_decay, "eps": eps})

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        # As the reference: a positive lr, momentum in [0, 1).
        check_number(name, "lr", group["lr"], low=0.0, low_open=True)
        check_number(name, "momentum", group["momentum"], low=0.0, high=1.0, high_open=True)
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)
        check_number(name, "eps", group["eps"], low=0.0)

    def step(self, closure: Any = None) -> Any:
        loss = super().step(closure)
        self.state["k"] = self.state.get("k", 0) + 1
        return loss

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum, eps = group["momentum"], group["eps"]
        if not state:
            state["grad_sum_sq"] = zeros_like_param(p)
            state["s"] = zeros_like_param(p)
            if momentum != 0:
                state["x0"] = copy_of_param(p)
        if momentum != 0 and "x0" not in state:
            # Momentum switched on after steps without it: x0 = p + s / (cbrt(nu) + eps).
            xp = p.xp
            state["x0"] = p.data + state["s"] / (xp.cbrt(state["grad_sum_sq"]) + eps)
        madgrad_update(
            p.data, grad, state["grad_sum_sq"], state["s"],
            state["x0"] if momentum != 0 else None, k=self.state.get("k", 0), lr=group["lr"],
            momentum=momentum, weight_decay=group["weight_decay"], eps=eps,
        )


__all__ = ["MADGRAD"]
