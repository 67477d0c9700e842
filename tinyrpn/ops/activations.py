"""Activation functions beyond relu/tanh/sigmoid (those are in ``math.py``; softplus, mish
and the softmaxes in ``nn.py``), each with its gradient, and ``normalize``.

At a kink (relu6 at 0 and 6, hardtanh at its bounds, ...) the gradient is the one PyTorch
takes, stated in each docstring, and so is the gradient at NaN: the one its vectorized CPU
loops give, which run for all but the smallest tensors (its scalar loop, for a handful of
elements, differs at NaN for elu, hardtanh and hardswish). d = dL/dout.

Values that overflow (gelu(−inf) = −inf · 0) give NaN without NumPy's warning, as PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.arithmetic import neg
from tinyrpn.ops.comparison import clamp
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.nn import _float_tensor, softmax
from tinyrpn.ops.operands import _normalize_dims, _xp
from tinyrpn.tensor import Tensor


def _quiet(method: Any) -> Any:
    """Run ``method`` with NumPy's overflow and invalid-value warnings off (inf and NaN
    inputs give inf and NaN, as in PyTorch, without a warning)."""

    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):
            return method(*args, **kwargs)

    quiet.__doc__, quiet.__name__ = method.__doc__, method.__name__
    return quiet


def _sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x), with e^-x allowed to overflow to inf (giving the right limit 0)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + _xp(x).exp(-x))


# ----------------------------------------------------------------------------- smooth


class GELU(Function):
    """The Gaussian error linear unit (Hendrycks & Gimpel 2016), exact or by its tanh form.

    forward:  exact: out = x Φ(x),  Φ(x) = (1 + erf(x/√2)) / 2 the normal CDF
              tanh:  out = x (1 + tanh u) / 2,  u = √(2/π) (x + 0.044715 x³)
    backward: exact: dx = d (Φ(x) + x φ(x)),  φ(x) = e^(−x²/2) / √(2π) the normal density
              tanh:  dx = d ((1 + t)/2 + x (1 − t²) √(2/π) (1 + 3 · 0.044715 x²) / 2),
                     t = tanh u
    """

    @_quiet
    def forward(self, x: Any, approximate: str) -> Any:
        xp = _xp(x)
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            u = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
            self.t = xp.tanh(u)
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + _kernels().erf(x * (1 / math.sqrt(2))))
        return x * self.cdf

    @_quiet
    def backward(self, d: Any) -> Any:
        x, xp = self.x, _xp(d)
        if self.approximate == "tanh":
            t = self.t
            du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
            return d * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        density = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return d * (self.cdf + x * density)


class SiLU(Function):
    """out = x σ(x);  dx = d σ(x) (1 + x (1 − σ(x)))   (the sigmoid-weighted linear unit, swish)."""

    @_quiet
    def forward(self, x: Any) -> Any:
        self.x = x
        self.sig = _sigmoid(x)
        return x * self.sig

    @_quiet
    def backward(self, d: Any) -> Any:
        sig = self.sig
        return d * sig * (1 + self.x * (1 - sig))


class ELU(Function):
    """The exponential linear unit and its two relatives (PyTorch's one kernel for all three).

    forward:  out = scale · x                                    where x > 0
                    scale · α (e^(x · input_scale) − 1)          elsewhere
    backward: dx  = d · scale                                    where x > 0
                    d · scale · α · input_scale · e^(x · input_scale)   elsewhere (NaN at NaN)

    elu is (α, 1, 1), celu (α, 1, 1/α), selu (α₀, λ₀, 1) with SELU's fixed constants.
    """

    @_quiet
    def forward(self, x: Any, alpha: float, scale: float, input_scale: float) -> Any:
        xp = _xp(x)
        self.x, self.alpha, self.scale, self.input_scale = x, alpha, scale, input_scale
        with np.errstate(over="ignore"):
            self.e = xp.exp(xp.minimum(x, 0) * input_scale)  # e^(...) where it is used
        out = xp.where(x > 0, x, alpha * (self.e - 1))
        return (out * scale if scale != 1 else out).astype(x.dtype, copy=False)

    @_quiet
    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        negative = d * (self.scale * self.alpha * self.input_scale) * self.e
        return xp.where(self.x > 0, d * self.scale, negative).astype(d.dtype, copy=False)


class LogSigmoid(Function):
    """out = log σ(x);  dx = d (1 − σ(x)) = d σ(−x).

    Computed as min(x, 0) − log(1 + e^(−|x|)), which never overflows.
    """

    @_quiet
    def forward(self, x: Any) -> Any:
        xp = _xp(x)
        self.x = x
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    @_quiet
    def backward(self, d: Any) -> Any:
        return d * _sigmoid(-self.x)


# ----------------------------------------------------------------------------- piecewise linear


class LeakyReLU(Function):
    """The leaky ReLU.

    forward:  out = x where x > 0, else slope · x
    backward: dx = d where x > 0, else slope · d   (slope at 0 and at NaN, as PyTorch)
    """

    @_quiet
    def forward(self, x: Any, negative_slope: float) -> Any:
        self.x, self.slope = x, negative_slope
        return _xp(x).where(x > 0, x, x * negative_slope)

    @_quiet
    def backward(self, d: Any) -> Any:
        return _xp(d).where(self.x > 0, d, d * self.slope)


class Hardtanh(Function):
    """out = min(max(x, lo), hi);  dx = d where lo < x < hi, else 0.

    So 0 on the bounds and at NaN, as PyTorch. relu6 is hardtanh(0, 6).
    """

    @_quiet
    def forward(self, x: Any, lo: float, hi: float) -> Any:
        self.x, self.lo, self.hi = x, lo, hi
        return _xp(x).clip(x, lo, hi)

    @_quiet
    def backward(self, d: Any) -> Any:
        inside = (self.x > self.lo) & (self.x < self.hi)
        return _xp(d).where(inside, d, d.dtype.type(0))


class Hardsigmoid(Function):
    """out = relu6(x + 3) / 6;  dx = d / 6 where −3 < x < 3, else 0 (also at NaN)."""

    @_quiet
    def forward(self, x: Any) -> Any:
        self.x = x
        return _xp(x).clip(x + 3, 0, 6) / 6

    @_quiet
    def backward(self, d: Any) -> Any:
        inside = (self.x > -3) & (self.x < 3)
        return _xp(d).where(inside, d / 6, d.dtype.type(0))


class Hardswish(Function):
    """The hard swish.

    forward:  out = x · relu6(x + 3) / 6
    backward: dx = 0 where x <= −3,  d (x/3 + 1/2) where −3 < x < 3 (and NaN at NaN),
              d where x >= 3
    """

    @_quiet
    def forward(self, x: Any) -> Any:
        self.x = x
        return x * _xp(x).clip(x + 3, 0, 6) / 6

    @_quiet
    def backward(self, d: Any) -> Any:
        xp, x = _xp(d), self.x
        middle = xp.where(x >= 3, d, d * (x / 3 + 0.5))
        return xp.where(x <= -3, d.dtype.type(0), middle).astype(d.dtype, copy=False)


# ----------------------------------------------------------------------------- normalize


class PNorm(Function):
    """The p-norm over ``dim`` (kept).

    forward:  out = (Σ |x|^p)^(1/p)
    backward: dx = d · sign(x) |x|^(p−1) / out^(p−1)   (d · x / out for p = 2), and 0 where
              out = 0 (the subgradient PyTorch takes for the norm of a zero vector)
    """

    @_quiet
    def forward(self, x: Any, p: float, dim: int) -> Any:
        xp = _xp(x)
        self.x, self.p = x, p
        if p == 2:
            self.out = xp.sqrt((x * x).sum(axis=dim, keepdims=True))
        else:
            self.out = (xp.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1 / p)
        return self.out

    @_quiet
    def backward(self, d: Any) -> Any:
        xp, x, out, p = _xp(d), self.x, self.out, self.p
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2:
                slope = x / out
            else:
                slope = xp.sign(x) * xp.abs(x) ** (p - 1) / out ** (p - 1)
        return d * xp.where(out == 0, 0, slope).astype(d.dtype, copy=False)


# ----------------------------------------------------------------------------- public


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Φ(x) elementwise (Φ the normal CDF), or its tanh approximation with
    ``approximate='tanh'``, as ``torch.nn.functional.gelu``."""
    _float_tensor("gelu", x)
    if approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate=approximate)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x σ(x) elementwise (also called swish)."""
    return SiLU.apply(_float_tensor("silu", x))


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else ``negative_slope`` · x."""
    return LeakyReLU.apply(_float_tensor("leaky_relu", x), negative_slope=float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else α (e^x − 1)."""
    _float_tensor("elu", x)
    return ELU.apply(x, alpha=float(alpha), scale=1.0, input_scale=1.0)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else α (e^(x/α) − 1) (continuously differentiable for every α)."""
    _float_tensor("celu", x)
    if alpha == 0:
        raise ArgumentError("celu: alpha must be non-zero (it divides x)")
    return ELU.apply(x, alpha=float(alpha), scale=1.0, input_scale=1.0 / alpha)


# SELU's constants (Klambauer et al. 2017), chosen so that activations keep zero mean and
# unit variance through many layers; the digits are those PyTorch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """λ₀ · elu(x, α₀) with SELU's fixed constants (α₀ ≈ 1.6733, λ₀ ≈ 1.0507)."""
    _float_tensor("selu", x)
    return ELU.apply(x, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val] (zero gradient on and beyond the bounds)."""
    _float_tensor("hardtanh", x)
    if min_val > max_val:
        raise ArgumentError(f"hardtanh: min_val {min_val} is above max_val {max_val}")
    return Hardtanh.apply(x, lo=float(min_val), hi=float(max_val))


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6)."""
    _float_tensor("relu6", x)
    return Hardtanh.apply(x, lo=0.0, hi=6.0)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: a piecewise-linear sigmoid."""
    return Hardsigmoid.apply(_float_tensor("hardsigmoid", x))


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    """x · relu6(x + 3) / 6 (MobileNetV3's cheap swish)."""
    return Hardswish.apply(_float_tensor("hardswish", x))


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|), composed of abs, add and div as in PyTorch (so its gradient,
    1 / (1 + |x|)², comes out of theirs; at ±inf it is NaN, as there)."""
    _float_tensor("softsign", x)
    with np.errstate(invalid="ignore"):
        return x / (abs(x) + 1)


def logsigmoid(x: Tensor) -> Tensor:
    """log σ(x), computed without overflow."""
    return LogSigmoid.apply(_float_tensor("logsigmoid", x))


def softmin(x: Tensor, dim: int | None = None) -> Tensor:
    """softmax(−x) along ``dim``: weights that favour the smallest entries."""
    _float_tensor("softmin", x)
    return softmax(neg(x), dim)


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim``: each slice scaled to unit p-norm, as
    ``torch.nn.functional.normalize`` (a zero slice stays zero)."""
    _float_tensor("normalize", x)
    if not (p > 0 and math.isfinite(p)):
        raise ArgumentError(f"normalize: p must be a positive finite number, got {p}")
    if x.ndim == 0:
        return normalize(x.reshape(1), p, 0, eps).reshape(())
    (d,) = _normalize_dims(dim, x.ndim)
    norm = PNorm.apply(x, p=float(p), dim=d)
    return x / clamp(norm, min=eps)


__all__ = [
    "gelu", "silu", "leaky_relu", "elu", "celu", "selu", "hardtanh", "relu6", "hardsigmoid",
    "hardswish", "softsign", "logsigmoid", "softmin", "normalize",
]
