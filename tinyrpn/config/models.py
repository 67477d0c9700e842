"""The model entries of the registry: ``rpn``, ``mlp``, ``lecun1989``, ``lecun1989_modern``
and ``subspace``, with their keys, their builders, and their closed-form parameter counts.

An RPN is written as a list of layers, each a list of heads::

    model:
      type: rpn
      layers:
        - m: 784                       # inputs of the first layer (later layers: previous n)
          n: 64
          heads:
            - expansion: {type: taylor, d: 2}
              postprocess: [{type: layer_norm, affine: false}]
              reconciliation: {type: dual_lphm, p: 8, q: 784, r: 5, layout: tinybig}
              remainder: zero
              repeat: 2                # two independent heads of this kind (averaged)

Loading checks the whole network before anything is built: each layer's m against the
previous n, each head's expansion size D, that p divides n and q divides D, and it counts
the parameters (``count_parameters``) without drawing a weight, so ``tinyrpn info`` can say
how big a model is without building it. Every RPN size and check is the class's own
(``registry_rpn``).
"""

from __future__ import annotations

from typing import Any

from tinyrpn import models, rpn

from .registry import REGISTRIES, Typed, arg
from .registry_rpn import (
    build_rpn,
    class_problem,
    expansion_size,
    postprocess_size,
    reconciliation_size,
    remainder_size,
)
from .schema import (
    REQUIRED,
    AnyOf,
    Bool,
    Context,
    Field,
    Float,
    Int,
    ListOf,
    Nullable,
    Section,
    Str,
    join_path,
    plain_copy,
)

__all__ = ["count_parameters", "describe_model", "head_info", "rpn_layer_sizes"]

MODELS = REGISTRIES["model"]

# --------------------------------------------------------------------------- rpn

_HEAD_FIELDS = {
    "expansion": Field(Typed("expansion"), REQUIRED,
                       "data expansion kappa, e.g. {type: taylor, d: 2}"),
    "postprocess": Field(ListOf(Typed("postprocess")), [], "applied to the whole expansion"),
    "reconciliation": Field(Typed("reconciliation"), "identity", "how W (n x D) is built from w"),
    "remainder": Field(Typed("remainder"), "zero", "pi(x), added to the output"),
    "n": Field(Nullable(Int(min=1)), None,
               "this head's outputs: only with fusion: concatenate (else the layer's n)"),
    "repeat": Field(Int(min=1), 1, "independent copies of this head"),
    "channels": Field(Int(min=1), 1, "reconciliations whose matrices are averaged (tinyBIG's "
                      "channel_num): l times as many parameters"),
    "output_process": Field(ListOf(Typed("postprocess")), [],
                            "applied to the head's output, after the remainder"),
    "bias": Field(Bool(), False, "add a learnt b (n) to the reconciled product "
                  "(tinyBIG's enable_bias)"),
}
_LAYER_FIELDS = {
    "m": Field(Nullable(Int(min=1)), None, "inputs (default: the previous layer's n)"),
    "n": Field(Int(min=1), REQUIRED, "outputs"),
    "heads": Field(ListOf(Section(_HEAD_FIELDS, what="head key"), min_len=1), REQUIRED),
    "fusion": Field(Str(list(rpn.FUSIONS), what="fusion"), "average",
                    "how the heads' outputs combine: their mean (tinyBIG), sum, side by side, "
                    "or side by side times a learnt n x (n width) matrix"),
    "repeat": Field(Int(min=1), 1, "copies of this layer (each with its own parameters)"),
}


def head_info(m: int, n: int, head: dict[str, Any]) -> dict[str, int]:
    """D (expansion size), l (reconciliation parameters) and the head's parameter count,
    each asked of the classes (``registry_rpn``).

    ``head`` is a resolved head (no ``repeat``) of a layer with ``n`` outputs (its own
    ``n`` when it has one); its sizes must already fit (``_check_head``).
    """
    n = head.get("n") or n
    D = expansion_size(head["expansion"], m)
    l = reconciliation_size(head["reconciliation"], n, D)
    post = sum(postprocess_size(p, D) for p in head["postprocess"])
    rem = remainder_size(head["remainder"], m, n)
    out = sum(postprocess_size(p, n) for p in head.get("output_process", []))
    channels = head.get("channels", 1)
    bias = n if head.get("bias") else 0
    return {"D": D, "l": l, "n": n, "parameters": channels * l + post + rem + out + bias}


