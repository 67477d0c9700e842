"""Checks on batches of data: a NaN or an infinity in the inputs stops a run, naming the batch.

A NaN pixel (a corrupted cache, a transform that divides by zero) does not crash anything:
it silently turns the loss, then every weight, into NaN. The Trainer checks each batch
before it uses it, so the run stops at the batch that is bad, not steps later at a NaN
loss, and the message names the batch, its rows and the examples they came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrpn import backend

__all__ = ["BadInputData", "check_finite_batch"]


class BadInputData(ValueError):
    """A batch of input data (images or targets) holds NaN or infinite values."""


def _raw(x: Any) -> Any:
    return x.data if hasattr(x, "requires_grad") else x  # a Tensor's array, or the array


def _non_finite_rows(t: Any) -> list[int]:
    """The rows (first-axis indices) of a float batch that hold a NaN or an infinity."""
    a = _raw(t)
    if getattr(a, "dtype", None) is None or a.dtype.kind not in "fc" or a.ndim == 0:
        return []
    xp = backend.get_array_module(a)
    if bool(xp.isfinite(a).all()):  # the usual case: one pass, one bool (and one sync on a GPU)
        return []
    bad = ~xp.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return [int(i) for i in np.flatnonzero(backend.to_numpy(bad))]


def check_finite_batch(xb: Any, yb: Any, loader: Any, where: str, after: str = "") -> None:
    """Raise :class:`BadInputData` if the batch ``xb, yb`` holds NaN or inf."""
    for what, t in (("inputs", xb), ("targets", yb)):
        rows = _non_finite_rows(t)
        if not rows:
            continue
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        examples = getattr(loader, "batch_indices", None)  # tinyrpn's DataLoader says
        if examples is not None:
            picked = ", ".join(str(int(examples[r])) for r in rows[:5])
            shown += f"; examples {picked}{', ...' if len(rows) > 5 else ''} of its arrays"
        raise BadInputData(
            f"bad input data: {where} holds NaN or inf in its {what} ({len(rows)} of "
            f"{int(_raw(t).shape[0])} rows: {shown}){after}; look for a corrupted cache or "
            "a transform that makes NaN (a division by a zero std, a log of 0)")
