"""The command line (tinyrpn.cli): exit codes, messages, and real runs end to end.

The end-to-end runs train a small MLP on a slice of the real MNIST (found in
$TINYRPN_TEST_MNIST, else $TINYRPN_DATA, else /work/shared/data/mnist; skipped where none
holds the files), through the same code path as the `tinyrpn` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyrpn import cli
from tinyrpn.train import History

REPO = Path(__file__).resolve().parents[1]
# resolved now: a relative $TINYRPN_DATA (the README's ../shared/data/mnist) must still
# point at the files after a test changes directory
MNIST = Path(os.environ.get("TINYRPN_TEST_MNIST") or os.environ.get("TINYRPN_DATA")
             or "/work/shared/data/mnist").resolve()
needs_mnist = pytest.mark.skipif(
    not (MNIST / "train-images-idx3-ubyte.gz").is_file()
    and not (MNIST / "train-images-idx3-ubyte").is_file(),
    reason=f"no MNIST files in {MNIST}",
)

MLP_CONFIG = """\
name: mlp_cli
seed: 0
data:
  dataset: {{type: mnist, download: false}}
  transforms: [scale, {{normalize: {{mean: 0.1307, std: 0.3081}}}}, flatten]
  batch_size: {batch_size}
  test_batch_size: 500
model:
  type: mlp
  sizes: [784, 128, 10]
  output: none
loss: {{type: cross_entropy}}
optimizer: {optimizer}
scheduler: {scheduler}
lookahead: {lookahead}
training:
  epochs: {epochs}
  eval_train: {eval_train}
  eval_every_steps: {eval_every_steps}
