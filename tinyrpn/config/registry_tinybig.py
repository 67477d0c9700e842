"""The ``tinybig`` entry of the expansion, reconciliation and remainder registries, and the
activations that post-processing accepts beyond relu, tanh and sigmoid.

``expansion: {type: tinybig, class: tinybig.expansion.fourier_expansion, parameters:
{P: 10, N: 5}}`` is any tinyBIG 0.1.1 function, with tinyBIG's parameter names, built by
``tinybig_functions.build_function``; sizes (D, l, parameter counts) and checks come from
the object it builds, never from a formula restated here. The tinyBIG-format loader turns
every component it has no native tinyrpn name for into such an entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tinyrpn import rpn

from .registry import _ACTIVATIONS, REGISTRIES, Typed
from .schema import (
    REQUIRED,
    AnyOf,
    Bool,
    ConfigError,
    Context,
    Field,
    Float,
    Int,
    ListOf,
    Nullable,
    Spec,
    Str,
    type_name,
)
from .tinybig_functions import SECTIONS, build_function

__all__ = ["build", "native", "NATIVE_EXPANSIONS", "NATIVE_RECONCILIATIONS",
           "NATIVE_REMAINDERS"]


class AnyMapping(Spec):
    """A mapping of parameters, checked later by the function it configures."""

    def describe(self) -> str:
        return "a mapping of parameters"

    def check(self, value: Any, path: str, ctx: Context) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ctx.error(path, f"expected {self.describe()}, got {type_name(value)}")
        return dict(value)


def build(params: Mapping[str, Any], **sizes: Any) -> Any:
    """The tinyrpn object of a resolved ``{type: tinybig, class, parameters}`` entry."""
    return build_function(params["class"], params["parameters"], **sizes)


def _fields(section: str) -> dict[str, Field]:
    names = [f"tinybig.{section}.{name}" for name in SECTIONS[section]]
    return {
        "class": Field(Str(names, what=f"tinyBIG {section}"), REQUIRED,
                       f"tinyBIG's class path, e.g. {names[0]}"),
        "parameters": Field(AnyMapping(), {}, "tinyBIG's parameters, with tinyBIG's names"),
    }


def _validate(params: dict[str, Any], path: str, ctx: Context) -> None:
    # what can be checked without the sizes (unknown keys, bad values) fails here, at the
    # config's own path; size checks come when the head is resolved
    if params["class"].split(".")[1] != "expansion":
        return
    try:
        build(params)
    except ConfigError as error:
        raise ctx.error(f"{path}.parameters", error.problem.replace(
            f"{params['class']}.parameters", "parameters")) from None


def _problem(make: Any) -> str | None:
    try:
        make()
    except (ConfigError, ValueError) as error:
        return getattr(error, "problem", str(error))
    return None


def _count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


REGISTRIES["expansion"].register(
    "tinybig", _fields("expansion"), build=None, validate=_validate,
    D=lambda m, p: build(p).output_dim(m),
    doc="any tinyBIG 0.1.1 expansion, with tinyBIG's parameter names",
)
REGISTRIES["reconciliation"].register(
    "tinybig", _fields("reconciliation"), build=None, validate=_validate,
    l=lambda n, D, p: build(p, n=n, D=D).l,
    shape_error=lambda n, D, p: _problem(lambda: build(p, n=n, D=D)),
    doc="any tinyBIG 0.1.1 reconciliation, with tinyBIG's parameter names",
)
REGISTRIES["remainder"].register(
    "tinybig", _fields("remainder"), build=None, validate=_validate,
    params_count=lambda m, n, p: _count(build(p, m=m, n=n)),
    shape_error=lambda m, n, p: _problem(lambda: build(p, m=m, n=n)),
    doc="any tinyBIG 0.1.1 remainder, with tinyBIG's parameter names",
)
for _name in ("silu", "gelu", "leaky_relu", "softplus"):
    REGISTRIES["postprocess"].register(
        _name, build=None, params_count=lambda D, p: 0, doc=f"{_name}, elementwise")
REGISTRIES["postprocess"].register(
    "batch_norm",
    {"eps": Field(Float(positive=True), 1.0e-5),
     "momentum": Field(Float(min=0.0, max=1.0), 0.1, "of the running statistics"),
     "affine": Field(Bool(), True, "learn a weight and bias per feature"),
     "track_running_stats": Field(Bool(), True, "false: batch statistics in evaluation too "
                                  "(what tinyBIG 0.1.1 computes)")},
    build=None, params_count=lambda D, p: 2 * D if p["affine"] else 0,
    doc="BatchNorm1d over the D features (a head's output: its n outputs)")


# --------------------------------------------------------------------------- native names
#
# tinyrpn's own names for the classes above: a name, the class, each key's type and help.
# D, l and the checks come from the class (built once per head when a config resolves).

_FLOAT, _INT = Float(), Int(min=1)
_RANGE = ListOf(Float(), min_len=2)
_MATRIX = Nullable(ListOf(ListOf(Float(), min_len=1), min_len=1))
_ACTIVATION = Field(ListOf(Str(_ACTIVATIONS, what="activation")), [],
                    "applied to pi(x), in order (e.g. [silu])")
_RBF = {"centers": Field(AnyOf(_INT, ListOf(Float(), min_len=1)), 10,
                         "K centres evenly spaced over base_range, or the list of centres"),
        "sigma": Field(Float(positive=True), 1.0, "width"),
        "base_range": Field(_RANGE, [-1.0, 1.0])}
_COMBINATORIAL = {"with_replacement": Field(Bool(), False, "multisets i1 <= ... <= ir")}

NATIVE_EXPANSIONS: dict[str, tuple[type, dict[str, Field]]] = {
    "reciprocal": (rpn.ReciprocalExpansion, {}),
    "linear": (rpn.LinearExpansion, {
        "c": Field(Nullable(_FLOAT), None, "kappa(x) = c x"),
        "pre_C": Field(_MATRIX, None, "kappa(X) = pre_C X, mixing the samples of a batch"),
        "post_C": Field(_MATRIX, None, "kappa(x) = x post_C (m x D')")}),
    "fourier": (rpn.FourierExpansion, {"P": Field(Float(positive=True), 10.0, "period"),
                                       "N": Field(_INT, 5, "harmonics: D = 2 N m")}),
    "jacobi": (rpn.JacobiExpansion, {"d": Field(_INT, 5, "P_1 .. P_d: D = m d"),
                                     "alpha": Field(_FLOAT, 1.0), "beta": Field(_FLOAT, 1.0)}),
    "inverse_quadratic_rbf": (rpn.InverseQuadraticRBFExpansion, _RBF),
    "trigonometric": (rpn.TrigonometricExpansion, {}),
    "hyperbolic": (rpn.HyperbolicExpansion, {}),
    "arc_trigonometric": (rpn.ArcTrigonometricExpansion, {}),
    "arc_hyperbolic": (rpn.ArcHyperbolicExpansion, {}),
    **{name: (getattr(rpn, cls), {}) for name, cls in (
        ("normal", "NormalExpansion"), ("cauchy", "CauchyExpansion"),
        ("chi2", "Chi2Expansion"), ("gamma", "GammaExpansion"),
        ("laplace", "LaplaceExpansion"), ("exponential", "ExponentialExpansion"),
        ("hybrid_probabilistic", "HybridProbabilisticExpansion"),
        ("naive_normal", "NaiveNormalExpansion"), ("naive_cauchy", "NaiveCauchyExpansion"),
        ("naive_chi2", "NaiveChi2Expansion"), ("naive_gamma", "NaiveGammaExpansion"),
        ("naive_laplace", "NaiveLaplaceExpansion"),
        ("naive_exponential", "NaiveExponentialExpansion"))},
    "combinatorial": (rpn.CombinatorialExpansion, {
        "d": Field(_INT, 2, "subsets of up to d features"), **_COMBINATORIAL}),
    "combinatorial_normal": (rpn.CombinatorialNormalExpansion, {
        "d": Field(_INT, 1, "subsets of up to d features"), **_COMBINATORIAL}),
    # expansions made of expansions: each item any expansion entry ({type: taylor, d: 2})
    "nested": (rpn.NestedExpansion, {"expansions": Field(
        ListOf(Typed("expansion"), min_len=1), REQUIRED,
        "applied one after another: kappa_k(...kappa_1(x))")}),
    "extended": (rpn.ExtendedExpansion, {"expansions": Field(
        ListOf(Typed("expansion"), min_len=1), REQUIRED,
        "side by side: [kappa_1(x), ..., kappa_k(x)], D = D_1 + ... + D_k")}),
}
NATIVE_RECONCILIATIONS: dict[str, tuple[type, dict[str, Field]]] = {
    "constant": (rpn.ConstantReconciliation, {"c": Field(_FLOAT, 1.0, "every entry of W")}),
    "zero": (rpn.ZeroReconciliation, {}),
    "one": (rpn.OneReconciliation, {}),
    "constant_eye": (rpn.ConstantEyeReconciliation, {}),
    "masking": (rpn.MaskingReconciliation, {
        "p": Field(Float(min=0.0, max=1.0), 0.5, "probability that an entry is kept"),
        "fixed_mask": Field(Bool(), True, "false: a new mask at every use of W, "
                            "in training and evaluation (tinyBIG's fixed_mask: false)")}),
    "duplicated_padding": (rpn.DuplicatedPaddingReconciliation, {
        "p": Field(_INT, 2, "copies down; must divide n"),
        "q": Field(Nullable(_INT), None, "copies across; must divide D (default: p)"),
        "layout": Field(Str(["kron", "tinybig"], what="layout"), "kron",
                        "kron: copies of B in blocks; tinybig: copies of w row by row")}),
    "hypernet": (rpn.HypernetReconciliation, {
        "l": Field(_INT, 64, "length of w (independent of n and D)"),
        "hidden_dim": Field(_INT, 128, "hidden units of the fixed net"),
        "static": Field(Bool(), True, "freeze the net (train only w)")}),
}
NATIVE_REMAINDERS: dict[str, tuple[type, dict[str, Field]]] = {
    "constant": (rpn.ConstantRemainder, {"c": Field(_FLOAT, 1.0, "every output"),
                                         "activation": _ACTIVATION}),
    "one": (rpn.OneRemainder, {"activation": _ACTIVATION}),
    "bspline": (rpn.BSplineRemainder, {
        "grid_range": Field(_RANGE, [-1.0, 1.0]), "t": Field(_INT, 5, "intervals"),
        "d": Field(Int(min=0), 3, "degree"), "bias": Field(Bool(), False, "add b"),
        "activation": _ACTIVATION}),
}


def _args(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in params.items() if k != "type"}
    for key in ("base_range", "grid_range"):
        if key in out:
            out[key] = tuple(out[key])
    if out.get("activation") == []:
        out["activation"] = None
    return out


def native(kind: str, params: Mapping[str, Any], **sizes: Any) -> Any:
    """The object of a resolved native entry registered here (``kind`` its registry)."""
    table = {"expansion": NATIVE_EXPANSIONS, "reconciliation": NATIVE_RECONCILIATIONS,
             "remainder": NATIVE_REMAINDERS}[kind]
    cls = table[params["type"]][0]
    if params["type"] in ("nested", "extended"):
        from .rpn_build import build_expansion  # (rpn_build imports this module)

        return cls([build_expansion(inner, 0, []) for inner in params["expansions"]])
    if kind == "reconciliation":
        return cls(sizes["n"], sizes["D"], **_args(params))
    return cls(**_args(params), **sizes)


def _shape_check(kind: str) -> Any:
    def check(*sizes: Any) -> str | None:
        *dims, p = sizes
        names = ("n", "D") if kind == "reconciliation" else ("m", "n")
        return _problem(lambda: native(kind, p, **dict(zip(names, dims))))
    return check


for _name, (_cls, _fields) in NATIVE_EXPANSIONS.items():
    REGISTRIES["expansion"].register(
        _name, _fields, build=None, D=lambda m, p: native("expansion", p).output_dim(m),
        doc=(_cls.__doc__ or "").strip().splitlines()[0])
for _name, (_cls, _fields) in NATIVE_RECONCILIATIONS.items():
    REGISTRIES["reconciliation"].register(
        _name, _fields, build=None, l=lambda n, D, p: native("reconciliation", p, n=n, D=D).l,
        shape_error=_shape_check("reconciliation"),
        doc=(_cls.__doc__ or "").strip().splitlines()[0])
for _name, (_cls, _fields) in NATIVE_REMAINDERS.items():
    REGISTRIES["remainder"].register(
        _name, _fields, build=None,
        params_count=lambda m, n, p: _count(native("remainder", p, m=m, n=n)),
        shape_error=_shape_check("remainder"),
        doc=(_cls.__doc__ or "").strip().splitlines()[0])
