"""Faults and bad input: what a run does when the data, the disk or another run goes wrong.

- data errors from the command line: exit code 3, one line, no run directory left behind;
- two runs into one run directory: the second refuses at once, naming the first, and the
  first finishes intact; a killed run leaves no lock behind (tinyrpn.rundir);
- ``tinyrpn eval`` needs only the two test files;
- a failed write (disk full, read-only folder) keeps the previous file and says so;
- a NaN or inf in a batch of input data stops the run, naming the batch.

Nothing here needs the real MNIST or the network: the data are small IDX files written by
the tests (their md5 checks switched off), downloads are monkeypatched to fail, and failed
writes are made by monkeypatching ``os.replace`` (the tests run as root on the shared
machine, where a chmod'ed read-only folder would not stop a write).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyrpn
from tinyrpn import cli, nn, optim, serialization
from tinyrpn.data import DataLoader, mnist
from tinyrpn.data import transforms as data_transforms
from tinyrpn.data.checks import BadInputData
from tinyrpn.rundir import LOCK, RunDirectoryInUse, SaveError, run_lock
from tinyrpn.train import Trainer, evaluate

REPO = Path(__file__).resolve().parents[1]
CHILD_ENV = dict(os.environ, PYTHONPATH=str(REPO))

CONFIG = """\
name: faults
seed: 0
data:
  dataset: {{type: mnist, download: {download}}}
  transforms: [scale, {{normalize: {{mean: 0.1307, std: 0.3081}}}}, flatten]
  batch_size: 32
  test_batch_size: 50
