"""The reference models: parameter counts, shapes, initialisation, gradients."""

import sys
from pathlib import Path

import numpy as np
import pytest

import tinyrpn
from tinyrpn import nn
from tinyrpn.models import MLP, LeCun1989, madgrad_mlp, subspace_mlp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _torch_twins import torch_lecun1989  # noqa: E402  (PyTorch transcriptions, the oracle)
from torch_oracle import skip_unless_mt19937_bernoulli  # noqa: E402


def test_madgrad_mlp_matches_reference_architecture():
    model = madgrad_mlp()
    assert model.num_parameters() == 1_937_010
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "Mish", "BatchNorm1d", "Linear", "Mish", "BatchNorm1d",
                     "Linear", "LogSoftmax"]


def test_mish_init_draws_standard_normal_scaled_by_fan_in():
    tinyrpn.manual_seed(0)
    first = madgrad_mlp().linears()[0]
    w, b = first.weight.numpy(), first.bias.numpy()
    # W ~ N(0, 1/784): std 0.0357; b ~ N(0, 1). 1.2M and 1500 samples pin these well.
    assert abs(w.std() - 1 / 784**0.5) < 0.002
    assert abs(w.mean()) < 0.001
    assert abs(b.std() - 1.0) < 0.1


def test_subspace_mlp_matches_reference():
    tinyrpn.manual_seed(0)
    model = subspace_mlp()
    assert model.num_parameters() == 199_210
    stds = [lin.weight.numpy().std() for lin in model.linears()]
    np.testing.assert_allclose(stds, [0.001, 0.001, 0.01], rtol=0.05)
    assert all(np.all(lin.bias.numpy() == 0) for lin in model.linears())


def test_mlp_output_is_log_probabilities():
    model = MLP([6, 5, 3])
    out = model(tinyrpn.randn(4, 6))
    assert out.shape == (4, 3)
    np.testing.assert_allclose(np.exp(out.numpy()).sum(axis=1), 1.0, rtol=1e-5)


def test_mlp_flattens_images_and_names_wrong_width():
    model = MLP([784, 10])
    assert model(tinyrpn.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="784 features"):
        model(tinyrpn.randn(2, 100))


@pytest.mark.parametrize("bad", [dict(sizes=[5]), dict(sizes=[5, 3], activation="gelu"),
                                 dict(sizes=[5, 3], init="orthogonal")])
def test_mlp_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="MLP"):
        MLP(**bad)


def test_mlp_gradients_check_in_float64():
    tinyrpn.manual_seed(1)
    model = MLP([5, 4, 3], activation="mish", batchnorm=True).double()
    x = tinyrpn.randn(6, 5, dtype="float64")
    for p in model.parameters():
        assert tinyrpn.gradcheck(lambda w, p=p: _with_param(model, p, w)(x).sum(), p.detach()
                                 .requires_grad_(True))


def _with_param(model: nn.Module, param, value):
    """The model with ``param``'s values replaced by ``value`` (a tensor in the graph)."""
    for module in model.modules():
        for name, p in module._parameters.items():
            if p is param:
                def run(x, module=module, name=name):
                    module._parameters[name] = value
                    try:
                        return model(x)
                    finally:
                        module._parameters[name] = param
                return run
    raise KeyError("parameter not in model")


def test_lecun1989_has_9760_parameters_in_the_published_groups():
    model = LeCun1989()
    sizes = {name: p.numel() for name, p in model.named_parameters()}
    assert sizes["H1w"] + sizes["H1b"] == 1_068
    assert sizes["H2w"] + sizes["H2b"] == 2_592
    assert sizes["H3w"] + sizes["H3b"] == 5_790
    assert sizes["outw"] + sizes["outb"] == 310
    assert model.num_parameters() == 9_760


