"""Plots: training curves, grids of digits, confusion matrices (matplotlib, PNG).

Every function returns a matplotlib ``Figure`` and, given ``path=``, also saves it as PNG.
In a notebook the figure appears in the cell that made it, once, without
``%matplotlib inline``. Figures are made with ``matplotlib.figure.Figure`` rather than
``pyplot``: no display or GUI backend is needed (saving uses Agg, so it works on a headless
server), and no global list of open figures grows in a loop.

    from tinyrpn import plot
    plot.plot_curves(["runs/mlp", "runs/rpn"], metric="accuracy")    # one line per run
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure as _MatplotlibFigure

from tinyrpn import backend, display
from tinyrpn.autograd import Tensor
from tinyrpn.history import History
from tinyrpn.metrics import class_indices

__all__ = [
    "Figure", "draw_graph", "graph_dot", "plot_confusion_matrix", "plot_curves", "plot_digits",
    "plot_runs",
]

_METRICS = {"loss": "loss", "accuracy": "acc"}
_AXES = ("epoch", "step")


class Figure(_MatplotlibFigure):
    """A matplotlib ``Figure`` that shows itself once in the notebook cell that made it,
    whether the plot function was called in the middle of the cell or its figure is the
    cell's last value (see :func:`tinyrpn.display.show_in_notebook`); elsewhere it is an
    ordinary Figure (``fig.savefig(...)``)."""


def _figure(width: float, height: float) -> Figure:
    return display.show_in_notebook(Figure(figsize=(width, height), layout="constrained"))


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

    ``histories_or_run_dirs``: one or a list of :class:`~tinyrpn.history.History`, history
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
    drawn: list[Any] = []
    xs_drawn: list[Any] = []
    for i, (h, name) in enumerate(loaded):
        label = labels[i] if labels is not None else (name or f"run {i + 1}")
        c = colors[i]
        if x == "epoch":
            train = getattr(h, f"eval_train_{key}") or getattr(h, f"train_{key}")
            ax.plot(h.epoch, getattr(h, f"test_{key}"), "-o", color=c, ms=3,
                    label=f"{label} test")
            # markers while there are few epochs: a one-epoch run is a single point
            ax.plot(h.epoch[: len(train)], train, "--", color=c, label=f"{label} train",
                    marker="o" if len(train) <= 30 else None, ms=3, mfc="none")
            xs_drawn += list(h.epoch)
            drawn += getattr(h, f"test_{key}") + list(train)
        elif metric == "loss":
            steps = np.arange(1, len(h.step_loss) + 1)
            values = np.asarray(h.step_loss, dtype=float)
            ax.plot(steps, values, color=c, alpha=0.2, lw=0.5)
            ax.plot(steps, _smooth(values, max(1, len(values) // 100)), color=c,
                    label=f"{label} train", marker="o" if len(values) == 1 else None, ms=3)
            xs_drawn += list(steps)
            if h.test_steps:
                ax.plot(h.test_steps, h.test_loss_at_steps, ":", color=c, label=f"{label} test")
            drawn += list(values) + list(h.test_loss_at_steps)
        else:
            xs, ys = ((h.test_steps, h.test_acc_at_steps) if h.test_steps
                      else (h.steps, h.test_acc))
            ax.plot(xs, ys, "-", color=c, marker="o" if len(xs) < 50 else None, ms=3,
                    label=f"{label} test")
            xs_drawn += list(xs)
            drawn += list(ys)
    finite = [v for v in drawn if v is not None and math.isfinite(v)]
    if metric == "loss" and finite and min(finite) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch" if x == "epoch" else "step")
    from matplotlib.ticker import MaxNLocator

    # no "epoch 2.5"; and one tick, not fractions, when there is a single epoch or step
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if xs_drawn and min(xs_drawn) == max(xs_drawn):  # one point: a unit-wide axis around it
        ax.set_xlim(min(xs_drawn) - 0.5, max(xs_drawn) + 0.5)
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
    """Loss and accuracy side by side (two :func:`plot_curves` panels), one colour per run;
    the loss alone when no run measured accuracy (regressions)."""
    loaded = [_as_history(r) for r in _as_list(histories_or_run_dirs)]  # read each file once
    if labels is None:
        labels = [name or f"run {i + 1}" for i, (_, name) in enumerate(loaded)]
    histories = [h for h, _ in loaded]
    if not any(h.test_acc for h in histories):  # regressions: there is no accuracy
        fig = _figure(7, 4.5)
        plot_curves(histories, "loss", x, labels, ax=fig.add_subplot())
        return _finish(fig, path)
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
    figsize: tuple[float, float] | None = None,
) -> Any:
    """A grid of images, each titled with its true label (and ``true→predicted`` in red
    where the prediction is wrong).

    ``labels`` and ``predictions`` are class indices or score / one-hot / ±1 vectors.
    ``figsize`` (inches) defaults to about 1.1 × 1.25 per image.
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
    fig = _figure(*(figsize or (1.1 * cols, 1.25 * rows)))
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
    figsize: tuple[float, float] | None = None,
) -> Any:
    """A confusion matrix (rows: true class, columns: predicted) with the counts written in.

    ``figsize`` (inches) defaults to a size that grows with the number of classes."""
    m = np.asarray(backend.to_numpy(matrix))
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {m.shape}")
    k = m.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for {k} classes")
    fig = _figure(*(figsize or (0.5 * k + 2.5, 0.5 * k + 2)))
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


