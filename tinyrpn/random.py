"""The one random stream behind tinyrpn's initialisers, random tensors and dropout.

``tinyrpn.manual_seed(s)`` reseeds it. Random numbers are always drawn on the CPU with
NumPy's PCG64 generator and then moved to the device, so that the same seed gives the same
numbers on every backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed tinyrpn's global random stream; returns the new generator."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an integer seed, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that tinyrpn draws from when no other is given."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The global stream's state as plain JSON-able data (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _generator.bit_generator.state = state
