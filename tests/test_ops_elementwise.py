"""ops/elementwise.py: every op's gradient against finite differences (float64, several
shapes and layouts) and its values and gradients against PyTorch, edge values included."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")
SHAPES = [(), (0,), (5,), (3, 4)]


def _leaf(values, layout="contiguous"):
    values = np.asarray(values, dtype=np.float64)
    array = np.array(values, order="F") if layout == "transposed" else values.copy()
    return tinyrpn.Tensor._wrap(array, requires_grad=True)


def _compare(fn, *arrays, rtol=1e-10, atol=1e-12, check_grads=True, device="cpu"):
    """fn on tinyrpn (on ``device``) and torch float64 leaves: equal values (NaN where torch
    has NaN) and, after backward with a fixed direction, equal gradients."""
    ours = [tinyrpn.tensor(a, dtype="float64", requires_grad=True, device=device)
            for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's floating-point warnings stay inside
        out = fn(tinyrpn, *ours)
    ref = fn(torch, *theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    assert out.shape == tuple(ref.shape)
    if not check_grads or not ref.requires_grad:
        return
    direction = np.random.default_rng(1).standard_normal(tuple(ref.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.backward(tinyrpn.tensor(direction, device=device))
    ref.backward(torch.tensor(direction))
    for a, ta in zip(ours, theirs):
        expected = np.zeros(ta.shape) if ta.grad is None else ta.grad.numpy()
        got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# name, (low, high) of the drawn values; torch has each under the same name
UNARY = [
    ("sin", (-4, 4)), ("cos", (-4, 4)), ("tan", (-1.3, 1.3)), ("asin", (-0.95, 0.95)),
    ("atan", (-4, 4)), ("sinh", (-3, 3)), ("cosh", (-3, 3)), ("erf", (-3, 3)),
    ("exp2", (-3, 3)), ("log2", (0.1, 4)), ("log10", (0.1, 4)), ("rsqrt", (0.1, 4)),
]


@pytest.mark.parametrize(("name", "domain"), UNARY)
@pytest.mark.parametrize("shape", SHAPES)
def test_unary_gradcheck_and_pytorch(name, domain, shape, device):
    values = np.random.default_rng(0).uniform(*domain, size=shape)
    for layout in ("contiguous", "transposed"):
        assert gradcheck(lambda x: getattr(tinyrpn, name)(x), _leaf(values, layout))
    _compare(lambda t, x: getattr(t, name)(x), values, device=device)
    _compare(lambda t, x: getattr(x, name)(), values, device=device)


@pytest.mark.parametrize(("name", "domain"), UNARY)
def test_unary_edge_values_match_pytorch(name, domain, device):
    edges = np.array([NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 1e-300, 710.0])
    ours = getattr(tinyrpn, name)(tinyrpn.tensor(edges, dtype="float64", device=device))
    theirs = getattr(torch, name)(torch.tensor(edges, dtype=torch.float64))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    # float32 in, float32 out; integers become float32, as in PyTorch
    assert getattr(tinyrpn, name)(tinyrpn.tensor([1.0])).dtype == np.float32
    assert getattr(tinyrpn, name)(tinyrpn.tensor([1, 2])).dtype == np.float32


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "round"])
def test_rounding_has_zero_gradient_and_matches_pytorch(name, device):
    values = np.array([-2.5, -1.5, -0.5, -0.2, 0.0, 0.5, 1.5, 2.5, 2.7, NAN, INF])
    _compare(lambda t, x: getattr(t, name)(x) * x, values, device=device)
    ints = tinyrpn.tensor([-3, 0, 4], device=device)
    out = getattr(tinyrpn, name)(ints)
    np.testing.assert_array_equal(out.numpy(), getattr(torch, name)(torch.tensor([-3, 0, 4])))
    assert out.dtype == np.int64


def test_round_with_decimals_matches_pytorch(device):
    values = np.array([1.2345, -2.5551, 0.125, 1234.5])
    for decimals in (0, 1, 2, -1):
        _compare(lambda t, x, n=decimals: t.round(x, decimals=n) + x, values, device=device)
    assert round(tinyrpn.tensor([1.6])).item() == 2.0  # Python's round() hands over


def test_isnan_isinf_isfinite():
    values = [NAN, INF, -INF, 0.0, 1.0]
    x, tx = tinyrpn.tensor(values), torch.tensor(values)
    for name in ("isnan", "isinf", "isfinite"):
        out = getattr(x, name)()
        assert out.dtype == np.bool_ and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), getattr(torch, name)(tx).numpy())
    assert not tinyrpn.isnan(tinyrpn.tensor([1, 2])).any()


# ----------------------------------------------------------------------------- binary

RNG = np.random.default_rng(7)
A, B, C = RNG.uniform(-3, 3, (3, 4)), RNG.uniform(-3, 3, (4,)), RNG.uniform(0.5, 2, (3, 1))


@pytest.mark.parametrize("fn", [
    lambda t, a, b, c: t.copysign(a, b),
    lambda t, a, b, c: t.logaddexp(a, b * 10),
    lambda t, a, b, c: t.remainder(a, c),
    lambda t, a, b, c: a % c + a % 0.7,
    lambda t, a, b, c: t.lerp(a, b, c),
    lambda t, a, b, c: a.lerp(b, 0.3),
    lambda t, a, b, c: t.lerp(a, b, t.zeros_like(c[0, 0]) + 0.25),  # a 0-d weight
])
def test_binary_gradcheck_and_pytorch(fn, device):
    _compare(fn, A, B, C, device=device)
    ours = [_leaf(v) for v in (A, B, C)]
    assert gradcheck(lambda a, b, c: fn(tinyrpn, a, b, c), *ours)


def test_copysign_edge_values_match_pytorch(device):
    a = np.array([0.0, -0.0, 2.0, -2.0, 3.0, NAN])
    b = np.array([-1.0, 1.0, -0.0, 0.0, NAN, -1.0])
    _compare(lambda t, x, y: t.copysign(x, y), a, b, device=device)
    _compare(lambda t, x: t.copysign(x, -1.0), a, device=device)


def test_logaddexp_extremes_match_pytorch(device):
    a = np.array([1000.0, -1000.0, 0.0, -INF, 5.0])
    b = np.array([1000.0, -1001.0, -INF, 3.0, INF])
    _compare(lambda t, x, y: t.logaddexp(x, y), a, b, device=device)


def test_floor_divide_and_remainder_follow_python_and_pytorch():
    a = np.array([7.0, -7.0, 7.5, -7.5, 0.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0])
    ours = tinyrpn.tensor(a) // tinyrpn.tensor(b)
    np.testing.assert_array_equal(ours.numpy(), (torch.tensor(a) // torch.tensor(b)).numpy())
    np.testing.assert_array_equal(ours.numpy(), [x // y for x, y in zip(a, b)])
    np.testing.assert_array_equal((tinyrpn.tensor(a) % tinyrpn.tensor(b)).numpy(),
                                  [x % y for x, y in zip(a, b)])
    ints = tinyrpn.tensor([7, -7, 9])
    assert (ints // 2).dtype == np.int64 and (ints // 2).tolist() == [3, -4, 4]
    assert (ints % 3).tolist() == [1, 2, 0] and (7 // tinyrpn.tensor([2.0])).item() == 3.0
    assert (ints / 2).dtype == np.float32  # true division stays float
    with pytest.raises(ZeroDivisionError, match="floor_divide"):
        ints // 0
    x = tinyrpn.tensor([5.5], requires_grad=True)
    assert not (x // 2).requires_grad  # a step function: PyTorch defines no gradient
    assert (x % 2).requires_grad


# ----------------------------------------------------------------------------- prod


@pytest.mark.parametrize("values", [
    np.random.default_rng(3).uniform(0.5, 1.5, (3, 4)),
    np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 3.0, 0.0, 2.0], [1.0, 2.0, 3.0, 4.0]]),
])
@pytest.mark.parametrize(("dim", "keepdim"), [(None, False), (0, False), (1, True), (-1, False)])
def test_prod_gradcheck_and_pytorch_with_zeros(values, dim, keepdim, device):
    if dim is None:
        fn = lambda t, x: x.prod()  # noqa: E731
    else:
        fn = lambda t, x: t.prod(x, dim, keepdim=keepdim)  # noqa: E731
    _compare(fn, values, device=device)
    assert gradcheck(lambda x: fn(tinyrpn, x), _leaf(values))


def test_prod_edge_shapes_and_dtypes(device):
    _compare(lambda t, x: x.prod(), np.array(2.5), device=device)
    _compare(lambda t, x: x.prod(0), np.array(2.5), device=device)
    _compare(lambda t, x: x.prod(), np.zeros((0,)), device=device)
    _compare(lambda t, x: x.prod(1), np.zeros((2, 0)), device=device)
    ints = tinyrpn.tensor([1, 2, 3, 4])
    assert ints.prod().item() == 24 and ints.prod().dtype == np.int64
    assert tinyrpn.tensor([True, True]).prod().dtype == np.int64


# ----------------------------------------------------------------------------- erf kernel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_kernel_matches_its_twin_and_math_erf(dtype, monkeypatch):
    from tinyrpn import kernels
    from tinyrpn.kernels.special import erf_twin

    x = np.random.default_rng(0).standard_normal((7, 5)).astype(dtype)[:, ::2]  # strided
    fast = kernels.erf(x)
    np.testing.assert_array_equal(fast, erf_twin(x))
    assert fast.dtype == dtype and fast.shape == x.shape
    expected = np.array([[math.erf(float(v)) for v in row] for row in x])
    np.testing.assert_allclose(fast, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)
    monkeypatch.setenv("TINYRPN_NUMBA", "0")
    np.testing.assert_array_equal(kernels.erf(x), fast)