def test_lecun1989_init_bounds_and_output_bias():
    tinyrpn.manual_seed(0)
    model = LeCun1989()
    for name, fan_in in (("H1w", 25), ("H2w", 200), ("H3w", 192), ("outw", 30)):
        w = getattr(model, name).numpy()
        bound = 2.4 / fan_in**0.5
        assert w.min() >= -bound and w.max() <= bound
        assert w.max() > 0.8 * bound  # drawn over the whole range, not a narrower one
    assert np.all(model.outb.numpy() == -1.0)
    assert np.all(model.H1b.numpy() == 0.0)


def test_lecun1989_matches_a_direct_transcription_of_the_paper_network():
    """The grouped H2 convolution equals three convolutions on the published H1 slices."""
    import tinyrpn.nn.functional as F

    tinyrpn.manual_seed(0)
    model = LeCun1989()
    with tinyrpn.no_grad():
        for p in (model.H1b, model.H2b, model.H3b):  # non-zero biases, so they are tested
            p.copy_(tinyrpn.randn(*p.shape) * 0.1)
    x = tinyrpn.rand(2, 1, 16, 16) * 2 - 1

    h1 = (F.conv2d(F.pad(x, (2, 2, 2, 2), value=-1.0), model.H1w, stride=2) + model.H1b).tanh()
    h1 = F.pad(h1, (2, 2, 2, 2), value=-1.0)
    slices = [h1[:, 0:8], h1[:, 4:12], tinyrpn.cat([h1[:, 0:4], h1[:, 8:12]], dim=1)]
    h2 = tinyrpn.cat([F.conv2d(s, model.H2w[4 * g:4 * g + 4], stride=2)
                      for g, s in enumerate(slices)], dim=1)
    h2 = (h2 + model.H2b).tanh().flatten(1)
    h3 = (h2 @ model.H3w + model.H3b).tanh()
    expected = (h3 @ model.outw + model.outb).tanh()

    np.testing.assert_allclose(model(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("modern", [False, True])
def test_lecun1989_trains_like_a_pytorch_transcription(modern):
    """Batch-1 training steps (SGD + MSE for 1989, AdamW + cross-entropy for the modern
    version, dropout off) move every weight as PyTorch moves the same network."""
    torch = pytest.importorskip("torch")
    import tinyrpn.nn.functional as F
    from tinyrpn import optim

    tinyrpn.manual_seed(3)
    model = LeCun1989(modern=modern, dropout=0.0).double()
    params, forward = torch_lecun1989(torch, model)
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, size=(40, 1, 1, 16, 16))
    labels = rng.integers(0, 10, size=40)
    if modern:
        ours = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        theirs = torch.optim.AdamW(params.values(), lr=3e-3, weight_decay=0.01)
    else:
        ours = optim.SGD(model.parameters(), lr=0.03)
        theirs = torch.optim.SGD(params.values(), lr=0.03)
    for x, label in zip(xs, labels):
        target = -np.ones((1, 10))
        target[0, label] = 1.0
        out = model(tinyrpn.tensor(x))
        ref = forward(torch.from_numpy(x))
        if modern:
            loss = F.cross_entropy(out, tinyrpn.tensor(np.array([label])))
            ref_loss = torch.nn.functional.cross_entropy(ref, torch.tensor([int(label)]))
        else:
            loss = F.mse_loss(out, tinyrpn.tensor(target))
            ref_loss = torch.mean((torch.from_numpy(target) - ref) ** 2)
        ours.zero_grad()
        loss.backward()
        ours.step()
        theirs.zero_grad()
        ref_loss.backward()
        theirs.step()
        assert abs(loss.item() - ref_loss.item()) < 1e-9
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.numpy(), params[name].detach().numpy(), rtol=1e-7,
                                   atol=1e-10, err_msg=name)


