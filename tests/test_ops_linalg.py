"""matmul and einsum: gradchecks on drawn shapes and layouts, PyTorch agreement, errors."""

from __future__ import annotations

import numpy as np
import pytest
from devices import layout_on
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyrpn
from tinyrpn import gradcheck

FEW = settings(max_examples=20)
layouts = st.sampled_from(("contiguous", "transposed", "strided"))
sides = st.integers(1, 3)


def make(shape, seed=0, layout="contiguous", requires_grad=True, device="cpu"):
    """A float64 leaf of random values on ``device``, stored contiguous, transposed or
    strided."""
    values = np.random.default_rng(seed).standard_normal(shape)
    return tinyrpn.Tensor._wrap(layout_on(device, values, layout), requires_grad)


# ----------------------------------------------------------------------------- matmul


@FEW
@given(m=sides, k=sides, n=sides, batch_a=st.sampled_from([(), (2,), (1,), (3, 1)]),
       batch_b=st.sampled_from([(), (2,), (1,), (1, 2)]), layout_a=layouts, layout_b=layouts,
       seed=st.integers(0, 999))
def test_matmul_gradcheck_with_batch_broadcasting(m, k, n, batch_a, batch_b, layout_a,
                                                  layout_b, seed, device):
    a = make(batch_a + (m, k), seed, layout_a, device=device)
    b = make(batch_b + (k, n), seed + 1, layout_b, device=device)
    assert gradcheck(lambda a, b: a @ b, a, b)


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,))],
)
def test_matmul_with_vectors_gradcheck(shape_a, shape_b, device):
    a, b = make(shape_a, 1, device=device), make(shape_b, 2, device=device)
    out = a @ b
    assert out.shape == np.matmul(a.numpy(), b.numpy()).shape
    assert gradcheck(lambda a, b: a.matmul(b), a, b)


def test_matmul_with_arrays_and_promotion():
    x = tinyrpn.ones(2, 3, requires_grad=True)
    y = np.ones((3, 2), dtype=np.float32) @ x  # ndarray @ Tensor hands over to Tensor
    assert isinstance(y, tinyrpn.Tensor) and y.shape == (3, 3)
    assert (tinyrpn.ones(2, 2) @ tinyrpn.ones(2, 2, dtype="float64")).dtype == np.float64
    assert tinyrpn.matmul(tinyrpn.ones(2, 2), tinyrpn.ones(2)).shape == (2,)


@pytest.mark.parametrize(
    ("shape_a", "shape_b", "message"),
    [
        ((2, 3), (4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\) do not line up"),
        ((3,), (4,), "do not line up"),
        ((2, 2, 3), (3, 3, 4), "batch dims"),
        ((), (3,), "at least 1 dim"),
    ],
)
def test_matmul_errors(shape_a, shape_b, message):
    with pytest.raises(ValueError, match=message):
        tinyrpn.zeros(*shape_a) @ tinyrpn.zeros(*shape_b)


# ----------------------------------------------------------------------------- einsum

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output: ik
    ("ba", [(2, 3)]),  # implicit output sorts the letters: a transpose
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii", [(3, 3)]),  # trace (implicit output is empty)
    ("iij->j", [(2, 2, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ijk,jl,k->il", [(2, 3, 2), (3, 2), (2,)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),  # ellipsis of different lengths
    ("...ij,...jk", [(1, 2, 3), (2, 3, 2)]),  # ellipsis dims broadcast (1 vs 2)
    ("i...->...", [(2, 3, 2)]),
    ("...i,...i->...", [(3, 2), (2,)]),
    ("bi,bi->b", [(1, 3), (4, 3)]),  # size-1 broadcast on a named letter, as PyTorch
    ("ij,kj->ik", [(2, 3), (1, 3)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
]


@pytest.mark.parametrize(("spec", "shape_list"), EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_einsum_gradcheck(spec, shape_list, layout, device):
    operands = [make(s, i, layout, device=device) for i, s in enumerate(shape_list)]
    assert gradcheck(lambda *xs: tinyrpn.einsum(spec, *xs), *operands)


@pytest.mark.parametrize(("spec", "shape_list"), EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_pytorch(spec, shape_list):
    torch = pytest.importorskip("torch")
    arrays = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shape_list)]
    ours_in = [tinyrpn.tensor(a, requires_grad=True) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours, theirs = tinyrpn.einsum(spec, *ours_in), torch.einsum(spec, *theirs_in)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    direction = np.random.default_rng(9).standard_normal(ours.shape)
    ours.backward(tinyrpn.tensor(direction))
    theirs.backward(torch.tensor(direction))
    for mine, ref in zip(ours_in, theirs_in):
        np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_einsum_takes_a_list_and_non_tensor_operands():
    a = tinyrpn.ones(2, 3, requires_grad=True)
    out = tinyrpn.einsum("ij,j->i", [a, np.arange(3.0)])
    np.testing.assert_array_equal(out.numpy(), [3, 3])
    assert out.dtype == np.float64  # an array keeps its dtype; both have dims: wider wins
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0, 1, 2], [0, 1, 2]])
    assert a.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("spec", "shape_list", "message"),
    [
        ("ij,jk->ik", [(2, 3), (4, 5)], "index 'j' has size 3 in one operand and 4"),
        ("ij->ik", [(2, 3)], "output index 'k' does not appear"),
        ("ij->ii", [(2, 2)], "output index 'i' is repeated"),
        ("ij,jk", [(2, 3)], "names 2 operands but 1 were given"),
        ("ijk", [(2, 3)], "has 2 dims but its subscripts 'ijk' name 3"),
        ("i1->i", [(2, 3)], "invalid subscripts"),
        ("ij->i->j", [(2, 3)], "invalid subscripts"),
    ],
)
def test_einsum_errors(spec, shape_list, message):
    with pytest.raises(ValueError, match=message):
        tinyrpn.einsum(spec, *[tinyrpn.zeros(*s) for s in shape_list])


def test_einsum_and_matmul_with_constant_operands():
    a = tinyrpn.randn(3, 4, requires_grad=True)
    b = tinyrpn.randn(4, 5)  # a constant: no gradient computed or stored for it
    tinyrpn.einsum("ij,jk->ik", a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.tile(b.numpy().sum(1), (3, 1)), rtol=1e-5)
    assert b.grad is None
    x = tinyrpn.randn(2, 3, 4)  # data in a batch, shared weight w
    w = tinyrpn.randn(4, 5, dtype="float32", requires_grad=True)
    (x @ w).sum().backward()
    expected = x.numpy().reshape(-1, 4).sum(0)[:, None].repeat(5, 1)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5)
    assert x.grad is None
