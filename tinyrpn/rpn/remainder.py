"""Remainder functions π: the term an RPN head adds beside W·κ(x), y = W·κ(x) + π(x).

=======================  =====================  ===========================================
class                    π(x)                   parameters
=======================  =====================  ===========================================
ZeroRemainder()          0                      none (the head skips the addition)
IdentityRemainder()      x                      none; needs m == n (a residual connection)
LinearRemainder(m, n)    x·Wᵀ (+ b)             W (n × m), and b (n) when ``bias=True``
=======================  =====================  ===========================================

A head calls ``remainder.bind(m, n)`` when it is built; that records the dimensions and
raises an error when the remainder cannot map m inputs to n outputs.
"""

from __future__ import annotations

import math

import numpy as np

from tinyrpn.autograd import Tensor, zeros
from tinyrpn.nn import init
from tinyrpn.nn.module import Module, Parameter

__all__ = ["Remainder", "ZeroRemainder", "IdentityRemainder", "LinearRemainder"]


class Remainder(Module):
    """Base class. ``is_zero`` tells a head it may skip adding π(x)."""

    is_zero = False

    def __init__(self, m: int | None = None, n: int | None = None) -> None:
        super().__init__()
        self.m, self.n = m, n

    def bind(self, m: int, n: int) -> None:
        """Record the head's m and n; raise if they contradict what this remainder holds."""
        for name, mine, theirs in (("m", self.m, m), ("n", self.n, n)):
            if mine is not None and mine != theirs:
                raise ValueError(
                    f"{type(self).__name__} was built with {name}={mine}, but the head it is "
                    f"given to has {name}={theirs}"
                )
        self.m, self.n = m, n

    def extra_repr(self) -> str:
        return "" if self.m is None else f"m={self.m}, n={self.n}"


class ZeroRemainder(Remainder):
    """π(x) = 0. ``ZeroRemainder(m=None, n=None)``."""

    is_zero = True

    def forward(self, x: Tensor) -> Tensor:
        if self.n is None:
            raise RuntimeError("ZeroRemainder: n is unknown until a head binds it")
        return zeros(x.shape[0], self.n, dtype=x.dtype, device=x.device)


class IdentityRemainder(Remainder):
    """π(x) = x, a residual connection. ``IdentityRemainder(m=None, n=None)``; needs m == n."""

    def __init__(self, m: int | None = None, n: int | None = None) -> None:
        super().__init__(m, n)
        if m is not None and n is not None:
            self._check(m, n)

    @staticmethod
    def _check(m: int, n: int) -> None:
        if m != n:
            raise ValueError(
                f"IdentityRemainder adds x to the output, so it needs m == n, got m={m}, "
                f"n={n}; use LinearRemainder(m, n) (π(x) = x·Wᵀ) or ZeroRemainder()"
            )

    def bind(self, m: int, n: int) -> None:
        self._check(m, n)
        super().bind(m, n)

    def forward(self, x: Tensor) -> Tensor:
        return x


class LinearRemainder(Remainder):
    """π(x) = x·Wᵀ + b. ``LinearRemainder(m, n, bias=False)``.

    W is n × m, initialised as tinyBIG does, Xavier-uniform: U(±√(6/(m + n))); the bias
    (when ``bias=True``) Xavier-uniform on a 1 × n tensor: U(±√(6/(n + 1))). The default
    ``bias=False`` follows tinyBIG's ``linear_remainder`` (``enable_bias: False``).
    """

    def __init__(self, m: int, n: int, bias: bool = False) -> None:
        super().__init__(m, n)
        for name, value in (("m", m), ("n", n)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"LinearRemainder: {name} must be a positive integer, "
                                 f"got {value!r}")
        self.weight = Parameter(np.zeros((n, m), dtype=np.float32))
        bound = math.sqrt(6.0 / (m + n))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.zeros(n, dtype=np.float32))
            init.uniform_(self.bias, -math.sqrt(6.0 / (n + 1)), math.sqrt(6.0 / (n + 1)))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        out = x @ self.weight.T
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        return f"m={self.m}, n={self.n}, bias={self.bias is not None}"
