"""Training: the :class:`Trainer` loop and its checkpoints.

What a run measures lives below this module, where the plots can use it too:
:class:`~tinyrpn.history.History` (``tinyrpn/history.py``) and the metrics and
:func:`~tinyrpn.metrics.evaluate` (``tinyrpn/metrics.py``); the run directory's file names,
lock and process record are in ``tinyrpn/rundir.py``. This module re-exports their public
names (``tinyrpn.train.History``, ``tinyrpn.train.evaluate``, ...). A config becomes a
Trainer one layer up, in :meth:`tinyrpn.config.Experiment.trainer`.

The Trainer works on explicit objects, so it needs no config file::

    trainer = Trainer(model, train_loader, test_loader, nn.CrossEntropyLoss(),
                      optim.AdamW(model.parameters(), lr=2e-3), epochs=5, out_dir="runs/demo")
    history = trainer.fit()             # or fit(resume=True) to continue runs/demo

Each epoch: one pass over ``train_loader`` (a progress bar shows the running loss,
accuracy and learning rate), then an evaluation on ``test_loader`` (``model.eval()``,
``no_grad``, on Lookahead's slow weights when the optimizer has ``slow_weights()``), an
optional evaluation on the whole training set (``eval_train``), then one
``scheduler.step()``. Optionally the test set is also evaluated every
``eval_every_steps`` training steps.

A run directory (``out_dir``) holds:

- ``config.yaml``   the resolved config (when one is given),
- ``history.json``  per-step training loss, per-epoch losses, accuracies, lr, seconds,
- ``results.json``  final and best test accuracy, parameter count, timings, peak memory,
- ``checkpoint.npz`` everything needed to continue: model, optimizer, scheduler, the
  random streams (tinyrpn's, NumPy's global one, the train loader's) and the history,
- ``loss.png``, ``accuracy.png`` the curves, drawn when the run ends.

Interruptions. The checkpoint is rewritten atomically after every epoch (and once before
the first), so it always holds the state at the end of the last *completed* epoch. A run
killed in the middle of epoch ``e`` (SIGKILL, power cut, Ctrl-C) continues with
``fit(resume=True)`` from the start of epoch ``e`` and reaches exactly the numbers of a run
that was never interrupted: the work done in the interrupted part of epoch ``e`` is
discarded and redone identically. On Ctrl-C the Trainer makes sure that checkpoint is on
disk, says so, and re-raises ``KeyboardInterrupt``. A NaN or infinite loss raises
:class:`TrainingDiverged` naming the epoch, the step and the value; a NaN or infinite value
in a batch of input data (images or targets) raises :class:`BadInputData` naming the batch
and its examples. Either way the checkpoint of the last good epoch is kept.

Faults. Every file is written atomically (a temporary file renamed over the old one), so a
write that fails (disk full, a read-only folder) leaves the previous file whole; it raises
:class:`SaveError` naming the file, the reason, and the epoch the checkpoint still holds.
While ``fit`` runs it holds the run directory's lock (:mod:`tinyrpn.rundir`): a second run
into the same directory raises :class:`~tinyrpn.rundir.RunDirectoryInUse` before it writes
anything. The temporary files a run killed while saving left behind are removed when the
next run takes the lock.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tinyrpn import backend, serialization
from tinyrpn import random as trandom
from tinyrpn.data.checks import BadInputData, check_finite_batch
from tinyrpn.history import History
from tinyrpn.metrics import (
    EvalResult,
    accuracy,
    class_indices,
    confusion_matrix,
    correct_count,
    evaluate,
    to_device,
)
from tinyrpn.rundir import (
    CHECKPOINT,
    CONFIG,
    HISTORY,
    RESULTS,
    SaveError,
    peak_memory_mb,
    run_command,
    run_lock,
)
from tinyrpn.serialization import atomic_write

__all__ = [
    "BadInputData",
    "EvalResult",
    "History",
    "ResumeError",
    "SaveError",
    "Trainer",
    "TrainingDiverged",
    "accuracy",
    "class_indices",
    "confusion_matrix",
    "correct_count",
    "evaluate",
]

_POSTFIX_SECONDS = 0.2  # how often the progress bar's numbers are refreshed


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; ``epoch``, ``step`` and ``loss`` say where."""

    def __init__(self, message: str, epoch: int, step: int, loss: float) -> None:
        super().__init__(message, epoch, step, loss)  # all in args, so it pickles
        self.message, self.epoch, self.step, self.loss = message, epoch, step, loss

    def __str__(self) -> str:
        return self.message


