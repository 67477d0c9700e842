"""Metrics: how often a classifier is right, and :func:`evaluate`, a model's loss and
accuracy over a whole data set.

Outputs are scores of shape (N, C); targets are class indices (N,) or one-hot / ±1 vectors
(N, C), compared by argmax. Used by the Trainer after every epoch and by the plots
(:func:`tinyrpn.plot.plot_confusion_matrix`); ``tinyrpn.train`` re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Tensor, no_grad
from tinyrpn.data.checks import check_finite_batch

__all__ = ["EvalResult", "accuracy", "class_indices", "confusion_matrix", "correct_count",
           "evaluate", "to_device"]


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def class_indices(x: Any, what: str = "input") -> Any:
    """Class indices from indices (N,), or from scores / one-hot / ±1 vectors (N, C) by argmax."""
    a = _raw(x)
    if not hasattr(a, "ndim"):
        a = np.asarray(a)
    if a.ndim == 1:
        return a
    if a.ndim == 2:
        return a.argmax(axis=1)
    raise ValueError(
        f"{what} must be class indices of shape (N,) or scores/one-hot/±1 vectors of shape "
        f"(N, C); got shape {tuple(a.shape)}"
    )


def correct_count(output: Any, target: Any) -> int:
    """How many rows of ``output`` have their largest score at the target class.

    ``target`` is class indices (N,) or one-hot / ±1 vectors (N, C), compared by argmax.
    """
    out = _raw(output)
    if out.ndim != 2:
        raise ValueError(f"output must be scores of shape (N, C), got shape {tuple(out.shape)}")
    pred, true = out.argmax(axis=1), class_indices(target, "target")
    if backend.get_array_module(pred) is not backend.get_array_module(true):
        pred, true = backend.to_numpy(pred), backend.to_numpy(true)  # one is on a GPU
    if pred.shape[0] != true.shape[0]:
        raise ValueError(f"output has {pred.shape[0]} rows but target has {true.shape[0]}")
    return int((pred == true).sum())


def accuracy(output: Any, target: Any) -> float:
    """Fraction of rows where ``argmax(output) == target`` (target: indices, one-hot or ±1)."""
    n = _raw(output).shape[0]
    return correct_count(output, target) / n if n else float("nan")


def confusion_matrix(pred: Any, target: Any, num_classes: int) -> np.ndarray:
    """``M[i, j]`` = how many examples of true class ``i`` were predicted as class ``j``.

    ``pred`` and ``target`` are class indices (N,) or score / one-hot / ±1 vectors (N, C).
    Rows sum to the class counts; the diagonal holds the correct predictions.
    """
    p = backend.to_numpy(class_indices(pred, "pred")).astype(np.int64)
    t = backend.to_numpy(class_indices(target, "target")).astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"pred has {p.shape[0]} examples but target has {t.shape[0]}")
    for name, a in (("pred", p), ("target", t)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(
                f"confusion_matrix: {name} holds classes {a.min()}..{a.max()}, outside "
                f"0..{num_classes - 1} (num_classes={num_classes})"
            )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


class EvalResult(NamedTuple):
    loss: float  # mean loss per example (nan without a loss function)
    accuracy: float
    count: int  # examples seen
    # the mean of the per-batch mean losses: what tinyBIG (and many PyTorch scripts, which
    # divide the summed batch losses by len(loader)) report as the test loss. It differs
    # from ``loss`` when the last batch is smaller than the others.
    batch_mean_loss: float = float("nan")


def evaluate(model: Any, loader: Iterable[Any], loss_fn: Callable[..., Any] | None = None,
             device: str | None = None, data_name: str = "the evaluation data",
             accuracy: bool = True) -> EvalResult:
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode and without gradients.

    ``accuracy=False`` (a regression: real-valued targets) measures the loss only; the
    result's accuracy is then nan.

    ``loss_fn`` must return the batch mean (``reduction='mean'``); batch means are weighted
    by batch size, so ``loss`` is the mean over all examples (``batch_mean_loss``, their
    plain mean, is there for comparison with tools that report that). The model's
    train/eval mode is restored afterwards. A batch holding NaN or inf raises
    :class:`~tinyrpn.data.checks.BadInputData` (``data_name`` says which data in its message).
    """
    was_training = getattr(model, "training", False)
    model.eval()
    loss_sum, batch_loss_sum, batches, correct, seen = 0.0, 0.0, 0, 0, 0
    try:
        with no_grad():
            for xb, yb in loader:
                xb, yb = to_device(xb, device), to_device(yb, device)
                check_finite_batch(xb, yb, loader, f"batch {batches + 1} of {data_name}")
                out = model(xb)
                n = int(out.shape[0])
                if loss_fn is not None:
                    batch_loss = float(loss_fn(out, yb).item())
                    loss_sum += batch_loss * n
                    batch_loss_sum += batch_loss
                if accuracy:
                    correct += correct_count(out, yb)
                seen += n
                batches += 1
    finally:
        model.train(was_training)
    with_loss = seen and loss_fn is not None
    return EvalResult(loss_sum / seen if with_loss else float("nan"),
                      correct / seen if seen and accuracy else float("nan"), seen,
                      batch_loss_sum / batches if with_loss else float("nan"))


def to_device(t: Any, device: str | None) -> Any:
    """``t`` moved to ``device`` when it is a Tensor elsewhere (None: leave it where it is)."""
    if device is None or not isinstance(t, Tensor) or t.device == device:
        return t
    return t.to(device)
