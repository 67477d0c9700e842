"""Convolution and padding, with their gradients.

``conv2d`` hands the loops to ``tinyrpn.kernels.conv2d_forward/backward`` (Numba on the
CPU, im2col + matrix products elsewhere); this file adds the bias, checks the arguments
in the user's terms, and wires the result into autograd. ``pad`` follows
``torch.nn.functional.pad``: the pad widths are given last dimension first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import ArgumentError, Function, Tensor, is_floating
from tinyrpn.ops.math import _xp, same_dtype
from tinyrpn.ops.shape import squeeze, unsqueeze

IntPair = int | tuple[int, int]


def _kernels() -> Any:
    # Imported on first use: the kernels pull in Numba, which takes a moment to load.
    from tinyrpn import kernels

    return kernels


# ----------------------------------------------------------------------------- conv2d


class Conv2d(Function):
    """2-D cross-correlation plus an optional per-channel bias.

    forward:  out[n, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] · x_pad[n, g·C_g + c,
                                                      i·s_h + u·d_h, j·s_w + v·d_w]
              (g = the group of output channel o, C_g = C_in / groups)
    backward: dx = the transposed convolution of d with w (each input element collects
              w[o, c, u, v] · d[n, o, i, j] from every output it fed),
              dw[o, c, u, v] = Σ_{n, i, j} d[n, o, i, j] · x_pad[n, g·C_g + c, ...],
              db[o] = Σ_{n, i, j} d[n, o, i, j].
    """

    def forward(self, x: Any, weight: Any, bias: Any = None, *, stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> Any:
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        self.geometry = (stride, padding, dilation, groups)
        out = _kernels().conv2d_forward(x, weight, stride, padding, dilation, groups)
        if bias is not None:
            out = out + bias.reshape(1, -1, 1, 1)
        return out

    def backward(self, d: Any) -> tuple[Any, ...]:
        grad_x, grad_w = _kernels().conv2d_backward(d, self.x, self.weight, *self.geometry)
        grads = (grad_x.astype(self.x.dtype, copy=False),
                 grad_w.astype(self.weight.dtype, copy=False))
        if self.has_bias:
            grads += (d.sum(axis=(0, 2, 3)),)
        return grads


def _pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, Sequence) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return int(value[0]), int(value[1])
    raise ArgumentError(f"conv2d: {name} must be an int or a pair of ints, got {value!r}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution of x (N, C_in, H, W) — or unbatched (C_in, H, W) — with weight
    (C_out, C_in/groups, kH, kW) and an optional bias (C_out,), as ``torch.nn.functional.conv2d``.

    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (output as large
    as the input; stride 1 only; an odd total is padded one more on the right/bottom, as
    in PyTorch). H_out = ⌊(H + 2·p_h − d_h·(kH − 1) − 1) / s_h⌋ + 1, and likewise W_out.
    """
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(
            f"conv2d: input and weight must be Tensors, got {type(x).__name__} and "
            f"{type(weight).__name__}"
        )
    same_dtype("conv2d", input=x, weight=weight, bias=bias)
    if x.ndim == 3:  # one unbatched image, as PyTorch allows
        return squeeze(conv2d(unsqueeze(x, 0), weight, bias, stride, padding, dilation, groups), 0)
    if x.ndim != 4:
        raise ArgumentError(
            f"conv2d: input must be 4-D (N, C_in, H, W) or 3-D (C_in, H, W), got shape {x.shape}"
        )
    if weight.ndim != 4:
        raise ArgumentError(
            f"conv2d: weight must be 4-D (C_out, C_in/groups, kH, kW), got shape {weight.shape}"
        )
    if not is_floating(x.dtype) or not is_floating(weight.dtype):
        raise TypeError(
            f"conv2d: input and weight must be floating point, got {x.dtype} and {weight.dtype}"
        )
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ArgumentError(f"conv2d: groups must be a positive int, got {groups!r}")
    stride, dilation = _pair("stride", stride), _pair("dilation", dilation)
    c_out, c_g, kh, kw = weight.shape
    if x.shape[1] != c_g * groups:
        extra = f" with groups={groups}" if groups != 1 else ""
        raise ArgumentError(
            f"conv2d: input has {x.shape[1]} channels but weight expects {c_g * groups} "
            f"(weight shape {weight.shape}{extra}; input shape {x.shape})"
        )
    if c_out % groups:
        raise ArgumentError(
            f"conv2d: weight has {c_out} output channels, not divisible by groups={groups} "
            f"(weight shape {weight.shape})"
        )
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (c_out,)):
        got = bias.shape if isinstance(bias, Tensor) else type(bias).__name__
        raise ArgumentError(
            f"conv2d: bias must be a Tensor of shape ({c_out},) for weight shape "
            f"{weight.shape}, got {got}"
        )
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if stride != (1, 1):
                raise ArgumentError(f"conv2d: padding='same' needs stride 1, got stride={stride}")
            total = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
            left = (total[0] // 2, total[1] // 2)
            if total[0] % 2 or total[1] % 2:
                # An odd total cannot be split evenly: pad the extra row/column at the end.
                x = pad(x, (left[1], total[1] - left[1], left[0], total[0] - left[0]))
                padding = 0
            else:
                padding = left
        else:
            raise ArgumentError(
                f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}"
            )
    padding = _pair("padding", padding)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ArgumentError(
            f"conv2d: need stride >= 1, dilation >= 1 and padding >= 0; got stride={stride}, "
            f"dilation={dilation}, padding={padding}"
        )
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ArgumentError(
            f"conv2d: kernel {kh}x{kw} (dilation {dilation}, spanning {span[0]}x{span[1]}) is "
            f"larger than the padded input {padded[0]}x{padded[1]} (input shape {x.shape}, "
            f"padding {padding})"
        )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d.apply(*inputs, stride=stride, padding=padding, dilation=dilation,
                        groups=int(groups))


