"""Reference models of docs/EXPERIMENTS.md: the MLPs (§3–4), LeCun 1989 (§5), subspaces (§4)."""

from tinyrpn.models.lecun1989 import LeCun1989
from tinyrpn.models.mlp import MLP, madgrad_mlp, subspace_mlp
from tinyrpn.models.subspace import Subspace

__all__ = ["MLP", "LeCun1989", "Subspace", "madgrad_mlp", "subspace_mlp"]