# ------------------------------------------------------------------- the autograd graph

_GRAPH_COLORS = {"op": "#fde4c8", "leaf": "#cfe2f3", "constant": "#eeeeee", "root": "#d9ead3"}


class _Node:
    """One box of a drawn graph: an op (a Function), a leaf that requires grad, or an
    input that carries no gradient ("constant"). ``inputs`` are (node, input index)."""

    __slots__ = ("kind", "title", "shape", "tensor", "inputs")

    def __init__(self, kind: str, title: str, shape: tuple[int, ...], tensor: Any) -> None:
        self.kind, self.title, self.shape, self.tensor = kind, title, tuple(shape), tensor
        self.inputs: list[tuple[_Node, int]] = []

    def lines(self, values: bool) -> list[str]:
        out = [self.title, str(self.shape)]
        t = self.tensor
        if values and t is not None and t.numel() == 1:
            out.append(f"data {float(t.item()):.4g}")
            if t.grad is not None:
                out.append(f"grad {float(t.grad.item()):.4g}")
        return out


def _named(names: Any) -> dict[int, tuple[str, Tensor]]:
    """``names`` (a mapping or (name, tensor) pairs, e.g. ``model.named_parameters()``)
    keyed by the id of each tensor's node: its grad_fn, or the tensor itself for a leaf."""
    if names is None:
        return {}
    items = names.items() if hasattr(names, "items") else names
    out = {}
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"draw_graph: names[{name!r}] is a {type(t).__name__}, not a Tensor")
        out[id(t.grad_fn if t.grad_fn is not None else t)] = (str(name), t)
    return out


