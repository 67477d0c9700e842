"""Plots: training curves, grids of digits, confusion matrices (matplotlib, PNG).

Every function returns a matplotlib ``Figure`` (a notebook shows it inline) and, given
``path=``, also saves it as PNG. Figures are made with ``matplotlib.figure.Figure`` rather
than ``pyplot``: no display or GUI backend is needed (saving uses Agg, so it works on a
headless server), no global list of open figures grows in a loop, and a notebook shows
each figure once.

    from tinyrpn import plot
    plot.plot_curves(["runs/mlp", "runs/rpn"], metric="accuracy")    # one line per run
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyrpn import backend
from tinyrpn.autograd import Tensor
from tinyrpn.train import History, class_indices

__all__ = ["plot_confusion_matrix", "plot_curves", "plot_digits", "plot_runs"]

_METRICS = {"loss": "loss", "accuracy": "acc"}
_AXES = ("epoch", "step")


def _figure(width: float, height: float) -> Any:
    if "ipykernel" in sys.modules:
        # Importing pyplot inside Jupyter activates the inline backend, which registers
        # the display hook that shows a returned Figure as an image.
        import matplotlib.pyplot  # noqa: F401
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig: Any, path: str | os.PathLike[str] | None) -> Any:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, format="png")
    return fig


def _as_history(run: Any) -> tuple[History, str | None]:
    if isinstance(run, History):
        return run, None
    if isinstance(run, dict):
        return History.from_dict(run), None
    if isinstance(run, (str, os.PathLike)):
        path = Path(run)
        if not path.exists():
            raise FileNotFoundError(f"no run directory or history file at {path}")
        name = path.name if path.is_dir() else path.parent.name
        return History.load(path), name
    raise TypeError(
        f"plot_curves: expected a History, a dict, or a run directory / history.json path, "
        f"got {type(run).__name__}"
    )


def _as_list(runs: Any) -> list[Any]:
    return [runs] if isinstance(runs, (History, dict, str, os.PathLike)) else list(runs)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` points (shorter windows at the start)."""
    if window <= 1 or len(values) < 2:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    i = np.arange(1, len(values) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def plot_curves(
    histories_or_run_dirs: Any,
    metric: str = "loss",
    x: str = "epoch",
    labels: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    ax: Any = None,
) -> Any:
    """Loss or accuracy curves, one colour per run, labelled.

    ``histories_or_run_dirs``: one or a list of :class:`~tinyrpn.train.History`, history
    dicts, run directories or ``history.json`` paths. With ``x='epoch'`` each run draws its
    test curve (solid) and its training curve (dashed; the eval-mode pass over the training
    set when the run has one, else the running value over the epoch's batches). With
    ``x='step'``, ``metric='loss'`` draws the training loss of every step (faint) and its
    moving average, and ``metric='accuracy'`` the test accuracy measured every
    ``eval_every_steps`` steps (or at the end of each epoch when there is none). Loss axes
    are logarithmic. ``ax`` draws into an existing Axes instead of a new figure.
    """
    if metric not in _METRICS:
        raise ValueError(f"plot_curves: metric must be one of {list(_METRICS)}, got {metric!r}")
    if x not in _AXES:
        raise ValueError(f"plot_curves: x must be one of {list(_AXES)}, got {x!r}")
    loaded = [_as_history(r) for r in _as_list(histories_or_run_dirs)]
    if labels is not None and len(labels) != len(loaded):
        raise ValueError(f"plot_curves: {len(labels)} labels for {len(loaded)} runs")
    if ax is None:
        fig = _figure(7, 4.5)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    key = _METRICS[metric]
    colors = [f"C{i % 10}" for i in range(len(loaded))]
    drawn = []
    for i, (h, name) in enumerate(loaded):
        label = labels[i] if labels is not None else (name or f"run {i + 1}")
        c = colors[i]
        if x == "epoch":
            train = getattr(h, f"eval_train_{key}") or getattr(h, f"train_{key}")
            ax.plot(h.epoch, getattr(h, f"test_{key}"), "-o", color=c, ms=3,
                    label=f"{label} test")
            ax.plot(h.epoch[: len(train)], train, "--", color=c, label=f"{label} train")
            drawn += getattr(h, f"test_{key}") + list(train)
        elif metric == "loss":
            steps = np.arange(1, len(h.step_loss) + 1)
            values = np.asarray(h.step_loss, dtype=float)
            ax.plot(steps, values, color=c, alpha=0.2, lw=0.5)
            ax.plot(steps, _smooth(values, max(1, len(values) // 100)), color=c,
                    label=f"{label} train")
            if h.test_steps:
                ax.plot(h.test_steps, h.test_loss_at_steps, ":", color=c, label=f"{label} test")
            drawn += list(values) + list(h.test_loss_at_steps)
        else:
            xs, ys = ((h.test_steps, h.test_acc_at_steps) if h.test_steps
                      else (h.steps, h.test_acc))
            ax.plot(xs, ys, "-", color=c, marker="o" if len(xs) < 50 else None, ms=3,
                    label=f"{label} test")
            drawn += list(ys)
    finite = [v for v in drawn if v is not None and math.isfinite(v)]
    if metric == "loss" and finite and min(finite) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch" if x == "epoch" else "step")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5"
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per {x}")
    ax.grid(True, alpha=0.3)
    if loaded:
        ax.legend(fontsize="small")
    return _finish(fig, path)


def plot_runs(
    histories_or_run_dirs: Any,
    x: str = "epoch",
    labels: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Any:
    """Loss and accuracy side by side (two :func:`plot_curves` panels), one colour per run."""
    loaded = [_as_history(r) for r in _as_list(histories_or_run_dirs)]  # read each file once
    if labels is None:
        labels = [name or f"run {i + 1}" for i, (_, name) in enumerate(loaded)]
    histories = [h for h, _ in loaded]
    fig = _figure(13, 4.5)
    loss_ax, acc_ax = fig.subplots(1, 2)
    plot_curves(histories, "loss", x, labels, ax=loss_ax)
    plot_curves(histories, "accuracy", x, labels, ax=acc_ax)
    return _finish(fig, path)


def _images_2d(images: Any) -> np.ndarray:
    a = backend.to_numpy(images.data if isinstance(images, Tensor) else images)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1]:
            raise ValueError(f"plot_digits: rows of {a.shape[1]} pixels are not square images")
        a = a.reshape(len(a), side, side)
    if a.ndim != 3:
        raise ValueError(
            f"plot_digits: images must be (N, H, W), (N, 1, H, W) or (N, H*W), got {a.shape}"
        )
    return a


def plot_digits(
    images: Any,
    labels: Any,
    predictions: Any = None,
    path: str | os.PathLike[str] | None = None,
    ncols: int = 10,
) -> Any:
    """A grid of images, each titled with its true label (and ``true→predicted`` in red
    where the prediction is wrong).

    ``labels`` and ``predictions`` are class indices or score / one-hot / ±1 vectors.
    """
    imgs = _images_2d(images)
    true = backend.to_numpy(class_indices(labels, "labels"))
    pred = (None if predictions is None
            else backend.to_numpy(class_indices(predictions, "predictions")))
    for what, a in (("labels", true), ("predictions", pred)):
        if a is not None and len(a) != len(imgs):
            raise ValueError(f"plot_digits: {len(imgs)} images but {len(a)} {what}")
    n = len(imgs)
    cols = max(1, min(ncols, n))
    rows = max(1, math.ceil(n / cols))
    fig = _figure(1.1 * cols, 1.25 * rows)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(imgs[i], cmap="gray")
        if pred is None or pred[i] == true[i]:
            ax.set_title(str(int(true[i])), fontsize=9)
        else:
            ax.set_title(f"{int(true[i])}→{int(pred[i])}", fontsize=9, color="red")
    return _finish(fig, path)


def plot_confusion_matrix(
    matrix: Any,
    path: str | os.PathLike[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> Any:
    """A confusion matrix (rows: true class, columns: predicted) with the counts written in."""
    m = np.asarray(backend.to_numpy(matrix))
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {m.shape}")
    k = m.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for {k} classes")
    fig = _figure(0.5 * k + 2.5, 0.5 * k + 2)
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    top = m.max() if m.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{m[i, j]:g}", ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > top / 2 else "black")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = m.sum()
    acc = f" (accuracy {np.trace(m) / total:.4f})" if total else ""
    ax.set_title(f"confusion matrix{acc}")
    return _finish(fig, path)
