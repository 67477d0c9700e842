"""History: what a training run measured, epoch by epoch and step by step.

The Trainer fills one as it trains and keeps it as ``history.json`` in the run directory;
the plots draw it (:func:`tinyrpn.plot.plot_curves`). ``tinyrpn.train`` re-exports it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from tinyrpn.serialization import atomic_write

__all__ = ["HISTORY", "History", "RunFileError", "read_json"]

HISTORY = "history.json"  # its name in a run directory


class RunFileError(ValueError):
    """A run's JSON file (``history.json``, ``results.json``) cannot be read: damaged, cut
    short, or not what a run writes."""


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON value in ``path``; :class:`RunFileError`, naming the file and where it
    breaks, when it is not JSON."""
    try:
        return json.loads(Path(path).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        where = (f"{error.msg} at line {error.lineno}, column {error.colno}"
                 if isinstance(error, json.JSONDecodeError) else "it is not text")
        raise RunFileError(
            f"{path} is not valid JSON ({where}): the file is damaged or was cut short. A run "
            "rewrites it after every epoch; resume the run to write it again, or restore it "
            "from a copy") from None


@dataclass
class History:
    """What a run measured. Per-epoch lists have one entry per completed epoch.

    - ``step_loss``: training loss of every step (batch), in order.
    - ``epoch``, ``steps``: epoch number (from 1) and the global step count at its end.
    - ``train_loss``, ``train_acc``: over the epoch's training batches as they were trained
      (train mode, weights changing during the epoch).
    - ``test_loss``, ``test_acc``: on the test set after the epoch.
    - ``eval_train_loss``, ``eval_train_acc``: on the whole training set after the epoch, in
      eval mode (only with ``eval_train``).
    - ``lr``: learning rate during the epoch; ``train_seconds``, ``eval_seconds``: wall time
      of the training pass and of the evaluations.
    - ``test_steps``, ``test_loss_at_steps``, ``test_acc_at_steps``: test-set evaluations
      every ``eval_every_steps`` steps, with the global step of each.
    """

    step_loss: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    eval_train_acc: list[float] = field(default_factory=list)
    lr: list[float | None] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    test_steps: list[int] = field(default_factory=list)
    test_loss_at_steps: list[float] = field(default_factory=list)
    test_acc_at_steps: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"History: unknown keys {unknown}; valid keys are {sorted(names)}")
        return cls(**{k: list(v) for k, v in data.items()})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as JSON (atomically)."""
        atomic_write(path, json.dumps(self.to_dict()).encode())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        """Read ``history.json``, or the ``history.json`` inside a run directory."""
        path = Path(path)
        if path.is_dir():
            path = path / HISTORY
        data = read_json(path)
        if not isinstance(data, Mapping):
            raise RunFileError(f"{path} holds a JSON {type(data).__name__}, not the mapping "
                               "of lists a run's history.json holds")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as error:
            raise RunFileError(f"{path}: {error}") from None

    def best(self) -> tuple[int | None, float]:
        """(epoch, accuracy) of the best test accuracy (the first epoch reaching it)."""
        if not self.test_acc:
            return None, float("nan")
        i = int(np.nanargmax(self.test_acc)) if not all(map(math.isnan, self.test_acc)) else 0
        return self.epoch[i], self.test_acc[i]

    def lowest_test_loss(self) -> tuple[int | None, float]:
        """(epoch, loss) of the lowest test loss (the first epoch reaching it): a regression's
        best epoch, where there is no accuracy."""
        if not self.test_loss or all(map(math.isnan, self.test_loss)):
            return None, float("nan")
        i = int(np.nanargmin(self.test_loss))
        return self.epoch[i], self.test_loss[i]
