"""tinyrpn.nn layers, activations and losses: gradients with respect to inputs *and*
parameters, agreement with torch.nn modules, default initialisation, repr, modes."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck, nn


def arr(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def leaf(values: np.ndarray, device: str = "cpu") -> tinyrpn.Tensor:
    return tinyrpn.tensor(np.asarray(values, dtype=np.float64), requires_grad=True,
                          device=device)


def module_gradcheck(module: nn.Module, *inputs: tinyrpn.Tensor) -> bool:
    """gradcheck with respect to the inputs and every parameter of ``module``.

    gradcheck copies what it checks into fresh float64 tensors, so the parameters are
    passed as extra inputs and put into the module for each call.
    """
    module.double()
    names = [name for name, _ in module.named_parameters()]
    params = [p for _, p in module.named_parameters()]
    assert params, f"{type(module).__name__} has no parameters to check"

    def owner_of(name: str) -> tuple[nn.Module, str]:
        *path, attr = name.split(".")
        owner = module
        for part in path:
            owner = owner._modules[part]
        return owner, attr

    def fn(*args: tinyrpn.Tensor) -> tinyrpn.Tensor:
        xs, ps = args[:len(inputs)], args[len(inputs):]
        for name, p in zip(names, ps):
            owner, attr = owner_of(name)
            owner._parameters[attr] = p
        return module(*xs)

    return gradcheck(fn, *inputs, *params)


def copy_params_to_torch(ours: nn.Module, theirs) -> None:
    torch = pytest.importorskip("torch")
    state = {k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(4, 3), (5, 4)),
    (lambda: nn.Linear(4, 3, bias=False), (2, 2, 4)),
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 2, 5, 5)),
    (lambda: nn.Conv2d(4, 4, (2, 3), dilation=(2, 1), groups=2, bias=False), (1, 4, 6, 5)),
    (lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), (1, 2, 4, 4)),
    (lambda: nn.Conv2d(2, 2, 3, padding="same", padding_mode="circular"), (1, 2, 4, 4)),
    (lambda: nn.LayerNorm(5), (3, 5)),
    (lambda: nn.LayerNorm((2, 3)), (2, 2, 3)),
    (lambda: nn.BatchNorm1d(3), (6, 3)),
    (lambda: nn.BatchNorm1d(3).eval(), (6, 3)),
    (lambda: nn.BatchNorm1d(2, momentum=None), (4, 2, 3)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    (lambda: nn.Sequential(nn.Linear(4, 6), nn.Mish(), nn.BatchNorm1d(6), nn.Linear(6, 3),
                           nn.LogSoftmax(dim=1)), (5, 4)),
])
def test_module_gradcheck_inputs_and_parameters(make, shape, device):
    tinyrpn.manual_seed(0)
    module = make()
    with tinyrpn.no_grad():  # move affine parameters off their 1/0 start
        for p in module.parameters():
            p.add_(tinyrpn.tensor(arr(*p.shape, seed=p.numel()) * 0.3, dtype=p.dtype))
    module.to(device)
    assert module_gradcheck(module, leaf(arr(*shape, seed=1, scale=2.0), device))


@pytest.mark.parametrize("module", [
    nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Softplus(), nn.Softplus(beta=2, threshold=1),
    nn.Mish(), nn.Softmax(dim=1), nn.LogSoftmax(dim=0), nn.Flatten(), nn.Flatten(0, 1),
    nn.Identity(), nn.Dropout(0.0),
])
def test_parameter_free_modules_gradcheck(module, device):
    values = arr(3, 4, 2, seed=2, scale=2.0)
    assert gradcheck(module, leaf(values, device))


@pytest.mark.parametrize("loss", [
    nn.CrossEntropyLoss(), nn.CrossEntropyLoss(reduction="sum"),
    nn.CrossEntropyLoss(weight=tinyrpn.tensor([1.0, 2.0, 0.5]), reduction="none"),
    nn.NLLLoss(), nn.NLLLoss(ignore_index=1),
])
def test_classification_loss_modules_gradcheck(loss, device):
    loss = copy.deepcopy(loss).to(device)  # the parameter is shared by both devices' runs
    target = tinyrpn.tensor([0, 2, 1, 1], device=device)
    assert gradcheck(lambda x: loss(x, target), leaf(arr(4, 3, seed=3), device))


def test_mse_loss_module():
    loss = nn.MSELoss(reduction="sum")
    a, b = leaf(arr(3, 4)), leaf(arr(3, 4, seed=1))
    assert gradcheck(loss, a, b)
    assert loss(a, b).item() == pytest.approx(((arr(3, 4) - arr(3, 4, seed=1)) ** 2).sum())
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="avg")


# ----------------------------------------------------------------------------- vs torch


def _compare(ours: nn.Module, theirs, x: np.ndarray, rtol=1e-6, atol=1e-8,
             device: str = "cpu") -> None:
    torch = pytest.importorskip("torch")
    xt = leaf(x, device)
    xr = torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(xr)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    direction = arr(*ref.shape, seed=77)
    out.backward(tinyrpn.tensor(direction, device=device))
    ref.backward(torch.tensor(direction))
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=rtol, atol=atol)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(),
                                   rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("make_ours, make_theirs, shape", [
    (lambda: nn.Linear(7, 4), lambda t: t.nn.Linear(7, 4), (5, 7)),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
     lambda t: t.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 7, 7)),
    (lambda: nn.Conv2d(2, 3, (3, 2), padding=(1, 2), padding_mode="replicate", bias=False),
     lambda t: t.nn.Conv2d(2, 3, (3, 2), padding=(1, 2), padding_mode="replicate", bias=False),
     (2, 2, 5, 6)),
    (lambda: nn.LayerNorm((3, 4)), lambda t: t.nn.LayerNorm((3, 4)), (2, 3, 4)),
    (lambda: nn.LayerNorm(4, elementwise_affine=False),
     lambda t: t.nn.LayerNorm(4, elementwise_affine=False), (3, 4)),
])
def test_modules_match_torch(make_ours, make_theirs, shape, device):
    torch = pytest.importorskip("torch")
    ours = make_ours().double()
    theirs = make_theirs(torch).double()
    with tinyrpn.no_grad():
        for p in ours.parameters():
            p.add_(tinyrpn.tensor(arr(*p.shape, seed=p.numel()) * 0.3))
    copy_params_to_torch(ours, theirs)
    _compare(ours.to(device), theirs, arr(*shape, seed=4, scale=2.0), device=device)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm1d_matches_torch_over_several_steps(momentum, device):
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm1d(5, momentum=momentum).double()
    theirs = torch.nn.BatchNorm1d(5, momentum=momentum).double()
    with tinyrpn.no_grad():
        ours.weight.add_(tinyrpn.tensor(arr(5, seed=1)))
    copy_params_to_torch(ours, theirs)
    ours.to(device)
    for step in range(4):
        x = arr(16, 5, seed=10 + step, scale=1 + step) + step
        ours.zero_grad(), theirs.zero_grad()
        _compare(ours, theirs, x, device=device)
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), their_state[name].numpy(), rtol=1e-12,
                                   err_msg=name)
    assert ours.num_batches_tracked.item() == 4
    ours.eval(), theirs.eval()
    ours.zero_grad(), theirs.zero_grad()
    _compare(ours, theirs, arr(3, 5, seed=20), device=device)  # with the running statistics


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm2d(3, affine=False, track_running_stats=False).double().eval()
    theirs = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = leaf(arr(4, 3, 2, 2))
    np.testing.assert_allclose(ours(x).detach().numpy(),
                               theirs(torch.tensor(arr(4, 3, 2, 2))).numpy(), rtol=1e-10)


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 4), nn.BatchNorm1d(4),
                         nn.LayerNorm(4), nn.Dropout(), nn.Linear(4, 2, bias=False))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
                                 torch.nn.Linear(8, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.LayerNorm(4), torch.nn.Dropout(),
                                 torch.nn.Linear(4, 2, bias=False))
    assert set(ours.state_dict()) == set(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for name, value in ours.state_dict().items():
        assert value.shape == tuple(theirs.state_dict()[name].shape), name
    copy_params_to_torch(ours, theirs)  # and torch accepts our values under our names


# ----------------------------------------------------------------------------- init


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(784, 10), 784), (lambda: nn.Linear(30, 200), 30),
    (lambda: nn.Conv2d(1, 12, 5, stride=2), 25), (lambda: nn.Conv2d(8, 16, 3, groups=2), 36),
])
def test_default_init_bounds_match_torch(make, fan_in):
    """kaiming_uniform_(a=√5) for weights and U(±1/√fan_in) for biases, as PyTorch."""
    torch = pytest.importorskip("torch")
    tinyrpn.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    w, b = np.abs(layer.weight.detach().numpy()), np.abs(layer.bias.detach().numpy())
    assert w.max() <= bound and w.max() > 0.97 * bound
    assert b.max() <= bound
    assert layer.weight.detach().numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    # the same layer built by torch draws within the same bounds
    torch.manual_seed(0)
    if isinstance(layer, nn.Linear):
        ref = torch.nn.Linear(layer.in_features, layer.out_features)
    else:
        ref = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                              groups=layer.groups)
    ref_bound = max(ref.weight.abs().max().item(), ref.bias.abs().max().item())
    assert ref_bound <= bound + 1e-7
    assert w.max() == pytest.approx(ref.weight.abs().max().item(), rel=0.05)


def test_init_is_seeded_and_parameters_are_float32_leaves():
    tinyrpn.manual_seed(7)
    a = nn.Linear(20, 5)
    tinyrpn.manual_seed(7)
    b = nn.Linear(20, 5)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())
    for p in a.parameters():
        assert p.dtype == np.float32 and p.requires_grad and p.is_leaf
    assert nn.Linear(3, 2, dtype="float64").weight.dtype == np.float64


def test_layer_and_batch_norm_start_as_identity_affine():
    ln, bn = nn.LayerNorm(4), nn.BatchNorm1d(3)
    assert np.all(ln.weight.detach().numpy() == 1) and np.all(ln.bias.detach().numpy() == 0)
    assert np.all(bn.running_var.numpy() == 1) and np.all(bn.running_mean.numpy() == 0)
    assert bn.num_batches_tracked.dtype == np.int64
    assert nn.LayerNorm(4, elementwise_affine=False).num_parameters() == 0


def test_reference_mlp_parameter_count():
    """docs/EXPERIMENTS.md experiment 3: 1,937,010 parameters."""
    mlp = nn.Sequential(nn.Linear(784, 1500), nn.Mish(), nn.BatchNorm1d(1500),
                        nn.Linear(1500, 500), nn.Mish(), nn.BatchNorm1d(500),
                        nn.Linear(500, 10), nn.LogSoftmax(dim=1))
    assert mlp.num_parameters() == 1_937_010
    out = mlp(tinyrpn.randn(8, 784))
    assert out.shape == (8, 10)
    np.testing.assert_allclose(np.exp(out.detach().numpy()).sum(1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- repr, modes


def test_repr_reads_like_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (nn.Linear(784, 10), torch.nn.Linear(784, 10)),
        (nn.Linear(3, 2, bias=False), torch.nn.Linear(3, 2, bias=False)),
        (nn.Conv2d(1, 12, 5, stride=2), torch.nn.Conv2d(1, 12, 5, stride=2)),
        (nn.Conv2d(4, 8, 3, padding=1, dilation=2, groups=2, bias=False,
                   padding_mode="circular"),
         torch.nn.Conv2d(4, 8, 3, padding=1, dilation=2, groups=2, bias=False,
                         padding_mode="circular")),
        (nn.Conv2d(2, 2, 3, padding="same"), torch.nn.Conv2d(2, 2, 3, padding="same")),
        (nn.LayerNorm(64, elementwise_affine=False),
         torch.nn.LayerNorm(64, elementwise_affine=False)),
        (nn.BatchNorm1d(1500), torch.nn.BatchNorm1d(1500)),
        (nn.Dropout(0.25), torch.nn.Dropout(0.25)),
        (nn.Softplus(), torch.nn.Softplus()), (nn.Mish(), torch.nn.Mish()),
        (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)), (nn.Softmax(0), torch.nn.Softmax(0)),
        (nn.Flatten(), torch.nn.Flatten()), (nn.Identity(), torch.nn.Identity()),
        (nn.ReLU(), torch.nn.ReLU()), (nn.Tanh(), torch.nn.Tanh()),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    model = nn.Sequential(nn.Linear(784, 10), nn.LogSoftmax(dim=1))
    assert str(model) == ("Sequential(\n  (0): Linear(in_features=784, out_features=10, "
                          "bias=True)\n  (1): LogSoftmax(dim=1)\n)")


def test_dropout_module_train_and_eval(device):
    drop = nn.Dropout(0.5)
    x = tinyrpn.ones(50, 40, device=device)
    tinyrpn.manual_seed(11)
    a = drop(x).numpy()
    tinyrpn.manual_seed(11)
    np.testing.assert_array_equal(drop(x).numpy(), a)
    assert 0.4 < (a == 0).mean() < 0.6
    drop.eval()
    assert drop(x) is x
    model = nn.Sequential(nn.Linear(40, 40), nn.Dropout(0.9)).eval().to(device)
    np.testing.assert_array_equal(model(x).detach().numpy(), model(x).detach().numpy())


def test_module_errors():
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): input has 3 channels"):
        nn.BatchNorm1d(4)(tinyrpn.randn(5, 3))
    with pytest.raises(ValueError, match="expected 4-D"):
        nn.BatchNorm2d(3)(tinyrpn.randn(5, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(-0.1)
    with pytest.raises(TypeError, match="did you mean reduction='sum'"):
        nn.CrossEntropyLoss("sum")
    with pytest.raises(ValueError, match="input has 3 channels but weight expects 1"):
        nn.Conv2d(1, 12, 5)(tinyrpn.randn(1, 3, 16, 16))


def test_module_to_double_moves_buffers():
    bn = nn.BatchNorm1d(3).double()
    assert bn.running_mean.dtype == np.float64 and bn.weight.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    bn(tinyrpn.randn(4, 3, dtype="float64"))
    assert bn.running_mean.dtype == np.float64
