"""2-D convolution (cross-correlation, as in every deep-learning library), forward and backward.

For an input x of shape (N, C_in, H, W) and a weight w of shape (C_out, C_in/groups, kH, kW),
with stride s, zero padding p and dilation d, output channel o belongs to group
g = o // (C_out/groups), which sees input channels g*C_g ... (g+1)*C_g - 1 (C_g = C_in/groups):

    out[n, o, i, j] = sum_{c < C_g, u < kH, v < kW}
                      w[o, c, u, v] * x_pad[n, g*C_g + c, i*s_h + u*d_h, j*s_w + v*d_w]

    H_out = (H + 2 p_h - d_h (kH - 1) - 1) // s_h + 1        (and likewise W_out)

The backward pass sends grad_out back along the same index map:

    grad_x_pad[n, g*C_g + c, i*s_h + u*d_h, j*s_w + v*d_w] += w[o, c, u, v] * grad_out[n, o, i, j]
    grad_w[o, c, u, v] = sum_{n, i, j} grad_out[n, o, i, j]
                                       * x_pad[n, g*C_g + c, i*s_h + u*d_h, j*s_w + v*d_w]

(grad_x is grad_x_pad with the padding cut off.)

Two implementations, the same algorithm (im2col, then matrix products):

* the ``xp`` twin: im2col by kH*kW strided slices, a batched matrix product (BLAS on the
  CPU, cuBLAS on a GPU), and col2im by the same slices for the backward pass;
* Numba on the CPU: im2col and col2im each in one pass over memory (serial for small
  tensors, where per-call overhead is what counts, parallel for big ones), with the same
  BLAS matrix products in between.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange, uint64

from ..backend import get_array_module
from ._common import JIT, PARALLEL_JIT, contiguous, float_dtype, use_numba

IntPair = int | tuple[int, int]


# --------------------------------------------------------------------------------------
# argument checks and output size
# --------------------------------------------------------------------------------------


def _pair(value: IntPair, name: str, kernel: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        a, b = value
        return int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(
            f"{kernel}: {name} must be an int or a pair of ints, got {value!r}"
        ) from None


def conv2d_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    groups: int = 1,
    kernel: str = "conv2d",
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], int, tuple[int, int]]:
    """Check a convolution's arguments; return (stride, padding, dilation, groups, (H_out, W_out)).

    Every mistake raises ValueError naming the shapes involved.
    """
    s = _pair(stride, "stride", kernel)
    p = _pair(padding, "padding", kernel)
    d = _pair(dilation, "dilation", kernel)
    if len(x_shape) != 4:
        raise ValueError(f"{kernel}: x must be 4-D (N, C_in, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(
            f"{kernel}: weight must be 4-D (C_out, C_in/groups, kH, kW), got shape {tuple(w_shape)}"
        )
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(
            f"{kernel}: need stride >= 1, dilation >= 1, padding >= 0; "
            f"got stride={s}, dilation={d}, padding={p}"
        )
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{kernel}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    n, c_in, h, w = x_shape
    c_out, c_g, kh, kw = w_shape
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"{kernel}: in_channels ({c_in}, x shape {tuple(x_shape)}) and out_channels "
            f"({c_out}, weight shape {tuple(w_shape)}) must both be divisible by groups={groups}"
        )
    if c_g != c_in // groups:
        raise ValueError(
            f"{kernel}: weight shape {tuple(w_shape)} needs {c_g * groups} input channels "
            f"for groups={groups}, but x shape {tuple(x_shape)} has {c_in}"
        )
    if kh < 1 or kw < 1:
        raise ValueError(f"{kernel}: empty kernel, weight shape {tuple(w_shape)}")
    span_h, span_w = d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1
    if span_h > h + 2 * p[0] or span_w > w + 2 * p[1]:
        raise ValueError(
            f"{kernel}: kernel {kh}x{kw} (dilation {d}, spanning {span_h}x{span_w}) is bigger "
            f"than the padded input {h + 2 * p[0]}x{w + 2 * p[1]} "
            f"(x shape {tuple(x_shape)}, padding {p})"
        )
    out_hw = ((h + 2 * p[0] - span_h) // s[0] + 1, (w + 2 * p[1] - span_w) // s[1] + 1)
    return s, p, d, groups, out_hw


# --------------------------------------------------------------------------------------
# the xp twin: im2col + batched matmul (NumPy, or CuPy on a GPU)
# --------------------------------------------------------------------------------------


def _window(start: int, stride: int, count: int) -> slice:
    """The ``count`` positions start, start + stride, ... as a slice."""
    return slice(start, start + stride * (count - 1) + 1, stride)


def _im2col_xp(x: Any, kh: int, kw: int, s, p, d, out_hw) -> Any:
    """cols[n, c, u, v, i, j] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w]; one slice per tap."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    ho, wo = out_hw
    if p != (0, 0):
        x = xp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = xp.empty((n, c, kh, kw, ho, wo), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, u, v] = x[:, :, _window(u * d[0], s[0], ho), _window(v * d[1], s[1], wo)]
    return cols


