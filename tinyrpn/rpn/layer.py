"""RPN heads and layers.

A **head** maps x ∈ R^m to R^n in these steps:

    z = κ(x)                  expansion                                (N × D)
    z = post(z)               its post-processing, if any
    y = z · W(w)ᵀ             reconciliation(z), from W's factors      (N × n)
    y = y + b                 a bias, when the head has one (tinyBIG's enable_bias)
    y = y + π(x)              remainder (skipped when it is zero)
    y = out(y)                output processing, if any (an activation, a norm)

``RPNHead.forward`` reads as these steps. Its fast path, ``forward_expanded(x, κ)``,
computes the same y for the structured reconciliations without storing z.

With C channels (several reconciliations, as tinyBIG's ``channel_num``), W is the mean of
their matrices: y = z · (1/C Σ_c W(w_c))ᵀ.

A **layer** runs ``width`` heads on the same input and fuses their outputs: ``'average'``
(the default, what tinyBIG does), ``'sum'``, ``'concatenate'`` (the heads' outputs side
by side; their n's add up to the layer's n), or ``'linear'`` (side by side, times a learnt
n × (n·width) matrix: y = [y_1, ..., y_H] · Pᵀ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor, as_tensor
from tinyrpn.nn import init
from tinyrpn.nn.module import Module, ModuleList, Parameter
from tinyrpn.ops.shape import cat
from tinyrpn.rpn.expansion import Expansion
from tinyrpn.rpn.reconciliation import Reconciliation
from tinyrpn.rpn.remainder import Remainder, ZeroRemainder

__all__ = ["RPNHead", "RPNLayer", "FUSIONS"]

FUSIONS = ("average", "sum", "concatenate", "linear")


def _mean_over_channels(ys: list[Tensor]) -> Tensor:
    """(1/C) Σ_c y_c: z·(mean_c W_c)ᵀ = mean_c z·W_cᵀ, so C channels need no W either."""
    if len(ys) == 1:
        return ys[0]
    y = ys[0]
    for y_c in ys[1:]:
        y = y + y_c
    return y * (1.0 / len(ys))


class RPNHead(Module):
    """y = out(post(κ(x)) · W(w)ᵀ (+ b) + π(x)),  x (N, m) → y (N, n):  one RPN head.

    ``RPNHead(m, n, expansion, reconciliation, remainder=None, output_process=None,
    bias=False)``

    - ``expansion``: an :class:`~tinyrpn.rpn.expansion.Expansion` (with its
      post-processing); it gives D = ``expansion.output_dim(m)``.
    - ``reconciliation``: a :class:`~tinyrpn.rpn.reconciliation.Reconciliation` built for
      this head's n and D, e.g. ``DualLPHMReconciliation(n, D, p=8, q=784, r=5)``.
      A list of reconciliations makes the channels: W is the mean of their matrices.
    - ``remainder``: a :class:`~tinyrpn.rpn.remainder.Remainder`; ``None`` means
      ``ZeroRemainder()``.
    - ``output_process``: steps applied to the head's output (names such as ``'silu'``,
      Modules or callables, as an expansion's ``postprocess=``).
    - ``bias``: add a learnt b (n) to the reconciled product, y = z·Wᵀ + b + π(x) (what a
      tinyBIG reconciliation's ``enable_bias`` adds); it starts Xavier-uniform on a 1 × n
      tensor, U(±√(6/(n+1))), as tinyBIG initialises it.
    """

    def __init__(self, m: int, n: int, expansion: Expansion,
                 reconciliation: Reconciliation | Sequence[Reconciliation],
                 remainder: Remainder | None = None, output_process: Any = None,
                 bias: bool = False) -> None:
        super().__init__()
        from tinyrpn.rpn.expansion import _postprocess_steps

        channels = list(reconciliation) if isinstance(reconciliation, (list, tuple)) else [
            reconciliation]
        if not channels:
            raise ValueError("RPNHead: needs at least one reconciliation")
        for extra in channels[1:]:
            if not isinstance(extra, Reconciliation) or (extra.n, extra.D) != (
                    channels[0].n, channels[0].D):
                raise ValueError("RPNHead: every channel's reconciliation must be built for "
                                 "the same n and D")
        reconciliation = channels[0]
        if not isinstance(expansion, Expansion):
            raise TypeError(f"RPNHead: expansion must be an Expansion, got "
                            f"{type(expansion).__name__}")
        if not isinstance(reconciliation, Reconciliation):
            raise TypeError(f"RPNHead: reconciliation must be a Reconciliation, got "
                            f"{type(reconciliation).__name__}")
        remainder = ZeroRemainder() if remainder is None else remainder
        if not isinstance(remainder, Remainder):
            raise TypeError(f"RPNHead: remainder must be a Remainder, got "
                            f"{type(remainder).__name__}")
        D = expansion.output_dim(m)
        if (reconciliation.n, reconciliation.D) != (n, D):
            raise ValueError(
                f"RPNHead(m={m}, n={n}): {expansion!r} turns m={m} features into D={D}, so "
                f"the reconciliation must be built for n={n}, D={D}; "
                f"{type(reconciliation).__name__} was built for n={reconciliation.n}, "
                f"D={reconciliation.D}"
            )
        remainder.bind(m, n)
        self.m, self.n, self.D = m, n, D
        self.expansion = expansion
        self.reconciliation = reconciliation
        self.extra_channels = ModuleList(channels[1:])
        self.remainder = remainder
        self.output_process = ModuleList(_postprocess_steps(output_process))
        if bias:
            self.bias = Parameter(np.zeros(n, dtype=np.float32))
            bound = math.sqrt(6.0 / (n + 1))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    @property
    def channels(self) -> int:
        """How many reconciliations (channels) the head averages."""
        return 1 + len(self.extra_channels)

    def forward(self, x: Tensor) -> Tensor:
        """y = out(post(κ(x)) · W(w)ᵀ (+ b) + π(x)),  x (N, m) → y (N, n)."""
        x = self._check_input(x)
        reconciliations = [self.reconciliation, *self.extra_channels]
        if all(rec.contracts_expansion for rec in reconciliations):
            # Fast path, the same y: each reconciliation takes x and the expansion, and
            # contracts post(κ(x)) as the expansion computes it (``forward_expanded``). A
            # degree-2 Taylor expansion without post-processing never builds κ(x) then:
            # rows of 615,440 numbers for MNIST.
            ys = [rec.forward_expanded(x, self.expansion) for rec in reconciliations]
        else:
            z = self.expansion.kappa(x)                 # κ(x), (N, D)
            for step in self.expansion.postprocess:     # post(κ(x))
                z = step(z)
            ys = [rec(z) for rec in reconciliations]    # z · W(w)ᵀ, from W's factors
        y = _mean_over_channels(ys)
        if self.bias is not None:
            y = y + self.bias                           # + b
        if not self.remainder.is_zero:
            y = y + self.remainder(x)                   # + π(x)
        for step in self.output_process:                # out(y)
            y = step(y)
        return y

    def _check_input(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.m:
            raise ValueError(f"RPNHead: expected input of shape (N, m={self.m}), got {x.shape}")
        return x

    def extra_repr(self) -> str:
        return f"m={self.m}, n={self.n}, D={self.D:,}, parameters={self.num_parameters():,}"


class RPNLayer(Module):
    """y = fuse(head_1(x), …, head_H(x)),  x (N, m) → y (N, n):  ``width`` = H heads fused.

    ``RPNLayer(m, n, heads, fusion='average')``: ``heads`` is one RPNHead or a sequence of
    them, each reading m features. With ``'average'`` (y = mean of the heads' outputs,
    tinyBIG's only behaviour) and ``'sum'``, every head maps m → n; with
    ``'concatenate'`` the heads' outputs are joined, so their n's must add up to n.
    """

    def __init__(self, m: int, n: int, heads: RPNHead | Sequence[RPNHead],
                 fusion: str = "average") -> None:
        super().__init__()
        heads = [heads] if isinstance(heads, RPNHead) else list(heads)
        if not heads:
            raise ValueError("RPNLayer needs at least one head")
        if fusion not in FUSIONS:
            raise ValueError(f"RPNLayer: unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        for i, head in enumerate(heads):
            if not isinstance(head, RPNHead):
                raise TypeError(f"RPNLayer: head {i} is a {type(head).__name__}, not an RPNHead")
            if head.m != m:
                raise ValueError(f"RPNLayer(m={m}): head {i} reads m={head.m} features")
            if fusion != "concatenate" and head.n != n:
                raise ValueError(
                    f"RPNLayer(n={n}, fusion={fusion!r}): head {i} has n={head.n}; with "
                    f"{fusion!r} fusion every head must produce n={n} outputs"
                )
        if fusion == "concatenate" and sum(h.n for h in heads) != n:
            raise ValueError(
                f"RPNLayer(n={n}, fusion='concatenate'): the heads' outputs "
                f"{[h.n for h in heads]} add up to {sum(h.n for h in heads)}, not {n}"
            )
        self.m, self.n, self.fusion = m, n, fusion
        self.heads = ModuleList(heads)
        if fusion == "linear":
            # P (n × n·width), Xavier-uniform as tinyBIG's fusion parameters
            self.fusion_weight = Parameter(np.zeros((n, n * len(heads)), dtype=np.float32))
            bound = math.sqrt(6.0 / (n + n * len(heads)))
            init.uniform_(self.fusion_weight, -bound, bound)

    @property
    def width(self) -> int:
        return len(self.heads)

    def forward(self, x: Tensor) -> Tensor:
        outputs = [head(x) for head in self.heads]
        if self.fusion == "linear":
            joined = cat(outputs, 1) if len(outputs) > 1 else outputs[0]
            return joined @ self.fusion_weight.T
        if len(outputs) == 1:
            return outputs[0]
        if self.fusion == "concatenate":
            return cat(outputs, 1)
        total = outputs[0]
        for out in outputs[1:]:
            total = total + out
        return total * (1.0 / len(outputs)) if self.fusion == "average" else total

    def extra_repr(self) -> str:
        return (f"m={self.m}, n={self.n}, width={self.width}, fusion={self.fusion!r}, "
                f"parameters={self.num_parameters():,}")
