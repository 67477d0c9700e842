"""Loss modules: ``criterion = CrossEntropyLoss(); loss = criterion(output, target)``."""

from __future__ import annotations

from tinyrpn.autograd import Tensor
from tinyrpn.nn import functional as F
from tinyrpn.nn.module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(
                f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', "
                f"got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        if isinstance(weight, str):
            raise TypeError(f"{type(self).__name__}: the first argument is the class weight; "
                            f"did you mean reduction={weight!r}?")
        super().__init__(reduction)
        # a buffer, as in PyTorch: saved in the state dict and moved by .to()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index


class CrossEntropyLoss(_WeightedLoss):
    """loss = mean_i −log softmax(x_i)[t_i],  x (N, C) logits, t (N,) class indices → ().

    Softmax cross-entropy (targets may also be class probabilities (N, C); ``reduction``
    'sum' or 'none' instead of the mean; class weights and label smoothing as PyTorch).

    See :func:`tinyrpn.nn.functional.cross_entropy`.
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """loss = mean_i −x_i[t_i],  x (N, C) log-probabilities, t (N,) class indices → ().

    Negative log-likelihood (use after ``LogSoftmax``); ``reduction`` and class weights as
    PyTorch.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """loss = mean((x − t)²),  x and t of one shape → ().

    Mean squared error (``reduction``: the mean, the sum, or each term).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    """loss = mean(−t log p − (1 − t) log(1 − p)),  p and t of one shape → ().

    Binary cross-entropy of probabilities (use after ``Sigmoid``); see
    :func:`tinyrpn.nn.functional.binary_cross_entropy`.
    """

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """loss = mean(−t log σ(x) − (1 − t) log(1 − σ(x))),  x and t of one shape → ().

    Binary cross-entropy computed from logits, stably; see
    :func:`tinyrpn.nn.functional.binary_cross_entropy_with_logits`.
    """

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
