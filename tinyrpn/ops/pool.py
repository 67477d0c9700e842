"""Pooling: max, average and adaptive average over 2-D windows, with their gradients.

``max_pool2d`` and ``avg_pool2d`` hand the loops to ``tinyrpn.kernels`` (Numba on the CPU,
strided slices elsewhere; the window formulas are in ``kernels/pool.py``); this file checks
the arguments in the user's terms, as ``torch.nn.functional`` does, and wires the results
into autograd. ``adaptive_avg_pool2d`` is two small matrix products (see its Function).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Function, Tensor, _new_tensor, is_floating
from tinyrpn.ops.math import _xp
from tinyrpn.ops.shape import squeeze, unsqueeze

IntPair = int | tuple[int, int]


def _kernels() -> Any:
    from tinyrpn import kernels  # imported on first use: Numba takes a moment to load

    return kernels


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
    """out[n, c, i, j] = Σ x[n, c] over window (i, j) / divisor[i, j];
    dx[h, w] = Σ over the windows (i, j) holding (h, w) of d[i, j] / divisor[i, j]."""

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


class AdaptiveAvgPool2d(Function):
    """Average over windows chosen to tile H x W into H_out x W_out cells (PyTorch's:
    rows ⌊i·H/H_out⌋ to ⌈(i+1)·H/H_out⌉, columns likewise).

    A window is a block of rows times a block of columns, so the average is separable:
    out = A_h · x · A_wᵀ per plane, with A_h (H_out, H) holding 1/len over each row block;
    dx = A_hᵀ · d · A_w.
    """

    saves_inputs = False

    def forward(self, x: Any, *, out_hw: tuple[int, int]) -> Any:
        xp = _xp(x)
        self.a_h = xp.asarray(_adaptive_matrix(x.shape[2], out_hw[0]), dtype=x.dtype)
        self.a_w = xp.asarray(_adaptive_matrix(x.shape[3], out_hw[1]), dtype=x.dtype)
        return self.a_h @ x @ self.a_w.T

    def backward(self, d: Any) -> Any:
        return self.a_h.T @ d @ self.a_w


# ----------------------------------------------------------------------------- arguments


def _pair(op: str, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, Sequence) and len(value) in (1, 2) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[-1]))
    raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _batched(op: str, x: Any) -> tuple[Tensor, bool]:
    """x as (N, C, H, W), and whether it came unbatched (C, H, W)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got "
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
        raise ValueError(f"{op}: need kernel_size, stride and dilation >= 1 and padding >= 0; "
                         f"got kernel_size={kernel}, stride={stride}, padding={padding}, "
                         f"dilation={dilation}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel}")
    pool = _pool_module()
    out_hw = tuple(pool.pool_output_size(x.shape[2 + a], kernel[a], stride[a], padding[a],
                                         dilation[a], ceil_mode) for a in (0, 1))
    if min(out_hw) < 1:
        raise ValueError(f"{op}: input {x.shape} is too small for kernel_size={kernel}, "
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
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got "
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
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got "
                         f"{output_size!r}")
    out_hw = tuple(x.shape[2 + a] if s is None else s for a, s in enumerate(sizes))
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
           for s in out_hw):
        raise ValueError(f"adaptive_avg_pool2d: output sizes must be positive ints (or None), "
                         f"got {output_size!r}")
    if 0 in x.shape[2:]:
        raise ValueError(f"adaptive_avg_pool2d: input {x.shape} has an empty spatial dim")
    out = AdaptiveAvgPool2d.apply(x, out_hw=tuple(int(s) for s in out_hw))
    return squeeze(out, 0) if unbatched else out


__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]
