"""Lookahead (Zhang, Lucas, Hinton & Ba 2019): k steps forward, one step back.

The synchronisation of one parameter is written out in ``_plain_lookahead_sync``, in array
code that runs on NumPy and CuPy; ``_fused_lookahead_sync`` is its fast path, the same
arithmetic in one compiled pass over memory (``tinyrpn.kernels.optim.lookahead_loop``).
``lookahead_sync`` picks one.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator
from typing import Any

from tinyrpn.autograd import Tensor, no_grad
from tinyrpn.kernels.optim import flat, fusable, lookahead_loop
from tinyrpn.optim.optimizer import (
    Optimizer,
    _closest,
    _param_index,
    _state_array,
    check_number,
    check_shapes,
    copy_of_param,
)


class Lookahead(Optimizer):
    """Wrap any optimizer: every ``k`` of its steps, pull the weights back towards slow weights.

    The inner optimizer moves the "fast" weights (the parameters) as usual. Lookahead keeps
    a second, "slow" copy phi of every parameter, taken just before the first step, and
    after every k-th step::

        phi = phi + alpha * (p - phi)               (slow weights move part of the way)
        p   = phi                                   (fast weights restart from there)

    ``param_groups`` and ``state`` are the inner optimizer's, so a learning-rate scheduler
    built on the Lookahead drives the inner optimizer. The slow weights are usually the
    better ones to evaluate between synchronisations::

        with lookahead.slow_weights():   # parameters hold the slow weights in here
            evaluate(model)
                                         # and their fast values again after

    ``state_dict()`` holds the inner optimizer's state dict, the slow weights (numbered like
    the inner optimizer's parameters), the step counter, k and alpha.
    """

    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        # Optimizer.__init__ is not called: groups and per-parameter state belong to the
        # inner optimizer; Lookahead only adds the slow weights and a step counter.
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"Lookahead: optimizer must be a tinyrpn.optim.Optimizer (e.g. "
                f"optim.SGD(model.parameters())), got {type(optimizer).__name__}"
            )
        self._check_k_alpha(k, alpha)
        self.optimizer = optimizer
        self.k = int(k)
        self.alpha = float(alpha)
        self.step_count = 0  # inner steps taken
        self.slow: dict[Tensor, Any] = {}  # parameter -> its slow weights (an array)
        self._evaluating = False

    @staticmethod
    def _check_k_alpha(k: Any, alpha: Any) -> None:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"Lookahead: k must be an integer >= 1, got {k!r}")
        check_number("Lookahead", "alpha", alpha, low=0.0, high=1.0)

    # -- the inner optimizer's groups and state ----------------------------------------

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.optimizer.param_groups

    @property
    def state(self) -> Any:  # type: ignore[override]
        return self.optimizer.state

    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return self.optimizer.defaults

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.optimizer.add_param_group(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    # -- the step -------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of the inner optimizer; every k-th step, synchronise with the slow weights."""
        if self._evaluating:
            raise RuntimeError(
                "Lookahead.step() inside slow_weights(): the parameters hold the slow weights "
                "there; leave the with-block before training on"
            )
        with no_grad():
            for p in self._params():
                if p not in self.slow:  # first step (or a group added since): phi = p
                    self.slow[p] = copy_of_param(p)
        loss = self.optimizer.step(closure)
        self.step_count += 1
        if self.step_count % self.k == 0:
            with no_grad():
                for p, slow in self.slow.items():
                    lookahead_sync(p.data, slow, alpha=self.alpha)
                    p._version.value += 1
        return loss

    @contextlib.contextmanager
    def slow_weights(self) -> Iterator[None]:
        """Within the block, the parameters hold the slow weights; their fast values after.

        Values are copied in and out (the arrays stay the same objects). Before the first
        step the slow weights are the parameters themselves, so nothing changes.
        """
        if self._evaluating:
            raise RuntimeError("Lookahead.slow_weights() is already active (nested use)")
        fast = {}
        with no_grad():
            for p, slow in self.slow.items():
                fast[p] = copy_of_param(p)
                p.data[...] = slow
                p._version.value += 1
        self._evaluating = True
        try:
            yield
        finally:
            self._evaluating = False
            with no_grad():
                for p, values in fast.items():
                    p.data[...] = values
                    p._version.value += 1

    # -- state dicts ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"optimizer": inner state dict, "slow": {index: array}, "step_count": int,
        "k": int, "alpha": float}``; the slow arrays are live (not copies)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        slow = {index[id(p)]: s for p, s in self.slow.items() if id(p) in index}
        return {"optimizer": self.optimizer.state_dict(), "slow": slow,
                "step_count": self.step_count, "k": self.k, "alpha": self.alpha}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        expected = {"optimizer", "slow", "step_count", "k", "alpha"}
        if not isinstance(state_dict, dict):
            raise TypeError(f"Lookahead.load_state_dict: expected a dict, got "
                            f"{type(state_dict).__name__}")
        for key in state_dict:
            if key not in expected:
                raise KeyError(f"Lookahead.load_state_dict: unknown key {key!r}"
                               f"{_closest(key, expected)}; expected {sorted(expected)}")
        for key in expected:
            if key not in state_dict:
                raise KeyError(f"Lookahead.load_state_dict: missing key {key!r}")
        k, alpha = state_dict["k"], state_dict["alpha"]
        self._check_k_alpha(k, alpha)
        params = self._params()
        slow = {}
        for key, value in dict(state_dict["slow"]).items():
            i = _param_index(key)
            if i is None or i >= len(params):
                raise KeyError(f"Lookahead.load_state_dict: slow weights for {key!r}, but the "
                               f"parameters are numbered 0 to {len(params) - 1}")
            slow[params[i]] = _state_array(value, params[i], f"slow[{i}]")
        self.optimizer.load_state_dict(state_dict["optimizer"])  # checks, then changes
        self.slow = slow
        self.step_count = int(state_dict["step_count"])
        self.k, self.alpha = int(k), float(alpha)

    def __repr__(self) -> str:
        return f"Lookahead (k={self.k}, alpha={self.alpha}) over\n{self.optimizer!r}"


def lookahead_sync(fast: Any, slow: Any, *, alpha: float) -> None:
    """Lookahead's synchronisation of one parameter's arrays, in place: the slow weights
    move part of the way to the fast ones, and the fast weights restart from there.

    The arithmetic is ``_plain_lookahead_sync``'s; where the compiled loop can take the
    arrays (NumPy with Numba on, float32/float64, C-contiguous) ``_fused_lookahead_sync``
    does it in one pass over memory.
    """
    check_shapes("lookahead_sync", fast, slow=slow)
    update = _fused_lookahead_sync if fusable(fast, slow) else _plain_lookahead_sync
    update(fast, slow, alpha=alpha)


def _plain_lookahead_sync(fast: Any, slow: Any, *, alpha: float) -> None:
    """slow = slow + alpha * (fast - slow); fast = slow (array code, NumPy or CuPy)."""
    slow += alpha * (fast - slow)
    fast[...] = slow


def _fused_lookahead_sync(fast: Any, slow: Any, *, alpha: float) -> None:
    """``_plain_lookahead_sync`` in one compiled pass over memory, for arrays that
    ``fusable`` accepts; alpha rounded to the parameter's dtype."""
    dtype = fast.dtype
    lookahead_loop(flat(fast, dtype), flat(slow, dtype), alpha=dtype.type(alpha))
