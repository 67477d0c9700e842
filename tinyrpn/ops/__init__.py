"""Every differentiable operation, forward and backward side by side.

``math``: elementwise arithmetic, unary functions, reductions.
``elementwise``: trigonometric and hyperbolic functions, erf, exp2/log2/log10, rounding,
``//`` and ``%``, copysign, logaddexp, lerp, prod.
``activations``: gelu, silu, elu/celu/selu, the hard- and leaky variants, normalize, ...
``inplace``: in-place changes of tensors in a graph (``y.mul_(2)``, ``y[0] = v``).
``shape``: reshape, permute, indexing, cat/stack, roll, device moves, casts.
``linalg``: matmul and einsum.
"""

from tinyrpn.ops import linalg, math, shape

__all__ = ["linalg", "math", "shape"]