def _resolve_rpn(params: dict[str, Any], path: str, ctx: Context) -> dict[str, Any]:
    """Expand ``repeat``, chain each layer's m to the previous n, check every head's shapes."""
    layers_out: list[dict[str, Any]] = []
    prev_n: int | None = None
    for i, layer in enumerate(params["layers"]):
        lpath = join_path(join_path(path, "layers"), i)
        m = layer["m"]
        if m is None:
            if prev_n is None:
                raise ctx.error(join_path(lpath, "m"),
                                "the first layer needs m (its number of inputs)")
            m = prev_n
        elif prev_n is not None and m != prev_n:
            raise ctx.error(join_path(lpath, "m"),
                            f"the layer takes m={m} inputs but the layer before gives "
                            f"n={prev_n} outputs")
        heads_out = []
        for j, head in enumerate(layer["heads"]):
            hpath = join_path(join_path(lpath, "heads"), j)
            _check_head(m, layer["n"], layer["fusion"], head, hpath, ctx)
            resolved = {k: v for k, v in head.items()
                        if k != "repeat" and not (k == "n" and v is None)}
            heads_out.extend(plain_copy(resolved) for _ in range(head["repeat"]))
        if layer["fusion"] == "concatenate":
            total = sum(h["n"] for h in heads_out)
            if total != layer["n"]:
                raise ctx.error(join_path(lpath, "n"),
                                f"is {layer['n']}, but the concatenated heads give "
                                f"{' + '.join(str(h['n']) for h in heads_out)} = {total}")
        for _ in range(layer["repeat"]):
            layers_out.append({"m": m, "n": layer["n"], "fusion": layer["fusion"],
                               "heads": plain_copy(heads_out)})
            m = prev_n = layer["n"]
    return {"layers": layers_out}


def _check_head(m: int, n: int, fusion: str, head: dict[str, Any], path: str,
                ctx: Context) -> None:
    if fusion == "concatenate":
        if head["n"] is None:
            raise ctx.error(join_path(path, "n"),
                            "missing: with fusion: concatenate every head says its n")
        n = head["n"]
    elif head["n"] is not None:
        raise ctx.error(join_path(path, "n"),
                        f"a head's own n is only for fusion: concatenate; with {fusion!r} "
                        f"fusion every head gives the layer's n={n}")
    D = expansion_size(head["expansion"], m)
    rec = head["reconciliation"]
    try:
        reconciliation_size(rec, n, D)
    except ValueError as error:
        cls = REGISTRIES["reconciliation"][rec["type"]].cls
        raise ctx.error(join_path(path, "reconciliation"),
                        f"{rec['type']} cannot build W of shape n x D = {n} x {D}: "
                        f"{class_problem(error, cls)}") from None
    try:
        remainder_size(head["remainder"], m, n)
    except ValueError as error:
        raise ctx.error(join_path(path, "remainder"), class_problem(error)) from None


