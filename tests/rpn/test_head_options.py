"""What tinyBIG 0.1.1 heads do beyond y = W κ + π: a bias on the reconciled product
(``enable_bias``), BatchNorm as the head's output processing, and masking with a new mask
at every call (``fixed_mask: false``) — each with a float64 gradcheck, from tinyrpn's YAML
and from tinyBIG's config format."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck, nn, rpn
from tinyrpn.config import ConfigWarning, config_from_dict
from tinyrpn.config.tinybig import build_function

T = "tinybig."


def _x(N=6, m=3, seed=0):
    return tinyrpn.tensor(np.random.default_rng(seed).uniform(-1, 1, (N, m)), dtype="float64",
                          requires_grad=True)


def _head(**kw):
    tinyrpn.manual_seed(0)
    return rpn.RPNHead(3, 2, rpn.TaylorExpansion(2), rpn.LorrReconciliation(2, 12, r=2),
                       rpn.LinearRemainder(3, 2), **kw).to(dtype="float64")


# -- the bias ------------------------------------------------------------------------------------


def test_head_bias_adds_b_and_gradchecks():
    head = _head(bias=True)
    without = _head()
    assert head.num_parameters() == without.num_parameters() + 2
    bound = np.sqrt(6 / 3)
    assert np.all(np.abs(head.bias.detach().numpy()) <= bound)
    x = _x()
    b = head.bias.detach().numpy()
    head.bias.data[...] = 0  # with b = 0 it is the head without bias
    np.testing.assert_allclose(head(x).detach().numpy(), without(x).detach().numpy())
    head.bias.data[...] = b
    np.testing.assert_allclose(head(x).detach().numpy(), without(x).detach().numpy() + b)
    assert gradcheck(lambda x: head(x), x)
    head.zero_grad()
    head(x).sum().backward()
    np.testing.assert_allclose(head.bias.grad.numpy(), [6.0, 6.0])  # ∂Σy/∂b = N


def _tinybig_head(reconciliation=None, output=None, m=4, n=3):
    params = {"l": None, "channel_num": 1,
              "data_transformation_configs": {
                  "data_transformation_class": T + "expansion.taylor_expansion",
                  "data_transformation_parameters": {"d": 2}},
              "parameter_fabrication_configs": reconciliation or {
                  "parameter_fabrication_class": T + "reconciliation.lorr_reconciliation",
                  "parameter_fabrication_parameters": {"r": 1}},
              "remainder_configs": {"remainder_class": T + "remainder.zero_remainder",
                                    "remainder_parameters": {}}}
    if output is not None:
        params["output_process_function_configs"] = output
    return {"configurations": {
        "random_seed": 3,
        "data_configs": {"data_class": T + "data.mnist", "data_parameters": {
            "train_batch_size": 8, "test_batch_size": 8}},
        "learner_configs": {"learner_class": T + "learner.backward_learner",
                            "learner_parameters": {
            "n_epochs": 1, "optimizer_configs": {"optimizer_class": "torch.optim.AdamW",
                                                 "optimizer_parameters": {"lr": 1e-3}},
            "loss_configs": {"loss_class": "torch.nn.CrossEntropyLoss"}}},
        "model_configs": {"model_class": T + "model.rpn", "model_parameters": {
            "depth": 1, "layer_configs": [{"layer_class": T + "module.rpn_layer",
                                           "layer_parameters": {
                "m": 784, "n": 10, "head_configs": [{"head_class": T + "module.rpn_head",
                                                     "head_parameters": params}]}}]}}}}


def test_tinybig_enable_bias_gives_the_head_a_bias():
    for cls, extra in (("lorr_reconciliation", {"r": 1}),  # native
                       ("constant_eye_reconciliation", {"require_parameters": False})):  # bridged
        rec = {"parameter_fabrication_class": T + "reconciliation." + cls,
               "parameter_fabrication_parameters": {**extra, "enable_bias": True}}
        with pytest.warns(ConfigWarning, match="random_seed: seeds tinyrpn's own"):
            exp = config_from_dict(_tinybig_head(rec))
        head = exp.config["model"]["layers"][0]["heads"][0]
        assert head["bias"] is True and exp.config["torch_seed"] is None
        tinyrpn.manual_seed(0)
        model = exp.build_model()
        assert model.layers[0].heads[0].bias.shape == (10,)
        assert exp.num_parameters() == model.num_parameters()
    # build_function accepts it: the reconciliation's W is the same, the head holds b
    rec = build_function(T + "reconciliation.lorr_reconciliation", {"r": 1, "enable_bias": True},
                         n=2, D=4)
    w = tinyrpn.tensor(np.arange(6.0))
    np.testing.assert_allclose(rec.matrix(w).numpy(), np.outer([0, 1], [2, 3, 4, 5]))


def test_native_head_bias_key():
    cfg = {"data": {"dataset": "mnist", "transforms": ["scale", "flatten"], "batch_size": 8},
           "model": {"type": "rpn", "layers": [{"m": 784, "n": 10, "heads": [{
               "expansion": "identity", "reconciliation": {"type": "lorr", "r": 1},
               "bias": True}]}]},
           "optimizer": "adamw", "training": {"epochs": 1}}
    exp = config_from_dict(copy.deepcopy(cfg))
    assert exp.num_parameters() == 794 + 10
    tinyrpn.manual_seed(0)
    assert exp.build_model().num_parameters() == 804


# -- BatchNorm as output processing ----------------------------------------------------------------


def test_batch_norm_output_process_gradchecks_and_uses_batch_statistics_as_tinybig():
    head = _head(output_process=[nn.BatchNorm1d(2, affine=False, track_running_stats=False)])
    x = _x()
    assert gradcheck(lambda x: head(x), x)
    y = head(x).detach().numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), 1 / (1 + 1e-5 / _head()(x).detach().numpy().var(0)))
    head.eval()  # tinyBIG never switches its steps to eval: batch statistics still
    np.testing.assert_allclose(head(x).detach().numpy(), y)


def test_tinybig_batch_norm_output_process_loads():
    torch = pytest.importorskip("torch")
    output = [{"function_class": "torch.nn.BatchNorm1d",
               "function_parameters": {"num_features": 10, "eps": 1e-3}}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        exp = config_from_dict(_tinybig_head(output=output))
    head_cfg = exp.config["model"]["layers"][0]["heads"][0]
    assert head_cfg["output_process"] == [{"type": "batch_norm", "eps": 1e-3, "momentum": 0.1,
                                           "affine": False, "track_running_stats": False}]
    tinyrpn.manual_seed(0)
    model = exp.build_model()
    assert model.num_parameters() == exp.num_parameters() == 1 * (10 + 784 + 784 ** 2)
    model.eval()
    x = np.random.default_rng(1).uniform(-1, 1, (5, 784)).astype(np.float32)
    head = model.layers[0].heads[0]
    raw = head.reconciliation.forward_expanded(tinyrpn.tensor(x), head.expansion)
    # what tinyBIG runs: a fresh torch BatchNorm1d, in training mode, weight 1 and bias 0
    want = torch.nn.BatchNorm1d(10, eps=1e-3)(torch.tensor(raw.detach().numpy()))
    np.testing.assert_allclose(model(tinyrpn.tensor(x)).detach().numpy(),
                               want.detach().numpy(), rtol=1e-4, atol=1e-4)


def test_native_batch_norm_output_process():
    cfg = {"data": {"dataset": "mnist", "transforms": ["scale", "flatten"], "batch_size": 8},
           "model": {"type": "rpn", "layers": [{"m": 784, "n": 10, "heads": [{
               "expansion": "identity", "reconciliation": {"type": "lorr", "r": 1},
               "output_process": ["batch_norm"]}]}]},
           "optimizer": "adamw", "training": {"epochs": 1}}
    exp = config_from_dict(cfg)
    assert exp.num_parameters() == 794 + 2 * 10  # affine by default, as torch
    tinyrpn.manual_seed(0)
    step = exp.build_model().layers[0].heads[0].output_process[0]
    assert isinstance(step, nn.BatchNorm1d) and step.track_running_stats


# -- masking with a new mask at every call ---------------------------------------------------


def test_masking_without_fixed_mask_draws_a_new_mask_each_call():
    tinyrpn.manual_seed(1)
    rec = rpn.MaskingReconciliation(30, 40, p=0.25, fixed_mask=False)
    w = tinyrpn.tensor(np.ones(30 * 40))
    masks = [rec.matrix(w).numpy() for _ in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    assert abs(np.mean(masks) - 0.25) < 0.02  # kept with probability p, not rescaled
    assert set(np.unique(masks)) <= {0.0, 1.0}
    fixed = rpn.MaskingReconciliation(30, 40, p=0.25)
    assert np.array_equal(fixed.matrix(w).numpy(), fixed.matrix(w).numpy())
    with pytest.raises(ValueError, match="a given mask is fixed"):
        rpn.MaskingReconciliation(2, 2, mask=np.ones((2, 2)), fixed_mask=False)


def test_masking_without_fixed_mask_gradcheck():
    rec = rpn.MaskingReconciliation(3, 4, p=0.5, fixed_mask=False)
    z = tinyrpn.tensor(np.random.default_rng(2).normal(size=(5, 4)), requires_grad=True)
    w = tinyrpn.tensor(np.random.default_rng(3).normal(size=12), requires_grad=True)

    def same_mask(fn):  # the same draw at every call: the gradient for that mask
        def call(*args):
            tinyrpn.manual_seed(7)
            return fn(*args)
        return call

    assert gradcheck(same_mask(lambda z, w: rec(z, w)), z, w)
    assert gradcheck(same_mask(lambda w: rec.matrix(w)), w)
    tinyrpn.manual_seed(7)
    y = rec(z, w)
    tinyrpn.manual_seed(7)
    np.testing.assert_allclose(y.detach().numpy(), z.detach().numpy() @ rec.matrix(
        w).detach().numpy().T)


def test_masking_fixed_mask_false_from_yaml_and_tinybig():
    rec = build_function(T + "reconciliation.masking_reconciliation",
                         {"p": 0.3, "fixed_mask": False}, n=4, D=5)
    assert not rec.fixed_mask and rec.l == 20
    native = {"data": {"dataset": "mnist", "transforms": ["scale", "flatten"], "batch_size": 8},
              "model": {"type": "rpn", "layers": [{"m": 784, "n": 10, "heads": [{
                  "expansion": "identity",
                  "reconciliation": {"type": "masking", "p": 0.3, "fixed_mask": False}}]}]},
              "optimizer": "adamw", "training": {"epochs": 1}}
    tinyrpn.manual_seed(0)
    head = config_from_dict(native).build_model().layers[0].heads[0]
    assert not head.reconciliation.fixed_mask
    tb = {"parameter_fabrication_class": T + "reconciliation.masking_reconciliation",
          "parameter_fabrication_parameters": {"p": 0.3, "fixed_mask": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        exp = config_from_dict(_tinybig_head(tb))
    tinyrpn.manual_seed(0)
    assert not exp.build_model().layers[0].heads[0].reconciliation.fixed_mask
