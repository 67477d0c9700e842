"""The Reconciled Polynomial Network: RPN layers applied one after another.

Nothing sits between the layers (no activation): an RPN's non-linearity is its data
expansions (and their post-processing). ``make_rpn`` builds the common case, one
expansion/reconciliation recipe per layer, from a list of widths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor, as_tensor
from tinyrpn.nn.module import Module, ModuleList
from tinyrpn.rpn.expansion import Expansion
from tinyrpn.rpn.layer import RPNHead, RPNLayer
from tinyrpn.rpn.reconciliation import Reconciliation
from tinyrpn.rpn.remainder import Remainder

__all__ = ["RPN", "make_rpn"]


class RPN(Module):
    """``RPN(layers)``: a sequence of :class:`~tinyrpn.rpn.layer.RPNLayer`, each layer's n
    equal to the next one's m.

    ``forward`` takes a batch (N, m); a batch of images (N, 1, 28, 28) whose sample size
    is m is flattened first.
    """

    def __init__(self, layers: Sequence[RPNLayer]) -> None:
        super().__init__()
        layers = list(layers)
        if not layers:
            raise ValueError("RPN needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, RPNLayer):
                raise TypeError(f"RPN: layer {i} is a {type(layer).__name__}, not an RPNLayer")
            if i and layers[i - 1].n != layer.m:
                raise ValueError(
                    f"RPN: layer {i - 1} produces n={layers[i - 1].n} features but layer {i} "
                    f"reads m={layer.m}"
                )
        self.layers = ModuleList(layers)

    @property
    def m(self) -> int:
        return self.layers[0].m

    @property
    def n(self) -> int:
        return self.layers[-1].n

    @property
    def depth(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        if x.ndim > 2 and int(np.prod(x.shape[1:])) == self.m:
            x = x.reshape(x.shape[0], self.m)
        for layer in self.layers:
            x = layer(x)
        return x

    def extra_repr(self) -> str:
        dims = " → ".join(str(d) for d in [self.m] + [layer.n for layer in self.layers])
        return f"[{dims}], depth={self.depth}, parameters={self.num_parameters():,}"


def _per_layer(recipe: Any, depth: int, what: str) -> list[Any]:
    if isinstance(recipe, (list, tuple)):
        if len(recipe) != depth:
            raise ValueError(f"make_rpn: {len(recipe)} {what} recipes for {depth} layers")
        return list(recipe)
    return [recipe] * depth


def make_rpn(dims: Sequence[int],
             expansion: Callable[[int], Expansion] | Sequence[Callable[[int], Expansion]],
             reconciliation: Callable[[int, int], Reconciliation]
             | Sequence[Callable[[int, int], Reconciliation]],
             remainder: Callable[[int, int], Remainder] | None = None,
             width: int = 1, fusion: str = "average") -> RPN:
    """An RPN with layers dims[0] → dims[1] → ... → dims[-1].

    ``expansion(m)`` makes a head's expansion, ``reconciliation(n, D)`` its
    reconciliation, ``remainder(m, n)`` its remainder (default zero); each may instead be a
    list with one recipe per layer. Every layer gets ``width`` independent heads. E.g. the
    dual-LPHM model of REFERENCE.md §2 (in the documented Kronecker layout)::

        make_rpn([784, 64, 64, 10],
                 expansion=lambda m: TaylorExpansion(d=2, postprocess="layer_norm"),
                 reconciliation=[lambda n, D: DualLPHMReconciliation(n, D, p=8, q=784, r=5),
                                 lambda n, D: DualLPHMReconciliation(n, D, p=8, q=64, r=5),
                                 lambda n, D: DualLPHMReconciliation(n, D, p=2, q=64, r=5)])

    Parameters are drawn from ``tinyrpn.random.default_generator()``: call
    ``tinyrpn.manual_seed(seed)`` first for a reproducible model.
    """
    dims = [int(d) for d in dims]
    if len(dims) < 2:
        raise ValueError(f"make_rpn: dims needs at least an input and an output size, got {dims}")
    depth = len(dims) - 1
    expansions = _per_layer(expansion, depth, "expansion")
    reconciliations = _per_layer(reconciliation, depth, "reconciliation")
    remainders = _per_layer(remainder, depth, "remainder")
    layers = []
    for i, (m, n) in enumerate(zip(dims[:-1], dims[1:])):
        heads = []
        for _ in range(width):
            kappa = expansions[i](m)
            D = kappa.output_dim(m)
            pi = remainders[i](m, n) if remainders[i] is not None else None
            heads.append(RPNHead(m, n, kappa, reconciliations[i](n, D), pi))
        layers.append(RPNLayer(m, n, heads, fusion=fusion))
    return RPN(layers)
