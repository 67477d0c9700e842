"""Train LeCun 1989 in PyTorch beside tinyrpn's run, from the same data and weights.

    python benchmarks/lecun1989_twin.py [--draw legacy_test_first] [--torch-seed 1337]
                                        [--dtype float64] [--modern]

An oracle, not a benchmark of speed: it answers "does PyTorch, started from exactly the
weights and images tinyrpn used, end where tinyrpn ended?". The data is tinyrpn's
``lecun1989_subset`` (the same float32 images), the weights ``LeCun1989(torch_seed=...)``
(the ones karpathy/lecun1989-repro draws). Prints the train and test misses after every
pass. Needs PyTorch.

- The 1989 network (default): plain SGD lr 0.03, batch 1, MSE, 23 passes in a fixed order,
  as docs/EXPERIMENTS.md §5 and ``configs/lecun1989.yaml``; about 4 minutes on one thread.
- ``--modern``: modern.py's training, as ``configs/lecun1989_modern.yaml``: AdamW lr 3e-4
  (PyTorch's default weight decay 0.01) decayed linearly to 1e-4, cross-entropy, dropout
  0.25 drawn from PyTorch's generator after the weights, and before every step a roll by
  ``np.random.randint(-1, 2, size=2)`` after ``np.random.seed(1337)``; 80 passes, about
  30 minutes on one thread (28 min in float64, 36 in float32, each beside another run here).

``--dtype float64`` widens the images and the (float32-drawn) weights and trains in float64.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _torch_twins import torch_lecun1989  # noqa: E402

from tinyrpn.data import lecun1989_subset  # noqa: E402
from tinyrpn.data.mnist import LECUN1989_DRAWS  # noqa: E402
from tinyrpn.models import LeCun1989  # noqa: E402
from tinyrpn.models.lecun1989 import WEIGHT_FAN_IN  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draw", default="legacy_test_first", choices=LECUN1989_DRAWS)
    parser.add_argument("--subset-seed", type=int, default=1337)
    parser.add_argument("--torch-seed", type=int, default=1337)
    parser.add_argument("--numpy-seed", type=int, default=1337,
                        help="--modern: the seed of NumPy's legacy stream for the shifts")
    parser.add_argument("--passes", type=int, default=None, help="default: 23, or 80 --modern")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--modern", action="store_true", help="modern.py's version")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("this oracle needs PyTorch (pip install torch)")
    torch.set_num_threads(args.threads)
    passes = args.passes or (80 if args.modern else 23)

    x_train, y_train = (torch.from_numpy(a.astype(args.dtype)) for a in lecun1989_subset(
        True, args.subset_seed, draw=args.draw))
    x_test, y_test = (torch.from_numpy(a.astype(args.dtype)) for a in lecun1989_subset(
        False, args.subset_seed, draw=args.draw))
    model = LeCun1989(modern=args.modern, torch_seed=args.torch_seed).to(dtype=args.dtype)
    params, forward = torch_lecun1989(torch, model)
    # repro.py and modern.py seed PyTorch and draw the four weight tensors first; the
    # modern network's dropout masks come from the same generator after them
    torch.manual_seed(args.torch_seed)
    drawn = [torch.rand(*getattr(model, name).shape) for name, _ in WEIGHT_FAN_IN]
    assert sum(t.numel() for t in drawn) == 8760
    if args.modern:
        np.random.seed(args.numpy_seed)
        lr0 = 3e-4
        optimizer = torch.optim.AdamW(params.values(), lr=lr0)  # weight decay 0.01
    else:
        optimizer = torch.optim.SGD(params.values(), lr=0.03)
    labels = y_train.argmax(1)

    def misses(x: torch.Tensor, y: torch.Tensor) -> tuple[int, float]:
        with torch.no_grad():
            out = forward(x, training=False)
        if args.modern:
            loss = float(torch.nn.functional.cross_entropy(out, y.argmax(1)))
        else:
            loss = float(torch.mean((y - out) ** 2))
        return int((out.argmax(1) != y.argmax(1)).sum()), loss

    print(f"{'modern' if args.modern else '1989'}, draw {args.draw}, subset seed "
          f"{args.subset_seed}, torch seed {args.torch_seed}, {args.dtype}")
    for p in range(1, passes + 1):
        if args.modern:  # modern.py: lr from 3e-4 at the first pass to 1e-4 at the last
            alpha = (p - 1) / 79
            for group in optimizer.param_groups:
                group["lr"] = (1 - alpha) * lr0 + alpha * (lr0 / 3)
        start = time.perf_counter()
        for i in range(len(x_train)):
            x = x_train[i:i + 1]
            if args.modern:
                shift_x, shift_y = np.random.randint(-1, 2, size=2)
                x = torch.roll(x, (int(shift_x), int(shift_y)), (2, 3))
                loss = torch.nn.functional.cross_entropy(forward(x), labels[i:i + 1])
            else:
                loss = torch.mean((y_train[i:i + 1] - forward(x)) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        (train_miss, train_loss), (test_miss, test_loss) = (misses(x_train, y_train),
                                                            misses(x_test, y_test))
        print(f"pass {p:2d}: train misses {train_miss:3d} ({100 * train_miss / len(x_train):.2f}%)"
              f" loss {train_loss:.6f} | test misses {test_miss:3d} "
              f"({100 * test_miss / len(x_test):.2f}%) loss {test_loss:.6f} | {seconds:.1f} s",
              flush=True)


if __name__ == "__main__":
    main()
