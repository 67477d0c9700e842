"""Scaled dot-product attention, composed from differentiable ops (matmul, masked_fill,
softmax, dropout), so its gradient is theirs: no backward of its own to get wrong."""

from __future__ import annotations

import math

import numpy as np

from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.indexing import masked_fill
from tinyrpn.ops.layout import repeat_interleave
from tinyrpn.ops.nn import dropout, softmax
from tinyrpn.ops.shape import transpose
from tinyrpn.tensor import Tensor


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q Kᵀ · scale + bias) V over the last two dims, as
    ``torch.nn.functional.scaled_dot_product_attention``.

    Q (..., L, E), K (..., S, E), V (..., S, Ev); scale defaults to 1/√E. ``attn_mask``
    broadcasts to (..., L, S): a bool mask keeps the positions where it is True (the others
    get −inf), a float mask is added to the scores. ``is_causal`` keeps key j ≤ query i
    only. A query row whose keys are all masked gives zeros (and passes no gradient), as
    PyTorch does. With ``enable_gqa``, K and V may have fewer heads (dim −3) than Q; each
    serves a group of query heads. ``dropout_p`` drops attention weights (always applied,
    as in PyTorch: pass 0 in evaluation).
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or not is_floating(t.dtype) or t.ndim < 2:
            got = (t.dtype, t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ArgumentError(f"{op}: {name} must be a floating-point Tensor with at least 2 "
                             f"dims (..., length, features), got {got}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ArgumentError(f"{op}: query {query.shape}, key {key.shape} and value {value.shape} "
                         f"must agree: query and key in the last dim, key and value in the "
                         f"one before")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if heads % kv_heads:
            raise ArgumentError(f"{op}: {heads} query heads are not a multiple of {kv_heads} "
                             f"key/value heads")
        key = repeat_interleave(key, heads // kv_heads, -3)
        value = repeat_interleave(value, heads // kv_heads, -3)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    scores = (query @ transpose(key, -2, -1)) * float(scale)
    length, source = query.shape[-2], key.shape[-2]
    xp = query.xp
    keep = None
    if is_causal:
        if attn_mask is not None:
            raise ArgumentError(f"{op}: give attn_mask or is_causal, not both")
        keep = xp.tril(xp.ones((length, source), dtype=bool))
    elif attn_mask is not None:
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor._wrap(
            xp.asarray(attn_mask))
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise ArgumentError(f"{op}: attn_mask of shape {mask.shape} does not broadcast to "
                             f"the scores' shape {scores.shape}") from None
        if mask.dtype == np.bool_:
            keep = mask.data
        else:
            scores = scores + mask.to(dtype=scores.dtype)
    if keep is not None:
        keep = xp.broadcast_to(keep, scores.shape)
        empty = ~keep.any(axis=-1, keepdims=True)  # rows with no key left
        # an empty row is left unmasked for the softmax (so it stays finite) and zeroed after
        scores = masked_fill(scores, ~keep & ~empty, -math.inf)
        weights = softmax(scores, -1)
        if empty.any():
            weights = masked_fill(weights, xp.broadcast_to(empty, scores.shape), 0.0)
    else:
        weights = softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value


__all__ = ["scaled_dot_product_attention"]
