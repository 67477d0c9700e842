"""Data expansions: values against independent NumPy definitions, output sizes, gradients
(float64), post-processing, and the memory rule for the raw expansion."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck
from tinyrpn.nn import LayerNorm
from tinyrpn.rpn import (
    BSplineExpansion,
    ChebyshevExpansion,
    GaussianRBFExpansion,
    IdentityExpansion,
    Postprocess,
    TaylorExpansion,
)
from tinyrpn.rpn.expansion import taylor_reference


def _x(shape, seed=0, low=-1.0, high=1.0, requires_grad=False, device="cpu"):
    data = np.random.default_rng(seed).uniform(low, high, shape)
    return tinyrpn.tensor(data, requires_grad=requires_grad, dtype="float64", device=device)


# ----------------------------------------------------------------------------- Taylor


def test_taylor2_layout_is_x_then_all_products_row_major():
    x = _x((3, 4))
    z = TaylorExpansion(d=2)(x).numpy()
    m = 4
    assert z.shape == (3, m + m * m)
    xs = x.numpy()
    for b in range(3):
        np.testing.assert_allclose(z[b, :m], xs[b])
        for a in range(m):
            for c in range(m):
                assert z[b, m + a * m + c] == pytest.approx(xs[b, a] * xs[b, c], rel=1e-14)


def test_taylor_output_dim():
    assert TaylorExpansion(d=2).output_dim(784) == 615440
    assert TaylorExpansion(d=2).output_dim(64) == 4160
    assert TaylorExpansion(d=1).output_dim(7) == 7
    assert TaylorExpansion(d=3).output_dim(5) == 5 + 25 + 125


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_taylor_any_degree_matches_repeated_outer_products(d):
    m = 3
    x = _x((2, m), seed=d)
    z = TaylorExpansion(d=d)(x).numpy()
    expected, power = [x.numpy()], x.numpy()
    for _ in range(2, d + 1):
        power = np.einsum("bi,bj->bij", power, x.numpy()).reshape(2, -1)
        expected.append(power)
    np.testing.assert_allclose(z, np.concatenate(expected, axis=1), rtol=1e-13)
    assert z.shape[1] == TaylorExpansion(d=d).output_dim(m)
    # degree 3 block: position (a, b, c) -> a*m*m + b*m + c
    if d >= 3:
        xs = x.numpy()
        block = z[:, m + m * m: m + m * m + m ** 3]
        assert block[1, 2 * 9 + 0 * 3 + 1] == pytest.approx(xs[1, 2] * xs[1, 0] * xs[1, 1])


def test_taylor2_kernel_path_agrees_with_the_composed_ops_in_float32():
    x = tinyrpn.tensor(np.random.default_rng(1).standard_normal((5, 17)).astype(np.float32))
    fast = TaylorExpansion(d=2)(x)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast.numpy(), taylor_reference(x, 2).numpy(), rtol=1e-6)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_taylor_gradcheck(d, device):
    x = _x((3, 4), seed=10 + d, requires_grad=True, device=device)
    assert gradcheck(lambda x: TaylorExpansion(d=d)(x), x)


def test_taylor_rejects_bad_degree_and_bad_input():
    with pytest.raises(ValueError, match="d must be a positive integer"):
        TaylorExpansion(d=0)
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, m\)"):
        TaylorExpansion(d=2)(tinyrpn.randn(3, 4, 5))


# ----------------------------------------------------------------------------- others


def test_identity_expansion():
    x = _x((2, 5))
    assert IdentityExpansion()(x) is x
    assert IdentityExpansion().output_dim(5) == 5


def test_chebyshev_values_drop_t0_and_are_feature_major():
    d, m = 5, 3
    x = _x((4, m), seed=3)
    z = ChebyshevExpansion(d=d)(x).numpy()
    assert z.shape == (4, m * d) and ChebyshevExpansion(d=d).output_dim(m) == m * d
    xs = x.numpy()
    for i in range(m):
        for k in range(1, d + 1):
            # T_k(cos θ) = cos(kθ) on [-1, 1]
            np.testing.assert_allclose(z[:, i * d + k - 1], np.cos(k * np.arccos(xs[:, i])),
                                       atol=1e-12)


def test_chebyshev_gradcheck(device):
    x = _x((2, 3), seed=4, requires_grad=True, device=device)
    assert gradcheck(lambda x: ChebyshevExpansion(d=4)(x), x)


def test_gaussian_rbf_values_and_gradcheck(device):
    centers = [-0.5, 0.0, 0.7]
    x = _x((3, 2), seed=5, requires_grad=True, device=device)
    rbf = GaussianRBFExpansion(centers=centers, sigma=0.4).to(device)
    z = rbf(x).numpy()
    assert z.shape == (3, 6) and rbf.output_dim(2) == 6
    xs = x.numpy()
    for i in range(2):
        for k, c in enumerate(centers):
            np.testing.assert_allclose(z[:, i * 3 + k], np.exp(-((xs[:, i] - c) / 0.4) ** 2))
    assert gradcheck(lambda x: rbf(x), x)
    evenly = GaussianRBFExpansion(centers=5, base_range=(-2, 2))
    np.testing.assert_allclose(evenly.centers, [-2, -1, 0, 1, 2])


def test_bspline_partition_of_unity_inside_the_grid_and_gradcheck(device):
    spline = BSplineExpansion(grid_range=(-1, 1), t=5, d=3).to(device)
    assert spline.output_dim(4) == 4 * 8
    x = _x((6, 4), seed=6, low=-0.99, high=0.99, requires_grad=True, device=device)
    z = spline(x).numpy().reshape(6, 4, 8)
    assert np.all(z >= -1e-12)
    np.testing.assert_allclose(z.sum(axis=2), 1.0, atol=1e-12)
    assert gradcheck(lambda x: spline(x), x)


def test_bspline_degree_one_is_the_hat_function():
    spline = BSplineExpansion(grid_range=(0, 1), t=2, d=1)  # knots -0.5, 0, 0.5, 1, 1.5
    # hats peaking at 0, 0.5 and 1, each half a unit wide
    z = spline(tinyrpn.tensor([[0.25], [0.6]], dtype="float64")).numpy()
    np.testing.assert_allclose(z, [[0.5, 0.5, 0.0], [0.0, 0.8, 0.2]], atol=1e-15)


# ----------------------------------------------------------------------------- post-processing


def test_layer_norm_postprocess_normalises_each_sample_over_all_features():
    x = _x((4, 6), seed=7)
    z = TaylorExpansion(d=2, postprocess="layer_norm")(x).numpy()
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-12)
    raw_var = taylor_reference(x, 2).numpy().var(axis=1)
    np.testing.assert_allclose(z.var(axis=1), raw_var / (raw_var + 1e-5), rtol=1e-10)


def test_postprocess_chain_gradcheck_with_affine_layer_norm_module(device):
    m = 3
    ln = LayerNorm(12, elementwise_affine=True).double()
    with tinyrpn.no_grad():
        ln.weight.copy_(np.linspace(0.5, 1.5, 12))
        ln.bias.copy_(np.linspace(-0.2, 0.3, 12))
    expansion = TaylorExpansion(d=2, postprocess=[ln, "tanh"]).to(device)
    x = _x((3, m), seed=8, requires_grad=True, device=device)
    assert gradcheck(lambda x: expansion(x), x)
    assert {name for name, _ in expansion.named_parameters()} == {
        "postprocess.0.weight", "postprocess.0.bias"}


def _held_after_forward(postprocess, shape=(16, 60)):
    """Bytes still allocated after a forward pass whose graph is kept alive."""
    x = _x(shape, seed=9, requires_grad=True)
    expansion = TaylorExpansion(d=2, postprocess=postprocess)
    expansion(x)  # first call: imports and compiled kernels, not to be counted
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    out = expansion(x)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert out.requires_grad
    return held


def test_raw_expansion_is_freed_when_no_backward_reads_it():
    """Taylor2's backward reads x, LayerNorm's reads its output: the N × D raw expansion
    is needed by nobody, so only about one N × D array may outlive the forward pass."""
    copy = 16 * (60 + 60 * 60) * 8
    held = _held_after_forward("layer_norm")
    assert 0.9 * copy < held < 1.5 * copy, f"{held / copy:.2f} copies held"
    x = _x((3, 4), seed=9, requires_grad=True)
    assert gradcheck(lambda x: TaylorExpansion(d=2, postprocess="layer_norm")(x), x)


def test_raw_expansion_is_kept_when_a_postprocess_reads_its_input():
    def square(z):
        return z * z  # Mul's backward reads its inputs

    copy = 16 * (60 + 60 * 60) * 8
    held = _held_after_forward(square)
    assert 1.9 * copy < held < 2.5 * copy, f"{held / copy:.2f} copies held"
    x = _x((3, 4), seed=10, requires_grad=True)
    assert gradcheck(lambda x: TaylorExpansion(d=2, postprocess=square)(x), x)


def test_postprocess_errors_and_repr():
    with pytest.raises(ValueError, match="unknown post-processing 'layernorm'.*layer_norm"):
        TaylorExpansion(d=2, postprocess="layernorm")
    with pytest.raises(TypeError, match="neither a Module"):
        TaylorExpansion(d=2, postprocess=3)
    assert repr(TaylorExpansion(d=2, postprocess="layer_norm")) == (
        "TaylorExpansion(d=2, postprocess=[layer_norm(eps=1e-05)])")
    assert repr(Postprocess("relu")) == "relu"


# ----------------------------------------------------------------------------- contract


@pytest.mark.parametrize("postprocess", [None, "layer_norm"])
def test_taylor2_contract_matches_the_expansion_times_m_and_gradchecks(postprocess, device):
    """Without post-processing the fused Taylor2Contract runs; with it, the base class."""
    rng = np.random.default_rng(20)
    expansion = TaylorExpansion(2, postprocess=postprocess)
    x = tinyrpn.tensor(rng.standard_normal((3, 4)), requires_grad=True, device=device)  # D=20
    M = tinyrpn.tensor(rng.standard_normal((5, 2)), requires_grad=True, device=device)
    expected = expansion(x).numpy().reshape(3, 4, 5) @ M.numpy()
    np.testing.assert_allclose(expansion.contract(x, M).numpy(), expected, rtol=1e-12,
                               atol=1e-12)
    assert gradcheck(lambda x, M: expansion.contract(x, M), x, M)


def test_contract_errors_name_the_shapes():
    x = tinyrpn.randn(2, 3)  # D = 12
    with pytest.raises(ValueError, match=r"TaylorExpansion.contract: .* L dividing D = m \+ m²"):
        TaylorExpansion(2).contract(x, tinyrpn.randn(5, 1))
    with pytest.raises(ValueError, match=r"ChebyshevExpansion.contract: M must be \(L, r\) "
                                         r"with L dividing D=6"):
        ChebyshevExpansion(2).contract(x, tinyrpn.randn(4, 1))


def test_contract_dense_is_offered_by_plain_degree_2_taylor_only():
    x = tinyrpn.randn(2, 3)  # D = 12
    w = tinyrpn.randn(2 * 12)
    expected = TaylorExpansion(2)(x).numpy() @ w.numpy().reshape(2, 12).T
    np.testing.assert_allclose(TaylorExpansion(2).contract_dense(x, w, 2).numpy(), expected,
                               rtol=1e-5, atol=1e-6)
    for other in (TaylorExpansion(3), TaylorExpansion(2, postprocess="layer_norm"),
                  ChebyshevExpansion(2)):
        assert other.contract_dense(x, w, 2) is None, other


def test_contract_dense_error_names_the_shapes():
    with pytest.raises(ValueError, match=r"TaylorExpansion.contract_dense: expected x of shape "
                                         r"\(N, m\) and w of length n·D = 2·\(m \+ m²\), got x "
                                         r"\(2, 3\) and w \(23,\)"):
        TaylorExpansion(2).contract_dense(tinyrpn.randn(2, 3), tinyrpn.randn(23), 2)
    with pytest.raises(ValueError, match=r"got x \(6,\)"):
        TaylorExpansion(2).contract_dense(tinyrpn.randn(6), tinyrpn.randn(24), 2)
