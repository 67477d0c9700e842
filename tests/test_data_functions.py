"""Function-fitting data (tinyrpn.data.functions), its configs, and training without accuracy.

The equations are checked against tinyBIG 0.1.1's own lists, evaluated as tinyBIG evaluates
them (sympy), in tests/data/tinybig_function_reference.json
(scripts/tinybig_function_reference.py); the points against PyTorch, drawn as tinyBIG's
loader draws them; a converted tinyBIG config against the first test loss of tinyBIG's log.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tinyrpn
from tinyrpn import nn, optim, rpn
from tinyrpn.config import ConfigError, config_from_dict
from tinyrpn.data import DataLoader
from tinyrpn.data.functions import FAMILIES, equation, evaluate, function_data
from tinyrpn.history import History
from tinyrpn.random import TorchCPUGenerator
from tinyrpn.train import Trainer

REFERENCE = Path(__file__).parent / "data" / "tinybig_function_reference.json"
T = "tinybig."


# -- the equations and the points ----------------------------------------------------------------


def test_equations_are_tinybigs_lists_and_compute_what_they_say():
    reference = json.loads(REFERENCE.read_text())
    assert set(reference) == set(FAMILIES)
    for family, entries in reference.items():
        assert len(entries) == len(FAMILIES[family]), family
        for index, entry in enumerate(entries):
            eq = equation(family, index)
            assert (eq.name, eq.output, eq.formula) == (
                entry["name"], entry["output"], entry["formula"])
            assert list(eq.variables) == [v[0] for v in entry["variables"]]
            assert list(eq.ranges) == [(v[1], v[2]) for v in entry["variables"]]
            # f in float64 at three points inside the box, as sympy evaluates tinyBIG's text
            got = np.array([eq.fn(*point) for point in entry["points"]], dtype=np.float64)
            np.testing.assert_allclose(got, entry["values"], rtol=1e-12, err_msg=eq.name)


def test_the_points_are_the_ones_tinybigs_loader_draws():
    torch = pytest.importorskip("torch")
    eq = equation("feynman", 4)  # nine variables, ranges [1, 2] and [3, 4]
    torch.manual_seed(4567)
    # tinyBIG's generate_data: each variable low + (high - low) * torch.rand(num), in order
    columns = [low + (high - low) * torch.rand(50) for low, high in eq.ranges]
    want_x = torch.stack(columns, dim=1).numpy()
    data = function_data("feynman", 4, num=50, seed=4567)
    x = np.concatenate([data.x_train, data.x_test])
    np.testing.assert_array_equal(x, want_x)
    assert x.dtype == np.float32 and data.y_train.shape == (25, 1)
    want_y = [eq.fn(*(float(v) for v in row)) for row in want_x]
    np.testing.assert_allclose(np.concatenate([data.y_train, data.y_test])[:, 0], want_y,
                               rtol=1e-6)


def test_split_seed_and_stream():
    a = function_data("elementary", 14, num=40, train_fraction=0.75, seed=3)
    assert a.x_train.shape == (30, 2) and a.x_test.shape == (10, 2)
    assert a.y_test.shape == (10, 1) and a.equation.formula == "arcsinh(x+y)"
    lo, hi = a.equation.ranges[0]
    assert lo <= a.x_train.min() and a.x_train.max() < hi
    np.testing.assert_allclose(a.y_train, np.arcsinh(a.x_train.sum(1, dtype=np.float64,
                                                                    keepdims=True)), rtol=1e-6)
    b = function_data("elementary", 14, num=40, train_fraction=0.75, seed=3)
    c = function_data("elementary", 14, num=40, train_fraction=0.75, seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    # a stream continues: its next numbers, not the seed's first ones
    stream = TorchCPUGenerator(3)
    stream.skip(7)
    d = function_data("elementary", 14, num=40, stream=stream)
    want = TorchCPUGenerator(3)
    want.skip(7)
    np.testing.assert_array_equal(d.x_train[:, 0], np.float32(0.5) * want.rand(20))


def test_errors_name_what_is_valid():
    with pytest.raises(ValueError, match="unknown function family 'elemental'.*elementary"):
        function_data("elemental", 0)
    with pytest.raises(ValueError, match=r"equation_index 17 is out of range.*0\.\.16"):
        function_data("composite", 17)
    with pytest.raises(ValueError, match="both must be at least 1"):
        function_data("elementary", 0, num=10, train_fraction=1.0)
    with pytest.raises(ValueError, match=r"E\.0 takes points of 2 variables.*\(5, 3\)"):
        evaluate(equation("elementary", 0), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"E\.4: f = ln\(x\+y\) is not finite"):
        function_data("elementary", 4, num=4, seed=0, stream=_ZeroStream())


class _ZeroStream(TorchCPUGenerator):
    """u = 0 everywhere: the corner of the box, where ln(x + y) = -inf."""

    def __init__(self) -> None:
        super().__init__(0)

    def rand(self, n: int) -> np.ndarray:
        return np.zeros(n, np.float32)


# -- configs -----------------------------------------------------------------------------------


def _native(**data):
    return {
        "seed": 5,
        "data": {"dataset": {"type": "elementary_function", "equation_index": 14, "num": 60},
                 "targets": "value", "batch_size": 10, **data},
        "model": {"type": "rpn", "layers": [
            {"m": 2, "n": 2, "heads": [{"expansion": {"type": "extended", "expansions": [
                "bspline", {"type": "taylor", "d": 2}]},
                "reconciliation": {"type": "lorr", "r": 1}, "remainder": "zero"}]},
            {"n": 1, "heads": [{"expansion": {"type": "nested", "expansions": [
                {"type": "bspline", "t": 10, "d": 4}, {"type": "taylor", "d": 2}]},
                "reconciliation": {"type": "lorr", "r": 1}, "remainder": "zero"}]}]},
        "loss": {"type": "mse"},
        "optimizer": {"type": "adamw", "lr": 3e-3},
        "training": {"epochs": 1}}


def test_native_config_nested_and_extended_expansions():
    exp = config_from_dict(_native())
    tinyrpn.manual_seed(0)
    model = exp.build_model()
    first, second = model.layers[0].heads[0], model.layers[1].heads[0]
    assert isinstance(first.expansion, rpn.ExtendedExpansion)
    assert isinstance(second.expansion, rpn.NestedExpansion)
    assert first.expansion.output_dim(2) == 2 * (5 + 3) + 2 + 4
    # nested: B-splines of 2 inputs give 28 features, then their Taylor degree 2: 28 + 28²
    assert second.expansion.output_dim(2) == 28 + 28 ** 2
    assert exp.num_parameters() == (2 + 22) + (1 + 812)
    x = tinyrpn.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 2)), dtype="float64")
    spline = rpn.BSplineExpansion(t=10, d=4)(x)
    np.testing.assert_allclose(second.expansion(x).numpy(), rpn.TaylorExpansion(2)(
        spline).numpy(), rtol=1e-12)
    train, test = exp.build_data()
    xb, yb = next(iter(train))
    assert xb.shape == (10, 2) and yb.shape == (10, 1) and yb.dtype == np.float32
    assert len(test.images) == 30


@pytest.mark.parametrize("change, message", [
    ({"targets": "index"}, "real-valued targets: set targets: value"),
    ({"dataset": {"type": "elementary_function", "equation_index": 20}},
     r"equation_index 20 is out of range"),
    ({"dataset": {"type": "feynman_function", "equation_index": 4}},
     "the model takes 2 features, but the data gives examples of shape 9"),
])
def test_native_config_errors(change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(_native(**change))


def test_loss_and_targets_must_agree():
    bad = _native()
    bad["loss"] = "cross_entropy"
    with pytest.raises(ConfigError, match="loss 'cross_entropy' needs targets: index"):
        config_from_dict(bad)
    bad = _native()
    bad["model"]["layers"][0]["heads"][0]["expansion"]["expansions"] = []
    with pytest.raises(ConfigError, match="expansions"):
        config_from_dict(bad)


def _tinybig_elementary(n_epochs=1):
    """tinyBIG 0.1.1's docs/notes/configs/elementary_configs.yaml, as parsed."""
    def layer(m, n):
        extended = {"expansion_function_configs": [
            {"expansion_class": T + "expansion.bspline_expansion",
             "expansion_parameters": {"name": "bspline_expansion"}},
            {"expansion_class": T + "expansion.taylor_expansion",
             "expansion_parameters": {"name": "taylor_expansion", "d": 2}}],
            "name": "extended_expansion"}
        return {"layer_class": T + "module.rpn_layer", "layer_parameters": {
            "name": "rpn_layer", "m": m, "n": n, "width": 1, "width_alloc": [1],
            "fusion_strategy": "average", "head_configs": [{
                "head_class": T + "module.rpn_head", "head_parameters": {
                    "l": None, "channel_num": 1,
                    "data_transformation_configs": {
                        "data_transformation_class": T + "expansion.extended_expansion",
                        "data_transformation_parameters": extended},
                    "parameter_fabrication_configs": {
                        "parameter_fabrication_class": T + "reconciliation.lorr_reconciliation",
                        "parameter_fabrication_parameters": {"name": "lorr", "r": 1}},
                    "remainder_configs": {
                        "remainder_class": T + "remainder.zero_remainder",
                        "remainder_parameters": {"name": "zero_remainder",
                                                 "require_parameters": False,
                                                 "enable_bias": False}}}}]}}
    return {"configurations": {
        "device": "cpu", "random_seed": 123,
        "data_configs": {"data_class": T + "data.elementary_function", "data_parameters": {
            "name": "elementary_function", "train_batch_size": 100, "test_batch_size": 100,
            "equation_index": 14}},
        "learner_configs": {"learner_class": T + "learner.backward_learner",
                            "learner_parameters": {
            "name": "error_backward_propagation", "n_epochs": n_epochs,
            "optimizer_configs": {"optimizer_class": "torch.optim.AdamW",
                                  "optimizer_parameters": {"lr": 3e-3, "weight_decay": 1e-4}},
            "lr_scheduler_configs": {
                "lr_scheduler_class": "torch.optim.lr_scheduler.ExponentialLR",
                "lr_scheduler_parameters": {"gamma": 0.999}},
            "loss_configs": {"loss_class": "torch.nn.MSELoss",
                             "loss_parameters": {"reduction": "mean"}}}},
        "model_configs": {"model_class": T + "model.rpn", "model_parameters": {
            "name": "reconciled_polynomial_network", "depth": 2, "depth_alloc": [1, 1],
            "layer_configs": [layer(2, 2), layer(2, 1)]}},
        "metric_configs": {"metric_class": T + "metric.mse",
                           "metric_parameters": {"name": "mse"}},
        "result_configs": {"result_class": T + "output.rpn_output",
                           "result_parameters": {"name": "rpn_output"}}}}


