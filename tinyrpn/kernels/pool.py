"""2-D max and average pooling, forward and backward.

For an input plane x of size H x W (every (n, c) plane is pooled on its own), a window of
kH x kW with stride s, padding p and dilation d (max pooling only), output cell (i, j)
looks at the input positions

    h = i*s_h - p_h + u*d_h,   w = j*s_w - p_w + v*d_w        (u < kH, v < kW)

that fall inside the plane (the padding is never read: it counts as -inf for max pooling
and, with ``count_include_pad``, as zeros in the average's divisor).

    max:  out[i, j] = max over the window,  index[i, j] = h*W + w of the first maximum
          met in row-major window order (a NaN counts as a maximum, so it propagates);
          grad_x[index[i, j]] += grad_out[i, j]
    avg:  out[i, j] = (sum over the window) / divisor[i, j];
          grad_x[h, w] += grad_out[i, j] / divisor[i, j] for every (h, w) in the window

``divisor`` follows PyTorch: the window's area clipped to the padded plane (or only the
part inside the plane, without ``count_include_pad``), or ``divisor_override``.

Two implementations of each, agreeing in tests: an ``xp`` twin built from kH*kW strided
slices of the padded input (NumPy, or CuPy on a GPU), and a Numba loop over the output
cells that reads each window in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ..backend import get_array_module
from ._common import PARALLEL_JIT, contiguous, float_dtype, use_numba

Pair = tuple[int, int]


# --------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                     ceil_mode: bool) -> int:
    """Output length along one dim, as PyTorch computes it.

    out = ⌊(size + 2p − d(k − 1) − 1) / s⌋ + 1, rounding up instead with ``ceil_mode``;
    a last window that would start inside the right padding only is dropped.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def avg_divisor(out_hw: Pair, in_hw: Pair, kernel: Pair, stride: Pair, padding: Pair,
                count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """The (H_out, W_out) float64 array each window's sum is divided by (see module doc)."""
    if divisor_override:
        return np.full(out_hw, float(divisor_override))
    counts = []
    for axis in range(2):
        start = np.arange(out_hw[axis]) * stride[axis] - padding[axis]
        end = np.minimum(start + kernel[axis], in_hw[axis] + padding[axis])
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, in_hw[axis]) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)


def _padded_extent(out: int, kernel: int, stride: int, dilation: int) -> int:
    """How many padded positions the windows of one dim reach (at least the input)."""
    return (out - 1) * stride + dilation * (kernel - 1) + 1


# --------------------------------------------------------------------------------------
# the xp twins
# --------------------------------------------------------------------------------------


def _padded(x: Any, fill: float, padding: Pair, extent: Pair) -> Any:
    """x (N, C, H, W) inside a plane of ``extent`` (at least H + p, W + p), filled with
    ``fill`` around it: the windows then read every position by plain slicing."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    size = (max(extent[0], h + padding[0]), max(extent[1], w + padding[1]))
    out = xp.full((n, c) + size, fill, dtype=x.dtype)
    out[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
    return out


def _offsets(kernel: Pair, dilation: Pair, stride: Pair, out_hw: Pair):
    """For each window offset (u, v): its slices into the padded plane."""
    for u in range(kernel[0]):
        for v in range(kernel[1]):
            rows = slice(u * dilation[0], u * dilation[0] + (out_hw[0] - 1) * stride[0] + 1,
                         stride[0])
            cols = slice(v * dilation[1], v * dilation[1] + (out_hw[1] - 1) * stride[1] + 1,
                         stride[1])
            yield u, v, rows, cols


def max_pool2d_forward_xp(x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                          out_hw: Pair) -> tuple[Any, Any]:
    """The twin of ``max_pool2d_forward``: the max over kH*kW strided slices."""
    xp = get_array_module(x)
    h, w = x.shape[2:]
    extent = tuple(_padded_extent(out_hw[a], kernel[a], stride[a], dilation[a]) for a in (0, 1))
    xpad = _padded(x, -np.inf, padding, extent)
    windows = xp.stack([xpad[:, :, r, c] for _, _, r, c in _offsets(kernel, dilation, stride,
                                                                    out_hw)])
    best = windows.argmax(axis=0)  # the first maximum; NaN counts as the maximum
    values = xp.take_along_axis(windows, best[None], axis=0)[0]
    u, v = best // kernel[1], best % kernel[1]
    rows = xp.arange(out_hw[0]).reshape(-1, 1) * stride[0] - padding[0] + u * dilation[0]
    cols = xp.arange(out_hw[1]).reshape(1, -1) * stride[1] - padding[1] + v * dilation[1]
    return values, (rows * w + cols).astype(np.int64)


def max_pool2d_backward_xp(grad_out: Any, indices: Any, in_hw: Pair) -> Any:
    """The twin of ``max_pool2d_backward``: grad_out added at the winners' positions."""
    xp = get_array_module(grad_out)
    n, c = grad_out.shape[:2]
    plane = in_hw[0] * in_hw[1]
    flat = indices.reshape(n * c, -1) + xp.arange(n * c).reshape(-1, 1) * plane
    grad = xp.bincount(flat.ravel(), weights=grad_out.ravel(), minlength=n * c * plane)
    return grad.astype(grad_out.dtype, copy=False).reshape(n, c, *in_hw)


