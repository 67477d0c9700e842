"""Train LeCun 1989 in PyTorch beside tinyrpn's run, from the same data and weights.

    python benchmarks/lecun1989_twin.py [--draw legacy_test_first] [--torch-seed 1337]

An oracle, not a benchmark of speed: it answers "does PyTorch, started from exactly the
weights and images tinyrpn used, end where tinyrpn ended?". The data is tinyrpn's
``lecun1989_subset`` (the same float32 images), the weights ``LeCun1989(torch_seed=...)``
(the ones karpathy/lecun1989-repro draws), and the training is plain SGD lr 0.03, batch 1,
MSE, 23 passes in a fixed order, as REFERENCE.md §5. Prints the train and test misses
after every pass. Needs PyTorch; about 4 minutes on one thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _torch_twins import torch_lecun1989  # noqa: E402

from tinyrpn.data import lecun1989_subset  # noqa: E402
from tinyrpn.data.mnist import LECUN1989_DRAWS  # noqa: E402
from tinyrpn.models import LeCun1989  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draw", default="legacy_test_first", choices=LECUN1989_DRAWS)
    parser.add_argument("--subset-seed", type=int, default=1337)
    parser.add_argument("--torch-seed", type=int, default=1337)
    parser.add_argument("--passes", type=int, default=23)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("this oracle needs PyTorch (pip install torch)")
    torch.set_num_threads(args.threads)

    x_train, y_train = (torch.from_numpy(a) for a in lecun1989_subset(
        True, args.subset_seed, draw=args.draw))
    x_test, y_test = (torch.from_numpy(a) for a in lecun1989_subset(
        False, args.subset_seed, draw=args.draw))
    params, forward = torch_lecun1989(torch, LeCun1989(torch_seed=args.torch_seed))
    optimizer = torch.optim.SGD(params.values(), lr=0.03)

    def misses(x: torch.Tensor, y: torch.Tensor) -> tuple[int, float]:
        with torch.no_grad():
            out = forward(x)
        return int((out.argmax(1) != y.argmax(1)).sum()), float(torch.mean((y - out) ** 2))

    print(f"draw {args.draw}, subset seed {args.subset_seed}, torch seed {args.torch_seed}")
    for p in range(1, args.passes + 1):
        start = time.perf_counter()
        for i in range(len(x_train)):
            loss = torch.mean((y_train[i:i + 1] - forward(x_train[i:i + 1])) ** 2)
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