"""


def write_config(tmp_path: Path, name: str = "mlp.yaml", *, batch_size: int = 64,
                 optimizer: str = "{type: adam, lr: 1.0e-3}", scheduler: str = "null",
                 lookahead: str = "null", epochs: int = 1, eval_train: str = "false",
                 eval_every_steps: str = "null") -> Path:
    path = tmp_path / name
    path.write_text(MLP_CONFIG.format(
        batch_size=batch_size, optimizer=optimizer, scheduler=scheduler, lookahead=lookahead,
        epochs=epochs, eval_train=eval_train, eval_every_steps=eval_every_steps))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- usage errors: exit code 2, one line on stderr, no traceback -------------------------------


def test_help_and_usage_errors(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "train" in out and "Exit codes" in out
    assert run(capsys, "train", "--help")[0] == 0
    code, _, err = run(capsys)
    assert code == 2 and "required" in err
    code, _, err = run(capsys, "train")
    assert code == 2 and "CONFIG" in err
    code, _, err = run(capsys, "train", "x.yaml", "--epochs", "abc")
    assert code == 2 and "expected an integer, got 'abc'" in err
    code, _, err = run(capsys, "train", "x.yaml", "--limit-train", "0")
    assert code == 2 and "expected an integer >= 1, got 0" in err
    code, _, err = run(capsys, "fly")
    assert code == 2 and "invalid choice" in err


def test_missing_files_exit_2_with_one_line(capsys, tmp_path):
    for argv in (["train", tmp_path / "nope.yaml"], ["info", tmp_path / "nope.yaml"],
                 ["eval", tmp_path / "nope"], ["plot", tmp_path / "nope"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert str(tmp_path / "nope") in err
    (tmp_path / "run").mkdir()
    code, _, err = run(capsys, "eval", tmp_path / "run")
    assert code == 2 and "no checkpoint.npz in" in err
    (tmp_path / "run" / "checkpoint.npz").write_bytes(b"")
    code, _, err = run(capsys, "eval", tmp_path / "run")
    assert code == 2 and "no config.yaml beside" in err
    # A damaged checkpoint is a failure (1), reported in one line.
    write_config(tmp_path / "run", "config.yaml")
    (tmp_path / "run" / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run(capsys, "eval", tmp_path / "run")
    assert code == 1 and "corrupt file" in err and "Traceback" not in err


def test_bad_config_exits_2_naming_the_key(capsys, tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("sizes:", "sizez:"))
    for command in ("train", "info"):
        code, _, err = run(capsys, command, path)
        assert code == 2 and "Traceback" not in err
        assert "model.sizez" in err and "did you mean 'sizes'" in err and str(path) in err


def test_info_describes_layers_parameters_and_memory(capsys, tmp_path):
    code, out, _ = run(capsys, "info", write_config(tmp_path))
    assert code == 0
    assert "101,770 parameters" in out  # 784*128 + 128 + 128*10 + 10
    assert "784 -> 128 -> 10" in out and "memory estimate" in out


def test_plot_draws_run_directories(capsys, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        History(epoch=[1, 2], steps=[5, 10], step_loss=[1.0] * 10, train_loss=[1.0, 0.5],
                train_acc=[0.5, 0.7], test_loss=[0.9, 0.6], test_acc=[0.6, 0.8],
                lr=[0.1, 0.1]).save(tmp_path / name / "history.json")
    code, out, _ = run(capsys, "plot", tmp_path / "a")
    assert code == 0 and (tmp_path / "a" / "curves.png").is_file() and "curves.png" in out
    code, _, _ = run(capsys, "plot", tmp_path / "a", tmp_path / "b", "--x", "step",
                     "--out", tmp_path / "both.png")
    assert code == 0 and (tmp_path / "both.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run(capsys, "plot", tmp_path)
    assert code == 2 and "is not a run directory" in err


@pytest.mark.parametrize("text, said", [
    ('{"epoch": [1, 2', "is not valid JSON (Expecting ',' delimiter at line 1, column 16)"),
    ("[1, 2]", "holds a JSON list, not the mapping of lists"),
    ('{"epochs": [1]}', "History: unknown keys ['epochs']"),
])
def test_damaged_history_is_one_line_naming_the_file(capsys, tmp_path, text, said):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text('{"name": "run"}')
    (run_dir / "history.json").write_text(text)
    for command in ("report", "plot"):
        code, out, err = run(capsys, command, run_dir)
        assert code == 1 and out == "", command
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"error: {run_dir / 'history.json'}" in err and said in err, err


def test_damaged_results_is_one_line_naming_the_file(capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    History(epoch=[1], steps=[1], step_loss=[1.0], train_loss=[1.0], test_loss=[1.0],
            lr=[0.1]).save(run_dir / "history.json")
    (run_dir / "results.json").write_bytes(b'{"name": "ru')
    code, _, err = run(capsys, "report", run_dir)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{run_dir / 'results.json'} is not valid JSON" in err


def test_unexpected_errors_exit_1_with_a_traceback(capsys, tmp_path, monkeypatch):
    from tinyrpn.config import Experiment

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Experiment, "trainer", broken)
    code, _, err = run(capsys, "train", write_config(tmp_path), "--out", tmp_path / "run")
    assert code == 1 and "Traceback" in err and "RuntimeError: boom" in err


@needs_mnist
def test_ctrl_c_exits_130_and_says_how_to_resume(capsys, tmp_path, monkeypatch):
    from tinyrpn.train import Trainer

    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    run_epoch = Trainer._run_epoch

    def interrupted_in_epoch_2(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        run_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "_run_epoch", interrupted_in_epoch_2)
    config = write_config(tmp_path, epochs=3)
    code, _, err = run(capsys, "train", config, "--out", tmp_path / "run", "--limit-train",
                       "256", "--limit-test", "100", "--no-progress")
    assert code == 130
    assert "interrupted after epoch 1" in err and "holds the state after epoch 1" in err
    assert f"continue with: tinyrpn train {config} --out {tmp_path / 'run'} --resume" in err
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "interrupted"


def test_python_dash_m_runs_the_same_command_line():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "tinyrpn", "--version"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tinyrpn ")
    done = subprocess.run([sys.executable, "-m", "tinyrpn", "info", "missing.yaml"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "missing.yaml: no such config file, and no config named 'missing'" in done.stderr


# -- real runs -------------------------------------------------------------------------------


@needs_mnist
def test_train_eval_resume_end_to_end(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, "mlp_cli.yaml",
                          scheduler="{type: exponential, gamma: 0.5}")
    code, out, err = run(capsys, "train", config, "--epochs", "1", "--limit-train", "2000",
                         "--limit-test", "500", "--no-progress")
    assert code == 0, err
    run_dir = Path("runs") / "mlp_cli"  # the default: runs/<config name>
    assert f"run directory: {run_dir}" in out
    assert "epoch 1: train loss" in out and "final test accuracy" in out
    results = json.loads((run_dir / "results.json").read_text())
    assert results["limit_train"] == 2000 and results["limit_test"] == 500
    assert results["num_parameters"] == 101_770 and results["status"] == "completed"
    assert f"final test accuracy {results['final_test_acc']:.4f}" in out
    assert 0.75 < results["final_test_acc"] <= 1.0

    # eval rebuilds the model from config.yaml and reproduces the recorded test accuracy.
    code, out, err = run(capsys, "eval", run_dir, "--limit-test", "500")
    assert code == 0, err
    assert f"accuracy {results['final_test_acc']:.4f}" in out and "(after epoch 1)" in out
    code, out2, _ = run(capsys, "eval", run_dir / "checkpoint.npz", "--limit-test", "500")
    assert code == 0 and out2.split(":", 1)[1] == out.split(":", 1)[1]
    assert "batch means" not in out  # one batch of 500: both conventions agree
    # 700 images in batches of 500 and 200: the mean of the two batch means is reported too
    code, out, err = run(capsys, "eval", run_dir, "--limit-test", "700")
    assert code == 0, err
    assert "(the mean of the 2 batch means, which tinyBIG" in out

    # --resume continues the run for one more epoch, with the limits the run began with.
    code, _, err = run(capsys, "train", config, "--epochs", "3", "--limit-train", "1000",
                       "--resume")
    assert code == 2 and "--limit-train 1000 differs" in err
    code, out, err = run(capsys, "train", config, "--epochs", "2", "--resume", "--no-progress")
    assert code == 0, err
    history = History.load(run_dir)
    assert history.epoch == [1, 2] and history.lr == pytest.approx([1e-3, 5e-4])
    assert "epoch 1:" not in out and "epoch 2:" in out
    # A resumed config must be the same experiment (only training.epochs may change).
    code, _, err = run(capsys, "train", config, "--epochs", "3", "--seed", "5", "--resume")
    assert code == 2 and "different config (seed: 0 -> 5)" in err


@needs_mnist
def test_lookahead_run_records_training_set_and_step_evaluations_and_eval_uses_slow_weights(
        capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    config = write_config(tmp_path, optimizer="{type: madgrad, lr: 1.0e-3}",
                          lookahead="{k: 4, alpha: 0.8}", eval_train="true",
                          eval_every_steps="5", batch_size=100)
    run_dir = tmp_path / "run"
    # 15 steps: not a multiple of k, so the fast weights differ from the slow ones at the end.
    code, _, err = run(capsys, "train", config, "--out", run_dir, "--limit-train", "1500",
                       "--limit-test", "300", "--no-progress")
    assert code == 0, err
    history = History.load(run_dir)
    assert history.test_steps == [5, 10, 15] and len(history.eval_train_acc) == 1
    assert history.test_acc_at_steps[-1] == history.test_acc[-1]  # step 15 ends epoch 1
    results = json.loads((run_dir / "results.json").read_text())
    assert results["final_train_acc"] == history.eval_train_acc[-1]
    code, out, err = run(capsys, "eval", run_dir, "--limit-test", "300")
    assert code == 0, err
    correct = round(history.test_acc[-1] * 300)
    assert f"accuracy {history.test_acc[-1]:.4f} ({correct}/300)" in out


@needs_mnist
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_divergence_exits_1_naming_epoch_and_step(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    config = write_config(tmp_path, optimizer="{type: sgd, lr: 1.0e+30}")
    code, _, err = run(capsys, "train", config, "--out", tmp_path / "run", "--limit-train",
                       "640", "--limit-test", "100", "--no-progress")
    assert code == 1 and "Traceback" not in err
    assert "training diverged: the loss is" in err and "at epoch 1, step" in err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "diverged"


@needs_mnist
def test_small_mlp_learns_mnist(capsys, tmp_path, monkeypatch):
    """CI check of the whole path: `tinyrpn train` of a 784-128-10 MLP on 6,000 images for
    2 epochs reaches a sensible test accuracy on 1,000 test images."""
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    config = write_config(tmp_path, epochs=2)
    start = time.perf_counter()
    code, out, err = run(capsys, "train", config, "--out", tmp_path / "run", "--limit-train",
                         "6000", "--limit-test", "1000", "--no-progress")
    seconds = time.perf_counter() - start
    assert code == 0, err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    history = History.load(tmp_path / "run")
    print(f"small MLP: test accuracy {history.test_acc} in {seconds:.1f} s")
    assert history.epoch == [1, 2]
    assert results["final_test_acc"] >= 0.85
    assert history.test_loss[1] < history.test_loss[0]


def test_sweep_runs_each_dimension_and_writes_the_plots(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", os.environ.get("TINYRPN_DATA", "../shared/data/mnist"))
    out = tmp_path / "sweep"
    code = cli.main(["sweep", "configs/subspace_d1000.yaml", "--dims", "3,full",
                     "--projection", "fastfood", "--epochs", "1", "--limit-train", "512",
                     "--limit-test", "256", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert [r["dim"] for r in summary["runs"]] == [3, "full"]
    assert all(r["status"] == "completed" for r in summary["runs"])
    assert all(Path(p).is_file() for p in summary["plots"])


def test_sweep_rejects_bad_dims_before_training(capsys, tmp_path):
    code = cli.main(["sweep", "configs/subspace_d1000.yaml", "--dims", "3,lots",
                     "--out", str(tmp_path)])
    assert code == 2
    assert "--dims" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_training_diverged_survives_pickling():
    import pickle

    from tinyrpn.train import TrainingDiverged

    e = pickle.loads(pickle.dumps(TrainingDiverged("loss is nan", 2, 17, float("nan"))))
    assert (str(e), e.epoch, e.step) == ("loss is nan", 2, 17)


def test_report_prints_each_epoch_of_a_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    monkeypatch.chdir(tmp_path)  # `tinyrpn train mlp_small` finds the packaged config
    run = tmp_path / "run"
    assert cli.main(["train", "mlp_small", "--epochs", "2", "--limit-train", "300",
                     "--limit-test", "100", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    history = History.load(run / "history.json")
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == [1, 2]
    assert f"{history.test_acc[-1]:.4f}" in rows[-1]
    assert "status completed" in out and "Command: `" in out


def test_report_of_a_directory_without_a_run_exits_2(capsys, tmp_path):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
