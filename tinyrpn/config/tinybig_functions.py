"""tinyBIG 0.1.1's RPN functions by their class paths: ``build_function`` and its catalogue.

``build_function("tinybig.expansion.chebyshev_expansion", {"d": 3})`` returns the tinyrpn
object that computes what tinyBIG computes for that config block. The catalogue below
lists tinyBIG's function names: each ``X_expansion`` (``X_reconciliation``,
``X_remainder``) is the registry's entry ``X``, whose keys are tinyBIG's parameter names;
only the functions whose parameters differ (the RBFs, the nested and extended expansions)
say how. Sizes, defaults and checks stay in the classes.

A class path may be short (``tinybig.expansion.taylor_expansion``) or name the module
(``tinybig.expansion.polynomial_expansion.taylor_expansion``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from tinyrpn import rpn
from tinyrpn.nn.module import Module

from .registry import REGISTRIES
from .schema import ConfigError, ConfigWarning, closest, type_name

__all__ = ["build_function", "EXPANSIONS", "PROCESSING", "RECONCILIATIONS", "REMAINDERS"]

#: Keys every tinyBIG function accepts and tinyrpn has no use for.
IGNORED = {"name", "device"}

#: Pre/post-processing and activation steps: tinyBIG's names (a torch.nn.functional name,
#: as in ``postprocess_functions: sigmoid``, or a torch.nn class in a ``function_class``)
#: and the tinyrpn step each becomes.
PROCESSING = {
    "sigmoid": "sigmoid", "relu": "relu", "tanh": "tanh", "silu": "silu", "gelu": "gelu",
    "leaky_relu": "leaky_relu", "softplus": "softplus", "layer_norm": "layer_norm",
    "exp": "exp",
}
MODULES = {"torch.nn.Sigmoid": "sigmoid", "torch.nn.ReLU": "relu", "torch.nn.Tanh": "tanh",
           "torch.nn.SiLU": "silu", "torch.nn.GELU": "gelu", "torch.nn.LeakyReLU": "leaky_relu",
           "torch.nn.Softplus": "softplus", "torch.nn.LayerNorm": "layer_norm",
           "torch.nn.BatchNorm1d": "batch_norm", "torch.nn.Identity": "identity"}


def _fail(where: str, problem: str, name: Any = None, valid: Any = None) -> ConfigError:
    return ConfigError(problem, path=where, suggestions=closest(name, valid or []),
                       valid=valid)


def processing_steps(value: Any, where: str) -> list[Module]:
    """tinyBIG's ``*_functions`` (names) or ``*_function_configs`` (function_class blocks)
    as a list of tinyrpn steps."""
    from tinyrpn.nn import BatchNorm1d
    from tinyrpn.rpn.expansion import Postprocess

    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    steps: list[Module] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]" if isinstance(value, list) else where
        params: dict[str, Any] = {}
        if isinstance(item, str):
            name = item.rsplit(".", 1)[-1].lower() if item.startswith(
                ("torch.nn.functional.", "torch.")) else item.lower()
            kind = PROCESSING.get(name)
            if kind is None:
                raise _fail(at, f"unknown function {item!r}", name, sorted(PROCESSING))
        elif isinstance(item, Mapping) and "function_class" in item:
            kind = MODULES.get(item["function_class"])
            if kind is None:
                raise _fail(f"{at}.function_class", f"unknown function class "
                            f"{item['function_class']!r}", item["function_class"], sorted(MODULES))
            params = dict(item.get("function_parameters") or {})
        else:
            raise _fail(at, f"expected a function name or a mapping with function_class, got "
                        f"{type_name(item)}")
        if kind == "identity":
            continue
        if kind == "batch_norm":
            # torch's BatchNorm1d, as tinyBIG builds it (nn.BatchNorm1d has its defaults)
            known = {"num_features", "eps", "momentum", "affine", "track_running_stats",
                     "device", "dtype"}
            _check_keys(params, known, f"{at}.function_parameters", "BatchNorm1d")
            if "num_features" not in params:
                raise _fail(f"{at}.function_parameters", "BatchNorm1d needs num_features")
            # tinyBIG 0.1.1 keeps its steps in a plain list: the BatchNorm's weight and bias
            # are never trained (1 and 0), and model.eval() never reaches it, so it always
            # normalises with the batch's statistics
            steps.append(BatchNorm1d(params["num_features"], eps=params.get("eps", 1e-5),
                                     momentum=params.get("momentum", 0.1), affine=False,
                                     track_running_stats=False))
            continue
        if kind == "layer_norm":
            # tinyBIG never trains the LayerNorm's weight and bias (1 and 0): no affine part
            _check_keys(params, {"normalized_shape", "eps", "elementwise_affine", "bias",
                                 "device", "dtype"}, f"{at}.function_parameters", "LayerNorm")
            steps.append(Postprocess("layer_norm", **{k: params[k] for k in ("eps",)
                                                      if k in params}))
            continue
        _check_keys(params, {"inplace", "negative_slope", "approximate"} & set(params),
                    f"{at}.function_parameters", kind)
        if params.get("approximate", "none") != "none" or params.get(
                "negative_slope", 0.01) != 0.01:
            raise _fail(f"{at}.function_parameters", f"only the defaults of {kind} are supported")
        steps.append(Postprocess(kind))
    return steps


def _check_keys(params: Mapping[str, Any], known: set[str], where: str, owner: str) -> None:
    for key in params:
        if key not in known:
            raise _fail(f"{where}.{key}", f"unknown parameter of {owner}", key, sorted(known))


# ----------------------------------------------------------------------------- expansions


def _entries(kind: str, names: str) -> dict[str, str]:
    """tinyBIG's ``X_kind`` -> the registry's ``X``, for the space-separated names X."""
    return {f"{name}_{kind}": name for name in names.split()}


def _rbf(entry: str) -> Callable[..., Any]:
    """tinyBIG's RBF keys: ``num_interval`` evenly spaced centres over ``base_range`` (or
    the centres ``base``), of width 1/``epsilon``; tinyBIG's defaults 10, [-1, 1] and 1."""
    def make(**p: Any) -> Any:
        centers = p.pop("base", None)
        if centers is None:
            centers = p.pop("num_interval", 10)
        else:
            p.pop("num_interval", None)
        epsilon = p.pop("epsilon", 1.0)
        if not epsilon > 0:
            raise ValueError(f"{entry}: epsilon must be positive, got {epsilon!r}")
        return REGISTRIES["expansion"][entry].make(
            {"centers": centers, "sigma": 1.0 / epsilon,
             "base_range": p.pop("base_range", [-1, 1])}, **p)
    return make


