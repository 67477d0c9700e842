"""Trainer, History, metrics and checkpoints (tinyrpn.train).

The runs here are tiny (a 36-16-3 MLP with dropout on synthetic 6x6 "images" of three
classes, SGD with momentum, an exponential lr schedule) so that whole trainings, including a
run killed with SIGKILL and resumed, take seconds. Dropout draws from tinyrpn's random
stream and the loader shuffles and augments (a seeded RandomShift), so a resumed run only
matches an uninterrupted one if every random stream is checkpointed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import tinyrpn
from tinyrpn import nn, optim, serialization
from tinyrpn.autograd import Tensor
from tinyrpn.data import DataLoader
from tinyrpn.data.transforms import Compose, RandomShift
from tinyrpn.nn import Module
from tinyrpn.optim.lr_scheduler import ExponentialLR
from tinyrpn.train import (
    History,
    ResumeError,
    Trainer,
    TrainingDiverged,
    accuracy,
    class_indices,
    confusion_matrix,
    correct_count,
    evaluate,
)

REPO = Path(__file__).resolve().parents[1]

# -- a tiny model whose training steps can be interrupted ----------------------------------------


class Net(Module):
    """Flatten -> Linear(36, 16) -> ReLU -> Dropout(0.2) -> Linear(16, 3).

    Dropout draws from tinyrpn's random stream, so a resumed run only matches if that
    stream is checkpointed. ``hook(step)`` is called at every training-mode forward.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.2),
                                  nn.Linear(16, 3))
        self.hook = None
        self.steps = 0

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.steps += 1
            if self.hook is not None:
                self.hook(self.steps)
        return self.body(x)


cross_entropy = nn.CrossEntropyLoss()


# -- synthetic data -------------------------------------------------------------------------


def make_data(n_train: int = 300, n_test: int = 120, seed: int = 0):
    """Three classes of 6x6 images: a bright bar in row 1, 3 or 5, plus noise."""
    rng = np.random.default_rng(seed)

    def images(n):
        y = rng.integers(0, 3, n)
        x = rng.normal(0, 0.6, (n, 6, 6)).astype(np.float32)
        x[np.arange(n), 1 + 2 * y, :] += 1.0
        return x, y.astype(np.int64)

    return images(n_train), images(n_test)


CONFIG = {"name": "tiny", "seed": 7, "optimizer": {"lr": 0.05}, "training": {"epochs": 4}}
STEPS_PER_EPOCH = 10  # 300 images / batch 32, rounded up


def build(out_dir=None, epochs: int = 4, *, lookahead: bool = False, seed: int = 7,
          config=CONFIG, **kwargs) -> Trainer:
    """A whole experiment from scratch, seeded: the same call gives the same run."""
    tinyrpn.manual_seed(seed)
    np.random.seed(seed)
    (xtr, ytr), (xte, yte) = make_data()
    model = Net()
    train = DataLoader(xtr, ytr, batch_size=32, shuffle=True, seed=seed,
                       transform=Compose([RandomShift(1, seed=seed + 1)]))
    test = DataLoader(xte, yte, batch_size=50)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if lookahead:
        opt = optim.Lookahead(opt, k=3, alpha=0.5)
    return Trainer(model, train, test, cross_entropy, opt, ExponentialLR(opt, gamma=0.8),
                   epochs=epochs, out_dir=out_dir, config=config, seed=seed,
                   progress=False, **kwargs)


def weights(trainer: Trainer) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


def numbers(history: History) -> dict:
    """Everything in a History except wall-clock times."""
    d = history.to_dict()
    d.pop("train_seconds")
    d.pop("eval_seconds")
    return d


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 4-epoch run (its directory, weights and history)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    trainer = build(out)
    history = trainer.fit()
    return out, weights(trainer), history


# -- metrics ----------------------------------------------------------------------------------


def test_accuracy_with_indices_pm1_and_one_hot_targets():
    out = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.2, 0.1]])
    idx = np.array([1, 0, 0, 0])
    assert accuracy(out, idx) == 0.75
    assert correct_count(tinyrpn.tensor(out), tinyrpn.tensor(idx)) == 3
    pm1 = -np.ones((4, 3))
    pm1[np.arange(4), idx] = 1
    assert accuracy(tinyrpn.tensor(out), pm1) == 0.75
    assert accuracy(out, np.eye(3)[idx]) == 0.75
    np.testing.assert_array_equal(class_indices(pm1), idx)