def _graph(tensor: Any, names: Any, max_nodes: int | None, caller: str) -> list[_Node]:
    """The graph behind ``tensor`` as nodes, the tensor's own node first."""
    from tinyrpn.autograd import Function, GradientError

    if not isinstance(tensor, Tensor):
        raise TypeError(f"{caller}: expected a Tensor, got {type(tensor).__name__}")
    if not tensor.requires_grad:
        raise ValueError(
            f"{caller}: no graph behind this tensor: none of the tensors it was computed from "
            "had requires_grad=True (or it was computed inside no_grad())"
        )
    named = _named(names)
    nodes: dict[int, _Node] = {}

    def node_for(obj: Any, shape: tuple[int, ...], tensor: Any = None) -> _Node:
        name, known = named.get(id(obj), (None, None))
        if isinstance(obj, Function):
            if obj.released:
                raise GradientError(
                    f"{caller}: the graph behind this tensor was freed by backward() (its "
                    f"{obj.name} node is gone); draw it before backward(), or call "
                    "backward(retain_graph=True)"
                )
            title = obj.name if name is None else f"{name} = {obj.name}"
            if known is not None:
                tensor = known
            elif tensor is None:
                tensor = obj.retained_output
            node = _Node("op", title, shape, tensor)
        else:
            node = _Node("leaf", "leaf" if name is None else name, shape, obj)
        nodes[id(obj)] = node
        if max_nodes is not None and len(nodes) > max_nodes:
            raise ValueError(
                f"{caller}: the graph has more than {max_nodes} nodes, too many to read in "
                f"one figure; draw a smaller part of it (say, one layer's output), pass a "
                f"larger max_nodes=, or use graph_dot() and Graphviz"
            )
        return node

    root_obj = tensor.grad_fn if tensor.grad_fn is not None else tensor
    root = node_for(root_obj, tensor.shape, tensor)
    stack = [root_obj]
    while stack:
        fn = stack.pop()
        if not isinstance(fn, Function):
            continue
        node = nodes[id(fn)]
        for i, parent in enumerate(fn.parents):
            shape = fn.input_shapes[i]
            if parent is None:
                child = _Node("constant", "no grad", shape, None)
            elif id(parent) in nodes:
                child = nodes[id(parent)]
            else:
                child = node_for(parent, shape)
                stack.append(parent)
            node.inputs.append((child, i))
    seen = {id(n) for n in nodes.values()}
    constants = [c for n in nodes.values() for c, _ in n.inputs if id(c) not in seen]
    return [root, *[n for n in nodes.values() if n is not root], *constants]


