"""Reconciled Polynomial Networks (RPN, as in tinyBIG): y = W(w) · post(κ(x)) + π(x).

- ``expansion``: data expansions κ (Taylor, Chebyshev, Gaussian RBF, B-spline, identity)
  and their post-processing;
- ``reconciliation``: parameter reconciliations W(w) (identity, lorr, hm, lphm,
  dual_lphm), each with ``apply(z)`` (z·Wᵀ from W's factors) and ``matrix()``;
- ``remainder``: remainders π (zero, identity, linear);
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
from tinyrpn.rpn.remainder import IdentityRemainder, LinearRemainder, Remainder, ZeroRemainder

__all__ = [
    "BSplineExpansion", "ChebyshevExpansion", "DualLPHMReconciliation", "Expansion",
    "FUSIONS", "GaussianRBFExpansion", "HMReconciliation", "IdentityExpansion",
    "IdentityReconciliation", "IdentityRemainder", "LAYOUTS", "LPHMReconciliation",
    "LinearRemainder", "LorrReconciliation", "Postprocess", "RPN", "RPNHead", "RPNLayer",
    "Reconciliation", "Remainder", "TaylorExpansion", "ZeroRemainder", "init_like_tinybig",
    "make_rpn", "tinybig_torch_stream",
]
