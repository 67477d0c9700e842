"""LeCun et al. 1989's convolutional network on 16x16 digits, and its modernised version.

REFERENCE.md §5. The network has 9,760 parameters:

    H1   pad the 1x16x16 input by 2 with -1, conv 12 maps 5x5 stride 2 -> 12x8x8,
         one bias per output unit (12x8x8)                                  1,068
    H2   pad H1 by 2 with -1, three stride-2 5x5 convs each making 4 maps of 4x4 from
         8 of the 12 H1 maps (0-7, 4-11, and 0-3 with 8-11), a bias per unit  2,592
    H3   192 -> 30 fully connected                                            5,790
    out  30 -> 10 fully connected, bias initialised to -1                     310

Weights start uniform in ±2.4/√fan_in. The 1989 network uses tanh everywhere; the modern
one (``modern=True``) uses ReLU, dropout on H2's output and no activation on the output.
"""

from __future__ import annotations

import numpy as np

from tinyrpn import nn
from tinyrpn.autograd import Tensor, no_grad, zeros
from tinyrpn.nn import functional as F
from tinyrpn.nn import init

# The H1 maps read by H2's three groups of four maps: 0-7, 4-11, and 0-3 with 8-11.
# Gathering them side by side (24 channels) turns H2 into one convolution with groups=3.
H2_INPUT_CHANNELS = np.r_[0:8, 4:12, 0:4, 8:12]


def _uniform_fan_in(t: Tensor, fan_in: int) -> None:
    bound = 2.4 / fan_in**0.5
    init.uniform_(t, -bound, bound)


class LeCun1989(nn.Module):
    """The 1989 digit recogniser (``modern=False``) or its modern variant (``modern=True``).

    Input: (N, 1, 16, 16) images scaled to [-1, 1]. Output: (N, 10) scores; in the 1989
    network they pass through tanh and are trained towards ±1 targets with MSE.
    """

    def __init__(self, modern: bool = False, dropout: float = 0.25) -> None:
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
        with no_grad():
            _uniform_fan_in(self.H1w, 5 * 5 * 1)
            _uniform_fan_in(self.H2w, 5 * 5 * 8)
            _uniform_fan_in(self.H3w, 4 * 4 * 12)
            _uniform_fan_in(self.outw, 30)
            init.constant_(self.outb, -1.0)

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
            x = self.dropout(x)
        x = x.flatten(1)
        x = self._act(x @ self.H3w + self.H3b)
        x = x @ self.outw + self.outb
        return x if self.modern else x.tanh()

    def extra_repr(self) -> str:
        return f"modern={self.modern}, parameters={self.num_parameters()}"