def test_lecun1989_torch_seed_weights_are_fixed_and_in_range():
    a, b = LeCun1989(torch_seed=1337), LeCun1989(torch_seed=1337)
    for name, fan_in in (("H1w", 25), ("H2w", 200), ("H3w", 192), ("outw", 30)):
        w = getattr(a, name).numpy()
        np.testing.assert_array_equal(w, getattr(b, name).numpy())
        assert np.abs(w).max() <= 2.4 / fan_in**0.5
    assert np.all(a.outb.numpy() == -1.0) and np.all(a.H2b.numpy() == 0.0)
    assert not np.array_equal(a.H1w.numpy(), LeCun1989(torch_seed=1).H1w.numpy())
    assert "torch_seed=1337" in repr(a)


def test_lecun1989_torch_seed_matches_pytorch_bit_for_bit():
    a = LeCun1989(torch_seed=1337)
    torch = pytest.importorskip("torch")
    # karpathy/lecun1989-repro's initialisation, transcribed
    torch.manual_seed(1337)
    winit = lambda fan_in, *shape: (torch.rand(*shape) - 0.5) * 2 * 2.4 / fan_in**0.5  # noqa: E731
    expected = {"H1w": winit(25, 12, 1, 5, 5), "H2w": winit(200, 12, 8, 5, 5),
                "H3w": winit(192, 192, 30), "outw": winit(30, 30, 10)}
    for name, value in expected.items():
        np.testing.assert_array_equal(getattr(a, name).numpy(), value.numpy(), err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lecun1989_modern_replays_modern_py_streams(dtype):
    """With torch_seed and numpy_seed, the modern network's training steps draw the dropout
    masks and the shifts modern.py draws (PyTorch's generator after the weights; NumPy's
    legacy global stream), so both move every weight alike, step after step."""
    torch = pytest.importorskip("torch")
    skip_unless_mt19937_bernoulli(torch)
    import tinyrpn.nn.functional as F
    from tinyrpn import optim
    from tinyrpn.data import RandomShift
    from tinyrpn.models.lecun1989 import WEIGHT_FAN_IN

    model = LeCun1989(modern=True, torch_seed=1337).to(dtype=dtype)
    assert np.all(model.outb.numpy() == 0.0)  # modern.py's output bias starts at 0
    params, forward = torch_lecun1989(torch, model)
    torch.manual_seed(1337)
    for name, fan_in in WEIGHT_FAN_IN:  # modern.py's Net() draws these before training
        w = (torch.rand(*getattr(model, name).shape) - 0.5) * 2 * 2.4 / fan_in**0.5
        np.testing.assert_array_equal(getattr(model, name).numpy(), w.numpy().astype(dtype))
    shift = RandomShift(1, numpy_seed=1337)
    np.random.seed(1337)
    ours = optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    theirs = torch.optim.AdamW(params.values(), lr=3e-4)
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, size=(25, 1, 1, 16, 16)).astype(dtype)
    labels = rng.integers(0, 10, size=25)
    for x, label in zip(xs, labels):
        shifted = shift(x)
        sx, sy = np.random.randint(-1, 2, size=2)
        ref_x = torch.roll(torch.from_numpy(x), (int(sx), int(sy)), (2, 3))
        np.testing.assert_array_equal(shifted, ref_x.numpy())
        loss = F.cross_entropy(model(tinyrpn.tensor(shifted)), tinyrpn.tensor(np.array([label])))
        ref_loss = torch.nn.functional.cross_entropy(forward(ref_x), torch.tensor([int(label)]))
        for opt, value in ((ours, loss), (theirs, ref_loss)):
            opt.zero_grad()
            value.backward()
            opt.step()
        assert abs(loss.item() - ref_loss.item()) < (1e-12 if dtype == "float64" else 1e-5)
    tol = {"float64": dict(rtol=1e-10, atol=1e-13), "float32": dict(rtol=1e-4, atol=1e-6)}
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.numpy(), params[name].detach().numpy(), err_msg=name,
                                   **tol[dtype])


