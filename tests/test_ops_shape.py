"""Shape ops and indexing: gradchecks on drawn shapes and layouts, PyTorch agreement, errors."""

from __future__ import annotations

import numpy as np
import pytest
from devices import layout_on
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import tinyrpn
from tinyrpn import gradcheck

FEW = settings(max_examples=20)
shapes = array_shapes(min_dims=1, max_dims=3, max_side=3)
layouts = st.sampled_from(("contiguous", "transposed", "strided"))
seeds = st.integers(0, 2**16)


def make(shape, seed=0, layout="contiguous", requires_grad=True, device="cpu"):
    """A float64 leaf of random values on ``device``, stored contiguous, transposed or
    strided."""
    values = np.random.default_rng(seed).standard_normal(shape)
    return tinyrpn.Tensor._wrap(layout_on(device, values, layout), requires_grad)


# ----------------------------------------------------------------------------- reshape family


@FEW
@given(shape=shapes, seed=seeds, layout=layouts, data=st.data())
def test_reshape_view_flatten_gradcheck(shape, seed, layout, data, device):
    x = make(shape, seed, layout, device=device)
    n = x.numel()
    target = data.draw(st.sampled_from([(n,), (1, n), (n, 1), (-1,), (1, -1, 1)]))
    assert gradcheck(lambda x: x.reshape(target) * 2, x)
    assert gradcheck(lambda x: x.view(*target) + 1, x)
    start = data.draw(st.integers(0, len(shape) - 1))
    end = data.draw(st.integers(start, len(shape) - 1))
    assert gradcheck(lambda x: x.flatten(start, end) * x.flatten(start, end), x)


@FEW
@given(shape=shapes, seed=seeds, layout=layouts, data=st.data())
def test_permute_transpose_gradcheck(shape, seed, layout, data, device):
    x = make(shape, seed, layout, device=device)
    order = data.draw(st.permutations(range(len(shape))))
    d0, d1 = data.draw(st.integers(-len(shape), len(shape) - 1)), data.draw(
        st.integers(-len(shape), len(shape) - 1))
    assert gradcheck(lambda x: x.permute(*order) * 3, x)
    assert gradcheck(lambda x: x.transpose(d0, d1).exp(), x)
    assert gradcheck(lambda x: x.T * x.T, x)


@FEW
@given(shape=shapes, seed=seeds, layout=layouts, data=st.data())
def test_unsqueeze_squeeze_expand_gradcheck(shape, seed, layout, data, device):
    x = make(shape, seed, layout, device=device)
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert gradcheck(lambda x: x.unsqueeze(dim).squeeze(dim) * 2, x)
    assert gradcheck(lambda x: x.unsqueeze(0).squeeze() * 2, x)
    expanded = (2,) + tuple(s if s != 1 else 3 for s in shape)
    assert gradcheck(lambda x: x.expand(*expanded) * 1.5, x)
    assert gradcheck(lambda x: x.unsqueeze(-1).expand(*shape, 2), x)


@FEW
@given(shape=shapes, seed=seeds, layout=layouts, data=st.data())
def test_roll_gradcheck(shape, seed, layout, data, device):
    x = make(shape, seed, layout, device=device)
    shift = data.draw(st.integers(-4, 4))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    weights = tinyrpn.tensor(np.arange(x.numel(), dtype=np.float64).reshape(shape),
                             device=device)
    assert gradcheck(lambda x: x.roll(shift, dim) * weights, x)
    assert gradcheck(lambda x: tinyrpn.roll(x, shift) * weights, x)  # over the flat tensor
    dims = tuple(range(len(shape)))
    shifts = tuple(data.draw(st.integers(-3, 3)) for _ in dims)
    assert gradcheck(lambda x: tinyrpn.roll(x, shifts, dims) * weights, x)