_RBF_KEYS = {"base_range", "num_interval", "epsilon", "base"}
#: tinyBIG expansion name -> the registry's entry (same keys), or (builder, tinyBIG's keys)
#: where tinyBIG's keys differ; nested and extended expansions have no entry of their own.
EXPANSIONS: dict[str, Any] = {
    **_entries("expansion", "identity reciprocal linear taylor fourier bspline chebyshev "
               "jacobi trigonometric hyperbolic arc_trigonometric arc_hyperbolic normal cauchy "
               "chi2 gamma laplace exponential naive_normal naive_cauchy naive_chi2 naive_gamma "
               "naive_laplace naive_exponential hybrid_probabilistic combinatorial "
               "combinatorial_normal"),
    "gaussian_rbf_expansion": (_rbf("gaussian_rbf"), _RBF_KEYS),
    "inverse_quadratic_rbf_expansion": (_rbf("inverse_quadratic_rbf"), _RBF_KEYS),
    "nested_expansion": (rpn.NestedExpansion, {"expansion_function_configs"}),
    "extended_expansion": (rpn.ExtendedExpansion, {"expansion_function_configs"}),
}

_PROCESS_KEYS = {"preprocess_functions": "preprocess", "preprocess_function_configs":
                 "preprocess", "postprocess_functions": "postprocess",
                 "postprocess_function_configs": "postprocess"}


def _warn(where: str, message: str) -> None:
    warnings.warn(f"{where}: {message}", ConfigWarning, stacklevel=3)


