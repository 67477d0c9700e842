"""The RPN parts a config names: expansions, post-processing, reconciliations, remainders.

Each entry names a ``tinyrpn.rpn`` class and its keys; defaults come from the class's
signature, and every size and check from the class:

* an expansion's size D is ``cls(**keys).output_dim(m)`` (an expansion holds no
  parameters, so it is built to be asked), and building it runs its checks;
* a reconciliation's parameter count l is ``cls.parameter_count(n, D, **keys)``, which
  raises when the sizes do not fit (p must divide n...), without drawing its l numbers;
* a remainder's is ``cls.parameter_count(m, n, **keys)`` (it raises the same way);
* a post-processing step is built over D features and its parameters counted.

The ``tinybig`` entries take any tinyBIG 0.1.1 function by its class path, with
tinyBIG's parameter names (``tinybig_functions.build_function``); their sizes and checks
come from the object built. ``build_rpn`` turns a resolved ``model: {type: rpn}`` into an
``rpn.RPN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tinyrpn import nn, rpn

from .registry import REGISTRIES, Entry, Typed, arg
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

__all__ = ["build_expansion", "build_head", "build_postprocess", "build_reconciliation",
           "build_remainder", "build_rpn", "expansion_size", "postprocess_size",
           "reconciliation_size", "remainder_size"]

EXPANSIONS = REGISTRIES["expansion"]
POSTPROCESS = REGISTRIES["postprocess"]
RECONCILIATIONS = REGISTRIES["reconciliation"]
REMAINDERS = REGISTRIES["remainder"]


def class_problem(error: Exception, cls: Any = None) -> str:
    """What a class's ValueError says, without the class name it starts with (the config
    names the entry)."""
    text = getattr(error, "problem", str(error))
    owner = f"{getattr(cls, '__name__', '')}: "
    return text[len(owner):] if text.startswith(owner) else text


# --------------------------------------------------------------------------- sizes


def _expansion(spec: Mapping[str, Any]) -> Any:
    """The expansion of a resolved entry, without its post-processing."""
    if spec["type"] == "tinybig":
        return build_function(spec["class"], spec["parameters"])
    return _make_expansion(EXPANSIONS[spec["type"]], spec)


def _make_expansion(entry: Entry, params: Mapping[str, Any]) -> Any:
    if "expansions" in entry.params:  # nested, extended: made of expansion entries
        return entry.cls([_expansion(inner) for inner in params["expansions"]])
    return entry.make(params)


def expansion_size(spec: Mapping[str, Any], m: int) -> int:
    """D, the expansion's output size for m inputs (the class's ``output_dim``)."""
    return _expansion(spec).output_dim(m)


def reconciliation_size(spec: Mapping[str, Any], n: int, D: int) -> int:
    """l, the length of the reconciliation's w; raises ValueError when n x D cannot be built."""
    if spec["type"] == "tinybig":
        return build_function(spec["class"], spec["parameters"], n=n, D=D).l
    entry = RECONCILIATIONS[spec["type"]]
    return entry.cls.parameter_count(n, D, **entry.arguments(spec))


def _count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def remainder_size(spec: Mapping[str, Any], m: int, n: int) -> int:
    """The remainder's trainable parameters; raises ValueError when it cannot map m to n."""
    if spec["type"] == "tinybig":
        return _count(build_function(spec["class"], spec["parameters"], m=m, n=n))
    entry = REMAINDERS[spec["type"]]
    return entry.cls.parameter_count(m, n, **entry.arguments(spec))


def postprocess_size(spec: Mapping[str, Any], D: int) -> int:
    """The trainable parameters of a post-processing step over D features."""
    return _count(build_postprocess(spec, D))


# --------------------------------------------------------------------------- builders


def build_postprocess(spec: Mapping[str, Any], D: int) -> Any:
    """A step over D features: an ``rpn.Postprocess``; for ``layer_norm`` with
    ``affine: true``, an ``nn.LayerNorm(D)`` with its weight and bias; for ``batch_norm``,
    an ``nn.BatchNorm1d(D)``."""
    if spec["type"] == "layer_norm" and spec["affine"]:
        return nn.LayerNorm(D, eps=spec["eps"])
    if spec["type"] == "batch_norm":
        return POSTPROCESS["batch_norm"].make(spec, D)
    if spec["type"] == "layer_norm":
        return rpn.Postprocess("layer_norm", eps=spec["eps"])
    return rpn.Postprocess(spec["type"])


