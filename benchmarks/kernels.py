"""Time tinyrpn's kernels (Numba) against their NumPy twins and PyTorch on the CPU.

    python benchmarks/kernels.py [--repeats 15] [--threads 2] [--only layer_norm]

Each row is one case; each column the best time per call over ``--repeats`` rounds
(a round runs the call enough times to last about 20 ms, or once if it takes longer;
the three implementations take turns, round by round). The ratios are how many
times slower the NumPy twin and PyTorch are than tinyrpn (> 1 means tinyrpn wins).
PyTorch is optional: without it that column is empty.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tinyrpn import kernels  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None


def best_times(
    fns: list[Callable[[], object]], repeats: int, round_seconds: float = 0.02, budget: float = 6.0
) -> list[float]:
    """Best seconds per call of each fn over ``repeats`` short rounds, after a warm-up call.

    The functions take turns round by round, so each sees the same conditions, and only
    each one's best round counts, so a round that shared the CPU with another process
    does not spoil the figure. Slow cases stop after ``budget`` seconds (but run at least
    three rounds).
    """
    calls = []
    for fn in fns:
        fn()
        start = time.perf_counter()
        fn()
        calls.append(max(1, int(round_seconds / max(time.perf_counter() - start, 1e-7))))
    best = [float("inf")] * len(fns)
    deadline = time.perf_counter() + budget
    for done in range(repeats):
        for k, fn in enumerate(fns):
            # OpenMP worker threads (PyTorch's, Numba's) spin for a while after a parallel
            # region; a pause lets them sleep instead of competing with the next round
            time.sleep(0.03)
            start = time.perf_counter()
            for _ in range(calls[k]):
                fn()
            best[k] = min(best[k], (time.perf_counter() - start) / calls[k])
        if done >= 2 and time.perf_counter() > deadline:
            break
    return best


def with_numba(enabled: bool, fn: Callable[[], object]) -> Callable[[], object]:
    """fn run with TINYRPN_NUMBA set, so the public dispatchers pick kernel or twin."""

    def run():
        os.environ["TINYRPN_NUMBA"] = "1" if enabled else "0"
        try:
            return fn()
        finally:
            os.environ.pop("TINYRPN_NUMBA", None)

    return run


# --------------------------------------------------------------------------------------
# cases: each returns (tinyrpn fn, torch fn or None)
# --------------------------------------------------------------------------------------


def conv_case(batch: int, backward: bool):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 20, 20)).astype(np.float32)
    w = rng.standard_normal((12, 1, 5, 5)).astype(np.float32)
    g = rng.standard_normal((batch, 12, 8, 8)).astype(np.float32)

    def ours():
        out = kernels.conv2d_forward(x, w, 2)
        if backward:
            kernels.conv2d_backward(g, x, w, 2)
        return out

    def theirs():
        tx = torch.from_numpy(x).requires_grad_(backward)
        tw = torch.from_numpy(w).requires_grad_(backward)
        out = F.conv2d(tx, tw, None, 2)
        if backward:
            torch.autograd.grad(out, (tx, tw), torch.from_numpy(g))
        return out

    return ours, theirs


def layer_norm_case(backward: bool):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 615_440), dtype=np.float32)
    g = rng.standard_normal((64, 615_440), dtype=np.float32)

    def ours():
        y, rstd = kernels.layer_norm_forward(x, 1e-5)
        if backward:
            kernels.layer_norm_backward(g, y, rstd)

    def theirs():
        tx = torch.from_numpy(x).requires_grad_(backward)
        y = F.layer_norm(tx, (x.shape[1],), eps=1e-5)
        if backward:
            torch.autograd.grad(y, (tx,), torch.from_numpy(g))

    return ours, theirs


def cross_entropy_case(backward: bool):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((512, 10)).astype(np.float32)
    target = rng.integers(0, 10, 512)
    g = np.full(512, 1 / 512, dtype=np.float32)  # the mean over the batch

    def ours():
        losses, probs = kernels.cross_entropy_forward(logits, target)
        if backward:
            kernels.cross_entropy_backward(g, probs, target)

    def theirs():
        tl = torch.from_numpy(logits).requires_grad_(backward)
        losses = F.cross_entropy(tl, torch.from_numpy(target), reduction="none")
        if backward:
            torch.autograd.grad(losses, (tl,), torch.from_numpy(g))

    return ours, theirs


def taylor_case(backward: bool):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 784)).astype(np.float32)
    g = rng.standard_normal((64, 784 + 784 * 784), dtype=np.float32)

    def ours():
        kernels.taylor2_forward(x)
        if backward:
            kernels.taylor2_backward(g, x)

    def theirs():
        tx = torch.from_numpy(x).requires_grad_(backward)
        z = torch.cat([tx, (tx[:, :, None] * tx[:, None, :]).reshape(64, -1)], dim=1)
        if backward:
            torch.autograd.grad(z, (tx,), torch.from_numpy(g))

    return ours, theirs


CASES = [
    ("conv2d LeCun H1 b=1 fwd", lambda: conv_case(1, False)),
    ("conv2d LeCun H1 b=1 fwd+bwd", lambda: conv_case(1, True)),
    ("conv2d LeCun H1 b=64 fwd", lambda: conv_case(64, False)),
    ("conv2d LeCun H1 b=64 fwd+bwd", lambda: conv_case(64, True)),
    ("layer_norm 64x615440 fwd", lambda: layer_norm_case(False)),
    ("layer_norm 64x615440 fwd+bwd", lambda: layer_norm_case(True)),
    ("cross_entropy 512x10 fwd", lambda: cross_entropy_case(False)),
    ("cross_entropy 512x10 fwd+bwd", lambda: cross_entropy_case(True)),
    ("taylor2 64x784 fwd", lambda: taylor_case(False)),
    ("taylor2 64x784 fwd+bwd", lambda: taylor_case(True)),
]


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds per measurement")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}, "
          f"{os.cpu_count()} CPUs, float32, best of {args.repeats} rounds")
    header = f"{'case':<30} {'tinyrpn':>10} {'numpy twin':>11} {'torch':>10} {'twin/ours':>10} "
    header += f"{'torch/ours':>11}"
    print(header)
    print("-" * len(header))
    for name, make in CASES:
        if args.only not in name:
            continue
        ours, theirs = make()
        fns = [with_numba(True, ours), with_numba(False, ours)]
        if torch is not None:
            fns.append(theirs)
        t_ours, t_twin, *rest = best_times(fns, args.repeats)
        t_torch = rest[0] if rest else None
        torch_ratio = f"{t_torch / t_ours:>10.2f}x" if t_torch else f"{'-':>11}"
        print(f"{name:<30} {fmt(t_ours):>10} {fmt(t_twin):>11} {fmt(t_torch):>10} "
              f"{t_twin / t_ours:>9.2f}x {torch_ratio}", flush=True)


if __name__ == "__main__":
    main()