def _columns(nodes: list[_Node]) -> dict[int, tuple[int, float]]:
    """(column, row) of every node: the tensor in the rightmost column, each input left of
    every op that uses it (its longest distance from the tensor), rows ordered so that
    edges cross little (the barycentre heuristic) and input 0 tends to sit above input 1."""
    # depth = longest path from the root: visit consumers before their inputs
    order, done, stack = [], set(), [(nodes[0], False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in done:
            continue
        done.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c, _ in node.inputs if id(c) not in done)
    depth = {id(nodes[0]): 0}
    users: dict[int, list[tuple[_Node, int, int]]] = {id(n): [] for n in nodes}
    for node in reversed(order):  # every consumer before its inputs
        for c, i in node.inputs:
            depth[id(c)] = max(depth.get(id(c), 0), depth[id(node)] + 1)
            users[id(c)].append((node, i, len(node.inputs)))
    last = max(depth.values())
    layers: list[list[_Node]] = [[] for _ in range(last + 1)]
    for n in nodes:
        layers[depth[id(n)]].append(n)
    row: dict[int, float] = {}

    def place(layer: list[_Node]) -> None:
        for r, n in enumerate(layer):
            row[id(n)] = (len(layer) - 1) / 2 - r  # top row first, centred on 0

    def mean(points: list[float], default: float) -> float:
        return sum(points) / len(points) if points else default

    for layer in layers:
        place(layer)
    for _ in range(3):
        for layer in layers[1:]:  # from the tensor outwards: follow the ops that use them
            layer.sort(key=lambda n: -mean(
                [row[id(u)] + 0.3 * ((k - 1) / 2 - i) for u, i, k in users[id(n)]], row[id(n)]))
            place(layer)
        for layer in reversed(layers[:-1]):  # and back: follow the inputs
            layer.sort(key=lambda n: -mean([row[id(c)] for c, _ in n.inputs], row[id(n)]))
            place(layer)
    return {id(n): (last - depth[id(n)], row[id(n)]) for n in nodes}


def draw_graph(
    tensor: Any,
    names: Any = None,
    values: bool = True,
    max_nodes: int | None = 100,
    path: str | os.PathLike[str] | None = None,
) -> Any:
    """Draw the graph that ``backward()`` would walk from ``tensor``, as a figure.

    Each box is an op (its name and output shape, in orange), a leaf that requires grad
    (blue), or an input that carries no gradient (grey); the tensor itself is green.
    Arrows run from an input to the op that uses it; where an op has several inputs, each
    arrow is numbered with the input it is (0 for ``a`` in ``a * b``, 1 for ``b``).

    ``names`` names tensors: a mapping or (name, tensor) pairs, such as
    ``{"a": a, "e": e}`` or ``model.named_parameters()``; a named leaf shows its name
    instead of "leaf", a named result ``name = Op``. With ``values``, one-element tensors
    that the graph can reach (leaves, named results, the tensor itself) show their value,
    and their gradient once ``backward(retain_graph=True)`` has run: ``backward()`` frees
    the graph, and drawing it afterwards raises an error that says so.
    """
    nodes = _graph(tensor, names, max_nodes, "draw_graph")
    where = _columns(nodes)
    ncols = 1 + max(c for c, _ in where.values())
    nrows = max(sum(1 for c, _ in where.values() if c == col) for col in range(ncols))
    fig = _figure(min(16.0, 0.4 + 1.6 * ncols), min(12.0, 0.4 + 1.0 * nrows))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-0.6, ncols - 0.4)
    ax.set_ylim(-nrows / 2, nrows / 2)
    boxes = {}
    for n in nodes:
        x, y = where[id(n)]
        kind = "root" if n is nodes[0] else n.kind
        boxes[id(n)] = ax.text(
            x, y, "\n".join(n.lines(values)), ha="center", va="center", fontsize=10, zorder=3,
            bbox=dict(boxstyle="round,pad=0.35", fc=_GRAPH_COLORS[kind], ec="0.4", lw=0.8),
        )
    for n in nodes:
        k = len(n.inputs)
        for c, i in n.inputs:
            end = (0.0, 1 - (i + 1) / (k + 1)) if k > 1 else (0.0, 0.5)
            ax.annotate("", xy=end, xycoords=boxes[id(n)], xytext=(1.0, 0.5),
                        textcoords=boxes[id(c)], zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color="0.35", lw=0.8,
                                        shrinkA=5, shrinkB=5))
            if k > 1:  # the input's number, on its arrow, near the op
                (x0, y0), (x1, y1) = where[id(c)], where[id(n)]
                y1 += 0.25 * (1 - 2 * (i + 1) / (k + 1))  # where the arrow ends, roughly
                ax.text(x0 + 0.75 * (x1 - x0), y0 + 0.75 * (y1 - y0), str(i), fontsize=8,
                        ha="center", va="center", color="0.2", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    return _finish(fig, path)


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def graph_dot(tensor: Any, names: Any = None, values: bool = True,
              max_nodes: int | None = None) -> str:
    """The graph of :func:`draw_graph` as Graphviz DOT text, for those who have Graphviz:
    ``dot -Tsvg graph.dot > graph.svg``, or ``graphviz.Source(text)`` in a notebook."""
    nodes = _graph(tensor, names, max_nodes, "graph_dot")
    index = {id(n): j for j, n in enumerate(nodes)}
    out = ["digraph tinyrpn {", "  rankdir=LR;",
           '  node [fontname="Helvetica", fontsize=10, style=filled];']
    for n in nodes:
        kind = "root" if n is nodes[0] else n.kind
        label = "\\n".join(_dot_text(line) for line in n.lines(values))
        shape = "ellipse" if n.kind == "op" else "box"
        out.append(f'  n{index[id(n)]} [label="{label}", shape={shape}, '
                   f'fillcolor="{_GRAPH_COLORS[kind]}"];')
    for n in nodes:
        for c, i in n.inputs:
            edge_label = f' [label="{i}"]' if len(n.inputs) > 1 else ""
            out.append(f"  n{index[id(c)]} -> n{index[id(n)]}{edge_label};")
    out.append("}")
    return "\n".join(out) + "\n"
