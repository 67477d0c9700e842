"""The elementwise functions that tinyBIG's expansions and activations use, by tinyBIG's names.

Most are ``ops`` functions (``sin`` ... ``erf`` in ``ops/elementwise.py``; ``silu``, ``gelu``,
``leaky_relu`` in ``ops/activations.py``). The four inverse functions that ``ops`` does not
have yet are defined here, each as the function f and its derivative f′ in plain xp, so that
``unary('arccosh', x)`` is a differentiable Tensor op whose backward is d·f′(x):

============  ==========================  ====================================
name          f(x)                        f′(x)
============  ==========================  ====================================
arccos        arccos x                    −1/√(1 − x²)
arcsinh       arsinh x                    1/√(x² + 1)
arccosh       arcosh x                    1/√(x² − 1)
arctanh       artanh x                    1/(1 − x²)
============  ==========================  ====================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinyrpn.autograd import Function, Tensor
from tinyrpn.ops import activations, elementwise
from tinyrpn.ops.math import _xp

__all__ = ["UNARY", "unary", "silu", "gelu", "leaky_relu", "erf"]

# tinyBIG's name -> the ops function
FROM_OPS: dict[str, Callable[[Tensor], Tensor]] = {
    "sin": elementwise.sin, "cos": elementwise.cos, "tan": elementwise.tan,
    "sinh": elementwise.sinh, "cosh": elementwise.cosh, "arcsin": elementwise.asin,
    "arctan": elementwise.atan, "erf": elementwise.erf,
}

UNARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "arccos": (lambda xp, x: xp.arccos(x), lambda xp, x: -1 / xp.sqrt(1 - x * x)),
    "arcsinh": (lambda xp, x: xp.arcsinh(x), lambda xp, x: 1 / xp.sqrt(x * x + 1)),
    "arccosh": (lambda xp, x: xp.arccosh(x), lambda xp, x: 1 / xp.sqrt(x * x - 1)),
    "arctanh": (lambda xp, x: xp.arctanh(x), lambda xp, x: 1 / (1 - x * x)),
}


class Unary(Function):
    """out = f(x);  dx = d·f′(x), for f one of ``UNARY`` (chosen by ``name=``)."""

    def forward(self, x: Any, *, name: str) -> Any:
        self.x, self.fn_name = x, name
        return UNARY[name][0](_xp(x), x)

    def backward(self, d: Any) -> Any:
        return d * UNARY[self.fn_name][1](_xp(d), self.x)


def unary(name: str, x: Tensor) -> Tensor:
    """f(x) elementwise for f named as tinyBIG names it ('sin', 'arctanh', 'erf', ...)."""
    if name in FROM_OPS:
        return FROM_OPS[name](x)
    if name not in UNARY:
        valid = ", ".join([*FROM_OPS, *UNARY])
        raise ValueError(f"unknown elementwise function {name!r}; valid: {valid}")
    return Unary.apply(x, name=name)


erf = elementwise.erf
silu = activations.silu
leaky_relu = activations.leaky_relu
gelu = activations.gelu  # exact by default: x·Φ(x) = x·(1 + erf(x/√2))/2