def test_tinybig_elementary_config_replays_tinybigs_first_epoch(tmp_path, capsys):
    exp = config_from_dict(_tinybig_elementary())
    c = exp.config
    assert c["torch_seed"] == 123 and c["data"]["targets"] == "value"
    assert c["data"]["dataset"] == {"type": "elementary_function", "equation_index": 14,
                                    "num": 2000, "train_fraction": 0.5, "seed": None}
    assert exp.num_parameters() == 47  # tinyBIG's log: "parameter num:  47"
    trainer = exp.trainer(tmp_path / "run", progress=False)
    history = trainer.fit()
    # tinyBIG 0.1.1's docs/notes/elementary_example.ipynb: "Epoch: 0, Test Loss:
    # 0.2524417042732239" (the same initial weights, points and batch order, float32)
    assert history.test_loss[0] == pytest.approx(0.2524417042732239, rel=1e-5)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["best_test_loss"] == history.test_loss[0] and results["best_epoch"] == 1
    assert results["final_test_acc"] is None and results["best_test_acc"] is None
    assert history.test_acc == [] and history.train_acc == []
    assert (tmp_path / "run" / "loss.png").is_file()
    assert not (tmp_path / "run" / "accuracy.png").exists()
    from tinyrpn import cli

    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path / "run")]) == 0  # the checkpoint, evaluated again
    out = capsys.readouterr().out
    assert f"test loss {history.test_loss[0]:.4g} (1000 examples)" in out and "accuracy" not in out