def avg_pool2d_forward_xp(x: Any, kernel: Pair, stride: Pair, padding: Pair, out_hw: Pair,
                          divisor: np.ndarray) -> Any:
    """The twin of ``avg_pool2d_forward``: the sum of kH*kW strided slices, divided."""
    xp = get_array_module(x)
    extent = tuple(_padded_extent(out_hw[a], kernel[a], stride[a], 1) for a in (0, 1))
    xpad = _padded(x, 0.0, padding, extent)
    total = xp.zeros(x.shape[:2] + tuple(out_hw), dtype=x.dtype)
    for _, _, rows, cols in _offsets(kernel, (1, 1), stride, out_hw):
        total += xpad[:, :, rows, cols]
    return total / xp.asarray(divisor, dtype=x.dtype)


def avg_pool2d_backward_xp(grad_out: Any, in_hw: Pair, kernel: Pair, stride: Pair,
                           padding: Pair, divisor: np.ndarray) -> Any:
    """The twin of ``avg_pool2d_backward``: grad_out / divisor added back to each window."""
    xp = get_array_module(grad_out)
    out_hw = grad_out.shape[2:]
    extent = tuple(_padded_extent(out_hw[a], kernel[a], stride[a], 1) for a in (0, 1))
    size = (max(extent[0], in_hw[0] + padding[0]), max(extent[1], in_hw[1] + padding[1]))
    gpad = xp.zeros(grad_out.shape[:2] + size, dtype=grad_out.dtype)
    share = grad_out / xp.asarray(divisor, dtype=grad_out.dtype)
    for _, _, rows, cols in _offsets(kernel, (1, 1), stride, out_hw):
        gpad[:, :, rows, cols] += share
    return gpad[:, :, padding[0]:padding[0] + in_hw[0], padding[1]:padding[1] + in_hw[1]]


# --------------------------------------------------------------------------------------
# the Numba loops (one (n, c) plane per parallel iteration)
# --------------------------------------------------------------------------------------