def build_expansion(spec: Mapping[str, Any], m: int, postprocess: list[Any]) -> Any:
    expansion = _expansion(spec)
    D = expansion.output_dim(m)
    expansion.postprocess.extend(build_postprocess(p, D) for p in postprocess)
    return expansion


def build_reconciliation(spec: Mapping[str, Any], n: int, D: int) -> Any:
    if spec["type"] == "tinybig":
        return build_function(spec["class"], spec["parameters"], n=n, D=D)
    return RECONCILIATIONS[spec["type"]].make(spec, n, D)


def build_remainder(spec: Mapping[str, Any], m: int, n: int) -> Any:
    if spec["type"] == "tinybig":
        return build_function(spec["class"], spec["parameters"], m=m, n=n)
    return REMAINDERS[spec["type"]].make(spec, m=m, n=n)


def build_head(head: dict[str, Any], m: int, n: int) -> Any:
    """An ``rpn.RPNHead``. Built in the order expansion, reconciliation(s), remainder: the
    reconciliations draw their w from ``tinyrpn.random.default_generator()`` as they are
    made, so ``tinyrpn.manual_seed(seed)`` before ``build_rpn`` fixes every number."""
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


# --------------------------------------------------------------------------- expansions

_RANGE = ListOf(Float(), min_len=2)
_MATRIX = Nullable(ListOf(ListOf(Float(), min_len=1), min_len=1))
_DEGREE = Int(min=1)


def _expansions(table: dict[str, tuple[type, dict[str, Field]]]) -> None:
    # check: building the expansion runs the class's checks of its keys (a grid range
    # that does not increase...)
    for name, (cls, keys) in table.items():
        EXPANSIONS.register(name, keys, cls=cls, check=_make_expansion)


_RBF = {"centers": arg(AnyOf(Int(min=1), ListOf(Float(), min_len=1)),
                       "K centres evenly spaced over base_range, or the list of centres"),
        "sigma": arg(Float(positive=True), "width"), "base_range": arg(_RANGE)}
_COMBINATORIAL = {"with_replacement": arg(Bool(), "multisets i1 <= ... <= ir")}
_expansions({
    "identity": (rpn.IdentityExpansion, {}),
    "taylor": (rpn.TaylorExpansion, {"d": arg(_DEGREE, "degree: D = m + m^2 + ... + m^d")}),
    "chebyshev": (rpn.ChebyshevExpansion, {"d": arg(_DEGREE, "T_1 .. T_d of every feature: "
                                                             "D = m d")}),
    "gaussian_rbf": (rpn.GaussianRBFExpansion, _RBF),
    "bspline": (rpn.BSplineExpansion, {"grid_range": arg(_RANGE),
                                       "t": arg(Int(min=1), "intervals of the grid"),
                                       "d": arg(Int(min=0), "degree")}),
    "reciprocal": (rpn.ReciprocalExpansion, {}),
    "linear": (rpn.LinearExpansion, {
        "c": arg(Nullable(Float()), "kappa(x) = c x"),
        "pre_C": arg(_MATRIX, "kappa(X) = pre_C X, mixing the samples of a batch"),
        "post_C": arg(_MATRIX, "kappa(x) = x post_C (m x D')")}),
    "fourier": (rpn.FourierExpansion, {"P": arg(Float(positive=True), "period"),
                                       "N": arg(Int(min=1), "harmonics: D = 2 N m")}),
    "jacobi": (rpn.JacobiExpansion, {"d": arg(_DEGREE, "P_1 .. P_d: D = m d"),
                                     "alpha": arg(Float()), "beta": arg(Float())}),
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
        "d": arg(_DEGREE, "subsets of up to d features"), **_COMBINATORIAL}),
    "combinatorial_normal": (rpn.CombinatorialNormalExpansion, {
        "d": arg(_DEGREE, "subsets of up to d features"), **_COMBINATORIAL}),
    # expansions made of expansions: each item any expansion entry ({type: taylor, d: 2})
    "nested": (rpn.NestedExpansion, {"expansions": Field(
        ListOf(Typed("expansion"), min_len=1), REQUIRED,
        "applied one after another: kappa_k(...kappa_1(x))")}),
    "extended": (rpn.ExtendedExpansion, {"expansions": Field(
        ListOf(Typed("expansion"), min_len=1), REQUIRED,
        "side by side: [kappa_1(x), ..., kappa_k(x)], D = D_1 + ... + D_k")}),
})
# the one-line help of the first five, as docs/CONFIG.md has long shown it
for _name, _doc in (("identity", "kappa(x) = x (D = m): the head is a linear layer"),
                    ("taylor", "Taylor expansion [x, vec(x x^T), ...] without the constant term"),
                    ("chebyshev", "Chebyshev polynomials T_1..T_d of each feature"),
                    ("gaussian_rbf", "exp(-((x_i - c_k)/sigma)^2) for every feature i and "
                                     "centre k: D = m K"),
                    ("bspline", "the t + d B-splines of degree d of every feature: "
                                "D = m (t + d)")):
    EXPANSIONS[_name].doc = _doc

