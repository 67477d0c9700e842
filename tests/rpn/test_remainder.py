"""Remainders: values, gradients, initialisation, dimension errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck
from tinyrpn.rpn import (
    IdentityReconciliation,
    IdentityRemainder,
    LinearRemainder,
    RPNHead,
    TaylorExpansion,
    ZeroRemainder,
)


def test_zero_remainder_is_zero_and_skipped_by_the_head(device):
    pi = ZeroRemainder()
    pi.bind(3, 5)
    out = pi(tinyrpn.randn(4, 3, device=device))
    assert out.shape == (4, 5) and not out.detach().numpy().any() and out.device == device
    assert pi.is_zero
    head = RPNHead(3, 5, TaylorExpansion(d=2), IdentityReconciliation(5, 12))
    assert isinstance(head.remainder, ZeroRemainder)
    assert head.num_parameters() == 60


def test_identity_remainder_returns_x_and_needs_m_equal_n():
    x = tinyrpn.randn(2, 4)
    assert IdentityRemainder()(x) is x
    with pytest.raises(ValueError, match="needs m == n, got m=4, n=3.*LinearRemainder"):
        IdentityRemainder(4, 3)
    with pytest.raises(ValueError, match="needs m == n, got m=4, n=3"):
        RPNHead(4, 3, TaylorExpansion(d=1), IdentityReconciliation(3, 4), IdentityRemainder())


def test_identity_remainder_adds_x_in_a_head(device):
    tinyrpn.manual_seed(0)
    head = RPNHead(3, 3, TaylorExpansion(d=2), IdentityReconciliation(3, 12),
                   IdentityRemainder()).to(device)
    x = tinyrpn.randn(5, 3, device=device)
    expected = head.reconciliation(head.expansion(x)).detach().numpy() + x.detach().numpy()
    # (atol: the head multiplies through [1, x] ⊗ x, summing in another order in float32)
    np.testing.assert_allclose(head(x).detach().numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bias", [False, True])
def test_linear_remainder_values_gradients_and_init(bias):
    tinyrpn.manual_seed(1)
    m, n = 40, 24
    pi = LinearRemainder(m, n, bias=bias)
    assert pi.weight.shape == (n, m)
    assert (pi.bias is not None) == bias
    bound = math.sqrt(6 / (m + n))
    assert np.abs(pi.weight.detach().numpy()).max() <= bound
    assert np.abs(pi.weight.detach().numpy()).max() > 0.9 * bound
    x = tinyrpn.randn(3, m)
    expected = x.detach().numpy() @ pi.weight.detach().numpy().T
    if bias:
        assert np.abs(pi.bias.detach().numpy()).max() <= math.sqrt(6 / (n + 1))
        expected = expected + pi.bias.detach().numpy()
    np.testing.assert_allclose(pi(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)

    small = LinearRemainder(3, 2, bias=bias).double()
    xs = tinyrpn.tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda x: small(x), xs)
    # the parameters' gradients: y = x Wᵀ + b, so dW = gᵀ x and db = Σ g
    g = np.random.default_rng(3).standard_normal((4, 2))
    small.zero_grad()  # gradcheck's own backward pass reached the parameters too
    (small(xs) * tinyrpn.tensor(g)).sum().backward()
    np.testing.assert_allclose(small.weight.grad.numpy(), g.T @ xs.detach().numpy(), rtol=1e-12)
    if bias:
        np.testing.assert_allclose(small.bias.grad.numpy(), g.sum(axis=0), rtol=1e-12)


def test_linear_remainder_dimension_mismatch_with_head():
    with pytest.raises(ValueError, match="built with m=5, but the head it is given to has m=3"):
        RPNHead(3, 2, TaylorExpansion(d=1), IdentityReconciliation(2, 3), LinearRemainder(5, 2))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        LinearRemainder(3, 0)
