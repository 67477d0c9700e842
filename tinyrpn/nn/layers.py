"""Layers with parameters (Linear, Conv2d, LayerNorm, BatchNorm) and shape helpers.

Constructors, defaults and default initialisation follow PyTorch, so that a model written
for PyTorch builds the same way here and, with the same seed stream, starts from the same
distribution. Each layer's maths is in :mod:`tinyrpn.nn.functional`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Tensor, as_dtype, is_floating, no_grad
from tinyrpn.nn import functional as F
from tinyrpn.nn import init
from tinyrpn.nn.module import Module, Parameter

__all__ = ["Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "LayerNorm", "BatchNorm1d",
           "BatchNorm2d", "BatchNorm3d", "Embedding", "Dropout", "Flatten", "Identity"]


def _parameter(shape: tuple[int, ...], dtype: Any, device: Any) -> Parameter:
    """An uninitialised Parameter of ``shape`` (the caller initialises it)."""
    dtype = as_dtype(dtype) if dtype is not None else np.dtype(np.float32)
    if not is_floating(dtype):
        raise TypeError(f"parameters must be floating point, got dtype {dtype}")
    p = Parameter(np.zeros(shape, dtype=dtype))
    if device is not None:
        p.data = backend.to_device(p.data, device)
    return p


def _buffer(values: np.ndarray, device: Any) -> Tensor:
    t = Tensor._wrap(values)
    if device is not None:
        t.data = backend.to_device(t.data, device)
    return t


# ----------------------------------------------------------------------------- Linear


class Linear(Module):
    """y = x Wᵀ + b, with W of shape (out_features, in_features).

    Default init (PyTorch's): W ~ kaiming_uniform_(a=√5), i.e. U(±1/√in_features), and
    b ~ U(±1/√in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: sizes must be non-negative, got in_features="
                             f"{in_features}, out_features={out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = _parameter((self.out_features, self.in_features), dtype, device)
        if bias:
            self.bias = _parameter((self.out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# ----------------------------------------------------------------------------- Conv2d


def _pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f"Conv2d: {name} must be an int or a pair of ints, got {value!r}")


_PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
                  "circular": "circular"}


class Conv2d(Module):
    """y = W ⋆ x + b,  x (N, C_in, H, W) → y (N, C_out, H_out, W_out):  2-D convolution.

    As ``torch.nn.Conv2d`` (⋆ is cross-correlation, as in every deep-learning library).

    weight: (out_channels, in_channels/groups, kH, kW); bias: (out_channels,).
    Default init (PyTorch's): weight ~ kaiming_uniform_(a=√5), i.e. U(±1/√fan_in), and
    bias ~ U(±1/√fan_in), where fan_in = in_channels/groups · kH · kW.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"be divisible by groups ({groups})"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {list(_PADDING_MODES)}, "
                             f"got {padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and _pair("stride", stride) != (1, 1):
                raise ValueError("Conv2d: padding='same' is only supported with stride 1")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = padding if isinstance(padding, str) else _pair("padding", padding)
        self.dilation = _pair("dilation", dilation)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = _parameter(shape, dtype, device)
        if bias:
            self.bias = _parameter((self.out_channels,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding_mode == "zeros" or self.padding in ("valid", (0, 0)):
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        if self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            widths = (total[1] // 2, total[1] - total[1] // 2,
                      total[0] // 2, total[0] - total[0] // 2)
        else:
            ph, pw = self.padding
            widths = (pw, pw, ph, ph)
        x = F.pad(x, widths, mode=_PADDING_MODES[self.padding_mode])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(Module):
    """y = W ⋆ x + b,  x (N, C_in, L) → y (N, C_out, L_out):  1-D convolution.

    As ``torch.nn.Conv1d`` (zero padding only).

    weight: (out_channels, in_channels/groups, K); bias: (out_channels,); PyTorch's init,
    as :class:`Conv2d` (fan_in = in_channels/groups · K).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int | str = 0, dilation: int = 1, groups: int = 1,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride = int(kernel_size), int(stride)
        self.dilation = int(dilation)
        self.padding, self.groups = padding, int(groups)
        shape = (self.out_channels, self.in_channels // self.groups, self.kernel_size)
        self.weight = _parameter(shape, dtype, device)
        if bias:
            self.bias = _parameter((self.out_channels,), dtype, device)
        else:
            self.register_parameter("bias", None)
        Conv2d.reset_parameters(self)  # the same rule: kaiming_uniform_(a=√5), U(±1/√fan_in)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ConvTranspose2d(Module):
    """y = Wᵀ ⋆ x + b,  x (N, C_in, H, W) → y (N, C_out, H_out, W_out):  the adjoint of Conv2d.

    Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d``.

    weight: (in_channels, out_channels/groups, kH, kW); bias: (out_channels,). PyTorch's
    init: kaiming_uniform_(a=√5) with fan_in computed from the weight's dim 1
    (out_channels/groups · kH · kW), and the bias U(±1/√fan_in) likewise.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride, self.padding = _pair("stride", stride), _pair("padding", padding)
        self.output_padding = _pair("output_padding", output_padding)
        self.dilation, self.groups = _pair("dilation", dilation), int(groups)
        shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        self.weight = _parameter(shape, dtype, device)
        if bias:
            self.bias = _parameter((self.out_channels,), dtype, device)
        else:
            self.register_parameter("bias", None)
        Conv2d.reset_parameters(self)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


# ----------------------------------------------------------------------------- norms


class LayerNorm(Module):
    """y = (x − mean) / √(var + eps) · weight + bias,  y has x's shape (*, *normalized_shape).

    Each sample is normalised over its last ``len(normalized_shape)`` dims; weight starts
    at 1 and bias at 0.
    ``elementwise_affine=False`` gives a parameter-free LayerNorm (no weight, no bias).
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _parameter(self.normalized_shape, dtype, device)
            if bias:
                self.bias = _parameter(self.normalized_shape, dtype, device)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class _BatchNorm(Module):
    """y = (x − mean) / √(var + eps) · weight + bias per channel C;  y has x's shape.

    Shared by BatchNorm1d, 2d and 3d (they differ only in the input shape).
    """

    _expected_dims: tuple[int, ...] = ()
    _expected_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = _parameter((self.num_features,), dtype, device)
            if bias:
                self.bias = _parameter((self.num_features,), dtype, device)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            float_dtype = as_dtype(dtype) if dtype is not None else np.dtype(np.float32)
            self.register_buffer("running_mean",
                                 _buffer(np.zeros(self.num_features, float_dtype), device))
            self.register_buffer("running_var",
                                 _buffer(np.ones(self.num_features, float_dtype), device))
            self.register_buffer("num_batches_tracked",
                                 _buffer(np.zeros((), np.int64), device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._expected_dims:
            raise ValueError(f"{type(self).__name__}: expected {self._expected_text} input, "
                             f"got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): input has "
                             f"{x.shape[1]} channels (shape {x.shape})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative average over all batches seen
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Training always normalises with the batch's statistics; evaluation uses the
        # running ones, unless there are none (track_running_stats=False).
        use_batch = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        return F.batch_norm(
            x, self.running_mean if update else None, self.running_var if update else None,
            self.weight, self.bias, use_batch, factor, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """y = (x − mean) / √(var + eps) · weight + bias,  x (N, C) or (N, C, L), y the same.

    Batch normalisation over N (and L), per channel.

    Training: normalise with the batch mean and biased variance; update running_mean and
    running_var (unbiased) with ``momentum`` (None: a cumulative average). Evaluation:
    normalise with the running statistics. weight starts at 1, bias at 0.
    """

    _expected_dims = (2, 3)
    _expected_text = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """y = (x − mean) / √(var + eps) · weight + bias,  x and y (N, C, H, W).

    Batch normalisation over N, H and W, per channel, as :class:`BatchNorm1d`.
    """

    _expected_dims = (4,)
    _expected_text = "4-D (N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """y = (x − mean) / √(var + eps) · weight + bias,  x and y (N, C, D, H, W).

    Batch normalisation over N, D, H and W, per channel, as :class:`BatchNorm1d`.
    """

    _expected_dims = (5,)
    _expected_text = "5-D (N, C, D, H, W)"


# ----------------------------------------------------------------------------- Embedding


class Embedding(Module):
    """y[...] = weight[index[...]],  index (*) → y (*, embedding_dim):  a lookup table.

    weight is (num_embeddings, embedding_dim).

    Default init (PyTorch's): weight ~ N(0, 1), with the ``padding_idx`` row (if any) set
    to zero and never trained. ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are
    not supported.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError(
                "Embedding: max_norm, scale_grad_by_freq and sparse are not supported by "
                "tinyrpn; leave them at their defaults (None, False, False)")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings {self.num_embeddings}")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = _parameter((self.num_embeddings, self.embedding_dim), dtype, device)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, "
                                 f"expected ({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, **kwargs: Any) -> Embedding:
        """An Embedding whose table is ``embeddings`` (2-D), frozen unless told otherwise."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{embeddings.shape}")
        return cls(*embeddings.shape, padding_idx=padding_idx, _weight=embeddings,
                   _freeze=freeze, **kwargs)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"


# ----------------------------------------------------------------------------- helpers


class Dropout(Module):
    """y = x · m,  y has x's shape;  m = 1/(1−p) where kept (probability 1−p), else 0.

    Training only: in evaluation mode y = x.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got p={p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """y = x with dims ``start_dim`` .. ``end_dim`` merged: (N, C, H, W) → (N, C·H·W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """y = x, any shape (constructor arguments are accepted and ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x
