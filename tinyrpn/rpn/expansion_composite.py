"""Expansions built from tuples of features or from other expansions.

==============================  =========================================  ===============
class                           κ(x) per sample                            D
==============================  =========================================  ===============
CombinatorialExpansion(d)       every r-subset (x_i1, .., x_ir), r ≤ d     Σ_r r·C(m, r)
CombinatorialNormalExpansion    log N((x_i1, .., x_ir); 0, I_r) for each   Σ_r C(m, r)
NestedExpansion([κ_1, .., κ_k]) κ_k(...κ_2(κ_1(x)))                        D_k(..D_1(m))
ExtendedExpansion([κ_1, ..])    [κ_1(x), .., κ_k(x)]                       Σ_j D_j(m)
==============================  =========================================  ===============

The subsets come degree by degree (r = 1, 2, ..., d), each degree in lexicographic order of
the index tuples i1 < i2 < ... < ir (with ``with_replacement=True``: i1 ≤ ... ≤ ir, and
C(m + r − 1, r) of them).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor
from tinyrpn.nn.module import ModuleList
from tinyrpn.ops import math as _math
from tinyrpn.ops.shape import cat
from tinyrpn.rpn._checks import positive_int
from tinyrpn.rpn.expansion import Expansion

__all__ = ["CombinatorialExpansion", "CombinatorialNormalExpansion", "NestedExpansion",
           "ExtendedExpansion"]


class CombinatorialExpansion(Expansion):
    """The r-subsets of the features, for r = 1 .. d, each subset's values side by side.

    ``CombinatorialExpansion(d=2, with_replacement=False)``: for m = 3, d = 2,
    κ(x) = [x_0, x_1, x_2, x_0, x_1, x_0, x_2, x_1, x_2]; D = Σ_r r·C(m, r).
    (A teaching expansion: it only rearranges x; the products of a Taylor expansion come
    from such tuples.)
    """

    def __init__(self, d: int = 2, with_replacement: bool = False, postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.d = positive_int(type(self).__name__, "d", d)
        self.with_replacement = bool(with_replacement)

    def count(self, m: int, r: int) -> int:
        """How many r-subsets (or multisets, with replacement) of m features there are."""
        return math.comb(m + r - 1, r) if self.with_replacement else math.comb(m, r)

    def output_dim(self, m: int) -> int:
        return sum(r * self.count(m, r) for r in range(1, self.d + 1))

    def subsets(self, m: int, r: int) -> np.ndarray:
        """The index tuples of degree r, shape (count(m, r), r), lexicographic."""
        pick = (itertools.combinations_with_replacement if self.with_replacement
                else itertools.combinations)
        return np.array(list(pick(range(m), r)), dtype=np.int64).reshape(-1, r)

    def tuples(self, x: Tensor, r: int) -> Tensor:
        """x's values at every index tuple of degree r: shape (N, count(m, r), r)."""
        return x[:, self.subsets(x.shape[1], r)]

    def expand(self, x: Tensor) -> Tensor:
        N = x.shape[0]
        blocks = [self.tuples(x, r).reshape(N, -1) for r in range(1, self.d + 1)]
        return cat(blocks, 1) if len(blocks) > 1 else blocks[0]

    def _settings(self) -> str:
        return f"d={self.d}" + (", with_replacement=True" if self.with_replacement else "")


class CombinatorialNormalExpansion(CombinatorialExpansion):
    """log N(v; 0, I_r) = −(r/2)·log 2π − ½·|v|² for every r-subset v of the features.

    ``CombinatorialNormalExpansion(d=1, with_replacement=False)``: one value per subset,
    D = Σ_{r ≤ d} C(m, r).
    """

    def __init__(self, d: int = 1, with_replacement: bool = False, postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(d, with_replacement, postprocess, preprocess)

    def output_dim(self, m: int) -> int:
        return sum(self.count(m, r) for r in range(1, self.d + 1))

    def expand(self, x: Tensor) -> Tensor:
        blocks = []
        for r in range(1, self.d + 1):
            v = self.tuples(x, r)
            blocks.append(_math.sum(v * v, 2) * -0.5 - 0.5 * r * math.log(2 * math.pi))
        return cat(blocks, 1) if len(blocks) > 1 else blocks[0]


def _expansions(owner: str, expansions: Sequence[Expansion]) -> ModuleList:
    items = list(expansions)
    if not items or not all(isinstance(e, Expansion) for e in items):
        raise ValueError(f"{owner}: expected a non-empty list of expansions, got {expansions!r}")
    return ModuleList(items)


class NestedExpansion(Expansion):
    """κ(x) = κ_k(...κ_2(κ_1(x))): expansions applied one after another.

    ``NestedExpansion(expansions)``; D chains the sizes: D = D_k(...D_1(m)). Each inner
    expansion applies its own pre- and post-processing.
    """

    def __init__(self, expansions: Sequence[Expansion], postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.expansions = _expansions("NestedExpansion", expansions)

    def output_dim(self, m: int) -> int:
        for expansion in self.expansions:
            m = expansion.output_dim(m)
        return m

    def expand(self, x: Tensor) -> Tensor:
        for expansion in self.expansions:
            x = expansion(x)
        return x

    def _settings(self) -> str:
        return "[" + ", ".join(repr(e) for e in self.expansions) + "]"


class ExtendedExpansion(NestedExpansion):
    """κ(x) = [κ_1(x), ..., κ_k(x)]: expansions side by side, D = Σ_j D_j(m).

    ``ExtendedExpansion(expansions)``; each inner expansion applies its own pre- and
    post-processing.
    """

    def output_dim(self, m: int) -> int:
        return sum(expansion.output_dim(m) for expansion in self.expansions)

    def expand(self, x: Tensor) -> Tensor:
        return cat([expansion(x) for expansion in self.expansions], 1)
