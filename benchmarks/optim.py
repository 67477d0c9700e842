"""Optimizer steps on the reference RPN's parameters: tinyrpn against PyTorch, same run.

    python benchmarks/optim.py               # about a minute on 2 cores
    python benchmarks/optim.py --repeats 11  # more rounds
    python benchmarks/optim.py --json out.json

The parameters are those of docs/EXPERIMENTS.md §1's RPN, 39,696,000 float32 numbers, almost all
in one (64 × 615,440) matrix, plus a few small vectors (biases, say): that one big
parameter is where an optimizer step's time goes (AdamW over 39.4 M weights takes 199 ms
of tinyBIG's 500 ms training step). Gradients are random; the timing does not depend on
the values.

Rows (median seconds per step; contenders interleaved round by round so that load from
other processes slows them alike):

- AdamW (lr 2e-3, weight decay 2e-4): tinyrpn's fused loop, its plain NumPy code
  (``TINYRPN_NUMBA=0``), ``torch.optim.AdamW(foreach=True)`` (the target: ratio <= 1), and
  for information torch's single-tensor loop and its fused CPU kernel.
- SGD with momentum 0.9: tinyrpn against ``torch.optim.SGD(foreach=True)``.
- MADGRAD (momentum 0.9): tinyrpn against the facebookresearch algorithm written with
  torch operations (torch has no MADGRAD; this is the code docs/EXPERIMENTS.md §3 ran).
- Lookahead's synchronisation of slow and fast weights (every k steps).

torch runs with ``torch.set_num_threads(2)``; Numba with its default thread count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import compare, format_seconds  # noqa: E402

import tinyrpn  # noqa: E402
from tinyrpn import nn, optim  # noqa: E402
from tinyrpn.optim.lookahead import lookahead_sync  # noqa: E402

# docs/EXPERIMENTS.md §1: W of layers 1-3 (39,696,000 numbers), then a few small vectors.
SHAPES = [(64, 615_440), (64, 4_160), (10, 4_160), (64,), (64,), (10,)]


def make_problem(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s, dtype=np.float32) * 0.01 for s in SHAPES]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in SHAPES]
    return start, grads


def ours(make: Callable[[list[Any]], Any], start, grads) -> Callable[[], None]:
    params = [nn.Parameter(a.copy()) for a in start]
    for p, g in zip(params, grads):
        p.grad = tinyrpn.tensor(g)
    opt = make(params)
    return opt.step


def numpy_twin(step: Callable[[], None]) -> Callable[[], None]:
    """The same step with Numba switched off: the optimizers' plain NumPy code runs."""
    def run() -> None:
        old = os.environ.get("TINYRPN_NUMBA")
        os.environ["TINYRPN_NUMBA"] = "0"
        try:
            step()
        finally:
            if old is None:
                del os.environ["TINYRPN_NUMBA"]
            else:
                os.environ["TINYRPN_NUMBA"] = old
    return run


def theirs(torch: Any, make: Callable[[list[Any]], Any], start, grads) -> Callable[[], None]:
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in start]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    opt = make(params)
    return opt.step


def torch_madgrad(torch: Any, start, grads, lr=1e-2, momentum=0.9, eps=1e-6) -> Callable:
    """facebookresearch/madgrad's dense step, written with torch operations."""
    params = [torch.from_numpy(a.copy()) for a in start]
    gs = [torch.from_numpy(g.copy()) for g in grads]
    state = [{"grad_sum_sq": torch.zeros_like(p), "s": torch.zeros_like(p),
              "x0": p.clone()} for p in params]
    k = [0]

    def step() -> None:
        lamb = (lr + eps) * math.pow(k[0] + 1, 0.5)
        ck = 1 - momentum
        for p, grad, st in zip(params, gs, state):
            st["grad_sum_sq"].addcmul_(grad, grad, value=lamb)
            rms = st["grad_sum_sq"].pow(1 / 3).add_(eps)
            st["s"].add_(grad, alpha=lamb)
            z = st["x0"].addcdiv(st["s"], rms, value=-1)
            p.mul_(1 - ck).add_(z, alpha=ck)
        k[0] += 1

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per contender")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: timing tinyrpn alone")
    if torch is not None:
        torch.set_num_threads(2)

    start, grads = make_problem()
    n = sum(a.size for a in start)
    print(f"{n:,} float32 parameters in {len(SHAPES)} tensors (largest {SHAPES[0]}); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"torch {torch.__version__ if torch else '-'} on 2 threads; median of "
          f"{args.repeats} rounds\n")

    tables: dict[str, dict[str, float]] = {}

    def run(title: str, contenders: dict[str, Callable[[], None]]) -> None:
        times = compare(contenders, repeats=args.repeats, warmup=1, round_seconds=0.0)
        tables[title] = times
        print(title)
        base = times.get("torch foreach") or times.get("torch")
        for name, seconds in times.items():
            ratio = f"{seconds / base:5.2f}x torch" if base else ""
            print(f"  {name:<24} {format_seconds(seconds):>10}   {ratio}")
        print()

    adamw = dict(lr=2e-3, weight_decay=2e-4)
    fast = ours(lambda ps: optim.AdamW(ps, **adamw), start, grads)
    contenders = {"tinyrpn": fast,
                  "tinyrpn NumPy twin": numpy_twin(ours(lambda ps: optim.AdamW(ps, **adamw),
                                                        start, grads))}
    if torch is not None:
        contenders["torch foreach"] = theirs(
            torch, lambda ps: torch.optim.AdamW(ps, foreach=True, **adamw), start, grads)
        contenders["torch single-tensor"] = theirs(
            torch, lambda ps: torch.optim.AdamW(ps, foreach=False, **adamw), start, grads)
        contenders["torch fused"] = theirs(
            torch, lambda ps: torch.optim.AdamW(ps, fused=True, **adamw), start, grads)
    run("AdamW step", contenders)

    sgd = dict(lr=1e-2, momentum=0.9)
    contenders = {"tinyrpn": ours(lambda ps: optim.SGD(ps, **sgd), start, grads)}
    if torch is not None:
        contenders["torch foreach"] = theirs(
            torch, lambda ps: torch.optim.SGD(ps, foreach=True, **sgd), start, grads)
    run("SGD momentum step", contenders)

    contenders = {"tinyrpn": ours(lambda ps: optim.MADGRAD(ps, lr=1e-2), start, grads)}
    contenders["tinyrpn NumPy twin"] = numpy_twin(
        ours(lambda ps: optim.MADGRAD(ps, lr=1e-2), start, grads))
    if torch is not None:
        contenders["torch"] = torch_madgrad(torch, start, grads)
    run("MADGRAD step (momentum 0.9)", contenders)

    fast_w = [a.copy() for a in start]
    slow_w = [a * 0.5 for a in start]

    def sync() -> None:
        for f, s in zip(fast_w, slow_w):
            lookahead_sync(f, s, alpha=0.5)

    contenders = {"tinyrpn": sync}
    if torch is not None:
        tf = [torch.from_numpy(a.copy()) for a in start]
        ts = [torch.from_numpy(a * 0.5) for a in start]

        def torch_sync() -> None:  # timm / lookahead.pytorch: slow += alpha (fast - slow)
            for f, s in zip(tf, ts):
                s.add_(f - s, alpha=0.5)
                f.copy_(s)

        contenders["torch"] = torch_sync
    run("Lookahead synchronisation", contenders)

    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"parameters": n, "shapes": SHAPES, "seconds": tables}, fh, indent=2)


if __name__ == "__main__":
    main()
