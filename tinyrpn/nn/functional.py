"""The functional interface, as ``torch.nn.functional``: ``import tinyrpn.nn.functional as F``.

Every function here takes Tensors and returns a Tensor that autograd can differentiate.
The maths (each op's forward formula and gradient) is in :mod:`tinyrpn.ops`:
``ops/nn.py`` (linear, softplus, mish, softmax, dropout), ``ops/activations.py`` (gelu,
silu, elu, the hard- and leaky variants, normalize, ...), ``ops/conv.py`` (conv2d, pad),
``ops/norm.py`` (layer norm, batch norm) and ``ops/loss.py`` (losses).
"""

from __future__ import annotations

from tinyrpn.ops.activations import (
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    normalize,
    relu6,
    selu,
    silu,
    softmin,
    softsign,
)
from tinyrpn.ops.conv import conv2d, pad
from tinyrpn.ops.loss import cross_entropy, mse_loss, nll_loss
from tinyrpn.ops.math import relu, sigmoid, tanh
from tinyrpn.ops.nn import dropout, linear, log_softmax, mish, softmax, softplus
from tinyrpn.ops.norm import batch_norm, layer_norm

__all__ = [
    "linear", "conv2d", "pad", "relu", "tanh", "sigmoid", "softplus", "mish", "softmax",
    "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "layer_norm", "batch_norm",
    "dropout",
]
# --- activations (ops/activations.py)
__all__ += [
    "gelu", "silu", "leaky_relu", "elu", "celu", "selu", "relu6", "hardswish", "hardsigmoid",
    "hardtanh", "softsign", "logsigmoid", "softmin", "normalize",
]
