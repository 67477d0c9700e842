"""More parameter reconciliations: constant matrices, masking, duplicated padding, hypernet.

They follow ``reconciliation.Reconciliation``: one parameter vector ``w`` of length l,
``matrix(w)`` gives the n × D matrix W, ``rec(z)`` gives z · Wᵀ.

=================================  ===========================================  ==========
class                              W                                            l
=================================  ===========================================  ==========
ConstantReconciliation(c)          c everywhere                                 0
ZeroReconciliation()               0 (the head's product vanishes)              0
OneReconciliation()                1 everywhere                                 0
ConstantEyeReconciliation()        I, n × D (ones on the main diagonal)         0
MaskingReconciliation(p)           w viewed n × D, times a fixed 0/1 mask M     n·D
DuplicatedPaddingReconciliation    1_{p×q} ⊗ B with B = w viewed s × t          s·t
HypernetReconciliation(l, h)       f(w) viewed n × D, f a fixed 2-layer net     l (given)
=================================  ===========================================  ==========

with s = n/p, t = D/q. The mask keeps each entry with probability p (M_ij = [u_ij < p],
u_ij ~ U(0, 1), drawn once). The hypernet is f(w) = W₂·σ(W₁·w + b₁) + b₂ with
W₁ (h × l), W₂ (n·D × h) and biases, all drawn from N(0, 1) and frozen (``static=True``)
or trained.

Duplicated padding, like the hm family, has two layouts: ``'kron'``, the documented
1_{p×q} ⊗ B (each of the p·q blocks a copy of B), and ``'tinybig'``, what tinyBIG 0.1.1
computes: vec(W) = [w, w, ..., w] (p·q copies of w), laid out row by row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor
from tinyrpn.nn import init
from tinyrpn.nn.module import Parameter
from tinyrpn.ops import math as _math
from tinyrpn.ops.linalg import matmul
from tinyrpn.rpn._checks import positive_int
from tinyrpn.rpn.reconciliation import (
    LAYOUTS,
    Reconciliation,
    _check_divides,
    _DenseProduct,
)

__all__ = [
    "ConstantReconciliation", "ZeroReconciliation", "OneReconciliation",
    "ConstantEyeReconciliation", "MaskingReconciliation", "DuplicatedPaddingReconciliation",
    "HypernetReconciliation",
]


def _sizes(owner: str, n: int, D: int) -> tuple[int, int]:
    return positive_int(owner, "n", n), positive_int(owner, "D", D)


class _FixedMatrix(Reconciliation):
    """A W that does not depend on w (l = 0); ``rec(z)`` is one product with it."""

    def __init__(self, n: int, D: int) -> None:
        n, D = _sizes(type(self).__name__, n, D)
        super().__init__(n, D, 0)

    @staticmethod
    def parameter_count(n: int, D: int, **_: Any) -> int:
        """l = 0: nothing to learn."""
        return 0

    def fixed(self) -> np.ndarray:
        raise NotImplementedError

    def _matrix(self, w: Tensor) -> Tensor:
        return Tensor._wrap(w.xp.asarray(self.fixed(), dtype=w.dtype))

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        return matmul(z, Tensor._wrap(z.xp.asarray(self.fixed().T, dtype=z.dtype)))


class ConstantReconciliation(_FixedMatrix):
    """W = c·1 (every entry c), l = 0. ``ConstantReconciliation(n, D, c=1.0)``."""

    def __init__(self, n: int, D: int, c: float = 1.0) -> None:
        super().__init__(n, D)
        self.c = float(c)

    def fixed(self) -> np.ndarray:
        return np.full((self.n, self.D), self.c)

    def _settings(self) -> str:
        return f"c={self.c:g}"


class ZeroReconciliation(ConstantReconciliation):
    """W = 0, l = 0: the head is its remainder alone. ``ZeroReconciliation(n, D)``."""

    def __init__(self, n: int, D: int) -> None:
        super().__init__(n, D, 0.0)


class OneReconciliation(ConstantReconciliation):
    """W = 1 (every entry), l = 0: y_j = Σ_k κ(x)_k for every j. ``OneReconciliation(n, D)``."""

    def __init__(self, n: int, D: int) -> None:
        super().__init__(n, D, 1.0)


class ConstantEyeReconciliation(_FixedMatrix):
    """W = I (n × D, ones where j = k), l = 0: y_j = κ(x)_j. ``ConstantEyeReconciliation(n, D)``."""

    def fixed(self) -> np.ndarray:
        return np.eye(self.n, self.D)


class MaskingReconciliation(Reconciliation):
    """W = M ⊙ w (w viewed n × D), M a 0/1 mask keeping each entry with probability p.

    ``MaskingReconciliation(n, D, p=0.5, mask=None, fixed_mask=True)``; l = n·D (tinyBIG's
    docs say p·n·D; it builds n·D). M_ij = [u_ij < p], u ~ U(0, 1) from ``tinyrpn.random``,
    drawn once; pass ``mask`` (n × D, booleans or 0/1) to use a given one (tinyBIG's, say).
    ``fixed_mask=False`` draws a new M at every use of W (every forward, every
    ``matrix()``), in training and evaluation alike, without rescaling by 1/p — what
    tinyBIG 0.1.1 computes (a DropConnect that stays on at test time). The gradient is
    M ⊙ ∂L/∂W for the M of that call.
    """

    def __init__(self, n: int, D: int, p: float = 0.5, mask: Any = None,
                 fixed_mask: bool = True) -> None:
        n, D = _sizes("MaskingReconciliation", n, D)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"MaskingReconciliation: p must be in [0, 1], got {p!r}")
        super().__init__(n, D, n * D)
        self.p = float(p)
        self.fixed_mask = bool(fixed_mask)
        if mask is not None and not self.fixed_mask:
            raise ValueError("MaskingReconciliation: a given mask is fixed; pass mask=None "
                             "with fixed_mask=False")
        if mask is None:
            from tinyrpn.random import default_generator

            mask = default_generator().random((n, D)) < self.p
        mask = np.asarray(mask)
        if mask.shape != (n, D):
            raise ValueError(f"MaskingReconciliation: mask must have shape ({n}, {D}), got "
                             f"{mask.shape}")
        self.mask = mask.astype(bool)

    @staticmethod
    def parameter_count(n: int, D: int, p: float = 0.5, mask: Any = None,
                        fixed_mask: bool = True) -> int:
        """l = n·D."""
        return n * D

    def _masked(self, w: Tensor) -> Tensor:
        if not self.fixed_mask:  # a new mask for this use of W
            from tinyrpn.random import default_generator

            self.mask = default_generator().random((self.n, self.D)) < self.p
        m = Tensor._wrap(w.xp.asarray(self.mask.reshape(-1), dtype=w.dtype))
        return w * m

    def _matrix(self, w: Tensor) -> Tensor:
        return self._masked(w).reshape(self.n, self.D)

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        return _DenseProduct.apply(z, self._masked(w), n=self.n, D=self.D)

    def _settings(self) -> str:
        return f"p={self.p:g}" + ("" if self.fixed_mask else ", fixed_mask=False")


class DuplicatedPaddingReconciliation(Reconciliation):
    """W = 1_{p×q} ⊗ B, B = w viewed s × t (s = n/p, t = D/q): W is p × q copies of B.

    ``DuplicatedPaddingReconciliation(n, D, p=2, q=None, layout='kron')`` (q defaults to
    p); l = s·t. ``layout='tinybig'``: vec(W) = [w, ..., w], p·q copies of w laid out row
    by row, what tinyBIG 0.1.1 computes.
    """

    def __init__(self, n: int, D: int, p: int = 2, q: int | None = None,
                 layout: str = "kron") -> None:
        owner = "DuplicatedPaddingReconciliation"
        n, D = _sizes(owner, n, D)
        p = positive_int(owner, "p", p)
        q = p if q is None else positive_int(owner, "q", q)
        if layout not in LAYOUTS:
            raise ValueError(f"{owner}: unknown layout {layout!r}; valid layouts: {LAYOUTS}")
        _check_divides(owner, "p", p, "n", n, "the number of outputs, n = p·s")
        _check_divides(owner, "q", q, "D", D, "the expansion size, D = q·t")
        super().__init__(n, D, (n // p) * (D // q))
        self.p, self.q, self.s, self.t, self.layout = p, q, n // p, D // q, layout

    @staticmethod
    def parameter_count(n: int, D: int, p: int = 2, q: int | None = None,
                        layout: str = "kron") -> int:
        """l = (n/p)·(D/q); p must divide n and q must divide D."""
        q = p if q is None else q
        owner = "DuplicatedPaddingReconciliation"
        _check_divides(owner, "p", p, "n", n, "the number of outputs, n = p·s")
        _check_divides(owner, "q", q, "D", D, "the expansion size, D = q·t")
        return (n // p) * (D // q)

    def _matrix(self, w: Tensor) -> Tensor:
        p, q, s, t = self.p, self.q, self.s, self.t
        ones = Tensor._wrap(w.xp.ones((p * q, 1), dtype=w.dtype))
        if self.layout == "kron":
            # (1 ⊗ B)[i·s + k, j·t + l] = B[k, l]
            return (ones.reshape(p, 1, q, 1) * w.reshape(1, s, 1, t)).reshape(self.n, self.D)
        return (ones * w.reshape(1, s * t)).reshape(self.n, self.D)

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        if self.layout == "kron":
            # y[i·s + k] = Σ_j Σ_l B[k, l]·z[j·t + l]: sum z's q blocks, multiply by Bᵀ,
            # and repeat the result for the p row blocks
            N = z.shape[0]
            summed = _math.sum(z.reshape(N, self.q, self.t), 1)
            y = matmul(summed, w.reshape(self.s, self.t).T)
            ones = Tensor._wrap(z.xp.ones((1, self.p, 1), dtype=z.dtype))
            return (y.reshape(N, 1, self.s) * ones).reshape(N, self.n)
        return matmul(z, self._matrix(w).T)

    def _settings(self) -> str:
        return f"p={self.p}, q={self.q}, layout={self.layout!r}"


class HypernetReconciliation(Reconciliation):
    """W = f(w) viewed n × D, f(w) = W₂·σ(W₁·w + b₁) + b₂, a fixed (or trained) small net.

    ``HypernetReconciliation(n, D, l=64, hidden_dim=128, static=True)``: w has length l
    whatever n and D are; W₁ is hidden_dim × l, W₂ is n·D × hidden_dim. Every entry of
    W₁, b₁, W₂, b₂ is drawn from N(0, 1), as tinyBIG does; ``static=True`` freezes them
    (requires_grad False), so only w is learnt.
    """

    def __init__(self, n: int, D: int, l: int = 64, hidden_dim: int = 128,
                 static: bool = True) -> None:
        owner = "HypernetReconciliation"
        n, D = _sizes(owner, n, D)
        l = positive_int(owner, "l", l)
        hidden_dim = positive_int(owner, "hidden_dim", hidden_dim)
        super().__init__(n, D, l)
        self.hidden_dim, self.static = hidden_dim, bool(static)
        self.net_weight1 = Parameter(np.zeros((hidden_dim, l), dtype=np.float32))
        self.net_bias1 = Parameter(np.zeros(hidden_dim, dtype=np.float32))
        self.net_weight2 = Parameter(np.zeros((n * D, hidden_dim), dtype=np.float32))
        self.net_bias2 = Parameter(np.zeros(n * D, dtype=np.float32))
        for p in self.net_parameters():
            init.normal_(p)
            p.requires_grad = not self.static

    @staticmethod
    def parameter_count(n: int, D: int, l: int = 64, hidden_dim: int = 128,
                        static: bool = True) -> int:
        """l as given (it does not depend on n and D)."""
        return l

    def net_parameters(self) -> list[Parameter]:
        """[W₁, b₁, W₂, b₂] of the hypernet, in that order (shapes as in torch.nn.Linear)."""
        return [self.net_weight1, self.net_bias1, self.net_weight2, self.net_bias2]

    def _matrix(self, w: Tensor) -> Tensor:
        hidden = _math.sigmoid(matmul(w.reshape(1, self.l), self.net_weight1.T) + self.net_bias1)
        return (matmul(hidden, self.net_weight2.T) + self.net_bias2).reshape(self.n, self.D)

    def _product(self, z: Tensor, w: Tensor) -> Tensor:
        return matmul(z, self._matrix(w).T)

    def _settings(self) -> str:
        return f"hidden_dim={self.hidden_dim}, static={self.static}"
