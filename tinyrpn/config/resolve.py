"""tinyrpn's own config format: the top-level keys, and checks that span sections.

``resolve(data, ctx)`` takes the plain data of a config file (after overrides) and returns
the *resolved* config: every key present, every default filled in, every shorthand
written out, repeats expanded, the device settled. A resolved config is itself a valid
config, and resolving it again gives it back unchanged.
"""

from __future__ import annotations

import math
from typing import Any

from tinyrpn import backend

from .models import MODELS  # noqa: F401  (registers the models)
from .registry import REGISTRIES, NamedList, Typed, step_name, step_params
from .schema import (
    REQUIRED,
    Bool,
    Context,
    Field,
    Float,
    Int,
    Nullable,
    Section,
    Str,
    join_path,
)

__all__ = ["TOP_LEVEL", "resolve"]


def _check_data(data: dict[str, Any], path: str, ctx: Context) -> dict[str, Any]:
    dataset = REGISTRIES["dataset"][data["dataset"]["type"]]
    natural = dataset.info.get("targets", "index")  # what the data set's labels are
    if (natural == "value") != (data["targets"] == "value"):
        raise ctx.error(join_path(path, "targets"), f"is {data['targets']!r}, but the "
                        f"{dataset.name} data set has " + (
                            "real-valued targets: set targets: value" if natural == "value"
                            else "class labels: use targets: index or pm1"))
    pixels = dataset.info["pixels"]
    for i, step in enumerate(data["transforms"]):
        name = step_name(step)
        entry = REGISTRIES["transform"][name]
        needs, gives = entry.info["needs"], entry.info["gives"]
        if needs == "uint8" and pixels != "uint8":
            raise ctx.error(
                join_path(join_path(path, "transforms"), i),
                f"{name!r} expects uint8 pixels, but the {dataset.name} images are already "
                "floats at this point" + (" (the dataset scales them itself)"
                                          if i == 0 else ""),
            )
        if needs == "float" and pixels != "float":
            raise ctx.error(
                join_path(join_path(path, "transforms"), i),
                f"{name!r} expects float pixels, but they are still uint8 here; put 'scale' "
                "before it",
            )
        if gives != "same":
            pixels = gives
    if data["test_batch_size"] is None:
        data["test_batch_size"] = data["batch_size"]
    return data


_DATA_FIELDS = {
    "dataset": Field(Typed("dataset"), "mnist", "mnist | lecun1989"),
    "transforms": Field(NamedList("transform"), [], "applied to train and test images"),
    "augment": Field(NamedList("augment"), [], "random changes to each training batch"),
    "targets": Field(Str(["index", "pm1", "value"], what="targets"), "index",
                     "index: class numbers; pm1: vectors of -1 with +1 at the class; "
                     "value: the data set's real-valued y (a regression: no accuracy)"),
    "batch_size": Field(Int(min=1), REQUIRED, "training batch size"),
    "test_batch_size": Field(Nullable(Int(min=1)), None, "default: batch_size"),
    "shuffle": Field(Bool(), True, "a new order every epoch (seeded)"),
    "drop_last": Field(Bool(), False, "drop a last, smaller training batch"),
}

_TRAINING_FIELDS = {
    "epochs": Field(Int(min=0), REQUIRED, "passes over the training set (0: evaluate only)"),
    "eval_train": Field(Bool(), False, "also measure accuracy on the whole training set"),
    "eval_every_steps": Field(Nullable(Int(min=1)), None,
                              "also evaluate on the test set every N steps"),
}

_LOOKAHEAD_FIELDS = {
    "k": Field(Int(min=1), 5, "inner steps per slow update"),
    "alpha": Field(Float(min=0.0, max=1.0), 0.5, "slow <- slow + alpha (fast - slow)"),
}

TOP_LEVEL: dict[str, Field] = {
    "name": Field(Nullable(Str()), None, "run name (default: the file name without .yaml)"),
    "description": Field(Nullable(Str()), None, "free text"),
    "seed": Field(Int(min=0), 0, "one seed for init, shuffling, dropout, augmentation"),
    "torch_seed": Field(Nullable(Int(min=0)), None,
                        "rpn models: draw the initial weights and the training batch order "
                        "from PyTorch's CPU generator as a tinyBIG 0.1.1 script does after "
                        "torch.manual_seed(torch_seed) (null: tinyrpn's streams, from seed)"),
    "device": Field(Str(["cpu", "cuda", "mps"], what="device"), "cpu",
                    "cpu | cuda (cuda when unavailable, and mps, fall back to cpu)"),
    "dtype": Field(Str(["float32", "float64"], what="dtype"), "float32",
                   "the float type of the weights and the data (the initial weights are "
                   "drawn as usual, then converted)"),
    "data": Field(Section(_DATA_FIELDS, what="data key", validate=_check_data), REQUIRED),
    "model": Field(Typed("model"), REQUIRED),
    "loss": Field(Typed("loss"), "cross_entropy"),
    "optimizer": Field(Typed("optimizer"), REQUIRED),
    "lookahead": Field(Nullable(Section(_LOOKAHEAD_FIELDS, what="lookahead key")), None,
                       "wrap the optimizer in Lookahead(k, alpha)"),
    "scheduler": Field(Nullable(Typed("scheduler")), None, "stepped once per epoch"),
    "training": Field(Section(_TRAINING_FIELDS, what="training key"), REQUIRED),
}

