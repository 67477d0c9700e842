"""Activation modules: thin Module wrappers around :mod:`tinyrpn.nn.functional`."""

from __future__ import annotations

from tinyrpn.autograd import Tensor
from tinyrpn.nn import functional as F
from tinyrpn.nn.module import Module

__all__ = ["ReLU", "Tanh", "Sigmoid", "Softplus", "Mish", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """y = max(x, 0), elementwise: y has x's shape.

    ``inplace`` is accepted so PyTorch code runs unchanged, but the result is always a new
    tensor: writing over an array that the graph has saved would corrupt the gradients.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """y = tanh(x), elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e^−x), elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Softplus(Module):
    """y = log(1 + exp(βx)) / β (x itself where βx > threshold), elementwise; x's shape."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Mish(Module):
    """y = x · tanh(softplus(x)), elementwise (Misra 2019): y has x's shape."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace  # accepted for PyTorch compatibility; always out of place

    def forward(self, x: Tensor) -> Tensor:
        return F.mish(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softmax(Module):
    """y_i = exp(x_i) / Σ_j exp(x_j) along ``dim``: y has x's shape."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = log(softmax(x)) along ``dim``, computed stably: y has x's shape."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# --- activations of ops/activations.py, as modules --------------------------------------


class _Elementwise(Module):
    """An activation with no parameters; ``inplace`` is accepted for PyTorch's signature,
    but the result is always a new tensor (see ReLU)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """y = x Φ(x) (Φ the normal CDF), elementwise; ``approximate='tanh'`` approximates Φ."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Elementwise):
    """y = x σ(x), elementwise (SiLU, swish): y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class LeakyReLU(Module):
    """y = x where x > 0, else negative_slope · x; elementwise, x's shape."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """y = x where x > 0, else α (e^x − 1); elementwise, x's shape."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """y = x where x > 0, else α (e^(x/α) − 1); elementwise, x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.celu(x, self.alpha)


class SELU(_Elementwise):
    """y = λ₀ · elu(x, α₀) with SELU's fixed constants; elementwise, x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.selu(x)


class Hardtanh(Module):
    """y = min(max(x, min_val), max_val), elementwise: y has x's shape."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


class ReLU6(_Elementwise):
    """y = min(max(x, 0), 6), elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


class Hardsigmoid(_Elementwise):
    """y = relu6(x + 3) / 6, elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x)


class Hardswish(_Elementwise):
    """y = x · relu6(x + 3) / 6, elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x)


class Softsign(Module):
    """y = x / (1 + |x|), elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softsign(x)


class LogSigmoid(Module):
    """y = log σ(x), elementwise: y has x's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)


class Softmin(Module):
    """y = softmax(−x) along ``dim``: y has x's shape."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmin(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ += [
    "GELU", "SiLU", "LeakyReLU", "ELU", "CELU", "SELU", "Hardtanh", "ReLU6", "Hardsigmoid",
    "Hardswish", "Softsign", "LogSigmoid", "Softmin",
]
