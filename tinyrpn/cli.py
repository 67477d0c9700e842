"""The command line: ``tinyrpn train | eval | plot | info | report | sweep``
(or ``python -m tinyrpn``).

    tinyrpn train configs/mlp_small.yaml --epochs 2 --limit-train 6000
    tinyrpn train mlp_small                                # a packaged config, by name
    tinyrpn train configs/mlp_small.yaml --resume          # continue runs/mlp_small
    tinyrpn eval runs/mlp_small                            # or runs/mlp_small/checkpoint.npz
    tinyrpn plot runs/mlp_small runs/rpn --out curves.png
    tinyrpn info configs/rpn_taylor_identity.yaml
    tinyrpn report runs/mlp_small                          # Markdown table of the epochs
    tinyrpn sweep configs/subspace_d1000.yaml --dims 3,10,100,300,1000,full

Exit codes:

- 0 success;
- 1 a failure: the training diverged, a checkpoint cannot be read, a file cannot be
  written (disk full, read-only folder: the previous file is kept), an unexpected error;
- 2 bad usage, a bad config, a missing file, or a run directory in use by another run;
- 3 bad data: an MNIST file missing (and not to be downloaded), corrupt or truncated, a
  download that failed, or a batch holding NaN or inf;
- 130 interrupted by Ctrl-C (the checkpoint of the last completed epoch is kept;
  ``--resume`` continues).

Every error but an unexpected one prints one line to stderr, naming the file and what to
do, without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]


class UsageError(Exception):
    """A mistake on the command line (a missing file, a run directory without a config)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    from tinyrpn import __version__

    parser = argparse.ArgumentParser(
        prog="tinyrpn", description="Train, evaluate and inspect tinyrpn experiments.",
        epilog="Exit codes: 0 success, 1 failure (diverged, unreadable checkpoint, failed "
        "write), 2 bad usage, config or missing file, or run directory in use, 3 bad or "
        "missing data, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"tinyrpn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train an experiment from a YAML config")
    p.add_argument("config", metavar="CONFIG",
                   help="the experiment's YAML file, or a config's name (e.g. mlp_small)")
    p.add_argument("--epochs", type=_non_negative_int, help="override training.epochs")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<config name>)")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--device", help="override the device (cpu or cuda)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the run directory from its last checkpoint")
    p.add_argument("--limit-train", type=_positive_int, metavar="N",
                   help="train on the first N training images only")
    p.add_argument("--limit-test", type=_positive_int, metavar="N",
                   help="test on the first N test images only")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars; print one line per epoch instead")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="evaluate a run's checkpoint on the test set")
    p.add_argument("target", metavar="RUN_DIR_OR_CHECKPOINT")
    p.add_argument("--limit-test", type=_positive_int, metavar="N",
                   help="test on the first N test images only")
    p.add_argument("--device", help="evaluate on this device instead of the run's")
    p.set_defaults(func=_eval)

    p = sub.add_parser("plot", help="draw the loss and accuracy curves of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", metavar="PNG",
                   help="output file (default: RUN_DIR/curves.png for one run, else curves.png)")
    p.add_argument("--x", choices=("epoch", "step"), default="epoch",
                   help="horizontal axis (default: epoch)")
    p.set_defaults(func=_plot)

    p = sub.add_parser("info", help="describe an experiment: layers, parameters, memory")
    p.add_argument("config", metavar="CONFIG", help="a YAML file or a config's name")
    p.set_defaults(func=_info)

    p = sub.add_parser("report", help="print a run's per-epoch numbers as a Markdown table")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.set_defaults(func=_report)

    p = sub.add_parser(
        "sweep", help="subspace training: one run per dimension d, then the two reference plots"
    )
    p.add_argument("config", metavar="CONFIG", help="a subspace config, e.g. "
                   "configs/subspace_d1000.yaml (its model.dim is replaced by each d)")
    p.add_argument("--dims", default="3,10,100,300,1000,full",
                   help="comma-separated dimensions, 'full' for the whole network "
                   "(default: 3,10,100,300,1000,full)")
    p.add_argument("--out", metavar="DIR", default="runs/subspace",
                   help="sweep directory (default: runs/subspace)")
    p.add_argument("--projection", choices=("qr", "dense", "sparse", "fastfood"),
                   help="override the config's projection")
    p.add_argument("--epochs", type=_positive_int, help="override training.epochs")
    p.add_argument("--limit-train", type=_positive_int, metavar="N")
    p.add_argument("--limit-test", type=_positive_int, metavar="N")
    p.add_argument("--resume", action="store_true",
                   help="reuse finished runs in DIR and continue interrupted ones")
    p.add_argument("--dint90", action="store_true",
                   help="instead of --dims, search for the smallest d reaching 90%% test "
                   "accuracy (bisection between 100 and 1000 on multiples of 50)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_sweep)
    return parser


# -- commands ------------------------------------------------------------------------------


def _load_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> Any:
    from tinyrpn.config import find_config, load_config

    # A file as given, else a config's name: ./NAME.yaml, ./configs/NAME.yaml, or one of the
    # configs that ship with tinyrpn (ConfigError lists the folders and names otherwise).
    return load_config(find_config(path), overrides or None)


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def _print_epoch(epoch: int, r: dict[str, Any]) -> None:
    extra = (f" | train (eval) acc {r['eval_train_acc']:.4f}" if "eval_train_acc" in r else "")
    lr = f" | lr {r['lr']:.3g}" if r.get("lr") is not None else ""
    if "test_acc" not in r:  # a regression: losses only (printed to 4 significant digits)
        print(f"epoch {epoch}: train loss {r['train_loss']:.4g} | test loss "
              f"{r['test_loss']:.4g}{lr} | {r['train_seconds']:.1f} s + "
              f"{r['eval_seconds']:.1f} s eval", flush=True)
        return
    print(f"epoch {epoch}: train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f} | test "
          f"loss {r['test_loss']:.4f} acc {r['test_acc']:.4f}{extra}{lr} | "
          f"{r['train_seconds']:.1f} s + {r['eval_seconds']:.1f} s eval", flush=True)


def _train(args: argparse.Namespace) -> int:
    from tinyrpn.rundir import RESULTS, run_lock

    overrides: dict[str, Any] = {}
    if args.epochs is not None:
        overrides["training.epochs"] = args.epochs
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    exp = _load_experiment(args.config, overrides)
    out = Path(args.out) if args.out else Path("runs") / exp.name
    new_directory = not out.exists()
    try:
        # The lock first, so that a second run into `out` refuses before anything else.
        with run_lock(out):
            limits = _data_limits(out, args)
            trainer = exp.trainer(
                out, **limits, progress=not args.no_progress,
                on_epoch_end=_print_epoch if args.no_progress else None)
            print(f"run directory: {out}", flush=True)  # once there is a run to put in it
            if args.resume and not trainer.checkpoint_path.exists():
                print(f"no checkpoint in {out} yet: starting a new run", flush=True)
            try:
                history = trainer.fit(resume=args.resume)
            except KeyboardInterrupt:
                print(f"continue with: tinyrpn train {args.config} --out {out} --resume",
                      file=sys.stderr)
                raise
    finally:
        if new_directory and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing was trained (bad data): leave no empty run directory behind
    results = json.loads((out / RESULTS).read_text())
    if "best_test_loss" in results:  # a regression: no accuracy
        print(f"final test loss {_fmt(results['final_test_loss'], '.4g')} after "
              f"{len(history.epoch)} epochs; lowest {_fmt(results['best_test_loss'], '.4g')} at "
              f"epoch {results['best_epoch']}; {_fmt(results['seconds_per_epoch'], '.2f')} s "
              "per epoch")
        print(f"results: {out / RESULTS}")
        return 0
    print(f"final test accuracy {_fmt(results['final_test_acc'])} (loss "
          f"{_fmt(results['final_test_loss'])}) after {len(history.epoch)} epochs; best "
          f"{_fmt(results['best_test_acc'])} at epoch {results['best_epoch']}; "
          f"{_fmt(results['seconds_per_epoch'], '.1f')} s per epoch")
    print(f"results: {out / RESULTS}")
    return 0


def _data_limits(out: Path, args: argparse.Namespace) -> dict[str, int | None]:
    """``--limit-train``/``--limit-test``; when resuming, the ones the run in ``out`` began
    with (a resumed run goes on with the same data)."""
    from tinyrpn.rundir import RESULTS

    limits = {"limit_train": args.limit_train, "limit_test": args.limit_test}
    if not args.resume or not (out / RESULTS).is_file():
        return limits
    try:
        recorded = json.loads((out / RESULTS).read_text())
    except ValueError as e:
        raise UsageError(
            f"cannot resume: {out / RESULTS} is damaged ({e}); it records the data limits "
            f"the run began with: put back a good copy, or delete it and resume with the "
            f"run's --limit-train/--limit-test") from None
    for key, given in limits.items():
        before = recorded.get(key)
        if given is not None and given != before:
            raise UsageError(
                f"--{key.replace('_', '-')} {given} differs from the run in {out}, which "
                f"used {before}; resume without it, or train into another --out"
            )
        limits[key] = before
    return limits


def _eval(args: argparse.Namespace) -> int:
    from tinyrpn import random as trandom
    from tinyrpn import serialization
    from tinyrpn.rundir import CHECKPOINT, CONFIG
    from tinyrpn.train import Trainer

    target = Path(args.target)
    if target.is_dir():
        run_dir, ckpt = target, target / CHECKPOINT
    elif target.is_file():
        run_dir, ckpt = target.parent, target
    else:
        raise UsageError(f"no run directory or checkpoint at {target}")
    if not ckpt.is_file():
        raise UsageError(f"no {CHECKPOINT} in {run_dir}")
    if not (run_dir / CONFIG).is_file():
        raise UsageError(f"no {CONFIG} beside {ckpt}: cannot rebuild the model")
    exp = _load_experiment(run_dir / CONFIG, {"device": args.device} if args.device else None)
    try:
        state = serialization.load(ckpt, map_location=exp.device)  # before the slow data
    except serialization.SerializationError as e:
        raise serialization.SerializationError(
            f"{e}; put back a good copy of {ckpt}, or evaluate another checkpoint") from e
    trandom.manual_seed(exp.seed)
    model = exp.build_model()
    _, test_loader = exp.build_data(limit_test=args.limit_test, train=False)  # test files only
    regression = exp.config["data"]["targets"] == "value"
    trainer = Trainer(model, None, test_loader, exp.build_loss(),
                      exp.build_optimizer(model.parameters()), epochs=0, device=exp.device,
                      progress=False, accuracy=not regression)
    trainer.load_state_dict(state)  # all of it, so that Lookahead evaluates on slow weights
    result = trainer.evaluate(test_loader)
    if regression:  # no accuracy: the loss, to 4 significant digits
        print(f"{ckpt} (after epoch {trainer.epoch}): test loss {result.loss:.4g} "
              f"({result.count} examples)")
        return 0
    print(f"{ckpt} (after epoch {trainer.epoch}): test loss {result.loss:.4f}, accuracy "
          f"{result.accuracy:.4f} ({round(result.accuracy * result.count)}/{result.count})")
    if f"{result.batch_mean_loss:.4f}" != f"{result.loss:.4f}":  # a short last batch
        print(f"  (the mean of the {len(test_loader)} batch means, which tinyBIG and "
              f"scripts that divide by len(loader) report as the test loss: "
              f"{result.batch_mean_loss:.4f})")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from tinyrpn.rundir import HISTORY

    for run in args.runs:
        if not (Path(run) / HISTORY).is_file():
            raise UsageError(f"{run} is not a run directory (no {HISTORY} in it)")
    out = Path(args.out) if args.out else (
        Path(args.runs[0]) / "curves.png" if len(args.runs) == 1 else Path("curves.png"))
    from tinyrpn import plot

    plot.plot_runs(args.runs, x=args.x, path=out)
    print(f"wrote {out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(_load_experiment(args.config).describe())
    return 0


def _report(args: argparse.Namespace) -> int:
    for run in args.runs:
        print(run_report(run))
    return 0


def run_report(run_dir: str | Path) -> str:
    """A run's summary and per-epoch numbers as Markdown (for docs/RESULTS.md)."""
    from tinyrpn.history import History, read_json
    from tinyrpn.rundir import HISTORY, RESULTS

    run = Path(run_dir)
    if not (run / RESULTS).is_file() or not (run / HISTORY).is_file():
        raise UsageError(f"{run} is not a run directory (no {RESULTS} and {HISTORY})")
    results, history = read_json(run / RESULTS), History.load(run / HISTORY).to_dict()
    has_train_eval = bool(history.get("eval_train_acc"))
    if "best_test_loss" in results:
        return _regression_report(results, history)
    lines = [
        f"**{results['name']}** — status {results['status']}, "
        f"{results['epochs_completed']}/{results['epochs']} epochs, "
        f"{results['num_parameters']:,} parameters, final test accuracy "
        f"{_fmt(results.get('final_test_acc'))}, best {_fmt(results.get('best_test_acc'))} "
        f"(epoch {results.get('best_epoch')}), {_fmt(results.get('seconds_per_epoch'), '.1f')} "
        f"s per epoch, peak memory {_fmt(results.get('peak_memory_mb'), '.0f')} MB, "
        f"{results['date']}.",
        f"Command: `{results.get('command', '')}`",
        "",
        "| epoch | train loss | train acc (running) |"
        + (" train acc (eval) |" if has_train_eval else "")
        + " test loss | test acc | seconds |",
        "|---|---|---|" + ("---|" if has_train_eval else "") + "---|---|---|",
    ]
    for i, epoch in enumerate(history["epoch"]):
        row = (f"| {epoch} | {history['train_loss'][i]:.4f} | {history['train_acc'][i]:.4f} |")
        if has_train_eval:
            row += f" {history['eval_train_acc'][i]:.4f} |"
        row += (f" {history['test_loss'][i]:.4f} | {history['test_acc'][i]:.4f} |"
                f" {history['train_seconds'][i]:.1f} |")
        lines.append(row)
    return "\n".join(lines) + "\n"


def _regression_report(results: dict[str, Any], history: dict[str, Any]) -> str:
    """run_report for a run without accuracy: losses to 4 significant digits, and at most
    about 20 rows (every k-th epoch and the last one) for a long run."""
    lines = [
        f"**{results['name']}** — status {results['status']}, "
        f"{results['epochs_completed']}/{results['epochs']} epochs, "
        f"{results['num_parameters']:,} parameters, final test loss "
        f"{_fmt(results.get('final_test_loss'), '.4g')}, lowest "
        f"{_fmt(results.get('best_test_loss'), '.4g')} (epoch {results.get('best_epoch')}), "
        f"{_fmt(results.get('seconds_per_epoch'), '.2f')} s per epoch, peak memory "
        f"{_fmt(results.get('peak_memory_mb'), '.0f')} MB, {results['date']}.",
        f"Command: `{results.get('command', '')}`",
        "",
        "| epoch | train loss (running) | test loss | seconds |",
        "|---|---|---|---|",
    ]
    epochs = history["epoch"]
    every = max(1, len(epochs) // 20)
    for i, epoch in enumerate(epochs):
        if i % every == 0 or i == len(epochs) - 1:
            lines.append(f"| {epoch} | {history['train_loss'][i]:.4g} | "
                         f"{history['test_loss'][i]:.4g} | {history['train_seconds'][i]:.2f} |")
    return "\n".join(lines) + "\n"


def _sweep(args: argparse.Namespace) -> int:
    _load_experiment(args.config)  # a bad config fails here, before any run starts
    from tinyrpn.experiments import subspace_sweep

    common = dict(out_dir=args.out, projection=args.projection, epochs=args.epochs,
                  limit_train=args.limit_train, limit_test=args.limit_test,
                  progress=not args.no_progress)
    if args.dint90:
        result = subspace_sweep.find_dint90(args.config, **common)
    else:
        try:
            dims = subspace_sweep.parse_dims(args.dims)
        except ValueError as e:
            raise UsageError(f"--dims: {e}") from None
        result = subspace_sweep.run_subspace_sweep(args.config, dims, resume=args.resume,
                                                   **common)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2, default=str))
    print(f"summary: {Path(args.out) / subspace_sweep.SUMMARY}")
    return 0


# -- entry point -----------------------------------------------------------------------------


def _exit_code(e: Exception) -> int | None:
    """The exit code of an error that is reported in one line (None: an unexpected error)."""
    from tinyrpn.config import ConfigError
    from tinyrpn.data.checks import BadInputData
    from tinyrpn.data.mnist import MNISTDownloadError, MNISTFileError, MNISTNotFoundError
    from tinyrpn.history import RunFileError
    from tinyrpn.rundir import RunDirectoryInUse, SaveError
    from tinyrpn.serialization import SerializationError
    from tinyrpn.train import ResumeError, TrainingDiverged

    # the data first: MNISTNotFoundError is a FileNotFoundError, MNISTFileError a ValueError
    if isinstance(e, (MNISTFileError, MNISTNotFoundError, MNISTDownloadError, BadInputData)):
        return 3
    if isinstance(e, (UsageError, ResumeError, ConfigError, RunDirectoryInUse,
                      FileNotFoundError)):
        return 2
    if isinstance(e, (TrainingDiverged, SerializationError, SaveError, RunFileError)):
        return 1
    if isinstance(e, OSError) and e.errno in _DISK_ERRNOS:  # (`plot --out` where it can't)
        return 1
    return None


# a full disk, a read-only folder, no permission: the machine's state, not a bug to trace
_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM,
                getattr(errno, "EDQUOT", errno.ENOSPC)}


def _one_line(message: str) -> str:
    """A message on one line: the data layer's messages put their advice on a line of its own."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (argparse printed it)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    prefix = f"tinyrpn {args.command}: error:"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"tinyrpn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`tinyrpn report RUN | head`): stop quietly, as Unix tools do;
        # stdout is pointed at devnull so that flushing it at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        code = _exit_code(e)
        if code is not None:
            message = str(e)
            if type(e) in (OSError, PermissionError) and e.filename is not None:
                message = (f"{e.strerror}: {e.filename} (free some space, or use a folder "
                           "you can write to)")
            print(f"{prefix} {_one_line(message)}", file=sys.stderr)
            return code
        traceback.print_exc()  # not the user's mistake: the details help fix tinyrpn
        print(f"{prefix} {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
