"""Plots (tinyrpn.plot): curves from histories or run directories, digit grids, confusion
matrices. Each returns a Figure and writes a PNG when given a path."""

from __future__ import annotations

import numpy as np
import pytest

import tinyrpn
from tinyrpn import plot
from tinyrpn.train import History

PNG = b"\x89PNG\r\n\x1a\n"


def history(epochs: int = 3, steps_per_epoch: int = 20, step_evals: bool = False,
            eval_train: bool = False, scale: float = 1.0) -> History:
    h = History()
    step = 0
    for e in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            h.step_loss.append(scale * 2.0 / step)
            if step_evals and step % 10 == 0:
                h.test_steps.append(step)
                h.test_loss_at_steps.append(scale * 1.0 / step)
                h.test_acc_at_steps.append(1 - 1.0 / step)
        h.epoch.append(e)
        h.steps.append(step)
        h.train_loss.append(scale / e)
        h.train_acc.append(1 - 0.3 / e)
        h.test_loss.append(scale * 1.2 / e)
        h.test_acc.append(1 - 0.35 / e)
        if eval_train:
            h.eval_train_loss.append(scale * 0.9 / e)
            h.eval_train_acc.append(1 - 0.2 / e)
        h.lr.append(0.1)
    return h


def lines(fig):
    ax = fig.axes[0]
    return {line.get_label(): line for line in ax.get_lines()}


def test_curves_per_epoch_one_colour_per_run_with_labels(tmp_path):
    fig = plot.plot_curves([history(), history(scale=2.0)], metric="loss",
                           labels=["small", "big"], path=tmp_path / "loss.png")
    drawn = lines(fig)
    assert set(drawn) == {"small test", "small train", "big test", "big train"}
    np.testing.assert_allclose(drawn["big test"].get_ydata(), [2.4, 1.2, 0.8])
    np.testing.assert_array_equal(drawn["small test"].get_xdata(), [1, 2, 3])
    assert drawn["small test"].get_color() == drawn["small train"].get_color()
    assert drawn["small test"].get_color() != drawn["big test"].get_color()
    assert fig.axes[0].get_yscale() == "log"
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG


def test_curves_use_the_eval_mode_training_pass_when_there_is_one():
    fig = plot.plot_curves(history(eval_train=True), metric="accuracy")
    drawn = lines(fig)
    np.testing.assert_allclose(drawn["run 1 train"].get_ydata(), [0.8, 0.9, 1 - 0.2 / 3])
    assert fig.axes[0].get_yscale() == "linear"


def test_curves_from_run_directories_are_labelled_by_directory(tmp_path):
    for name in ("alpha", "beta"):
        (tmp_path / name).mkdir()
        history().save(tmp_path / name / "history.json")
    fig = plot.plot_curves([tmp_path / "alpha", str(tmp_path / "beta" / "history.json")],
                           metric="accuracy")
    assert {"alpha test", "beta test"} <= set(lines(fig))
    with pytest.raises(FileNotFoundError, match="no run directory"):
        plot.plot_curves(tmp_path / "missing")


def test_curves_per_step():
    h = history(step_evals=True)
    fig = plot.plot_curves(h, metric="accuracy", x="step")
    acc = lines(fig)["run 1 test"]
    np.testing.assert_array_equal(acc.get_xdata(), [10, 20, 30, 40, 50, 60])
    fig = plot.plot_curves(h, metric="loss", x="step")
    train = lines(fig)["run 1 train"]
    assert len(train.get_xdata()) == 60 and "run 1 test" in lines(fig)
    # Without per-step evaluations, the accuracy per step is the one at each epoch's end.
    fig = plot.plot_curves(history(), metric="accuracy", x="step")
    np.testing.assert_array_equal(lines(fig)["run 1 test"].get_xdata(), [20, 40, 60])


def test_curves_reject_bad_arguments():
    with pytest.raises(ValueError, match="metric must be one of \\['loss', 'accuracy'\\]"):
        plot.plot_curves(history(), metric="acc")
    with pytest.raises(ValueError, match="x must be one of"):
        plot.plot_curves(history(), x="time")
    with pytest.raises(ValueError, match="1 labels for 2 runs"):
        plot.plot_curves([history(), history()], labels=["a"])
    with pytest.raises(TypeError, match="expected a History"):
        plot.plot_curves([3])


