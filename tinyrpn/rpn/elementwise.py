"""The elementwise functions that tinyBIG's expansions and activations use and ``ops`` lacks.

Each is one entry of ``UNARY``: the function f and its derivative f′, both in plain xp, so
that ``unary('sin', x)`` is a differentiable Tensor op whose backward is d·f′(x).

============  ==========================  ====================================
name          f(x)                        f′(x)
============  ==========================  ====================================
sin, cos      sin x, cos x                cos x, −sin x
tan           tan x                       1 + tan² x
sinh, cosh    sinh x, cosh x              cosh x, sinh x
arcsin        arcsin x                    1/√(1 − x²)
arccos        arccos x                    −1/√(1 − x²)
arctan        arctan x                    1/(1 + x²)
arcsinh       arsinh x                    1/√(x² + 1)
arccosh       arcosh x                    1/√(x² − 1)
arctanh       artanh x                    1/(1 − x²)
erf           (2/√π)∫₀ˣ e^{−t²} dt        (2/√π)·e^{−x²}
============  ==========================  ====================================

and three activations composed from them: ``silu(x) = x·σ(x)``,
``gelu(x) = x·Φ(x) = x·(1 + erf(x/√2))/2`` (the exact GELU, PyTorch's default) and
``leaky_relu(x) = max(x, 0.01·x)``.

(When ``ops`` grows these functions, this file should shrink to imports.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tinyrpn.autograd import Function, Tensor
from tinyrpn.ops import math as _math
from tinyrpn.ops.math import _xp

__all__ = ["UNARY", "unary", "silu", "gelu", "leaky_relu", "erf"]


def _erf(xp: Any, x: Any) -> Any:
    # NumPy has no erf; math.erf is exact to double precision, one element at a time (it
    # is used on small arrays: remainders' outputs and activations, not expansions).
    values = np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, dtype=np.float64))
    return xp.asarray(values.astype(x.dtype, copy=False))


UNARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "sin": (lambda xp, x: xp.sin(x), lambda xp, x: xp.cos(x)),
    "cos": (lambda xp, x: xp.cos(x), lambda xp, x: -xp.sin(x)),
    "tan": (lambda xp, x: xp.tan(x), lambda xp, x: 1 + xp.tan(x) ** 2),
    "sinh": (lambda xp, x: xp.sinh(x), lambda xp, x: xp.cosh(x)),
    "cosh": (lambda xp, x: xp.cosh(x), lambda xp, x: xp.sinh(x)),
    "arcsin": (lambda xp, x: xp.arcsin(x), lambda xp, x: 1 / xp.sqrt(1 - x * x)),
    "arccos": (lambda xp, x: xp.arccos(x), lambda xp, x: -1 / xp.sqrt(1 - x * x)),
    "arctan": (lambda xp, x: xp.arctan(x), lambda xp, x: 1 / (1 + x * x)),
    "arcsinh": (lambda xp, x: xp.arcsinh(x), lambda xp, x: 1 / xp.sqrt(x * x + 1)),
    "arccosh": (lambda xp, x: xp.arccosh(x), lambda xp, x: 1 / xp.sqrt(x * x - 1)),
    "arctanh": (lambda xp, x: xp.arctanh(x), lambda xp, x: 1 / (1 - x * x)),
    "erf": (_erf, lambda xp, x: (2 / math.sqrt(math.pi)) * xp.exp(-x * x)),
}


class Unary(Function):
    """out = f(x);  dx = d·f′(x), for f one of ``UNARY`` (chosen by ``name=``)."""

    def forward(self, x: Any, *, name: str) -> Any:
        self.x, self.fn_name = x, name
        return UNARY[name][0](_xp(x), x)

    def backward(self, d: Any) -> Any:
        return d * UNARY[self.fn_name][1](_xp(d), self.x)


def unary(name: str, x: Tensor) -> Tensor:
    """f(x) elementwise for f named in ``UNARY`` ('sin', 'arctanh', 'erf', ...)."""
    if name not in UNARY:
        raise ValueError(f"unknown elementwise function {name!r}; valid: {', '.join(UNARY)}")
    return Unary.apply(x, name=name)


def erf(x: Tensor) -> Tensor:
    """erf(x), elementwise."""
    return unary("erf", x)


def silu(x: Tensor) -> Tensor:
    """SiLU (swish): x·σ(x)."""
    return x * _math.sigmoid(x)


def gelu(x: Tensor) -> Tensor:
    """GELU, exact: x·Φ(x) = x·(1 + erf(x/√2))/2."""
    return x * (erf(x * (1 / math.sqrt(2.0))) + 1.0) * 0.5


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """max(x, a·x) for 0 ≤ a ≤ 1 (PyTorch's default a = 0.01)."""
    return _math.maximum(x, x * negative_slope)