def test_shape_op_results():
    x = tinyrpn.arange(24).reshape(2, 3, 4)
    assert x.reshape(-1, 4).shape == (6, 4) and x.view(4, 6).shape == (4, 6)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.permute(2, 0, 1).shape == (4, 2, 3) and x.transpose(0, -1).shape == (4, 3, 2)
    assert x.T.shape == (4, 3, 2) and x[0].t().shape == (4, 3)
    assert x.unsqueeze(1).shape == (2, 1, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    y = tinyrpn.zeros(1, 3, 1)
    assert y.squeeze().shape == (3,) and y.squeeze(0).shape == (3, 1)
    assert y.squeeze(1).shape == (1, 3, 1)  # not size 1: left alone, as PyTorch
    assert y.squeeze((0, 2)).shape == (3,)
    assert y.expand(2, 3, 5).shape == (2, 3, 5) and y.expand(4, -1, -1, 2).shape == (4, 1, 3, 2)
    assert tinyrpn.tensor(5.0).flatten().shape == (1,)
    np.testing.assert_array_equal(tinyrpn.roll(tinyrpn.arange(4), 1).numpy(), [3, 0, 1, 2])


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (lambda x: x.reshape(5, 5), r"cannot reshape a tensor of shape \(2, 3, 4\)"),
        (lambda x: x.reshape(-1, -1), "cannot reshape"),
        (lambda x: x.reshape(-2, 12), "cannot reshape"),
        (lambda x: x.permute(0, 1), r"not a permutation of the 3 dims"),
        (lambda x: x.permute(0, 1, 1), "not a permutation"),
        (lambda x: x.transpose(0, 3), "out of range"),
        (lambda x: x.unsqueeze(4), "out of range"),
        (lambda x: x.expand(3, 3, 4), r"cannot expand shape \(2, 3, 4\)"),
        (lambda x: x.expand(3, 4), "fewer dims"),
        (lambda x: x.flatten(2, 1), "comes after"),
        (lambda x: x.roll((1, 2), (0,)), "same length"),
        (lambda x: x.reshape(2.5, 2), "integers"),
    ],
)
def test_shape_errors_are_readable(op, message):
    x = tinyrpn.zeros(2, 3, 4)
    with pytest.raises((ValueError, IndexError, TypeError), match=message):
        op(x)


# ----------------------------------------------------------------------------- indexing

BASIC_INDICES = [
    0, -1, slice(None), slice(1, None), slice(None, None, 2), slice(None, None, -1),
    (0, 1), (slice(None), 0), (Ellipsis, 1), (None, 0), (slice(0, 2), None, slice(1, 3)),
    (1, Ellipsis), (slice(None, None, -2), 2),
]


@pytest.mark.parametrize("index", BASIC_INDICES, ids=repr)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_basic_indexing_gradcheck(index, layout, device):
    x = make((3, 4), 1, layout, device=device)
    assert gradcheck(lambda x: x[index] * 2, x)


ADVANCED_INDICES = [
    [0, 2],
    [2, 2, 0, 2],  # repeats: their gradients must add up
    (np.array([0, 1, 1]), np.array([3, 3, 0])),
    (slice(None), [1, 1, 3]),
    (np.array([[0, 1], [1, 1]]),),
    (Ellipsis, np.array([0, 0])),
]


@pytest.mark.parametrize("index", ADVANCED_INDICES, ids=repr)
def test_integer_array_indexing_gradcheck(index, device):
    x = make((3, 4), 2, device=device)
    assert gradcheck(lambda x: x[index] * 2, x)


def test_indexing_with_tensors_and_masks(device):
    x = tinyrpn.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True, device=device)
    mask = x > 0
    picked = x[mask]
    np.testing.assert_array_equal(picked.numpy(), [1, 3])
    rows = x[tinyrpn.tensor([1, 1, 0], device=device)]
    assert rows.shape == (3, 2)
    (picked.sum() + rows.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 1], [3, 2]])
    assert gradcheck(lambda x: x[x.detach() > 0] * 3, make((3, 4), 3, device=device))
    assert gradcheck(lambda x: x[np.array([True, False, True]), 1:],
                     make((3, 4), 4, device=device))


