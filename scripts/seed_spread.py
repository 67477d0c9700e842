"""Print, as Markdown, how the test accuracy of runs that differ only in their seed spreads.

    python scripts/seed_spread.py RUN_DIR... [--reference 96.87,97.74,...] [--target 98.38]

Reads each run's results.json and history.json (as `tinyrpn train` writes them) and prints:

- one row per run: seed, test accuracy after the last epoch, the best epoch, and the first
  epoch from which the whole training set is classified correctly at every later epoch
  (history's ``eval_train_acc``, written when the config sets ``training.eval_train``);
- the mean, sample standard deviation, minimum and maximum of the final accuracy, and how
  many runs reach ``--target`` (in percent);
- per epoch, the mean, minimum and maximum test accuracy over the runs, beside the
  ``--reference`` curve (comma-separated percentages) when one is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def load_run(run_dir: Path) -> dict:
    try:
        results = json.loads((run_dir / "results.json").read_text())
        history = json.loads((run_dir / "history.json").read_text())
    except FileNotFoundError as e:
        sys.exit(f"{run_dir}: not a finished run ({e.filename} is missing)")
    if results.get("status") != "completed":
        sys.exit(f"{run_dir}: status is {results.get('status')!r}, not 'completed'")
    return {"dir": run_dir, "seed": results.get("seed"), "test": history["test_acc"],
            "train": history.get("eval_train_acc") or []}


def first_perfect_epoch(train_acc: list[float]) -> int | None:
    """The first epoch (from 1) from which every epoch's training accuracy is 1.0."""
    first = None
    for epoch, acc in enumerate(train_acc, start=1):
        if acc >= 1.0:
            first = first or epoch
        else:
            first = None
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--reference", default=None,
                        help="the published per-epoch test accuracy, percentages, comma-separated")
    parser.add_argument("--target", type=float, default=None,
                        help="final test accuracy to count runs against, in percent")
    args = parser.parse_args()
    runs = sorted((load_run(d) for d in args.runs), key=lambda r: (r["seed"] is None, r["seed"]))
    epochs = len(runs[0]["test"])
    if any(len(r["test"]) != epochs for r in runs):
        sys.exit("the runs have different numbers of epochs: "
                 + ", ".join(f"{r['dir']}: {len(r['test'])}" for r in runs))
    reference = None
    if args.reference:
        reference = [float(v) for v in args.reference.split(",")]
        if len(reference) != epochs:
            sys.exit(f"--reference has {len(reference)} values, the runs {epochs} epochs")

    print("| seed | test after the last epoch | best (epoch) "
          "| all of the training set from epoch |")
    print("|---|---|---|---|")
    for r in runs:
        best = max(range(epochs), key=lambda e: r["test"][e])
        perfect = first_perfect_epoch(r["train"])
        print(f"| {r['seed']} | {100 * r['test'][-1]:.2f}% | {100 * r['test'][best]:.2f}% "
              f"({best + 1}) | {perfect if perfect else '-'} |")
    finals = [100 * r["test"][-1] for r in runs]
    sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
    line = (f"\n{len(runs)} runs: final test accuracy mean {statistics.mean(finals):.2f}%, "
            f"sd {sd:.2f}, range {min(finals):.2f}–{max(finals):.2f}%")
    if args.target is not None:
        reached = sum(f >= args.target - 1e-9 for f in finals)
        line += f"; {reached} of {len(runs)} reach {args.target:.2f}%"
    print(line + ".\n")

    print("| epoch | " + " | ".join(str(e + 1) for e in range(epochs)) + " |")
    print("|---" * (epochs + 1) + "|")
    per_epoch = [[100 * r["test"][e] for r in runs] for e in range(epochs)]
    print("| mean | " + " | ".join(f"{statistics.mean(v):.2f}" for v in per_epoch) + " |")
    print("| min | " + " | ".join(f"{min(v):.2f}" for v in per_epoch) + " |")
    print("| max | " + " | ".join(f"{max(v):.2f}" for v in per_epoch) + " |")
    if reference:
        print("| published | " + " | ".join(f"{v:.2f}" for v in reference) + " |")


if __name__ == "__main__":
    main()