# ----------------------------------------------------------------------------- pad


class PadConstant(Function):
    """Constant padding (a negative width crops, as in PyTorch).

    forward:  out = value everywhere, with x's kept part copied to its place inside;
    backward: dx = the part of d where x's elements landed (zero for cropped elements).
    """

    saves_inputs = False

    def forward(self, x: Any, *, widths: tuple[tuple[int, int], ...], value: float) -> Any:
        xp = _xp(x)
        src, dst, out_shape = [], [], []
        for n, (lo, hi) in zip(x.shape, widths):
            start, stop = max(-lo, 0), n - max(-hi, 0)  # the part of x that is kept
            size = n + lo + hi
            src.append(slice(start, max(stop, start)))
            dst.append(slice(max(lo, 0), max(lo, 0) + max(stop - start, 0)))
            out_shape.append(size)
        self.src, self.dst, self.shape = tuple(src), tuple(dst), x.shape
        out = xp.full(tuple(out_shape), value, dtype=x.dtype)
        out[self.dst] = x[self.src]
        return out

    def backward(self, d: Any) -> Any:
        grad = _xp(d).zeros(self.shape, dtype=d.dtype)
        grad[self.src] = d[self.dst]
        return grad


def _source_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each output position along one dim, the input position it copies."""
    p = np.arange(-lo, n + hi)
    if mode == "reflect":  # mirror without repeating the edge: -1 -> 1, n -> n - 2
        p = np.abs(p)
        p = np.where(p > n - 1, 2 * (n - 1) - p, p)
    elif mode == "replicate":
        p = np.clip(p, 0, n - 1)
    else:  # circular
        p = p % n
    return p


class PadIndexed(Function):
    """Reflect, replicate or circular padding: every output element copies one input element.

    forward:  out = x gathered along each padded dim by a source-index map;
    backward: dx = d scatter-added back through the same maps (an input element copied to
              several places collects the sum of their gradients).
    """

    saves_inputs = False

    def forward(self, x: Any, *, maps: tuple[tuple[int, np.ndarray], ...]) -> Any:
        xp = _xp(x)
        self.maps, self.shapes = maps, []
        for dim, index in maps:
            self.shapes.append(x.shape)
            x = xp.take(x, xp.asarray(index), axis=dim)
        return x

    def backward(self, d: Any) -> Any:
        xp = _xp(d)
        for (dim, index), shape in zip(reversed(self.maps), reversed(self.shapes)):
            grad = xp.zeros(shape, dtype=d.dtype)
            backend.scatter_add(grad, (slice(None),) * dim + (xp.asarray(index),), d)
            d = grad
        return d


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = 0.0) -> Tensor:
    """Pad ``x`` as ``torch.nn.functional.pad``.

    ``pad`` lists widths from the last dim backwards: (left, right) for the last dim, then
    (top, bottom) for the one before, and so on. ``mode='constant'`` fills with ``value``
    (LeCun 1989 pads its images with -1) and accepts negative widths, which crop;
    ``'reflect'`` mirrors without repeating the edge, ``'replicate'`` repeats the edge,
    ``'circular'`` wraps around.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"pad: expected a Tensor, got {type(x).__name__}")
    widths_flat = tuple(pad)
    if len(widths_flat) % 2 or not all(
        isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in widths_flat
    ):
        raise ArgumentError(f"pad: pad must be an even-length sequence of ints, got {pad!r}")
    n_dims = len(widths_flat) // 2
    if n_dims > x.ndim:
        raise ArgumentError(
            f"pad: {len(widths_flat)} widths pad {n_dims} dims, but the input has only "
            f"{x.ndim} (shape {x.shape})"
        )
    if mode not in _PAD_MODES:
        raise ArgumentError(f"pad: unknown mode {mode!r}; valid modes are {list(_PAD_MODES)}")
    widths = [(0, 0)] * x.ndim
    for k in range(n_dims):  # widths_flat[2k:2k+2] belong to dim -1-k
        widths[x.ndim - 1 - k] = (int(widths_flat[2 * k]), int(widths_flat[2 * k + 1]))
    for dim, (lo, hi) in enumerate(widths):
        if x.shape[dim] + lo + hi < 0:
            raise ArgumentError(
                f"pad: widths ({lo}, {hi}) on dim {dim} of shape {x.shape} give a negative size"
            )
    if mode == "constant":
        return PadConstant.apply(x, widths=tuple(widths), value=0.0 if value is None else value)

    maps = []
    for dim, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        n = x.shape[dim]
        if lo < 0 or hi < 0:
            raise ArgumentError(f"pad: negative widths are only allowed in constant mode, got "
                             f"({lo}, {hi}) on dim {dim}")
        limit = {"reflect": n - 1, "circular": n}.get(mode, max(lo, hi))
        if n == 0 or max(lo, hi) > limit:
            rule = "smaller than" if mode == "reflect" else "at most"
            raise ArgumentError(
                f"pad: {mode} padding widths must be {rule} the dim's size; got ({lo}, {hi}) "
                f"on dim {dim} of size {n} (input shape {x.shape})"
            )
        maps.append((dim, _source_index(n, lo, hi, mode)))
    if not maps:
        return PadConstant.apply(x, widths=tuple(widths), value=0.0)
    return PadIndexed.apply(x, maps=tuple(maps))
