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
    assert np.abs(np.abs(x.numpy()) - 1).min() > 1e-3 and np.abs(x.numpy()).min() > 1e-3
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
