"""The function-fitting data sets in the dataset registry (``tinyrpn.data.functions``).

    data:
      dataset: {type: elementary_function, equation_index: 14}
      targets: value          # y is a real number: a regression, trained with loss: mse

One entry per family, named as tinyBIG 0.1.1 names its loaders. The points are drawn from
``seed`` (null: the config's seed) or, with ``torch_seed``, from the PyTorch stream a tinyBIG
script would be at (after the model's initialisation). The example shape is (k,) for an
equation of k variables, so the first layer's m must be k.
"""

from __future__ import annotations

from typing import Any

from .registry import REGISTRIES
from .schema import Field, Float, Int, Nullable

__all__ = ["FUNCTION_DATASETS"]

#: registry name -> family in tinyrpn.data.functions
FUNCTION_DATASETS = {
    "elementary_function": "elementary",
    "composite_function": "composite",
    "feynman_function": "feynman",
    "dimensionless_feynman_function": "dimensionless_feynman",
}


def _builder(family: str) -> Any:
    def build(params: dict[str, Any], train: bool = True, seed: int = 0,
              stream: Any = None) -> tuple[Any, Any, Any, Any]:
        from tinyrpn.data.functions import function_data

        data = function_data(family, params["equation_index"], num=params["num"],
                             train_fraction=params["train_fraction"],
                             seed=seed if params["seed"] is None else params["seed"],
                             stream=stream)
        return (data.x_train if train else None, data.y_train if train else None,
                data.x_test, data.y_test)

    return build


def _shape(family: str) -> Any:
    def shape(params: dict[str, Any]) -> tuple[int, ...]:
        from tinyrpn.data.functions import equation

        return (len(equation(family, params["equation_index"]).variables),)

    return shape


def _validate(family: str) -> Any:
    def validate(params: dict[str, Any], path: str, ctx: Any) -> None:
        from tinyrpn.data.functions import equation

        try:
            equation(family, params["equation_index"])
        except ValueError as error:
            raise ctx.error(f"{path}.equation_index", str(error)) from None
        n_train = int(params["train_fraction"] * params["num"])
        if not 0 < n_train < params["num"]:
            raise ctx.error(f"{path}.train_fraction", f"leaves {n_train} of the {params['num']} "
                            "points for training; both sets need at least one")

    return validate


for _name, _family in FUNCTION_DATASETS.items():
    REGISTRIES["dataset"].register(
        _name,
        {
            "equation_index": Field(Int(min=0), 0, "which equation of the family (from 0)"),
            "num": Field(Int(min=2), 2000, "points drawn (train and test together)"),
            "train_fraction": Field(Float(min=0.0, max=1.0), 0.5,
                                    "the first int(train_fraction * num) points train"),
            "seed": Field(Nullable(Int(min=0)), None, "seed of the points (null: the "
                          "config's seed)"),
        },
        build=_builder(_family), validate=_validate(_family), pixels="float",
        shape=_shape(_family), targets="value", generated=True,
        n_train=lambda p: int(p["train_fraction"] * p["num"]),
        n_test=lambda p: p["num"] - int(p["train_fraction"] * p["num"]),
        doc=f"the {_family.replace('_', ' ')} function data set: y = f(x) at points drawn "
            "uniformly in the equation's box (tinyrpn.data.functions)",
    )
