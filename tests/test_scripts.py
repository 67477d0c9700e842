"""The helper scripts under scripts/ that docs/RESULTS.md's tables come from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fake_run(path: Path, seed: int, test_acc: list[float], train_acc: list[float],
              status: str = "completed") -> Path:
    path.mkdir()
    (path / "results.json").write_text(json.dumps({"status": status, "seed": seed}))
    (path / "history.json").write_text(json.dumps({"test_acc": test_acc,
                                                   "eval_train_acc": train_acc}))
    return path


def _seed_spread(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "seed_spread.py"), *args],
                          capture_output=True, text=True)


def test_seed_spread_rows_summary_and_per_epoch_table(tmp_path):
    a = _fake_run(tmp_path / "a", 1, [0.97, 0.98, 0.984], [0.99, 1.0, 1.0])
    # perfect at epoch 1, not at 2: counted from epoch 3 only
    b = _fake_run(tmp_path / "b", 0, [0.96, 0.985, 0.982], [1.0, 0.9999, 1.0])
    out = _seed_spread(str(a), str(b), "--target", "98.3", "--reference", "96,97,98.38")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "| 0 | 98.20% | 98.50% (2) | 3 |" in lines  # sorted by seed
    assert "| 1 | 98.40% | 98.40% (3) | 2 |" in lines
    assert "mean 98.30%" in out.stdout and "range 98.20–98.40%" in out.stdout
    assert "1 of 2 reach 98.30%" in out.stdout
    assert "| mean | 96.50 | 98.25 | 98.30 |" in lines
    assert "| published | 96.00 | 97.00 | 98.38 |" in lines


def test_seed_spread_refuses_unfinished_runs_and_mismatched_curves(tmp_path):
    a = _fake_run(tmp_path / "a", 0, [0.9, 0.95], [1.0, 1.0], status="interrupted")
    out = _seed_spread(str(a))
    assert out.returncode != 0 and "'interrupted', not 'completed'" in out.stderr
    b = _fake_run(tmp_path / "b", 1, [0.9, 0.95], [1.0, 1.0])
    out = _seed_spread(str(b), "--reference", "1,2,3")
    assert out.returncode != 0 and "3 values, the runs 2 epochs" in out.stderr
    out = _seed_spread(str(tmp_path / "missing"))
    assert out.returncode != 0 and "not a finished run" in out.stderr
    c = _fake_run(tmp_path / "c", 2, [0.9, 0.95, 0.96], [1.0, 1.0, 1.0])
    out = _seed_spread(str(b), str(c))
    assert out.returncode != 0 and "different numbers of epochs" in out.stderr