model: {{type: mlp, sizes: [784, 16, 10], output: none}}
loss: {{type: cross_entropy}}
optimizer: {{type: adam, lr: 1.0e-3}}
training: {{epochs: {epochs}}}
"""


def write_config(tmp_path: Path, *, download: str = "false", epochs: int = 1) -> Path:
    path = tmp_path / "faults.yaml"
    path.write_text(CONFIG.format(download=download, epochs=epochs))
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000080<ndim>, the sizes, the values."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch) -> Path:
    """A data folder with four small MNIST-shaped files (128 train, 100 test), md5 off."""
    root = tmp_path / "mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 128), ("test", 100)):
        images, labels = mnist.FILES[split]
        (root / images).write_bytes(idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        (root / f"{labels}.gz").write_bytes(gzip.compress(idx_bytes(rng.integers(0, 10, n))))
        monkeypatch.setitem(mnist.MD5, images, None)
        monkeypatch.setitem(mnist.MD5, labels, None)
    monkeypatch.setenv("TINYRPN_DATA", str(root))
    mnist.clear_cache()
    yield root
    mnist.clear_cache()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


# -- data errors from the command line ---------------------------------------------------------


def test_data_errors_exit_3_in_one_line_and_leave_no_run_directory(capsys, tmp_path,
                                                                   fake_mnist, monkeypatch):
    import requests

    config = write_config(tmp_path)
    run_dir = tmp_path / "run"
    test_images = fake_mnist / "t10k-images-idx3-ubyte"
    good = test_images.read_bytes()

    def refused(*args, **kwargs):
        raise requests.ConnectionError("no network in this test")

    monkeypatch.setattr(requests.Session, "get", refused)
    cases = {
        "garbage": lambda: test_images.write_bytes(b"this is not an IDX file at all"),
        "truncated gzip": lambda: (test_images.unlink(), test_images.with_suffix(".gz")
                                   .write_bytes(gzip.compress(good)[:500])),
        "missing": lambda: test_images.with_suffix(".gz").unlink(),
    }
    expected = {"garbage": "it is not an MNIST IDX file",
                "truncated gzip": "is a corrupt or truncated gzip file",
                "missing": "MNIST test files missing"}
    for case, damage in cases.items():
        damage()
        mnist.clear_cache()
        code, out, err = run(capsys, "train", config, "--out", run_dir, "--no-progress")
        assert code == 3, (case, err)
        assert one_line(err), (case, err)
        assert expected[case] in err and "What to do" in err and str(fake_mnist) in err, err
        assert "run directory" not in out and not run_dir.exists(), case
    # a missing folder with no network: the download fails, in one line
    monkeypatch.setenv("TINYRPN_DATA", str(tmp_path / "nowhere"))
    code, out, err = run(capsys, "train", write_config(tmp_path, download="true"), "--out",
                         run_dir, "--no-progress")
    assert code == 3 and one_line(err), err
    assert "could not download t10k-images-idx3-ubyte.gz from any mirror" in err
    assert "no network in this test" in err and "What to do" in err
    assert "run directory" not in out and not run_dir.exists()


# -- one run at a time in a run directory ------------------------------------------------------


def hold_lock_in_child(run_dir: Path) -> subprocess.Popen:
    """A child process that takes ``run_dir``'s lock and keeps it until its stdin closes."""
    code = ("import sys\nfrom tinyrpn.rundir import run_lock\nwith run_lock(sys.argv[1]):\n"
            "    print('locked', flush=True)\n    sys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], env=CHILD_ENV,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def small_trainer(out_dir: Path | None, epochs: int, n: int = 128, **kwargs) -> Trainer:
    """A 8-16-3 MLP on random data, seeded: the same every time it is built."""
    tinyrpn.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = rng.integers(0, 3, n)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    train = DataLoader(x, y, batch_size=32, shuffle=True, seed=0)
    test = DataLoader(x[:64].copy(), y[:64], batch_size=32)
    return Trainer(model, train, test, nn.CrossEntropyLoss(),
                   optim.SGD(model.parameters(), lr=0.1), epochs=epochs, out_dir=out_dir,
                   progress=False, **kwargs)


def snapshot(run_dir: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(run_dir.iterdir())
            if p.is_file() and p.name != LOCK}


def test_a_second_run_into_a_busy_directory_refuses_at_once_and_the_first_finishes(tmp_path):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path, epochs=3)
    seen = {}

    def second_run(epoch, record):
        if epoch != 1:
            return
        before = snapshot(run_dir)
        # The second run has no data folder at all: it must refuse before it looks for one.
        env = dict(CHILD_ENV, TINYRPN_DATA=str(tmp_path / "no-data-here"))
        done = subprocess.run([sys.executable, "-m", "tinyrpn", "train", str(config), "--out",
                               str(run_dir), "--no-progress"], env=env, capture_output=True,
                              text=True, timeout=120)
        seen.update(code=done.returncode, out=done.stdout, err=done.stderr,
                    unchanged=snapshot(run_dir) == before)

    trainer = small_trainer(run_dir, epochs=3, on_epoch_end=second_run)
    history = trainer.fit()
    assert seen["code"] == 2, seen
    assert one_line(seen["err"]), seen["err"]
    assert f"the run directory {run_dir} is in use by another run (process {os.getpid()}" \
           in seen["err"]
    assert "run directory:" not in seen["out"] and seen["unchanged"]
    # the first run finished intact, and let go of the directory
    assert history.epoch == [1, 2, 3]
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    assert serialization.load(run_dir / "checkpoint.npz")["epoch"] == 3
    assert not (run_dir / LOCK).exists()


def test_the_lock_names_its_holder_and_a_killed_holder_leaves_it_free(tmp_path):
    run_dir = tmp_path / "run"
    child = hold_lock_in_child(run_dir)
    try:
        with pytest.raises(RunDirectoryInUse) as info, run_lock(run_dir):
            pass
        assert info.value.holder["pid"] == child.pid
        assert f"process {child.pid} on " in str(info.value) and str(run_dir / LOCK) in str(
            info.value)
        # SIGKILL: the child cannot clean up, its lock file stays behind...
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert json.loads((run_dir / LOCK).read_text())["pid"] == child.pid
    finally:
        child.kill()
        child.wait()
    # ...but the lock went with the process: the directory is free.
    with run_lock(run_dir):
        assert json.loads((run_dir / LOCK).read_text())["pid"] == os.getpid()
    assert not (run_dir / LOCK).exists()


