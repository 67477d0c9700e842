"""LeCun et al. 1989's convolutional network on 16x16 digits, and its modernised version.

docs/EXPERIMENTS.md §5. The network has 9,760 parameters:

    H1   pad the 1x16x16 input by 2 with -1, conv 12 maps 5x5 stride 2 -> 12x8x8,
         one bias per output unit (12x8x8)                                  1,068
    H2   pad H1 by 2 with -1, three stride-2 5x5 convs each making 4 maps of 4x4 from
         8 of the 12 H1 maps (0-7, 4-11, and 0-3 with 8-11), a bias per unit  2,592
    H3   192 -> 30 fully connected                                            5,790
    out  30 -> 10 fully connected, bias initialised to -1                     310

Weights start uniform in ±2.4/√fan_in, drawn from tinyrpn's random stream, or (with
``torch_seed``) exactly as the PyTorch reproduction drew them. The 1989 network uses tanh
everywhere; the modern one (``modern=True``) uses ReLU, dropout on H2's output and no
activation on the output, whose bias starts at 0 (as in modern.py; the 1989 one starts at
−1). With ``torch_seed``, the modern network's dropout masks are PyTorch's too: the stream
continues after the weights, as in modern.py, and its position is the buffer
``dropout_stream``, so it is saved and restored with the model.
"""

from __future__ import annotations

import numpy as np

from tinyrpn import backend, nn
from tinyrpn.autograd import Tensor, no_grad, zeros
from tinyrpn.nn import functional as F
from tinyrpn.nn import init
from tinyrpn.random import TorchCPUGenerator

# The H1 maps read by H2's three groups of four maps: 0-7, 4-11, and 0-3 with 8-11.
# Gathering them side by side (24 channels) turns H2 into one convolution with groups=3.
H2_INPUT_CHANNELS = np.r_[0:8, 4:12, 0:4, 8:12]


# (name, fan_in) of the four weight tensors, in the order the reference draws them.
WEIGHT_FAN_IN = (("H1w", 5 * 5 * 1), ("H2w", 5 * 5 * 8), ("H3w", 4 * 4 * 12), ("outw", 30))


def _uniform_fan_in(t: Tensor, fan_in: int) -> None:
    bound = 2.4 / fan_in**0.5
    init.uniform_(t, -bound, bound)


def _pytorch_uniform_fan_in_(
    weights: list[tuple[Tensor, int]], torch_seed: int
) -> TorchCPUGenerator:
    """Fill each (tensor, fan_in) in turn as karpathy/lecun1989-repro does after
    ``torch.manual_seed(torch_seed)``: ``(torch.rand(shape) - 0.5) * 2 * 2.4 / sqrt(fan_in)``
    in float32, all from one stream; returns the stream, positioned after these draws.
    """
    stream = TorchCPUGenerator(torch_seed)
    uniform = stream.rand(sum(t.numel() for t, _ in weights))
    start = 0
    for t, fan_in in weights:
        u = uniform[start:start + t.numel()].reshape(t.shape)
        # float32 throughout and in the reference's order of operations, so every bit agrees
        scaled = (u - np.float32(0.5)) * np.float32(2) * np.float32(2.4)
        t.copy_(scaled / np.float32(fan_in**0.5))
        start += t.numel()
    return stream


class LeCun1989(nn.Module):
    """y = out(H3(H2(H1(x)))),  x (N, 1, 16, 16) → y (N, 10):  two convolutions, two dense.

    The 1989 digit recogniser (``modern=False``) or its modern variant (``modern=True``).
    Input: images scaled to [-1, 1]. Output: scores; in the 1989 network they pass through
    tanh and are trained towards ±1 targets with MSE.
    """

    def __init__(
        self, modern: bool = False, dropout: float = 0.25, torch_seed: int | None = None
    ) -> None:
        super().__init__()
        self.modern = modern
        self.H1w = nn.Parameter(zeros(12, 1, 5, 5))
        self.H1b = nn.Parameter(zeros(12, 8, 8))
        self.H2w = nn.Parameter(zeros(12, 8, 5, 5))
        self.H2b = nn.Parameter(zeros(12, 4, 4))
        self.H3w = nn.Parameter(zeros(4 * 4 * 12, 30))
        self.H3b = nn.Parameter(zeros(30))
        self.outw = nn.Parameter(zeros(30, 10))
        self.outb = nn.Parameter(zeros(10))
        self.dropout = nn.Dropout(dropout) if modern else None
        self.torch_seed = torch_seed
        stream = None
        with no_grad():
            weights = [(getattr(self, name), fan_in) for name, fan_in in WEIGHT_FAN_IN]
            if torch_seed is None:
                for t, fan_in in weights:
                    _uniform_fan_in(t, fan_in)
            else:
                stream = _pytorch_uniform_fan_in_(weights, torch_seed)
            if not modern:
                init.constant_(self.outb, -1.0)
        # the PyTorch stream's position, for the next dropout mask (not a parameter)
        self.register_buffer("dropout_stream", Tensor(stream.state_array())
                             if modern and stream is not None else None)
        # The generator that buffer describes, and the (array, version) it was last in step
        # with: rebuilding it costs about 0.8 ms, half a batch-1 step, so it is rebuilt only
        # when the buffer was replaced or written into (load_state_dict, copy_).
        self._stream, self._stream_synced = stream, self._buffer_version()

    def _act(self, x: Tensor) -> Tensor:
        return x.relu() if self.modern else x.tanh()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1:] != (1, 16, 16):
            raise ValueError(f"LeCun1989 expects inputs of shape (N, 1, 16, 16), got {x.shape}")
        # H1: the -1 padding makes the border look like background (pixels are in [-1, 1]).
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
        x = self._act(F.conv2d(x, self.H1w, stride=2) + self.H1b)
        # H2: each group of 4 maps sees only 8 of the 12 H1 maps, as in the paper.
        x = F.pad(x[:, H2_INPUT_CHANNELS], (2, 2, 2, 2), value=-1.0)
        x = self._act(F.conv2d(x, self.H2w, stride=2, groups=3) + self.H2b)
        if self.dropout is not None:
            x = self._dropout(x)
        x = x.flatten(1)
        x = self._act(x @ self.H3w + self.H3b)
        x = x @ self.outw + self.outb
        return x if self.modern else x.tanh()

    def _buffer_version(self) -> tuple[object, int] | None:
        b = self.dropout_stream
        return None if b is None else (b.data, b._version.value)

    def _dropout(self, x: Tensor) -> Tensor:
        if self.dropout_stream is None or not self.training:
            return self.dropout(x)
        seen = self._buffer_version()
        if self._stream_synced is None or seen[0] is not self._stream_synced[0] \
                or seen[1] != self._stream_synced[1]:
            self._stream = TorchCPUGenerator.from_state_array(
                backend.to_numpy(self.dropout_stream.data))
        x = F.dropout(x, self.dropout.p, training=True, generator=self._stream)
        self.dropout_stream.data = backend.to_device(self._stream.state_array(),
                                                     self.dropout_stream.device)
        self._stream_synced = self._buffer_version()
        return x

    def extra_repr(self) -> str:
        seed = "" if self.torch_seed is None else f", torch_seed={self.torch_seed}"
        return f"modern={self.modern}{seed}, parameters={self.num_parameters()}"
