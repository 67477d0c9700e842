"""Every differentiable operation, forward and backward side by side, by family.

``arithmetic``: ``+ - * / **`` and negation (Add, Mul, Div: the model of an op).
``math``: exp, log, sqrt, abs, tanh, sigmoid, relu.
``comparison``: ``< == >``, maximum/minimum, clamp, where.
``reductions``: sum, mean, max/min, var/std; cumulative and log-domain reductions, any/all.
``elementwise``: trigonometric and hyperbolic functions, erf, exp2/log2/log10, rounding,
``//`` and ``%``, copysign, logaddexp, lerp, prod.
``activations``: gelu, silu, elu/celu/selu, the hard- and leaky variants, normalize, ...
``inplace``: in-place changes of tensors in a graph (``y.mul_(2)``, ``y[0] = v``).
``shape``: reshape, permute, indexing, cat/stack, roll, device moves, casts.
``linalg``: matmul and einsum.
``layout``: flip, tril/triu, repeat, diagonal, unfold, split/chunk, meshgrid.
``indexing``: gather, scatter_add, masked_fill, one_hot, embedding, sort, topk.
``pool``: max, average and adaptive average pooling.
(``nn``, ``conv``, ``norm`` and ``loss`` hold the ops behind ``tinyrpn.nn.functional``.)
``operands`` holds what every op does first: numbers made tensors, dtypes promoted.

Each family module is imported on first use (``ops.arithmetic`` loads ``arithmetic.py``).
That is what lets ``Tensor`` call the ops (``a + b`` is ``ops.arithmetic.add(a, b)``)
while the ops are built on ``Tensor``: ``tensor.py`` imports this package, which imports
nothing, and a family module loads the first time a method reaches for it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_FAMILIES = (
    "activations", "arithmetic", "attention", "comparison", "conv", "elementwise", "indexing",
    "inplace", "layout", "linalg", "loss", "math", "nn", "norm", "operands", "pool",
    "reductions", "shape",
)


def __getattr__(name: str) -> ModuleType:
    if name not in _FAMILIES:
        raise AttributeError(f"module 'tinyrpn.ops' has no attribute {name!r}")
    return importlib.import_module(f"tinyrpn.ops.{name}")  # also sets ops.<name>


__all__ = list(_FAMILIES)
