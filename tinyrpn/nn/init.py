"""Parameter initialisers, with PyTorch's names, defaults and formulas.

Every initialiser fills a tensor in place (under ``no_grad``, bumping its version counter)
and returns it. The numbers are drawn on the CPU from ``tinyrpn.random.default_generator()``
(or the ``generator`` given) in float64, cast to the tensor's dtype and moved to its
device, so ``tinyrpn.manual_seed(s)`` fixes them on every backend.

Why the variance-scaling initialisers look the way they do: for y = W x with n inputs of
unit variance, Var(y) = n Var(W). Keeping activations (or gradients) at unit scale through
many layers asks for Var(W) = gain² / fan, where fan is the number of inputs (``fan_in``,
keeps the forward pass stable) or outputs (``fan_out``, keeps the backward pass stable),
and the gain undoes the shrinking of a non-linearity (√2 for ReLU, which zeroes half).
A uniform U(-b, b) has variance b²/3, hence the bounds b = √3 · std below.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn import random as _random
from tinyrpn.autograd import Tensor, is_floating, no_grad
from tinyrpn.display import TinyrpnWarning

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_",
    "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
]

# Draw at most this many numbers at a time, so that initialising a 39.4-million-entry
# weight in float32 does not need a 315 MB float64 temporary. NumPy's generators produce
# the same stream whether the draw is made in one call or in consecutive pieces.
_CHUNK = 1 << 22


def _check_tensor(fn: str, tensor: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{fn}: expected a Tensor (or Parameter), got {type(tensor).__name__}")
    if not is_floating(tensor.dtype):
        raise TypeError(
            f"init.{fn}: can only fill a floating-point tensor, got dtype {tensor.dtype} "
            f"(shape {tensor.shape})"
        )
    return tensor


def _fill_random(tensor: Tensor, draw: Any, generator: np.random.Generator | None) -> Tensor:
    """Fill ``tensor`` with ``draw(rng, n)`` (float64 samples), chunk by chunk, in place."""
    rng = generator if generator is not None else _random.default_generator()
    # On the CPU, write straight into the tensor's own array (no full-size temporary).
    direct = isinstance(tensor.data, np.ndarray) and tensor.data.flags.c_contiguous
    values = tensor.data if direct else np.empty(tensor.shape, dtype=tensor.dtype)
    flat = values.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        stop = min(start + _CHUNK, flat.size)
        flat[start:stop] = draw(rng, stop - start)
    if not direct:
        return _assign(tensor, values)
    tensor._version.value += 1  # an in-place change, like every other one
    return tensor


def _assign(tensor: Tensor, values: Any) -> Tensor:
    """Write ``values`` into ``tensor`` in place, outside of any graph."""
    with no_grad():
        tensor.copy_(backend.to_device(values, tensor.device))
    return tensor


# ----------------------------------------------------------------------------- gains and fans


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a non-linearity, as in PyTorch.

    ======================  ============================
    linear, conv*, sigmoid  1
    tanh                    5/3
    relu                    √2
    leaky_relu              √(2 / (1 + slope²)), slope = ``param`` (default 0.01)
    selu                    3/4
    ======================  ============================
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    valid = linear_fns + ["sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; valid: {valid}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel): in·k and out·k, k = prod(kernel).

    A Linear weight (out, in) has fan_in = in; a Conv2d weight (out, in/groups, kH, kW) has
    fan_in = in/groups · kH · kW, the number of inputs each output sums over.
    """
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 "
            f"dimensions (shape {shape})"
        )
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported; use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _empty_warning(fn: str, tensor: Tensor) -> bool:
    if 0 in tensor.shape:
        warnings.warn(f"init.{fn}: initializing a zero-element tensor (shape {tensor.shape}) "
                      "is a no-op", TinyrpnWarning, stacklevel=3)
        return True
    return False


# ----------------------------------------------------------------------------- plain fills


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Fill with samples of the uniform distribution U(a, b)."""
    _check_tensor("uniform_", tensor)
    if b < a:
        raise ValueError(f"init.uniform_: need a <= b, got a={a}, b={b}")
    return _fill_random(tensor, lambda rng, n: rng.uniform(a, b, n), generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill with samples of the normal distribution N(mean, std²)."""
    _check_tensor("normal_", tensor)
    if std < 0:
        raise ValueError(f"init.normal_: std must be >= 0, got {std}")
    return _fill_random(tensor, lambda rng, n: mean + std * rng.standard_normal(n), generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``."""
    _check_tensor("constant_", tensor)
    return _assign(tensor, np.full(tensor.shape, val, dtype=tensor.dtype))


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


# ----------------------------------------------------------------------------- variance scaling


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): U(-b, b) with b = gain · √(6 / (fan_in + fan_out)).

    That is std = gain · √(2 / (fan_in + fan_out)), a compromise between keeping the
    forward and the backward signal at unit scale.
    """
    _check_tensor("xavier_uniform_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    _check_tensor("xavier_normal_", tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015): U(-b, b) with b = √3 · gain / √fan, gain = calculate_gain(nonlinearity, a).

    PyTorch's default Linear/Conv2d weight init is this with a = √5, which works out to
    U(-1/√fan_in, 1/√fan_in).
    """
    _check_tensor("kaiming_uniform_", tensor)
    if _empty_warning("kaiming_uniform_", tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015): N(0, std²), std = gain / √fan, gain = calculate_gain(nonlinearity, a)."""
    _check_tensor("kaiming_normal_", tensor)
    if _empty_warning("kaiming_normal_", tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)