def test_accuracy_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        accuracy(np.zeros(4), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="4 rows but target has 3"):
        accuracy(np.zeros((4, 3)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.zeros((4, 3)), np.zeros((4, 3, 1)))


def test_confusion_matrix_counts_true_rows_predicted_columns():
    rng = np.random.default_rng(1)
    pred, target = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    m = confusion_matrix(pred, target, 4)
    expected = np.zeros((4, 4), np.int64)
    for p, t in zip(pred, target):
        expected[t, p] += 1
    np.testing.assert_array_equal(m, expected)
    assert m.sum() == 200 and np.trace(m) == (pred == target).sum()
    scores = np.eye(4)[pred] + 0.01  # argmax gives pred back
    np.testing.assert_array_equal(confusion_matrix(tinyrpn.tensor(scores), target, 4), m)
    with pytest.raises(ValueError, match="outside 0..3"):
        confusion_matrix(np.array([0, 4]), np.array([0, 1]), 4)
    with pytest.raises(ValueError, match="2 examples but target has 3"):
        confusion_matrix(np.array([0, 1]), np.array([0, 1, 2]), 4)


def test_evaluate_weights_batches_by_size_and_restores_the_mode():
    tinyrpn.manual_seed(0)
    (_, _), (x, y) = make_data(n_test=103)
    model = Net()
    whole = evaluate(model, [(tinyrpn.tensor(x), tinyrpn.tensor(y))], cross_entropy)
    batched = evaluate(model, DataLoader(x, y, batch_size=25), cross_entropy)  # 4 x 25 + 3
    assert batched.count == whole.count == 103
    assert batched.accuracy == whole.accuracy
    assert batched.loss == pytest.approx(whole.loss, rel=1e-6)
    assert model.training  # evaluate switched to eval mode and back
    assert model.steps == 0  # and never ran the training-mode forward
    # batch_mean_loss: the plain mean of the five batch means, as tinyBIG reports its test loss
    model.eval()
    per_batch = [float(cross_entropy(model(xb), yb).item())
                 for xb, yb in DataLoader(x, y, batch_size=25)]
    assert batched.batch_mean_loss == pytest.approx(np.mean(per_batch), rel=1e-12)
    assert batched.batch_mean_loss != pytest.approx(batched.loss, rel=1e-6)
    assert whole.batch_mean_loss == whole.loss


# -- History ------------------------------------------------------------------------------


def test_history_round_trips_through_json(tmp_path):
    h = History(step_loss=[1.0, 0.5, float("nan")], epoch=[1, 2], steps=[2, 3],
                test_acc=[0.5, 0.75], test_loss=[0.7, 0.6])
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back.epoch == [1, 2] and back.test_acc == [0.5, 0.75]
    assert math.isnan(back.step_loss[2])
    assert back.best() == (2, 0.75)
    with pytest.raises(ValueError, match="unknown keys \\['bogus'\\]"):
        History.from_dict({"bogus": []})


# -- a whole run -------------------------------------------------------------------------------


def test_run_directory_holds_config_history_results_checkpoint_and_plots(reference):
    out, final_weights, history = reference
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.png", "checkpoint.npz", "config.yaml", "history.json", "loss.png",
        "results.json"]
    assert yaml.safe_load((out / "config.yaml").read_text()) == CONFIG
    assert numbers(History.load(out)) == numbers(history)
    assert history.epoch == [1, 2, 3, 4]
    assert history.steps == [10, 20, 30, 40] and len(history.step_loss) == 40
    # The model learns the bars (chance is 1/3) and the loss goes down.
    assert history.test_acc[-1] > 0.9
    assert history.test_loss[-1] < history.test_loss[0] < math.log(3)
    # lr is the rate used during each epoch; the scheduler steps once per epoch, after the test.
    assert history.lr == pytest.approx([0.05, 0.04, 0.032, 0.0256])
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "completed" and results["epochs_completed"] == 4
    assert results["final_test_acc"] == history.test_acc[-1]
    best_epoch, best = history.best()
    assert results["best_test_acc"] == best == max(history.test_acc)
    assert results["best_epoch"] == best_epoch
    assert results["num_parameters"] == 36 * 16 + 16 + 16 * 3 + 3
    assert results["seed"] == 7 and results["tinyrpn_version"] == tinyrpn.__version__
    assert 0 < results["seconds_per_epoch"] < 60 and results["peak_memory_mb"] > 10
    assert results["argv"] == sys.argv
    for png in ("loss.png", "accuracy.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The checkpoint is a plain .npz, readable without pickle, holding the final state.
    with np.load(out / "checkpoint.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["model/body.1.weight"], final_weights["body.1.weight"])
    ckpt = serialization.load(out / "checkpoint.npz")
    assert ckpt["epoch"] == 4 and ckpt["global_step"] == 40


def test_same_seed_same_numbers(reference):
    _, final_weights, history = reference
    again = build(None)
    assert numbers(again.fit()) == numbers(history)
    for k, v in weights(again).items():
        np.testing.assert_array_equal(v, final_weights[k])


def test_progress_bar_only_when_asked(capsys):
    trainer = build(None, epochs=1)
    trainer.fit()
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    trainer = build(None, epochs=1)
    trainer.progress = True
    trainer.fit()
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "test acc" in err


def test_eval_train_is_on_the_unaugmented_training_set_and_leaves_training_unchanged(reference):
    _, final_weights, history = reference
    trainer = build(None, eval_train=True)
    h = trainer.fit()
    assert numbers(h)["test_acc"] == history.test_acc  # same training
    for k, v in weights(trainer).items():
        np.testing.assert_array_equal(v, final_weights[k])
    (xtr, ytr), _ = make_data()
    plain = evaluate(trainer.model, DataLoader(xtr, ytr, batch_size=300), cross_entropy)
    assert h.eval_train_acc[-1] == plain.accuracy
    assert h.eval_train_loss[-1] == pytest.approx(plain.loss, rel=1e-5)
    assert len(h.eval_train_acc) == 4


def test_eval_every_steps_records_the_step_and_matches_the_epoch_evaluation():
    trainer = build(None, epochs=2, eval_every_steps=5)
    h = trainer.fit()
    assert h.test_steps == [5, 10, 15, 20]
    assert len(h.test_acc_at_steps) == len(h.test_loss_at_steps) == 4
    # Steps 10 and 20 are the ends of epochs 1 and 2: the same weights as the epoch's test
    # (which reuses that evaluation), and at step 20 the weights the run ends with.
    assert h.test_acc_at_steps[1::2] == h.test_acc
    assert h.test_loss_at_steps[1::2] == h.test_loss
    final = evaluate(trainer.model, trainer.test_loader, cross_entropy)
    assert (final.loss, final.accuracy) == (h.test_loss[-1], h.test_acc[-1])
    with pytest.raises(ValueError, match="eval_every_steps"):
        build(None, eval_every_steps=0)
    with pytest.raises(ValueError, match="epochs"):
        build(None, epochs=-1)


def test_lookahead_evaluates_on_slow_weights():
    trainer = build(None, epochs=2, lookahead=True, eval_every_steps=4)
    slow_weights, entered = trainer.optimizer.slow_weights, []

    def counting():
        entered.append(trainer.model.steps)  # training steps so far
        return slow_weights()

    trainer.optimizer.slow_weights = counting
    h = trainer.fit()
    # Step tests at 4, 8, ..., 20 and the test at the end of epoch 1 (step 10); epoch 2 ends
    # at step 20, whose step test it reuses. Each entered the slow weights.
    assert entered == [4, 8, 10, 12, 16, 20]
    slow = trainer.evaluate(trainer.test_loader)  # Trainer.evaluate uses the slow weights
    fast = evaluate(trainer.model, trainer.test_loader, cross_entropy)
    assert h.test_acc[-1] == slow.accuracy and h.test_loss[-1] == slow.loss
    assert fast.loss != slow.loss


def test_nan_loss_raises_training_diverged_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    trainer = build(out)
    model = trainer.model

    def loss(output, target):
        value = cross_entropy(output, target)
        nan = model.training and model.steps == 14  # epoch 2, step 4
        return value * float("nan") if nan else value

    trainer.loss_fn = loss
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 2, step 4 \(global step "
                                               r"14\).*last good checkpoint \(epoch 1\)") as e:
        trainer.fit()
    assert (e.value.epoch, e.value.step) == (2, 4) and math.isnan(e.value.loss)
    assert serialization.load(out / "checkpoint.npz")["epoch"] == 1
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "diverged" and "epoch 2, step 4" in results["error"]
    assert History.load(out).epoch == [1]


def test_infinite_loss_is_divergence_too():
    trainer = build(None, epochs=1)
    trainer.loss_fn = lambda out, target: cross_entropy(out, target) * float("inf")
    with pytest.raises(TrainingDiverged, match="loss is inf at epoch 1, step 1"):
        trainer.fit()


def test_ctrl_c_keeps_the_last_epoch_and_resume_reaches_the_same_numbers(
        tmp_path, reference, capsys):
    _, final_weights, history = reference
    out = tmp_path / "run"
    trainer = build(out)

    def interrupt(step):
        if step == 25:  # epoch 3, batch 5
            raise KeyboardInterrupt

    trainer.model.hook = interrupt
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    err = capsys.readouterr().err
    assert "interrupted during epoch 3" in err and "after epoch 2" in err and "resume" in err
    assert serialization.load(out / "checkpoint.npz")["epoch"] == 2
    assert json.loads((out / "results.json").read_text())["status"] == "interrupted"

    resumed = build(out)  # a fresh process would build the same objects
    h = resumed.fit(resume=True)
    assert numbers(h) == numbers(history)
    for k, v in weights(resumed).items():
        np.testing.assert_array_equal(v, final_weights[k])


def test_resume_after_completion_changes_nothing_and_can_extend(tmp_path, reference):
    _, final_weights, history = reference
    out = tmp_path / "run"
    build(out, epochs=2).fit()
    extended = build(out, epochs=4)  # a run continued for more epochs equals a longer run
    assert numbers(extended.fit(resume=True)) == numbers(history)
    again = build(out, epochs=4)
    assert numbers(again.fit(resume=True)) == numbers(history)
    for k, v in weights(again).items():
        np.testing.assert_array_equal(v, final_weights[k])


def test_resume_refuses_a_different_config(tmp_path):
    out = tmp_path / "run"
    build(out, epochs=1).fit()
    other = dict(CONFIG, optimizer={"lr": 0.1})
    with pytest.raises(ResumeError, match=r"optimizer.lr: 0.05 -> 0.1"):
        build(out, config=other).fit(resume=True)


def test_resume_accepts_a_checkpoint_from_before_the_dtype_key(tmp_path):
    # configs saved before `dtype` existed ran in float32; a float64 resume is another run.
    # upgrade_saved_config stands in for Experiment.trainer's with_current_defaults.
    def upgrade(saved):
        return {"dtype": "float32", **saved}

    out = tmp_path / "run"
    build(out, epochs=1, config=dict(CONFIG)).fit()  # saved without a dtype key
    build(out, epochs=2, config=dict(CONFIG, dtype="float32"),
          upgrade_saved_config=upgrade).fit(resume=True)
    assert json.loads((out / "results.json").read_text())["epochs_completed"] == 2
    with pytest.raises(ResumeError, match=r"dtype: 'float32' -> 'float64'"):
        build(out, epochs=3, config=dict(CONFIG, dtype="float64"),
              upgrade_saved_config=upgrade).fit(resume=True)
    # without the upgrade, the missing key is a difference like any other
    build(out, epochs=3, config=dict(CONFIG)).fit()
    with pytest.raises(ResumeError, match=r"dtype: None -> 'float32'"):
        build(out, epochs=4, config=dict(CONFIG, dtype="float32")).fit(resume=True)


def test_a_failing_plot_only_warns(tmp_path, monkeypatch, capsys):
    from tinyrpn import plot

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(plot, "plot_curves", broken)
    build(tmp_path / "run", epochs=1).fit()
    assert "warning: could not draw the curves: no fonts" in capsys.readouterr().err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "completed"


def test_out_dir_none_keeps_everything_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    h = build(None, epochs=1).fit()
    assert h.epoch == [1] and list(tmp_path.iterdir()) == []


# -- a real SIGKILL in the middle of an epoch ------------------------------------------------


def _child(out_dir: str, kill_at_step: int) -> None:
    """Run in a subprocess: train into ``out_dir``; SIGKILL ourselves at a training step."""
    trainer = build(Path(out_dir))
    if kill_at_step:
        def hook(step):
            if step == kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)
        trainer.model.hook = hook
    trainer.fit(resume=True)
    np.savez(Path(out_dir) / "final_weights.npz", **weights(trainer))


def _run_child(out_dir: Path, kill_at_step: int) -> subprocess.CompletedProcess:
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); import test_train; "
            f"test_train._child({str(out_dir)!r}, {kill_at_step})")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, reference):
    _, final_weights, history = reference
    out = tmp_path / "run"
    killed = _run_child(out, kill_at_step=2 * STEPS_PER_EPOCH + 6)  # epoch 3, batch 6
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert serialization.load(out / "checkpoint.npz")["epoch"] == 2
    assert History.load(out).epoch == [1, 2]
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())  # no temp file left behind

    resumed = _run_child(out, kill_at_step=0)
    assert resumed.returncode == 0, resumed.stderr
    with np.load(out / "final_weights.npz") as npz:
        for k, v in final_weights.items():
            np.testing.assert_array_equal(npz[k], v)
    assert numbers(History.load(out)) == numbers(history)
    assert json.loads((out / "results.json").read_text())["status"] == "completed"


