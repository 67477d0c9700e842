"""Function-fitting data: points drawn in a box, and the value of a formula at each.

    >>> data = function_data("elementary", 14)        # E.14: f = arcsinh(x + y)
    >>> data.x_train.shape, data.y_train.shape          # ((1000, 2), (1000, 1))

The four families (``elementary``, ``composite``, ``feynman``, ``dimensionless_feynman``)
and their equations are in :mod:`tinyrpn.data.function_catalogue`; an equation is picked by
its position in its family's list (``equation_index``), as in tinyBIG 0.1.1.

The data are made as tinyBIG 0.1.1's function data loader makes them:

- ``num`` points (2000). Variable i of every point is xᵢ = lowᵢ + (highᵢ − lowᵢ)·u in
  float32, with u uniform in [0, 1): the ``num`` values of the first variable are drawn,
  then those of the second, and so on.
- y = f(x₁, ..., x_k), evaluated in float64 from the float32 points, stored as float32
  of shape (num, 1) (tinyBIG evaluates in float32; the two differ by at most an ulp).
- The first ``train_fraction`` of the points (1000) form the training set, the rest the
  test set, in the order drawn (tinyBIG splits with ``shuffle=False``).

The u come from PyTorch's CPU generator (:class:`~tinyrpn.random.TorchCPUGenerator`),
so ``seed`` s gives the points that ``torch.manual_seed(s)`` followed by tinyBIG's loader
gives; a tinyBIG script draws its model's initial weights first, and
``function_data(..., stream=...)`` continues a stream positioned after them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..random import TorchCPUGenerator
from .function_catalogue import COMPOSITE, DIMENSIONLESS_FEYNMAN, ELEMENTARY, FEYNMAN, Equation

__all__ = ["FAMILIES", "FunctionData", "equation", "function_data", "sample_points"]

#: The function families by name, each a tuple of equations.
FAMILIES: dict[str, tuple[Equation, ...]] = {
    "elementary": ELEMENTARY,
    "composite": COMPOSITE,
    "feynman": FEYNMAN,
    "dimensionless_feynman": DIMENSIONLESS_FEYNMAN,
}


class FunctionData(NamedTuple):
    """Training and test points of one equation: x (N, k) and y (N, 1), float32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    equation: Equation


def equation(family: str, index: int) -> Equation:
    """Equation ``index`` (from 0) of ``family``; a wrong name or index says what is valid."""
    if family not in FAMILIES:
        raise ValueError(f"unknown function family {family!r}; the families are "
                         f"{', '.join(FAMILIES)}")
    equations = FAMILIES[family]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not (
            0 <= index < len(equations)):
        raise ValueError(f"equation_index {index!r} is out of range: the {family} family has "
                         f"equations 0..{len(equations) - 1}")
    return equations[int(index)]


def sample_points(eq: Equation, num: int, stream: TorchCPUGenerator) -> np.ndarray:
    """``num`` points of ``eq``'s box, float32 (num, k): one variable after the other,
    xᵢ = low + (high − low)·u, rounded to float32 after the product and after the sum."""
    columns = []
    for low, high in eq.ranges:
        u = stream.rand(num)
        columns.append(np.float32(low) + np.float32(high - low) * u)
    return np.stack(columns, axis=1)


def function_data(
    family: str, index: int, num: int = 2000, train_fraction: float = 0.5,
    seed: int = 0, stream: TorchCPUGenerator | None = None,
) -> FunctionData:
    """The training and test sets of equation ``index`` of ``family`` (see the module doc).

    ``seed`` starts a fresh PyTorch-compatible stream; ``stream`` (which then replaces
    ``seed``) continues one, and is advanced by k·num draws.
    """
    eq = equation(family, index)
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 2:
        raise ValueError(f"function_data: num must be an integer >= 2, got {num!r}")
    n_train = int(train_fraction * num)  # as tinyBIG: int(train_percentage * len(X))
    if not 0 < n_train < num:
        raise ValueError(f"function_data: train_fraction {train_fraction!r} of {num} points "
                         f"leaves {n_train} for training and {num - n_train} for testing; "
                         "both must be at least 1")
    if stream is None:
        stream = TorchCPUGenerator(seed)
    x = sample_points(eq, int(num), stream)
    y = evaluate(eq, x)
    bad = np.flatnonzero(~np.isfinite(y[:, 0]))
    if bad.size:
        point = dict(zip(eq.variables, x[bad[0]].tolist()))
        raise ValueError(f"{eq.name}: {eq.output} = {eq.formula} is not finite at {bad.size} "
                         f"of the {num} points, e.g. {point}")
    return FunctionData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], eq)


def evaluate(eq: Equation, x: Any) -> np.ndarray:
    """f at the rows of x (N, k): float32 (N, 1), computed in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(eq.variables):
        raise ValueError(f"{eq.name} takes points of {len(eq.variables)} variables "
                         f"({', '.join(eq.variables)}), got an array of shape {x.shape}")
    with np.errstate(all="ignore"):  # outside its domain a formula gives nan or inf
        y = np.asarray(eq.fn(*x.T), dtype=np.float64)
    y = np.broadcast_to(y, (x.shape[0],))
    return y.astype(np.float32).reshape(-1, 1)