def test_tinybig_function_configs_other_data_still_fail_at_the_data_set():
    cfg = _tinybig_elementary()
    cfg["configurations"]["data_configs"]["data_class"] = T + "data.cifar10"
    with pytest.raises(ConfigError, match="data set 'tinybig.data.cifar10' is not available"):
        config_from_dict(cfg)
    cfg = _tinybig_elementary()
    cfg["configurations"]["data_configs"]["data_parameters"]["function_list"] = ["x"]
    with pytest.raises(ConfigError, match="unknown function data parameter key 'function_list'"):
        config_from_dict(cfg)


def test_linear_remainder_heads_start_from_tinybigs_draws():
    torch = pytest.importorskip("torch")
    model = rpn.RPN([rpn.RPNLayer(3, 2, [rpn.RPNHead(
        3, 2, rpn.TaylorExpansion(2), rpn.LorrReconciliation(2, 12, r=1),
        rpn.LinearRemainder(3, 2))]), rpn.RPNLayer(2, 1, [rpn.RPNHead(
            2, 1, rpn.TaylorExpansion(2), rpn.LorrReconciliation(1, 6, r=1),
            rpn.LinearRemainder(2, 1))])])
    rpn.init_like_tinybig(model, 4567)
    # tinyBIG: each head makes w = rand(1, l) then w' = rand(n, m); then, head by head,
    # xavier_uniform_(w), xavier_uniform_(w')
    torch.manual_seed(4567)
    made = [(torch.rand(1, 14), torch.rand(2, 3)), (torch.rand(1, 7), torch.rand(1, 2))]
    for w, w_prime in made:
        torch.nn.init.xavier_uniform_(w)
        torch.nn.init.xavier_uniform_(w_prime)
    for layer, (w, w_prime) in zip(model.layers, made):
        head = layer.heads[0]
        np.testing.assert_array_equal(head.reconciliation.w.detach().numpy().reshape(1, -1),
                                      w.numpy())
        np.testing.assert_array_equal(head.remainder.weight.detach().numpy(), w_prime.numpy())


