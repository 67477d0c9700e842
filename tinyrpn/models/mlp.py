"""Multi-layer perceptrons, including the MADGRAD + Lookahead network of docs/EXPERIMENTS.md §3."""

from __future__ import annotations

from collections.abc import Sequence

from tinyrpn import nn
from tinyrpn.autograd import Tensor, no_grad
from tinyrpn.nn import init

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "mish": nn.Mish}
OUTPUTS = {"log_softmax": lambda: nn.LogSoftmax(dim=1), "softmax": lambda: nn.Softmax(dim=1),
           "none": None}
INITS = ("default", "mish", "normal")


class MLP(nn.Sequential):
    """y = out(L_k(… act(L_1(x)))),  x (N, sizes[0]) → y (N, sizes[-1]):  a multilayer perceptron.

    Linear layers L_i of the given ``sizes`` with an activation (and optional BatchNorm
    after it) between them, and an optional output function.

    ``MLP([784, 1500, 500, 10], activation="mish", batchnorm=True, init="mish")`` is
    Linear(784,1500) → Mish → BatchNorm1d(1500) → Linear(1500,500) → Mish →
    BatchNorm1d(500) → Linear(500,10) → LogSoftmax.

    ``init``: ``"default"`` keeps PyTorch's Linear initialisation; ``"mish"`` draws
    W ~ N(0, 1)/√fan_in and b ~ N(0, 1) (the "Mish init" of the reference); ``"normal"``
    draws W ~ N(0, init_std²) and zeroes the biases (with ``init_std`` one value or one per
    layer).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        batchnorm: bool = False,
        output: str = "log_softmax",
        init: str = "default",
        init_std: float | Sequence[float] = 0.01,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ValueError(f"MLP sizes must be at least two positive ints, got {sizes}")
        for key, value, valid in (("activation", activation, ACTIVATIONS),
                                  ("output", output, OUTPUTS), ("init", init, INITS)):
            if value not in valid:
                raise ValueError(f"MLP {key} {value!r} is unknown; valid: {sorted(valid)}")
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
                if batchnorm:
                    layers.append(nn.BatchNorm1d(fan_out))
        if OUTPUTS[output] is not None:
            layers.append(OUTPUTS[output]())
        super().__init__(*layers)
        self.sizes = sizes
        if init == "mish":
            self._mish_init()
        elif init == "normal":
            self._normal_init(init_std)

    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]

    @no_grad()
    def _mish_init(self) -> None:
        for linear in self.linears():
            init.normal_(linear.weight, 0.0, 1.0 / linear.in_features**0.5)
            init.normal_(linear.bias, 0.0, 1.0)

    @no_grad()
    def _normal_init(self, std: float | Sequence[float]) -> None:
        linears = self.linears()
        stds = [float(std)] * len(linears) if isinstance(std, (int, float)) else list(std)
        if len(stds) != len(linears):
            raise ValueError(f"init_std has {len(stds)} values for {len(linears)} Linear layers")
        for linear, s in zip(linears, stds):
            init.normal_(linear.weight, 0.0, s)
            init.zeros_(linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim > 2:
            x = x.flatten(1)
        if x.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"MLP expects inputs with {self.sizes[0]} features, got shape {x.shape}"
            )
        return super().forward(x)


def madgrad_mlp() -> MLP:
    """The 1,937,010-parameter MLP of docs/EXPERIMENTS.md §3 (Mish, BatchNorm, Mish init)."""
    return MLP([784, 1500, 500, 10], activation="mish", batchnorm=True, init="mish")


def subspace_mlp() -> MLP:
    """The 784-200-200-10 ReLU network of docs/EXPERIMENTS.md §4 (199,210 parameters), with the
    reference's init: std 0.001 for the first two weights, 0.01 for the last, zero biases."""
    return MLP([784, 200, 200, 10], activation="relu", init="normal",
               init_std=[0.001, 0.001, 0.01])
