"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019)."""

from __future__ import annotations

from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.kernels.optim import adam_update
from tinyrpn.optim.optimizer import Optimizer, ParamsT, check_number, zeros_like_param


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: moving averages of the gradient and its square.

    For each parameter p with gradient g, at step t = 1, 2, ...::

        g  = g + weight_decay * p                   (Adam: L2 penalty in the gradient)
        p  = p * (1 - lr * weight_decay)            (AdamW: decoupled weight decay instead)
        m  = beta1 * m + (1 - beta1) * g
        v  = beta2 * v + (1 - beta2) * g^2
        v' = max(v', v)  and use v' for v           (amsgrad=True)
        p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    State per parameter: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    AMSGrad, ``max_exp_avg_sq`` (v'). The whole update of a parameter is one fused pass
    over memory (``tinyrpn.kernels.adam_update``).
    """

    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(params, {
            "lr": lr, "betas": tuple(betas) if isinstance(betas, list) else betas, "eps": eps,
            "weight_decay": weight_decay, "amsgrad": amsgrad,
            "decoupled_weight_decay": decoupled_weight_decay,
        })

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_number(name, "lr", group["lr"], low=0.0)
        check_number(name, "eps", group["eps"], low=0.0)
        betas = group["betas"]
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_number(name, "betas[0]", betas[0], low=0.0, high=1.0, high_open=True)
        check_number(name, "betas[1]", betas[1], low=0.0, high=1.0, high_open=True)
        check_number(name, "weight_decay", group["weight_decay"], low=0.0)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_like_param(p)
            state["exp_avg_sq"] = zeros_like_param(p)
        amsgrad = group["amsgrad"]
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_like_param(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        adam_update(
            p.data, grad, state["exp_avg"], state["exp_avg_sq"],
            state["max_exp_avg_sq"] if amsgrad else None, step=state["step"], lr=group["lr"],
            beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW`` (default weight_decay 1e-2).

    The decay shrinks the weights directly, ``p *= 1 - lr * weight_decay``, instead of
    adding ``weight_decay * p`` to the gradient, where Adam's normalisation would scale it.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad,
                         decoupled_weight_decay=True)
