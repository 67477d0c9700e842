"""Every differentiable operation, forward and backward side by side.

``math``: elementwise arithmetic, unary functions, reductions.
``shape``: reshape, permute, indexing, cat/stack, roll, device moves, casts.
``linalg``: matmul and einsum.
``reductions``: cumulative and log-domain reductions, any/all over dims.
``layout``: flip, tril/triu, repeat, diagonal, unfold, split/chunk, meshgrid.
``indexing``: gather, scatter_add, masked_fill, one_hot, embedding, sort, topk.
``pool``: max, average and adaptive average pooling.
(``nn``, ``conv``, ``norm`` and ``loss`` hold the ops behind ``tinyrpn.nn.functional``.)
"""

from tinyrpn.ops import indexing, layout, linalg, math, reductions, shape

__all__ = ["indexing", "layout", "linalg", "math", "reductions", "shape"]
