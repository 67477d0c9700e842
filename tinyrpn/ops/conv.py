"""Convolution (2-D, 1-D and transposed 2-D) and padding, with their gradients.

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
from tinyrpn.autograd import Function
from tinyrpn.dtypes import is_floating
from tinyrpn.errors import ArgumentError
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.operands import _xp, same_dtype
from tinyrpn.ops.shape import squeeze, unsqueeze
from tinyrpn.tensor import Tensor

IntPair = int | tuple[int, int]


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


# ----------------------------------------------------------------------------- conv1d


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
           padding: int | str = 0, dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D convolution of x (N, C_in, L) — or unbatched (C_in, L) — with weight
    (C_out, C_in/groups, K), as ``torch.nn.functional.conv1d``.

    A 1-D convolution is a 2-D one on images of height 1, so this runs conv2d (and its
    im2col kernels) on x viewed as (N, C_in, 1, L):
    L_out = ⌊(L + 2p − d·(K − 1) − 1) / s⌋ + 1.
    """
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"conv1d: input and weight must be Tensors, got {type(x).__name__} "
                        f"and {type(weight).__name__}")
    if x.ndim == 2:
        return squeeze(conv1d(unsqueeze(x, 0), weight, bias, stride, padding, dilation,
                              groups), 0)
    if x.ndim != 3 or weight.ndim != 3:
        raise ArgumentError(f"conv1d: input must be 3-D (N, C_in, L) or 2-D (C_in, L) and weight "
                         f"3-D (C_out, C_in/groups, K); got shapes {x.shape} and "
                         f"{weight.shape}")
    one = {name: _single("conv1d", name, value) for name, value in
           (("stride", stride), ("dilation", dilation))}
    pad2 = padding if isinstance(padding, str) else (0, _single("conv1d", "padding", padding))
    out = conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, (1, one["stride"]), pad2,
                 (1, one["dilation"]), groups)
    return squeeze(out, 2)


def _single(op: str, name: str, value: Any) -> int:
    if isinstance(value, Sequence) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise ArgumentError(f"{op}: {name} must be an int, got {value!r}")


# ----------------------------------------------------------------------------- conv_transpose2d


