"""Pooling (max, average, adaptive average) and resizing (interpolate), with gradients.

``max_pool2d`` and ``avg_pool2d`` hand the loops to ``tinyrpn.kernels`` (Numba on the CPU,
strided slices elsewhere; the window formulas are in ``kernels/pool.py``); this file checks
the arguments in the user's terms, as ``torch.nn.functional`` does, and wires the results
into autograd. ``adaptive_avg_pool2d`` and ``interpolate`` (nearest, bilinear) are two
small matrix products each (see :class:`Resample2d`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Function
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.operands import _xp
from tinyrpn.ops.reductions import mean
from tinyrpn.ops.shape import reshape, squeeze, unsqueeze
from tinyrpn.tensor import Tensor, _new_tensor

IntPair = int | tuple[int, int]


def _pool_module() -> Any:
    from tinyrpn.kernels import pool

    return pool


# ----------------------------------------------------------------------------- Functions


class MaxPool2d(Function):
    """out[n, c, i, j] = max of x[n, c] over window (i, j) (see kernels/pool.py);
    dx = d added at the position of each window's first maximum (PyTorch's routing: a tie
    sends the whole gradient to the index that ``return_indices`` reports).

    The caller runs the kernel (it needs the indices with or without a graph) and hands
    its two results in.
    """

    saves_inputs = False

    def forward(self, x: Any, *, values: Any, indices: Any) -> Any:
        self.in_hw, self.indices = x.shape[2:], indices
        return values

    def backward(self, d: Any) -> Any:
        return _kernels().max_pool2d_backward(d, self.indices, self.in_hw)


class AvgPool2d(Function):
    """2-D average pooling.

    forward:  out[n, c, i, j] = Σ x[n, c] over window (i, j) / divisor[i, j]
    backward: dx[h, w] = Σ over the windows (i, j) holding (h, w) of d[i, j] / divisor[i, j]
    """

    saves_inputs = False

    def forward(self, x: Any, *, kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], out_hw: tuple[int, int], divisor: np.ndarray) -> Any:
        self.in_hw, self.geometry = x.shape[2:], (kernel, stride, padding, divisor)
        return _kernels().avg_pool2d_forward(x, kernel, stride, padding, out_hw, divisor)

    def backward(self, d: Any) -> Any:
        return _kernels().avg_pool2d_backward(d, self.in_hw, *self.geometry)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) averaging matrix: row i is 1/len over [⌊i·size/out⌋, ⌈(i+1)·size/out⌉)."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class Resample2d(Function):
    """out = A_h · x · A_wᵀ for every (n, c) plane;  dx = A_hᵀ · d · A_w.

    Any resampling whose output pixel (i, j) is Σ_{h, w} A_h[i, h] A_w[j, w] x[h, w] is
    this one op with its own two small matrices: adaptive average pooling (a window is a
    block of rows times a block of columns, so its average is separable), nearest and
    bilinear interpolation (one or two source rows per output row, likewise columns).
    """

    saves_inputs = False

    def forward(self, x: Any, *, a_h: np.ndarray, a_w: np.ndarray) -> Any:
        xp = _xp(x)
        self.a_h = xp.asarray(a_h, dtype=x.dtype)
        self.a_w = xp.asarray(a_w, dtype=x.dtype)
        return self.a_h @ x @ self.a_w.T

    def backward(self, d: Any) -> Any:
        return self.a_h.T @ d @ self.a_w


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """(out, size): row i is 1/len over rows ⌊i·size/out⌋ to ⌈(i+1)·size/out⌉ (PyTorch's
    adaptive windows, which tile the input and overlap by at most one row)."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _nearest_matrix(size: int, out: int, scale: float, exact: bool = False) -> np.ndarray:
    """(out, size): output i copies input min(⌊i·scale⌋, size − 1), as PyTorch's 'nearest'
    (which picks the left neighbour); 'nearest-exact' rounds pixel centres instead,
    min(⌊(i + ½)·scale⌋, size − 1)."""
    position = (np.arange(out) + 0.5) * scale if exact else np.arange(out) * scale
    source = np.minimum(np.floor(position).astype(np.int64), size - 1)
    matrix = np.zeros((out, size))
    matrix[np.arange(out), source] = 1.0
    return matrix