def test_resume_refuses_a_checkpoint_of_another_model_or_optimizer(tmp_path):
    out = tmp_path / "run"
    build(out, epochs=1, config=None).fit()
    other = build(out, config=None)
    other.model.body.add_module("1", nn.Linear(36, 8))  # another shape
    with pytest.raises(ResumeError, match=r"model state does not fit this model.*body\.1"):
        other.fit(resume=True)
    other = build(out, config=None, lookahead=True)
    with pytest.raises(ResumeError, match="optimizer state does not fit this optimizer"):
        other.fit(resume=True)


# -- on every device ---------------------------------------------------------------------------


def test_metrics_take_tensors_and_arrays_on_any_device(device):
    out = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.2, 0.1]])
    idx = np.array([1, 0, 0, 0])
    on_device = tinyrpn.tensor(out, device=device)
    assert accuracy(on_device, tinyrpn.tensor(idx, device=device)) == 0.75
    assert accuracy(on_device, idx) == 0.75  # targets from the host
    assert correct_count(on_device, np.eye(3)[idx]) == 3
    m = confusion_matrix(on_device, tinyrpn.tensor(idx, device=device), 3)
    assert type(m) is np.ndarray and m.sum() == 4 and np.trace(m) == 3


def test_evaluate_on_a_device_matches_the_cpu(device):
    tinyrpn.manual_seed(0)
    (_, _), (x, y) = make_data(n_test=103)
    model = Net()
    on_cpu = evaluate(model, DataLoader(x, y, batch_size=25), cross_entropy)
    moved = evaluate(model.to(device), DataLoader(x, y, batch_size=25), cross_entropy,
                     device=device)
    assert moved.count == on_cpu.count == 103 and moved.accuracy == on_cpu.accuracy
    assert moved.loss == pytest.approx(on_cpu.loss, rel=1e-6)


@pytest.mark.device
def test_a_run_on_cuda_matches_the_cpu_run_and_resumes_there(cuda, tmp_path, reference):
    _, final_weights, history = reference
    out = tmp_path / "run"
    build(out, epochs=2, device=cuda).fit()
    resumed = build(out, epochs=4, device=cuda)
    h = resumed.fit(resume=True)  # the checkpoint is loaded back onto the device
    assert all(p.device == "cuda" for p in resumed.model.parameters())
    assert h.epoch == history.epoch and h.steps == history.steps
    np.testing.assert_allclose(h.test_loss, history.test_loss, rtol=1e-4)
    np.testing.assert_allclose(h.step_loss, history.step_loss, rtol=1e-4)
    for k, v in weights(resumed).items():
        np.testing.assert_allclose(v, final_weights[k], rtol=1e-4, atol=1e-5)
    results = json.loads((out / "results.json").read_text())
    assert results["device"] == "cuda" and results["status"] == "completed"
