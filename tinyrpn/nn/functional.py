"""The functional interface, as ``torch.nn.functional``: ``import tinyrpn.nn.functional as F``.

Every function here takes Tensors and returns a Tensor that autograd can differentiate.
The maths (each op's forward formula and gradient) is in :mod:`tinyrpn.ops`:
``ops/nn.py`` (linear, activations, softmax, dropout), ``ops/conv.py`` (conv2d, pad),
``ops/norm.py`` (layer norm, batch norm), ``ops/loss.py`` (losses), ``ops/pool.py``
(pooling, interpolate), ``ops/indexing.py`` (embedding, one_hot) and ``ops/attention.py``.
"""

from __future__ import annotations

from tinyrpn.ops.attention import scaled_dot_product_attention
from tinyrpn.ops.conv import conv1d, conv2d, conv_transpose2d, pad
from tinyrpn.ops.indexing import embedding, one_hot
from tinyrpn.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)
from tinyrpn.ops.math import relu, sigmoid, tanh
from tinyrpn.ops.nn import dropout, linear, log_softmax, mish, softmax, softplus
from tinyrpn.ops.norm import batch_norm, layer_norm
from tinyrpn.ops.pool import adaptive_avg_pool2d, avg_pool2d, interpolate, max_pool2d

__all__ = [
    "linear", "conv1d", "conv2d", "conv_transpose2d", "pad", "relu", "tanh", "sigmoid",
    "softplus", "mish", "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "layer_norm", "batch_norm",
    "dropout", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "interpolate", "embedding",
    "one_hot", "scaled_dot_product_attention",
]
