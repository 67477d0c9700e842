"""Data expansions κ: the fixed, parameter-free maps that lift x ∈ R^m to κ(x) ∈ R^D.

An RPN head computes y = W(w) · post(κ(x)) + π(x). The expansion is where an RPN gets
its non-linearity: a polynomial or basis-function expansion of the input, followed by
optional post-processing (a LayerNorm, an activation) applied to the whole D-vector.

Every expansion takes a batch x of shape (N, m), returns shape (N, D), and knows
``output_dim(m) == D`` before seeing any data (a head needs D to size its parameters).

===============================  ===================================  =====================
class                            κ(x) per sample                      D
===============================  ===================================  =====================
IdentityExpansion()              x                                    m
TaylorExpansion(d)               [x, x⊗x, ..., x^{⊗d}] (row-major)    m + m² + ... + m^d
ChebyshevExpansion(d)            [T_1(x_i), ..., T_d(x_i)] per i      m·d
GaussianRBFExpansion(centers)    [exp(−((x_i − c_k)/σ)²)]_k per i     m·K
BSplineExpansion(t, d)           the t+d B-splines of degree d per i  m·(t + d)
===============================  ===================================  =====================

"per i" expansions are feature-major: entry i·K + k belongs to feature i, basis k (as in
tinyBIG).

Post-processing: ``postprocess=`` takes a Module (e.g. an affine ``nn.LayerNorm(D)``), a
callable Tensor -> Tensor, one of the names in ``Postprocess.NAMES`` ('layer_norm' is a
LayerNorm without parameters, eps 1e-5), or a list of these, applied in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyrpn.autograd import Function, Tensor, as_tensor
from tinyrpn.backend import get_array_module
from tinyrpn.nn.module import Module, ModuleList
from tinyrpn.ops import math as _math
from tinyrpn.ops.lazy import kernels as _kernels
from tinyrpn.ops.shape import cat, stack
from tinyrpn.rpn._checks import positive_int

__all__ = [
    "Expansion", "IdentityExpansion", "TaylorExpansion", "ChebyshevExpansion",
    "GaussianRBFExpansion", "BSplineExpansion", "Postprocess", "taylor_reference",
]


# ----------------------------------------------------------------------------- post-processing


def _layer_norm(z: Tensor, eps: float) -> Tensor:
    from tinyrpn.nn import functional as F

    return F.layer_norm(z, z.shape[-1], None, None, eps)


class Postprocess(Module):
    """A parameter-free function applied to the whole expansion, chosen by name.

    ``Postprocess('layer_norm', eps=1e-5)``: (z − mean(z)) / √(var(z) + eps) per sample,
    over all D features, without weight or bias (what tinyBIG's LayerNorms amount to, since
    their affine parameters were never trained). ``'relu'``, ``'tanh'``, ``'sigmoid'``:
    the activation, elementwise (also ``'silu'``, ``'gelu'``, ``'leaky_relu'``,
    ``'softplus'``, ``'exp'``). ``Postprocess(fn=callable)`` wraps any Tensor -> Tensor.
    """

    NAMES = ("layer_norm", "relu", "tanh", "sigmoid", "silu", "gelu", "leaky_relu", "softplus",
             "exp")

    def __init__(self, name: str | None = None, eps: float = 1e-5,
                 fn: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__()
        if fn is not None:
            self.name, self.fn = getattr(fn, "__name__", type(fn).__name__), fn
        elif name in self.NAMES:
            from tinyrpn.ops.nn import softplus
            from tinyrpn.rpn import elementwise as E

            self.name = name
            self.fn = {
                "layer_norm": lambda z: _layer_norm(z, eps),
                "relu": _math.relu, "tanh": _math.tanh, "sigmoid": _math.sigmoid,
                "silu": E.silu, "gelu": E.gelu, "leaky_relu": E.leaky_relu,
                "softplus": softplus, "exp": _math.exp,
            }[name]
        else:
            raise ValueError(
                f"unknown post-processing {name!r}; valid names: {', '.join(self.NAMES)} "
                "(or pass a Module, or a callable Tensor -> Tensor)"
            )
        self.eps = eps

    def forward(self, z: Tensor) -> Tensor:
        return self.fn(z)

    def __repr__(self) -> str:
        return f"{self.name}(eps={self.eps:g})" if self.name == "layer_norm" else self.name


def _postprocess_steps(spec: Any) -> list[Module]:
    if spec is None:
        return []
    items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    steps: list[Module] = []
    for item in items:
        if isinstance(item, Module):
            steps.append(item)
        elif isinstance(item, str):
            steps.append(Postprocess(item))
        elif callable(item):
            steps.append(Postprocess(fn=item))
        else:
            raise TypeError(
                f"postprocess: {item!r} is neither a Module, a callable nor one of the names "
                f"{', '.join(Postprocess.NAMES)}"
            )
    return steps


# ----------------------------------------------------------------------------- base class


class Expansion(Module):
    """Base class: ``expand(x)`` computes κ(x) for x of shape (N, m); ``forward`` adds the
    pre- and post-processing; ``output_dim(m)`` is D.

    ``preprocess=`` (same forms as ``postprocess=``) is applied to x before the expansion,
    elementwise steps only, since D is computed from the m features it leaves.
    """

    def __init__(self, postprocess: Any = None, preprocess: Any = None) -> None:
        super().__init__()
        self.postprocess = ModuleList(_postprocess_steps(postprocess))
        self.preprocess = ModuleList(_postprocess_steps(preprocess))

    def output_dim(self, m: int) -> int:
        """D, the size of κ(x) for an input of m features."""
        raise NotImplementedError

    def expand(self, x: Tensor) -> Tensor:
        """κ(x), before post-processing."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        if x.ndim != 2:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of shape (N, m), got shape {x.shape}"
            )
        # Memory: the graph links Functions, not tensors, so once a post-processing step
        # has run, the raw expansion (157 MB for 64 MNIST images) is freed here unless some
        # backward saved it. Taylor2 saves only x and LayerNorm only its output: it is.
        for step in self.preprocess:
            x = step(x)
        z = self.expand(x)
        for step in self.postprocess:
            z = step(z)
        return z

    def contract(self, x: Tensor, M: Tensor) -> Tensor:
        """post(κ(x)) cut into blocks of L = M.shape[0] entries, each block times M.

        Shape (N, D/L, r) for M of shape (L, r); L must divide D. The same as
        ``self(x).reshape(N, D // L, L) @ M``, which is what this base class computes;
        an expansion may do it without building κ(x) (``TaylorExpansion`` of degree 2).
        """
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        z = self(x)
        L = M.shape[0]
        if M.ndim != 2 or z.shape[1] % L:
            raise ValueError(
                f"{type(self).__name__}.contract: M must be (L, r) with L dividing "
                f"D={z.shape[1]}, got shape {M.shape}"
            )
        return z.reshape(z.shape[0], z.shape[1] // L, L) @ M

    def contract_dense(self, x: Tensor, w: Tensor, n: int) -> Tensor | None:
        """post(κ(x)) · Wᵀ with W = w viewed as an n × D matrix (row-major), or None.

        None means this expansion has no way to compute it without building κ(x); the
        caller then expands and multiplies (``IdentityReconciliation`` does).
        ``TaylorExpansion`` of degree 2 without post-processing has one.
        """
        return None

    def _settings(self) -> str:
        return ""

    def __repr__(self) -> str:
        parts = [self._settings()] if self._settings() else []
        if len(self.postprocess):
            parts.append("postprocess=[" + ", ".join(repr(s) for s in self.postprocess) + "]")
        return f"{type(self).__name__}({', '.join(parts)})"


# ----------------------------------------------------------------------------- identity


class IdentityExpansion(Expansion):
    """κ(x) = x, D = m. ``IdentityExpansion(postprocess=None)``."""

    def output_dim(self, m: int) -> int:
        return m

    def expand(self, x: Tensor) -> Tensor:
        return x


# ----------------------------------------------------------------------------- Taylor


class Taylor2(Function):
    """κ(x) = [x, vec(x xᵀ)] per row: D = m + m², z[m + a·m + c] = x_a·x_c.

    backward:  dx_a = dz_a + Σ_c dz[m + a·m + c]·x_c + Σ_c dz[m + c·m + a]·x_c

    Only x is saved (N × m): the N × (m + m²) output is never read by backward. The loops
    live in ``tinyrpn.kernels.taylor2_forward / taylor2_backward``.
    """

    saves_inputs = True
    saves_output = False

    def forward(self, x: Any) -> Any:
        self.x = x
        return _kernels().taylor2_forward(x)

    def backward(self, d: Any) -> Any:
        return _kernels().taylor2_backward(d, self.x)


class Taylor2Contract(Function):
    """y[b, k, :] = z[b, k·L:(k+1)·L] · M for z = [x, vec(x xᵀ)] (per row), M of shape (L, r).

    backward:  dM = Σ_{b,k} z[b, k-th block]ᵀ dy[b, k]
               dx = Taylor2's backward of dz, dz[b, k-th block] = dy[b, k] · Mᵀ

    z (N × D) is never stored: the kernels rebuild its entries from x as they go, in the
    forward pass and for dM. dz is built only when x needs a gradient.
    """

    def forward(self, x: Any, M: Any) -> Any:
        self.x, self.M = x, M
        return _kernels().taylor2_contract(x, M)

    def backward(self, d: Any) -> tuple[Any, Any]:
        need_x, need_m = self.needs_input_grad
        dx = dM = None
        if need_x:
            dz = (d @ self.M.T).reshape(d.shape[0], -1)
            dx = _kernels().taylor2_backward(dz, self.x)
        if need_m:
            dM = _kernels().taylor2_contract_grad_m(self.x, d)
        return dx, dM


class Taylor2Dense(Function):
    """y = z · Wᵀ for z = [x, vec(x xᵀ)] per row and W = w viewed as an n × D matrix.

    backward:  dw = vec(dyᵀ · z),   dx = Taylor2's backward of dz = dy · W

    computed, like the forward pass, from z = vec([1, x] ⊗ x) as matrix products with x
    (``kernels.taylor2_dense``): z (N × D) is never built, dw is written straight into a
    fresh length-l array, and dx is only computed when x needs it.
    """

    def forward(self, x: Any, w: Any, *, n: int) -> Any:
        self.x, self.W = x, w.reshape(n, -1)
        return _kernels().taylor2_dense(x, self.W)

    def backward(self, d: Any) -> tuple[Any, Any]:
        need_x, need_w = self.needs_input_grad
        kernels = _kernels()
        dx = kernels.taylor2_dense_grad_x(self.x, self.W, d) if need_x else None
        dw = None
        if need_w:
            xp = get_array_module(d)
            dw = xp.empty(self.W.size, dtype=np.result_type(self.x.dtype, d.dtype))
            kernels.taylor2_dense_grad_w(self.x, d, out=dw)
        return dx, dw


def taylor_reference(x: Tensor, d: int) -> Tensor:
    """[x, x⊗x, ..., x^{⊗d}] composed from differentiable ops (any degree d ≥ 1).

    The k-th block is x^{⊗k} flattened row-major: entry (a_1, ..., a_k) at position
    Σ_j a_j·m^{k−j} holds x_{a_1}·...·x_{a_k}. Each block is the previous one times x,
    as an outer product per sample.
    """
    N = x.shape[0]
    terms, power = [x], x
    for _ in range(2, d + 1):
        power = (power.unsqueeze(2) * x.unsqueeze(1)).reshape(N, -1)
        terms.append(power)
    return cat(terms, 1) if len(terms) > 1 else x


class TaylorExpansion(Expansion):
    """Taylor (polynomial) expansion without constant term, degree d ≥ 1.

    ``TaylorExpansion(d=2, postprocess=None)``:
    κ(x) = [x, x⊗x, ..., x^{⊗d}], every block flattened row-major, so for d = 2 position
    m + a·m + c holds x_a·x_c (both x_a x_c and x_c x_a are kept, as in tinyBIG);
    D = m + m² + ... + m^d (615,440 for m = 784, d = 2). Degree 2 runs through the
    ``taylor2`` kernels; other degrees are composed from differentiable ops.
    """

    def __init__(self, d: int = 2, postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.d = positive_int("TaylorExpansion", "d", d)

    def output_dim(self, m: int) -> int:
        return sum(m ** k for k in range(1, self.d + 1))

    def expand(self, x: Tensor) -> Tensor:
        if self.d == 2:
            return Taylor2.apply(x)
        return taylor_reference(x, self.d)

    def contract(self, x: Tensor, M: Tensor) -> Tensor:
        if self.d != 2 or len(self.postprocess) or len(self.preprocess):
            return super().contract(x, M)
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        D, L = self.output_dim(x.shape[1]), M.shape[0]
        if x.ndim != 2 or M.ndim != 2 or D % L:
            raise ValueError(
                f"TaylorExpansion.contract: expected x of shape (N, m) and M of shape (L, r) "
                f"with L dividing D = m + m², got x {x.shape} and M {M.shape}"
            )
        return Taylor2Contract.apply(x, M)

    def contract_dense(self, x: Tensor, w: Tensor, n: int) -> Tensor | None:
        if self.d != 2 or len(self.postprocess) or len(self.preprocess):
            return None
        if not isinstance(x, Tensor):
            x = as_tensor(x)
        D = self.output_dim(x.shape[1]) if x.ndim == 2 else None
        if D is None or w.ndim != 1 or w.shape[0] != n * D:
            raise ValueError(
                f"TaylorExpansion.contract_dense: expected x of shape (N, m) and w of length "
                f"n·D = {n}·(m + m²), got x {x.shape} and w {w.shape}"
            )
        return Taylor2Dense.apply(x, w, n=n)

    def _settings(self) -> str:
        return f"d={self.d}"


# ----------------------------------------------------------------------------- Chebyshev


class ChebyshevExpansion(Expansion):
    """Chebyshev polynomials of the first kind, T_1 .. T_d of every feature.

    ``ChebyshevExpansion(d=5, postprocess=None)``: T_0 = 1, T_1 = x,
    T_k = 2x·T_{k−1} − T_{k−2}. As tinyBIG's ``chebyshev_expansion``, the constant T_0 is
    dropped; entry i·d + (k − 1) holds T_k(x_i), so D = m·d. The polynomials are
    orthogonal on [−1, 1]; inputs outside that range are not clipped.
    """

    def __init__(self, d: int = 5, postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.d = positive_int("ChebyshevExpansion", "d", d)

    def output_dim(self, m: int) -> int:
        return m * self.d

    def expand(self, x: Tensor) -> Tensor:
        N, m = x.shape
        polys = [x]
        previous: Tensor | float = 1.0
        for _ in range(2, self.d + 1):
            polys.append(2.0 * x * polys[-1] - previous)
            previous = polys[-2]
        return stack(polys, 2).reshape(N, m * self.d)

    def _settings(self) -> str:
        return f"d={self.d}"


# ----------------------------------------------------------------------------- Gaussian RBF


class GaussianRBFExpansion(Expansion):
    """Gaussian radial basis functions around fixed centres, for every feature.

    ``GaussianRBFExpansion(centers=10, sigma=1.0, base_range=(-1.0, 1.0), postprocess=None)``:
    κ(x)[i·K + k] = exp(−((x_i − c_k) / σ)²), D = m·K. ``centers`` is a sequence of K
    centres, or an int K for K centres evenly spaced over ``base_range`` (both ends
    included). tinyBIG's ``gaussian_rbf_expansion(base_range, num_interval, epsilon)`` is
    ``GaussianRBFExpansion(centers=num_interval, sigma=1/epsilon, base_range=base_range)``.
    """

    def __init__(self, centers: int | Sequence[float] = 10, sigma: float = 1.0,
                 base_range: tuple[float, float] = (-1.0, 1.0), postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
            count = positive_int("GaussianRBFExpansion", "centers", centers)
            values = np.linspace(base_range[0], base_range[1], count)
        else:
            values = np.asarray(centers, dtype=np.float64).reshape(-1)
            if values.size == 0:
                raise ValueError("GaussianRBFExpansion: centers is empty")
        if not sigma > 0:
            raise ValueError(f"GaussianRBFExpansion: sigma must be positive, got {sigma!r}")
        self.centers = values
        self.sigma = float(sigma)

    def output_dim(self, m: int) -> int:
        return m * self.centers.size

    def expand(self, x: Tensor) -> Tensor:
        N, m = x.shape
        c = Tensor._wrap(x.xp.asarray(self.centers, dtype=x.dtype))
        scaled = (x.unsqueeze(2) - c) / self.sigma
        return _math.exp(-(scaled * scaled)).reshape(N, m * self.centers.size)

    def _settings(self) -> str:
        return f"K={self.centers.size}, sigma={self.sigma:g}"


# ----------------------------------------------------------------------------- B-splines


class BSplineExpansion(Expansion):
    """B-spline basis of degree d on a uniform grid, for every feature (as tinyBIG).

    ``BSplineExpansion(grid_range=(-1.0, 1.0), t=5, d=3, postprocess=None)``: the range is
    cut into t intervals of width h and extended by d knots on each side (knots
    g_j = lo + (j − d)·h, j = 0 .. t + 2d). Cox–de Boor:

        B_{j,0}(x) = 1 if g_j ≤ x < g_{j+1} else 0
        B_{j,k}(x) = (x − g_j)/(g_{j+k} − g_j)·B_{j,k−1}(x)
                   + (g_{j+k+1} − x)/(g_{j+k+1} − g_{j+1})·B_{j+1,k−1}(x)

    giving t + d functions B_{j,d} per feature: D = m·(t + d), entry i·(t + d) + j.
    """

    def __init__(self, grid_range: tuple[float, float] = (-1.0, 1.0), t: int = 5, d: int = 3,
                 postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        self.t = positive_int("BSplineExpansion", "t", t)
        self.d = int(d)
        if self.d < 0:
            raise ValueError(f"BSplineExpansion: degree d must be >= 0, got {d!r}")
        lo, hi = float(grid_range[0]), float(grid_range[1])
        if not hi > lo:
            raise ValueError(f"BSplineExpansion: grid_range must be increasing, got {grid_range}")
        self.grid_range = (lo, hi)
        h = (hi - lo) / self.t
        self.knots = lo + h * np.arange(-self.d, self.t + self.d + 1, dtype=np.float64)

    def output_dim(self, m: int) -> int:
        return m * (self.t + self.d)

    def expand(self, x: Tensor) -> Tensor:
        N, m = x.shape
        xp, g = x.xp, self.knots

        def const(values: np.ndarray) -> Tensor:
            return Tensor._wrap(xp.asarray(values, dtype=x.dtype))

        xe = x.unsqueeze(2)
        xd = xe.data
        gd = xp.asarray(g, dtype=x.dtype)
        bases: Tensor = Tensor._wrap(((xd >= gd[:-1]) & (xd < gd[1:])).astype(x.dtype))
        for k in range(1, self.d + 1):
            left = (xe - const(g[:-(k + 1)])) * const(1.0 / (g[k:-1] - g[:-(k + 1)]))
            right = (const(g[k + 1:]) - xe) * const(1.0 / (g[k + 1:] - g[1:-k]))
            bases = left * bases[:, :, :-1] + right * bases[:, :, 1:]
        return bases.reshape(N, m * (self.t + self.d))

    def _settings(self) -> str:
        lo, hi = self.grid_range
        return f"grid_range=({lo:g}, {hi:g}), t={self.t}, d={self.d}"
