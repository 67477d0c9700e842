"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019).

The update of one parameter is written out in ``_plain_adam_step``, in array code that runs
on NumPy and CuPy; ``_fused_adam_step`` is its fast path, the same arithmetic in one
compiled pass over memory (``tinyrpn.kernels.optim.adam_loop``). ``adam_step`` picks one.
"""

from __future__ import annotations

from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.backend import get_array_module
from tinyrpn.kernels.optim import adam_loop, flat, fusable
from tinyrpn.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_number,
    check_shapes,
    zeros_like_param,
)


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
    AMSGrad, ``max_exp_avg_sq`` (v'). Each parameter's update is :func:`adam_step`.
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
        adam_step(
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


def adam_step(
    param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any = None, *,
    step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    decoupled_weight_decay: bool = False,
) -> None:
    """One Adam (or AdamW) step on one parameter's arrays, in place: ``Adam``'s update.

    ``step`` is t, counted from 1; ``max_exp_avg_sq`` is given for AMSGrad, None otherwise.
    The arithmetic is ``_plain_adam_step``'s; where the compiled loop can take the arrays
    (NumPy with Numba on, float32/float64, C-contiguous) ``_fused_adam_step`` does it in
    one pass over memory.
    """
    check_shapes("adam_step", param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
                 max_exp_avg_sq=max_exp_avg_sq)
    update = (_fused_adam_step if fusable(param, exp_avg, exp_avg_sq, max_exp_avg_sq)
              else _plain_adam_step)
    update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr, beta1=beta1,
           beta2=beta2, eps=eps, weight_decay=weight_decay,
           decoupled_weight_decay=decoupled_weight_decay)


def _plain_adam_step(
    param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any, *, step: int,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    decoupled_weight_decay: bool,
) -> None:
    """The Adam step in array code (NumPy or CuPy): the definition the fast path follows.

    The operations are those of ``torch.optim``'s single-tensor Adam, in its order, so that
    both round alike.
    """
    xp = get_array_module(param)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay  # AdamW: shrink the weights themselves
        else:
            grad = grad + weight_decay * param  # Adam: the gradient of an L2 penalty
    exp_avg += (1 - beta1) * (grad - exp_avg)  # = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    second_moment = exp_avg_sq
    if max_exp_avg_sq is not None:  # AMSGrad: the largest second moment so far
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    # param -= step_size * exp_avg / (sqrt(second_moment) / bias_correction2_sqrt + eps),
    # in place in one temporary array (a parameter may hold 40 million numbers).
    denom = xp.sqrt(second_moment)
    denom /= bias_correction2_sqrt
    denom += eps
    change = xp.divide(exp_avg, denom, out=denom)
    change *= step_size
    param -= change


def _fused_adam_step(
    param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any, *, step: int,
    lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
    decoupled_weight_decay: bool,
) -> None:
    """``_plain_adam_step`` in one compiled pass over memory, for arrays that ``fusable``
    accepts. Its scalars are computed in double precision, then rounded to the
    parameter's dtype, as PyTorch does with Python numbers."""
    dtype = param.dtype
    rounded = dtype.type
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    decoupled = decoupled_weight_decay
    adam_loop(
        flat(param, dtype), flat(grad, dtype), flat(exp_avg, dtype), flat(exp_avg_sq, dtype),
        flat(max_exp_avg_sq, dtype),
        l2_weight_decay=rounded(0.0 if decoupled else weight_decay),
        decay_factor=rounded(1 - lr * weight_decay if decoupled else 1.0),
        one_minus_beta1=rounded(1 - beta1), beta2=rounded(beta2),
        one_minus_beta2=rounded(1 - beta2), step_size=rounded(lr / bias_correction1),
        bias_correction2_sqrt=rounded(bias_correction2**0.5), eps=rounded(eps),
        amsgrad=max_exp_avg_sq is not None,
    )