# What each loss compares the model's output with.
_LOSS_TARGETS = {"cross_entropy": ("index",), "nll": ("index",), "mse": ("pm1", "value")}


def data_shape(data: dict[str, Any]) -> tuple[int, ...]:
    """The shape of one example after the transforms of a resolved data section."""
    shape = REGISTRIES["dataset"][data["dataset"]["type"]].info["shape"]
    if callable(shape):  # it depends on the data set's keys (a function's variables)
        shape = shape(data["dataset"])
    shape = tuple(shape)
    for step in data["transforms"]:
        name = step_name(step)
        if name == "flatten":
            shape = (math.prod(shape),)
        elif name == "resize":
            size = step_params(step)["size"]
            hw = (size, size) if isinstance(size, int) else tuple(size)
            if len(shape) < 2:
                raise ValueError("resize needs images with two spatial axes")
            shape = (*shape[:-2], *hw)
    return shape


def _model_input(model: dict[str, Any]) -> tuple[str, Any]:
    """What a model takes: ('flat', m) for m features, or ('shape', (C, H, W))."""
    kind = model["type"]
    if kind == "rpn":
        return "flat", model["layers"][0]["m"]
    if kind == "mlp":
        return "features", model["sizes"][0]  # MLP flattens images itself
    if kind in ("lecun1989", "lecun1989_modern"):
        return "shape", (1, 16, 16)
    if kind == "subspace":
        return _model_input(model["base"])
    return "any", None


def _cross_checks(cfg: dict[str, Any], ctx: Context) -> None:
    loss, targets = cfg["loss"]["type"], cfg["data"]["targets"]
    wanted = _LOSS_TARGETS.get(loss)
    if wanted is not None and targets not in wanted:
        raise ctx.error(
            "data.targets",
            f"is {targets!r}, but loss {loss!r} needs targets: {' or '.join(wanted)}",
        )
    if cfg["torch_seed"] is not None:
        if cfg["model"]["type"] != "rpn":
            other = (" (the LeCun networks take model.torch_seed, repro.py's draws)"
                     if cfg["model"]["type"].startswith("lecun1989") else "")
            raise ctx.error("torch_seed", f"replays a tinyBIG script's PyTorch draws, so it "
                            f"needs model type rpn, not {cfg['model']['type']!r}{other}")
        if cfg["data"]["augment"]:
            raise ctx.error("torch_seed", "cannot be combined with data.augment: tinyBIG's "
                            "scripts do not augment, so there is no PyTorch order to replay")
    shape = data_shape(cfg["data"])
    how, expected = _model_input(cfg["model"])
    dims = " x ".join(str(s) for s in shape)
    if how == "flat" and shape != (expected,):
        hint = " (add 'flatten' to data.transforms)" if math.prod(shape) == expected else ""
        raise ctx.error(_first_layer_path(cfg["model"]),
                        f"the model takes {expected} features, but the data gives examples of "
                        f"shape {dims}{hint}")
    if how == "features" and math.prod(shape) != expected:
        raise ctx.error(_first_layer_path(cfg["model"]),
                        f"the model takes {expected} features, but the data gives examples of "
                        f"shape {dims} ({math.prod(shape)} features)")
    if how == "shape" and shape != tuple(expected):
        raise ctx.error("model.type", f"{cfg['model']['type']} takes images of shape "
                        f"{tuple(expected)}, but the data gives {shape}")


def _first_layer_path(model: dict[str, Any], prefix: str = "model") -> str:
    if model["type"] == "rpn":
        return f"{prefix}.layers[0].m"
    if model["type"] == "mlp":
        return f"{prefix}.sizes[0]"
    if model["type"] == "subspace":
        return _first_layer_path(model["base"], f"{prefix}.base")
    return f"{prefix}.type"


def resolve_device(requested: str, ctx: Context) -> str:
    """'cpu' or 'cuda': mps, and cuda without a GPU, fall back to cpu with a warning."""
    if requested == "mps":
        ctx.warn("device", "'mps' (Apple GPUs) is not supported by tinyrpn; using the cpu")
        return "cpu"
    if requested == "cuda" and not backend.cuda_is_available():
        ctx.warn("device", "'cuda' is not available here (no CuPy or no GPU); using the cpu")
        return "cpu"
    return requested


def resolve(data: Any, ctx: Context, default_name: str = "experiment") -> dict[str, Any]:
    """Check a tinyrpn-format config and return it resolved (see the module docstring)."""
    cfg = Section(TOP_LEVEL, what="top-level key").check(data, "", ctx)
    _cross_checks(cfg, ctx)
    if cfg["name"] is None:
        cfg["name"] = default_name
    cfg["device"] = resolve_device(cfg["device"], ctx)
    return cfg