class ResumeError(ValueError):
    """A checkpoint cannot be resumed with this Trainer (another config, model or format)."""


# -- the run's config, as kept in its checkpoint -------------------------------------


def _plain(obj: Any) -> Any:
    """A config as plain YAML/JSON data: tuples become lists, NumPy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _config_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            path = f"{prefix}.{k}" if prefix else k
            if path in ("training.epochs", "device"):  # a run may be extended, or moved
                continue
            out += _config_differences(old.get(k), new.get(k), path)
        return out
    return [] if old == new else [f"{prefix or '<root>'}: {old!r} -> {new!r}"]


class Trainer:
    """Train ``model`` for ``epochs`` epochs, evaluating after each; see the module docstring.

    - ``loss_fn(output, target)`` returns the batch-mean loss as a one-element Tensor.
    - ``optimizer``: PyTorch-shaped (``zero_grad``, ``step``, ``state_dict``,
      ``load_state_dict``, ``param_groups``); with ``slow_weights()`` (Lookahead) evaluations
      run on the slow weights. ``scheduler`` is stepped once per epoch, after the test pass.
    - ``out_dir``: the run directory (None: keep everything in memory, no checkpoints).
    - ``config``: the resolved config (plain data), written to ``config.yaml`` and checked on
      resume (a resumed run must have the same config, except ``training.epochs`` and
      ``device``).
    - ``seed``: the seed the objects were made with, recorded in ``results.json``. The
      Trainer does not reseed: call ``tinyrpn.manual_seed(seed)`` before building the model
      (``Experiment.trainer`` does); the random streams are then checkpointed and restored.
    - ``eval_train``: also evaluate on the whole training set after each epoch, in eval mode,
      in a fixed order and without the loader's random transforms (augmentation), or on
      ``train_eval_loader`` when given.
    - ``eval_every_steps``: also evaluate on the test set every that many steps.
    - ``progress``: show per-epoch progress bars (tqdm; a widget in Jupyter when ipywidgets
      is installed, else a text bar).
    - ``on_epoch_end(epoch, record)``: called after each epoch with that epoch's numbers.
    - ``meta``: extra JSON-able facts recorded in ``results.json`` (e.g. data limits).
    - ``upgrade_saved_config(old)``: on resume, brings the config a checkpoint holds up to
      today's keys before it is compared with ``config`` (``Experiment.trainer`` fills keys
      added to the config format since with their defaults, so an older run still resumes).
    - ``accuracy``: measure accuracy (classification). False for a regression (real-valued
      targets, e.g. MSE on function data): only losses are measured, the accuracy lists of
      the History stay empty, ``results.json`` has ``best_test_loss`` (and its epoch) and
      no accuracies, and only the loss curve is drawn.
    """

    def __init__(
        self,
        model: Any,
        train_loader: Any,
        test_loader: Any,
        loss_fn: Callable[[Any, Any], Any],
        optimizer: Any,
        scheduler: Any = None,
        *,
        epochs: int,
        out_dir: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        eval_train: bool = False,
        eval_every_steps: int | None = None,
        device: str = "cpu",
        progress: bool = True,
        name: str | None = None,
        train_eval_loader: Any = None,
        on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
        meta: Mapping[str, Any] | None = None,
        upgrade_saved_config: Callable[[Any], Any] | None = None,
        accuracy: bool = True,
    ) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"Trainer: epochs must be an integer >= 0, got {epochs!r}")
        if eval_every_steps is not None and (
            isinstance(eval_every_steps, bool) or not isinstance(eval_every_steps, int)
            or eval_every_steps < 1
        ):
            raise ValueError(
                f"Trainer: eval_every_steps must be None or an integer >= 1, got "
                f"{eval_every_steps!r}"
            )
        self.device = backend.normalize_device(device)
        self.model = model.to(self.device) if hasattr(model, "to") else model
        self.train_loader, self.test_loader = train_loader, test_loader
        self.loss_fn, self.optimizer, self.scheduler = loss_fn, optimizer, scheduler
        self.epochs = epochs
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.config = _plain(dict(config)) if config is not None else None
        self.seed, self.eval_train, self.eval_every_steps = seed, eval_train, eval_every_steps
        self.progress, self.on_epoch_end = progress, on_epoch_end
        self.name = name or (self.out_dir.name if self.out_dir else "run")
        self.meta = _plain(dict(meta or {}))
        self.upgrade_saved_config = upgrade_saved_config
        self.accuracy = accuracy
        self._train_eval_loader = train_eval_loader
        self.history = History()
        self.epoch = 0  # completed epochs
        self.global_step = 0
        self._saved_epoch: int | None = None  # the epoch the checkpoint on disk holds
        self._epoch_complete = True  # False while an epoch's training pass changes the model

    # -- paths and small helpers -------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT if self.out_dir else None

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups and "lr" in groups[0] else None

    def _eval_weights(self) -> Any:
        slow = getattr(self.optimizer, "slow_weights", None)
        return slow() if callable(slow) else contextlib.nullcontext()

    def evaluate(self, loader: Any) -> EvalResult:
        """Evaluate on ``loader`` (on Lookahead's slow weights when there are any)."""
        name = "the test set" if loader is self.test_loader else "the training set"
        with self._eval_weights():
            return evaluate(self.model, loader, self.loss_fn, self.device, data_name=name,
                            accuracy=self.accuracy)

    def _train_eval_data(self) -> Any:
        """The training set in a fixed order, without random transforms, for eval_train."""
        if self._train_eval_loader is None:
            from tinyrpn.data import DataLoader

            tl = self.train_loader
            if not isinstance(tl, DataLoader):  # an arbitrary iterable: evaluate it as it is
                return tl
            transform = tl.transform
            if hasattr(transform, "state_dict"):  # random (augmentation): drop it
                kept = [t for t in getattr(transform, "transforms", [])
                        if not hasattr(t, "state_dict")]
                transform = None if not kept else type(transform)(kept)
            bs = getattr(self.test_loader, "batch_size", tl.batch_size)
            self._train_eval_loader = DataLoader(tl.images, tl.labels, batch_size=bs,
                                                 transform=transform, device=tl.device)
        return self._train_eval_loader

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, at the end of the last completed epoch."""
        sched = self.scheduler.state_dict() if self.scheduler is not None else None
        loader = getattr(self.train_loader, "state_dict", None)
        return {
            "name": self.name, "epoch": self.epoch, "global_step": self.global_step,
            "config": self.config,
            "model": dict(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(), "scheduler": sched,
            "rng": {"tinyrpn": trandom.get_rng_state(), "numpy": np.random.get_state()},
            "train_loader": loader() if callable(loader) else None,
            "history": self.history.to_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (model, optimizer, scheduler, random streams, history)."""
        if self.config is not None and state.get("config") is not None:
            saved = state["config"]
            if self.upgrade_saved_config is not None:
                saved = self.upgrade_saved_config(saved)
            diff = _config_differences(saved, self.config)
            if diff:
                raise ResumeError(
                    "cannot resume: the checkpoint was made with a different config ("
                    + "; ".join(diff[:5]) + ("; ..." if len(diff) > 5 else "")
                    + "); start a new run in another directory instead"
                )
        parts = [("model", self.model), ("optimizer", self.optimizer)]
        if self.scheduler is not None and state["scheduler"] is not None:
            parts.append(("scheduler", self.scheduler))
        for key, target in parts:
            try:
                target.load_state_dict(state[key])
            except (KeyError, ValueError, TypeError) as e:
                raise ResumeError(
                    f"cannot resume: the checkpoint's {key} state does not fit this {key}: {e}"
                ) from e
        trandom.set_rng_state(state["rng"]["tinyrpn"])
        np.random.set_state(state["rng"]["numpy"])
        if state["train_loader"] is not None and hasattr(self.train_loader, "load_state_dict"):
            self.train_loader.load_state_dict(state["train_loader"])
        self.history = History.from_dict(state["history"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self._saved_epoch = self.epoch

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is not None:
            with self._saving(self.checkpoint_path):
                serialization.save(self.state_dict(), self.checkpoint_path)
            self._saved_epoch = self.epoch

    @contextlib.contextmanager
    def _saving(self, path: Path) -> Any:
        """Turn a failed write of ``path`` into a :class:`SaveError` that says what is kept."""
        try:
            yield
        except OSError as e:
            kept = (f"{self.checkpoint_path} still holds the state after epoch "
                    f"{self._saved_epoch} (resume to continue from there)"
                    if self._saved_epoch is not None else "no checkpoint was saved yet")
            raise SaveError(
                f"could not write {path}: {e.strerror or e}; the previous file, if any, is "
                f"unchanged and {kept}; free some space or make {path.parent} writable"
            ) from e

    def _write_results(self, status: str, **extra: Any) -> dict[str, Any]:
        h = self.history
        best_epoch, best_acc = h.best()  # (None, nan) without accuracy
        lowest = {}
        if not self.accuracy:  # a regression: its best epoch has the lowest test loss
            loss_epoch, loss = h.lowest_test_loss()
            lowest = {"best_test_loss": loss if loss_epoch is not None else None,
                      "best_epoch": loss_epoch}
        params = (self.model.num_parameters() if hasattr(self.model, "num_parameters")
                  else sum(int(p.data.size) for p in self.model.parameters()))
        from tinyrpn import __version__

        results = {
            "name": self.name, "status": status, "epochs_completed": self.epoch,
            "epochs": self.epochs,
            "final_test_acc": h.test_acc[-1] if h.test_acc else None,
            "final_test_loss": h.test_loss[-1] if h.test_loss else None,
            "best_test_acc": best_acc if best_epoch is not None else None,
            "best_epoch": best_epoch,
            "final_train_acc": (h.eval_train_acc or h.train_acc or [None])[-1],
            "num_parameters": int(params),
            **lowest,
            "seconds_per_epoch": float(np.mean(h.train_seconds)) if h.train_seconds else None,
            "eval_seconds_per_epoch": float(np.mean(h.eval_seconds)) if h.eval_seconds else None,
            "peak_memory_mb": peak_memory_mb(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            **run_command(),
            "tinyrpn_version": __version__, "seed": self.seed, "device": self.device,
            **self.meta, **extra,
        }
        if self.out_dir is not None:
            with self._saving(self.out_dir / RESULTS):
                atomic_write(self.out_dir / RESULTS, json.dumps(results, indent=2).encode())
        return results

    # -- the loop ----------------------------------------------------------------------

    def fit(self, resume: bool = False) -> History:
        """Train up to ``epochs`` epochs and return the History.

        ``resume=True`` continues from ``out_dir/checkpoint.npz`` when it exists (else
        starts afresh); an interrupted epoch restarts from its beginning with identical
        results.
        """
        if self.device == "cpu":
            backend.keep_freed_memory()  # big arrays reuse freed pages: no page-fault storm
        # One run at a time in a run directory: a second one fails here, writing nothing.
        with run_lock(self.out_dir) if self.out_dir is not None else contextlib.nullcontext():
            return self._fit(resume)

    def _fit(self, resume: bool) -> History:
        if self.out_dir is not None:
            # Half-written temporary files of a run that was killed while saving: with the
            # lock held, nobody else is writing them.
            for tmp in self.out_dir.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        ckpt = self.checkpoint_path
        resuming = resume and ckpt is not None and ckpt.exists()
        if resuming:
            try:
                state = serialization.load(ckpt, map_location=self.device)
            except serialization.SerializationError as e:
                raise serialization.SerializationError(
                    f"cannot resume: {e}; put back a good copy of {ckpt}, or start the run "
                    f"again without resuming (which replaces everything in {self.out_dir})"
                ) from e
            self.load_state_dict(state)
        if self.out_dir is not None and self.config is not None:  # (epochs may have changed)
            import yaml

            text = yaml.safe_dump(self.config, sort_keys=False, default_flow_style=None,
                                  width=100)
            with self._saving(self.out_dir / CONFIG):
                atomic_write(self.out_dir / CONFIG, text.encode())
        if self.out_dir is not None and not resuming:
            self.save_checkpoint()  # epoch 0: an interrupt in epoch 1 resumes from here
            with self._saving(self.out_dir / HISTORY):  # replace what an older run left here
                self.history.save(self.out_dir / HISTORY)
            self._write_results("running")
            for stale in ("loss.png", "accuracy.png"):
                (self.out_dir / stale).unlink(missing_ok=True)
        try:
            while self.epoch < self.epochs:
                self._run_epoch(self.epoch + 1)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        except TrainingDiverged as e:
            self._write_results("diverged", error=str(e))
            raise
        except BadInputData as e:
            self._write_results("bad_input", error=str(e))
            raise
        self._write_results("completed")
        self._write_plots()
        return self.history

    def _kept_text(self) -> str:
        return (f"; the last good checkpoint (epoch {self._saved_epoch}) is "
                f"{self.checkpoint_path}" if self.checkpoint_path else "")

    def _interrupted(self) -> None:
        epoch = self.epoch + (0 if self._epoch_complete else 1)
        if self.checkpoint_path is None:
            print(f"\ninterrupted in epoch {epoch}; no out_dir, so nothing was saved",
                  file=sys.stderr)
            return
        if self._epoch_complete and self._saved_epoch != self.epoch:
            self.save_checkpoint()  # the interrupt came between an epoch's end and its save
        self._write_results("interrupted")
        where = (f"during epoch {epoch}" if not self._epoch_complete
                 else f"after epoch {self.epoch}")
        print(f"\ninterrupted {where}: {self.checkpoint_path} holds the state after epoch "
              f"{self._saved_epoch}; resume to continue (an unfinished epoch restarts from its "
              "beginning and gives the same numbers)", file=sys.stderr)

    def _run_epoch(self, epoch: int) -> None:
        model, opt, loss_fn = self.model, self.optimizer, self.loss_fn
        from tinyrpn.display import progress_bar  # tqdm's widget in a notebook, else text

        total = len(self.train_loader) if hasattr(self.train_loader, "__len__") else None
        bar = progress_bar(total=total, desc=f"epoch {epoch}/{self.epochs}", unit="batch",
                   disable=not self.progress, leave=True, dynamic_ncols=True)
        losses: list[float] = []
        step_tests: list[tuple[int, EvalResult]] = []
        loss_sum, correct, seen, step, eval_time = 0.0, 0, 0, self.global_step, 0.0
        lr = self._lr()
        start = time.perf_counter()
        next_postfix = start + _POSTFIX_SECONDS
        self._epoch_complete = False
        kept = self._kept_text()  # for the messages of a bad batch or a NaN loss
        model.train()
        try:
            for i, (xb, yb) in enumerate(self.train_loader, start=1):
                xb, yb = to_device(xb, self.device), to_device(yb, self.device)
                where = f"training batch {i} of epoch {epoch} (global step {step + 1})"
                check_finite_batch(xb, yb, self.train_loader, where, kept)
                opt.zero_grad()
                out = model(xb)
                loss = loss_fn(out, yb)
                value = float(loss.item())
                step += 1
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"training diverged: the loss is {value} at epoch {epoch}, step {i} "
                        f"(global step {step}){kept}", epoch, i, value)
                loss.backward()
                opt.step()
                n = int(out.shape[0])
                losses.append(value)
                loss_sum += value * n
                if self.accuracy:
                    correct += correct_count(out, yb)
                seen += n
                if self.eval_every_steps and step % self.eval_every_steps == 0:
                    t0 = time.perf_counter()
                    step_tests.append((step, self.evaluate(self.test_loader)))
                    eval_time += time.perf_counter() - t0
                if self.progress:
                    bar.update(1)
                    now = time.perf_counter()
                    if now >= next_postfix:
                        acc = f", acc {correct / seen:.4f}" if self.accuracy else ""
                        bar.set_postfix_str(f"loss {loss_sum / seen:.4g}{acc}"
                                            + (f", lr {lr:.3g}" if lr is not None else ""),
                                            refresh=False)
                        next_postfix = now + _POSTFIX_SECONDS
            train_seconds = time.perf_counter() - start - eval_time
            bar.set_description(f"epoch {epoch}/{self.epochs} (evaluating)")
            t0 = time.perf_counter()
            if step_tests and step_tests[-1][0] == step:  # just measured on these weights
                test = step_tests[-1][1]
            else:
                test = self.evaluate(self.test_loader)
            train_eval = self.evaluate(self._train_eval_data()) if self.eval_train else None
            eval_seconds = time.perf_counter() - t0 + eval_time
            record = {
                "epoch": epoch, "train_loss": loss_sum / seen if seen else float("nan"),
                "train_acc": correct / seen if seen else float("nan"),
                "test_loss": test.loss, "test_acc": test.accuracy, "lr": lr,
                "train_seconds": train_seconds, "eval_seconds": eval_seconds,
            }
            if train_eval is not None:
                record.update(eval_train_loss=train_eval.loss, eval_train_acc=train_eval.accuracy)
            if not self.accuracy:  # a regression: no accuracy anywhere
                for key in ("train_acc", "test_acc", "eval_train_acc"):
                    record.pop(key, None)
            bar.set_description(f"epoch {epoch}/{self.epochs}")
            bar.set_postfix_str(
                f"loss {record['train_loss']:.4g}, acc {record['train_acc']:.4f}, test loss "
                f"{test.loss:.4g}, test acc {test.accuracy:.4f}" if self.accuracy else
                f"loss {record['train_loss']:.4g}, test loss {test.loss:.4g}", refresh=True)
        finally:
            bar.close()
        if self.scheduler is not None:
            self.scheduler.step()
        h = self.history
        h.step_loss += losses
        h.epoch.append(epoch)
        h.steps.append(step)
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "train_seconds",
                    "eval_seconds", "eval_train_loss", "eval_train_acc"):
            if key in record:
                getattr(h, key).append(record[key])
        for s, r in step_tests:
            h.test_steps.append(s)
            h.test_loss_at_steps.append(r.loss)
            if self.accuracy:
                h.test_acc_at_steps.append(r.accuracy)
        self.epoch, self.global_step = epoch, step
        self._epoch_complete = True
        self.save_checkpoint()
        if self.out_dir is not None:
            with self._saving(self.out_dir / HISTORY):
                h.save(self.out_dir / HISTORY)
            self._write_results("running")
        if self.on_epoch_end is not None:
            self.on_epoch_end(epoch, record)

    def _write_plots(self) -> None:
        if self.out_dir is None or not self.history.epoch:
            return
        try:
            from tinyrpn import plot
            from tinyrpn.display import figures_not_shown

            with figures_not_shown():  # files in the run directory; a notebook plots its own
                for metric in ("loss", "accuracy") if self.accuracy else ("loss",):
                    plot.plot_curves([self.history], metric=metric, labels=[self.name],
                                     path=self.out_dir / f"{metric}.png")
        except Exception as e:  # a plot must never cost a finished run
            print(f"warning: could not draw the curves: {e}", file=sys.stderr)
