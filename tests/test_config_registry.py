"""The registry and the classes agree: on every default, every size and every check.

The classes are the single source of truth; these tests fail if a registry entry ever
restates a default, a size formula or a check and gets it wrong.
"""

from __future__ import annotations

import inspect
import itertools

import pytest

import tinyrpn
from tinyrpn import rpn
from tinyrpn.config import REGISTRIES, ConfigError, config_from_dict
from tinyrpn.config.models import build_model, rpn_layer_sizes
from tinyrpn.config.schema import REQUIRED, Context, ListOf

# --------------------------------------------------------------------------- defaults


def _as_config(value, spec):
    """A constructor default as a YAML file writes it."""
    if isinstance(value, tuple):
        return list(value)
    if value is None and isinstance(spec, ListOf):
        return []  # a list of steps left at None: no steps
    return value


def _class_keys():
    for kind, registry in REGISTRIES.items():
        for name, entry in registry.entries.items():
            if entry.cls is None:
                continue
            signature = inspect.signature(entry.cls).parameters
            for key, field in entry.params.items():
                if key in signature:
                    yield kind, name, key, field, signature[key]


def test_every_default_is_the_class_signature_default() -> None:
    checked = 0
    for kind, name, key, field, parameter in _class_keys():
        where = f"{kind} {name!r}: {key}"
        if parameter.default is inspect.Parameter.empty:
            assert field.default is REQUIRED, f"{where} has a default the class lacks"
        else:
            assert field.default == _as_config(parameter.default, field.spec), where
        checked += 1
    # every optimizer's lr, every reconciliation's p and q, every expansion's degree...
    assert checked > 60


def test_optimizer_defaults_are_written_once() -> None:
    # an optimizer's defaults live in its __init__ and nowhere else: the resolved config of
    # a bare `optimizer: NAME` is the signature
    for name, entry in REGISTRIES["optimizer"].entries.items():
        resolved = entry.section().check({}, "optimizer", Context())
        built = entry.build(resolved, [tinyrpn.nn.Parameter([0.0])])
        group = built.param_groups[0]
        for key, value in resolved.items():
            assert group[key] == (tuple(value) if isinstance(value, list) else value), (name, key)


# --------------------------------------------------------------------------- sizes and checks


def _model(m: int, n: int, expansion, reconciliation="identity", remainder="zero",
           postprocess=()):
    return {"type": "rpn", "layers": [{"m": m, "n": n, "heads": [{
        "expansion": expansion, "reconciliation": reconciliation, "remainder": remainder,
        "postprocess": list(postprocess)}]}]}


def _resolve(model):
    return REGISTRIES["model"]["rpn"].section().check(
        {k: v for k, v in model.items() if k != "type"}, "model", Context()) | {"type": "rpn"}


def _built_head(resolved):
    tinyrpn.manual_seed(0)
    return build_model(resolved).layers[0].heads[0]


