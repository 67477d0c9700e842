"""Probabilistic expansions: κ(x) is the log-likelihood of each feature under fixed
distributions, the expansions with which an RPN head becomes a naive Bayes classifier.

With one distribution, y = κ(x)·Wᵀ = Σ_i W[j, i]·log p(x_i): a weighted naive-Bayes score
for class j. ``LogLikelihoodExpansion(terms)`` takes any list of terms; the named classes
are tinyBIG's fixed choices. The output goes block by block: entry k·m + i is the k-th
term's log p(x_i), so D = (number of terms)·m.

A term is ``(family, parameters, input)``:

=============  ===========  ==================================================
family         parameters   log p(v)
=============  ===========  ==================================================
normal         μ, σ         −(v − μ)²/(2σ²) − log σ − ½·log 2π
cauchy         μ, γ         −log π − log γ − log(1 + ((v − μ)/γ)²)
laplace        μ, b         −log 2b − |v − μ|/b
gamma          α, β (rate)  (α − 1)·log v + α·log β − β·v − log Γ(α)
chi2           k            gamma with α = k/2, β = ½
exponential    λ            log λ − λ·v
=============  ===========  ==================================================

and ``input`` says what v is: ``'x'`` itself, ``'sigmoid'`` (v = σ(x) + 0.001) or
``'sigmoid99'`` (v = 0.99·σ(x) + 0.001), which keep v inside the support (0, ∞) of the
last three families. The named classes use tinyBIG 0.1.1's inputs (chi2 ``'sigmoid'``,
gamma and exponential ``'sigmoid99'``, and in the hybrid all three ``'sigmoid99'``).
"""

from __future__ import annotations

import math
from typing import Any

from tinyrpn.autograd import Tensor
from tinyrpn.ops import math as _math
from tinyrpn.ops.shape import cat
from tinyrpn.rpn.expansion import Expansion

__all__ = [
    "LogLikelihoodExpansion", "NormalExpansion", "CauchyExpansion", "Chi2Expansion",
    "GammaExpansion", "LaplaceExpansion", "ExponentialExpansion",
    "HybridProbabilisticExpansion", "NaiveNormalExpansion", "NaiveCauchyExpansion",
    "NaiveChi2Expansion", "NaiveGammaExpansion", "NaiveLaplaceExpansion",
    "NaiveExponentialExpansion", "log_density",
]

FAMILIES = {"normal": 2, "cauchy": 2, "laplace": 2, "gamma": 2, "chi2": 1, "exponential": 1}
INPUTS = ("x", "sigmoid", "sigmoid99")


