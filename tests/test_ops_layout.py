"""Layout ops (tinyrpn.ops.layout): flip, tril/triu, repeat, repeat_interleave,
index_select, unflatten, diagonal, unfold, split, chunk, meshgrid. Values and gradients
against PyTorch, float64 gradients against finite differences, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_oracle import compare_with_torch, leaf

import tinyrpn
from tinyrpn import gradcheck


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def stacked(pieces):
    """A tuple of tensors as one (for gradient checks of split, chunk, meshgrid)."""
    return tinyrpn.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(pieces)])


def torch_stacked(pieces):
    import torch

    return torch.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(pieces)])


@pytest.mark.parametrize("name, ours, theirs", [
    ("flip", lambda a: a.flip(0, 2), lambda a: a.flip(0, 2)),
    ("flip-1", lambda a: tinyrpn.flip(a, -1), None),
    ("tril", lambda a: a.tril(), None),
    ("tril1", lambda a: tinyrpn.tril(a, 1), None),
    ("triu-1", lambda a: tinyrpn.triu(a, -1), None),
    ("triu2", lambda a: a.triu(2), None),
    ("repeat", lambda a: a.repeat(2, 1, 3), None),
    ("repeat+dim", lambda a: a.repeat(2, 1, 1, 2), None),
    ("ri", lambda a: a.repeat_interleave(2, 1), None),
    ("ri-flat", lambda a: tinyrpn.repeat_interleave(a, 3), None),
    ("index_select", lambda a: a.index_select(2, [3, 0, 3]), None),
    ("unflatten", lambda a: a.unflatten(2, (2, -1)), None),
    ("diagonal", lambda a: a.diagonal(), None),
    ("diagonal1", lambda a: tinyrpn.diagonal(a, 1, 2, 1), None),
    ("diagonal-2", lambda a: a.diagonal(-2, -1, -2), None),
    ("unfold", lambda a: a.unfold(2, 2, 1), None),
    ("unfold-step", lambda a: a.unfold(1, 2, 2), None),
])
def test_layout_ops_match_torch_and_gradcheck(name, ours, theirs):
    torch = pytest.importorskip("torch")
    x = arr(2, 3, 4)
    torch_versions = {
        "flip-1": lambda a: torch.flip(a, (-1,)),
        "tril": lambda a: a.tril(), "tril1": lambda a: torch.tril(a, 1),
        "triu-1": lambda a: torch.triu(a, -1), "triu2": lambda a: a.triu(2),
        "repeat": lambda a: a.repeat(2, 1, 3), "repeat+dim": lambda a: a.repeat(2, 1, 1, 2),
        "ri": lambda a: a.repeat_interleave(2, 1),
        "ri-flat": lambda a: torch.repeat_interleave(a, 3),
        "index_select": lambda a: a.index_select(2, torch.tensor([3, 0, 3])),
        "unflatten": lambda a: a.unflatten(2, (2, -1)),
        "diagonal": lambda a: a.diagonal(), "diagonal1": lambda a: torch.diagonal(a, 1, 2, 1),
        "diagonal-2": lambda a: a.diagonal(-2, -1, -2),
        "unfold": lambda a: a.unfold(2, 2, 1), "unfold-step": lambda a: a.unfold(1, 2, 2),
    }
    compare_with_torch(ours, theirs or torch_versions[name], x)
    assert gradcheck(ours, leaf(x))


def test_repeat_interleave_with_counts_matches_torch():
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda a: a.repeat_interleave(tinyrpn.tensor([1, 0, 2]), 0),
                       lambda a: a.repeat_interleave(torch.tensor([1, 0, 2]), 0), arr(3, 2))
    assert gradcheck(lambda a: a.repeat_interleave(tinyrpn.tensor([1, 0, 2]), 0),
                     leaf(arr(3, 2)))


@pytest.mark.parametrize("how", [2, [1, 3], [4, 0]])
def test_split_matches_torch(how):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda a: a.split(how, 1), lambda a: a.split(how, 1), arr(3, 4))
    compare_with_torch(lambda a: stacked(tinyrpn.split(a, how, 1)),
                       lambda a: torch_stacked(torch.split(a, how, 1)), arr(3, 4))


@pytest.mark.parametrize("chunks, dim", [(2, 0), (3, 1), (4, 1), (6, 0)])
def test_chunk_matches_torch(chunks, dim):
    torch = pytest.importorskip("torch")
    x = arr(5, 4)
    compare_with_torch(lambda a: a.chunk(chunks, dim), lambda a: a.chunk(chunks, dim), x)
    compare_with_torch(lambda a: stacked(tinyrpn.chunk(a, chunks, dim)),
                       lambda a: torch_stacked(torch.chunk(a, chunks, dim)), x)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_torch(indexing):
    torch = pytest.importorskip("torch")
    a, b, c = arr(3), arr(2, seed=1), arr(4, seed=2)
    compare_with_torch(lambda *t: tinyrpn.meshgrid(*t, indexing=indexing),
                       lambda *t: torch.meshgrid(*t, indexing=indexing), a, b, c)
    compare_with_torch(lambda *t: stacked(tinyrpn.meshgrid(*t, indexing=indexing)),
                       lambda *t: torch_stacked(torch.meshgrid(*t, indexing=indexing)), a, b)
    assert gradcheck(lambda x, y: stacked(tinyrpn.meshgrid(x, y, indexing=indexing)),
                     leaf(a), leaf(b))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.repeat(2), ValueError, "give at least 2"),
    (lambda x: x.tril()[0].tril(), ValueError, "at least 2 dims"),
    (lambda x: x.unflatten(1, (3, 2)), ValueError, "do not multiply"),
    (lambda x: x.diagonal(0, 1, 1), ValueError, "must differ"),
    (lambda x: x.unfold(1, 5, 1), ValueError, "size <= 4"),
    (lambda x: x.split([1, 1], 0), ValueError, "add up to"),
    (lambda x: x.chunk(0), ValueError, "chunks must be >= 1"),
    (lambda x: x.repeat_interleave(tinyrpn.tensor([1, 2]), 0), ValueError, "3 counts"),
    (lambda x: x.index_select(1, [4]), IndexError, r"in \[0, 3\]"),
    (lambda x: tinyrpn.meshgrid(x, x), ValueError, "0-D or 1-D"),
    (lambda x: x.flip(2), IndexError, "out of range"),
])
def test_layout_errors_name_the_problem(call, error, message):
    with pytest.raises(error, match=message):
        call(tinyrpn.tensor(arr(3, 4)))