def _trainable(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


EXPANSION_GRID = {
    "identity": [{}], "reciprocal": [{}], "trigonometric": [{}], "hyperbolic": [{}],
    "arc_trigonometric": [{}], "arc_hyperbolic": [{}], "normal": [{}], "naive_normal": [{}],
    "hybrid_probabilistic": [{}],
    "taylor": [{"d": d} for d in (1, 2, 3)],
    "chebyshev": [{"d": d} for d in (1, 2, 4)],
    "jacobi": [{"d": d} for d in (1, 3)],
    "fourier": [{"N": N} for N in (1, 3)],
    "gaussian_rbf": [{"centers": 3}, {"centers": [0.0, 0.5]}],
    "inverse_quadratic_rbf": [{"centers": 4}],
    "bspline": [{"t": t, "d": d} for t, d in ((1, 0), (2, 1), (4, 3))],
    "combinatorial": [{"d": d} for d in (1, 2, 3)],
    "combinatorial_normal": [{"d": 1}, {"d": 2}],
    "linear": [{}, {"c": 2.0}, {"post_C": [[1.0, 0.0, 2.0]] * 3}],
    "nested": [{"expansions": ["identity", {"type": "taylor", "d": 2}]},
               {"expansions": [{"type": "chebyshev", "d": 2}, "trigonometric"]}],
    "extended": [{"expansions": ["identity", {"type": "taylor", "d": 2}]},
                 {"expansions": [{"type": "bspline", "t": 2, "d": 1}]}],
}
for _name in ("cauchy", "chi2", "gamma", "laplace", "exponential", "naive_cauchy",
              "naive_chi2", "naive_gamma", "naive_laplace", "naive_exponential"):
    EXPANSION_GRID[_name] = [{}]


def test_the_expansion_grid_covers_every_expansion() -> None:
    assert set(EXPANSION_GRID) == set(REGISTRIES["expansion"].names()) - {"tinybig"}


@pytest.mark.parametrize("name", sorted(EXPANSION_GRID))
def test_expansion_size_from_config_is_the_built_objects(name: str) -> None:
    for params, m in itertools.product(EXPANSION_GRID[name], (1, 2, 3)):
        if name == "linear" and "post_C" in params and m != 3:
            continue  # post_C is m x D'
        resolved = _resolve(_model(m, 2, {"type": name, **params}))
        (sizes,) = rpn_layer_sizes(resolved)
        head = _built_head(resolved)
        assert sizes["heads"][0]["D"] == head.expansion.output_dim(m), (params, m)
        assert sizes["parameters"] == _trainable(head), (params, m)


def test_expansion_sizes_match_their_closed_forms() -> None:
    # the formulas of docs/CONFIG.md, written out here independently of both paths
    forms = {("taylor", 3): lambda m: m + m**2 + m**3, ("chebyshev", 4): lambda m: 4 * m,
             ("bspline", (4, 3)): lambda m: 7 * m, ("fourier", 3): lambda m: 6 * m}
    for (name, value), form in forms.items():
        params = ({"t": value[0], "d": value[1]} if name == "bspline" else
                  {"N": value} if name == "fourier" else {"d": value})
        for m in (1, 2, 5):
            (sizes,) = rpn_layer_sizes(_resolve(_model(m, 2, {"type": name, **params})))
            assert sizes["heads"][0]["D"] == form(m), (name, m)


def _reconciliation_grid():
    kron = [{"p": p, "q": q, "layout": lay} for p in (1, 2, 3) for q in (None, 1, 2, 3)
            for lay in ("kron", "tinybig")]
    return {
        "identity": [{}], "zero": [{}], "one": [{}], "constant_eye": [{}],
        "constant": [{"c": 0.5}],
        "lorr": [{"r": r} for r in (1, 3)],
        "hm": kron,
        "lphm": [dict(k, r=r) for k in kron for r in (1, 2)],
        "dual_lphm": [dict(k, r=r) for k in kron for r in (1, 2)],
        "duplicated_padding": [{"p": p, "q": q} for p in (1, 2, 3) for q in (None, 2, 4)],
        "masking": [{"p": p} for p in (0.0, 0.5)] + [{"p": 0.5, "fixed_mask": False}],
        "hypernet": [{"l": 3, "hidden_dim": 2}, {"l": 5, "hidden_dim": 4, "static": False}],
    }


def test_the_reconciliation_grid_covers_every_reconciliation() -> None:
    assert set(_reconciliation_grid()) == set(REGISTRIES["reconciliation"].names()) - {"tinybig"}


@pytest.mark.parametrize("name", sorted(_reconciliation_grid()))
def test_reconciliation_count_and_check_from_config_are_the_classes(name: str) -> None:
    cls = REGISTRIES["reconciliation"][name].cls
    fits = fails = 0
    for params, n, D in itertools.product(_reconciliation_grid()[name], (2, 4, 6), (2, 3, 4)):
        model = _model(D, n, "identity", {"type": name, **params})  # identity: D = m
        try:
            tinyrpn.manual_seed(0)
            direct = cls(n, D, **params)
        except ValueError as error:
            # a size that does not fit raises from both paths, with the class's words
            with pytest.raises(ConfigError) as info:
                _resolve(model)
            assert str(error).split(": ", 1)[1] in str(info.value), (params, n, D)
            assert "does not divide" in str(info.value)
            fails += 1
            continue
        resolved = _resolve(model)
        (sizes,) = rpn_layer_sizes(resolved)
        head = _built_head(resolved)
        assert sizes["heads"][0]["l"] == direct.l == head.reconciliation.l, (params, n, D)
        assert sizes["parameters"] == _trainable(head) - (
            _trainable(head.reconciliation) - direct.l), (params, n, D)
        fits += 1
    assert fits
    if name in ("hm", "lphm", "dual_lphm", "duplicated_padding"):
        assert fails  # the grid holds sizes that do not divide


REMAINDER_GRID = {
    "zero": [{}], "one": [{}], "identity": [{}], "constant": [{"c": 2.0}],
    "linear": [{"bias": b} for b in (False, True)] + [{"activation": ["silu"]}],
    "bspline": [{"t": 2, "d": 1}, {"t": 3, "d": 2, "bias": True}],
}


def test_the_remainder_grid_covers_every_remainder() -> None:
    assert set(REMAINDER_GRID) == set(REGISTRIES["remainder"].names()) - {"tinybig"}


@pytest.mark.parametrize("name", sorted(REMAINDER_GRID))
def test_remainder_count_and_check_from_config_are_the_classes(name: str) -> None:
    cls = REGISTRIES["remainder"][name].cls
    for params, m, n in itertools.product(REMAINDER_GRID[name], (1, 3), (1, 2, 3)):
        model = _model(m, n, "identity", remainder={"type": name, **params})
        try:
            direct = _trainable(cls(m=m, n=n, **{k: tuple(v) if k == "grid_range" else v
                                                 for k, v in params.items()}))
        except ValueError as error:
            with pytest.raises(ConfigError) as info:
                _resolve(model)
            assert str(error) in str(info.value)
            continue
        resolved = _resolve(model)
        (sizes,) = rpn_layer_sizes(resolved)
        head = _built_head(resolved)
        assert sizes["parameters"] - sizes["heads"][0]["l"] == direct == _trainable(
            head.remainder), (params, m, n)


def test_postprocess_counts_are_the_built_steps() -> None:
    for norm, affine, m in itertools.product(("layer_norm", "batch_norm"), (True, False),
                                             (1, 3)):
        resolved = _resolve(_model(m, 2, {"type": "taylor", "d": 2},
                                   postprocess=[{"type": norm, "affine": affine}]))
        (sizes,) = rpn_layer_sizes(resolved)
        assert sizes["parameters"] == _trainable(_built_head(resolved))
        D = m + m * m  # n x D entries of W, and a weight and bias per feature when affine
        assert sizes["parameters"] == 2 * D + (2 * D if affine else 0)


# --------------------------------------------------------------------------- class checks


@pytest.mark.parametrize("section, value, cls_call", [
    ("expansion", {"type": "bspline", "grid_range": [1.0, -1.0]},
     lambda: rpn.BSplineExpansion(grid_range=(1.0, -1.0))),
    ("optimizer", {"type": "sgd", "nesterov": True},
     lambda: tinyrpn.optim.SGD([tinyrpn.nn.Parameter([0.0])], nesterov=True)),
    ("scheduler", {"type": "linear", "start_factor": 2.0},
     lambda: tinyrpn.optim.lr_scheduler.LinearLR(
         tinyrpn.optim.SGD([tinyrpn.nn.Parameter([0.0])]), start_factor=2.0)),
])
def test_a_value_the_class_refuses_fails_when_the_config_loads(section, value, cls_call):
    with pytest.raises(ValueError) as direct:
        cls_call()
    cfg = {"model": _model(4, 2, "identity") if section != "expansion" else _model(4, 2, value),
           "data": {"dataset": "mnist", "transforms": ["scale", {"resize": [2, 2]}, "flatten"],
                    "batch_size": 8},
           "optimizer": value if section == "optimizer" else "adam",
           "scheduler": value if section == "scheduler" else None, "training": {"epochs": 1}}
    with pytest.raises(ConfigError) as info:
        config_from_dict(cfg)
    assert str(direct.value) in str(info.value)
    # the error points at the key the class names, so it carries that key's line
    key = {"expansion": "model.layers[0].heads[0].expansion.grid_range",
           "optimizer": "optimizer.nesterov", "scheduler": "scheduler.start_factor"}[section]
    assert info.value.path == key
