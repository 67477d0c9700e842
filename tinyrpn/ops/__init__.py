"""Every differentiable operation, forward and backward side by side.

``math``: elementwise arithmetic, unary functions, reductions.
``shape``: reshape, permute, indexing, cat/stack, roll, device moves, casts.
``linalg``: matmul and einsum.
"""

from tinyrpn.ops import linalg, math, shape

__all__ = ["linalg", "math", "shape"]