@njit(**PARALLEL_JIT)
def _max_pool_numba(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    planes, h, w = x.shape
    out = np.empty((planes, oh, ow), dtype=x.dtype)
    index = np.empty((planes, oh, ow), dtype=np.int64)
    for p in prange(planes):
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                at = -1
                for u in range(kh):
                    r = i * sh - ph + u * dh
                    if r < 0 or r >= h:
                        continue
                    for v in range(kw):
                        c = j * sw - pw + v * dw
                        if c < 0 or c >= w:
                            continue
                        value = x[p, r, c]
                        # `not (value <= best)` is true for a bigger value and for NaN
                        if at < 0 or (not value <= best and not np.isnan(best)):
                            best = value
                            at = r * w + c
                out[p, i, j] = best
                index[p, i, j] = at
    return out, index


@njit(**PARALLEL_JIT)
def _max_pool_backward_numba(grad_out, index, h, w):
    planes, oh, ow = grad_out.shape
    grad = np.zeros((planes, h * w), dtype=grad_out.dtype)
    for p in prange(planes):
        for i in range(oh):
            for j in range(ow):
                grad[p, index[p, i, j]] += grad_out[p, i, j]
    return grad


@njit(**PARALLEL_JIT)
def _avg_pool_numba(x, kh, kw, sh, sw, ph, pw, divisor):
    planes, h, w = x.shape
    oh, ow = divisor.shape
    out = np.empty((planes, oh, ow), dtype=x.dtype)
    for p in prange(planes):
        for i in range(oh):
            r0, r1 = max(i * sh - ph, 0), min(i * sh - ph + kh, h)
            for j in range(ow):
                c0, c1 = max(j * sw - pw, 0), min(j * sw - pw + kw, w)
                total = 0.0
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        total += x[p, r, c]
                out[p, i, j] = total / divisor[i, j]
    return out


@njit(**PARALLEL_JIT)
def _avg_pool_backward_numba(grad_out, h, w, kh, kw, sh, sw, ph, pw, divisor):
    planes, oh, ow = grad_out.shape
    grad = np.zeros((planes, h, w), dtype=grad_out.dtype)
    for p in prange(planes):
        for i in range(oh):
            r0, r1 = max(i * sh - ph, 0), min(i * sh - ph + kh, h)
            for j in range(ow):
                c0, c1 = max(j * sw - pw, 0), min(j * sw - pw + kw, w)
                share = grad_out[p, i, j] / divisor[i, j]
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        grad[p, r, c] += share
    return grad


# --------------------------------------------------------------------------------------
# dispatchers
# --------------------------------------------------------------------------------------


def max_pool2d_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                       out_hw: Pair) -> tuple[Any, Any]:
    """(values, indices) of max pooling x (N, C, H, W); indices are flat (h*W + w) per
    plane, int64, as ``torch.nn.functional.max_pool2d(..., return_indices=True)``."""
    dtype = float_dtype("max_pool2d_forward", x)
    if not use_numba(x):
        return max_pool2d_forward_xp(x, kernel, stride, padding, dilation, out_hw)
    n, c, h, w = x.shape
    values, index = _max_pool_numba(contiguous(x, dtype).reshape(n * c, h, w), *kernel,
                                    *stride, *padding, *dilation, *out_hw)
    return values.reshape(n, c, *out_hw), index.reshape(n, c, *out_hw)


def max_pool2d_backward(grad_out: Any, indices: Any, in_hw: Pair) -> Any:
    """grad_x (N, C, H, W) of max pooling: each grad_out added at its winner's index."""
    dtype = float_dtype("max_pool2d_backward", grad_out)
    if not use_numba(grad_out, indices):
        return max_pool2d_backward_xp(grad_out, indices, in_hw)
    n, c, oh, ow = grad_out.shape
    grad = _max_pool_backward_numba(contiguous(grad_out, dtype).reshape(n * c, oh, ow),
                                    np.ascontiguousarray(indices).reshape(n * c, oh, ow),
                                    *in_hw)
    return grad.reshape(n, c, *in_hw)


def avg_pool2d_forward(x: Any, kernel: Pair, stride: Pair, padding: Pair, out_hw: Pair,
                       divisor: np.ndarray) -> Any:
    """Average pooling of x (N, C, H, W), each window's sum divided by ``divisor``."""
    dtype = float_dtype("avg_pool2d_forward", x)
    if not use_numba(x):
        return avg_pool2d_forward_xp(x, kernel, stride, padding, out_hw, divisor)
    n, c, h, w = x.shape
    out = _avg_pool_numba(contiguous(x, dtype).reshape(n * c, h, w), *kernel, *stride,
                          *padding, np.ascontiguousarray(divisor, dtype=np.float64))
    return out.reshape(n, c, *out_hw)


def avg_pool2d_backward(grad_out: Any, in_hw: Pair, kernel: Pair, stride: Pair,
                        padding: Pair, divisor: np.ndarray) -> Any:
    """grad_x (N, C, H, W) of average pooling."""
    dtype = float_dtype("avg_pool2d_backward", grad_out)
    if not use_numba(grad_out):
        return avg_pool2d_backward_xp(grad_out, in_hw, kernel, stride, padding, divisor)
    n, c, oh, ow = grad_out.shape
    grad = _avg_pool_backward_numba(contiguous(grad_out, dtype).reshape(n * c, oh, ow),
                                    *in_hw, *kernel, *stride, *padding,
                                    np.ascontiguousarray(divisor, dtype=np.float64))
    return grad.reshape(n, c, *in_hw)


__all__ = ["pool_output_size", "avg_divisor", "max_pool2d_forward", "max_pool2d_backward",
           "avg_pool2d_forward", "avg_pool2d_backward"]