def rpn_layer_sizes(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Per layer of a resolved rpn config: m, n, and per head D, l and parameters."""
    out = []
    for layer in model["layers"]:
        heads = [head_info(layer["m"], layer["n"], h) for h in layer["heads"]]
        fusion = layer["n"] * layer["n"] * len(heads) if layer["fusion"] == "linear" else 0
        out.append({"m": layer["m"], "n": layer["n"], "heads": heads,
                    "parameters": sum(h["parameters"] for h in heads) + fusion})
    return out


MODELS.register(
    "rpn",
    {"layers": Field(ListOf(Section(_LAYER_FIELDS, what="layer key"), min_len=1), REQUIRED)},
    build=build_rpn, validate=_resolve_rpn,
    doc="Reconciled Polynomial Network: layers of heads y = W(w) post(kappa(x)) + pi(x)",
)

# --------------------------------------------------------------------------- mlp


def _validate_mlp(params: dict[str, Any], path: str, ctx: Context) -> None:
    std = params["init_std"]
    n_linear = len(params["sizes"]) - 1
    if isinstance(std, list) and len(std) != n_linear:
        raise ctx.error(join_path(path, "init_std"),
                        f"gives {len(std)} values for {n_linear} Linear layers")


MODELS.register(
    "mlp",
    {
        "sizes": arg(ListOf(Int(min=1), min_len=2), "[inputs, hidden..., outputs]"),
        "activation": arg(Str(list(models.mlp.ACTIVATIONS), what="activation")),
        "batchnorm": arg(Bool(), "BatchNorm1d after each hidden activation"),
        "output": arg(Str(list(models.mlp.OUTPUTS), what="output"),
                      "function on the last Linear's output"),
        "init": arg(Str(list(models.mlp.INITS), what="init"),
                    "default: PyTorch's Linear init; mish: W~N(0,1)/sqrt(fan_in), b~N(0,1); "
                    "normal: W~N(0,init_std^2), b=0"),
        "init_std": arg(AnyOf(Float(min=0.0), ListOf(Float(min=0.0), min_len=1)),
                        "std for init: normal (one value, or one per Linear)"),
    },
    cls=models.MLP, validate=_validate_mlp, doc="multi-layer perceptron (tinyrpn.models.MLP)",
)

# --------------------------------------------------------------------------- LeCun 1989

_TORCH_SEED = arg(
    Nullable(Int(min=0)),
    "start from the weights PyTorch draws after torch.manual_seed(torch_seed), as the "
    "PyTorch reproduction did (null: tinyrpn's own random stream)",
)
MODELS.register(
    "lecun1989", {"torch_seed": _TORCH_SEED}, cls=models.LeCun1989,
    build=lambda params: MODELS["lecun1989"].make(params, modern=False),
    doc="LeCun et al. 1989 (9,760 parameters, tanh everywhere); input (N, 1, 16, 16)",
)
MODELS.register(
    "lecun1989_modern",
    {"dropout": arg(Float(min=0.0, max=1.0), "dropout on H2's output"),
     "torch_seed": _TORCH_SEED},
    cls=models.LeCun1989, build=lambda params: MODELS["lecun1989_modern"].make(params,
                                                                               modern=True),
    doc="the modern variant: ReLU, dropout on H2, no output tanh (use cross_entropy)",
)

# --------------------------------------------------------------------------- subspace


def _validate_subspace(params: dict[str, Any], path: str, ctx: Context) -> None:
    dim = params["dim"]
    if isinstance(dim, int):
        total = count_parameters(params["base"])
        if dim > total:
            raise ctx.error(join_path(path, "dim"),
                            f"is {dim}, more than the base model's {total:,} parameters; "
                            "use dim: full to train them all")


def _build_subspace(params: dict[str, Any]) -> Any:
    base = build_model(params["base"])
    if params["dim"] == "full":
        return base  # training in the full space is training the base model itself
    return MODELS["subspace"].make({k: v for k, v in params.items() if k != "base"}, base)


MODELS.register(
    "subspace",
    {
        "dim": Field(AnyOf(Int(min=1), Str(["full"], what="dim")), REQUIRED,
                     "d, the dimension of the trained subspace, or full"),
        "base": Field(Typed("model", exclude=("subspace",)), REQUIRED,
                      "the network whose parameters theta = P omega"),
        "projection": arg(Str(list(models.subspace.PROJECTIONS), what="projection"),
                          "qr: dense, orthonormal (the reference); dense: Gaussian, "
                          "unit columns; sparse: Li et al.'s sparse P; fastfood: never "
                          "stored, O(D) memory"),
        "offset": arg(Bool(), "theta = theta0 + P omega (true, omega starts at 0) or "
                      "theta = P omega with P's first column along theta0 (false, the "
                      "reference)"),
    },
    cls=models.subspace.Subspace, build=_build_subspace, validate=_validate_subspace,
    doc="train omega (d numbers) with theta = P omega (Li et al. 2018); dim: full trains theta",
)

# --------------------------------------------------------------------------- shared


def build_model(model: dict[str, Any]) -> Any:
    """Build the module of a resolved model config (``{type: ..., ...}``)."""
    entry = MODELS[model["type"]]
    return entry.build({k: v for k, v in model.items() if k != "type"})


def count_parameters(model: dict[str, Any]) -> int:
    """Trainable parameters of a resolved model config, in closed form (nothing is built)."""
    kind = model["type"]
    if kind == "rpn":
        return sum(layer["parameters"] for layer in rpn_layer_sizes(model))
    if kind == "mlp":
        sizes = model["sizes"]
        total = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        if model["batchnorm"]:
            total += sum(2 * b for b in sizes[1:-1])
        return total
    if kind in ("lecun1989", "lecun1989_modern"):
        # H1 12*25 + 12*8*8, H2 12*8*25 + 12*4*4, H3 192*30 + 30, out 30*10 + 10
        return 1068 + 2592 + 5790 + 310
    if kind == "subspace":
        return count_parameters(model["base"]) if model["dim"] == "full" else model["dim"]
    raise KeyError(f"no closed-form parameter count for model type {kind!r}")


def describe_model(model: dict[str, Any]) -> list[str]:
    """One line per layer (or block) of a resolved model config, for ``tinyrpn info``."""
    kind = model["type"]
    if kind == "rpn":
        lines = []
        for i, (layer, sizes) in enumerate(zip(model["layers"], rpn_layer_sizes(model))):
            lines.append(f"layer {i}: {layer['m']} -> {layer['n']}, "
                         f"{len(layer['heads'])} head(s) fused by {layer['fusion']}, "
                         f"{sizes['parameters']:,} parameters")
            for j, (head, info) in enumerate(zip(layer["heads"], sizes["heads"])):
                lines.append(f"  head {j}: {_describe_head(head)}; D = {info['D']:,}, "
                             f"l = {info['l']:,}")
        return lines
    if kind == "mlp":
        bn = " + BatchNorm1d" if model["batchnorm"] else ""
        return [f"MLP {' -> '.join(str(s) for s in model['sizes'])}, "
                f"{model['activation']}{bn}, output {model['output']}, init {model['init']}"]
    if kind in ("lecun1989", "lecun1989_modern"):
        if kind == "lecun1989":
            line = ("LeCun 1989: H1 conv 12x5x5/2 -> H2 3 grouped convs 4x5x5/2 -> H3 192->30 "
                    "-> out 30->10, tanh everywhere")
        else:
            line = ("LeCun 1989 modern: as 1989 with ReLU, dropout "
                    f"{model['dropout']} on H2, no output tanh")
        if model["torch_seed"] is not None:
            seed = model["torch_seed"]
            drawn = "initial weights" + (" and dropout masks" if kind == "lecun1989_modern"
                                         and model["dropout"] else "")
            line += f"; {drawn} as PyTorch draws them after manual_seed({seed})"
        return [line]
    if kind == "subspace":
        base = describe_model(model["base"])
        if model["dim"] == "full":
            return [*base, "trained in the full space (all parameters)"]
        form = "theta0 + P omega" if model["offset"] else "P omega"
        return [*base, f"trained in a {model['dim']}-dimensional random subspace: theta = "
                f"{form}, {model['projection']} P of {count_parameters(model['base']):,} x "
                f"{model['dim']:,}"]
    return [kind]


def _describe_head(head: dict[str, Any]) -> str:
    def typed(d: dict[str, Any]) -> str:
        args = ", ".join(f"{k}={v}" for k, v in d.items() if k != "type")
        return f"{d['type']}({args})" if args else d["type"]

    post = "".join(f" -> {typed(p)}" for p in head["postprocess"])
    return (f"{typed(head['expansion'])}{post} -> {typed(head['reconciliation'])} "
            f"+ {typed(head['remainder'])}")

