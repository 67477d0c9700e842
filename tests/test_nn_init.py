"""tinyrpn.nn.init: formulas, in-place semantics and seeding, checked against PyTorch's."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinyrpn
from tinyrpn.nn import Parameter, init


def _param(*shape: int, dtype=np.float32) -> Parameter:
    return Parameter(np.zeros(shape, dtype=dtype))


# ----------------------------------------------------------------------------- gains, fans


@pytest.mark.parametrize("shape, expected", [
    ((10, 784), (784, 10)),          # Linear(784, 10): fan_in = in, fan_out = out
    ((12, 1, 5, 5), (25, 300)),      # Conv2d(1, 12, 5): in * k, out * k
    ((4, 8, 5, 5), (200, 100)),      # LeCun's H2 convs: 8 input maps, 4 output maps
    ((1, 1000), (1000, 1)),          # an RPN head's parameter vector, as a 1 x l tensor
])
def test_fan_in_and_fan_out(shape, expected):
    assert init._calculate_fan_in_and_fan_out(_param(*shape)) == expected


def test_fan_matches_torch():
    torch = pytest.importorskip("torch")
    for shape in [(3, 5), (7, 2, 3), (4, 6, 2, 5), (2, 3, 1, 1, 4)]:
        ours = init._calculate_fan_in_and_fan_out(_param(*shape))
        theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert ours == theirs


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(_param(5))


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    cases = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
             ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3),
             ("selu", None)]
    for name, param in cases:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param), rel=1e-12)
    # a = √5 is what makes PyTorch's default Linear init U(±1/√fan_in)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


# ----------------------------------------------------------------------------- distributions


def test_uniform_bounds_and_moments():
    tinyrpn.manual_seed(0)
    p = init.uniform_(_param(200, 300), -0.5, 1.5)
    v = p.detach().numpy()
    assert v.min() >= -0.5 and v.max() < 1.5
    assert v.min() < -0.49 and v.max() > 1.49  # the whole interval is used
    assert v.mean() == pytest.approx(0.5, abs=0.01)
    assert v.var() == pytest.approx(2.0**2 / 12, rel=0.02)


def test_normal_moments():
    tinyrpn.manual_seed(1)
    v = init.normal_(_param(300, 300), mean=2.0, std=0.5).detach().numpy()
    assert v.mean() == pytest.approx(2.0, abs=0.01)
    assert v.std() == pytest.approx(0.5, rel=0.01)


def test_constant_ones_zeros():
    p = _param(3, 4)
    assert np.all(init.constant_(p, 2.5).detach().numpy() == 2.5)
    assert np.all(init.ones_(p).detach().numpy() == 1)
    assert np.all(init.zeros_(p).detach().numpy() == 0)


@pytest.mark.parametrize("mode, nonlinearity, a", [
    ("fan_in", "leaky_relu", math.sqrt(5)), ("fan_in", "relu", 0.0),
    ("fan_out", "relu", 0.0), ("fan_in", "tanh", 0.0),
])
def test_kaiming_uniform_bound(mode, nonlinearity, a):
    shape = (64, 32, 3, 3)
    fan = 32 * 9 if mode == "fan_in" else 64 * 9
    bound = math.sqrt(3) * init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    v = init.kaiming_uniform_(_param(*shape), a=a, mode=mode,
                              nonlinearity=nonlinearity).detach().numpy()
    assert np.abs(v).max() <= bound * (1 + 1e-6)
    assert np.abs(v).max() > 0.99 * bound
    assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_kaiming_normal_std():
    v = init.kaiming_normal_(_param(256, 512), mode="fan_out", nonlinearity="relu").detach().numpy()
    assert v.std() == pytest.approx(math.sqrt(2) / math.sqrt(256), rel=0.02)
    assert abs(v.mean()) < 0.002


def test_xavier_uniform_bound_and_rpn_value():
    v = init.xavier_uniform_(_param(1, 5000)).detach().numpy()
    bound = math.sqrt(6 / 5001)
    assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.99 * bound
    # docs/EXPERIMENTS.md, experiment 1: layer 1's identity W has l = 64 * 615,440 weights, and
    # Xavier-uniform on the 1 x l tensor gives the bound 3.90e-4. The fans are computed
    # from the shape alone, so a zero-stride view is enough to check it without 157 MB.
    huge = tinyrpn.Tensor._wrap(np.broadcast_to(np.float32(0), (1, 64 * 615_440)))
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(huge)
    assert math.sqrt(6 / (fan_in + fan_out)) == pytest.approx(3.90e-4, abs=5e-7)


def test_xavier_normal_std_with_gain():
    gain = init.calculate_gain("tanh")
    v = init.xavier_normal_(_param(300, 500), gain=gain).detach().numpy()
    assert v.std() == pytest.approx(gain * math.sqrt(2 / 800), rel=0.02)


def test_bounds_agree_with_torch_init():
    """Same shapes through torch's and our initialisers: same bounds, same spread."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    shape = (40, 30, 3, 3)
    for ours_fn, theirs_fn, kwargs in [
        (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"a": math.sqrt(5)}),
        (init.xavier_uniform_, torch.nn.init.xavier_uniform_, {"gain": 2.0}),
    ]:
        ours = ours_fn(_param(*shape, dtype=np.float64), **kwargs).detach().numpy()
        theirs = theirs_fn(torch.empty(shape, dtype=torch.float64), **kwargs).numpy()
        assert np.abs(ours).max() <= np.abs(theirs).max() * 1.01 + 1e-12
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.01)
        assert ours.std() == pytest.approx(theirs.std(), rel=0.05)


