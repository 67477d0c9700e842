"""Build ``tinyrpn.rpn`` objects from a resolved ``model: {type: rpn, ...}`` config.

Imported only when a model is built. Each head is built in the order expansion (with its
post-processing), reconciliation, remainder; the reconciliation draws its parameters from
``tinyrpn.random.default_generator()`` as it is made, so ``tinyrpn.manual_seed(seed)``
before ``build_rpn`` fixes every number.
"""

from __future__ import annotations

from typing import Any

from tinyrpn import nn, rpn

from . import registry_tinybig

__all__ = ["build_expansion", "build_head", "build_postprocess", "build_reconciliation",
           "build_remainder", "build_rpn"]

_EXPANSIONS = {
    "identity": rpn.IdentityExpansion,
    "taylor": rpn.TaylorExpansion,
    "chebyshev": rpn.ChebyshevExpansion,
    "gaussian_rbf": rpn.GaussianRBFExpansion,
    "bspline": rpn.BSplineExpansion,
    "tinybig": None,  # any tinyBIG function, through registry_tinybig.build
    **{name: cls for name, (cls, _) in registry_tinybig.NATIVE_EXPANSIONS.items()},
}
_RECONCILIATIONS = {
    "identity": rpn.IdentityReconciliation,
    "lorr": rpn.LorrReconciliation,
    "hm": rpn.HMReconciliation,
    "lphm": rpn.LPHMReconciliation,
    "dual_lphm": rpn.DualLPHMReconciliation,
    "tinybig": None,
    **{name: cls for name, (cls, _) in registry_tinybig.NATIVE_RECONCILIATIONS.items()},
}


def _params(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "type"}


def build_postprocess(spec: dict[str, Any], D: int) -> Any:
    """A post-processing step over D features: a parameter-free ``rpn.Postprocess`` or, for
    ``layer_norm`` with ``affine: true``, an ``nn.LayerNorm(D)`` with weight and bias."""
    if spec["type"] == "layer_norm" and spec["affine"]:
        return nn.LayerNorm(D, eps=spec["eps"])
    if spec["type"] == "batch_norm":
        return nn.BatchNorm1d(D, eps=spec["eps"], momentum=spec["momentum"],
                              affine=spec["affine"],
                              track_running_stats=spec["track_running_stats"])
    if spec["type"] == "layer_norm":
        return rpn.Postprocess("layer_norm", eps=spec["eps"])
    return rpn.Postprocess(spec["type"])


def build_expansion(spec: dict[str, Any], m: int, postprocess: list[dict[str, Any]]) -> Any:
    if spec["type"] == "tinybig" or spec["type"] in registry_tinybig.NATIVE_EXPANSIONS:
        expansion = (registry_tinybig.build(spec) if spec["type"] == "tinybig"
                     else registry_tinybig.native("expansion", spec))
        for step in postprocess:
            expansion.postprocess.append(build_postprocess(step, expansion.output_dim(m)))
        return expansion
    params = _params(spec)
    for key in ("base_range", "grid_range"):
        if key in params:
            params[key] = tuple(params[key])
    cls = _EXPANSIONS[spec["type"]]
    D = cls(**params).output_dim(m)
    steps = [build_postprocess(p, D) for p in postprocess]
    return cls(**params, postprocess=steps or None)


def build_reconciliation(spec: dict[str, Any], n: int, D: int) -> Any:
    if spec["type"] == "tinybig":
        return registry_tinybig.build(spec, n=n, D=D)
    if spec["type"] in registry_tinybig.NATIVE_RECONCILIATIONS:
        return registry_tinybig.native("reconciliation", spec, n=n, D=D)
    return _RECONCILIATIONS[spec["type"]](n, D, **_params(spec))


def build_remainder(spec: dict[str, Any], m: int, n: int) -> Any:
    if spec["type"] == "tinybig":
        return registry_tinybig.build(spec, m=m, n=n)
    if spec["type"] in registry_tinybig.NATIVE_REMAINDERS:
        return registry_tinybig.native("remainder", spec, m=m, n=n)
    if spec["type"] == "zero":
        return rpn.ZeroRemainder()
    if spec["type"] == "identity":
        return rpn.IdentityRemainder()
    return rpn.LinearRemainder(m, n, bias=spec["bias"], activation=spec["activation"] or None)


def build_head(head: dict[str, Any], m: int, n: int) -> Any:
    n = head.get("n") or n
    expansion = build_expansion(head["expansion"], m, head["postprocess"])
    D = expansion.output_dim(m)
    channels = [build_reconciliation(head["reconciliation"], n, D)
                for _ in range(head.get("channels", 1))]
    remainder = build_remainder(head["remainder"], m, n)
    output = [build_postprocess(p, n) for p in head.get("output_process", [])]
    return rpn.RPNHead(m, n, expansion, channels if len(channels) > 1 else channels[0],
                       remainder, output_process=output or None, bias=head.get("bias", False))


def build_rpn(params: dict[str, Any]) -> Any:
    """The ``rpn.RPN`` of a resolved rpn config (its keys without ``type``)."""
    layers = []
    for layer in params["layers"]:
        heads = [build_head(h, layer["m"], layer["n"]) for h in layer["heads"]]
        layers.append(rpn.RPNLayer(layer["m"], layer["n"], heads, fusion=layer["fusion"]))
    return rpn.RPN(layers)