def test_indexing_errors_name_the_index_and_shape():
    x = tinyrpn.zeros(2, 3)
    with pytest.raises(IndexError, match=r"index 5 is invalid for shape \(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match="must be integer or bool"):
        x[tinyrpn.tensor([0.5])]
    with pytest.raises(IndexError, match=r"array\(shape=\(2,\), dtype=int64\)"):
        x[:, tinyrpn.tensor([0, 7])]


def test_iterating_over_a_tensor_keeps_the_graph(device):
    x = tinyrpn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, device=device)
    total = sum(row.sum() * (i + 1) for i, row in enumerate(x))
    total.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [2, 2]])


# ----------------------------------------------------------------------------- cat / stack


@FEW
@given(shape=shapes, seed=seeds, layout=layouts, data=st.data())
def test_cat_stack_gradcheck(shape, seed, layout, data, device):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    grown = list(shape)
    grown[dim] += 1
    a = make(shape, seed, layout, device=device)
    b, c = make(tuple(grown), seed + 1, device=device), make(shape, seed + 2, device=device)
    assert gradcheck(lambda a, b: tinyrpn.cat([a, b, a], dim) * 2, a, b)
    stack_dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert gradcheck(lambda a, c: tinyrpn.stack((a, c, a), stack_dim) * 2, a, c)


def test_cat_and_stack_results_and_errors():
    a, b = tinyrpn.ones(2, 3), tinyrpn.zeros(2, 1)
    assert tinyrpn.cat([a, b], 1).shape == (2, 4) and tinyrpn.cat([a, a]).shape == (4, 3)
    assert tinyrpn.stack([a, a], -1).shape == (2, 3, 2)
    assert tinyrpn.cat([a, tinyrpn.ones(2, 1, dtype="int64")], 1).dtype == np.float32
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(2, 1\).*all dims except 0"):
        tinyrpn.cat([a, b])
    with pytest.raises(ValueError, match="at least one"):
        tinyrpn.cat([])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(2, 1\)"):
        tinyrpn.stack([a, b])
    with pytest.raises(ValueError, match="zero-dimensional"):
        tinyrpn.cat([tinyrpn.tensor(1.0)])


# ----------------------------------------------------------------------------- casts


def test_cast_carries_gradient_between_float_dtypes():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])
    assert not x.long().requires_grad  # an integer result carries no gradient
    assert x.float() is x


# ----------------------------------------------------------------------------- vs PyTorch


def test_shape_ops_match_pytorch():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(5).standard_normal((2, 3, 4))
    direction = np.random.default_rng(6).standard_normal((4, 2, 6))

    def run(t, x):
        y = x.permute(2, 0, 1)[:, :, [0, 2, 2]].roll(1, 0)
        y = t.cat([y, y * 2], -1)
        z = t.stack([x.sum(-1), x[..., 0]], 0).unsqueeze(-1).expand(2, 2, 3, 2)
        return y * z.reshape(-1)[:6].reshape(1, 1, 6) + y.transpose(0, 1).transpose(0, 1)

    ours_x = tinyrpn.tensor(values, requires_grad=True)
    theirs_x = torch.tensor(values, requires_grad=True)
    ours, theirs = run(tinyrpn, ours_x), run(torch, theirs_x)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)
    ours.backward(tinyrpn.tensor(direction))
    theirs.backward(torch.tensor(direction))
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-12)


def test_basic_indexing_returns_views_as_pytorch():
    x = tinyrpn.tensor([1.0, 2.0, 3.0])
    x[0].add_(1)  # a 0-d view, not a copied scalar
    x[1:].mul_(10)
    np.testing.assert_array_equal(x.numpy(), [2, 20, 30])
    assert x._version.value == 2 and x[0]._version is x._version
    copy = x[[0, 1]]  # integer-array indexing copies, as in PyTorch
    copy.zero_()
    np.testing.assert_array_equal(x.numpy(), [2, 20, 30])
