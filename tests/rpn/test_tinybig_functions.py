"""tinyBIG 0.1.1's RPN functions through ``build_function``: values against tinyBIG's own.

tests/data/tinybig_reference.{json,npz} hold, for each case, the class path, parameters
and the output tinyBIG 0.1.1 computed (with torch 2.14.1, float32) on the same input x
(N = 4, m = 3, in [-0.9, 0.9]), the same w and b. They were made by running tinyBIG itself
(scripts kept outside the repo; see docs/CONFIG.md, "tinyBIG functions"); these tests do
not need tinyBIG.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck, rpn
from tinyrpn.config import ConfigError
from tinyrpn.config.tinybig import build_function

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = json.loads((DATA / "tinybig_reference.json").read_text())
REF = np.load(DATA / "tinybig_reference.npz", allow_pickle=False)


def _x(shape=(4, 3), seed=0, low=-0.9, high=0.9):
    data = np.random.default_rng(seed).uniform(low, high, shape)
    return tinyrpn.tensor(data, requires_grad=True, dtype="float64")


def _ids(kind):
    return [pytest.param(c, id=f"{c['class'].rsplit('.', 1)[-1]}-{c['key']}")
            for c in CASES if c["kind"] == kind]


@pytest.mark.parametrize("case", _ids("expansion"))
def test_expansion_agrees_with_tinybig(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expansion = build_function(case["class"], case["params"], m=3)
    x = tinyrpn.tensor(REF["x"], dtype="float64")
    out = expansion(x).numpy()
    want = REF[case["key"]]
    assert out.shape == want.shape
    if "pre_C" not in case["params"]:
        assert expansion.output_dim(3) == want.shape[1]
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=2e-5)


EXPANSIONS = [
    rpn.ReciprocalExpansion(), rpn.LinearExpansion(c=-1.5),
    rpn.LinearExpansion(post_C=[[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]]),
    rpn.LinearExpansion(pre_C=[[1.0, 0.0, 2.0, -1.0]]), rpn.FourierExpansion(P=3, N=2),
    rpn.JacobiExpansion(d=4, alpha=0.5, beta=2.0), rpn.InverseQuadraticRBFExpansion(4, 0.7),
    rpn.TrigonometricExpansion(), rpn.HyperbolicExpansion(), rpn.ArcTrigonometricExpansion(),
    rpn.ArcHyperbolicExpansion(), rpn.NormalExpansion(), rpn.CauchyExpansion(),
    rpn.Chi2Expansion(), rpn.GammaExpansion(), rpn.LaplaceExpansion(),
    rpn.ExponentialExpansion(), rpn.HybridProbabilisticExpansion(), rpn.NaiveNormalExpansion(),
    rpn.NaiveCauchyExpansion(), rpn.NaiveChi2Expansion(), rpn.NaiveGammaExpansion(),
    rpn.NaiveLaplaceExpansion(), rpn.NaiveExponentialExpansion(),
    rpn.CombinatorialExpansion(d=3), rpn.CombinatorialExpansion(d=2, with_replacement=True),
    rpn.CombinatorialNormalExpansion(d=2),
    rpn.NestedExpansion([rpn.ChebyshevExpansion(2), rpn.TaylorExpansion(2)]),
    rpn.ExtendedExpansion([rpn.JacobiExpansion(2), rpn.FourierExpansion(2, 1)],
                          postprocess="silu", preprocess="tanh"),
    rpn.TaylorExpansion(2, postprocess=["gelu", "layer_norm"]),
]


@pytest.mark.parametrize("expansion", EXPANSIONS, ids=lambda e: type(e).__name__)
def test_expansion_gradcheck_float64(expansion):
    # Laplace's |x − μ| has a kink at μ ∈ {0, ±1}: these x keep 1e-3 away from it
    x = _x(seed=1)
    values = x.detach().numpy()
    assert np.abs(np.abs(values) - 1).min() > 1e-3 and np.abs(values).min() > 1e-3
    assert gradcheck(lambda x: expansion(x), x)
    assert expansion(x).shape[1] == expansion.output_dim(3) or expansion.pre_C is not None


def test_combinatorial_sizes_and_order():
    e = rpn.CombinatorialExpansion(d=2)
    x = tinyrpn.tensor([[1.0, 2.0, 3.0]])
    assert e(x).numpy().tolist() == [[1, 2, 3, 1, 2, 1, 3, 2, 3]]
    assert e.output_dim(10) == 10 + 2 * 45
    assert rpn.CombinatorialExpansion(d=2, with_replacement=True).output_dim(3) == 3 + 2 * 6
    assert rpn.CombinatorialNormalExpansion(d=3).output_dim(5) == 5 + 10 + 10


def test_log_likelihoods_integrate_to_one():
    # each term is a log-density: exp of it integrates to 1 over its support
    v = np.linspace(-60, 60, 600001)
    for family, params in (("normal", (1.0, 0.5)), ("laplace", (-1.0, 2.0))):
        p = np.exp(rpn.expansion_probabilistic.log_density(
            family, tinyrpn.tensor(v, dtype="float64"), *params).numpy())
        assert abs(np.trapezoid(p, v) - 1) < 1e-6
    v = np.linspace(1e-9, 80, 800001)
    for family, params in (("gamma", (2.0, 2.0)), ("chi2", (3.0,)), ("exponential", (0.75,))):
        p = np.exp(rpn.expansion_probabilistic.log_density(
            family, tinyrpn.tensor(v, dtype="float64"), *params).numpy())
        assert abs(np.trapezoid(p, v) - 1) < 1e-4, family


def test_jacobi_with_alpha_beta_zero_is_legendre():
    x = np.linspace(-1, 1, 7)
    out = rpn.JacobiExpansion(d=3, alpha=0, beta=0)(tinyrpn.tensor(x[:, None])).numpy()
    np.testing.assert_allclose(out[:, 1], (3 * x**2 - 1) / 2, atol=1e-6)
    np.testing.assert_allclose(out[:, 2], (5 * x**3 - 3 * x) / 2, atol=1e-6)


def test_reciprocal_guards_zero():
    out = rpn.ReciprocalExpansion()(tinyrpn.tensor([[0.0, -0.0, 1e-8, -1e-8, 2.0]])).numpy()
    np.testing.assert_allclose(out, [[1e6, 1e6, 1e6, -1e6, 0.5]], rtol=1e-6)


def test_build_function_errors_name_the_problem():
    with pytest.raises(ConfigError, match="did you mean 'tinybig.expansion.chebyshev_expansion'"):
        build_function("tinybig.expansion.chebyshev_expansio", {"d": 3})
    with pytest.raises(ConfigError, match=r"parameters\.dd: unknown parameter .*did you mean 'd'"):
        build_function("tinybig.expansion.chebyshev_expansion", {"dd": 3})
    with pytest.raises(ConfigError, match="D = 9 features for m = 3, not D = 8"):
        build_function("tinybig.expansion.chebyshev_expansion", {"d": 3}, m=3, D=8)
    with pytest.raises(ConfigError, match="unknown function 'sigmod'"):
        build_function("tinybig.expansion.taylor_expansion", {"postprocess_functions": "sigmod"})
    with pytest.raises(ConfigError, match="positive integer"):
        build_function("tinybig.expansion.taylor_expansion", {"d": 0})


def test_build_function_module_path_and_matrix_lists():
    e = build_function("tinybig.expansion.recursive_expansion.chebyshev_expansion", {"d": 2})
    assert isinstance(e, rpn.ChebyshevExpansion) and e.output_dim(5) == 10
    lin = build_function("tinybig.expansion.linear_expansion", {"post_C": [[1, 2], [3, 4]]})
    assert lin(tinyrpn.tensor([[1.0, 1.0]])).numpy().tolist() == [[4.0, 6.0]]
    assert math.isclose(build_function("tinybig.expansion.gaussian_rbf_expansion",
                                       {"epsilon": 4.0}).sigma, 0.25)


# ----------------------------------------------------------------------------- reconciliations


def _reconciliation(case):
    rec = build_function(case["class"], case["params"], n=case["n"], D=case["D"])
    key = case["key"]
    if f"{key}_mask" in REF:  # tinyBIG's random mask, given to ours
        rec = rpn.MaskingReconciliation(case["n"], case["D"], p=case["params"]["p"],
                                        mask=REF[f"{key}_mask"] > 0)
    if f"{key}_net0" in REF:  # tinyBIG's random hypernet, loaded into ours
        for j, p in enumerate(rec.net_parameters()):
            p.data[...] = REF[f"{key}_net{j}"]
    return rec


@pytest.mark.parametrize("case", _ids("reconciliation"))
def test_reconciliation_agrees_with_tinybig(case):
    rec = _reconciliation(case).double()  # tinyBIG's w arrives in float64
    assert rec.l == case["l"] == type(rec).parameter_count(case["n"], case["D"], **{
        k: v for k, v in case["params"].items() if k in ("c", "r", "p", "q", "l", "hidden_dim")
    } if not isinstance(rec, rpn.ConstantReconciliation) else {})
    w = REF[case["key"] + "_w"]
    W = rec.matrix(w).detach().numpy()  # tinyBIG's flat w, as a NumPy array
    np.testing.assert_allclose(W, REF[case["key"]], rtol=2e-5, atol=2e-5)
    W2 = rec.matrix(w.reshape(1, -1)).detach().numpy()  # ... or as tinyBIG's 1 × l matrix
    np.testing.assert_array_equal(W, W2)


RECONCILIATIONS = [
    rpn.ConstantReconciliation(4, 6, c=-0.5), rpn.ZeroReconciliation(4, 6),
    rpn.OneReconciliation(4, 6), rpn.ConstantEyeReconciliation(4, 6),
    rpn.MaskingReconciliation(4, 6, p=0.5), rpn.DuplicatedPaddingReconciliation(4, 6, 2, 3),
    rpn.DuplicatedPaddingReconciliation(4, 6, 2, 3, layout="tinybig"),
    rpn.HypernetReconciliation(4, 6, l=5, hidden_dim=3),
]


@pytest.mark.parametrize("rec", RECONCILIATIONS, ids=lambda r: f"{type(r).__name__}")
def test_reconciliation_forward_matches_matrix_and_gradcheck(rec):
    rec = rec.double()  # float64 throughout: matrix products do not mix dtypes
    z = _x((5, 6), seed=2)
    w = tinyrpn.tensor(np.random.default_rng(3).uniform(-1, 1, rec.l), dtype="float64",
                       requires_grad=True)
    np.testing.assert_allclose(rec(z, w).detach().numpy(),
                               z.detach().numpy() @ rec.matrix(w).detach().numpy().T,
                               rtol=1e-10, atol=1e-12)
    if rec.l:
        assert gradcheck(lambda z, w: rec(z, w), z, w)
        assert gradcheck(lambda w: rec.matrix(w), w)
    else:
        assert gradcheck(lambda z: rec(z, w), z)


def test_duplicated_padding_kron_is_blocks_of_copies():
    rec = rpn.DuplicatedPaddingReconciliation(4, 6, p=2, q=3)
    w = np.arange(4.0)
    np.testing.assert_array_equal(rec.matrix(w).numpy(), np.kron(np.ones((2, 3)),
                                                                 w.reshape(2, 2)))


def test_masking_keeps_about_p_of_the_entries():
    rec = rpn.MaskingReconciliation(50, 40, p=0.3)
    assert abs(rec.mask.mean() - 0.3) < 0.03 and rec.l == 2000


def test_reconciliation_size_errors():
    with pytest.raises(ConfigError, match="p = 3 does not divide n = 4"):
        build_function("tinybig.reconciliation.hm_reconciliation", {"p": 3}, n=4, D=6)
    with pytest.raises(ConfigError, match="needs the sizes n and D"):
        build_function("tinybig.reconciliation.lorr_reconciliation", {"r": 2})
    with pytest.raises(ConfigError, match="did you mean 'r'"):
        build_function("tinybig.reconciliation.lorr_reconciliation", {"rr": 2}, n=2, D=3)
    hyper = build_function("tinybig.reconciliation.hypernet_reconciliation", {"l": 7},
                           n=100, D=300)
    assert hyper.l == 7 and not hyper.net_weight2.requires_grad


# ----------------------------------------------------------------------------- remainders


@pytest.mark.parametrize("case", _ids("remainder"))
def test_remainder_agrees_with_tinybig(case):
    # float64, as tinyBIG's arrays arrive (matrix products do not mix dtypes)
    rem = build_function(case["class"], case["params"], m=3, n=case["n"]).double()
    if case["key"] + "_C" in REF:  # tinyBIG's random spline matrix, loaded into ours
        rem.spline_weight.data[...] = REF[case["key"] + "_C"]
    x = REF["x"]  # a NumPy array: remainders take tinyBIG's arrays as they come
    w = REF["rem_w"] if case["w"] else None
    b = REF["rem_b"] if case["b"] else None
    out = rem(x, w=w, b=b).detach().numpy()
    want = REF[case["key"]]
    assert out.shape == (4, case["n"]) if want.ndim == 1 or "identity" not in case["class"] \
        else out.shape == want.shape
    # tinyBIG's constant remainders return shape (n,), which its head broadcasts
    np.testing.assert_allclose(out, np.broadcast_to(want, out.shape), rtol=2e-5, atol=2e-5)


REMAINDERS = [  # (a constant remainder does not depend on x: nothing to check)
    rpn.IdentityRemainder(3, 3, activation="gelu"),
    rpn.LinearRemainder(3, 2, bias=True, activation=["silu", "tanh"]),
    rpn.BSplineRemainder(3, 2, t=3, d=2, bias=True, activation="silu"),
]


@pytest.mark.parametrize("rem", REMAINDERS, ids=lambda r: type(r).__name__)
def test_remainder_gradcheck_float64(rem):
    rem = rem.double()  # float64 throughout: matrix products do not mix dtypes
    x = _x(seed=4)
    assert gradcheck(lambda x: rem(x), x)
    if isinstance(rem, rpn.LinearRemainder):
        w = tinyrpn.tensor(np.random.default_rng(5).normal(size=(2, 3)), requires_grad=True)
        b = tinyrpn.tensor(np.random.default_rng(6).normal(size=2), requires_grad=True)
        assert gradcheck(lambda x, w, b: rem(x, w=w, b=b), x, w, b)


def test_gelu_matches_its_definition():
    from tinyrpn.rpn.elementwise import gelu

    v = np.linspace(-4, 4, 81)
    want = v * 0.5 * (1 + np.array([math.erf(t / math.sqrt(2)) for t in v]))
    np.testing.assert_allclose(gelu(tinyrpn.tensor(v)).numpy(), want, rtol=1e-12, atol=1e-15)


def test_remainder_errors_and_defaults():
    with pytest.raises(ConfigError, match="needs the sizes m and n"):
        build_function("tinybig.remainder.bspline_remainder", {})
    given = build_function("tinybig.remainder.linear_remainder", {"enable_bias": True})
    x, w, b = REF["x"], REF["rem_w"], REF["rem_b"]
    np.testing.assert_allclose(given(x, w=w, b=b).numpy(), x @ w.T + b, rtol=1e-12)
    with pytest.raises(ValueError, match="no weight of its own: pass w"):
        given(x)
    assert isinstance(build_function("tinybig.remainder.linear_remainder",
                                     {"require_parameters": False}), rpn.IdentityRemainder)
    with pytest.raises(ConfigError, match="unknown function class 'torch.nn.Silu'.*"
                       "did you mean 'torch.nn.SiLU'"):
        build_function("tinybig.remainder.identity_remainder", {
            "activation_function_configs": {"function_class": "torch.nn.Silu"}})
    one = build_function("tinybig.remainder.one_remainder", {}, m=3, n=2)
    assert one(np.zeros((5, 3))).numpy().tolist() == [[1.0, 1.0]] * 5
