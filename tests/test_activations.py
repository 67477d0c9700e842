"""ops/activations.py: gradchecks away from the kinks, values and gradients against PyTorch
everywhere (kinks, NaN, ±inf, 0-d and empty tensors included), and the module forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import gradcheck, nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

NAN, INF = float("nan"), float("inf")

# name, extra keyword arguments (the same for both), kinks to keep gradcheck away from
ACTIVATIONS = [
    ("gelu", {}, []),
    ("gelu", {"approximate": "tanh"}, []),
    ("silu", {}, []),
    ("leaky_relu", {}, [0.0]),
    ("leaky_relu", {"negative_slope": 0.2}, [0.0]),
    ("elu", {}, [0.0]),
    ("elu", {"alpha": 0.5}, [0.0]),
    ("celu", {"alpha": 2.0}, [0.0]),
    ("selu", {}, [0.0]),
    ("relu6", {}, [0.0, 6.0]),
    ("hardswish", {}, [-3.0, 3.0]),
    ("hardsigmoid", {}, [-3.0, 3.0]),
    ("hardtanh", {}, [-1.0, 1.0]),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}, [-2.0, 0.5]),
    ("softsign", {}, []),
    ("logsigmoid", {}, []),
]
IDS = [f"{name}-{kw}" if kw else name for name, kw, _ in ACTIVATIONS]

# every kink, both sides of it, NaN, the infinities, large values that overflow exp
EDGES = np.array([NAN, INF, -INF, 0.0, -0.0, 6.0, -3.0, 3.0, 1.0, -1.0, -2.0, 0.5, 1e-8,
                  -1e-8, 5.999, 6.001, 30.0, -30.0, 800.0, -800.0])


def away_from(x, kinks, gap=1e-3):
    x = np.array(x)
    for k in kinks:
        close = np.abs(x - k) < gap
        x[close] = k + 4 * gap
    return x


def _rtol(name):
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32, even in float64
    return 1e-7 if name.lower() == "hardsigmoid" else 1e-10


def _compare(ours_fn, theirs_fn, values, rtol=1e-10, atol=1e-12, backward_warns=False,
             device="cpu"):
    x = tinyrpn.tensor(values, dtype="float64", requires_grad=True, device=device)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warning leaks out
        out = ours_fn(x)
    ref = theirs_fn(tx)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    direction = np.random.default_rng(0).standard_normal(tuple(ref.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if backward_warns else "error")
        out.backward(tinyrpn.tensor(direction, device=device))
    ref.backward(torch.tensor(direction))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize(("name", "kw", "kinks"), ACTIVATIONS, ids=IDS)
def test_gradcheck_away_from_kinks(name, kw, kinks):
    rng = np.random.default_rng(0)
    for shape in [(), (7,), (3, 5)]:
        x = tinyrpn.tensor(away_from(rng.uniform(-7, 7, shape), kinks), dtype="float64",
                           requires_grad=True)
        assert gradcheck(lambda x: getattr(F, name)(x, **kw), x)


@pytest.mark.parametrize(("name", "kw", "kinks"), ACTIVATIONS, ids=IDS)
def test_values_and_gradients_match_pytorch(name, kw, kinks, device):
    fn, ref = getattr(F, name), getattr(TF, name)
    values = np.random.default_rng(1).uniform(-8, 8, (4, 6))
    for case in (values, EDGES, np.array(0.7), np.zeros((0, 3))):  # EDGES: kinks, NaN, inf
        # softsign is composed of div, whose backward warns at inf (inf / inf²)
        _compare(lambda x: fn(x, **kw), lambda x: ref(x, **kw), case, rtol=_rtol(name),
                 backward_warns=name == "softsign", device=device)


@pytest.mark.parametrize(("name", "kw", "kinks"), ACTIVATIONS, ids=IDS)
def test_float32_stays_float32(name, kw, kinks, device):
    values = np.random.default_rng(2).uniform(-8, 8, (50,)).astype(np.float32)
    out = getattr(F, name)(tinyrpn.tensor(values, device=device), **kw)
    ref = getattr(TF, name)(torch.tensor(values), **kw)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_softmin_and_tensor_softmax_methods_match_pytorch(device):
    values = np.random.default_rng(3).standard_normal((3, 4, 5))
    for d in (0, 1, -1):
        _compare(lambda x, d=d: F.softmin(x, d), lambda x, d=d: TF.softmin(x, d), values,
                 device=device)
        _compare(lambda x, d=d: x.softmax(d), lambda x, d=d: x.softmax(d), values,
                 device=device)
        _compare(lambda x, d=d: x.log_softmax(d), lambda x, d=d: x.log_softmax(d), values,
                 device=device)
        _compare(lambda x, d=d: tinyrpn.softmax(x, d), lambda x, d=d: torch.softmax(x, d),
                 values, device=device)
    assert gradcheck(lambda x: F.softmin(x, 1),
                     tinyrpn.tensor(values, dtype="float64", requires_grad=True))


@pytest.mark.parametrize(("p", "dim"), [(2.0, 1), (1.0, 0), (3.0, -1), (2.0, 0)])
def test_normalize_matches_pytorch_with_zero_slices(p, dim, device):
    values = np.random.default_rng(4).standard_normal((3, 4))
    values[1] = 0.0  # a zero row: stays zero, with a finite gradient
    values[:, 2] = 0.0
    _compare(lambda x: F.normalize(x, p=p, dim=dim), lambda x: TF.normalize(x, p=p, dim=dim),
             values, device=device)
    smooth = np.random.default_rng(5).uniform(0.5, 2, (3, 4))
    assert gradcheck(lambda x: F.normalize(x, p=p, dim=dim),
                     tinyrpn.tensor(smooth, dtype="float64", requires_grad=True))


def test_normalize_of_a_vector_and_bad_p():
    _compare(lambda x: F.normalize(x, dim=0), lambda x: TF.normalize(x, dim=0),
             np.array([3.0, 4.0]))
    with pytest.raises(ValueError, match="p must be a positive finite number"):
        F.normalize(tinyrpn.ones(3), p=0)


def test_bad_arguments_are_refused():
    with pytest.raises(RuntimeError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(tinyrpn.ones(2), approximate="sigmoid")
    with pytest.raises(TypeError, match="floating point"):
        F.silu(tinyrpn.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="min_val 2 is above max_val 1"):
        F.hardtanh(tinyrpn.ones(2), 2, 1)


MODULES = [
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.3}), ("ELU", {"alpha": 0.7}), ("CELU", {"alpha": 1.5}),
    ("SELU", {}), ("ReLU6", {}), ("Hardswish", {}), ("Hardsigmoid", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("Softsign", {}), ("LogSigmoid", {}),
    ("Softmin", {"dim": 1}),
]


@pytest.mark.parametrize(("name", "kw"), MODULES)
def test_modules_match_pytorch_modules(name, kw, device):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(theirs)
    values = np.random.default_rng(6).uniform(-7, 7, (4, 5))
    _compare(ours, theirs, values, rtol=_rtol(name), device=device)
    assert list(ours.parameters()) == []
