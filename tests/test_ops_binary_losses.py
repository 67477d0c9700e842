"""binary_cross_entropy, binary_cross_entropy_with_logits and cross_entropy's
label_smoothing (tinyrpn.ops.loss): values and gradients against PyTorch, float64
gradients against finite differences, the modules, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_oracle import compare_with_torch, leaf

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import gradcheck, nn


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def probabilities(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(reduction, weighted):
    torch = pytest.importorskip("torch")
    x, t = probabilities(4, 3), probabilities(4, 3, seed=1)  # soft targets: dt is checked too
    w = np.abs(arr(3, seed=2))
    ours_w = tinyrpn.tensor(w) if weighted else None
    theirs_w = torch.tensor(w) if weighted else None
    compare_with_torch(lambda a, b: F.binary_cross_entropy(a, b, ours_w, reduction=reduction),
                       lambda a, b: torch.nn.functional.binary_cross_entropy(
                           a, b, theirs_w, reduction=reduction), x, t)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, ours_w, reduction=reduction),
                     leaf(x), leaf(t))


def test_binary_cross_entropy_clamps_its_logs_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, 0.5, 1.0])
    t = np.array([1.0, 0.0, 1.0, 1.0])
    compare_with_torch(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                       lambda a, b: torch.nn.functional.binary_cross_entropy(
                           a, b, reduction="none"), x, t)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted, positive", [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_binary_cross_entropy_with_logits_matches_torch(reduction, weighted, positive):
    torch = pytest.importorskip("torch")
    x, t = arr(4, 3) * 30, probabilities(4, 3, seed=1)  # large logits: must stay finite
    w, p = np.abs(arr(4, 1, seed=2)), np.abs(arr(3, seed=3)) + 0.5
    ours = dict(weight=tinyrpn.tensor(w) if weighted else None,
                pos_weight=tinyrpn.tensor(p) if positive else None)
    theirs = dict(weight=torch.tensor(w) if weighted else None,
                  pos_weight=torch.tensor(p) if positive else None)
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, **ours),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, **theirs), x, t)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, reduction=reduction, **ours), leaf(arr(4, 3)), leaf(t))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.7])
@pytest.mark.parametrize("weighted, ignore", [(False, False), (True, False), (False, True),
                                              (True, True)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_label_smoothing_matches_torch(smoothing, weighted, ignore, reduction):
    torch = pytest.importorskip("torch")
    x = arr(6, 4)
    target = np.array([0, 3, 1, 1, 2, 0])
    if ignore:
        target[2] = -100
    w = np.abs(arr(4, seed=2)) + 0.1
    ours_w = tinyrpn.tensor(w) if weighted else None
    theirs_w = torch.tensor(w) if weighted else None
    compare_with_torch(
        lambda a, t: F.cross_entropy(a, t, ours_w, reduction=reduction,
                                     label_smoothing=smoothing),
        lambda a, t: torch.nn.functional.cross_entropy(a, t, theirs_w, reduction=reduction,
                                                       label_smoothing=smoothing), x, target)
    assert gradcheck(lambda a: F.cross_entropy(a, tinyrpn.tensor(target), ours_w,
                                               reduction=reduction, label_smoothing=smoothing),
                     leaf(x))


def test_cross_entropy_label_smoothing_with_probabilities_and_extra_dims():
    torch = pytest.importorskip("torch")
    x, p = arr(3, 4, 2), np.random.default_rng(1).dirichlet(np.ones(4), (3, 2))
    p = p.transpose(0, 2, 1).copy()
    compare_with_torch(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.2),
                       lambda a, b: torch.nn.functional.cross_entropy(a, b,
                                                                      label_smoothing=0.2),
                       x, p)
    t = np.array([[0, 3], [1, 2], [2, 2]])
    compare_with_torch(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.2),
                       lambda a, b: torch.nn.functional.cross_entropy(a, b,
                                                                      label_smoothing=0.2),
                       x, t)


def test_loss_modules():
    torch = pytest.importorskip("torch")
    x, t = arr(5, 2), probabilities(5, 2, seed=1)
    compare_with_torch(nn.BCEWithLogitsLoss(pos_weight=tinyrpn.tensor([2.0, 0.5])),
                       torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0, 0.5])), x, t)
    compare_with_torch(nn.BCELoss(reduction="sum"), torch.nn.BCELoss(reduction="sum"),
                       probabilities(5, 2), t)
    labels = np.array([0, 1, 1, 0, 1])
    compare_with_torch(nn.CrossEntropyLoss(label_smoothing=0.1),
                       torch.nn.CrossEntropyLoss(label_smoothing=0.1), x, labels)


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.binary_cross_entropy(tinyrpn.tensor([1.5]), tinyrpn.tensor([1.0])),
     ValueError, r"probability in \[0, 1\]"),
    (lambda: F.binary_cross_entropy(tinyrpn.tensor([0.5, 0.5]), tinyrpn.tensor([1.0])),
     ValueError, "must equal input shape"),
    (lambda: F.binary_cross_entropy_with_logits(tinyrpn.tensor([1.0]), tinyrpn.tensor([1.0]),
                                                reduction="avg"), ValueError, "reduction"),
    (lambda: F.cross_entropy(tinyrpn.tensor([[1.0, 2.0]]), tinyrpn.tensor([0]),
                             label_smoothing=1.5), ValueError, "label_smoothing"),
])
def test_binary_loss_errors_name_the_problem(call, error, message):
    with pytest.raises(error, match=message):
        call()
