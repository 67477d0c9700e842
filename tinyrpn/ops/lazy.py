"""``kernels()``: the kernels package, imported on first use.

``tinyrpn.kernels`` loads Numba, which takes a moment; ``import tinyrpn`` should not pay for it,
so an op reaches its kernel through ``kernels().layer_norm_forward(...)`` instead of a
module-level import.
"""

from __future__ import annotations

from types import ModuleType


def kernels() -> ModuleType:
    """The ``tinyrpn.kernels`` package (imported, and Numba loaded, at the first call)."""
    from tinyrpn import kernels as package

    return package