def test_a_run_removes_the_temporary_files_of_a_run_killed_while_saving(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    left = [run_dir / ".checkpoint.npz.k2j4x9.tmp", run_dir / ".results.json.4242.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    small_trainer(run_dir, epochs=1).fit()
    assert not any(path.exists() for path in left)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "accuracy.png", "checkpoint.npz", "history.json", "loss.png", "results.json"]


def test_a_lock_file_naming_a_live_process_does_not_block_without_the_lock(tmp_path):
    # The rule is the system's lock, not the PID written in the file: a PID that is alive
    # (here our own; after a crash it could be an unrelated process that reused it) is not
    # a holder unless that process holds the lock.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": "here"}))
    with run_lock(run_dir), run_lock(run_dir):  # and re-entrant within a process
        pass
    assert not (run_dir / LOCK).exists()


def test_a_directory_that_cannot_be_created_is_one_line(capsys, tmp_path, fake_mnist):
    (tmp_path / "a-file").write_text("")
    code, _, err = run(capsys, "train", write_config(tmp_path), "--out",
                       tmp_path / "a-file" / "run", "--no-progress")
    assert code == 1 and one_line(err), err
    assert f"could not lock the run directory: cannot create {tmp_path / 'a-file'}" in err


# -- eval reads the test files only ------------------------------------------------------------


def test_eval_needs_only_the_two_test_files(capsys, tmp_path, fake_mnist):
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", write_config(tmp_path), "--out", run_dir,
                       "--no-progress")
    assert code == 0, err
    accuracy = json.loads((run_dir / "results.json").read_text())["final_test_acc"]
    for name in mnist.FILES["train"]:
        for path in fake_mnist.glob(f"{name}*"):
            path.unlink()
    mnist.clear_cache()
    code, out, err = run(capsys, "eval", run_dir)
    assert code == 0, err
    assert f"accuracy {accuracy:.4f} ({round(accuracy * 100)}/100)" in out


# -- a write that fails ------------------------------------------------------------------------


