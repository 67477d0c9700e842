"""tinyrpn.config: the YAML format, the registry, the tinyBIG adapter and the Experiment.

What is checked: every config in configs/ loads and resolves to a fixed point; the
published tinyBIG files resolve to exactly the tinyrpn-format configs and build models of
39,696,000 and 9,330 parameters; tinyBIG's depth/width allocation rules and its ignored
keys; closed-form parameter counts against built models; errors that name the file, line,
key path and closest names; overrides; the data loaders (needs the real MNIST files).
"""

from __future__ import annotations

import ast
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import tinyrpn
from tinyrpn.config import (
    REGISTRIES,
    ConfigError,
    ConfigWarning,
    config_from_dict,
    load_config,
    parse_overrides,
)
from tinyrpn.config.resolve import resolve
from tinyrpn.config.schema import Context

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
TINYBIG_DIR = ROOT.parent / "shared" / "reference" / "tinybig"
TINYBIG_IDENTITY = TINYBIG_DIR / "mnist_configs.yaml"
TINYBIG_DUAL = TINYBIG_DIR / "mnist_dual_lphm_configs.yaml"
needs_tinybig_files = pytest.mark.skipif(
    not TINYBIG_IDENTITY.exists(), reason=f"the tinyBIG reference configs are not in {TINYBIG_DIR}"
)
MNIST_ROOT = Path(
    os.environ.get("TINYRPN_TEST_MNIST") or os.environ.get("TINYRPN_DATA")
    or "/work/shared/data/mnist"
)
needs_mnist = pytest.mark.skipif(
    not (MNIST_ROOT / "train-images-idx3-ubyte.gz").exists()
    and not (MNIST_ROOT / "train-images-idx3-ubyte").exists(),
    reason=f"the real MNIST files are not in {MNIST_ROOT}",
)

