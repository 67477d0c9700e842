"""Layer normalisation over the last axis of a 2-D array, forward and backward.

For each row x of length F (biased variance, as in PyTorch):

    mean = sum_j x_j / F
    var  = sum_j (x_j - mean)^2 / F
    rstd = 1 / sqrt(var + eps)
    y_j  = (x_j - mean) * rstd

The backward pass needs only y and rstd (the caller may drop x). With g = dL/dy:

    dL/dx_j = rstd * (g_j - mean(g) - y_j * mean(g * y))

(the affine weight and bias, if any, live in the ops layer: y * w + b is plain broadcasting).

The real case is 64 rows of 615,440 float32 features (157 MB), so both passes are memory
bound: the Numba kernels read each row once for its sums and once more to write the
result, one row per task (a 2.4 MB row is still in the L3 cache for its second pass),
summing in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ..backend import get_array_module
from ._common import FASTMATH, PARALLEL_JIT, check_ndim, contiguous, float_dtype, use_numba

# --------------------------------------------------------------------------------------
# the xp twin
# --------------------------------------------------------------------------------------


def layer_norm_forward_xp(x: Any, eps: float) -> tuple[Any, Any]:
    """The twin of ``layer_norm_forward``: two passes, the sums in float64.

    The element-wise work stays in x's dtype (no float64 copy of a 157 MB array, and
    float32 arithmetic on GPUs that are slow at float64); only the reductions widen.
    """
    xp = get_array_module(x)
    mean = x.mean(axis=1, keepdims=True, dtype=xp.float64)
    centered = x - mean.astype(x.dtype)
    var = (centered * centered).mean(axis=1, keepdims=True, dtype=xp.float64)
    rstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
    return centered * rstd, rstd[:, 0]


def layer_norm_backward_xp(grad_y: Any, y: Any, rstd: Any) -> Any:
    """The twin of ``layer_norm_backward``: rstd * (g - mean(g) - y * mean(g * y))."""
    xp = get_array_module(grad_y, y)
    dtype = grad_y.dtype
    mean_g = grad_y.mean(axis=1, keepdims=True, dtype=xp.float64).astype(dtype)
    mean_gy = (grad_y * y).mean(axis=1, keepdims=True, dtype=xp.float64).astype(dtype)
    return (rstd[:, None] * (grad_y - mean_g - y * mean_gy)).astype(dtype, copy=False)


# --------------------------------------------------------------------------------------
# Numba: one task per row
# --------------------------------------------------------------------------------------


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _layer_norm_forward_numba(x, eps, y, rstd):
    """y[r] = (x[r] - mean) * rstd[r], rstd[r] = 1/sqrt(var + eps); one task per row."""
    rows, features = x.shape
    for r in prange(rows):
        # One pass for both sums. Shifting by the row's first value keeps
        # E[d^2] - E[d]^2 accurate even when |mean| >> std (the textbook one-pass formula
        # cancels catastrophically there); float64 sums keep 615,440 terms exact enough.
        shift = np.float64(x[r, 0])
        s = 0.0
        ss = 0.0
        for j in range(features):
            d = np.float64(x[r, j]) - shift
            s += d
            ss += d * d
        mean_d = s / features
        var = max(ss / features - mean_d * mean_d, 0.0)
        inv = 1.0 / np.sqrt(var + eps)
        mean = shift + mean_d
        for j in range(features):
            y[r, j] = (np.float64(x[r, j]) - mean) * inv
        rstd[r] = inv


@njit(fastmath=FASTMATH, **PARALLEL_JIT)
def _layer_norm_backward_numba(grad_y, y, rstd, grad_x):
    """grad_x[r] = rstd[r] * (g - mean(g) - y * mean(g * y)), g = grad_y[r]; one task per row."""
    rows, features = y.shape
    for r in prange(rows):
        s_g = 0.0
        s_gy = 0.0
        for j in range(features):
            g = np.float64(grad_y[r, j])
            s_g += g
            s_gy += g * y[r, j]
        mean_g = s_g / features
        mean_gy = s_gy / features
        inv = np.float64(rstd[r])
        for j in range(features):
            grad_x[r, j] = inv * (np.float64(grad_y[r, j]) - mean_g - np.float64(y[r, j]) * mean_gy)


# --------------------------------------------------------------------------------------
# public dispatchers
# --------------------------------------------------------------------------------------


def layer_norm_forward(x: Any, eps: float = 1e-5) -> tuple[Any, Any]:
    """Normalise each row of x (rows, features): returns (y, rstd), rstd of shape (rows,).

    y = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps),  var biased (divided by features).
    y and rstd keep x's dtype; the sums are done in float64.
    """
    check_ndim("layer_norm_forward", "x", x, 2, "(rows, features)")
    if x.shape[1] == 0:
        raise ValueError(f"layer_norm_forward: x has no features to normalise, shape {x.shape}")
    if not eps >= 0:
        raise ValueError(f"layer_norm_forward: eps must be >= 0, got {eps!r}")
    dtype = float_dtype("layer_norm_forward", x)
    if not use_numba(x):
        return layer_norm_forward_xp(x, float(eps))
    x = contiguous(x, dtype)
    y = np.empty_like(x)
    rstd = np.empty(x.shape[0], dtype=dtype)
    _layer_norm_forward_numba(x, float(eps), y, rstd)
    return y, rstd


def layer_norm_backward(grad_y: Any, y: Any, rstd: Any) -> Any:
    """dL/dx from dL/dy, the normalised output y and rstd (both from layer_norm_forward).

    grad_x = rstd * (g - mean(g) - y * mean(g * y)), means taken along each row.
    """
    check_ndim("layer_norm_backward", "y", y, 2, "(rows, features)")
    if grad_y.shape != y.shape or rstd.shape != y.shape[:1]:
        raise ValueError(
            f"layer_norm_backward: grad_y {tuple(grad_y.shape)} must match y {tuple(y.shape)}, "
            f"and rstd {tuple(rstd.shape)} must be ({y.shape[0]},)"
        )
    dtype = float_dtype("layer_norm_backward", grad_y, y, rstd)
    if not use_numba(grad_y, y, rstd):
        return layer_norm_backward_xp(grad_y.astype(dtype, copy=False), y, rstd)
    grad_y = contiguous(grad_y, dtype)
    y = contiguous(y, dtype)
    rstd = contiguous(rstd, dtype)
    grad_x = np.empty_like(grad_y)
    _layer_norm_backward_numba(grad_y, y, rstd, grad_x)
    return grad_x
