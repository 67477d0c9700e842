"""Pooling (tinyrpn.ops.pool, kernels/pool.py): values, indices and gradients against
PyTorch, float64 gradients against finite differences, the Numba loops against their NumPy
twins, the modules, and the argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_oracle import compare_with_torch, leaf

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import gradcheck, nn
from tinyrpn.kernels import pool as kpool

MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(1, 3), stride=1, padding=(0, 1)),
]
AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, padding=1, divisor_override=3),
]


def image(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("numba", ["1", "0"])
@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_matches_torch(case, numba, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    compare_with_torch(lambda x: F.max_pool2d(x, return_indices=True, **case),
                       lambda x: torch.nn.functional.max_pool2d(x, return_indices=True, **case),
                       image(2, 3, 7, 8))


@pytest.mark.parametrize("numba", ["1", "0"])
def test_max_pool2d_ties_route_the_gradient_to_the_reported_index(numba, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    x = np.round(image(2, 2, 6, 6))  # many equal values inside a window
    x[0, 0, :2, :2] = 1.0
    for case in MAX_CASES[:2]:
        compare_with_torch(lambda t, c=case: F.max_pool2d(t, return_indices=True, **c),
                           lambda t, c=case: torch.nn.functional.max_pool2d(
                               t, return_indices=True, **c), x)


@pytest.mark.parametrize("numba", ["1", "0"])
@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d_matches_torch(case, numba, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    compare_with_torch(lambda x: F.avg_pool2d(x, **case),
                       lambda x: torch.nn.functional.avg_pool2d(x, **case), image(2, 3, 7, 8))


@pytest.mark.parametrize("size", [(3, 5), 1, (None, 3), (7, 8), (4, 9), (5, 2)])
def test_adaptive_avg_pool2d_matches_torch(size):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda x: F.adaptive_avg_pool2d(x, size),
                       lambda x: torch.nn.functional.adaptive_avg_pool2d(x, size),
                       image(2, 3, 7, 8))


def test_unbatched_input_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = image(3, 6, 5)
    compare_with_torch(lambda t: F.max_pool2d(t, 2), lambda t: tf.max_pool2d(t, 2), x)
    compare_with_torch(lambda t: F.avg_pool2d(t, 2), lambda t: tf.avg_pool2d(t, 2), x)
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, 2),
                       lambda t: tf.adaptive_avg_pool2d(t, 2), x)


@pytest.mark.parametrize("numba", ["1", "0"])
def test_pooling_gradcheck(numba, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    x = leaf(image(2, 2, 5, 6))  # distinct values: max pooling is differentiable there
    assert gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), x)
    assert gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False), x)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 4)), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool_numba_matches_twin(case, dtype):
    x = image(2, 3, 9, 7).astype(dtype)
    kernel = kpool_pair(case["kernel_size"])
    stride = kpool_pair(case.get("stride", case["kernel_size"]))
    padding, dilation = kpool_pair(case.get("padding", 0)), kpool_pair(case.get("dilation", 1))
    out_hw = tuple(kpool.pool_output_size(x.shape[2 + a], kernel[a], stride[a], padding[a],
                                          dilation[a], case.get("ceil_mode", False))
                   for a in (0, 1))
    values, index = kpool.max_pool2d_forward(x, kernel, stride, padding, dilation, out_hw)
    values_xp, index_xp = kpool.max_pool2d_forward_xp(x, kernel, stride, padding, dilation,
                                                      out_hw)
    np.testing.assert_array_equal(values, values_xp)
    np.testing.assert_array_equal(index, index_xp)
    g = image(*values.shape, seed=1).astype(dtype)
    np.testing.assert_allclose(kpool.max_pool2d_backward(g, index, x.shape[2:]),
                               kpool.max_pool2d_backward_xp(g, index, x.shape[2:]), rtol=1e-6)


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool_numba_matches_twin(case):
    x = image(2, 3, 9, 7)
    kernel = kpool_pair(case["kernel_size"])
    stride, padding = kpool_pair(case.get("stride", case["kernel_size"])), kpool_pair(
        case.get("padding", 0))
    out_hw = tuple(kpool.pool_output_size(x.shape[2 + a], kernel[a], stride[a], padding[a], 1,
                                          case.get("ceil_mode", False)) for a in (0, 1))
    divisor = kpool.avg_divisor(out_hw, x.shape[2:], kernel, stride, padding,
                                case.get("count_include_pad", True),
                                case.get("divisor_override"))
    np.testing.assert_allclose(kpool.avg_pool2d_forward(x, kernel, stride, padding, out_hw,
                                                        divisor),
                               kpool.avg_pool2d_forward_xp(x, kernel, stride, padding, out_hw,
                                                           divisor), rtol=1e-12)
    g = image(2, 3, *out_hw, seed=1)
    np.testing.assert_allclose(
        kpool.avg_pool2d_backward(g, x.shape[2:], kernel, stride, padding, divisor),
        kpool.avg_pool2d_backward_xp(g, x.shape[2:], kernel, stride, padding, divisor),
        rtol=1e-12)


def kpool_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("numba", ["1", "0"])
def test_max_pool_propagates_nan(numba, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 2, 2] = 5.0
    out = F.max_pool2d(tinyrpn.tensor(x), 2).numpy()
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 1, 1] == 5.0


def test_pooling_modules_match_functional_and_torch():
    torch = pytest.importorskip("torch")
    x = image(2, 3, 8, 8)
    pairs = [
        (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
         torch.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
        (nn.AvgPool2d(2, stride=1), torch.nn.AvgPool2d(2, stride=1)),
        (nn.AdaptiveAvgPool2d((1, 1)), torch.nn.AdaptiveAvgPool2d((1, 1))),
        (nn.Flatten(), torch.nn.Flatten()),
    ]
    for ours, theirs in pairs:
        compare_with_torch(ours, theirs, x)
    values, indices = nn.MaxPool2d(2, return_indices=True)(tinyrpn.tensor(x))
    assert indices.dtype == np.int64 and values.shape == (2, 3, 4, 4)
    assert "kernel_size=2" in repr(nn.MaxPool2d(2))


def test_small_cnn_with_pooling_trains():
    tinyrpn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    rng = np.random.default_rng(0)
    x = tinyrpn.tensor(rng.standard_normal((16, 1, 8, 8)).astype(np.float32))
    y = tinyrpn.tensor((x.numpy().mean(axis=(1, 2, 3)) > 0).astype(np.int64))
    opt = tinyrpn.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("call, message", [
    (lambda x: F.max_pool2d(x, 2, padding=2), "at most half the kernel"),
    (lambda x: F.max_pool2d(x, 9), "too small"),
    (lambda x: F.max_pool2d(x[0, 0], 2), "3-D (C, H, W) or 4-D"),
    (lambda x: F.avg_pool2d(x, 0), "kernel_size, stride and dilation >= 1"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), "divisor_override must be positive"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), "an int or a pair"),
    (lambda x: F.max_pool2d(x, "2"), "kernel_size must be an int or a pair"),
])
def test_pooling_errors_name_the_problem(call, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(
            ")", r"\)")):
        call(tinyrpn.tensor(image(1, 2, 5, 5)))
