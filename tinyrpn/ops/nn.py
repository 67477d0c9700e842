"""Neural-network operations: the affine map (``linear``), smooth activations,
(log-)softmax, dropout.

The rest of the neural-network maths lives beside this file: ``conv.py`` (conv2d, pad),
``norm.py`` (layer norm, batch norm) and ``loss.py`` (cross-entropy, NLL, MSE).
``tinyrpn.nn.functional`` gathers them all under PyTorch's names.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn import random as _random
from tinyrpn.autograd import Function
from tinyrpn.display import TinyrpnWarning
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.operands import _normalize_dims, _xp, same_dtype
from tinyrpn.tensor import Tensor


def _needs_grad(fn: Function, i: int) -> bool:
    """Whether input ``i`` of ``fn`` wants a gradient (skip computing it otherwise)."""
    return fn.needs_input_grad[i]


def _float_tensor(op: str, x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype} "
                        f"(shape {x.shape}); convert it with .float()")
    return x


# ----------------------------------------------------------------------------- linear


class AffineMap(Function):
    """An affine map of the last dim, the Function behind ``F.linear`` and ``nn.Linear``.

    forward:  out = x Wᵀ + b              x (*, in), W (out, in), b (out,)
    backward: dx = d W,   dW = dᵀ x,   db = Σ d   (dᵀ x and Σ d sum over all leading dims)
    """

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        out = x @ weight.T
        if bias is not None:
            out = out + bias
        return out

    def backward(self, d: Any) -> tuple[Any, ...]:
        n_out, n_in = self.weight.shape
        # The input is often the data itself (no gradient wanted); d W is then skipped,
        # which for a wide first layer is most of the backward pass.
        grad_x = d @ self.weight if _needs_grad(self, 0) else None
        d_rows = d.reshape(-1, n_out)
        grad_w = d_rows.T @ self.x.reshape(-1, n_in) if _needs_grad(self, 1) else None
        grads: tuple[Any, ...] = (grad_x, grad_w)
        if self.has_bias:
            grads += (d_rows.sum(axis=0),)
        return grads


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b over the last dim of x, as ``torch.nn.functional.linear``."""
    _float_tensor("linear", x)
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        got = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ArgumentError(f"linear: weight must be a 2-D Tensor (out_features, in_features), "
                         f"got {got}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ArgumentError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}) but "
            f"weight expects {weight.shape[1]} (weight shape {weight.shape})"
        )
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (weight.shape[0],)):
        got = bias.shape if isinstance(bias, Tensor) else type(bias).__name__
        raise ArgumentError(f"linear: bias must have shape ({weight.shape[0]},) for weight shape "
                         f"{weight.shape}, got {got}")
    same_dtype("linear", input=x, weight=weight, bias=bias)
    return AffineMap.apply(x, weight) if bias is None else AffineMap.apply(x, weight, bias)


# ----------------------------------------------------------------------------- activations