# ----------------------------------------------------------------------------- semantics


def test_in_place_on_a_parameter_bumps_version_and_keeps_identity():
    p = _param(4, 5, dtype=np.float64)
    array, version = p.data, p._version.value
    out = init.kaiming_uniform_(p)
    assert out is p and p.data is array           # filled in place, same array
    assert p._version.value == version + 1
    assert p.requires_grad and p.grad_fn is None   # still a trainable leaf
    assert p.dtype == np.float64


def test_seeded_and_reproducible():
    tinyrpn.manual_seed(42)
    a = init.normal_(_param(50, 7)).detach().numpy()
    tinyrpn.manual_seed(42)
    b = init.normal_(_param(50, 7)).detach().numpy()
    c = init.normal_(_param(50, 7)).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # a generator of one's own leaves the global stream alone
    gen = np.random.default_rng(3)
    tinyrpn.manual_seed(42)
    init.uniform_(_param(5, 5), generator=gen)
    np.testing.assert_array_equal(init.normal_(_param(50, 7)).detach().numpy(), a)


def test_chunked_draws_equal_one_draw(monkeypatch):
    """Big tensors are filled in pieces; the numbers must not depend on the piece size."""
    tinyrpn.manual_seed(5)
    whole = init.normal_(_param(100, 10, dtype=np.float64)).detach().numpy()
    monkeypatch.setattr(init, "_CHUNK", 7)
    tinyrpn.manual_seed(5)
    pieces = init.normal_(_param(100, 10, dtype=np.float64)).detach().numpy()
    np.testing.assert_array_equal(whole, pieces)


def test_errors():
    with pytest.raises(TypeError, match="floating-point"):
        init.uniform_(tinyrpn.zeros(3, dtype="int64"))
    with pytest.raises(TypeError, match="expected a Tensor"):
        init.ones_(np.zeros(3))
    with pytest.raises(ValueError, match="mode 'fan_avg'"):
        init.kaiming_uniform_(_param(3, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="need a <= b"):
        init.uniform_(_param(3), 1.0, 0.0)
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(_param(0, 4))


def test_non_contiguous_tensor_gets_the_same_numbers():
    tinyrpn.manual_seed(9)
    dense = init.uniform_(_param(4, 6, dtype=np.float64)).detach().numpy()
    strided = tinyrpn.Tensor._wrap(np.zeros((6, 4)).T)  # a (4, 6) view, not C-contiguous
    tinyrpn.manual_seed(9)
    init.uniform_(strided)
    np.testing.assert_array_equal(strided.numpy(), dense)
    assert strided._version.value == 1


@pytest.mark.parametrize("fill", [
    init.normal_, init.uniform_, init.kaiming_uniform_, init.xavier_normal_,
    lambda t: init.constant_(t, 0.5), init.ones_, init.zeros_,
])
def test_a_tensor_on_a_device_gets_the_cpus_numbers_in_place(fill, device):
    """Numbers are drawn on the host from the one stream, then written into the tensor
    where it lives."""
    tinyrpn.manual_seed(9)
    on_cpu = fill(_param(40, 6)).detach().numpy()
    p = Parameter(tinyrpn.zeros(40, 6, device=device))
    array, version = p.data, p._version.value
    tinyrpn.manual_seed(9)
    assert fill(p) is p
    assert p.device == device and p.data is array and p._version.value == version + 1
    np.testing.assert_array_equal(p.detach().numpy(), on_cpu)
