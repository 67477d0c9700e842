"""tinyBIG-format configs whose components have no native tinyrpn name: they load through
``build_function`` (``{type: tinybig, class, parameters}``), and so does tinyrpn's YAML."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import tinyrpn
from tinyrpn import rpn
from tinyrpn.config import REGISTRIES, ConfigError, ConfigWarning, config_from_dict
from tinyrpn.config.tinybig import build_function

T = "tinybig."


def _head(expansion, reconciliation, remainder):
    return {"head_class": T + "module.rpn_head", "head_parameters": {
        "l": None, "channel_num": 1,
        "data_transformation_configs": {"data_transformation_class": expansion[0],
                                        "data_transformation_parameters": expansion[1]},
        "parameter_fabrication_configs": {"parameter_fabrication_class": reconciliation[0],
                                          "parameter_fabrication_parameters": reconciliation[1]},
        "remainder_configs": {"remainder_class": remainder[0],
                              "remainder_parameters": remainder[1]}}}


# a two-layer function-fitting model written the way tinyBIG's example configs are
SPLINE_TAYLOR = (T + "expansion.extended_expansion", {"expansion_function_configs": [
    {"expansion_class": T + "expansion.bspline_expansion", "expansion_parameters": {"t": 4}},
    {"expansion_class": T + "expansion.taylor_expansion", "expansion_parameters": {"d": 2}}]})
LORR = (T + "reconciliation.lorr_reconciliation", {"r": 1})
SILU = (T + "remainder.linear_remainder", {"require_parameters": True,
                                          "activation_functions": "torch.nn.functional.silu"})


def _config(data_class, m=2):
    layers = [{"layer_class": T + "module.rpn_layer", "layer_parameters": {
        "m": mm, "n": n, "width": 1, "fusion_strategy": "average",
        "head_configs": [_head(SPLINE_TAYLOR, LORR, SILU)]}} for mm, n in ((m, 2), (2, 1))]
    return {"configurations": {
        "random_seed": 123,
        "data_configs": {"data_class": data_class, "data_parameters": {
            "train_batch_size": 100, "test_batch_size": 100}},
        "learner_configs": {"learner_class": T + "learner.backward_learner",
                            "learner_parameters": {
            "n_epochs": 2, "optimizer_configs": {"optimizer_class": "torch.optim.AdamW",
                                                 "optimizer_parameters": {"lr": 3e-3}},
            "loss_configs": {"loss_class": "torch.nn.CrossEntropyLoss"}}},
        "model_configs": {"model_class": T + "model.rpn", "model_parameters": {
            "depth": 2, "layer_configs": layers}},
        "metric_configs": {"metric_class": T + "metric.mse", "metric_parameters": {}}}}


def test_data_sets_tinyrpn_lacks_fail_at_the_data_set_alone():
    with pytest.raises(ConfigError, match="data set 'tinybig.data.cifar10' is not "
                       "available in tinyrpn.*the rest of this config converts"):
        config_from_dict(_config(T + "data.cifar10"))


def test_function_data_sets_load_and_replay_tinybigs_start():
    cfg = _config(T + "data.elementary_function")
    with pytest.raises(ConfigError, match="loss 'cross_entropy' needs targets: index"):
        config_from_dict(copy.deepcopy(cfg))  # the function data sets are regressions
    learner = cfg["configurations"]["learner_configs"]["learner_parameters"]
    learner["loss_configs"] = {"loss_class": "torch.nn.MSELoss"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a linear remainder without bias replays: no warning
        exp = config_from_dict(cfg)
    assert exp.config["torch_seed"] == 123
    assert exp.config["data"]["dataset"]["type"] == "elementary_function"
    head = exp.build_model().layers[0].heads[0]
    assert [name for name, _ in head.named_parameters()] == ["reconciliation.w",
                                                             "remainder.weight"]
    with_bias = copy.deepcopy(cfg)
    for layer in with_bias["configurations"]["model_configs"]["model_parameters"][
            "layer_configs"]:
        layer["layer_parameters"]["head_configs"][0]["head_parameters"]["remainder_configs"][
            "remainder_parameters"]["enable_bias"] = True
    with pytest.warns(ConfigWarning, match="replayed .* without bias"):
        assert config_from_dict(with_bias).config["torch_seed"] is None


def test_components_without_native_names_build_through_build_function():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = config_from_dict(_config(T + "data.mnist", m=784))
    model = exp.build_model()
    head = model.layers[0].heads[0]
    assert isinstance(head.expansion, rpn.ExtendedExpansion)
    assert head.expansion.output_dim(784) == 784 * (4 + 3) + 784 + 784 ** 2
    assert isinstance(head.reconciliation, rpn.LorrReconciliation)
    assert isinstance(head.remainder, rpn.LinearRemainder) and len(head.remainder.activation)
    # the second layer: m = 2, D = 2·7 + 2 + 4 = 20, lorr r = 1: l = 1·(1 + 20)
    second = model.layers[1].heads[0]
    assert second.reconciliation.l == 21
    x = tinyrpn.tensor(np.random.default_rng(0).uniform(-1, 1, (3, 2)), dtype="float32")
    want = (second.expansion(x).detach().numpy()
            @ second.reconciliation.matrix().detach().numpy().T
            + build_function(SILU[0], SILU[1], m=2, n=1)(
                x, w=second.remainder.weight).detach().numpy())
    np.testing.assert_allclose(second(x).detach().numpy(), want, rtol=1e-5, atol=1e-6)



def test_tinyrpn_yaml_tinybig_entry():
    base = {"model": {"type": "rpn", "layers": [{"m": 784, "n": 10, "heads": [{
        "expansion": {"type": "tinybig", "class": T + "expansion.naive_normal_expansion"},
        "reconciliation": {"type": "tinybig", "class": T + "reconciliation.lorr_reconciliation",
                           "parameters": {"r": 3}},
        "remainder": {"type": "tinybig", "class": T + "remainder.linear_remainder",
                      "parameters": {"activation_functions": "silu"}}}]}]},
        "data": {"dataset": "mnist", "transforms": ["scale", "flatten"], "batch_size": 64},
        "loss": "cross_entropy",
        "optimizer": {"type": "adamw", "lr": 1e-3}, "training": {"epochs": 1}}
    exp = config_from_dict(copy.deepcopy(base))
    head = exp.build_model().layers[0].heads[0]
    assert isinstance(head.expansion, rpn.NaiveNormalExpansion)
    assert head.reconciliation.l == 3 * (10 + 784)
    assert exp.num_parameters() == 3 * (10 + 784) + 10 * 784
    bad = copy.deepcopy(base)
    bad["model"]["layers"][0]["heads"][0]["expansion"]["parameters"] = {"d": 2}
    with pytest.raises(ConfigError, match=r"expansion\.parameters.*unknown parameter"):
        config_from_dict(bad)
    bad = copy.deepcopy(base)
    bad["model"]["layers"][0]["heads"][0]["reconciliation"] = {
        "type": "tinybig", "class": T + "reconciliation.hm_reconciliation", "parameters": {"p": 3}}
    with pytest.raises(ConfigError, match="p = 3 does not divide n = 10"):
        config_from_dict(bad)


def test_head_channels_output_process_and_linear_fusion():
    tinyrpn.manual_seed(0)
    m, n = 3, 2
    exp = rpn.ChebyshevExpansion(2)
    recs = [rpn.LorrReconciliation(n, 6, r=1) for _ in range(3)]
    head = rpn.RPNHead(m, n, exp, recs, rpn.LinearRemainder(m, n), output_process="tanh")
    assert head.channels == 3 and head.num_parameters() == 3 * 8 + 6
    x = tinyrpn.tensor(np.random.default_rng(1).uniform(-1, 1, (4, m)), dtype="float32")
    W = sum(r.matrix().detach().numpy() for r in recs) / 3
    weight = head.remainder.weight.detach().numpy()
    want = np.tanh(exp(x).detach().numpy() @ W.T + x.numpy() @ weight.T)
    np.testing.assert_allclose(head(x).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    layer = rpn.RPNLayer(m, n, [head, rpn.RPNHead(m, n, exp, rpn.IdentityReconciliation(n, 6))],
                         fusion="linear")
    assert layer.fusion_weight.shape == (n, 2 * n)
    y = layer(x).detach().numpy()
    joined = np.concatenate([h(x).detach().numpy() for h in layer.heads], 1)
    np.testing.assert_allclose(y, joined @ layer.fusion_weight.detach().numpy().T, rtol=1e-5,
                               atol=1e-6)
    xd = tinyrpn.tensor(x.numpy(), dtype="float64", requires_grad=True)
    layer64 = layer.to(dtype="float64") if hasattr(layer, "to") else layer
    assert tinyrpn.gradcheck(lambda v: layer64(v), xd)


def test_tinybig_channel_num_and_output_process_convert():
    cfg = _config(T + "data.mnist", m=784)
    head = cfg["configurations"]["model_configs"]["model_parameters"]["layer_configs"][1][
        "layer_parameters"]["head_configs"][0]["head_parameters"]
    head["channel_num"] = 2
    head["output_process_function_configs"] = [{"function_class": "torch.nn.Sigmoid"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = config_from_dict(cfg)
    second = exp.build_model().layers[1].heads[0]
    assert second.channels == 2 and len(second.output_process) == 1
    # lorr r = 1 for n = 1, D = 20 twice, and the linear remainder's 2 weights
    assert second.num_parameters() == 2 * 21 + 2
    head["output_process_function_configs"] = [{"function_class": "torch.nn.Softmax"}]
    with pytest.raises(ConfigError, match="'torch.nn.Softmax' is not an output processing "
                                          "tinyrpn converts"):
        config_from_dict(cfg)  # (BatchNorm1d converts: tests/rpn/test_head_options.py)


def _tiny(expansion="identity", reconciliation="identity", remainder="zero", m=4, n=2):
    return {"model": {"type": "rpn", "layers": [{"m": m, "n": n, "heads": [{
        "expansion": expansion, "reconciliation": reconciliation, "remainder": remainder}]}]},
        "data": {"dataset": "mnist", "transforms": ["scale", "flatten"], "batch_size": 8},
        "loss": "cross_entropy", "optimizer": "adam", "training": {"epochs": 1}}


def _forward_and_count(cfg, m=4):
    exp = config_from_dict(cfg)
    tinyrpn.manual_seed(0)
    model = exp.build_model()
    x = np.random.default_rng(0).uniform(-0.9, 0.9, (3, m))
    y = model(tinyrpn.tensor(x, dtype="float32"))  # the model's dtype
    assert y.shape == (3, 2)
    assert exp.num_parameters() == sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model.layers[0].heads[0]


# the expansions named after tinyBIG's (the first five have tests of their own)
@pytest.mark.parametrize("name", sorted(set(REGISTRIES["expansion"].names()) - {
    "identity", "taylor", "chebyshev", "gaussian_rbf", "bspline", "tinybig"}))
def test_every_native_expansion_name_builds(name):
    spec = {"type": name}
    if name in ("nested", "extended"):  # expansions made of expansions
        spec["expansions"] = ["identity", {"type": "chebyshev", "d": 2}]
    head = _forward_and_count(_tiny(expansion=spec, m=784), m=784)
    assert isinstance(head.expansion, REGISTRIES["expansion"][name].cls)


@pytest.mark.parametrize("reconciliation, remainder", [
    ({"type": "constant", "c": 0.5}, {"type": "constant", "c": 2.0, "activation": ["tanh"]}),
    ("zero", "one"), ("one", "zero"), ("constant_eye", "identity"),
    ({"type": "masking", "p": 0.3}, {"type": "linear", "activation": ["silu", "gelu"]}),
    ({"type": "duplicated_padding", "p": 2, "q": 4, "layout": "tinybig"},
     {"type": "bspline", "t": 3, "d": 2, "bias": True}),
    ({"type": "hypernet", "l": 5, "hidden_dim": 3}, "zero"),
])
def test_native_reconciliations_and_remainders_build(reconciliation, remainder):
    cfg = _tiny(reconciliation=reconciliation, remainder=remainder, m=784)
    if remainder == "identity":  # pi(x) = x needs m == n
        with pytest.raises(ConfigError, match="needs m == n"):
            config_from_dict(cfg)
        return
    _forward_and_count(cfg, m=784)
