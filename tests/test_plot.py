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
