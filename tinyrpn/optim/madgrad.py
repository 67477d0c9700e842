"""MADGRAD (Defazio & Jelassi 2021): momentumized, adaptive, dual-averaged gradient method.

The update of one parameter is written out in ``_plain_madgrad_step``, in array code that
runs on NumPy and CuPy; ``_fused_madgrad_step`` is its fast path, the same arithmetic in
one compiled pass over memory (``tinyrpn.kernels.optim.madgrad_loop``). ``madgrad_step``
picks one.
"""

from __future__ import annotations

import math
from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.backend import get_array_module
from tinyrpn.kernels.optim import flat, fusable, madgrad_loop, madgrad_loop_without_momentum
from tinyrpn.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_number,
    check_shapes,
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

    Unlike the reference, the weight decay does not modify ``p.grad`` in place. Each
    parameter's update is :func:`madgrad_step`.
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
        madgrad_step(
            p.data, grad, state["grad_sum_sq"], state["s"],
            state["x0"] if momentum != 0 else None, k=self.state.get("k", 0), lr=group["lr"],
            momentum=momentum, weight_decay=group["weight_decay"], eps=eps,
        )


def madgrad_step(
    param: Any, grad: Any, grad_sum_sq: Any, s: Any, x0: Any = None, *, k: int, lr: float,
    momentum: float, weight_decay: float, eps: float,
) -> None:
    """One MADGRAD step on one parameter's arrays, in place: ``MADGRAD``'s update.

    ``k`` is the optimizer's step counter (from 0). ``x0``, the parameter as it was at its
    first step, is needed when momentum != 0; with momentum 0 pass None: it is recovered
    from the current param, s and grad_sum_sq, as the reference does. The arithmetic is
    ``_plain_madgrad_step``'s; where the compiled loop can take the arrays (NumPy with Numba
    on, float32/float64, C-contiguous) ``_fused_madgrad_step`` does it in one pass.
    """
    check_shapes("madgrad_step", param, grad=grad, grad_sum_sq=grad_sum_sq, s=s, x0=x0)
    if momentum != 0 and x0 is None:
        raise ValueError("madgrad_step: momentum != 0 needs the x0 array")
    start = x0 if momentum != 0 else None
    update = _fused_madgrad_step if fusable(param, grad_sum_sq, s, start) else _plain_madgrad_step
    update(param, grad, grad_sum_sq, s, start, k=k, lr=lr, momentum=momentum,
           weight_decay=weight_decay, eps=eps)


def _plain_madgrad_step(
    param: Any, grad: Any, grad_sum_sq: Any, s: Any, x0: Any, *, k: int, lr: float,
    momentum: float, weight_decay: float, eps: float,
) -> None:
    """The MADGRAD step in array code (NumPy or CuPy): the definition the fast path follows
    (facebookresearch/madgrad's dense step, operation for operation)."""
    xp = get_array_module(param)
    lamb = (lr + eps) * math.sqrt(k + 1)  # lambda_k: later gradients weigh more
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum == 0:  # x0 is not stored: recover it before the state changes
        x0 = param + s / (xp.cbrt(grad_sum_sq) + eps)
    grad_sum_sq += lamb * grad * grad
    s += lamb * grad
    z = x0 - s / (xp.cbrt(grad_sum_sq) + eps)  # the dual-averaging point
    if momentum == 0:
        param[...] = z
    else:
        ck = 1 - momentum  # how far the parameter moves towards z
        param *= 1 - ck
        param += ck * z


def _fused_madgrad_step(
    param: Any, grad: Any, grad_sum_sq: Any, s: Any, x0: Any, *, k: int, lr: float,
    momentum: float, weight_decay: float, eps: float,
) -> None:
    """``_plain_madgrad_step`` in one compiled pass over memory, for arrays that
    ``fusable`` accepts; scalars rounded to the parameter's dtype, as PyTorch does."""
    dtype = param.dtype
    rounded = dtype.type
    lamb = (lr + eps) * math.sqrt(k + 1)
    if momentum == 0:
        madgrad_loop_without_momentum(
            flat(param, dtype), flat(grad, dtype), flat(grad_sum_sq, dtype), flat(s, dtype),
            lamb=rounded(lamb), eps=rounded(eps), weight_decay=rounded(weight_decay),
        )
        return
    ck = 1 - momentum
    madgrad_loop(
        flat(param, dtype), flat(grad, dtype), flat(grad_sum_sq, dtype), flat(s, dtype),
        flat(x0, dtype), lamb=rounded(lamb), eps=rounded(eps),
        weight_decay=rounded(weight_decay), ck=rounded(ck), one_minus_ck=rounded(1 - ck),
    )


__all__ = ["MADGRAD", "madgrad_step"]
