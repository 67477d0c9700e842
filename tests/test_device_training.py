"""Short training runs on 'cuda' (a GPU, or the CuPy stand-in where there is none) end where
the same runs on the cpu end, and their results say which device they ran on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tinyrpn import cli

REPO = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("TINYRPN_DATA", "/work/shared/data/mnist"))

# (config, training images, test images): one epoch each, small enough for every test run
RUNS = [("mlp_small", 600, 200), ("rpn_taylor_dual_lphm", 600, 200), ("lecun1989", 300, 200)]


def final_test_loss(config: str, n_train: int, n_test: int, device: str, out: Path,
                    capsys: pytest.CaptureFixture) -> dict:
    code = cli.main(["train", str(REPO / "configs" / f"{config}.yaml"), "--epochs", "1",
                     "--limit-train", str(n_train), "--limit-test", str(n_test), "--device",
                     device, "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    return json.loads((out / "results.json").read_text())


@pytest.mark.device
@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists()
                    and not (MNIST / "t10k-images-idx3-ubyte").exists(),
                    reason="needs the MNIST files (TINYRPN_DATA)")
@pytest.mark.parametrize(("config", "n_train", "n_test"), RUNS, ids=[r[0] for r in RUNS])
def test_a_short_run_on_cuda_ends_where_the_cpu_run_ends(config, n_train, n_test, cuda,
                                                         tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST))
    on_cpu = final_test_loss(config, n_train, n_test, "cpu", tmp_path / "cpu", capsys)
    on_cuda = final_test_loss(config, n_train, n_test, cuda, tmp_path / "cuda", capsys)
    assert on_cpu["device"] == "cpu" and on_cuda["device"] == "cuda"
    assert on_cuda["status"] == on_cpu["status"] == "completed"
    assert on_cuda["final_test_loss"] == pytest.approx(on_cpu["final_test_loss"], rel=1e-3)
    print(f"{config}: final test loss cpu {on_cpu['final_test_loss']:.8f}, "
          f"cuda {on_cuda['final_test_loss']:.8f}")