class Softplus(Function):
    """A smooth ReLU, elementwise.

    forward:  out = log(1 + exp(β x)) / β,  or x where β x > threshold (there the two
              agree to float precision and exp would overflow)
    backward: dx = d · σ(β x),  or d where β x > threshold   (σ the logistic sigmoid)
    """

    def forward(self, x: Any, *, beta: float, threshold: float) -> Any:
        xp = _xp(x)
        self.x, self.beta, self.threshold = x, beta, threshold
        z = x * beta
        # logaddexp(0, z) = log(1 + e^z) without overflow for large z
        return xp.where(z > threshold, x, xp.logaddexp(0, z) / beta).astype(x.dtype, copy=False)

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        z = self.x * self.beta
        e = xp.exp(-xp.abs(z))
        sig = xp.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return d * xp.where(z > self.threshold, 1, sig).astype(d.dtype, copy=False)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(β x)) / β elementwise (x itself where β x > threshold), as PyTorch."""
    _float_tensor("softplus", x)
    if beta == 0:
        raise ArgumentError("softplus: beta must be non-zero")
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


def _tanh_softplus(x: Any) -> tuple[Any, Any]:
    """(tanh(softplus(x)), e^x) with one exponential.

    With e = e^x, 1 + e = e^softplus(x), so tanh(softplus(x)) = ((1+e)² − 1)/((1+e)² + 1)
    = n / (n + 2) with n = e (e + 2). Above x = 20 the ratio is 1 to within 1e-17, so x is
    clipped there to keep e² finite. (Written with ``out=`` to avoid temporaries: this runs
    on every hidden unit of the MLP, twice per step.)
    """
    xp = _xp(x)
    e = xp.minimum(x, 20)
    xp.exp(e, out=e)
    n = e + 2
    n *= e
    t = n + 2
    xp.divide(n, t, out=t)
    return t, e


class Mish(Function):
    """Mish (Misra 2019), elementwise, as one fused op.

    forward:  out = x · t,  t = tanh(softplus(x))
    backward: dx = d · (t + x · (1 − t²) · σ(x))      since d softplus/dx = σ(x) = e/(1 + e)
    """

    def forward(self, x: Any) -> Any:
        # t and e^x are kept for the backward pass, which then needs no exponential.
        self.x = x
        self.t, self.e = _tanh_softplus(x)
        return x * self.t

    def backward(self, d: Any) -> Any:
        x, t, e = self.x, self.t, self.e
        sig = e + 1
        _xp(d).divide(e, sig, out=sig)           # σ(x) = e / (1 + e)
        slope = t * t
        _xp(d).subtract(1, slope, out=slope)     # 1 − t²
        slope *= x
        slope *= sig
        slope += t
        slope *= d
        return slope


def mish(x: Tensor) -> Tensor:
    """x · tanh(softplus(x)) elementwise, as ``torch.nn.functional.mish``."""
    _float_tensor("mish", x)
    if x.ndim == 0:  # the fused op writes into its temporaries, which needs arrays
        return Mish.apply(x.reshape(1)).reshape(())
    return Mish.apply(x)


# ----------------------------------------------------------------------------- softmax


class Softmax(Function):
    """Softmax along ``dim``, shifted by the maximum so that exp never overflows.

    forward:  out_i = exp(x_i − max x) / Σ_j exp(x_j − max x)
    backward: dx = out · (d − Σ_j d_j out_j)
    """

    saves_inputs = False
    saves_output = True

    def forward(self, x: Any, *, dim: int) -> Any:
        xp = _xp(x)
        self.dim = dim
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        e /= e.sum(axis=dim, keepdims=True)
        self.out = e
        return e

    def backward(self, d: Any) -> Any:
        out = self.out
        return out * (d - (d * out).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Function):
    """log(softmax(x)) along ``dim``, computed without overflow.

    forward:  out = x − max x − log Σ_j exp(x_j − max x)
    backward: dx = d − exp(out) · Σ_j d_j
    """

    saves_inputs = False
    saves_output = True

    def forward(self, x: Any, *, dim: int) -> Any:
        self.dim = dim
        if dim == x.ndim - 1 and x.size > 0 and x.shape[-1] > 0:
            out = _kernels().log_softmax(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        else:
            xp = _xp(x)
            shifted = x - x.max(axis=dim, keepdims=True)
            out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        self.out = out
        return out

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        return d - xp.exp(self.out) * d.sum(axis=self.dim, keepdims=True)


def _softmax_dim(op: str, x: Tensor, dim: int | None) -> int:
    if dim is None:
        # PyTorch's legacy rule for a missing dim; it warns, and so do we.
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"{op}: implicit dim is deprecated; using dim={dim}. Pass dim "
                      "explicitly.", TinyrpnWarning, stacklevel=3)
    if x.ndim == 0:
        if dim not in (0, -1):
            raise IndexError(f"{op}: dim {dim} out of range for a 0-d tensor")
        return 0
    (dim,) = _normalize_dims(dim, x.ndim)
    return dim


def softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """exp(x) / Σ exp(x) along ``dim``, computed stably, as ``torch.nn.functional.softmax``."""
    _float_tensor("softmax", x)
    d = _softmax_dim("softmax", x, dim)
    if x.ndim == 0:
        return Softmax.apply(x.reshape(1), dim=0).reshape(())
    return Softmax.apply(x, dim=d)


def log_softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """log(softmax(x)) along ``dim``, as x − logsumexp(x) (stable for any logits)."""
    _float_tensor("log_softmax", x)
    d = _softmax_dim("log_softmax", x, dim)
    if x.ndim == 0:
        return LogSoftmax.apply(x.reshape(1), dim=0).reshape(())
    return LogSoftmax.apply(x, dim=d)


# ----------------------------------------------------------------------------- dropout


class Dropout(Function):
    """out = x · m;  dx = d · m   (m = 1/(1−p) where kept, with probability 1−p, else 0)"""

    saves_inputs = False

    def forward(self, x: Any, *, mask: Any) -> Any:
        self.mask = mask
        return x * mask

    def backward(self, d: Any) -> Any:
        return d * self.mask


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Any = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1−p) (training only).

    The mask is drawn on the CPU from ``tinyrpn.random.default_generator()`` and moved to
    x's device, so ``tinyrpn.manual_seed`` makes it reproducible on every backend. With a
    ``generator`` (a :class:`tinyrpn.random.TorchCPUGenerator`) it is the mask PyTorch's
    CPU dropout draws from that stream, bit for bit: ``bernoulli(1 − p) / (1 − p)``.
    ``inplace`` is accepted for PyTorch compatibility; the result is always a new tensor
    (in-place writes would break the graph's saved values).
    """
    _float_tensor("dropout", x)
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout: probability has to be between 0 and 1, but got p={p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        mask = x.xp.zeros(x.shape, dtype=x.dtype)
    elif generator is not None:
        keep = generator.bernoulli(x.numel(), 1.0 - p).reshape(x.shape)
        mask = backend.to_device(keep.astype(x.dtype) / x.dtype.type(1.0 - p), x.device)
    else:
        keep = _random.default_generator().random(x.shape, dtype=np.float32) >= p
        mask = backend.to_device(keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p)), x.device)
    return Dropout.apply(x, mask=mask)