def build_expansion(name: str, parameters: Mapping[str, Any], where: str) -> Any:
    """One tinyBIG expansion block (its short class name and parameters) as a tinyrpn
    Expansion, reproducing what tinyBIG 0.1.1 computes."""
    target = EXPANSIONS[name]
    if isinstance(target, str):
        entry = REGISTRIES["expansion"][target]
        keys: set[str] = set(entry.params)

        def make(**args: Any) -> Any:
            return entry.make({k: args.pop(k) for k in keys if k in args}, **args)
    else:
        make, keys = target
    known = keys | IGNORED | set(_PROCESS_KEYS)
    _check_keys(parameters, known, where, name)
    args: dict[str, Any] = {}
    steps: dict[str, list[Module]] = {"preprocess": [], "postprocess": []}
    for key, value in parameters.items():
        if key in IGNORED:
            continue
        if key in _PROCESS_KEYS:
            steps[_PROCESS_KEYS[key]] += processing_steps(value, f"{where}.{key}")
        elif key == "expansion_function_configs":
            args["expansions"] = _inner_expansions(value, f"{where}.{key}")
        else:
            args[key] = value
    if name.startswith("combinatorial") and args.get("with_replacement"):
        _warn(f"{where}.with_replacement", "ignored, as tinyBIG 0.1.1 ignores it (its forward "
              "always passes with_replacement=False)")
        args["with_replacement"] = False
    if name in ("nested_expansion", "extended_expansion"):
        if "expansions" not in args:
            raise _fail(f"{where}.expansion_function_configs",
                        f"missing: {name} needs its list of expansions")
        skipped = ["preprocess", "postprocess"] if name == "nested_expansion" else ["postprocess"]
        for kind in skipped:
            if steps[kind]:
                _warn(where, f"the {kind}ing steps are ignored, as tinyBIG 0.1.1's {name} "
                      f"ignores them (the inner expansions' own steps do apply)")
                steps[kind] = []
    try:
        return make(**args, postprocess=steps["postprocess"] or None,
                    preprocess=steps["preprocess"] or None)
    except (TypeError, ValueError) as error:
        raise _fail(where, str(error)) from None


def _inner_expansions(value: Any, where: str) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    built = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping) or "expansion_class" not in item:
            raise _fail(at, "expected a mapping with expansion_class and expansion_parameters")
        _check_keys(item, {"expansion_class", "expansion_parameters"}, at, "an inner expansion")
        section, name = _split_path(item["expansion_class"], f"{at}.expansion_class")
        if section != "expansion":
            raise _fail(f"{at}.expansion_class", f"{item['expansion_class']!r} is not an "
                        "expansion")
        built.append(build_expansion(name, dict(item.get("expansion_parameters") or {}),
                                     f"{at}.expansion_parameters"))
    return built


# ----------------------------------------------------------------------------- reconciliations


#: tinyBIG's reconciliations: each X_reconciliation is the registry's entry X, whose keys
#: are tinyBIG's (``layout`` aside: tinyBIG's own, for every entry that has one).
RECONCILIATIONS = _entries("reconciliation", "identity constant zero one constant_eye masking "
                           "duplicated_padding lorr hm lphm dual_lphm hypernet")


def build_reconciliation(name: str, parameters: Mapping[str, Any], n: Any, D: Any,
                         where: str) -> Any:
    """One tinyBIG reconciliation block as a tinyrpn Reconciliation for n outputs and an
    expansion of size D."""
    entry = REGISTRIES["reconciliation"][RECONCILIATIONS[name]]
    keys = set(entry.params) - {"layout"}
    known = keys | IGNORED | {"require_parameters", "enable_bias"}
    _check_keys(parameters, known, where, name)
    if n is None or D is None:
        raise _fail(where, f"{name} needs the sizes n and D (build_function(..., n=, D=))")
    args = {"layout": "tinybig"} if "layout" in entry.params else {}
    for key, value in parameters.items():
        if key in ("require_parameters", "enable_bias"):
            if not isinstance(value, bool):
                raise _fail(f"{where}.{key}", f"expected true or false, got {type_name(value)}")
            # (enable_bias: tinyBIG's head, not the reconciliation, holds and adds the bias
            # b, so W is the same; the config's head gets bias: true, RPNHead(bias=True))
        elif key == "fixed_mask":
            if not isinstance(value, bool):
                raise _fail(f"{where}.{key}", f"expected true or false, got {type_name(value)}")
            args[key] = value
        elif key in keys:
            args[key] = value
    try:
        if parameters.get("require_parameters") is False and entry.cls.parameter_count(
                n, D, **args):
            raise _fail(f"{where}.require_parameters", f"is false: {name} needs its parameters")
        return entry.make(args, n, D)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise _fail(where, str(error)) from None


# ----------------------------------------------------------------------------- remainders


#: tinyBIG's remainders: each X_remainder is the registry's entry X, whose keys are
#: tinyBIG's but for the bias and activation (``enable_bias``, ``activation_functions``).
#: (tinyBIG 0.1.1 defines one_remainder but does not export it from tinybig.remainder.)
REMAINDERS = _entries("remainder", "zero constant one identity linear bspline")