def _linear_matrix(size: int, out: int, scale: float, align_corners: bool) -> np.ndarray:
    """(out, size): output i mixes the two inputs around its source position s,
    (1 − λ)·x[⌊s⌋] + λ·x[⌊s⌋ + 1] with λ = s − ⌊s⌋. Without align_corners pixel centres
    line up, s = (i + ½)·scale − ½ (clamped at 0); with it the corner pixels do, s = i·scale.
    """
    i = np.arange(out, dtype=np.float64)
    source = i * scale if align_corners else np.maximum((i + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight_high = source - low
    matrix = np.zeros((out, size))
    np.add.at(matrix, (np.arange(out), low), 1.0 - weight_high)
    np.add.at(matrix, (np.arange(out), high), weight_high)
    return matrix


# ----------------------------------------------------------------------------- arguments


def _pair(op: str, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, Sequence) and len(value) in (1, 2) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[-1]))
    raise ArgumentError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _batched(op: str, x: Any) -> tuple[Tensor, bool]:
    """x as (N, C, H, W), and whether it came unbatched (C, H, W)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ArgumentError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got "
                         f"shape {x.shape}")
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: input must be floating point, got {x.dtype}")
    return (unsqueeze(x, 0), True) if x.ndim == 3 else (x, False)


def _window_geometry(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
                     dilation: Any, ceil_mode: bool) -> tuple[tuple[int, int], ...]:
    """Checked (kernel, stride, padding, dilation, out_hw)."""
    kernel = _pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None or stride == () or stride == [] else _pair(
        op, "stride", stride)
    padding, dilation = _pair(op, "padding", padding), _pair(op, "dilation", dilation)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ArgumentError(f"{op}: need kernel_size, stride and dilation >= 1 and padding >= 0; "
                         f"got kernel_size={kernel}, stride={stride}, padding={padding}, "
                         f"dilation={dilation}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ArgumentError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel}")
    pool = _pool_module()
    out_hw = tuple(pool.pool_output_size(x.shape[2 + a], kernel[a], stride[a], padding[a],
                                         dilation[a], ceil_mode) for a in (0, 1))
    if min(out_hw) < 1:
        raise ArgumentError(f"{op}: input {x.shape} is too small for kernel_size={kernel}, "
                         f"padding={padding}, dilation={dilation} (output would be "
                         f"{out_hw[0]}x{out_hw[1]})")
    return kernel, stride, padding, dilation, out_hw


# ----------------------------------------------------------------------------- public


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """The maximum over each kH x kW window of (N, C, H, W) or (C, H, W), as
    ``torch.nn.functional.max_pool2d`` (stride defaults to the kernel size; padding counts
    as -inf and must be at most half the kernel). With ``return_indices``, also the flat
    index h·W + w of each maximum in its plane (what ``max_unpool2d`` would take)."""
    x, unbatched = _batched("max_pool2d", input)
    kernel, stride, padding, dilation, out_hw = _window_geometry(
        "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    values, indices = _kernels().max_pool2d_forward(x.data, kernel, stride, padding,
                                                    dilation, out_hw)
    out = MaxPool2d.apply(x, values=values, indices=indices)
    indices = _new_tensor(indices) if return_indices else None
    if unbatched:
        out = squeeze(out, 0)
        indices = None if indices is None else squeeze(indices, 0)
    return (out, indices) if return_indices else out


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,
               padding: IntPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean over each kH x kW window, as ``torch.nn.functional.avg_pool2d``: the
    window's sum divided by its area (padding included when ``count_include_pad``, only
    the part inside the input otherwise), or by ``divisor_override``."""
    x, unbatched = _batched("avg_pool2d", input)
    kernel, stride, padding, _, out_hw = _window_geometry(
        "avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override <= 0:
        raise ArgumentError(f"avg_pool2d: divisor_override must be positive, got "
                         f"{divisor_override}")
    divisor = _pool_module().avg_divisor(out_hw, x.shape[2:], kernel, stride, padding,
                                         count_include_pad, divisor_override)
    out = AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, out_hw=out_hw,
                          divisor=divisor)
    return squeeze(out, 0) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (an int, a pair, None in a pair keeps that
    dim's size), as ``torch.nn.functional.adaptive_avg_pool2d``."""
    x, unbatched = _batched("adaptive_avg_pool2d", input)
    sizes = (output_size, output_size) if not isinstance(output_size, Sequence) else tuple(
        output_size)
    if len(sizes) != 2:
        raise ArgumentError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got "
                         f"{output_size!r}")
    out_hw = tuple(x.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
           for s in out_hw):
        raise ArgumentError(f"adaptive_avg_pool2d: output sizes must be positive ints (or None), "
                         f"got {output_size!r}")
    if 0 in x.shape[2:]:
        raise ArgumentError(f"adaptive_avg_pool2d: input {x.shape} has an empty spatial dim")
    h, w = x.shape[2:]
    if h % out_hw[0] == 0 and w % out_hw[1] == 0:
        # equal windows that tile the input: each is a block of a reshaped view, and the
        # mean over the blocks' two axes is one NumPy reduction (and its gradient a spread)
        kh, kw = h // out_hw[0], w // out_hw[1]
        out = mean(reshape(x, x.shape[0], x.shape[1], out_hw[0], kh, out_hw[1], kw), (3, 5))
    else:
        out = Resample2d.apply(x, a_h=_adaptive_matrix(h, int(out_hw[0])),
                               a_w=_adaptive_matrix(w, int(out_hw[1])))
    return squeeze(out, 0) if unbatched else out


