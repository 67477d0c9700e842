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


def pytorch_cpu_rand(seed: int, n: int) -> np.ndarray:
    """The first ``n`` numbers ``torch.rand`` gives on the CPU after ``torch.manual_seed(seed)``.

    For re-running a published PyTorch experiment from exactly its initial weights; PyTorch
    itself is not needed. Its CPU generator is the standard 32-bit Mersenne Twister MT19937,
    seeded by ``init_genrand(seed)`` (NumPy's legacy integer seeding does the same), and a
    float32 uniform number is the low 24 bits of one 32-bit draw times 2⁻²⁴, so it lies in
    [0, 1) on a grid of 2⁻²⁴. Returns float32 of shape (n,).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise TypeError(f"pytorch_cpu_rand expects a non-negative integer seed, got {seed!r}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise TypeError(f"pytorch_cpu_rand expects a non-negative integer count, got {n!r}")
    # RandomState(int) seeds MT19937 by init_genrand, as torch.manual_seed does; its state
    # moved into a bare MT19937 gives the raw 32-bit draws.
    _, key, pos, _, _ = np.random.RandomState(int(seed) & 0xFFFFFFFF).get_state()
    bits = np.random.MT19937()
    bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
    draws = bits.random_raw(int(n)) & ((1 << 24) - 1)
    return draws.astype(np.float32) * np.float32(2.0**-24)