def build_remainder(name: str, parameters: Mapping[str, Any], m: Any, n: Any,
                    where: str) -> Any:
    """One tinyBIG remainder block as a tinyrpn Remainder mapping m features to n."""
    entry = REGISTRIES["remainder"][REMAINDERS[name]]
    keys = set(entry.params) - {"bias", "activation"}
    known = keys | IGNORED | {"require_parameters", "enable_bias", "activation_functions",
                                   "activation_function_configs"}
    _check_keys(parameters, known, where, name)
    activation: list[Module] = []
    flags = {"require_parameters": name in ("linear_remainder", "bspline_remainder"),
             "enable_bias": False}  # tinyBIG's defaults
    args: dict[str, Any] = {}
    for key, value in parameters.items():
        if key.startswith("activation_function"):
            activation += processing_steps(value, f"{where}.{key}")
        elif key in flags:
            if not isinstance(value, bool):
                raise _fail(f"{where}.{key}", f"expected true or false, got {type_name(value)}")
            flags[key] = value
        elif key not in IGNORED:
            args[key] = value
    act = activation or None
    try:
        if name in ("zero_remainder", "one_remainder", "constant_remainder"):
            return entry.make(args, m=m, n=n, activation=act)
        if name == "identity_remainder" or not flags["require_parameters"]:
            if name == "bspline_remainder":
                raise _fail(f"{where}.require_parameters", "is false: tinyBIG's "
                            "bspline_remainder cannot run without its parameters")
            # a linear remainder without parameters passes x through, as in tinyBIG
            return rpn.IdentityRemainder(activation=act)
        if name == "linear_remainder" and m is None and n is None:
            # no weight of its own: each call passes tinyBIG's w (and b)
            return rpn.LinearRemainder(None, None, activation=act)
        if m is None or n is None:
            raise _fail(where, f"{name} needs the sizes m and n (build_function(..., m=, n=))")
        return entry.make(args, m, n, bias=flags["enable_bias"], activation=act)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise _fail(where, str(error)) from None


# ----------------------------------------------------------------------------- entry point


SECTIONS: dict[str, dict[str, Any]] = {"expansion": EXPANSIONS,
                                       "reconciliation": RECONCILIATIONS,
                                       "remainder": REMAINDERS}


def _split_path(class_path: Any, where: str) -> tuple[str, str]:
    everything = [f"tinybig.{s}.{n}" for s, table in SECTIONS.items() for n in table]
    if not isinstance(class_path, str):
        raise _fail(where, f"expected a class path such as 'tinybig.expansion.taylor_expansion',"
                    f" got {type_name(class_path)}")
    parts = class_path.split(".")
    if len(parts) in (3, 4) and parts[0] == "tinybig" and parts[1] in SECTIONS and \
            parts[-1] in SECTIONS[parts[1]]:
        return parts[1], parts[-1]
    raise _fail(where, f"unknown tinyBIG function {class_path!r}", class_path, everything)


def build_function(class_path: str, parameters: Mapping[str, Any] | None = None, *,
                   m: int | None = None, n: int | None = None, D: int | None = None) -> Any:
    """The tinyrpn object for one tinyBIG 0.1.1 function, named as a config names it.

    * an expansion (``tinybig.expansion.*``) maps x (N, m) to (N, D); when ``m`` is given,
      its output size D is checked against ``D`` (if given too);
    * a reconciliation (``tinybig.reconciliation.*``) needs ``n`` and ``D``; its
      ``matrix(w)`` takes tinyBIG's own flat parameter vector w (length l);
    * a remainder (``tinybig.remainder.*``) maps x (N, m) to (N, n); ``remainder(x, w=...,
      b=...)`` takes tinyBIG's w (n × m) and b (n).

    ``parameters`` are tinyBIG's, as the config gives them (matrices as nested lists). An
    unknown class or parameter, or sizes that do not fit, raise ``ConfigError``.
    """
    section, name = _split_path(class_path, "class_path")
    parameters = dict(parameters or {})
    where = f"{class_path}.parameters"
    if section == "expansion":
        built = build_expansion(name, parameters, where)
        if m is not None and D is not None and built.output_dim(m) != D:
            raise _fail(where, f"gives D = {built.output_dim(m)} features for m = {m}, "
                        f"not D = {D}")
        return built
    if section == "reconciliation":
        return build_reconciliation(name, parameters, n, D, where)
    if section == "remainder":
        return build_remainder(name, parameters, m, n, where)
    raise AssertionError(section)  # pragma: no cover