# -- training without accuracy --------------------------------------------------------------------


def test_trainer_without_accuracy_records_losses_only(tmp_path, capsys):
    from tinyrpn.cli import run_report

    tinyrpn.manual_seed(0)
    data = function_data("elementary", 0, num=80, seed=1)
    model = nn.Linear(2, 1)
    train = DataLoader(data.x_train, data.y_train, batch_size=8, shuffle=True, seed=0)
    test = DataLoader(data.x_test, data.y_test, batch_size=8)
    trainer = Trainer(model, train, test, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
                      epochs=3, out_dir=tmp_path, progress=False, accuracy=False,
                      eval_train=True, eval_every_steps=4)
    history = trainer.fit()
    assert len(history.test_loss) == 3 and history.test_loss[-1] < history.test_loss[0]
    assert history.train_acc == history.test_acc == history.eval_train_acc == []
    assert history.test_acc_at_steps == [] and len(history.test_loss_at_steps) == 3 * 5 // 4
    assert History.load(tmp_path).best() == (None, pytest.approx(float("nan"), nan_ok=True))
    report = run_report(tmp_path)
    summary = report.split("—", 1)[1]  # (the run's name, the test's, says accuracy)
    assert "final test loss" in summary and "acc" not in summary
    assert report.count("\n| ") == 1 + 3  # the header and three epochs
    # f(x, y) = x + y is linear: a Linear layer fits it
    assert history.test_loss[-1] < 0.05