def log_density(family: str, v: Tensor, *params: float) -> Tensor:
    """log p(v) for one of ``FAMILIES`` with the given parameters, elementwise."""
    if family == "normal":
        mu, sigma = params
        z = (v - mu) * (1.0 / sigma)
        return z * z * -0.5 - (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    if family == "cauchy":
        mu, gamma = params
        z = (v - mu) * (1.0 / gamma)
        return -_math.log(z * z + 1.0) - math.log(math.pi * gamma)
    if family == "laplace":
        mu, b = params
        return _math.abs(v - mu) * (-1.0 / b) - math.log(2 * b)
    if family == "chi2":
        return log_density("gamma", v, params[0] / 2, 0.5)
    if family == "gamma":
        alpha, beta = params
        out = v * -beta + (alpha * math.log(beta) - math.lgamma(alpha))
        return out + _math.log(v) * (alpha - 1) if alpha != 1 else out
    if family == "exponential":
        (rate,) = params
        return v * -rate + math.log(rate)
    raise ValueError(f"unknown distribution family {family!r}; valid: {', '.join(FAMILIES)}")


class LogLikelihoodExpansion(Expansion):
    """κ(x) = [log p_1(v_1(x)), ..., log p_K(v_K(x))], one (N, m) block per term.

    ``LogLikelihoodExpansion(terms)``, each term ``(family, parameters, input)`` as in the
    module's table, e.g. ``[("normal", (0.0, 1.0), "x"), ("exponential", (2.0,),
    "sigmoid99")]``. D = K·m.
    """

    TERMS: tuple[tuple[str, tuple[float, ...], str], ...] = ()

    def __init__(self, terms: Any = None, postprocess: Any = None,
                 preprocess: Any = None) -> None:
        super().__init__(postprocess, preprocess)
        terms = self.TERMS if terms is None else terms
        checked = []
        for term in terms:
            family, params, source = term
            params = tuple(float(p) for p in params)
            if family not in FAMILIES or len(params) != FAMILIES[family]:
                raise ValueError(f"{type(self).__name__}: term {term!r} must be (family, "
                                 f"parameters, input) with family and parameter count one of "
                                 f"{FAMILIES}")
            if source not in INPUTS:
                raise ValueError(f"{type(self).__name__}: input {source!r} of term {term!r} "
                                 f"is not one of {INPUTS}")
            checked.append((family, params, source))
        if not checked:
            raise ValueError(f"{type(self).__name__}: needs at least one term")
        self.terms = tuple(checked)

    def output_dim(self, m: int) -> int:
        return len(self.terms) * m

    def expand(self, x: Tensor) -> Tensor:
        inputs: dict[str, Tensor] = {"x": x}
        blocks = []
        for family, params, source in self.terms:
            if source not in inputs:
                s = _math.sigmoid(x)
                inputs[source] = s + 0.001 if source == "sigmoid" else s * 0.99 + 0.001
            blocks.append(log_density(family, inputs[source], *params))
        return cat(blocks, 1) if len(blocks) > 1 else blocks[0]

    def _settings(self) -> str:
        if type(self).TERMS and self.terms == type(self).TERMS:
            return ""
        return "terms=[" + ", ".join(f"{f}{p}" for f, p, _ in self.terms) + "]"


class NaiveNormalExpansion(LogLikelihoodExpansion):
    """κ(x) = log N(x; 0, 1), D = m."""

    TERMS = (("normal", (0.0, 1.0), "x"),)


class NormalExpansion(LogLikelihoodExpansion):
    """κ(x) = [log N(x; μ, σ)] for (μ, σ) = (0, 1), (1, 1), (−1, 1), (0, .1), (1, .1), (−1, .1);
    D = 6m."""

    TERMS = tuple(("normal", (mu, s), "x") for s in (1.0, 0.1) for mu in (0.0, 1.0, -1.0))


class NaiveCauchyExpansion(LogLikelihoodExpansion):
    """κ(x) = log Cauchy(x; 0, 1), D = m."""

    TERMS = (("cauchy", (0.0, 1.0), "x"),)


class CauchyExpansion(LogLikelihoodExpansion):
    """κ(x) = [log Cauchy(x; μ, γ)] for μ = 0, 1, −1, each with γ = 1 then 0.5; D = 6m."""

    TERMS = tuple(("cauchy", (mu, g), "x") for mu in (0.0, 1.0, -1.0) for g in (1.0, 0.5))


class NaiveChi2Expansion(LogLikelihoodExpansion):
    """κ(x) = log χ²₁(σ(x) + 0.001), D = m."""

    TERMS = (("chi2", (1.0,), "sigmoid"),)


class Chi2Expansion(LogLikelihoodExpansion):
    """κ(x) = [log χ²_k(σ(x) + 0.001)] for k = 1, 2; D = 2m."""

    TERMS = (("chi2", (1.0,), "sigmoid"), ("chi2", (2.0,), "sigmoid"))


class NaiveGammaExpansion(LogLikelihoodExpansion):
    """κ(x) = log Gamma(0.99·σ(x) + 0.001; α = 0.5, β = 1), D = m."""

    TERMS = (("gamma", (0.5, 1.0), "sigmoid99"),)


class GammaExpansion(LogLikelihoodExpansion):
    """κ(x) = [log Gamma(0.99·σ(x) + 0.001; α, β)] for α = .5, 1, 2, each with β = 1 then 2;
    D = 6m."""

    TERMS = tuple(("gamma", (a, b), "sigmoid99") for a in (0.5, 1.0, 2.0) for b in (1.0, 2.0))


class NaiveLaplaceExpansion(LogLikelihoodExpansion):
    """κ(x) = log Laplace(x; 0, 1), D = m."""

    TERMS = (("laplace", (0.0, 1.0), "x"),)


class LaplaceExpansion(LogLikelihoodExpansion):
    """κ(x) = [log Laplace(x; μ, b)] for μ = 0, 1, −1, each with b = 1 then 2; D = 6m."""

    TERMS = tuple(("laplace", (mu, b), "x") for mu in (0.0, 1.0, -1.0) for b in (1.0, 2.0))


class NaiveExponentialExpansion(LogLikelihoodExpansion):
    """κ(x) = log Exp(0.99·σ(x) + 0.001; λ = 0.5), D = m."""

    TERMS = (("exponential", (0.5,), "sigmoid99"),)


class ExponentialExpansion(LogLikelihoodExpansion):
    """κ(x) = [log Exp(0.99·σ(x) + 0.001; λ)] for λ = .5, .75, 1, 2, 3, 5; D = 6m."""

    TERMS = tuple(("exponential", (r,), "sigmoid99") for r in (0.5, 0.75, 1.0, 2.0, 3.0, 5.0))


class HybridProbabilisticExpansion(LogLikelihoodExpansion):
    """κ(x) = [log N(x; 0, 1), log Cauchy(x; 0, 1), log χ²₁(v), log Gamma(v; .5, 1),
    log Laplace(x; 0, 1), log Exp(v; 1)] with v = 0.99·σ(x) + 0.001; D = 6m."""

    TERMS = (("normal", (0.0, 1.0), "x"), ("cauchy", (0.0, 1.0), "x"),
             ("chi2", (1.0,), "sigmoid99"), ("gamma", (0.5, 1.0), "sigmoid99"),
             ("laplace", (0.0, 1.0), "x"), ("exponential", (1.0,), "sigmoid99"))
