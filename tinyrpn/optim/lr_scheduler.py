"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: same classes, same sequences.

A scheduler changes ``group["lr"]`` of its optimizer's parameter groups each time its
``step()`` is called (usually once per epoch, after the optimizer's steps)::

    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    for epoch in range(epochs):
        train_one_epoch()            # optimizer.step() many times
        scheduler.step()             # lr <- lr * 0.9

Creating a scheduler records each group's starting rate as ``group["initial_lr"]`` and
sets ``last_epoch = 0``. The rules are PyTorch's *chainable* forms: each step multiplies the
current ``group["lr"]`` by a factor, so two schedulers on one optimizer compose, and a rate
changed by hand is carried forward. ``get_last_lr()`` gives the rates after the last step.
"""

from __future__ import annotations

import difflib
import numbers
from collections import Counter
from collections.abc import Iterable
from typing import Any

from tinyrpn.optim.optimizer import Optimizer, check_number

__all__ = ["LRScheduler", "ExponentialLR", "StepLR", "MultiStepLR", "LinearLR"]


class LRScheduler:
    """Base class: subclasses implement ``get_lr()``, the new rate of every group.

    ``last_epoch`` counts the calls to ``step()`` (0 right after construction).
    Pass ``last_epoch`` >= 0 only when resuming: the groups must then already hold
    ``initial_lr`` (restore the optimizer's state dict first).
    """

    #: Hyper-parameters saved in the state dict besides the counters (set by subclasses).
    _hyper: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected a tinyrpn.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) or (
            last_epoch < -1
        ):
            raise ValueError(f"{name}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: param_groups[{i}] has no 'initial_lr', needed to resume with "
                        f"last_epoch={last_epoch}; load the optimizer's state dict first, or "
                        "use last_epoch=-1 for a new run"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        # The first step, made here, sets last_epoch to 0 and the starting rates.
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The new learning rate of each group for epoch ``last_epoch`` (already advanced)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``."""
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()`` (or by construction)."""
        return list(self._last_lr)

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    # -- state dicts ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Counters, starting rates and hyper-parameters: plain numbers and lists."""
        state = {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                 "_last_lr": list(self._last_lr)}
        for key in self._hyper:
            state[key] = self._save_hyper(key)
        return state

    def _save_hyper(self, key: str) -> Any:
        return getattr(self, key)

    def _load_hyper(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; an unknown or missing key is an error naming it."""
        name = type(self).__name__
        expected = {"last_epoch", "base_lrs", "_last_lr", *self._hyper}
        for key in state_dict:
            if key not in expected:
                close = difflib.get_close_matches(str(key), sorted(expected), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise KeyError(f"{name}.load_state_dict: unknown key {key!r}{hint}; "
                               f"expected {sorted(expected)}")
        missing = expected - set(state_dict)
        if missing:
            raise KeyError(f"{name}.load_state_dict: missing keys {sorted(missing)}")
        groups = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            if len(state_dict[key]) != groups:
                raise ValueError(f"{name}.load_state_dict: {key} has {len(state_dict[key])} "
                                 f"entries but the optimizer has {groups} parameter groups")
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(v) for v in state_dict["base_lrs"]]
        self._last_lr = [float(v) for v in state_dict["_last_lr"]]
        for key in self._hyper:
            self._load_hyper(key, state_dict[key])

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={self._save_hyper(k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({hyper}, last_epoch={self.last_epoch})"


class ExponentialLR(LRScheduler):
    """lr <- lr * gamma at every step: lr_e = initial_lr * gamma^e."""

    _hyper = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        check_number("ExponentialLR", "gamma", gamma, low=0.0, low_open=True)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class StepLR(LRScheduler):
    """lr <- lr * gamma every ``step_size`` steps: lr_e = initial_lr * gamma^(e // step_size)."""

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or (
            step_size < 1
        ):
            raise ValueError(f"StepLR: step_size must be an integer >= 1, got {step_size!r}")
        check_number("StepLR", "gamma", gamma, low=0.0, low_open=True)
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class MultiStepLR(LRScheduler):
    """lr <- lr * gamma at each milestone epoch (twice if it is listed twice)."""

    _hyper = ("milestones", "gamma")

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        check_number("MultiStepLR", "gamma", gamma, low=0.0, low_open=True)
        self.milestones = self._check_milestones(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _check_milestones(milestones: Iterable[int]) -> Counter[int]:
        values = list(milestones)
        for m in values:
            if isinstance(m, bool) or not isinstance(m, numbers.Integral):
                raise TypeError(f"MultiStepLR: milestones must be integers, got {values!r}")
        return Counter(int(m) for m in values)

    def _save_hyper(self, key: str) -> Any:
        if key == "milestones":  # a Counter is not JSON: the sorted list, repeats included
            return sorted(self.milestones.elements())
        return super()._save_hyper(key)

    def _load_hyper(self, key: str, value: Any) -> None:
        if key == "milestones":
            self.milestones = self._check_milestones(value)
        else:
            super()._load_hyper(key, value)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current()]


class LinearLR(LRScheduler):
    """The factor on the rate moves linearly from ``start_factor`` to ``end_factor``.

    lr_e = initial_lr * (start + (end - start) * min(e, total_iters) / total_iters),
    reached step by step by multiplying the current rate by the ratio of successive factors.
    """

    _hyper = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        check_number("LinearLR", "start_factor", start_factor, low=0.0, high=1.0,
                     low_open=True)
        check_number("LinearLR", "end_factor", end_factor, low=0.0, high=1.0)
        if isinstance(total_iters, bool) or not isinstance(total_iters, numbers.Integral) or (
            total_iters < 1
        ):
            raise ValueError(f"LinearLR: total_iters must be an integer >= 1, got "
                             f"{total_iters!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current()
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor
                               + (self.last_epoch - 1) * delta)
        return [lr * ratio for lr in self._current()]
