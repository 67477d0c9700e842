"""More data expansions: scalings, Fourier, Jacobi, inverse-quadratic RBF, trigonometric.

Each maps x (N, m) to κ(x) (N, D) like the expansions in ``expansion.py``, and takes the
same ``postprocess=`` / ``preprocess=``. Two orders of the output occur, as in tinyBIG:

* *block by block* ("degree by degree"): κ(x) = [f_1(x), f_2(x), ...], each f_k(x) a
  whole (N, m) block; entry k·m + i is f_k(x_i). Fourier, the trigonometric families.
* *feature by feature*: entry i·K + k is f_k(x_i). Jacobi and the RBFs (as Chebyshev).

=================================  =========================================  ==========
class                              κ(x) per sample                            D
=================================  =========================================  ==========
ReciprocalExpansion()              1/x, with |x| < 1e-6 moved to ±1e-6         m
LinearExpansion(c|pre_C|post_C)    c·x, or pre_C·X (over the batch), or x·C    m (or C's)
FourierExpansion(P, N)             [cos(2πk x/P), sin(2πk x/P)] for k=1..N     2·N·m
JacobiExpansion(d, alpha, beta)    P_1^{(α,β)}(x_i) .. P_d^{(α,β)}(x_i) per i  m·d
InverseQuadraticRBFExpansion       1/(1 + ((x_i − c_k)/σ)²) per i             m·K
TrigonometricExpansion()           [sin x, cos x, tan x]                       3m
HyperbolicExpansion()              [sinh x, cosh x, tanh x]                    3m
ArcTrigonometricExpansion()        [arcsin .99s, arccos .99s, arctan s]        3m
ArcHyperbolicExpansion()           [arsinh s, arcosh(s + 1.01), artanh .99s]   3m
=================================  =========================================  ==========

with s = σ(x), the logistic sigmoid (it keeps the arc functions' arguments in their
domains).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor
from tinyrpn.ops import math as _math
from tinyrpn.ops.linalg import matmul
from tinyrpn.ops.shape import cat, stack
from tinyrpn.rpn._checks import positive_int
from tinyrpn.rpn.elementwise import unary
from tinyrpn.rpn.expansion import Expansion, GaussianRBFExpansion

__all__ = [
    "ReciprocalExpansion", "LinearExpansion", "FourierExpansion", "JacobiExpansion",
    "InverseQuadraticRBFExpansion", "TrigonometricExpansion", "HyperbolicExpansion",
    "ArcTrigonometricExpansion", "ArcHyperbolicExpansion",
]


def _const(x: Tensor, value: Any) -> Tensor:
    return Tensor._wrap(x.xp.asarray(value, dtype=x.dtype))


class ReciprocalExpansion(Expansion):
    """κ(x) = 1/x, D = m, after moving x ∈ [0, 1e-6] to 1e-6 and x ∈ [−1e-6, 0) to −1e-6
    (tinyBIG's guard against division by zero; those entries get no gradient)."""

    EPS = 1e-6

    def output_dim(self, m: int) -> int:
        return m

    def expand(self, x: Tensor) -> Tensor:
        xd = x.data
        small_pos = (xd >= 0) & (xd <= self.EPS)
        small_neg = (xd < 0) & (xd >= -self.EPS)
        if small_pos.any() or small_neg.any():
            x = _math.where(small_pos, self.EPS, x)
            x = _math.where(small_neg, -self.EPS, x)
        return 1.0 / x


class LinearExpansion(Expansion):
    """A fixed linear map: κ(x) = c·x, or pre_C · X, or X · post_C (first one given).

    ``LinearExpansion(c=None, pre_C=None, post_C=None)``. With none, κ(x) = x.
    ``pre_C`` (N′ × N) multiplies the batch X (N × m) from the left, mixing *samples*, as
    tinyBIG 0.1.1 does (its docs describe a per-feature map); the output has N′ rows.
    ``post_C`` (m × D′) gives D = D′ (tinyBIG says m). Matrices may be nested lists.
    """

    def __init__(self, c: float | None = None, pre_C: Any = None, post_C: Any = None,
                 postprocess: Any = None, preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.c = None if c is None else float(c)
        self.pre_C = None if pre_C is None else self._matrix("pre_C", pre_C)
        self.post_C = None if post_C is None else self._matrix("post_C", post_C)

    @staticmethod
    def _matrix(name: str, value: Any) -> np.ndarray:
        array = np.asarray(value, dtype=np.float64)
        if array.ndim != 2:
            raise ValueError(f"LinearExpansion: {name} must be a matrix (nested lists), "
                             f"got shape {array.shape}")
        return array

    def output_dim(self, m: int) -> int:
        if self.c is None and self.pre_C is None and self.post_C is not None:
            if self.post_C.shape[0] != m:
                raise ValueError(f"LinearExpansion: post_C has {self.post_C.shape[0]} rows, "
                                 f"but the input has m = {m} features")
            return self.post_C.shape[1]
        return m

    def expand(self, x: Tensor) -> Tensor:
        if self.c is not None:
            return x * self.c
        if self.pre_C is not None:
            if self.pre_C.shape[1] != x.shape[0]:
                raise ValueError(f"LinearExpansion: pre_C is {self.pre_C.shape}, so the batch "
                                 f"must have {self.pre_C.shape[1]} rows, got {x.shape[0]}")
            return matmul(_const(x, self.pre_C), x)
        if self.post_C is not None:
            self.output_dim(x.shape[1])
            return matmul(x, _const(x, self.post_C))
        return x

    def _settings(self) -> str:
        if self.c is not None:
            return f"c={self.c:g}"
        if self.pre_C is not None:
            return f"pre_C={self.pre_C.shape}"
        return f"post_C={self.post_C.shape}" if self.post_C is not None else ""


class FourierExpansion(Expansion):
    """κ(x) = [cos(2π·1·x/P), sin(2π·1·x/P), ..., cos(2π·N·x/P), sin(2π·N·x/P)].

    ``FourierExpansion(P=10, N=5)``: block by block, each block (N_batch, m); D = 2·N·m.
    """

    def __init__(self, P: float = 10, N: int = 5, postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        if not P > 0:
            raise ValueError(f"FourierExpansion: the period P must be positive, got {P!r}")
        self.P = float(P)
        self.N = positive_int("FourierExpansion", "N", N)

    def output_dim(self, m: int) -> int:
        return 2 * self.N * m

    def expand(self, x: Tensor) -> Tensor:
        blocks = []
        for k in range(1, self.N + 1):
            angle = x * (2 * math.pi * k / self.P)
            blocks += [unary("cos", angle), unary("sin", angle)]
        return cat(blocks, 1)

    def _settings(self) -> str:
        return f"P={self.P:g}, N={self.N}"


class JacobiExpansion(Expansion):
    """Jacobi polynomials P_1^{(α,β)} .. P_d^{(α,β)} of every feature, feature by feature.

    ``JacobiExpansion(d=5, alpha=1.0, beta=1.0)``: P_0 = 1,
    P_1 = ((α − β) + (α + β + 2)·x)/2, and for k ≥ 2, with c = 2k + α + β,

        2k(k + α + β)(c − 2)·P_k = (c − 1)·[c(c − 2)·x + α² − β²]·P_{k−1}
                                   − 2(k + α − 1)(k + β − 1)·c·P_{k−2}

    Entry i·d + (k − 1) holds P_k(x_i); D = m·d (P_0 is dropped, as for Chebyshev).
    """

    def __init__(self, d: int = 5, alpha: float = 1.0, beta: float = 1.0,
                 postprocess: Any = None, preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.d = positive_int("JacobiExpansion", "d", d)
        self.alpha, self.beta = float(alpha), float(beta)

    def output_dim(self, m: int) -> int:
        return m * self.d

    def expand(self, x: Tensor) -> Tensor:
        N, m = x.shape
        a, b = self.alpha, self.beta
        polys = [(x * (a + b + 2) + (a - b)) * 0.5]
        previous: Tensor | float = 1.0
        for k in range(2, self.d + 1):
            c = 2 * k + a + b
            scale = 2 * k * (k + a + b) * (c - 2)
            slope = (c - 1) * c * (c - 2) / scale
            shift = (c - 1) * (a * a - b * b) / scale
            back = 2 * (k + a - 1) * (k + b - 1) * c / scale
            polys.append((x * slope + shift) * polys[-1] - previous * back)
            previous = polys[-2]
        return stack(polys, 2).reshape(N, m * self.d)

    def _settings(self) -> str:
        return f"d={self.d}, alpha={self.alpha:g}, beta={self.beta:g}"


class InverseQuadraticRBFExpansion(GaussianRBFExpansion):
    """κ(x)[i·K + k] = 1 / (1 + ((x_i − c_k)/σ)²): ``GaussianRBFExpansion``'s centres and
    order with the inverse-quadratic kernel. tinyBIG's ``epsilon`` is 1/σ."""

    def expand(self, x: Tensor) -> Tensor:
        N, m = x.shape
        scaled = (x.unsqueeze(2) - _const(x, self.centers)) / self.sigma
        return (1.0 / (scaled * scaled + 1.0)).reshape(N, m * self.centers.size)


class _ThreeBlocks(Expansion):
    """κ(x) = [f_1(x), f_2(x), f_3(x)], three (N, m) blocks side by side: D = 3m."""

    def __init__(self, postprocess: Any = None, preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)

    def output_dim(self, m: int) -> int:
        return 3 * m

    def blocks(self, x: Tensor) -> Sequence[Tensor]:
        raise NotImplementedError

    def expand(self, x: Tensor) -> Tensor:
        return cat(list(self.blocks(x)), 1)


class TrigonometricExpansion(_ThreeBlocks):
    """κ(x) = [sin x, cos x, tan x], D = 3m."""

    def blocks(self, x: Tensor) -> Sequence[Tensor]:
        return unary("sin", x), unary("cos", x), unary("tan", x)


class HyperbolicExpansion(_ThreeBlocks):
    """κ(x) = [sinh x, cosh x, tanh x], D = 3m."""

    def blocks(self, x: Tensor) -> Sequence[Tensor]:
        return unary("sinh", x), unary("cosh", x), _math.tanh(x)


class ArcTrigonometricExpansion(_ThreeBlocks):
    """κ(x) = [arcsin(0.99·s), arccos(0.99·s), arctan(s)] with s = σ(x), D = 3m."""

    def blocks(self, x: Tensor) -> Sequence[Tensor]:
        s = _math.sigmoid(x)
        return unary("arcsin", s * 0.99), unary("arccos", s * 0.99), unary("arctan", s)


class ArcHyperbolicExpansion(_ThreeBlocks):
    """κ(x) = [arsinh(s), arcosh(s + 1.01), artanh(0.99·s)] with s = σ(x), D = 3m."""

    def blocks(self, x: Tensor) -> Sequence[Tensor]:
        s = _math.sigmoid(x)
        return unary("arcsinh", s), unary("arccosh", s + 1.01), unary("arctanh", s * 0.99)
