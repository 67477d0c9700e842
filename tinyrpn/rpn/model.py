"""The Reconciled Polynomial Network: RPN layers applied one after another.

Nothing sits between the layers (no activation): an RPN's non-linearity is its data
expansions (and their post-processing). ``make_rpn`` builds the common case, one
expansion/reconciliation recipe per layer, from a list of widths. ``init_like_tinybig``
gives an RPN the initial weights a tinyBIG script draws from PyTorch's generator, and
``tinybig_torch_stream`` continues that stream for the script's data loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor, as_tensor
from tinyrpn.nn.module import Module, ModuleList
from tinyrpn.random import TorchCPUGenerator
from tinyrpn.rpn.expansion import Expansion
from tinyrpn.rpn.layer import RPNHead, RPNLayer
from tinyrpn.rpn.reconciliation import Reconciliation
from tinyrpn.rpn.remainder import Remainder

__all__ = ["RPN", "init_like_tinybig", "make_rpn", "tinybig_torch_stream"]


class RPN(Module):
    """y = layer_K(… layer_1(x)),  x (N, m_1) → y (N, n_K):  RPN layers one after another.

    ``RPN(layers)``: a sequence of :class:`~tinyrpn.rpn.layer.RPNLayer`, each layer's n
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
    dual-LPHM model of docs/EXPERIMENTS.md §2 (in the documented Kronecker layout)::

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


# ----------------------------------------------------------------------------- tinyBIG's start


def tinybig_torch_stream(torch_seed: int, head_sizes: Sequence[int]) -> TorchCPUGenerator:
    """PyTorch's CPU stream where a tinyBIG 0.1.1 script's data loaders start drawing.

    After ``torch.manual_seed(torch_seed)`` the script builds the model, which takes two
    numbers per parameter from the stream (see :func:`init_like_tinybig`); ``head_sizes``
    are the heads' parameter counts (l, plus n·m with a linear remainder), in order. The
    data (``tinyrpn.data.functions``) and the loaders draw next
    (``DataLoader(torch_stream=...)``).
    """
    stream = TorchCPUGenerator(torch_seed)
    stream.skip(2 * sum(int(l) for l in head_sizes))
    return stream


def init_like_tinybig(model: RPN, torch_seed: int) -> None:
    """Give every head the parameters tinyBIG 0.1.1 draws after ``torch.manual_seed(torch_seed)``.

    tinyBIG makes each head's parameter vector with ``torch.rand(1, l)`` (the numbers are
    never used), and once the whole model is built it initialises every head, in order,
    with ``xavier_uniform_`` on that 1 × l tensor: U(±√3·√(2/(l+1))). So PyTorch's stream
    gives l₁ + l₂ + ... unused numbers, then l₁ numbers for head 1, l₂ for head 2, and so
    on; :class:`~tinyrpn.random.TorchCPUGenerator` reproduces them bit for bit (as
    PyTorch's x86 CPU kernels round), without PyTorch. A head with a linear remainder
    without bias also has w' (n × m): tinyBIG makes it with ``torch.rand(n, m)`` right after
    that head's w, and initialises it with ``xavier_uniform_`` right after that head's w.
    Only heads whose parameters are their reconciliation's w, and that w', can start like
    this (tinyBIG's zero remainder and its untrained LayerNorm have none).
    """
    if not isinstance(model, RPN):
        raise TypeError(f"init_like_tinybig expects an RPN, got {type(model).__name__}")
    heads = [(i, j, head) for i, layer in enumerate(model.layers)
             for j, head in enumerate(layer.heads)]
    for i, j, head in heads:
        names = [name for name, _ in head.named_parameters()]
        if names not in (["reconciliation.w"], ["reconciliation.w", "remainder.weight"]):
            raise ValueError(
                f"init_like_tinybig: layer {i} head {j} has the parameters {names}; tinyBIG's "
                "initialisation is reproduced only for heads whose parameters are "
                "reconciliation.w and, for a linear remainder without bias, remainder.weight "
                "(post-processing without affine parameters)"
            )
    stream = TorchCPUGenerator(torch_seed)
    # torch.rand(1, l) and torch.rand(n, m) of each head, as tinyBIG makes them: unused
    stream.skip(sum(p.numel() for _, _, head in heads for p in head.parameters()))
    for _, _, head in heads:
        w = head.reconciliation.w
        values = stream.xavier_uniform(1, head.reconciliation.l).reshape(w.shape)
        w.data[...] = w.xp.asarray(values, dtype=w.data.dtype)
        weight = getattr(head.remainder, "weight", None)
        if weight is not None:  # w' (n x m): fan_in m, fan_out n
            values = stream.xavier_uniform(*weight.shape)
            weight.data[...] = weight.xp.asarray(values, dtype=weight.data.dtype)
