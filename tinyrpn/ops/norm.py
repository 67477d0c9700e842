"""Normalisation layers' maths: layer norm and batch norm, with their gradients.

Both standardise: x̂ = (x − μ) / √(σ² + ε), then optionally scale and shift, γ x̂ + β.
They differ in what μ and σ² are averaged over: layer norm over the features of one
sample (each row on its own), batch norm over the samples (and positions) of one channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.grad_mode import no_grad
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.operands import _xp, same_dtype
from tinyrpn.tensor import Tensor

# ----------------------------------------------------------------------------- layer norm


class LayerNorm(Function):
    """Layer normalisation of each row of x (rows × D, D = prod(normalized_shape)).

    forward:  μ = mean(x_row), rstd = 1 / √(var(x_row) + ε)   (biased variance),
              y = (x − μ) · rstd
    backward: dx = rstd · (d − mean(d) − y · mean(d · y))   (means over the row)

    The backward needs only y and rstd, never x, so x is not saved: for RPN layer 1 a
    row has 615,440 features, and holding x as well as y would double the memory.
    """

    saves_inputs = False
    saves_output = True

    def forward(self, x: Any, *, features: int, eps: float) -> Any:
        rows = x.reshape(-1, features)
        y, self.rstd = _kernels().layer_norm_forward(rows, eps)
        self.y = y
        return y.reshape(x.shape)

    def backward(self, d: Any) -> Any:
        features = self.y.shape[1]
        grad = _kernels().layer_norm_backward(d.reshape(-1, features), self.y, self.rstd)
        return grad.reshape(d.shape)


def _normalized_shape(value: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),)
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(
            f"layer_norm: normalized_shape must be an int or a sequence of ints, got {value!r}"
        ) from None
    return shape


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims, as PyTorch's ``F.layer_norm``.

    y = (x − mean) / √(var + eps) per sample (biased variance over the normalised dims),
    then y · weight + bias when they are given (each of shape ``normalized_shape``).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"layer_norm: expected a Tensor, got {type(x).__name__}")
    if not is_floating(x.dtype):
        raise TypeError(f"layer_norm: input must be floating point, got {x.dtype}")
    same_dtype("layer_norm", input=x, weight=weight, bias=bias)
    shape = _normalized_shape(normalized_shape)
    if len(shape) == 0 or len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ArgumentError(
            f"layer_norm: normalized_shape {shape} must match the last dims of the input, "
            f"but the input has shape {x.shape}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != shape):
            got = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ArgumentError(f"layer_norm: {name} must have shape {shape}, got {got}")
    features = int(np.prod(shape))
    out = LayerNorm.apply(x, features=features, eps=float(eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


# ----------------------------------------------------------------------------- batch norm


class BatchNorm(Function):
    """Per-channel standardisation, then γ x̂ + β (γ, β broadcast along channel dim 1).

    forward:  x̂ = (x − μ) · rstd,   out = γ x̂ + β
              (the caller passes x − μ as ``centred`` and rstd = 1/√(σ² + ε))

    With batch statistics (training), μ and rstd are themselves functions of x (averages
    over the m = N·H·W values of each channel), which adds two terms to the gradient:

    backward: dγ = Σ d · x̂,   dβ = Σ d                      (sums over all dims but 1)
              dx = γ · rstd · (d − dβ/m − x̂ · dγ/m)        batch statistics
              dx = γ · rstd · d                             running statistics (eval)
    """

    def forward(self, x: Any, *params: Any, centred: Any, rstd: Any, batch_stats: bool,
                has_weight: bool, has_bias: bool) -> Any:
        xp = _xp(x)
        self.axes = (0,) + tuple(range(2, x.ndim))
        view = (1, -1) + (1,) * (x.ndim - 2)
        self.count = x.size // max(x.shape[1], 1)
        weight = params[0] if has_weight else None
        bias = params[-1] if has_bias else None
        self.rstd = xp.asarray(rstd, dtype=x.dtype).reshape(view)
        centred *= self.rstd  # the caller's fresh array becomes x̂
        self.xhat = centred
        self.weight = None if weight is None else weight.reshape(view)
        self.batch_stats, self.has_weight, self.has_bias = batch_stats, has_weight, has_bias
        if weight is None and bias is None:
            return centred.copy()  # not x̂ itself: the caller may modify the output in place
        out = centred * self.weight if weight is not None else centred.copy()
        if bias is not None:
            out += bias.reshape(view)
        return out

    def backward(self, d: Any) -> tuple[Any, ...]:
        xp = _xp(d)
        scale = self.rstd if self.weight is None else self.rstd * self.weight
        grad_x = d * self.xhat
        sum_dxhat = grad_x.sum(axis=self.axes)
        sum_d = d.sum(axis=self.axes)
        if self.batch_stats:
            shape = self.rstd.shape
            # grad_x = scale · (d − Σd/m − x̂ · Σ(d x̂)/m), reusing one buffer
            xp.multiply(self.xhat, (sum_dxhat / self.count).reshape(shape), out=grad_x)
            grad_x += (sum_d / self.count).reshape(shape)
            xp.subtract(d, grad_x, out=grad_x)
            grad_x *= scale
        else:
            xp.multiply(d, scale, out=grad_x)
        grads: tuple[Any, ...] = (grad_x,)
        if self.has_weight:
            grads += (sum_dxhat,)
        if self.has_bias:
            grads += (sum_d,)
        return grads


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over channel dim 1 of x (N, C) or (N, C, *), as
    ``torch.nn.functional.batch_norm``.

    training=True: normalise with the batch's mean and biased variance over every dim but
    1, and (when given) update the running statistics in place, as PyTorch does:
    running = (1 − momentum) · running + momentum · batch, with the *unbiased* variance
    (Σ(x − μ)² / (m − 1)) going into running_var.
    training=False: normalise with running_mean and running_var.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"batch_norm: expected a Tensor, got {type(x).__name__}")
    if not is_floating(x.dtype):
        raise TypeError(f"batch_norm: input must be floating point, got {x.dtype}")
    if x.ndim < 2:
        raise ArgumentError(
            f"batch_norm: input must have a channel dim, shape (N, C) or (N, C, ...), "
            f"got shape {x.shape}"
        )
    same_dtype("batch_norm", input=x, running_mean=running_mean, running_var=running_var,
               weight=weight, bias=bias)
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or t.shape != (channels,)):
            got = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ArgumentError(
                f"batch_norm: {name} must have shape ({channels},) for input shape "
                f"{x.shape}, got {got}"
            )
    if (running_mean is None) != (running_var is None):
        raise ArgumentError("batch_norm: give both running_mean and running_var, or neither")
    xp = x.xp
    axes = (0,) + tuple(range(2, x.ndim))
    view = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        count = x.numel() // max(channels, 1)
        if count <= 1:
            raise ArgumentError(
                f"batch_norm: expected more than 1 value per channel when training, got "
                f"input shape {x.shape}"
            )
        mean = x.data.mean(axis=axes)
        centred = x.data - mean.reshape(view)
        squares = centred * centred
        var = squares.mean(axis=axes)
        del squares
        if running_mean is not None:
            with no_grad():
                m = momentum
                running_mean.copy_(((1 - m) * running_mean.data + m * mean)
                                   .astype(running_mean.dtype, copy=False))
                unbiased = var * (count / (count - 1))
                running_var.copy_(((1 - m) * running_var.data + m * unbiased)
                                  .astype(running_var.dtype, copy=False))
    else:
        if running_mean is None:
            raise ArgumentError(
                "batch_norm: running_mean and running_var are needed when training=False "
                "(evaluation uses the running statistics)"
            )
        var = running_var.data
        centred = x.data - running_mean.data.astype(x.dtype, copy=False).reshape(view)
    rstd = 1.0 / xp.sqrt(xp.asarray(var, dtype=x.dtype) + eps)
    params = tuple(t for t in (weight, bias) if t is not None)
    return BatchNorm.apply(x, *params, centred=centred, rstd=rstd, batch_stats=bool(training),
                           has_weight=weight is not None, has_bias=bias is not None)