_INTERPOLATE_MODES = ("nearest", "nearest-exact", "bilinear")


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) inputs, as ``torch.nn.functional.interpolate``:
    ``mode='nearest'`` or ``'nearest-exact'`` (3-D or 4-D), or ``'bilinear'`` (4-D). Give
    ``size`` or ``scale_factor`` (the output is then ⌊in·scale_factor⌋, and the source
    positions use 1/scale_factor unless ``recompute_scale_factor``)."""
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if mode not in _INTERPOLATE_MODES:
        raise ArgumentError(f"{op}: mode must be one of {list(_INTERPOLATE_MODES)}, got {mode!r}")
    if antialias:
        raise ArgumentError(f"{op}: antialias=True is not supported")
    spatial = input.ndim - 2
    if spatial not in (1, 2) or (mode == "bilinear" and spatial != 2):
        need = "4-D (N, C, H, W)" if mode == "bilinear" else "3-D (N, C, L) or 4-D (N, C, H, W)"
        raise ArgumentError(f"{op}: mode {mode!r} needs a {need} input, got shape {input.shape}")
    if not is_floating(input.dtype):
        raise TypeError(f"{op}: input must be floating point, got {input.dtype}")
    if mode != "bilinear" and align_corners is not None:
        raise ArgumentError(f"{op}: align_corners only applies to 'bilinear', not {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ArgumentError(f"{op}: give exactly one of size and scale_factor")
    in_sizes = input.shape[2:]

    def per_dim(value: Any, name: str) -> tuple[Any, ...]:
        values = tuple(value) if isinstance(value, Sequence) else (value,) * spatial
        if len(values) != spatial:
            raise ArgumentError(f"{op}: {name} must have {spatial} entries for input shape "
                             f"{input.shape}, got {value!r}")
        return values

    if size is not None:
        out_sizes = tuple(int(s) for s in per_dim(size, "size"))
        scales = tuple(n / o for n, o in zip(in_sizes, out_sizes))
    else:
        factors = tuple(float(f) for f in per_dim(scale_factor, "scale_factor"))
        if min(factors) <= 0:
            raise ArgumentError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        out_sizes = tuple(int(np.floor(n * f)) for n, f in zip(in_sizes, factors))
        scales = tuple(n / o if recompute_scale_factor else 1 / f
                       for n, o, f in zip(in_sizes, out_sizes, factors))
    if min(out_sizes) < 1 or min(in_sizes) < 1:
        raise ArgumentError(f"{op}: input sizes {in_sizes} and output sizes {out_sizes} must be "
                         f"positive")
    matrices = []
    for n, o, scale in zip(in_sizes, out_sizes, scales):
        if mode.startswith("nearest"):
            matrices.append(_nearest_matrix(n, o, scale, exact=mode == "nearest-exact"))
        elif align_corners:
            matrices.append(_linear_matrix(n, o, (n - 1) / (o - 1) if o > 1 else 0.0, True))
        else:
            matrices.append(_linear_matrix(n, o, scale, False))
    if spatial == 1:
        return squeeze(Resample2d.apply(unsqueeze(input, 2), a_h=np.ones((1, 1)),
                                        a_w=matrices[0]), 2)
    return Resample2d.apply(input, a_h=matrices[0], a_w=matrices[1])


__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "interpolate"]
