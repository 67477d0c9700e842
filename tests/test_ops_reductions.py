"""Cumulative and log-domain reductions (tinyrpn.ops.reductions): cumsum, cumprod,
cummax/cummin, logsumexp, logcumsumexp, std_mean/var_mean, any/all over dims. Values and
gradients against PyTorch, float64 gradients against finite differences, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from op_oracle import compare_with_torch, leaf

import tinyrpn
from tinyrpn import gradcheck


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_matches_torch(dim):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda a: a.cumsum(dim), lambda a: a.cumsum(dim), arr(3, 5))
    assert gradcheck(lambda a: tinyrpn.cumsum(a, dim), leaf(arr(3, 5)))
    ints = np.arange(6).reshape(2, 3)
    compare_with_torch(lambda a: tinyrpn.cumsum(a, 1), lambda a: torch.cumsum(a, 1), ints)
    compare_with_torch(lambda a: tinyrpn.cumsum(a > 2, 1), lambda a: torch.cumsum(a > 2, 1),
                       ints)


@pytest.mark.parametrize("zeros", [(), ((0, 2),), ((1, 0), (1, 3)), ((2, 4),)])
@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_gradient_is_exact_with_zeros(zeros, dim):
    pytest.importorskip("torch")
    x = arr(3, 5)
    for position in zeros:
        x[position] = 0.0
    compare_with_torch(lambda a: a.cumprod(dim), lambda a: a.cumprod(dim), x)
    assert gradcheck(lambda a: tinyrpn.cumprod(a, dim), leaf(x))


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cummax_cummin_match_torch_with_ties_and_nan(op, dim):
    torch = pytest.importorskip("torch")
    x = np.round(arr(4, 6))  # ties: PyTorch reports (and routes the gradient to) the later
    compare_with_torch(lambda a: getattr(a, op)(dim), lambda a: getattr(torch, op)(a, dim), x)
    x[1, 2] = x[3, 0] = np.nan
    compare_with_torch(lambda a: getattr(tinyrpn, op)(a, dim),
                       lambda a: getattr(torch, op)(a, dim), x)
    assert gradcheck(lambda a: getattr(tinyrpn, op)(a, dim).values, leaf(arr(4, 6)))


@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, True), ((0, 1), False),
                                          (-1, False)])
def test_logsumexp_matches_torch(dim, keepdim):
    torch = pytest.importorskip("torch")
    x = arr(3, 4) * 50  # large values: the naive formula overflows
    compare_with_torch(lambda a: a.logsumexp(dim, keepdim),
                       lambda a: torch.logsumexp(a, dim, keepdim), x)
    assert gradcheck(lambda a: tinyrpn.logsumexp(a, dim, keepdim), leaf(arr(3, 4)))
    x[0] = -np.inf  # a row of -inf gives -inf (not nan)
    compare_with_torch(lambda a: tinyrpn.logsumexp(a, 1), lambda a: torch.logsumexp(a, 1), x)


@pytest.mark.parametrize("dim", [0, 1])
def test_logcumsumexp_matches_torch(dim):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda a: a.logcumsumexp(dim), lambda a: torch.logcumsumexp(a, dim),
                       arr(4, 5) * 40)
    assert gradcheck(lambda a: tinyrpn.logcumsumexp(a, dim), leaf(arr(4, 5)))


@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": (0, 2), "keepdim": True},
                                    {"dim": 0, "correction": 0}, {"unbiased": False}])
def test_std_mean_and_var_mean_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    x = arr(3, 4, 2)
    compare_with_torch(lambda a: tinyrpn.std_mean(a, **kwargs),
                       lambda a: torch.std_mean(a, **kwargs), x)
    compare_with_torch(lambda a: tinyrpn.var_mean(a, **kwargs)[::-1],
                       lambda a: torch.var_mean(a, **kwargs)[::-1], x)
    assert gradcheck(lambda a: tinyrpn.std_mean(a, **kwargs)[0], leaf(x))


@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), ((0, 1), True)])
def test_any_all_over_dims_match_torch(dim, keepdim):
    torch = pytest.importorskip("torch")
    x = np.array([[0, 1, 0], [0, 0, 0]])
    for op in ("any", "all"):
        ours = getattr(tinyrpn.tensor(x), op)(dim, keepdim) if dim is not None else getattr(
            tinyrpn.tensor(x), op)()
        theirs = getattr(torch.tensor(x), op)(dim, keepdim) if dim is not None else getattr(
            torch.tensor(x), op)()
        assert ours.dtype == np.bool_
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_zero_dim_inputs():
    x = tinyrpn.tensor(2.0, requires_grad=True)
    assert tinyrpn.cumsum(x, 0).item() == 2.0 and tinyrpn.cumprod(x, -1).item() == 2.0
    values, indices = tinyrpn.cummax(x, 0)
    assert values.item() == 2.0 and indices.item() == 0
    assert abs(tinyrpn.logcumsumexp(x, 0).item() - 2.0) < 1e-6


def test_reduction_errors_name_the_problem():
    x = tinyrpn.tensor(arr(2, 3))
    with pytest.raises(IndexError, match="out of range"):
        x.cumsum(2)
    with pytest.raises(TypeError, match="dim must be an int"):
        x.cummax((0, 1))