def test_plot_runs_draws_loss_and_accuracy_side_by_side(tmp_path):
    fig = plot.plot_runs([history(), history()], labels=["a", "b"], path=tmp_path / "c.png")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG


def test_digits_grid_marks_wrong_predictions(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((12, 28 * 28)).astype(np.float32)  # flat rows are reshaped to 28x28
    labels = np.arange(12) % 10
    scores = np.eye(10)[labels]
    scores[3] = np.eye(10)[5]  # true 3, predicted 5
    pm1 = 2 * np.eye(10)[labels] - 1
    fig = plot.plot_digits(tinyrpn.tensor(images), pm1, predictions=scores,
                           path=tmp_path / "d.png")
    assert len(fig.axes) == 20  # 2 rows of 10, the last 8 empty
    titles = [ax.get_title() for ax in fig.axes[:12]]
    assert titles[3] == "3→5" and titles[4] == "4" and titles[11] == "1"
    assert fig.axes[3].title.get_color() == "red"
    assert fig.axes[0].get_images()[0].get_array().shape == (28, 28)
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG
    fig = plot.plot_digits(images.reshape(12, 1, 28, 28)[:3], labels[:3], ncols=2)
    assert len(fig.axes) == 4


def test_digits_reject_bad_shapes():
    with pytest.raises(ValueError, match="not square"):
        plot.plot_digits(np.zeros((2, 10)), [0, 1])
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        plot.plot_digits(np.zeros((2, 4, 4)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plot.plot_digits(np.zeros((2, 3, 4, 4)), np.array([0, 1]))


def test_confusion_matrix_plot_writes_every_count(tmp_path):
    m = np.array([[5, 1, 0], [0, 7, 2], [1, 0, 9]])
    fig = plot.plot_confusion_matrix(m, path=tmp_path / "m.png", class_names=["a", "b", "c"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in m.ravel())
    assert "accuracy 0.8400" in ax.get_title()
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="square"):
        plot.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        plot.plot_confusion_matrix(m, class_names=["a", "b"])


# -- the autograd graph ---------------------------------------------------------------------


def micrograd_example():
    """micrograd's example: L = (a*b + c) * f with a=2, b=-3, c=10, f=-2, so L = -8."""
    a, b, c, f = (tinyrpn.tensor(v, requires_grad=True) for v in (2.0, -3.0, 10.0, -2.0))
    e = a * b
    d = e + c
    L = d * f
    return dict(a=a, b=b, c=c, e=e, d=d, f=f, L=L)


def test_graph_dot_names_ops_shapes_inputs_and_values():
    t = micrograd_example()
    t["L"].backward(retain_graph=True)
    dot = plot.graph_dot(t["L"], names=t)
    assert dot.startswith("digraph tinyrpn {") and dot.rstrip().endswith("}")
    labels = dict(line.strip().split(" [label=", 1) for line in dot.splitlines()
                  if "[label=" in line and "->" not in line)
    by_text = {v.split('"')[1]: k for k, v in labels.items()}
    assert set(by_text) == {
        "L = Mul\\n()\\ndata -8", "d = Add\\n()\\ndata 4", "e = Mul\\n()\\ndata -6",
        "a\\n()\\ndata 2\\ngrad 6", "b\\n()\\ndata -3\\ngrad -4",
        "c\\n()\\ndata 10\\ngrad -2", "f\\n()\\ndata -2\\ngrad 4",
    }
    node = {text.split("\\n")[0]: key for text, key in by_text.items()}
    edges = {line.strip() for line in dot.splitlines() if "->" in line}
    assert edges == {
        f'{node["a"]} -> {node["e = Mul"]} [label="0"];',
        f'{node["b"]} -> {node["e = Mul"]} [label="1"];',
        f'{node["e = Mul"]} -> {node["d = Add"]} [label="0"];',
        f'{node["c"]} -> {node["d = Add"]} [label="1"];',
        f'{node["d = Add"]} -> {node["L = Mul"]} [label="0"];',
        f'{node["f"]} -> {node["L = Mul"]} [label="1"];',
    }


def test_graph_of_a_layer_shows_shapes_constants_and_a_tensor_used_twice():
    tinyrpn.manual_seed(0)
    layer = tinyrpn.nn.Linear(4, 3)
    x = tinyrpn.randn(5, 4)  # data: no gradient flows to it
    y = layer(x)
    dot = plot.graph_dot((y * y).sum(), names=layer.named_parameters(), values=False)
    for text in ('"weight\\n(3, 4)"', '"bias\\n(3,)"', '"no grad\\n(5, 4)"', '"AffineMap\\n(5, 3)"',
                 '"Mul\\n(5, 3)"', '"Sum\\n()"'):
        assert text in dot, text
    mul_edges = [line for line in dot.splitlines() if "->" in line and "label" in line
                 and line.split("->")[1].split()[0] == _node_of(dot, "Mul")]
    assert len(mul_edges) == 2  # y used twice: one node, two numbered arrows
    assert {e.split("->")[0].strip() for e in mul_edges} == {_node_of(dot, "AffineMap")}


def _node_of(dot: str, title: str) -> str:
    (key,) = [line.split()[0] for line in dot.splitlines()
              if f'label="{title}\\n' in line and "->" not in line]
    return key


def test_draw_graph_is_a_figure_of_boxes_and_numbered_arrows(tmp_path):
    t = micrograd_example()
    fig = plot.draw_graph(t["L"], names=t, path=tmp_path / "graph.png")
    assert (tmp_path / "graph.png").read_bytes().startswith(PNG)
    ax = fig.axes[0]
    boxes = [x.get_text() for x in ax.texts if x.get_bbox_patch() is not None
             and x.get_text() not in ("0", "1")]
    assert sorted(b.split("\n")[0] for b in boxes) == [
        "L = Mul", "a", "b", "c", "d = Add", "e = Mul", "f"]
    arrows = [x for x in ax.texts if x.get_text() == "" and hasattr(x, "arrow_patch")]
    assert len(arrows) == 6
    assert sorted(x.get_text() for x in ax.texts if x.get_text() in ("0", "1")) == ["0"] * 3 + [
        "1"] * 3
    # the tensor is in the rightmost column, the leaves a and b in the leftmost
    x_of = {x.get_text().split("\n")[0]: x.get_position()[0] for x in ax.texts}
    assert x_of["L = Mul"] > x_of["d = Add"] > x_of["e = Mul"] > x_of["a"] == x_of["b"]


def test_draw_graph_explains_what_it_cannot_draw():
    t = micrograd_example()
    with pytest.raises(ValueError, match="no graph behind this tensor"):
        plot.draw_graph(tinyrpn.tensor([1.0, 2.0]) * 2)
    with pytest.raises(ValueError, match="more than 5 nodes"):
        plot.draw_graph(t["L"], max_nodes=5)
    with pytest.raises(TypeError, match=r"names\['a'\] is a float"):
        plot.draw_graph(t["L"], names={"a": 2.0})
    t["L"].backward()
    with pytest.raises(tinyrpn.GradientError, match="freed by backward"):
        plot.graph_dot(t["L"])
    leaf = plot.graph_dot(t["a"], names={"a": t["a"]})
    assert '"a\\n()\\ndata 2\\ngrad 6"' in leaf and "->" not in leaf


@pytest.mark.parametrize("x", ["epoch", "step"])
def test_a_one_epoch_run_is_visible_with_integer_ticks(x):
    fig = plot.plot_runs([history(epochs=1, steps_per_epoch=1)], x=x)
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 1
                 and not line.get_label().startswith("_")]  # the curves of the legend
        assert lines, "a one-point curve is drawn"
        for line in lines:  # a single point shows only through its marker
            assert line.get_marker() not in (None, "None", ""), line.get_label()
        assert ax.get_xlim() == (0.5, 1.5)
        ticks = [t for t in ax.get_xticks() if 0.5 <= t <= 1.5]
        assert ticks == [1.0]


def test_digits_and_confusion_matrix_take_a_figure_size():
    images = np.zeros((4, 28, 28))
    fig = plot.plot_digits(images, [0, 1, 2, 3], figsize=(4, 1.5))
    assert tuple(fig.get_size_inches()) == (4, 1.5)
    assert tuple(plot.plot_digits(images, [0, 1, 2, 3]).get_size_inches()) == (1.1 * 4, 1.25)
    fig = plot.plot_confusion_matrix(np.eye(3), figsize=(3, 3))
    assert tuple(fig.get_size_inches()) == (3, 3)