def failing_replace(monkeypatch, name: str, when=lambda: True) -> None:
    """Make os.replace onto a file called ``name`` fail with ENOSPC while ``when()``."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name and when():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_a_checkpoint_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    trainer = small_trainer(run_dir, epochs=3)
    failing_replace(monkeypatch, "checkpoint.npz", when=lambda: trainer.epoch >= 2)
    with pytest.raises(SaveError) as info:
        trainer.fit()
    message = str(info.value)
    assert isinstance(info.value, OSError)
    assert f"could not write {run_dir / 'checkpoint.npz'}: No space left on device" in message
    assert f"{run_dir / 'checkpoint.npz'} still holds the state after epoch 1" in message
    assert serialization.load(run_dir / "checkpoint.npz")["epoch"] == 1
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    # with space again, the run resumes from epoch 1 and ends where an unbroken run ends
    monkeypatch.undo()
    resumed = small_trainer(run_dir, epochs=3).fit(resume=True)
    unbroken = small_trainer(tmp_path / "unbroken", epochs=3).fit()
    assert resumed.epoch == [1, 2, 3] and resumed.test_loss == unbroken.test_loss


def test_a_results_file_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    trainer = small_trainer(run_dir, epochs=3)
    failing_replace(monkeypatch, "results.json", when=lambda: trainer.epoch >= 2)
    with pytest.raises(SaveError, match="could not write .*results.json: No space left"):
        trainer.fit()
    assert json.loads((run_dir / "results.json").read_text())["epochs_completed"] == 1
    assert serialization.load(run_dir / "checkpoint.npz")["epoch"] == 2


def test_a_failed_write_on_the_command_line_is_one_line(capsys, tmp_path, fake_mnist,
                                                        monkeypatch):
    failing_replace(monkeypatch, "checkpoint.npz")
    code, _, err = run(capsys, "train", write_config(tmp_path), "--out", tmp_path / "run",
                       "--no-progress")
    assert code == 1 and one_line(err), err
    assert "checkpoint.npz: No space left on device" in err
    assert "no checkpoint was saved yet" in err


def test_a_full_disk_or_a_folder_without_permission_is_one_line_for_every_command(
        capsys, tmp_path, monkeypatch):
    from tinyrpn import plot
    from tinyrpn.train import History

    History(epoch=[1], test_acc=[0.5], test_loss=[1.0], train_loss=[1.0], train_acc=[0.5],
            steps=[1], step_loss=[1.0]).save(tmp_path / "history.json")
    for error in (errno.ENOSPC, errno.EACCES):
        def full(*args, error=error, **kwargs):
            raise OSError(error, os.strerror(error), str(tmp_path / "curves.png"))

        monkeypatch.setattr(plot, "plot_runs", full)
        code, _, err = run(capsys, "plot", tmp_path)
        assert code == 1 and one_line(err), err
        assert f"{os.strerror(error)}: {tmp_path / 'curves.png'} (free some space" in err


# -- NaN or inf in the input data --------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_value_in_a_training_batch_stops_the_run_naming_the_batch(tmp_path, bad):
    run_dir = tmp_path / "run"

    def corrupt(epoch, record):  # as a corrupted cache would, between two epochs
        if epoch == 1:
            trainer.train_loader.images[37, 2] = bad

    trainer = small_trainer(run_dir, epochs=3, on_epoch_end=corrupt)
    with pytest.raises(BadInputData) as info:
        trainer.fit()
    message = str(info.value)
    assert "bad input data: training batch " in message and " of epoch 2 " in message
    assert "holds NaN or inf in its inputs (1 of 32 rows: " in message
    assert "examples 37 of its arrays" in message
    assert f"the last good checkpoint (epoch 1) is {run_dir / 'checkpoint.npz'}" in message
    state = serialization.load(run_dir / "checkpoint.npz")
    assert state["epoch"] == 1
    assert all(np.isfinite(w.data).all() for w in state["model"].values())
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "bad_input" and results["error"] == message


def test_huge_finite_inputs_are_not_taken_for_bad_data():
    from tinyrpn.data.checks import check_finite_batch

    x = np.ones((4, 3), np.float32)
    x[2, 1] = 3e38  # finite, but its square overflows float32
    check_finite_batch(x, np.zeros(4, np.int64), None, "batch 1")
    x[3, 0] = -np.inf
    with pytest.raises(BadInputData, match=r"batch 1 holds NaN or inf in its inputs \(1 of 4 "
                                           r"rows: 3\)"):
        check_finite_batch(x, np.zeros(4, np.int64), None, "batch 1")


def test_a_bad_value_in_the_targets_or_the_test_set_is_named_too(tmp_path):
    model = nn.Linear(4, 3)
    x = np.zeros((10, 4), np.float32)
    targets = np.full((10, 3), -1.0, np.float32)
    targets[7, 1] = np.nan
    with pytest.raises(BadInputData, match=r"batch 2 of the evaluation data holds NaN or inf "
                                           r"in its targets \(1 of 5 rows: 2; examples 7"):
        evaluate(model, DataLoader(x, targets, batch_size=5), nn.MSELoss())
    trainer = small_trainer(None, epochs=1)
    trainer.test_loader.images[40, 0] = np.nan
    with pytest.raises(BadInputData, match="batch 2 of the test set holds NaN"):
        trainer.fit()


def test_a_transform_that_makes_nan_exits_3_in_one_line(capsys, tmp_path, fake_mnist,
                                                       monkeypatch):
    flatten = data_transforms.flatten

    def flatten_with_a_nan(x):
        x = flatten(x).copy()
        x[3, 100] = np.nan
        return x

    monkeypatch.setattr(data_transforms, "flatten", flatten_with_a_nan)
    code, _, err = run(capsys, "train", write_config(tmp_path), "--out", tmp_path / "run",
                       "--no-progress")
    assert code == 3 and one_line(err), err
    # flatten runs once over the whole set; the shuffle puts image 3 into some batch
    assert "bad input data: training batch " in err and " of epoch 1 (global step " in err
    assert "holds NaN or inf in its inputs (1 of 32 rows: " in err and "examples 3 of" in err


def test_the_errors_pickle_as_a_sweep_sends_them_from_its_child_processes():
    import pickle

    from tinyrpn.data import MNISTDownloadError, MNISTFileError, MNISTNotFoundError

    for error in (MNISTFileError("/data/x", "is truncated", "What to do: ..."),
                  MNISTNotFoundError("missing"), MNISTDownloadError("no network"),
                  RunDirectoryInUse("in use", "/runs/x", {"pid": 1}), SaveError("disk full"),
                  BadInputData("NaN")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


# -- a damaged file on resume changes nothing and says what to do ------------------------------


def test_a_damaged_checkpoint_or_results_file_on_resume_changes_nothing(capsys, tmp_path,
                                                                        fake_mnist):
    config = write_config(tmp_path)
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", config, "--out", run_dir, "--no-progress")
    assert code == 0, err
    ckpt = run_dir / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # truncated
    before = snapshot(run_dir)
    code, _, err = run(capsys, "train", config, "--out", run_dir, "--resume", "--epochs", "2",
                       "--no-progress")
    assert code == 1 and one_line(err), err
    assert f"cannot resume: load: corrupt file '{ckpt}'" in err
    assert f"put back a good copy of {ckpt}, or start the run again without resuming" in err
    assert snapshot(run_dir) == before
    code, _, err = run(capsys, "eval", run_dir)
    assert code == 1 and one_line(err) and f"put back a good copy of {ckpt}" in err, err

    (run_dir / "results.json").write_text('{"status": "comp')  # cut off
    before = snapshot(run_dir)
    code, _, err = run(capsys, "train", config, "--out", run_dir, "--resume", "--epochs", "2",
                       "--no-progress")
    assert code == 2 and one_line(err), err
    assert f"cannot resume: {run_dir / 'results.json'} is damaged" in err
    assert snapshot(run_dir) == before and not (run_dir / LOCK).exists()


def test_lecun1989_test_set_alone_needs_no_training_file(tmp_path, monkeypatch):
    from tinyrpn.config import load_config
    from tinyrpn.data import lecun1989_subset

    root = tmp_path / "mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    images, labels = mnist.FILES["test"]  # full size: the subset draws from all 10,000
    (root / images).write_bytes(idx_bytes(rng.integers(0, 256, (10000, 28, 28))))
    (root / labels).write_bytes(idx_bytes(rng.integers(0, 10, 10000)))
    for name in (images, labels):
        monkeypatch.setitem(mnist.MD5, name, None)
    monkeypatch.setenv("TINYRPN_DATA", str(root))
    mnist.clear_cache()
    try:
        exp = load_config(REPO / "tinyrpn" / "configs" / "lecun1989.yaml")
        train, test = exp.build_data(train=False)
        x, y = lecun1989_subset(train=False, seed=1337, draw="legacy_test_first",
                                download=False)
    finally:
        mnist.clear_cache()
    assert train is None and test.images.shape == (2007, 1, 16, 16)
    np.testing.assert_array_equal(test.images, x)
    np.testing.assert_array_equal(test.labels, y)  # the config asks for ±1 targets


def test_a_bad_batch_is_found_on_every_device(device):
    # on cuda (a GPU, or the CuPy stand-in) the batch is a device array: one reduction there
    tinyrpn.manual_seed(0)
    x = np.zeros((64, 8), np.float32)
    x[45, 3] = np.nan
    model = nn.Linear(8, 3)
    loader = DataLoader(x, np.zeros(64, np.int64), batch_size=16, device=device)
    trainer = Trainer(model, loader, loader, nn.CrossEntropyLoss(),
                      optim.SGD(model.parameters(), lr=0.1), epochs=1, device=device,
                      progress=False)
    with pytest.raises(BadInputData, match=r"training batch 3 of epoch 1 \(global step 3\) "
                                           r"holds NaN or inf in its inputs \(1 of 16 rows: "
                                           r"13; examples 45 of its arrays\)"):
        trainer.fit()
