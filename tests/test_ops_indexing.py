"""Indexing by tensors (tinyrpn.ops.indexing): gather, scatter_add, masked_fill, one_hot,
embedding, sort, argsort, topk. Values and gradients against PyTorch, float64 gradients
against finite differences, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_oracle import compare_with_torch, leaf

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import gradcheck, nn


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def ints(low, high, shape, seed=1):
    return np.random.default_rng(seed).integers(low, high, shape)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_gather_matches_torch_and_gradchecks(dim):
    torch = pytest.importorskip("torch")
    x = arr(3, 4, 5)
    shape = [2, 3, 4]
    shape[dim] = 6  # the gathered dim may be longer than the input's
    index = ints(0, x.shape[dim], tuple(shape))
    compare_with_torch(lambda a, i: tinyrpn.gather(a, dim, i),
                       lambda a, i: torch.gather(a, dim, i), x, index)
    assert gradcheck(lambda a: a.gather(dim, tinyrpn.tensor(index)), leaf(x))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_matches_torch_and_gradchecks(dim):
    torch = pytest.importorskip("torch")
    x = arr(3, 4, 5)
    index = ints(0, x.shape[dim], (2, 3, 4))  # repeated indices accumulate
    src = arr(2, 3, 4, seed=2)
    compare_with_torch(lambda a, i, s: tinyrpn.scatter_add(a, dim, i, s),
                       lambda a, i, s: torch.scatter_add(a, dim, i, s), x, index, src)
    assert gradcheck(lambda a, s: a.scatter_add(dim, tinyrpn.tensor(index), s), leaf(x),
                     leaf(src))


def test_masked_fill_matches_torch_and_gradchecks():
    torch = pytest.importorskip("torch")
    x = arr(2, 3, 4)
    mask = np.random.default_rng(3).random((3, 4)) > 0.5  # broadcast over dim 0
    compare_with_torch(lambda a: a.masked_fill(tinyrpn.tensor(mask), -np.inf).exp(),
                       lambda a: a.masked_fill(torch.tensor(mask), -np.inf).exp(), x)
    compare_with_torch(lambda a, v: tinyrpn.masked_fill(a, tinyrpn.tensor(mask), v),
                       lambda a, v: torch.masked_fill(a, torch.tensor(mask), v), x,
                       np.array(1.5))
    assert gradcheck(lambda a, v: a.masked_fill(tinyrpn.tensor(mask), v), leaf(x),
                     leaf(np.array(0.5)))


def test_one_hot_matches_torch():
    torch = pytest.importorskip("torch")
    t = ints(0, 4, (3, 5))
    for n in (-1, 6):
        compare_with_torch(lambda a, n=n: F.one_hot(a, n),
                           lambda a, n=n: torch.nn.functional.one_hot(a, n), t)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch_with_ties(dim, descending):
    torch = pytest.importorskip("torch")
    x = np.round(arr(4, 6))  # ties: a stable sort keeps them in index order, as PyTorch's
    x[1, 2] = np.nan  # NaN sorts as the largest value
    compare_with_torch(lambda a: a.sort(dim, descending),
                       lambda a: torch.sort(a, dim=dim, descending=descending, stable=True), x)
    compare_with_torch(lambda a: tinyrpn.argsort(a, dim, descending) * 1.0 + a,
                       lambda a: torch.argsort(a, dim=dim, descending=descending,
                                               stable=True) * 1.0 + a, x)
    assert gradcheck(lambda a: tinyrpn.sort(a, dim, descending).values, leaf(arr(4, 6)))


@pytest.mark.parametrize("k, dim, largest", [(2, -1, True), (3, 0, False), (1, 1, True),
                                             (0, 1, True), (6, 1, False)])
def test_topk_matches_torch(k, dim, largest):
    torch = pytest.importorskip("torch")
    x = arr(4, 6)
    compare_with_torch(lambda a: a.topk(k, dim, largest),
                       lambda a: torch.topk(a, k, dim, largest), x)
    if k:
        assert gradcheck(lambda a: tinyrpn.topk(a, k, dim, largest).values, leaf(x))


def test_embedding_matches_torch_with_padding_idx():
    torch = pytest.importorskip("torch")
    w = arr(6, 3)
    index = np.array([[0, 2, 1, 5], [4, 0, 0, 2]])
    for padding_idx in (None, 0, -1):
        compare_with_torch(
            lambda a, i, p=padding_idx: F.embedding(i, a, padding_idx=p),
            lambda a, i, p=padding_idx: torch.nn.functional.embedding(i, a, padding_idx=p),
            w, index)
    assert gradcheck(lambda a: F.embedding(tinyrpn.tensor(index), a), leaf(w))


def test_embedding_module_follows_pytorch():
    tinyrpn.manual_seed(0)
    emb = nn.Embedding(10, 4, padding_idx=2)
    assert emb.weight.shape == (10, 4) and np.all(emb.weight.numpy()[2] == 0)
    out = emb(tinyrpn.tensor([[2, 3], [3, 9]]))
    out.sum().backward()
    assert out.shape == (2, 2, 4)
    np.testing.assert_array_equal(emb.weight.grad.numpy()[2], 0)  # never trained
    np.testing.assert_array_equal(emb.weight.grad.numpy()[3], 2)  # used twice
    frozen = nn.Embedding.from_pretrained(tinyrpn.tensor(arr(3, 2)))
    assert not frozen.weight.requires_grad and "padding_idx" not in repr(frozen)
    assert set(emb.state_dict()) == {"weight"}
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(3, 2, max_norm=1.0)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.gather(1, tinyrpn.tensor([[0, 5]])), IndexError, r"in \[0, 3\]"),
    (lambda x: x.gather(1, tinyrpn.tensor([0, 1])), ValueError, "same number of dims"),
    (lambda x: x.gather(1, tinyrpn.tensor([[0.0]])), TypeError, "integer tensor"),
    (lambda x: x.masked_fill(tinyrpn.tensor([1, 0, 1, 0]), 0.0), TypeError, "bool tensor"),
    (lambda x: x.masked_fill(tinyrpn.tensor([True, False]), 0.0), ValueError,
     "does not broadcast"),
    (lambda x: x.topk(5), ValueError, r"k must be an int in \[0, 4\]"),
    (lambda x: F.one_hot(tinyrpn.tensor([0, 3]), 3), ValueError, r"in \[0, 2\]"),
    (lambda x: F.one_hot(x, 3), TypeError, "integer tensor"),
    (lambda x: F.embedding(tinyrpn.tensor([7]), x), IndexError, r"in \[0, 2\]"),
])
def test_indexing_errors_name_the_problem(call, error, message):
    with pytest.raises(error, match=message):
        call(tinyrpn.tensor(arr(3, 4)))


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_numba_matches_twin(dim, dtype):
    from tinyrpn.kernels import gather as kgather

    x = arr(3, 4, 5).astype(dtype)
    shape = [3, 4, 5]
    shape[dim] = 7
    index = ints(0, x.shape[dim], tuple(shape))
    np.testing.assert_array_equal(kgather.gather_forward(x, index, dim),
                                  kgather.gather_forward_xp(x, index, dim))
    d = arr(*shape, seed=4).astype(dtype)
    np.testing.assert_allclose(kgather.gather_backward(d, index, dim, x.shape),
                               kgather.gather_backward_xp(d, index, dim, x.shape), rtol=1e-6)


def test_gather_without_numba_matches_torch(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("TINYRPN_NUMBA", "0")
    x, index = arr(3, 4), ints(0, 4, (3, 6))
    compare_with_torch(lambda a, i: a.gather(1, i), lambda a, i: a.gather(1, i), x, index)
