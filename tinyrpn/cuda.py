"""``tinyrpn.cuda``: whether a GPU can be used, in PyTorch's shape (``torch.cuda``).

>>> device = "cuda" if tinyrpn.cuda.is_available() else "cpu"
"""

from __future__ import annotations

from tinyrpn import backend


def is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA devices CuPy sees (0 without CuPy or a GPU)."""
    if not backend.cuda_is_available():
        return 0
    return int(backend.xp_for("cuda").cuda.runtime.getDeviceCount())


__all__ = ["is_available", "device_count"]