# --------------------------------------------------------------------------- post-processing

POSTPROCESS.register(
    "layer_norm",
    {"eps": arg(Float(positive=True)),
     "affine": Field(Bool(), True, "learn a weight and bias per feature (2 D parameters)")},
    cls=rpn.Postprocess, build=build_postprocess,
    doc="LayerNorm over the whole expansion (its D features)",
)
#: the elementwise steps: every name rpn.Postprocess knows but LayerNorm and exp
ACTIVATIONS = [name for name in rpn.Postprocess.NAMES if name not in ("layer_norm", "exp")]
for _name in ACTIVATIONS:
    POSTPROCESS.register(_name, cls=rpn.Postprocess, build=build_postprocess,
                         doc=f"{_name}, elementwise")
POSTPROCESS.register(
    "batch_norm",
    {"eps": arg(Float(positive=True)),
     "momentum": arg(Float(min=0.0, max=1.0), "of the running statistics"),
     "affine": arg(Bool(), "learn a weight and bias per feature (2 D parameters)"),
     "track_running_stats": arg(Bool(), "false: batch statistics in evaluation too "
                                "(what tinyBIG 0.1.1 computes)")},
    cls=nn.BatchNorm1d, build=build_postprocess,
    doc="BatchNorm1d over the D features (a head's output: its n outputs)",
)

# --------------------------------------------------------------------------- reconciliations


def _fill_q(params: dict[str, Any], path: str, ctx: Context) -> dict[str, Any]:
    if params.get("q") is None:  # written out in the resolved config, as the class reads it
        params["q"] = params["p"]
    return params


_LAYOUT = arg(Str(list(rpn.LAYOUTS), what="layout"),
              "kron: W = A (x) B as documented; tinybig: W = reshape(vec(A) vec(B)^T, (n, D)) "
              "as tinyBIG 0.1.1 computes it")
