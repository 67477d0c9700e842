"""Reconciled Polynomial Networks (RPN, as in tinyBIG): y = W(w) · post(κ(x)) + π(x).

- ``expansion``: data expansions κ (Taylor, Chebyshev, Gaussian RBF, B-spline, identity)
  and their pre/post-processing; ``expansion_basis`` (scalings, Fourier, Jacobi, inverse
  quadratic RBF, trigonometric families), ``expansion_probabilistic`` (log-likelihoods,
  naive Bayes), ``expansion_composite`` (combinatorial, nested, extended);
- ``reconciliation``: parameter reconciliations W(w) (identity, lorr, hm, lphm,
  dual_lphm; ``reconciliation_basic``: constant, zero, one, constant_eye, masking,
  duplicated_padding, hypernet), each a Module: ``rec(z)`` is z·Wᵀ from W's factors,
  ``rec.matrix()`` is W;
- ``remainder``: remainders π (zero, constant, one, identity, linear, bspline), with
  activations;
- ``layer``: ``RPNHead`` and ``RPNLayer`` (several heads, fused);
- ``model``: ``RPN`` (layers in sequence) and ``make_rpn``.
"""

from tinyrpn.rpn.expansion import (
    BSplineExpansion,
    ChebyshevExpansion,
    Expansion,
    GaussianRBFExpansion,
    IdentityExpansion,
    Postprocess,
    TaylorExpansion,
)
from tinyrpn.rpn.expansion_basis import (
    ArcHyperbolicExpansion,
    ArcTrigonometricExpansion,
    FourierExpansion,
    HyperbolicExpansion,
    InverseQuadraticRBFExpansion,
    JacobiExpansion,
    LinearExpansion,
    ReciprocalExpansion,
    TrigonometricExpansion,
)
from tinyrpn.rpn.expansion_composite import (
    CombinatorialExpansion,
    CombinatorialNormalExpansion,
    ExtendedExpansion,
    NestedExpansion,
)
from tinyrpn.rpn.expansion_probabilistic import (
    CauchyExpansion,
    Chi2Expansion,
    ExponentialExpansion,
    GammaExpansion,
    HybridProbabilisticExpansion,
    LaplaceExpansion,
    LogLikelihoodExpansion,
    NaiveCauchyExpansion,
    NaiveChi2Expansion,
    NaiveExponentialExpansion,
    NaiveGammaExpansion,
    NaiveLaplaceExpansion,
    NaiveNormalExpansion,
    NormalExpansion,
)
from tinyrpn.rpn.layer import FUSIONS, RPNHead, RPNLayer
from tinyrpn.rpn.model import RPN, init_like_tinybig, make_rpn, tinybig_torch_stream
from tinyrpn.rpn.reconciliation import (
    LAYOUTS,
    DualLPHMReconciliation,
    HMReconciliation,
    IdentityReconciliation,
    LorrReconciliation,
    LPHMReconciliation,
    Reconciliation,
)
from tinyrpn.rpn.reconciliation_basic import (
    ConstantEyeReconciliation,
    ConstantReconciliation,
    DuplicatedPaddingReconciliation,
    HypernetReconciliation,
    MaskingReconciliation,
    OneReconciliation,
    ZeroReconciliation,
)
from tinyrpn.rpn.remainder import (
    BSplineRemainder,
    ConstantRemainder,
    IdentityRemainder,
    LinearRemainder,
    OneRemainder,
    Remainder,
    ZeroRemainder,
)

__all__ = [
    "ArcHyperbolicExpansion", "ArcTrigonometricExpansion", "CauchyExpansion", "Chi2Expansion",
    "CombinatorialExpansion", "CombinatorialNormalExpansion", "ExponentialExpansion",
    "ExtendedExpansion", "FourierExpansion", "GammaExpansion", "HybridProbabilisticExpansion",
    "HyperbolicExpansion", "InverseQuadraticRBFExpansion", "JacobiExpansion",
    "LaplaceExpansion", "LinearExpansion", "LogLikelihoodExpansion", "NaiveCauchyExpansion",
    "NaiveChi2Expansion", "NaiveExponentialExpansion", "NaiveGammaExpansion",
    "NaiveLaplaceExpansion", "NaiveNormalExpansion", "NestedExpansion", "NormalExpansion",
    "ReciprocalExpansion", "TrigonometricExpansion", "ConstantEyeReconciliation",
    "ConstantReconciliation", "DuplicatedPaddingReconciliation", "HypernetReconciliation",
    "MaskingReconciliation", "OneReconciliation", "ZeroReconciliation", "BSplineRemainder",
    "ConstantRemainder", "OneRemainder",
    "BSplineExpansion", "ChebyshevExpansion", "DualLPHMReconciliation", "Expansion",
    "FUSIONS", "GaussianRBFExpansion", "HMReconciliation", "IdentityExpansion",
    "IdentityReconciliation", "IdentityRemainder", "LAYOUTS", "LPHMReconciliation",
    "LinearRemainder", "LorrReconciliation", "Postprocess", "RPN", "RPNHead", "RPNLayer",
    "Reconciliation", "Remainder", "TaylorExpansion", "ZeroRemainder", "init_like_tinybig",
    "make_rpn", "tinybig_torch_stream",
]
