"""Parameter reconciliations: layouts of w, W(w) against NumPy references, rec(z) against
z @ matrix().T, gradients in float64, parameter counts, initialisation, errors."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck
from tinyrpn.rpn import (
    DualLPHMReconciliation,
    HMReconciliation,
    IdentityReconciliation,
    LorrReconciliation,
    LPHMReconciliation,
)

# (n, D, p, q): p, q, s = n/p, t = D/q all different.
#   (6, 20, 2, 5): s=3, t=4, st=12 does not divide D=20  -> tinybig's general (padded) path
#   (6, 24, 3, 4): s=2, t=6, st=12 divides D=24 (c=2)     -> tinybig's block path
#   (10, 21, 5, 7): s=2, t=3, st=6 does not divide 21; the rows have 2 distinct offsets
SHAPES = [(6, 20, 2, 5), (6, 24, 3, 4), (10, 21, 5, 7)]
R = 2


def _family(n, D, p, q, layout):
    return [
        HMReconciliation(n, D, p=p, q=q, layout=layout),
        LPHMReconciliation(n, D, p=p, q=q, r=R, layout=layout),
        DualLPHMReconciliation(n, D, p=p, q=q, r=R, layout=layout),
    ]


def _all_cases(shapes):
    """(id, maker) for identity and lorr at each (n, D), and every Kronecker-family
    reconciliation in both layouts at each (n, D, p, q)."""
    cases = []
    for n, D in dict.fromkeys((n, D) for n, D, _, _ in shapes):
        cases.append((f"identity-{n}x{D}", lambda n=n, D=D: IdentityReconciliation(n, D)))
        cases.append((f"lorr-{n}x{D}", lambda n=n, D=D: LorrReconciliation(n, D, r=R)))
    for n, D, p, q in shapes:
        for layout in ("kron", "tinybig"):
            for i, name in enumerate(("hm", "lphm", "dual_lphm")):
                cases.append((f"{name}-{layout}-{n}x{D}-p{p}q{q}",
                              lambda n=n, D=D, p=p, q=q, layout=layout, i=i:
                              _family(n, D, p, q, layout)[i]))
    return cases


CASES = _all_cases(SHAPES)
IDS = [c[0] for c in CASES]
MAKERS = [c[1] for c in CASES]


def _dense_reference(rec) -> np.ndarray:
    """W built in NumPy, straight from the layout of w in docs/EXPERIMENTS.md §1–2."""
    w = rec.w.detach().numpy().astype(np.float64)
    n, D = rec.n, rec.D
    if isinstance(rec, IdentityReconciliation):
        return w.reshape(n, D)
    if isinstance(rec, LorrReconciliation):
        r = rec.r
        A, B = w[:n * r].reshape(n, r), w[n * r:].reshape(D, r)
        assert w.size == r * (n + D)
        return A @ B.T
    p, q, s, t = rec.p, rec.q, rec.s, rec.t
    assert (p * s, q * t) == (n, D)
    cuts = np.cumsum([rows * cols for rows, cols in rec._shapes(p, q, s, t, rec.r)])[:-1]
    parts = np.split(w, cuts)
    if isinstance(rec, HMReconciliation):
        A, B = parts[0].reshape(p, q), parts[1].reshape(s, t)
    elif isinstance(rec, LPHMReconciliation):
        r = rec.r
        A = parts[0].reshape(p, q)
        B = parts[1].reshape(s, r) @ parts[2].reshape(t, r).T
    else:
        r = rec.r
        A = parts[0].reshape(p, r) @ parts[1].reshape(q, r).T
        B = parts[2].reshape(s, r) @ parts[3].reshape(t, r).T
    if rec.layout == "kron":
        return np.kron(A, B)
    return np.outer(A.reshape(-1), B.reshape(-1)).reshape(n, D)


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_matrix_matches_numpy_reference_of_the_documented_layout(make):
    tinyrpn.manual_seed(0)
    rec = make()
    np.testing.assert_allclose(rec.matrix().detach().numpy(), _dense_reference(rec), rtol=1e-5,
                               atol=1e-7)
    assert rec.matrix().shape == (rec.n, rec.D)


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_forward_equals_z_times_matrix_transposed(make, device):
    tinyrpn.manual_seed(1)
    rec = make().double().to(device)
    z = tinyrpn.tensor(np.random.default_rng(2).standard_normal((5, rec.D)), device=device)
    expected = z.detach().numpy() @ rec.matrix().detach().numpy().T
    np.testing.assert_allclose(rec(z).detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    # float32 as used in training
    rec32 = make().to(device)
    z32 = tinyrpn.tensor(z.detach().numpy().astype(np.float32), device=device)
    np.testing.assert_allclose(rec32(z32).detach().numpy(),
                               z32.numpy() @ rec32.matrix().detach().numpy().T, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_gradcheck_forward_and_matrix_wrt_z_and_w(make, device):
    tinyrpn.manual_seed(3)
    rec = make().to(device)
    z = tinyrpn.tensor(np.random.default_rng(4).standard_normal((3, rec.D)),
                       requires_grad=True, device=device)
    w = rec.w.detach().requires_grad_(True)
    assert gradcheck(lambda z, w: rec(z, w), z, w)
    assert gradcheck(lambda w: rec.matrix(w), w)


@pytest.mark.parametrize("make", MAKERS, ids=IDS)
def test_forward_and_matrix_paths_give_the_same_gradient(make):
    tinyrpn.manual_seed(5)
    rec = make().double()
    rng = np.random.default_rng(6)
    z = tinyrpn.tensor(rng.standard_normal((4, rec.D)), requires_grad=True)
    g = rng.standard_normal((4, rec.n))
    (rec(z) * tinyrpn.tensor(g)).sum().backward()
    grad_w_forward, grad_z_forward = rec.w.grad.numpy(), z.grad.numpy()
    rec.zero_grad()
    z.grad = None
    ((z @ rec.matrix().T) * tinyrpn.tensor(g)).sum().backward()
    np.testing.assert_allclose(grad_w_forward, rec.w.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_z_forward, z.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_no_gradient_is_computed_for_an_input_that_needs_none():
    rec = IdentityReconciliation(3, 5)
    z = tinyrpn.randn(4, 5)  # requires_grad False, as the expansion of raw pixels
    rec(z).sum().backward()
    assert z.grad is None
    np.testing.assert_allclose(rec.w.grad.numpy().reshape(3, 5),
                               np.ones((4, 3)).T @ z.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("n, D", [(6, 20), (64, 4160), (10, 4160), (64, 615440)])
def test_parameter_count_formulas(n, D):
    assert IdentityReconciliation.parameter_count(n, D) == n * D
    for r in (1, 2, 5):
        assert LorrReconciliation.parameter_count(n, D, r=r) == r * (n + D)
    for p in (1, 2):
        for q in [d for d in (1, 2, 4, 5, 8, 16, 64, 784) if D % d == 0][:3]:
            s, t = n // p, D // q
            assert HMReconciliation.parameter_count(n, D, p, q) == p * q + s * t
            assert LPHMReconciliation.parameter_count(n, D, p, q, r=3) == p * q + 3 * (s + t)
            assert DualLPHMReconciliation.parameter_count(n, D, p, q, r=3) == 3 * (
                p + q + s + t)


def test_parameter_count_matches_the_parameter_vector():
    for rec in [IdentityReconciliation(6, 20), LorrReconciliation(6, 20, r=3),
                HMReconciliation(6, 20, p=2, q=5), LPHMReconciliation(6, 20, p=2, q=5, r=3),
                DualLPHMReconciliation(6, 20, p=2, q=5, r=3)]:
        assert rec.w.shape == (rec.l,)
        assert rec.num_parameters() == rec.l
        assert [name for name, _ in rec.named_parameters()] == ["w"]


def test_dual_lphm_counts_of_the_reference_model():
    assert DualLPHMReconciliation.parameter_count(64, 615440, p=8, q=784, r=5) == 7925
    assert DualLPHMReconciliation.parameter_count(64, 4160, p=8, q=64, r=5) == 725
    assert DualLPHMReconciliation.parameter_count(10, 4160, p=2, q=64, r=5) == 680
    rec = DualLPHMReconciliation(64, 615440, p=8, q=784, r=5)
    assert (rec.s, rec.t, rec.l) == (8, 785, 7925)


def test_q_defaults_to_p_as_in_tinybig():
    rec = HMReconciliation(4, 8, p=2)
    assert (rec.p, rec.q, rec.s, rec.t) == (2, 2, 2, 4)


def test_initialisation_is_xavier_uniform_on_a_1_by_l_tensor_and_seeded():
    tinyrpn.manual_seed(1234)
    rec = IdentityReconciliation(64, 4160)
    bound = math.sqrt(6 / (rec.l + 1))
    w = rec.w.detach().numpy()
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound          # the whole range is used
    assert abs(w.mean()) < 0.01 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    tinyrpn.manual_seed(1234)
    np.testing.assert_array_equal(IdentityReconciliation(64, 4160).w.detach().numpy(), w)
    tinyrpn.manual_seed(1235)
    assert not np.array_equal(IdentityReconciliation(64, 4160).w.detach().numpy(), w)
    # docs/EXPERIMENTS.md: 3.90e-4 for layer 1's identity W
    assert abs(math.sqrt(6 / (64 * 615440 + 1)) - 3.90e-4) < 5e-7


def test_divisibility_errors_name_the_numbers_and_list_valid_divisors():
    with pytest.raises(ValueError, match=r"p = 3 does not divide n = 64.*1, 2, 4, 8, 16, 32, 64"):
        DualLPHMReconciliation(64, 4160, p=3, q=64)
    with pytest.raises(ValueError, match=r"q = 7 does not divide D = 20.*1, 2, 4, 5, 10, 20"):
        HMReconciliation(6, 20, p=2, q=7)
    with pytest.raises(ValueError, match=r"q = 783 does not divide D = 615440.*784, 785"):
        LPHMReconciliation(64, 615440, p=8, q=783)
    with pytest.raises(ValueError, match="p = 4 does not divide n = 6"):
        HMReconciliation.parameter_count(6, 20, p=4, q=5)


def test_bad_layout_and_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="unknown layout 'outer'.*kron.*tinybig"):
        HMReconciliation(6, 20, p=2, q=5, layout="outer")
    with pytest.raises(ValueError, match="r must be a positive integer"):
        LorrReconciliation(6, 20, r=0)
    rec = LorrReconciliation(6, 20)
    with pytest.raises(ValueError, match=r"expected z of shape \(N, D=20\)"):
        rec(tinyrpn.randn(3, 21))
    with pytest.raises(ValueError, match=r"w must have shape \(52,\)"):
        rec(tinyrpn.randn(3, 20), tinyrpn.randn(51))


def test_repr_names_the_structure():
    text = repr(DualLPHMReconciliation(64, 615440, p=8, q=784, r=5, layout="tinybig"))
    for piece in ("n=64", "D=615440", "p=8", "q=784", "r=5", "s=8", "t=785",
                  "layout='tinybig'", "l=7,925"):
        assert piece in text


@pytest.mark.parametrize("layout", ["kron", "tinybig"])
def test_full_size_dual_lphm_forward_never_builds_w(layout):
    """Layer 1 of the reference model: n=64, D=615,440, (p, q, r) = (8, 784, 5).

    A dense W would be 157 MB; rec(z) on 2 samples must stay far below that, and agree with
    the materialised matrix (built afterwards, outside the measurement).
    """
    tinyrpn.manual_seed(7)
    rec = DualLPHMReconciliation(64, 615440, p=8, q=784, r=5, layout=layout)
    z = tinyrpn.tensor(np.random.default_rng(8).standard_normal((2, 615440)).astype(np.float32))
    tracemalloc.start()
    y = rec(z)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16e6, f"rec(z) allocated {peak / 1e6:.1f} MB at peak"
    expected = (z.detach().numpy().astype(np.float64)
                @ rec.matrix().detach().numpy().astype(np.float64).T)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-3, atol=1e-6)


# forward_expanded: the head's path, where the Kronecker family hands its first contraction to
# the expansion (the degree-2 Taylor expansion then never builds κ(x)).
# m = 4 gives D = 20. (6, 20, 2, 5): tinybig's st = 12 does not divide D (it expands);
# (6, 20, 3, 10): st = 4 divides D (block path, fused); (4, 20, 4, 20): s = 1, t = 1.
EXPANDED_SHAPES = [(6, 20, 2, 5), (6, 20, 3, 10), (4, 20, 4, 20)]


EXPANDED = _all_cases(EXPANDED_SHAPES)


@pytest.mark.parametrize("route", ["direct", "fft"])
@pytest.mark.parametrize("postprocess", [None, "layer_norm"])
@pytest.mark.parametrize("make", [c[1] for c in EXPANDED], ids=[c[0] for c in EXPANDED])
def test_forward_expanded_equals_the_expansion_times_matrix_transposed(make, postprocess, route,
                                                                     monkeypatch, device):
    """``route``: the way the fused Taylor contraction goes (both are exact)."""
    from tinyrpn.kernels import taylor
    from tinyrpn.rpn import TaylorExpansion

    monkeypatch.setattr(taylor, "contract_method", lambda m, L, r: route)
    tinyrpn.manual_seed(9)
    rec = make().double().to(device)
    expansion = TaylorExpansion(2, postprocess=postprocess)
    rng = np.random.default_rng(10)
    x = tinyrpn.tensor(rng.standard_normal((3, 4)), requires_grad=True, device=device)
    expected = expansion(x).detach().numpy() @ rec.matrix().detach().numpy().T
    np.testing.assert_allclose(rec.forward_expanded(x, expansion).detach().numpy(), expected,
                               rtol=1e-12, atol=1e-12)
    w = rec.w.detach().requires_grad_(True)
    assert gradcheck(lambda x, w: rec.forward_expanded(x, expansion, w), x, w)


@pytest.mark.parametrize("postprocess", [None, "layer_norm"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_identity_forward_expanded_equals_the_expansion_times_matrix_transposed(d, postprocess,
                                                                              device):
    """Degree 2 without post-processing multiplies through [1, x] ⊗ x; the rest expand."""
    from tinyrpn.rpn import TaylorExpansion

    tinyrpn.manual_seed(13)
    expansion = TaylorExpansion(d, postprocess=postprocess)
    rec = IdentityReconciliation(3, expansion.output_dim(4)).double().to(device)
    x = tinyrpn.tensor(np.random.default_rng(14).standard_normal((5, 4)), requires_grad=True,
                       device=device)
    expected = expansion(x).detach().numpy() @ rec.matrix().detach().numpy().T
    np.testing.assert_allclose(rec.forward_expanded(x, expansion).detach().numpy(), expected,
                               rtol=1e-12, atol=1e-12)
    w = rec.w.detach().requires_grad_(True)
    assert gradcheck(lambda x, w: rec.forward_expanded(x, expansion, w), x, w)


def test_full_size_identity_head_never_builds_the_expansion():
    """Layer 1 of the §1 model on 8 images: κ(x) would be 8 × 615,440 floats (19.7 MB).

    The forward pass must allocate well below that; backward allocates the gradient of w
    (157.6 MB, a fresh flat array: no reshaped copy of it) and little more.
    """
    from tinyrpn.rpn import TaylorExpansion

    tinyrpn.manual_seed(15)
    rec = IdentityReconciliation(64, 615440)
    expansion = TaylorExpansion(2)
    x = tinyrpn.tensor(np.random.default_rng(16).random((8, 784)).astype(np.float32))
    tracemalloc.start()
    y = rec.forward_expanded(x, expansion)
    forward_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    y.sum().backward()
    backward_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert forward_peak < 8e6, f"forward allocated {forward_peak / 1e6:.1f} MB at peak"
    grad_bytes = 64 * 615440 * 4
    assert backward_peak < grad_bytes + 8e6, (
        f"backward allocated {backward_peak / 1e6:.1f} MB at peak, the gradient being "
        f"{grad_bytes / 1e6:.1f} MB")
    assert rec.w.grad.numpy().base is None and rec.w.grad.shape == (64 * 615440,)
    z = expansion(x).detach().numpy().astype(np.float64)
    expected = z @ rec.matrix().detach().numpy().astype(np.float64).T
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    # d(sum y)/dW[k] = sum_b z_b for every row k
    dW = rec.w.grad.numpy().reshape(64, 615440)
    np.testing.assert_allclose(dW[[0, 63]], np.tile(z.sum(axis=0), (2, 1)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", ["kron", "tinybig"])
def test_full_size_dual_lphm_head_never_builds_the_expansion(layout):
    """Layer 1 of the reference model on 8 images: κ(x) would be 8 × 615,440 floats (19.7 MB).

    (The kernels are compiled before the measurement: Numba's compiler allocates too.)

    Forward and backward through the head must stay well below that, and the output must
    agree with the expansion times the materialised matrix (computed afterwards).
    """
    from tinyrpn.rpn import TaylorExpansion

    tinyrpn.manual_seed(11)
    rec = DualLPHMReconciliation(64, 615440, p=8, q=784, r=5, layout=layout)
    expansion = TaylorExpansion(2)
    x = tinyrpn.tensor(np.random.default_rng(12).random((8, 784)).astype(np.float32))
    rec.forward_expanded(x[:2], expansion).sum().backward()  # compile the kernels first
    rec.zero_grad()
    tracemalloc.start()
    y = rec.forward_expanded(x, expansion)
    y.sum().backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8e6, f"forward + backward allocated {peak / 1e6:.1f} MB at peak"
    assert rec.w.grad is not None and np.isfinite(rec.w.grad.numpy()).all()
    z = expansion(x).detach().numpy().astype(np.float64)
    expected = z @ rec.matrix().detach().numpy().astype(np.float64).T
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-3, atol=1e-5)