ALL_CONFIGS = sorted(CONFIGS.glob("*.yaml"))
PUBLISHED_COUNTS = {
    "rpn_taylor_identity": 39_696_000,
    "rpn_taylor_dual_lphm": 9_330,
    "rpn_taylor_dual_lphm_kron": 9_330,
    "mlp_madgrad_lookahead": 1_937_010,
    "mlp_small": 784 * 128 + 128 + 128 * 10 + 10,
    # W (n x D, D = m (t + d)) and the remainder's W' (n x m), per layer
    "rpn_kan_bspline": 64 * 784 * 8 + 64 * 784 + 10 * 64 * 8 + 10 * 64,
    "rpn_naive_bayes": 10 * 784,
    # function fitting, as tinyBIG's logs count them: lorr r = 1 gives n + D per head
    "rpn_function_elementary": 47,
    "rpn_function_composite": 2_441,
    "rpn_function_feynman": 313,
    "lecun1989": 9_760,
    "lecun1989_modern": 9_760,
    "subspace_full": 199_210,
    "subspace_d3": 3,
    "subspace_d10": 10,
    "subspace_d100": 100,
    "subspace_d300": 300,
    "subspace_d1000": 1000,
}


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_quiet(path: Path | str, overrides: dict[str, Any] | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        return load_config(path, overrides)


def without_name(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in ("name", "description")}


MINIMAL = """
data: {batch_size: 32, transforms: [scale, flatten]}
model: {type: mlp, sizes: [784, 16, 10], output: none}
optimizer: {type: adam}
training: {epochs: 1}
"""


# --------------------------------------------------------------------------- the configs


def test_every_reference_config_is_there() -> None:
    names = {p.stem for p in ALL_CONFIGS}
    assert set(PUBLISHED_COUNTS) <= names, set(PUBLISHED_COUNTS) - names


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.stem)
def test_config_loads_without_warnings_and_resolves_to_a_fixed_point(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        exp = load_config(path)
    assert exp.name == path.stem
    assert exp.device == "cpu" and exp.seed == exp.config["seed"]
    assert exp.epochs == exp.config["training"]["epochs"] == exp.training["epochs"]
    # the resolved config, written out and read back, resolves to itself
    again = config_from_dict(yaml.safe_load(exp.to_yaml()), source="resolved")
    assert again.config == exp.config
    assert resolve(exp.config, Context()) == exp.config
    assert exp.num_parameters() == PUBLISHED_COUNTS[path.stem]


def test_subspace_configs_differ_only_in_name_and_dim() -> None:
    base = load_quiet(CONFIGS / "subspace_d1000.yaml").config
    for path in CONFIGS.glob("subspace_*.yaml"):
        cfg = load_quiet(path).config
        dim = path.stem.split("_")[1]
        assert cfg["model"]["dim"] == ("full" if dim == "full" else int(dim[1:]))
        cfg = {**cfg, "name": base["name"], "model": {**cfg["model"], "dim": 1000}}
        assert cfg == base
    # any other d is an override away, and the count follows it
    exp = load_quiet(CONFIGS / "subspace_d10.yaml", {"model.dim": 750})
    assert exp.num_parameters() == 750


def test_rpn_configs_reproduce_what_tinybig_ran() -> None:
    ident = load_quiet(CONFIGS / "rpn_taylor_identity.yaml").config
    dual = load_quiet(CONFIGS / "rpn_taylor_dual_lphm.yaml").config
    kron = load_quiet(CONFIGS / "rpn_taylor_dual_lphm_kron.yaml").config
    for cfg, epochs in ((ident, 25), (dual, 20), (kron, 20)):
        assert cfg["seed"] == 1234 and cfg["training"]["epochs"] == epochs
        assert cfg["optimizer"] == {"type": "adamw", "lr": 2e-3, "betas": [0.9, 0.999],
                                    "eps": 1e-8, "weight_decay": 2e-4, "amsgrad": False}
        assert cfg["scheduler"] == {"type": "exponential", "gamma": 0.9}
        assert cfg["loss"] == {"type": "cross_entropy", "reduction": "mean"}
        assert cfg["data"]["batch_size"] == cfg["data"]["test_batch_size"] == 64
        layers = cfg["model"]["layers"]
        assert [(la["m"], la["n"]) for la in layers] == [(784, 64), (64, 64), (64, 10)]
        # layer 1 without LayerNorm; layers 2 and 3 with a parameter-free one
        assert layers[0]["heads"][0]["postprocess"] == []
        for layer in layers[1:]:
            assert layer["heads"][0]["postprocess"] == [
                {"type": "layer_norm", "eps": 1e-5, "affine": False}]
    assert [la["heads"][0]["reconciliation"]["layout"] for la in dual["model"]["layers"]] == [
        "tinybig"] * 3
    assert [la["heads"][0]["reconciliation"]["layout"] for la in kron["model"]["layers"]] == [
        "kron"] * 3
    assert {**kron, "name": "x"} == _with_layout({**dual, "name": "x"}, "kron")


def _with_layout(cfg: dict[str, Any], layout: str) -> dict[str, Any]:
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    for layer in cfg["model"]["layers"]:
        for head in layer["heads"]:
            head["reconciliation"]["layout"] = layout
    return cfg


# --------------------------------------------------------------------------- tinyBIG files


@needs_tinybig_files
@pytest.mark.parametrize(
    "tinybig_file, ours",
    [(TINYBIG_IDENTITY, "rpn_taylor_identity.yaml"), (TINYBIG_DUAL, "rpn_taylor_dual_lphm.yaml")],
    ids=["identity", "dual_lphm"],
)
def test_tinybig_file_resolves_to_the_tinyrpn_config(tinybig_file: Path, ours: str) -> None:
    with pytest.warns(ConfigWarning) as record:
        converted = load_config(tinybig_file)
    messages = [str(w.message) for w in record]
    # the misplaced LayerNorm of layer 1 is ignored, and the warning names layer and head
    ignored = [m for m in messages if "postprocess_function_configs" in m]
    assert len(ignored) == 1
    assert "layer 0, head 0" in ignored[0] and "ignored" in ignored[0]
    assert "layer_configs[0]" in ignored[0] and "head_configs[0]" in ignored[0]
    assert any("'mps'" in m and "cpu" in m for m in messages)
    assert converted.device == "cpu"
    reference = load_quiet(CONFIGS / ours)
    assert without_name(converted.config) == without_name(reference.config)
    assert converted.name == tinybig_file.stem


@needs_tinybig_files
@pytest.mark.parametrize("tinybig_file, count", [(TINYBIG_IDENTITY, 39_696_000),
                                                 (TINYBIG_DUAL, 9_330)],
                         ids=["identity", "dual_lphm"])
def test_tinybig_file_builds_the_published_model(tinybig_file: Path, count: int) -> None:
    exp = load_quiet(tinybig_file)
    tinyrpn.manual_seed(exp.seed)
    model = exp.build_model()
    assert model.num_parameters() == count == exp.num_parameters()
    # only the reconciliations hold parameters: the LayerNorms are parameter-free
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == 3 and all(name.endswith("reconciliation.w") for name in names)
    layers = list(model.layers)
    assert len(layers[0].heads[0].expansion.postprocess) == 0
    for layer in layers[1:]:
        (step,) = list(layer.heads[0].expansion.postprocess)
        assert step.name == "layer_norm" and step.eps == 1e-5
    if tinybig_file == TINYBIG_DUAL:
        recs = [layer.heads[0].reconciliation for layer in layers]
        assert [(r.p, r.q, r.r, r.layout) for r in recs] == [
            (8, 784, 5, "tinybig"), (8, 64, 5, "tinybig"), (2, 64, 5, "tinybig")]
        assert [r.l for r in recs] == [7925, 725, 680]
        # init as in tinyBIG: U(+-sqrt(6/(l+1)))
        for r in recs:
            w = r.w.data
            assert np.abs(w).max() <= np.sqrt(6 / (r.l + 1)) and w.std() > 0
    del model


def tinybig_head(rec: str, params: dict[str, Any], post: list[dict] | None = None,
                 name: str = "tinybig.module.rpn_head") -> dict[str, Any]:
    transformation: dict[str, Any] = {"name": "taylor_expansion", "d": 2}
    if post:
        transformation["postprocess_function_configs"] = post
    return {
        "head_class": name,
        "head_parameters": {
            "l": None, "channel_num": 1,
            "data_transformation_configs": {
                "data_transformation_class": "tinybig.expansion.taylor_expansion",
                "data_transformation_parameters": transformation},
            "parameter_fabrication_configs": {
                "parameter_fabrication_class": f"tinybig.reconciliation.{rec}_reconciliation",
                "parameter_fabrication_parameters": {"name": rec, **params}},
            "remainder_configs": {
                "remainder_class": "tinybig.remainder.zero_remainder",
                "remainder_parameters": {"name": "zero_remainder", "require_parameters": False,
                                         "enable_bias": False}},
        },
    }


def tinybig_config(layer_configs: Any, **model_params: Any) -> dict[str, Any]:
    return {"configurations": {
        "device": "cpu", "random_seed": 7,
        "data_configs": {"data_class": "tinybig.data.mnist",
                         "data_parameters": {"name": "mnist", "train_batch_size": 32,
                                             "test_batch_size": 100}},
        "learner_configs": {
            "learner_class": "tinybig.learner.backward_learner",
            "learner_parameters": {
                "name": "error_backward_propagation", "n_epochs": 3,
                "optimizer_configs": {"optimizer_class": "torch.optim.AdamW",
                                      "optimizer_parameters": {"lr": 1.0e-3}},
                "loss_configs": {"loss_class": "torch.nn.CrossEntropyLoss",
                                 "loss_parameters": {"reduction": "mean"}}}},
        "model_configs": {"model_class": "tinybig.model.rpn",
                          "model_parameters": {"name": "rpn", "layer_configs": layer_configs,
                                               **model_params}},
    }}


def tinybig_layer(m: int, n: int, heads: Any, **params: Any) -> dict[str, Any]:
    return {"layer_class": "tinybig.module.rpn_layer",
            "layer_parameters": {"name": "rpn_layer", "m": m, "n": n, "head_configs": heads,
                                 **params}}


def test_tinybig_allocation_mixed_heads_and_closed_form_count() -> None:
    # Layer 1 (784 -> 30): width_alloc [2, 1]: two independent lorr heads, one hm head with
    # a LayerNorm (inside the expansion parameters, so tinyBIG applied it).
    # Layer 2 (30 -> 10): width_alloc [2] with one config: two independent lphm heads.
    D1, D2 = 784 + 784**2, 30 + 30**2
    layer_norm = [{"function_class": "torch.nn.LayerNorm",
                   "function_parameters": {"normalized_shape": D1, "device": "mps"}}]
    cfg = tinybig_config([
        tinybig_layer(784, 30, [tinybig_head("lorr", {"r": 3}),
                                tinybig_head("hm", {"p": 5, "q": 784}, post=layer_norm)],
                      width=None, width_alloc=[2, 1], fusion_strategy="average"),
        tinybig_layer(30, 10, [tinybig_head("lphm", {"p": 2, "q": 30, "r": 4})],
                      width_alloc=[2]),
    ], depth=2)
    exp = config_from_dict(cfg, source="mixed.yaml")
    layers = exp.config["model"]["layers"]
    assert [(la["m"], la["n"], len(la["heads"])) for la in layers] == [(784, 30, 3), (30, 10, 2)]
    assert [h["reconciliation"]["type"] for h in layers[0]["heads"]] == ["lorr", "lorr", "hm"]
    assert layers[0]["heads"][2]["postprocess"] == [{"type": "layer_norm", "eps": 1e-5,
                                                     "affine": False}]
    assert layers[0]["heads"][2]["reconciliation"]["layout"] == "tinybig"
    assert layers[1]["heads"][0]["reconciliation"] == {"type": "lphm", "p": 2, "q": 30, "r": 4,
                                                       "layout": "tinybig"}
    assert exp.config["training"]["epochs"] == 3 and exp.seed == 7
    assert exp.config["data"]["batch_size"] == 32 and exp.config["data"]["test_batch_size"] == 100
    # closed form, written out independently of the registry:
    lorr = 3 * (30 + D1)                      # r (n + D)
    hm = 5 * 784 + (30 // 5) * (D1 // 784)    # pq + st
    lphm = 2 * 30 + 4 * (10 // 2 + D2 // 30)  # pq + r (s + t)
    expected = 2 * lorr + hm + 2 * lphm
    assert exp.num_parameters() == expected
    tinyrpn.manual_seed(0)
    model = exp.build_model()
    assert model.num_parameters() == expected
    # the two heads made from one config are independent: different parameters
    h0, h1 = (h.reconciliation.w.data for h in list(model.layers[1].heads))
    assert h0.shape == h1.shape and not np.array_equal(h0, h1)
    out = model(tinyrpn.randn(2, 784) * 0.1)
    assert out.shape == (2, 10)


def test_tinybig_num_alloc_rules() -> None:
    one_head = [tinybig_head("identity", {})]
    # a missing alloc with one config repeats it: depth 3 of a 16 -> 16 layer, width 2
    cfg = tinybig_config([tinybig_layer(16, 16, one_head, width=2)], depth=3)
    layers = small(cfg, 16).config["model"]["layers"]
    assert [len(la["heads"]) for la in layers] == [2, 2, 2]
    # several configs and no alloc: each once (depth null or equal to the count)
    for depth in (None, 2):
        cfg = tinybig_config([tinybig_layer(16, 16, one_head), tinybig_layer(16, 5, one_head)],
                             depth=depth)
        layers = small(cfg, 16).config["model"]["layers"]
        assert [(la["m"], la["n"]) for la in layers] == [(16, 16), (16, 5)]
    # a single mapping instead of a list is one config
    cfg = tinybig_config(tinybig_layer(16, 5, one_head[0]))
    layers = small(cfg, 16).config["model"]["layers"]
    assert len(layers) == 1 and len(layers[0]["heads"]) == 1
    # inconsistent numbers fail, naming the tinyBIG key
    bad = tinybig_config([tinybig_layer(16, 16, one_head), tinybig_layer(16, 5, one_head)],
                         depth=3)
    with pytest.raises(ConfigError, match=r"model_parameters\.depth: is 3 but 2 layer_configs"):
        small(bad, 16)
    bad = tinybig_config([tinybig_layer(16, 5, one_head, width=3, width_alloc=[2])])
    with pytest.raises(ConfigError, match=r"layer_parameters\.width: is 3 but width_alloc \[2\]"):
        small(bad, 16)
    bad = tinybig_config([tinybig_layer(16, 5, one_head, width_alloc=[1, 1])])
    with pytest.raises(ConfigError, match=r"width_alloc: has 2 entries for 1 head_configs"):
        small(bad, 16)


def small(cfg: dict[str, Any], m: int, source: str = "<dict>") -> Any:
    """Convert a tinyBIG config whose first layer reads m = side² features: tinyBIG's mnist
    gives 784, so the converted config's images are resized (an override, applied after
    conversion)."""
    side = round(m**0.5)
    assert side * side == m
    return config_from_dict(cfg, source=source,
                            overrides={"data.transforms": ["scale", {"resize": side}, "flatten"]})


def test_tinybig_ignored_and_unsupported_keys() -> None:
    head = tinybig_head("identity", {})
    head["head_parameters"]["m"] = 99  # tinyBIG gives heads the layer's m: ignored, warned
    cfg = tinybig_config([tinybig_layer(16, 4, [head], fusion_strategy="sum")])
    with pytest.warns(ConfigWarning) as record:
        exp = small(cfg, 16, source="f.yaml")
    text = "\n".join(str(w.message) for w in record)
    assert "fusion_strategy 'sum' is not used" in text and "averages" in text
    assert "m=99 is not used" in text
    assert exp.config["model"]["layers"][0]["fusion"] == "average"

    cfg = tinybig_config([tinybig_layer(16, 4, [head])])
    cfg["configurations"]["model_configs"]["model_parameters"]["layer_configs"][0][
        "layer_parameters"]["head_configs"][0]["head_parameters"]["channel_num"] = 2
    # channel_num C: C reconciliations whose matrices are averaged (C times the parameters)
    assert small(cfg, 16).config["model"]["layers"][0]["heads"][0]["channels"] == 2

    head = tinybig_head("identity", {})
    head["head_parameters"]["l"] = 123
    with pytest.raises(ConfigError, match=r"head_parameters\.l: is 123, but the reconciliation "
                                          r"needs l = 1088"):
        small(tinybig_config([tinybig_layer(16, 4, [head])]), 16)
    head["head_parameters"]["l"] = 4 * (16 + 256)
    small(tinybig_config([tinybig_layer(16, 4, [head])]), 16)

    post = [{"function_class": "torch.nn.LayerNorm",
             "function_parameters": {"normalized_shape": 100}}]
    cfg = tinybig_config([tinybig_layer(16, 4, [tinybig_head("identity", {}, post=post)])])
    with pytest.raises(ConfigError, match=r"normalized_shape: is 100, but the expansion before "
                                          r"it has D = 272"):
        small(cfg, 16)


def test_tinybig_remainders_and_identity_expansion() -> None:
    def head(remainder: str, **flags: Any) -> dict[str, Any]:
        h = tinybig_head("identity", {})
        h["head_parameters"]["data_transformation_configs"] = {
            "data_transformation_class": "tinybig.expansion.identity_expansion",
            "data_transformation_parameters": {"name": "identity_expansion"}}
        h["head_parameters"]["remainder_configs"] = {
            "remainder_class": f"tinybig.remainder.{remainder}_remainder",
            "remainder_parameters": {"name": remainder, **flags}}
        return h

    cases = [
        (head("linear", require_parameters=True, enable_bias=True),
         {"type": "linear", "bias": True, "activation": []}, 16 * 16 + 16 * 16 + 16),
        (head("linear", require_parameters=True),
         {"type": "linear", "bias": False, "activation": []}, 2 * 16 * 16),
        (head("linear"), {"type": "identity"}, 16 * 16),  # no parameters: returns x
        (head("identity"), {"type": "identity"}, 16 * 16),
    ]
    for h, remainder, count in cases:
        if remainder.get("bias"):  # a bias of its own: tinyBIG's init is not replayed
            with pytest.warns(ConfigWarning, match="random_seed: seeds tinyrpn's own random"):
                exp = small(tinybig_config([tinybig_layer(16, 16, [h])]), 16)
            assert exp.config["torch_seed"] is None
        else:  # w, and w' without bias: drawn as tinyBIG draws them (init_like_tinybig)
            exp = small(tinybig_config([tinybig_layer(16, 16, [h])]), 16)
            assert exp.config["torch_seed"] == 7  # the file's random_seed
        (layer,) = exp.config["model"]["layers"]
        assert layer["heads"][0]["expansion"] == {"type": "identity"}
        assert layer["heads"][0]["remainder"] == remainder
        assert exp.num_parameters() == count
        tinyrpn.manual_seed(0)
        assert exp.build_model().num_parameters() == count
    with pytest.raises(ConfigError, match="require_parameters: is true: tinyBIG would build "
                                          "parameters that tinybig.remainder.zero_remainder"):
        small(tinybig_config([tinybig_layer(16, 16, [head("zero", require_parameters=True)])]),
              16)
    with pytest.raises(ConfigError, match=r"needs m == n, got m=16, n=4"):
        small(tinybig_config([tinybig_layer(16, 4, [head("identity")])]), 16)


def test_tinybig_unknown_class_names_fail_with_the_closest() -> None:
    cfg = tinybig_config([tinybig_layer(16, 4, [tinybig_head("dual_lphm", {"p": 2})])])
    rec = cfg["configurations"]["model_configs"]["model_parameters"]["layer_configs"][0][
        "layer_parameters"]["head_configs"][0]["head_parameters"]["parameter_fabrication_configs"]
    rec["parameter_fabrication_class"] = "tinybig.reconciliation.dual_lphm_reconcilation"
    with pytest.raises(ConfigError) as info:
        small(cfg, 16, source="t.yaml")
    err = info.value
    assert err.path.endswith("head_configs[0].head_parameters.parameter_fabrication_configs."
                             "parameter_fabrication_class")
    assert err.suggestions[0] == "tinybig.reconciliation.dual_lphm_reconciliation"
    assert "not a class tinyrpn can convert" in str(err) and str(err).startswith("t.yaml")

    cfg = tinybig_config([tinybig_layer(16, 4, [tinybig_head("identity", {})])])
    cfg["configurations"]["learner_configs"]["learner_parameters"]["optimizer_configs"][
        "optimizer_class"] = "torch.optim.AdamX"
    with pytest.raises(ConfigError, match="did you mean 'torch.optim.Adam', 'torch.optim.AdamW'"):
        small(cfg, 16)
    # an unknown parameter of a known class
    cfg = tinybig_config([tinybig_layer(16, 4, [tinybig_head("lorr", {"rank": 2})])])
    with pytest.raises(ConfigError, match=r"parameter_fabrication_parameters\.rank: unknown"):
        small(cfg, 16)
    # an error found after conversion still names the tinyBIG keys: p does not divide n
    cfg = tinybig_config([tinybig_layer(16, 5, [tinybig_head("hm", {"p": 2, "q": 16})])])
    with pytest.raises(ConfigError, match=r"head_parameters\.parameter_fabrication_configs\."
                                          r"parameter_fabrication_parameters: hm cannot build W "
                                          r"of shape n x D = 5 x 272: p = 2 does not divide n = 5"):
        small(cfg, 16)
    # a torch optimizer parameter tinyrpn does not have is named at the tinyBIG path
    cfg = tinybig_config([tinybig_layer(16, 4, [tinybig_head("identity", {})])])
    cfg["configurations"]["learner_configs"]["learner_parameters"]["optimizer_configs"][
        "optimizer_parameters"]["weight_decy"] = 0.1
    with pytest.raises(ConfigError, match=r"optimizer_parameters\.weight_decy: unknown key "
                                          r"'weight_decy' for optimizer 'adamw'; "
                                          r"did you mean 'weight_decay'"):
        small(cfg, 16)


# --------------------------------------------------------------------------- our format


def test_short_forms_and_defaults(tmp_path: Path) -> None:
    exp = load_config(write(tmp_path, MINIMAL, "minimal.yaml"))
    c = exp.config
    assert exp.name == "minimal" and c["seed"] == 0 and c["device"] == "cpu"
    assert c["loss"] == {"type": "cross_entropy", "reduction": "mean"}
    assert c["optimizer"] == {"type": "adam", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
                              "weight_decay": 0.0, "amsgrad": False}
    assert c["data"]["test_batch_size"] == 32 and c["data"]["dataset"]["type"] == "mnist"
    assert c["lookahead"] is None and c["scheduler"] is None
    assert c["training"] == {"epochs": 1, "eval_train": False, "eval_every_steps": None}


def test_rpn_repeat_m_chaining_and_counts(tmp_path: Path) -> None:
    text = """
data: {batch_size: 8, transforms: [scale, {resize: 4}, flatten]}
model:
  type: rpn
  layers:
    - m: 16
      n: 6
      heads:
        - {expansion: taylor, reconciliation: {type: lorr, r: 2}, repeat: 2}
        - expansion: {type: chebyshev, d: 3}
          postprocess: [{type: layer_norm}]
          reconciliation: {type: dual_lphm, p: 3, q: 4}
          remainder: {type: linear, bias: true}
    - n: 6
      repeat: 2
      heads: [{expansion: {type: taylor, d: 1}, remainder: identity}]
    - n: 4
      fusion: concatenate
      heads: [{expansion: identity, n: 1}, {expansion: identity, n: 3}]
optimizer: {type: sgd, lr: 0.1}
training: {epochs: 1}
"""
    exp = load_config(write(tmp_path, text))
    layers = exp.config["model"]["layers"]
    assert [(la["m"], la["n"], len(la["heads"])) for la in layers] == [
        (16, 6, 3), (6, 6, 1), (6, 6, 1), (6, 4, 2)]
    assert all("repeat" not in h for la in layers for h in la["heads"])
    assert layers[0]["heads"][2]["reconciliation"] == {
        "type": "dual_lphm", "p": 3, "q": 4, "r": 2, "layout": "kron"}  # q given, r default
    D_taylor, D_cheb = 16 + 256, 16 * 3
    expected = (
        2 * 2 * (6 + D_taylor)                            # two lorr heads, r (n + D)
        + 2 * (3 + 4 + 6 // 3 + D_cheb // 4)              # dual_lphm r (p + q + s + t)
        + 2 * D_cheb                                      # affine LayerNorm
        + 6 * 16 + 6                                      # linear remainder with bias
        + 2 * (6 * 6)                                     # two identity layers 6 -> 6
        + 1 * 6 + 3 * 6                                   # concatenated identity heads
    )
    assert exp.num_parameters() == expected
    tinyrpn.manual_seed(0)
    model = exp.build_model()
    assert model.num_parameters() == expected
    assert model(tinyrpn.randn(5, 16)).shape == (5, 4)


def test_reconciliation_q_defaults_to_p(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "model: {type: mlp, sizes: [784, 16, 10], output: none}",
        "model: {type: rpn, layers: [{m: 784, n: 10, heads: [{expansion: identity, "
        "reconciliation: {type: hm, p: 2}}]}]}")
    rec = load_config(write(tmp_path, text)).config["model"]["layers"][0]["heads"][0][
        "reconciliation"]
    assert rec == {"type": "hm", "p": 2, "q": 2, "layout": "kron"}


def test_numbers_written_as_2e_3_are_numbers(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML) reads `2e-3` as a string; a float field takes it as the number
    assert yaml.safe_load("lr: 2e-3")["lr"] == "2e-3"
    text = MINIMAL.replace("{type: adam}", "{type: adam, lr: 2e-3, eps: 1E-7}")
    opt = load_config(write(tmp_path, text)).config["optimizer"]
    assert opt["lr"] == 0.002 and opt["eps"] == 1e-7


@pytest.mark.parametrize(
    "old, new, path, problem",
    [
        ("{type: adam}", "{type: adam, lr: fast}", "optimizer.lr",
         "expected a number > 0, got the string 'fast'"),
        ("{type: adam}", "{type: adam, weight_decy: 0.1}", "optimizer.weight_decy",
         "unknown key 'weight_decy' for optimizer 'adam'; did you mean 'weight_decay'?"),
        ("{type: adam}", "{type: adamm}", "optimizer.type",
         "unknown optimizer 'adamm'; did you mean 'adam' or 'adamw'?"),
        ("batch_size: 32", "batch_size: 32.0", "data.batch_size",
         "expected an integer >= 1, got the number 32.0"),
        ("batch_size: 32", "batch_size: '32'", "data.batch_size",
         "expected an integer >= 1, got the string '32'"),
        ("{epochs: 1}", "{epochs: 1, eval_train: yes please}", "training.eval_train",
         "expected true or false, got the string 'yes please'"),
        ("{epochs: 1}", "{epoch: 1}", "training.epoch",
         "unknown training key 'epoch'; did you mean 'epochs'?"),
        ("[scale, flatten]", "[scale, flaten]", "data.transforms[1]",
         "unknown transform 'flaten'; did you mean 'flatten'?"),
        ("[scale, flatten]", "[flatten, {normalize: {mean: 0.1, std: 0.3}}]",
         "data.transforms[1]", "'normalize' expects float pixels, but they are still uint8"),
        ("output: none}", "output: nones}", "model.output",
         "unknown output 'nones'; did you mean 'none'?"),
        ("sizes: [784, 16, 10]", "sizes: [780, 16, 10]", "model.sizes[0]",
         "the model takes 780 features, but the data gives examples of shape 784"),
        ("data: {", "data: {targets: pm1, ", "data.targets",
         "is 'pm1', but loss 'cross_entropy' needs targets: index"),
        ("training:", "trainig: {epochs: 1}\ntraining:", "trainig",
         "unknown top-level key 'trainig'; did you mean 'training'?"),
    ],
)
def test_errors_name_file_line_path_and_closest(
    tmp_path: Path, old: str, new: str, path: str, problem: str
) -> None:
    assert old in MINIMAL
    file = write(tmp_path, MINIMAL.replace(old, new, 1), "bad.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    err = info.value
    assert err.path == path
    assert problem in str(err), str(err)
    assert str(err).startswith(f"{file}:{err.line}: {path}: ")
    assert err.line is not None
    lines = file.read_text().splitlines()
    assert path.split(".")[-1].split("[")[0] in lines[err.line - 1] or "[" in path


def test_rpn_shape_errors(tmp_path: Path) -> None:
    def rpn(layers: str) -> str:
        return MINIMAL.replace("model: {type: mlp, sizes: [784, 16, 10], output: none}",
                               f"model: {{type: rpn, layers: {layers}}}")

    cases = [
        ("[{m: 784, n: 10, heads: [{expansion: taylor, reconciliation: {type: dual_lphn}}]}]",
         "model.layers[0].heads[0].reconciliation.type",
         "unknown reconciliation 'dual_lphn'; did you mean 'dual_lphm'"),
        ("[{m: 784, n: 10, heads: [{expansion: taylor, reconciliation: {type: hm, p: 3, "
         "q: 784}}]}]", "model.layers[0].heads[0].reconciliation",
         "hm cannot build W of shape n x D = 10 x 615440: p = 3 does not divide n = 10 (the "
         "number of outputs, n = p·s); valid values of p: 1, 2, 5, 10"),
        ("[{m: 784, n: 10, heads: [{expansion: identity}]}, {m: 12, n: 10, heads: "
         "[{expansion: identity}]}]", "model.layers[1].m",
         "the layer takes m=12 inputs but the layer before gives n=10 outputs"),
        ("[{n: 10, heads: [{expansion: identity}]}]", "model.layers[0].m",
         "the first layer needs m"),
        ("[{m: 784, n: 10, heads: [{expansion: identity, remainder: identity}]}]",
         "model.layers[0].heads[0].remainder", "needs m == n, got m=784, n=10"),
        ("[{m: 784, n: 10, heads: [{expansion: identity, n: 10}]}]",
         "model.layers[0].heads[0].n", "only for fusion: concatenate"),
        ("[{m: 784, n: 10, fusion: concatenate, heads: [{expansion: identity, n: 4}, "
         "{expansion: identity, n: 4}]}]", "model.layers[0].n",
         "is 10, but the concatenated heads give 4 + 4 = 8"),
        ("[{m: 784, n: 10, heads: [{expansion: taylor, postprocess: [layernorm]}]}]",
         "model.layers[0].heads[0].postprocess[0].type",
         "unknown postprocess 'layernorm'; did you mean 'layer_norm'"),
    ]
    for layers, path, problem in cases:
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, rpn(layers)))
        assert info.value.path == path, (layers, str(info.value))
        assert problem in str(info.value), str(info.value)


def test_yaml_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'optimizer' is written twice"):
        load_config(write(tmp_path, MINIMAL + "optimizer: {type: sgd, lr: 1.0}\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: {batch_size: 3\nmodel: x\n"))
    with pytest.raises(ConfigError, match="the config is empty"):
        load_config(write(tmp_path, "# nothing\n"))
    with pytest.raises(ConfigError, match="a config must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_a_config_is_found_by_name_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyrpn.config import PACKAGED_CONFIGS, config_names, find_config

    # every config of the repository ships inside the package (configs/ links there)
    assert config_names() == sorted(p.stem for p in ALL_CONFIGS)
    assert (ROOT / "configs").resolve() == PACKAGED_CONFIGS
    monkeypatch.chdir(tmp_path)
    exp = load_config("mlp_small", {"training.epochs": 1})
    assert (exp.name, exp.epochs) == ("mlp_small", 1)
    assert (Path.cwd() / exp.source).resolve() == PACKAGED_CONFIGS / "mlp_small.yaml"
    assert find_config("mlp_small.yaml") == PACKAGED_CONFIGS / "mlp_small.yaml"
    # a config of the same name in ./configs, then in ., comes first
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mlp_small.yaml").write_text(MINIMAL)
    assert find_config("mlp_small") == Path("configs/mlp_small.yaml")
    (tmp_path / "mlp_small.yml").write_text(MINIMAL)
    assert find_config("mlp_small") == Path("mlp_small.yml")
    # a folder of the same name (a run directory, `--out lecun1989`) does not hide a config
    (tmp_path / "lecun1989").mkdir()
    assert find_config("lecun1989") == PACKAGED_CONFIGS / "lecun1989.yaml"


def test_an_unknown_config_name_lists_the_folders_and_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text(MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config("mlp_smal")
    message = str(info.value)
    assert message.startswith("mlp_smal: no such config file, and no config named 'mlp_smal'; "
                              "did you mean 'mlp_small'?")
    assert "names available: lecun1989, " in message and "mine, mlp_madgrad" in message
    assert "folders searched: ./, ./configs/, " in message
    assert message.rstrip("/").endswith(str(Path("tinyrpn") / "configs"))
    # a path with a folder in it names one file: no search, but a close name is offered
    with pytest.raises(ConfigError, match=r"no such config file; did you mean "
                                          r"'configs/mine\.yaml'\?"):
        load_config("configs/mien.yaml")
    with pytest.raises(ConfigError, match="a folder, not a config file, and no config named"):
        load_config("configs")
    with pytest.raises(ConfigError, match="^configs/: this is a folder, not a config file$"):
        load_config("configs/")


def test_config_strings_are_never_imported_or_evaluated() -> None:
    # Names in a config are looked up in the registry only. A dotted "class name" is just
    # an unknown name:
    with pytest.raises(ConfigError, match="unknown model 'os.system'"):
        config_from_dict({**yaml.safe_load(MINIMAL), "model": {"type": "os.system"}})
    # ...and the config package contains no way to import or evaluate a string.
    for path in (ROOT / "tinyrpn" / "config").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
                name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                assert name not in {"eval", "exec", "__import__", "import_module", "load",
                                    "unsafe_load", "full_load"}, f"{path.name}: {name}()"


def test_device_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyrpn import backend

    monkeypatch.setattr(backend, "cuda_is_available", lambda: False)
    for device, said in (("mps", "'mps'"), ("cuda", "'cuda' is not available")):
        with pytest.warns(ConfigWarning, match=said) as record:
            exp = load_config(write(tmp_path, MINIMAL + f"device: {device}\n"))
        assert exp.device == exp.config["device"] == "cpu"
        assert str(tmp_path) in str(record[0].message) and "device" in str(record[0].message)
    monkeypatch.setattr(backend, "cuda_is_available", lambda: True)
    assert load_config(write(tmp_path, MINIMAL + "device: cuda\n")).device == "cuda"
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        load_config(write(tmp_path, MINIMAL + "device: gpu\n"))


def test_overrides(tmp_path: Path) -> None:
    file = write(tmp_path, MINIMAL)
    exp = load_config(file, {"training.epochs": 2, "seed": 3, "optimizer.lr": 0.01,
                             "model.sizes[1]": 32, "lookahead.k": 4})
    assert exp.epochs == 2 and exp.seed == 3 and exp.config["optimizer"]["lr"] == 0.01
    assert exp.config["model"]["sizes"] == [784, 32, 10]
    assert exp.config["lookahead"] == {"k": 4, "alpha": 0.5}
    with pytest.raises(ConfigError) as info:
        load_config(file, {"training.epoch": 2})
    assert "did you mean 'epochs'" in str(info.value) and "set by an override" in str(info.value)
    # an unknown section an override made up is the override's fault, not the file's
    with pytest.raises(ConfigError) as info:
        load_config(file, {"optimizr.lr": 0.1})
    assert "did you mean 'optimizer'" in str(info.value)
    assert "(the value at optimizr.lr was set by an override)" in str(info.value)
    with pytest.raises(ConfigError, match="index 5 is out of range"):
        load_config(file, {"model.sizes[5]": 3})
    # a shorthand name becomes a mapping when a key under it is overridden
    text = MINIMAL.replace("{type: adam}", "adam")
    assert load_config(write(tmp_path, text), {"optimizer.lr": 0.5}).config["optimizer"][
        "lr"] == 0.5
    assert parse_overrides(["training.epochs=2", "optimizer.betas=[0.8, 0.9]", "device=cuda",
                            "scheduler=null"]) == {
        "training.epochs": 2, "optimizer.betas": [0.8, 0.9], "device": "cuda",
        "scheduler": None}
    with pytest.raises(ConfigError, match="not of the form"):
        parse_overrides(["epochs"])


def test_named_steps_and_augment_shorthand(tmp_path: Path) -> None:
    text = MINIMAL.replace("transforms: [scale, flatten]",
                           "transforms: [scale, {normalize: {mean: 0.5, std: 0.25}}, flatten], "
                           "augment: {random_shift: 2}")
    data = load_config(write(tmp_path, text)).config["data"]
    assert data["transforms"] == ["scale", {"normalize": {"mean": 0.5, "std": 0.25}}, "flatten"]
    assert data["augment"] == [{"random_shift": {"max_shift": 2, "numpy_seed": None}}]
    bad = MINIMAL.replace("[scale, flatten]", "[scale, {normalize: 0.5}, flatten]")
    with pytest.raises(ConfigError, match=r"data\.transforms\[1\]\.normalize: transform "
                                          r"'normalize' takes keys \(mean, std\)"):
        load_config(write(tmp_path, bad))


def test_registry_names_match_the_builders() -> None:
    # every rpn part names the class that builds it (the `tinybig` entries build any tinyBIG
    # function by its class path, through build_function)
    for kind in ("expansion", "postprocess", "reconciliation", "remainder"):
        for name, entry in REGISTRIES[kind].entries.items():
            assert entry.cls is not None or name == "tinybig", f"{kind} {name!r} names no class"
    assert set(REGISTRIES["model"].names()) >= {"rpn", "mlp", "lecun1989", "lecun1989_modern",
                                                "subspace"}
    for kind in ("loss", "optimizer", "scheduler", "dataset", "transform", "augment", "model"):
        for name, entry in REGISTRIES[kind].entries.items():
            assert entry.build is not None, f"{kind} {name!r} has no builder"


def test_docs_name_every_key_and_name() -> None:
    from tinyrpn.config.models import _HEAD_FIELDS, _LAYER_FIELDS
    from tinyrpn.config.resolve import _DATA_FIELDS, _LOOKAHEAD_FIELDS, _TRAINING_FIELDS, TOP_LEVEL
    from tinyrpn.config.tinybig import CLASSES

    docs = (ROOT / "docs" / "CONFIG.md").read_text()
    missing = []
    for fields in (TOP_LEVEL, _DATA_FIELDS, _TRAINING_FIELDS, _LOOKAHEAD_FIELDS, _LAYER_FIELDS,
                   _HEAD_FIELDS):
        missing += [key for key in fields if f"`{key}`" not in docs]
    for kind, registry in REGISTRIES.items():
        for name, entry in registry.entries.items():
            if f"`{name}`" not in docs:
                missing.append(f"{kind} {name}")
            missing += [f"{kind} {name}: {key}" for key in entry.params if f"`{key}`" not in docs]
    for table in CLASSES.values():
        for cls in table:
            short = cls.rsplit(".", 1)[-1].replace("_reconciliation", "_")
            if cls not in docs and short not in docs:
                missing.append(cls)
    assert not missing, missing


def test_describe_names_layers_count_and_memory() -> None:
    text = load_quiet(CONFIGS / "rpn_taylor_identity.yaml").describe()
    assert "39,696,000 parameters" in text
    assert "layer 0: 784 -> 64" in text and "D = 615,440" in text
    # layer 0's expansion is multiplied as [1, x] ⊗ x, never stored
    assert ("largest: 12.9 MB, layer 0 head 0: expansion multiplied as [1, x] ⊗ x (never "
            "stored), partial sums 64 x 64 x 785") in text
    mem = load_quiet(CONFIGS / "rpn_taylor_identity.yaml").memory_estimate()
    assert mem["parameters"] == 39_696_000 * 4 and mem["optimizer_state"] == 2 * 39_696_000 * 4
    # dual-LPHM: layer 0's expansion is contracted as it is computed, never stored
    for name in ("rpn_taylor_dual_lphm", "rpn_taylor_dual_lphm_kron"):
        dual = load_quiet(CONFIGS / f"{name}.yaml")
        assert dual.memory_estimate()["activations"] < 8e6, name
        assert "largest: 1.1 MB, layer 1 head 0: expansion, 64 x 4,160" in dual.describe()
    sub = load_quiet(CONFIGS / "subspace_d1000.yaml").memory_estimate()
    assert sub["buffers"] >= 199_210 * 1000 * 4  # the dense projection P
    assert "199,210 x 1,000" in load_quiet(CONFIGS / "subspace_d1000.yaml").describe()


# --------------------------------------------------------------------------- builders


def _has_optim(*names: str) -> bool:
    try:
        from tinyrpn import optim
    except ImportError:
        return False
    return all(hasattr(optim, n) or hasattr(getattr(optim, "lr_scheduler", None), n)
               for n in names)


@pytest.mark.skipif(not _has_optim("AdamW", "Adam", "SGD", "MADGRAD", "Lookahead",
                                   "ExponentialLR", "MultiStepLR", "LinearLR"),
                    reason="tinyrpn.optim is not complete yet")
@pytest.mark.parametrize("name", ["mlp_small", "mlp_madgrad_lookahead", "lecun1989",
                                  "lecun1989_modern", "rpn_taylor_dual_lphm"])
def test_loss_optimizer_scheduler_builders(name: str) -> None:
    exp = load_quiet(CONFIGS / f"{name}.yaml")
    tinyrpn.manual_seed(exp.seed)
    model = exp.build_model()
    optimizer = exp.build_optimizer(model.parameters())
    scheduler = exp.build_scheduler(optimizer)
    lr = exp.config["optimizer"]["lr"]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr)
    if exp.config["lookahead"]:
        assert hasattr(optimizer, "slow_weights")
    if exp.config["scheduler"] is None:
        assert scheduler is None
    else:
        scheduler.step()
        gamma = {"exponential": 0.9, "multistep": 1.0,
                 "linear": 1 + (1 / 3 - 1) / 79}[exp.config["scheduler"]["type"]]
        assert optimizer.param_groups[0]["lr"] == pytest.approx(lr * gamma)
    loss = exp.build_loss()
    assert loss.reduction == "mean"


def test_subspace_model_builds() -> None:
    pytest.importorskip("tinyrpn.models.subspace")
    exp = load_quiet(CONFIGS / "subspace_d10.yaml")
    tinyrpn.manual_seed(0)
    model = exp.build_model()
    assert model.num_parameters() == 10
    assert (model.dim, model.projection_kind, model.offset) == (10, "qr", False)
    out = model(tinyrpn.rand(3, 784))
    assert out.shape == (3, 10)
    # theta = P omega starts at the base model's initial parameters
    tinyrpn.manual_seed(0)
    base = load_quiet(CONFIGS / "subspace_full.yaml").build_model()
    x = tinyrpn.rand(3, 784)
    np.testing.assert_allclose(model(x).data, base(x).data, rtol=1e-4, atol=1e-5)


@needs_mnist
def test_build_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST_ROOT))
    from tinyrpn.data import MNIST

    exp = load_quiet(CONFIGS / "rpn_taylor_identity.yaml")
    train, test = exp.build_data(limit_train=300, limit_test=130)
    assert len(train.images) == 300 and len(test.images) == 130
    assert train.batch_size == 64 and test.batch_size == 64 and len(test) == 3
    # the normalisation of tinyBIG's MNIST: x/255, (x - 0.1307)/0.3081, flattened
    raw = MNIST(train=False).images[:130].reshape(130, 784).astype(np.float32) / 255
    np.testing.assert_allclose(test.images, (raw - 0.1307) / 0.3081, rtol=1e-6, atol=1e-6)
    xb, yb = next(iter(test))
    assert xb.shape == (64, 784) and str(yb.dtype) == "int64"
    np.testing.assert_array_equal(yb.data, MNIST(train=False).labels[:64])
    # seeded shuffling: the same seed gives the same order, another seed another order
    first = next(iter(exp.build_data(limit_train=300, limit_test=10)[0]))[1].data
    again = next(iter(exp.build_data(limit_train=300, limit_test=10)[0]))[1].data
    np.testing.assert_array_equal(first, again)
    for change in ({"torch_seed": 1235}, {"torch_seed": None}):
        other = load_quiet(CONFIGS / "rpn_taylor_identity.yaml", change)
        assert not np.array_equal(first, next(iter(other.build_data(300, 10)[0]))[1].data)
    # torch_seed: 1234 orders the batches as tinyBIG's DataLoader, after the model's draws
    from tinyrpn.rpn import tinybig_torch_stream

    order = tinybig_torch_stream(1234, [64 * 615440, 64 * 4160, 10 * 4160]).data_loader_epoch(300)
    labels = MNIST(train=True).labels[:300]
    np.testing.assert_array_equal(first, labels[order[:64]])
    # with torch_seed, seed no longer changes the order
    same = load_quiet(CONFIGS / "rpn_taylor_identity.yaml", {"seed": 1})
    np.testing.assert_array_equal(first, next(iter(same.build_data(300, 10)[0]))[1].data)
    with pytest.raises(ValueError, match="limit_train must be a positive integer"):
        exp.build_data(limit_train=0)


@needs_mnist
def test_build_data_lecun_targets_and_augment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST_ROOT))
    old = load_quiet(CONFIGS / "lecun1989.yaml")
    train, test = old.build_data(limit_train=50, limit_test=20)
    assert train.images.shape == (50, 1, 16, 16) and train.labels.shape == (50, 10)
    assert set(np.unique(train.labels)) == {-1.0, 1.0} and not train.shuffle
    modern = load_quiet(CONFIGS / "lecun1989_modern.yaml")
    mtrain, mtest = modern.build_data(limit_train=50, limit_test=20)
    np.testing.assert_array_equal(mtrain.labels, np.argmax(train.labels, axis=1))
    np.testing.assert_array_equal(mtest.images, test.images)  # test data never augmented
    # the training images are shifted per batch (by -1, 0 or +1 pixel, wrapping)
    batches = [x.data for x, _ in mtrain]
    shifted = sum(not np.array_equal(b[0], mtrain.images[i]) for i, b in enumerate(batches))
    assert shifted > 25  # 8 of 9 shifts move the image
    for b, x in zip(batches, mtrain.images):
        assert any(np.array_equal(b[0], np.roll(x, (dy, dx), axis=(-2, -1)))
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_lecun1989_subset_draw_is_checked(tmp_path: Path) -> None:
    text = (CONFIGS / "lecun1989.yaml").read_text()
    assert "subset_draw: legacy_test_first}" in text
    text = text.replace("subset_draw: legacy_test_first}", "subset_draw: legacy_train}")
    with pytest.raises(ConfigError, match=r"data\.dataset\.subset_draw.*unknown subset draw "
                       r"'legacy_train'; did you mean 'legacy_train_first'"):
        load_quiet(write(tmp_path, text))
    text = text.replace("legacy_train}", "default_rng}")
    dataset = load_quiet(write(tmp_path, text)).config["data"]["dataset"]
    assert dataset["subset_draw"] == "default_rng"


def test_torch_seed_needs_an_rpn_without_augmentation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"torch_seed: replays a tinyBIG script's PyTorch "
                                          r"draws, so it needs model type rpn, not 'mlp'"):
        load_config(write(tmp_path, MINIMAL + "torch_seed: 1\n"))
    with pytest.raises(ConfigError, match=r"not 'lecun1989' \(the LeCun networks take "
                                          r"model.torch_seed"):
        load_quiet(CONFIGS / "lecun1989.yaml", {"torch_seed": 1})
    with pytest.raises(ConfigError, match=r"torch_seed: cannot be combined with data.augment"):
        load_quiet(CONFIGS / "rpn_taylor_dual_lphm.yaml",
                   {"data.augment": [{"random_shift": {"max_shift": 1}}]})