_P = arg(Int(min=1), "rows of A; must divide n")
_Q = arg(Nullable(Int(min=1)), "columns of A; must divide D (default: p)")
_RANK = arg(Int(min=1), "rank of the low-rank factors")
_HM = {"validate": _fill_q}
for _name, _cls, _keys, _extra, _doc in (
    ("identity", rpn.IdentityReconciliation, {}, {}, "W = w reshaped to n x D (l = n D)"),
    ("lorr", rpn.LorrReconciliation, {"r": _RANK}, {},
     "low rank: W = A B^T, A n x r, B D x r (l = r (n + D))"),
    ("hm", rpn.HMReconciliation, {"p": _P, "q": _Q, "layout": _LAYOUT}, _HM,
     "hypercomplex: W = A (x) B, A p x q, B (n/p) x (D/q) (l = pq + st)"),
    ("lphm", rpn.LPHMReconciliation, {"p": _P, "q": _Q, "r": _RANK, "layout": _LAYOUT}, _HM,
     "low-rank hypercomplex: W = A (x) (S T^T) (l = pq + r (s + t))"),
    ("dual_lphm", rpn.DualLPHMReconciliation,
     {"p": _P, "q": _Q, "r": _RANK, "layout": _LAYOUT}, _HM,
     "dual low-rank hypercomplex: W = (P Q^T) (x) (S T^T) (l = r (p + q + s + t))"),
    ("constant", rpn.ConstantReconciliation, {"c": arg(Float(), "every entry of W")}, {}, ""),
    ("zero", rpn.ZeroReconciliation, {}, {}, ""),
    ("one", rpn.OneReconciliation, {}, {}, ""),
    ("constant_eye", rpn.ConstantEyeReconciliation, {}, {}, ""),
    ("masking", rpn.MaskingReconciliation,
     {"p": arg(Float(min=0.0, max=1.0), "probability that an entry is kept"),
      "fixed_mask": arg(Bool(), "false: a new mask at every use of W, in training and "
                        "evaluation (tinyBIG's fixed_mask: false)")}, {}, ""),
    ("duplicated_padding", rpn.DuplicatedPaddingReconciliation, {
        "p": arg(Int(min=1), "copies down; must divide n"),
        "q": arg(Nullable(Int(min=1)), "copies across; must divide D (default: p)"),
        "layout": arg(Str(list(rpn.LAYOUTS), what="layout"),
                      "kron: copies of B in blocks; tinybig: copies of w row by row")}, {}, ""),
    ("hypernet", rpn.HypernetReconciliation, {
        "l": arg(Int(min=1), "length of w (independent of n and D)"),
        "hidden_dim": arg(Int(min=1), "hidden units of the fixed net"),
        "static": arg(Bool(), "freeze the net (train only w)")}, {}, ""),
):
    RECONCILIATIONS.register(_name, _keys, cls=_cls, doc=_doc, **_extra)

# --------------------------------------------------------------------------- remainders

_ACTIVATION = arg(ListOf(Str(ACTIVATIONS, what="activation")),
                  "applied to pi(x), in order (e.g. [silu])")
for _name, _cls, _keys, _doc in (
    ("zero", rpn.ZeroRemainder, {}, "pi(x) = 0 (no parameters)"),
    ("identity", rpn.IdentityRemainder, {}, "pi(x) = x, a residual connection (needs m == n)"),
    ("linear", rpn.LinearRemainder,
     {"bias": arg(Bool(), "add a learned bias b"), "activation": _ACTIVATION},
     "pi(x) = x W'^T (+ b), W' n x m"),
    ("constant", rpn.ConstantRemainder, {"c": arg(Float(), "every output"),
                                         "activation": _ACTIVATION}, ""),
    ("one", rpn.OneRemainder, {"activation": _ACTIVATION}, ""),
    ("bspline", rpn.BSplineRemainder, {
        "grid_range": arg(_RANGE), "t": arg(Int(min=1), "intervals"),
        "d": arg(Int(min=0), "degree"), "bias": arg(Bool(), "add b"),
        "activation": _ACTIVATION}, ""),
):
    REMAINDERS.register(_name, _keys, cls=_cls, doc=_doc)

# --------------------------------------------------------------------------- any tinyBIG function


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


def _tinybig_fields(section: str) -> dict[str, Field]:
    names = [f"tinybig.{section}.{name}" for name in SECTIONS[section]]
    return {
        "class": Field(Str(names, what=f"tinyBIG {section}"), REQUIRED,
                       f"tinyBIG's class path, e.g. {names[0]}"),
        "parameters": Field(AnyMapping(), {}, "tinyBIG's parameters, with tinyBIG's names"),
    }


def _tinybig_validate(params: dict[str, Any], path: str, ctx: Context) -> None:
    # what can be checked without the sizes (unknown keys, bad values) fails here, at the
    # config's own path; size checks come when the head is resolved
    if params["class"].split(".")[1] != "expansion":
        return
    try:
        build_function(params["class"], params["parameters"])
    except ConfigError as error:
        raise ctx.error(f"{path}.parameters", error.problem.replace(
            f"{params['class']}.parameters", "parameters")) from None


for _registry in (EXPANSIONS, RECONCILIATIONS, REMAINDERS):
    _registry.register(
        "tinybig", _tinybig_fields(_registry.kind), validate=_tinybig_validate,
        doc=f"any tinyBIG 0.1.1 {_registry.kind}, with tinyBIG's parameter names")
