"""Remainder functions π: the term an RPN head adds beside W·κ(x), y = W·κ(x) + π(x).

=========================  =====================  =========================================
class                      π(x)                   parameters
=========================  =====================  =========================================
ZeroRemainder()            0                      none (the head skips the addition)
ConstantRemainder(c)       c (every output)       none
OneRemainder()             1 (every output)       none
IdentityRemainder()        x                      none; needs m == n (a residual connection)
LinearRemainder(m, n)      x·Wᵀ (+ b)             W (n × m), and b (n) when ``bias=True``
BSplineRemainder(m, n)     B(x)·Cᵀ·Wᵀ (+ b)       C (m × m(t+d)), W (n × m), b when asked
=========================  =====================  =========================================

Every remainder takes ``activation=`` (a name such as ``'silu'``, a Module, a callable, or
a list of these, as an expansion's ``postprocess=``), applied to π(x) last:
π(x) = σ(x·Wᵀ + b) for ``LinearRemainder(m, n, activation='silu')``, the "base" term of a
KAN layer. ``remainder(x, w=..., b=...)`` uses the given W and b instead of its own (a
tinyBIG head keeps them outside the remainder).

A head calls ``remainder.bind(m, n)`` when it is built; that records the dimensions and
raises an error when the remainder cannot map m inputs to n outputs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyrpn.autograd import Tensor, as_tensor, ones, zeros
from tinyrpn.nn import init
from tinyrpn.nn.module import Module, ModuleList, Parameter
from tinyrpn.rpn._checks import positive_int

__all__ = ["Remainder", "ZeroRemainder", "ConstantRemainder", "OneRemainder",
           "IdentityRemainder", "LinearRemainder", "BSplineRemainder"]


class Remainder(Module):
    """y = act(π(x)),  x (N, m) → y (N, n):  the term a head adds to its product.

    Base class. ``is_zero`` tells a head it may skip adding π(x).

    Subclasses define ``compute(x, w, b)``; ``forward(x, w=None, b=None)`` adds the
    activation steps.
    """

    is_zero = False

    def __init__(self, m: int | None = None, n: int | None = None,
                 activation: Any = None) -> None:
        super().__init__()
        from tinyrpn.rpn.expansion import _postprocess_steps

        self.m, self.n = m, n
        self.activation = ModuleList(_postprocess_steps(activation))

    @staticmethod
    def parameter_count(m: int, n: int, **settings: Any) -> int:
        """The trainable parameters of this kind of remainder from m features to n (none
        here); raises ValueError when it cannot map m to n. Known before it is built."""
        return 0

    def compute(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, w: Any = None, b: Any = None) -> Tensor:
        x = x if isinstance(x, Tensor) else as_tensor(x)
        w = w if w is None or isinstance(w, Tensor) else as_tensor(w)
        b = b if b is None or isinstance(b, Tensor) else as_tensor(b)
        out = self.compute(x, w, b)
        for step in self.activation:
            out = step(out)
        return out

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


class ConstantRemainder(Remainder):
    """π(x) = c for every output: shape (N, n). ``ConstantRemainder(c=1.0, m=None, n=None,
    activation=None)``. (tinyBIG returns c·1 of shape (n,) and lets the head broadcast it.)
    """

    def __init__(self, c: float = 1.0, m: int | None = None, n: int | None = None,
                 activation: Any = None) -> None:
        super().__init__(m, n, activation)
        self.c = float(c)

    @property
    def is_zero(self) -> bool:  # type: ignore[override]
        return self.c == 0.0 and not len(self.activation)

    def compute(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        n = self.n if self.n is not None or w is None else w.shape[0]  # W is n × m
        if n is None:
            raise RuntimeError(f"{type(self).__name__}: n is unknown until a head binds it")
        return ones(x.shape[0], n, dtype=x.dtype, device=x.device) * self.c

    def extra_repr(self) -> str:
        return f"c={self.c:g}" + (f", {super().extra_repr()}" if self.m is not None else "")


class ZeroRemainder(ConstantRemainder):
    """π(x) = 0. ``ZeroRemainder(m=None, n=None, activation=None)``."""

    def __init__(self, m: int | None = None, n: int | None = None,
                 activation: Any = None) -> None:
        super().__init__(0.0, m, n, activation)

    def compute(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        n = self.n if self.n is not None or w is None else w.shape[0]
        if n is None:
            raise RuntimeError("ZeroRemainder: n is unknown until a head binds it")
        return zeros(x.shape[0], n, dtype=x.dtype, device=x.device)

    def extra_repr(self) -> str:
        return Remainder.extra_repr(self)


class OneRemainder(ConstantRemainder):
    """π(x) = 1 for every output. ``OneRemainder(m=None, n=None, activation=None)``."""

    def __init__(self, m: int | None = None, n: int | None = None,
                 activation: Any = None) -> None:
        super().__init__(1.0, m, n, activation)


class IdentityRemainder(Remainder):
    """π(x) = x, a residual connection. ``IdentityRemainder(m=None, n=None)``; needs m == n."""

    def __init__(self, m: int | None = None, n: int | None = None,
                 activation: Any = None) -> None:
        super().__init__(m, n, activation)
        if m is not None and n is not None:
            self._check(m, n)

    @staticmethod
    def _check(m: int, n: int) -> None:
        if m != n:
            raise ValueError(
                f"IdentityRemainder adds x to the output, so it needs m == n, got m={m}, "
                f"n={n}; use LinearRemainder(m, n) (π(x) = x·Wᵀ) or ZeroRemainder()"
            )

    @staticmethod
    def parameter_count(m: int, n: int, **settings: Any) -> int:
        """None; m must equal n."""
        IdentityRemainder._check(m, n)
        return 0

    def bind(self, m: int, n: int) -> None:
        self._check(m, n)
        super().bind(m, n)

    def compute(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        return x


class LinearRemainder(Remainder):
    """π(x) = x·Wᵀ + b. ``LinearRemainder(m, n, bias=False)``.

    W is n × m, initialised as tinyBIG does, Xavier-uniform: U(±√(6/(m + n))); the bias
    (when ``bias=True``) Xavier-uniform on a 1 × n tensor: U(±√(6/(n + 1))). The default
    ``bias=False`` follows tinyBIG's ``linear_remainder`` (``enable_bias: False``).

    ``LinearRemainder(None, None)`` has no parameters of its own: every call passes W (and
    b), as a tinyBIG head does (``build_function`` makes one when m and n are not given).
    """

    def __init__(self, m: int | None, n: int | None, bias: bool = False,
                 activation: Any = None) -> None:
        super().__init__(m, n, activation)
        if m is None and n is None:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
            return
        m, n = positive_int("LinearRemainder", "m", m), positive_int("LinearRemainder", "n", n)
        self.weight = Parameter(np.zeros((n, m), dtype=np.float32))
        bound = math.sqrt(6.0 / (m + n))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.zeros(n, dtype=np.float32))
            init.uniform_(self.bias, -math.sqrt(6.0 / (n + 1)), math.sqrt(6.0 / (n + 1)))
        else:
            self.register_parameter("bias", None)

    @staticmethod
    def parameter_count(m: int, n: int, bias: bool = False, activation: Any = None) -> int:
        """W is n × m; b adds n when ``bias``."""
        return n * m + (n if bias else 0)

    def compute(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        if w is None and self.weight is None:
            raise ValueError("LinearRemainder without m and n has no weight of its own: "
                             "pass w (n x m), as remainder(x, w=..., b=...)")
        out = x @ (self.weight if w is None else w).T
        b = self.bias if b is None else b
        return out + b if b is not None else out

    def extra_repr(self) -> str:
        if self.weight is None:
            return "w and b given at each call"
        return f"m={self.m}, n={self.n}, bias={self.bias is not None}"


class BSplineRemainder(LinearRemainder):
    """π(x) = (B(x)·Cᵀ)·Wᵀ + b: a B-spline expansion of x, mapped back to m features by a
    matrix C (m × m(t + d)), then a linear remainder.

    ``BSplineRemainder(m, n, grid_range=(-1, 1), t=5, d=3, bias=False, activation=None)``;
    B(x) is ``BSplineExpansion(grid_range, t, d)``'s output. C is initialised as tinyBIG
    does, Xavier-uniform, and trained with the rest.
    """

    def __init__(self, m: int, n: int, grid_range: tuple[float, float] = (-1.0, 1.0),
                 t: int = 5, d: int = 3, bias: bool = False, activation: Any = None) -> None:
        from tinyrpn.rpn.expansion import BSplineExpansion

        super().__init__(m, n, bias, activation)
        self.splines = BSplineExpansion(grid_range, t, d)
        D = self.splines.output_dim(m)
        self.spline_weight = Parameter(np.zeros((m, D), dtype=np.float32))
        bound = math.sqrt(6.0 / (m + D))
        init.uniform_(self.spline_weight, -bound, bound)

    @staticmethod
    def parameter_count(m: int, n: int, grid_range: tuple[float, float] = (-1.0, 1.0),
                        t: int = 5, d: int = 3, bias: bool = False,
                        activation: Any = None) -> int:
        """LinearRemainder's W (and b), and C: m × m(t + d)."""
        return LinearRemainder.parameter_count(m, n, bias) + m * m * (t + d)

    def compute(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        return super().compute(self.splines(x) @ self.spline_weight.T, w, b)