@needs_mnist
def test_dtype_float64_converts_weights_data_and_targets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TINYRPN_DATA", str(MNIST_ROOT))
    assert load_config(write(tmp_path, MINIMAL)).config["dtype"] == "float32"  # the default
    single = load_quiet(CONFIGS / "lecun1989.yaml", {"dtype": "float32"})
    double = load_quiet(CONFIGS / "lecun1989.yaml")
    assert double.config["dtype"] == "float64"
    m32, m64 = single.build_model(), double.build_model()
    for (name, p32), p64 in zip(m32.named_parameters(), m64.parameters()):
        assert str(p64.dtype) == "float64", name
        # the same draws (repro.py's, in float32), then widened exactly
        np.testing.assert_array_equal(p64.data, p32.data.astype(np.float64))
    train, test = double.build_data(limit_train=5, limit_test=5)
    xb, yb = next(iter(train))
    assert str(xb.dtype) == "float64" and str(yb.dtype) == "float64"  # pm1 targets too
    np.testing.assert_array_equal(test.images, single.build_data(5, 5)[1].images)
    # the augmented path: shifted per batch, then converted
    modern = load_quiet(CONFIGS / "lecun1989_modern.yaml", {"dtype": "float64"})
    xb, yb = next(iter(modern.build_data(limit_train=5, limit_test=5)[0]))
    assert str(xb.dtype) == "float64" and str(yb.dtype) == "int64"
    assert "float64" in double.describe()
    assert double.memory_estimate()["parameters"] == 2 * single.memory_estimate()["parameters"]
    with pytest.raises(ConfigError,
                       match=r"dtype: unknown dtype 'float16'(.|\n)*valid: float32, float64"):
        load_quiet(CONFIGS / "lecun1989.yaml", {"dtype": "float16"})


def test_a_saved_config_is_brought_up_to_the_current_defaults() -> None:
    from tinyrpn.config.experiment import with_current_defaults

    today = load_quiet(CONFIGS / "lecun1989_modern.yaml").config
    older = {k: v for k, v in today.items() if k != "dtype"}  # before dtype existed
    older["data"] = dict(today["data"], augment=[{"random_shift": {"max_shift": 1}}])
    upgraded = with_current_defaults(older)
    assert upgraded["dtype"] == "float32"  # every run was float32 then
    assert upgraded["data"]["augment"] == [{"random_shift": {"max_shift": 1, "numpy_seed": None}}]
    assert "dtype" not in older  # the checkpoint's copy is left alone
    assert with_current_defaults(today) == today  # a resolved config is a fixed point
    gone = dict(today, retired_key=1)  # a key the format no longer knows: left to the caller
    assert with_current_defaults(gone) is gone
