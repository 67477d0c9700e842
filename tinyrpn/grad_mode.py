"""Whether operations record a graph for ``backward``: ``no_grad``, ``enable_grad``.

One flag for the whole process, not one per thread as in PyTorch: tinyrpn runs its work
on one thread. ``Function.apply`` (the engine, ``autograd.py``) reads it before recording
a node, and ``Tensor``'s in-place methods read it to decide whether a change must be
recorded; both import this module, which imports nothing of tinyrpn.
"""

from __future__ import annotations

import contextlib
from typing import Any

enabled = True  # read it with is_grad_enabled(); change it with no_grad() / enable_grad()


def is_grad_enabled() -> bool:
    """Whether operations currently record a graph for ``backward``."""
    return enabled


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enable: bool) -> None:
        self.enable = enable

    def __enter__(self) -> None:
        global enabled
        self.previous = enabled
        enabled = self.enable

    def __exit__(self, *exc: Any) -> None:
        global enabled
        enabled = self.previous


def no_grad() -> _GradMode:
    """Context manager (or decorator) in which no graph is recorded, as in PyTorch.

    >>> with tinyrpn.no_grad():
    ...     prediction = model(x)      # no grad_fn, no memory held for backward
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (or decorator) that turns graph recording back on."""
    return _GradMode(True)