class ConvTranspose2d(Function):
    """The transposed 2-D convolution: the gradient of conv2d with respect to its input,
    used as a layer (each input pixel spreads a kH x kW patch of weights over the output).

    forward:  out[n, g·C_g + c, i·s_h + u·d_h − p_h, j·s_w + v·d_w − p_w]
                  += x[n, o, i, j] · w[o, c, u, v]       (o in group g; then + b[c])
              i.e. out = conv2d_backward_input(grad_out = x, weight = w), which is what the
              kernel computes, with the output's shape standing in for conv2d's input
    backward: dx = conv2d(d, w)  (the same geometry),
              dw = conv2d's weight gradient for input d and output gradient x,
              db = Σ_{n, i, j} d[n, c, i, j]
    """

    def forward(self, x: Any, weight: Any, bias: Any = None, *, stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], groups: int,
                out_shape: tuple[int, ...]) -> Any:
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        self.geometry = (stride, padding, dilation, groups)
        shape_only = _xp(x).broadcast_to(_xp(x).zeros((), dtype=x.dtype), out_shape)
        out, _ = _kernels().conv2d_backward(x, shape_only, weight, *self.geometry,
                                            need_grad_weight=False)
        out = out.astype(x.dtype, copy=False)
        if bias is not None:
            out = out + bias.reshape(1, -1, 1, 1)
        return out

    def backward(self, d: Any) -> tuple[Any, ...]:
        need_x, need_w = self.needs_input_grad[:2]
        dx = dw = None
        if need_x:
            dx = _kernels().conv2d_forward(d, self.weight, *self.geometry)
            dx = dx.astype(self.x.dtype, copy=False)
        if need_w:
            _, dw = _kernels().conv2d_backward(self.x, d, self.weight, *self.geometry,
                                               need_grad_x=False)
            dw = dw.astype(self.weight.dtype, copy=False)
        grads = (dx, dw)
        if self.has_bias:
            grads += (d.sum(axis=(0, 2, 3)),)
        return grads


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0,
                     groups: int = 1, dilation: IntPair = 1) -> Tensor:
    """The transposed convolution of x (N, C_in, H, W) — or (C_in, H, W) — with weight
    (C_in, C_out/groups, kH, kW), as ``torch.nn.functional.conv_transpose2d``:
    H_out = (H − 1)·s_h − 2·p_h + d_h·(kH − 1) + output_padding_h + 1, likewise W_out.
    """
    op = "conv_transpose2d"
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: input and weight must be Tensors, got {type(x).__name__} and "
                        f"{type(weight).__name__}")
    if x.ndim == 3:
        return squeeze(conv_transpose2d(unsqueeze(x, 0), weight, bias, stride, padding,
                                        output_padding, groups, dilation), 0)
    if x.ndim != 4 or weight.ndim != 4:
        raise ArgumentError(f"{op}: input must be 4-D (N, C_in, H, W) or 3-D and weight 4-D "
                         f"(C_in, C_out/groups, kH, kW); got shapes {x.shape} and "
                         f"{weight.shape}")
    if not is_floating(x.dtype) or not is_floating(weight.dtype):
        raise TypeError(f"{op}: input and weight must be floating point, got {x.dtype} and "
                        f"{weight.dtype}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ArgumentError(f"{op}: groups must be a positive int, got {groups!r}")
    stride, padding = _pair("stride", stride), _pair("padding", padding)
    dilation, extra = _pair("dilation", dilation), _pair("output_padding", output_padding)
    c_in, c_g, kh, kw = weight.shape
    if x.shape[1] != c_in or c_in % groups:
        raise ArgumentError(f"{op}: input has {x.shape[1]} channels but weight {weight.shape} "
                         f"expects {c_in} (divisible by groups={groups})")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(extra) < 0:
        raise ArgumentError(f"{op}: need stride >= 1, dilation >= 1, padding >= 0 and "
                         f"output_padding >= 0; got stride={stride}, dilation={dilation}, "
                         f"padding={padding}, output_padding={extra}")
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ArgumentError(f"{op}: output_padding {extra} must be smaller than the stride "
                         f"{stride} or the dilation {dilation}")
    size = tuple((x.shape[2 + a] - 1) * stride[a] - 2 * padding[a]
                 + dilation[a] * ((kh, kw)[a] - 1) + extra[a] + 1 for a in (0, 1))
    if min(size) < 1:
        raise ArgumentError(f"{op}: the output would be {size[0]}x{size[1]} for input {x.shape}, "
                         f"weight {weight.shape} and padding {padding}")
    out_channels = c_g * groups
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (out_channels,)):
        got = bias.shape if isinstance(bias, Tensor) else type(bias).__name__
        raise ArgumentError(f"{op}: bias must be a Tensor of shape ({out_channels},), got {got}")
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d.apply(*inputs, stride=stride, padding=padding, dilation=dilation,
                                 groups=int(groups),
                                 out_shape=(x.shape[0], out_channels) + size)


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
    """For each output position along one dim, the input position it copies.

    A negative width crops, as in PyTorch: for 'reflect' and 'replicate' the mirror and
    the edge stay those of the whole input; 'circular' wraps around the kept part only.
    """
    p = np.arange(-lo, n + hi)
    if mode == "reflect":  # mirror without repeating the edge: -1 -> 1, n -> n - 2
        p = np.abs(p)
        p = np.where(p > n - 1, 2 * (n - 1) - p, p)
    elif mode == "replicate":
        p = np.clip(p, 0, n - 1)
    else:  # circular, over the kept part [start, stop)
        start, stop = max(-lo, 0), n - max(-hi, 0)
        p = (np.arange(-max(lo, 0), stop - start + max(hi, 0)) % (stop - start)) + start
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
    (LeCun 1989 pads its images with -1); ``'reflect'`` mirrors without repeating the edge,
    ``'replicate'`` repeats the edge, ``'circular'`` wraps around. In every mode a
    negative width crops that side.
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
        kept = n - max(-lo, 0) - max(-hi, 0)  # what is left after cropping
        limit = {"reflect": n - 1, "circular": n}.get(mode, max(lo, hi))
        if n == 0 or kept <= 0 or max(lo, hi) > limit:
            rule = "smaller than" if mode == "reflect" else "at most"
            raise ArgumentError(
                f"pad: {mode} padding widths must be {rule} the dim's size; got ({lo}, {hi}) "
                f"on dim {dim} of size {n} (input shape {x.shape})"
            )
        maps.append((dim, _source_index(n, lo, hi, mode)))
    if not maps:
        return PadConstant.apply(x, widths=tuple(widths), value=0.0)
    return PadIndexed.apply(x, maps=tuple(maps))
