"""Time one training step of the classic reference models against PyTorch eager (CPU).

    python benchmarks/models.py [--repeats 7] [--threads 1]

- lecun1989: docs/EXPERIMENTS.md §5's network, one batch-1 SGD step (forward, MSE, backward,
  update). At batch 1 the step is dominated by per-op overhead: this row measures the
  engine, not the arithmetic. Target: at most 1.5x PyTorch. Timed in float32 and in
  float64 (``configs/lecun1989.yaml`` trains in float64), both sides in the same dtype.
- lecun1989_modern: the modern variant (ReLU, dropout, cross-entropy, AdamW), batch 1.
- mlp_madgrad: docs/EXPERIMENTS.md §3's MLP, one batch-512 step with Adam on both sides (PyTorch
  has no MADGRAD), so the row compares the forward/backward work.

Both sides build the same network with the same weights; PyTorch is optional (without
it only tinyrpn's times are printed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import compare, format_seconds  # noqa: E402
from _torch_twins import torch_lecun1989  # noqa: E402

import tinyrpn  # noqa: E402
from tinyrpn import nn, optim  # noqa: E402
from tinyrpn.models import LeCun1989, madgrad_mlp  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is only the yardstick
    torch = None


def lecun_case(modern: bool, dtype: str = "float32") -> dict[str, Callable[[], object]]:
    tinyrpn.manual_seed(0)
    model = LeCun1989(modern=modern).to(dtype=dtype)
    x = tinyrpn.rand(1, 1, 16, 16, dtype=dtype) * 2 - 1
    if modern:
        target = tinyrpn.tensor([3])
        loss_fn: Callable = nn.CrossEntropyLoss()
        opt = optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-4)
    else:
        target = -tinyrpn.ones(1, 10, dtype=dtype)
        loss_fn = nn.MSELoss()
        opt = optim.SGD(model.parameters(), lr=0.03)

    def ours() -> None:
        opt.zero_grad()
        loss_fn(model(x), target).backward()
        opt.step()

    cases = {"tinyrpn": ours}
    if torch is not None:
        params, forward = torch_lecun1989(torch, model)
        tx, ttarget = torch.tensor(x.numpy()), torch.tensor(target.numpy())
        if not modern:  # the same network on both sides (dropout makes modern random)
            with torch.no_grad():
                np.testing.assert_allclose(forward(tx).numpy(), model(x).detach().numpy(),
                                           atol=1e-5)
        if modern:
            topt = torch.optim.AdamW(params.values(), lr=3e-4, weight_decay=1e-4)
            tloss = torch.nn.CrossEntropyLoss()
        else:
            topt = torch.optim.SGD(params.values(), lr=0.03)
            tloss = torch.nn.MSELoss()

        def theirs() -> None:
            topt.zero_grad()
            tloss(forward(tx), ttarget).backward()
            topt.step()

        cases["torch"] = theirs
    return cases


def mlp_case() -> dict[str, Callable[[], object]]:
    tinyrpn.manual_seed(0)
    model = madgrad_mlp()
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((512, 784)).astype(np.float32)
    y_np = rng.integers(0, 10, 512)
    x, y = tinyrpn.tensor(x_np), tinyrpn.tensor(y_np)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.NLLLoss()

    def ours() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    cases = {"tinyrpn": ours}
    if torch is not None:
        tmodel = torch.nn.Sequential(
            torch.nn.Linear(784, 1500), torch.nn.Mish(), torch.nn.BatchNorm1d(1500),
            torch.nn.Linear(1500, 500), torch.nn.Mish(), torch.nn.BatchNorm1d(500),
            torch.nn.Linear(500, 10), torch.nn.LogSoftmax(dim=1))
        with torch.no_grad():
            for (_, p), t in zip(model.named_parameters(), tmodel.parameters()):
                t.copy_(torch.tensor(p.detach().numpy()))
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        tx, ty = torch.tensor(x_np), torch.tensor(y_np)
        tloss = torch.nn.NLLLoss()

        def theirs() -> None:
            topt.zero_grad()
            tloss(tmodel(tx), ty).backward()
            topt.step()

        cases["torch"] = theirs
    return cases


CASES = {
    "lecun1989 step (batch 1, SGD)": lambda: lecun_case(modern=False),
    "lecun1989 step, float64": lambda: lecun_case(modern=False, dtype="float64"),
    "lecun1989_modern step (batch 1, AdamW)": lambda: lecun_case(modern=True),
    "mlp §3 step (batch 512, Adam)": mlp_case,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for PyTorch and tinyrpn's kernels (default: as is)")
    args = parser.parse_args()
    if args.threads is not None:
        from tinyrpn import kernels

        kernels.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    print(f"{'case':42s} {'tinyrpn':>10s} {'torch':>10s} {'ratio':>7s}")
    for name, make in CASES.items():
        times = compare(make(), repeats=args.repeats)
        ours, theirs = times["tinyrpn"], times.get("torch")
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        print(f"{name:42s} {format_seconds(ours):>10s} "
              f"{format_seconds(theirs) if theirs else '-':>10s} {ratio:>7s}", flush=True)


if __name__ == "__main__":
    main()