def test_lecun1989_modern_dropout_stream_is_saved_with_the_model(tmp_path):
    a = LeCun1989(modern=True, torch_seed=1337)
    start = a.dropout_stream.numpy().copy()
    assert start[-1] == 8760 % 624  # after the 8,760 weight draws, one 32-bit draw each
    x = tinyrpn.rand(1, 1, 16, 16) * 2 - 1
    a.eval()
    a(x)
    np.testing.assert_array_equal(a.dropout_stream.numpy(), start)  # no mask in eval mode
    a.train()
    a(x)
    assert not np.array_equal(a.dropout_stream.numpy(), start)  # 192 masks x 2 draws
    tinyrpn.save(a.state_dict(), tmp_path / "model.npz")  # as a checkpoint holds it
    b = LeCun1989(modern=True, torch_seed=1337)
    b.load_state_dict(tinyrpn.load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())  # the same next mask
    # written into in place, the buffer still decides the next mask
    fresh = LeCun1989(modern=True, torch_seed=1337)
    first = fresh(x).numpy()
    b.dropout_stream.copy_(start)
    np.testing.assert_array_equal(b(x).numpy(), first)
    assert LeCun1989(modern=True).dropout_stream is None  # tinyrpn's own stream
    assert LeCun1989(torch_seed=1337).dropout_stream is None  # no dropout in 1989
    assert LeCun1989(modern=True, torch_seed=1337).num_parameters() == 9_760


def test_lecun1989_shapes_and_output_range():
    model = LeCun1989()
    out = model(tinyrpn.rand(3, 1, 16, 16) * 2 - 1)
    assert out.shape == (3, 10)
    assert np.all(np.abs(out.numpy()) <= 1.0)  # tanh output in the 1989 network
    with pytest.raises(ValueError, match=r"\(N, 1, 16, 16\)"):
        model(tinyrpn.rand(3, 1, 28, 28))


def test_lecun1989_modern_uses_dropout_only_in_training():
    tinyrpn.manual_seed(0)
    model = LeCun1989(modern=True)
    x = tinyrpn.rand(2, 1, 16, 16) * 2 - 1
    model.eval()
    a, b = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(a, b)
    model.train()
    c = model(x).numpy()
    assert not np.allclose(a, c)


@pytest.mark.parametrize("modern", [False, True])
def test_lecun1989_gradients_check_in_float64(modern):
    tinyrpn.manual_seed(2)
    model = LeCun1989(modern=modern).double().eval()
    x = (tinyrpn.rand(1, 1, 16, 16, dtype="float64") * 2 - 1).requires_grad_(True)
    assert tinyrpn.gradcheck(lambda inp: model(inp), x)
    for name in ("H1w", "H2w", "H2b"):
        p = getattr(model, name)
        assert tinyrpn.gradcheck(
            lambda w, p=p: _with_param(model, p, w)(x.detach()), p.detach().requires_grad_(True)
        ), name


@pytest.mark.parametrize("modern", [False, True])
def test_lecun1989_on_a_device_matches_the_cpu(modern, device):
    """Forward, backward and (modern, PyTorch-seeded) the dropout stream that lives in a
    buffer on the model's device."""
    x = (tinyrpn.rand(3, 1, 16, 16, dtype="float64") * 2 - 1)
    outs, grads, streams = [], [], []
    for where in ("cpu", device):
        model = LeCun1989(modern=modern, torch_seed=1337).double().to(where)
        out = model(x.to(where))
        out.sum().backward()
        outs.append(out.numpy())
        grads.append(model.H1w.grad.numpy())
        if modern:
            assert model.dropout_stream.device == where
            streams.append(model.dropout_stream.numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-12)
    if modern:
        np.testing.assert_array_equal(streams[1], streams[0])


def test_mlp_on_a_device_matches_the_cpu(device):
    x = tinyrpn.randn(4, 784, dtype="float64")
    results = []
    for where in ("cpu", device):
        tinyrpn.manual_seed(0)
        model = madgrad_mlp().double().to(where)
        out = model(x.to(where))
        out.sum().backward()
        results.append((out.numpy(), next(iter(model.parameters())).grad.numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)