def _col2im_xp(cols: Any, x_shape, s, p, d) -> Any:
    """The adjoint of ``_im2col_xp``: add each tap's slice back where it was read from."""
    xp = get_array_module(cols)
    n, c, kh, kw, ho, wo = cols.shape
    h, w = x_shape[2:]
    grad = xp.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), dtype=cols.dtype)
    for u in range(kh):
        for v in range(kw):
            grad[:, :, _window(u * d[0], s[0], ho), _window(v * d[1], s[1], wo)] += cols[:, :, u, v]
    return grad[:, :, p[0] : p[0] + h, p[1] : p[1] + w]


def conv2d_forward_xp(x: Any, weight: Any, stride, padding, dilation, groups: int) -> Any:
    """The twin of ``conv2d_forward``: out[n, g] = W_g @ cols[n, g] (im2col + batched matmul)."""
    s, p, d, groups, out_hw = conv2d_geometry(
        x.shape, weight.shape, stride, padding, dilation, groups
    )
    n, c_in = x.shape[:2]
    c_out, c_g, kh, kw = weight.shape
    cols = _im2col_xp(x, kh, kw, s, p, d, out_hw)
    cols = cols.reshape(n, groups, c_g * kh * kw, out_hw[0] * out_hw[1])
    w_mat = weight.reshape(groups, c_out // groups, c_g * kh * kw)
    return (w_mat @ cols).reshape(n, c_out, *out_hw)


def conv2d_backward_xp(
    grad_out: Any, x: Any, weight: Any, stride, padding, dilation, groups: int,
    need_grad_x: bool = True, need_grad_weight: bool = True,
) -> tuple[Any, Any]:
    """The twin of ``conv2d_backward``.

    grad_W_g = sum_n G[n, g] @ cols[n, g]^T  and  grad_x = col2im(W_g^T @ G[n, g]).
    """
    s, p, d, groups, out_hw = conv2d_geometry(
        x.shape, weight.shape, stride, padding, dilation, groups
    )
    n, c_in = x.shape[:2]
    c_out, c_g, kh, kw = weight.shape
    k, length = c_g * kh * kw, out_hw[0] * out_hw[1]
    g = grad_out.reshape(n, groups, c_out // groups, length)
    grad_x = grad_w = None
    if need_grad_weight:
        cols = _im2col_xp(x, kh, kw, s, p, d, out_hw).reshape(n, groups, k, length)
        grad_w = (g @ cols.swapaxes(-1, -2)).sum(axis=0).reshape(weight.shape)
    if need_grad_x:
        w_mat = weight.reshape(groups, c_out // groups, k)
        grad_cols = (w_mat.swapaxes(-1, -2) @ g).reshape(n, c_in, kh, kw, *out_hw)
        grad_x = _col2im_xp(grad_cols, x.shape, s, p, d)
    return grad_x, grad_w


# --------------------------------------------------------------------------------------
# Numba: im2col / col2im in one pass each; the matrix products stay with BLAS
# --------------------------------------------------------------------------------------
#
# A direct seven-deep loop was tried first and lost at every size measured, even batch 1
# of LeCun's 20x20 image (27 us against 9 us for im2col + BLAS): its innermost loops are
# five taps long and cannot vectorise. So Numba only does the copies NumPy would do in
# kH*kW separate strided passes, and each runs serially below PARALLEL_MIN_ELEMENTS.
# The threshold is high on purpose: a serial copy of a million numbers takes about a
# millisecond, while on a busy machine each parallel region can wait milliseconds for
# a descheduled thread (LeCun's H1 at batch 64, 102,400 entries, measured 1.0 ms serial
# against 17 ms parallel for forward + backward with other processes on both cores).

PARALLEL_MIN_ELEMENTS = 1 << 20  # entries of cols
_CHUNK = 64  # rows (or planes) per parallel task


@njit(inline="always", **JIT)
def _valid(out_size, in_size, offset, stride):
    """The output positions o in [lo, hi) whose input o*stride + offset lies in [0, in_size).

    offset = u*dilation - padding for kernel tap u. Clipping the loop bounds once per tap
    replaces a bounds test per element (the zero padding is never materialised).
    """
    lo = 0 if offset >= 0 else (stride - 1 - offset) // stride
    hi = min(out_size, (in_size - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


@njit(**JIT)
def _im2col_rows(x, kh, kw, sh, sw, ph, pw, dh, dw, cols, first, last):
    """Rows [first, last) of cols, seen as (N*C_in*kH*kW, H_out*W_out):

    cols[(n*C_in + c)*kH*kW + u*kW + v, i*W_out + j] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w]
    """
    h, wd = x.shape[2], x.shape[3]
    ho, wo = cols.shape[2], cols.shape[3]
    taps = kh * kw
    xf = x.ravel()  # flat offsets keep the index arithmetic out of the inner loop
    cf = cols.ravel()
    step = uint64(sw)
    for row in range(first, last):
        plane = row // taps  # = n*C_in + c
        u = (row % taps) // kw
        v = row % kw
        off_h = u * dh - ph
        off_w = v * dw - pw
        i_lo, i_hi = _valid(ho, h, off_h, sh)
        j_lo, j_hi = _valid(wo, wd, off_w, sw)
        dst = row * ho * wo
        if i_lo > 0 or i_hi < ho or j_lo > 0 or j_hi < wo:
            cf[dst : dst + ho * wo] = 0  # this tap reads some padding
        for i in range(i_lo, i_hi):
            # Unsigned offsets: Numba then skips its negative-index wraparound test,
            # which costs more than the copy itself (this loop ran 1.7-3x slower).
            src = uint64((plane * h + i * sh + off_h) * wd + off_w)
            d = uint64(dst + i * wo)
            for j in range(uint64(j_lo), uint64(j_hi)):
                cf[d + j] = xf[src + j * step]


@njit(**PARALLEL_JIT)
def _im2col_parallel(x, kh, kw, sh, sw, ph, pw, dh, dw, cols):
    """All rows of cols (see _im2col_rows), _CHUNK rows per task."""
    rows = x.shape[0] * x.shape[1] * kh * kw
    for chunk in prange((rows + _CHUNK - 1) // _CHUNK):
        first = chunk * _CHUNK
        _im2col_rows(x, kh, kw, sh, sw, ph, pw, dh, dw, cols, first, min(rows, first + _CHUNK))


@njit(**JIT)
def _col2im_planes(cols, kh, kw, sh, sw, ph, pw, dh, dw, grad_x, first, last):
    """Planes [first, last) of grad_x, seen as (N*C_in, H, W): the adjoint of im2col,

    grad_x[n, c, i*s_h + u*d_h - p_h, j*s_w + v*d_w - p_w]
        += cols[(n*C_in + c)*kH*kW + u*kW + v, i*W_out + j]

    Each plane gathers from its own kH*kW rows of cols, so planes never race.
    """
    h, wd = grad_x.shape[2], grad_x.shape[3]
    ho, wo = cols.shape[2], cols.shape[3]
    taps = kh * kw
    gf = grad_x.ravel()
    cf = cols.ravel()
    step = uint64(sw)
    for plane in range(first, last):
        gf[plane * h * wd : (plane + 1) * h * wd] = 0
        for u in range(kh):
            off_h = u * dh - ph
            i_lo, i_hi = _valid(ho, h, off_h, sh)
            for v in range(kw):
                off_w = v * dw - pw
                j_lo, j_hi = _valid(wo, wd, off_w, sw)
                src = (plane * taps + u * kw + v) * ho * wo
                for i in range(i_lo, i_hi):
                    # unsigned offsets, as in _im2col_rows
                    dst = uint64((plane * h + i * sh + off_h) * wd + off_w)
                    s = uint64(src + i * wo)
                    for j in range(uint64(j_lo), uint64(j_hi)):
                        gf[dst + j * step] += cf[s + j]


@njit(**PARALLEL_JIT)
def _col2im_parallel(cols, kh, kw, sh, sw, ph, pw, dh, dw, grad_x):
    """All planes of grad_x (see _col2im_planes), about _CHUNK rows of cols per task."""
    planes = grad_x.shape[0] * grad_x.shape[1]
    chunk_planes = max(1, _CHUNK // (kh * kw))
    for chunk in prange((planes + chunk_planes - 1) // chunk_planes):
        first = chunk * chunk_planes
        _col2im_planes(cols, kh, kw, sh, sw, ph, pw, dh, dw, grad_x,
                       first, min(planes, first + chunk_planes))


def _im2col_numba(x: np.ndarray, kh: int, kw: int, s, p, d, out_hw) -> np.ndarray:
    """cols of shape (N, C_in*kH*kW, H_out, W_out), serial or parallel by size."""
    n, c = x.shape[:2]
    cols = np.empty((n, c * kh * kw, *out_hw), dtype=x.dtype)
    args = (x, kh, kw, s[0], s[1], p[0], p[1], d[0], d[1], cols)
    if cols.size >= PARALLEL_MIN_ELEMENTS:
        _im2col_parallel(*args)
    else:
        _im2col_rows(*args, 0, n * c * kh * kw)
    return cols


def _col2im_numba(cols: np.ndarray, x_shape, kh: int, kw: int, s, p, d) -> np.ndarray:
    """grad_x of shape x_shape from cols (N, C_in*kH*kW, H_out, W_out), serial or parallel."""
    grad_x = np.empty(x_shape, dtype=cols.dtype)
    args = (cols, kh, kw, s[0], s[1], p[0], p[1], d[0], d[1], grad_x)
    if cols.size >= PARALLEL_MIN_ELEMENTS:
        _col2im_parallel(*args)
    else:
        _col2im_planes(*args, 0, x_shape[0] * x_shape[1])
    return grad_x


# --------------------------------------------------------------------------------------
# public dispatchers
# --------------------------------------------------------------------------------------


def conv2d_forward(
    x: Any,
    weight: Any,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    groups: int = 1,
) -> Any:
    """2-D convolution without bias; the formula is in the module docstring.

    x: (N, C_in, H, W); weight: (C_out, C_in/groups, kH, kW); returns (N, C_out, H_out, W_out)
    with H_out = (H + 2*padding - dilation*(kH - 1) - 1) // stride + 1, as in PyTorch.
    stride, padding and dilation are ints or (h, w) pairs.
    """
    s, p, d, groups, out_hw = conv2d_geometry(
        x.shape, weight.shape, stride, padding, dilation, groups, "conv2d_forward"
    )
    dtype = float_dtype("conv2d_forward", x, weight)
    if not use_numba(x, weight):
        x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
        return conv2d_forward_xp(x, weight, s, p, d, groups)
    x = contiguous(x, dtype)
    weight = contiguous(weight, dtype)
    n = x.shape[0]
    c_out, c_g, kh, kw = weight.shape
    cols = _im2col_numba(x, kh, kw, s, p, d, out_hw)
    # (G, C_out/G, K) @ (N, G, K, L): one small GEMM per (sample, group), batched by NumPy
    cols = cols.reshape(n, groups, c_g * kh * kw, out_hw[0] * out_hw[1])
    w_mat = weight.reshape(groups, c_out // groups, c_g * kh * kw)
    return np.matmul(w_mat, cols).reshape(n, c_out, *out_hw)


def conv2d_backward(
    grad_out: Any,
    x: Any,
    weight: Any,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    groups: int = 1,
    *,
    need_grad_x: bool = True,
    need_grad_weight: bool = True,
) -> tuple[Any, Any]:
    """Gradients (grad_x, grad_weight) of conv2d_forward, given grad_out (N, C_out, H_out, W_out).

    With cols = im2col(x) grouped as (N, G, K, L) and G_out = grad_out as (N, G, C_out/G, L):

        grad_weight[g] = sum_n G_out[n, g] @ cols[n, g]^T
        grad_x         = col2im(W_g^T @ G_out[n, g])       (the transposed convolution)

    need_grad_x=False (an input image, say) or need_grad_weight=False skips that half and
    returns None in its place.
    """
    s, p, d, groups, out_hw = conv2d_geometry(
        x.shape, weight.shape, stride, padding, dilation, groups, "conv2d_backward"
    )
    expected = (x.shape[0], weight.shape[0], *out_hw)
    if tuple(grad_out.shape) != expected:
        raise ValueError(
            f"conv2d_backward: grad_out has shape {tuple(grad_out.shape)}, expected {expected} "
            f"for x {tuple(x.shape)} and weight {tuple(weight.shape)}"
        )
    dtype = float_dtype("conv2d_backward", grad_out, x, weight)
    if not use_numba(grad_out, x, weight):
        return conv2d_backward_xp(
            grad_out.astype(dtype, copy=False), x.astype(dtype, copy=False),
            weight.astype(dtype, copy=False), s, p, d, groups, need_grad_x, need_grad_weight,
        )
    grad_out = contiguous(grad_out, dtype)
    n = x.shape[0]
    c_out, c_g, kh, kw = weight.shape
    k, length = c_g * kh * kw, out_hw[0] * out_hw[1]
    g_out = grad_out.reshape(n, groups, c_out // groups, length)
    grad_x = grad_w = None
    if need_grad_weight:
        cols = _im2col_numba(contiguous(x, dtype), kh, kw, s, p, d, out_hw)
        cols = cols.reshape(n, groups, k, length)
        grad_w = np.matmul(g_out, cols.swapaxes(-1, -2)).sum(axis=0).reshape(weight.shape)
    if need_grad_x:
        w_mat = contiguous(weight, dtype).reshape(groups, c_out // groups, k)
        grad_cols = np.matmul(w_mat.swapaxes(-1, -2), g_out)  # (N, G, K, L), C-contiguous
        grad_cols = grad_cols.reshape(n, x.shape[1] * kh * kw, *out_hw)
        grad_x = _col2im_numba(grad_cols, x.shape, kh, kw, s, p, d)
    return grad_x, grad_w
