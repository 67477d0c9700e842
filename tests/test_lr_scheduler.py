"""Tests for tinyrpn.optim.lr_scheduler.

- the closed forms (lr_e = initial_lr * gamma^e, ...) hold, written out here;
- the sequences equal torch.optim.lr_scheduler's exactly (same floating-point operations)
  over 15 steps, for several groups, for schedulers chained on one optimizer, and when a
  rate is changed by hand mid-way, when torch is installed;
- state dicts resume the sequence; errors name the problem.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyrpn import nn, optim
from tinyrpn.optim import lr_scheduler

STEPS = 15
LRS = [0.1, 0.02]  # two parameter groups


def our_optimizer(lrs=LRS):
    groups = [{"params": [nn.Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=1.0)


def torch_optimizer(lrs=LRS):
    torch = pytest.importorskip("torch")
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=1.0)


def sequence(opt, schedulers, steps=STEPS, tweak=None):
    """The rates of every group: after construction, then after each step."""
    out = [[g["lr"] for g in opt.param_groups]]
    for e in range(1, steps + 1):
        opt.step()
        for s in schedulers:
            s.step()
        if tweak is not None and e == tweak[0]:
            opt.param_groups[0]["lr"] = tweak[1]
        out.append([g["lr"] for g in opt.param_groups])
    assert schedulers[-1].get_last_lr() == out[-1] or tweak is not None
    return out


SCHEDULERS = {
    "exponential": ("ExponentialLR", {"gamma": 0.9}),
    "step": ("StepLR", {"step_size": 4, "gamma": 0.5}),
    "step-default": ("StepLR", {"step_size": 3}),
    "multistep": ("MultiStepLR", {"milestones": [2, 5, 5, 11], "gamma": 0.4}),
    "multistep-default": ("MultiStepLR", {"milestones": [10, 11]}),
    "linear": ("LinearLR", {}),
    "linear-decay": ("LinearLR", {"start_factor": 1.0, "end_factor": 1 / 3,
                                  "total_iters": 12}),
    "linear-to-zero": ("LinearLR", {"start_factor": 0.5, "end_factor": 0.0, "total_iters": 7}),
}


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_same_sequence_as_torch(case):
    torch = pytest.importorskip("torch")
    name, kwargs = SCHEDULERS[case]
    ours_opt, theirs_opt = our_optimizer(), torch_optimizer()
    ours = sequence(ours_opt, [getattr(lr_scheduler, name)(ours_opt, **kwargs)])
    theirs = sequence(theirs_opt, [getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs)])
    assert ours == theirs  # exactly: the same float operations in the same order


def test_chained_and_hand_changed_rates_as_torch():
    torch = pytest.importorskip("torch")
    ours_opt, theirs_opt = our_optimizer(), torch_optimizer()
    ours = sequence(ours_opt, [lr_scheduler.LinearLR(ours_opt, 0.25, total_iters=4),
                               lr_scheduler.ExponentialLR(ours_opt, 0.95)], tweak=(6, 0.5))
    theirs = sequence(theirs_opt,
                      [torch.optim.lr_scheduler.LinearLR(theirs_opt, 0.25, total_iters=4),
                       torch.optim.lr_scheduler.ExponentialLR(theirs_opt, 0.95)],
                      tweak=(6, 0.5))
    assert ours == theirs


def test_closed_forms():
    e = np.arange(STEPS + 1)
    opt = our_optimizer([0.1])
    got = np.array(sequence(opt, [lr_scheduler.ExponentialLR(opt, 0.9)]))[:, 0]
    np.testing.assert_allclose(got, 0.1 * 0.9**e, rtol=1e-14)

    opt = our_optimizer([0.1])
    got = np.array(sequence(opt, [lr_scheduler.StepLR(opt, 4, 0.5)]))[:, 0]
    np.testing.assert_allclose(got, 0.1 * 0.5 ** (e // 4), rtol=1e-14)

    opt = our_optimizer([0.1])
    got = np.array(sequence(opt, [lr_scheduler.MultiStepLR(opt, [3, 7, 7], 0.1)]))[:, 0]
    drops = (e >= 3).astype(int) + 2 * (e >= 7)  # 7 is listed twice: two drops there
    np.testing.assert_allclose(got, 0.1 * 0.1**drops, rtol=1e-14)

    opt = our_optimizer([0.1])
    got = np.array(sequence(opt, [lr_scheduler.LinearLR(opt, 0.2, 1.0, total_iters=5)]))[:, 0]
    np.testing.assert_allclose(got, 0.1 * (0.2 + 0.8 * np.minimum(e, 5) / 5), rtol=1e-14)


def test_state_dict_resumes_the_sequence():
    for name, kwargs in SCHEDULERS.values():
        opt = our_optimizer()
        sched = getattr(lr_scheduler, name)(opt, **kwargs)
        full = sequence(opt, [sched])

        opt1 = our_optimizer()
        sched1 = getattr(lr_scheduler, name)(opt1, **kwargs)
        sequence(opt1, [sched1], steps=6)
        saved_opt = opt1.state_dict()
        saved = json.loads(json.dumps(sched1.state_dict()))  # plain JSON values only

        opt2 = our_optimizer()
        sched2 = getattr(lr_scheduler, name)(opt2, **kwargs)
        opt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved)
        assert sched2.last_epoch == 6 and sched2.get_last_lr() == full[6]
        rest = sequence(opt2, [sched2], steps=STEPS - 6)
        assert rest == full[6:], name


def test_resuming_with_last_epoch():
    opt = our_optimizer([0.1])
    sched = lr_scheduler.ExponentialLR(opt, 0.5)
    sched.step()
    sched.step()
    # a new scheduler that resumes at epoch 2 keeps the current rate and initial_lr
    resumed = lr_scheduler.ExponentialLR(opt, 0.5, last_epoch=2)
    assert resumed.last_epoch == 3 and resumed.base_lrs == [0.1]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        lr_scheduler.StepLR(our_optimizer(), 2, last_epoch=4)


def test_scheduler_on_lookahead_drives_the_inner_optimizer():
    inner = our_optimizer([0.1])
    sched = lr_scheduler.StepLR(optim.Lookahead(inner, k=2), step_size=1, gamma=0.5)
    sched.step()
    assert inner.param_groups[0]["lr"] == 0.05 and sched.get_last_lr() == [0.05]


def test_state_dict_contents_and_repr():
    opt = our_optimizer([0.1])
    sched = lr_scheduler.MultiStepLR(opt, [5, 2, 5], gamma=0.5)
    sd = sched.state_dict()
    assert sd == {"last_epoch": 0, "base_lrs": [0.1], "_last_lr": [0.1],
                  "milestones": [2, 5, 5], "gamma": 0.5}
    assert repr(sched) == "MultiStepLR(milestones=[2, 5, 5], gamma=0.5, last_epoch=0)"
    assert sched.get_last_lr() is not sched.get_last_lr()  # a copy each time


def test_errors():
    with pytest.raises(TypeError, match="expected a tinyrpn.optim.Optimizer"):
        lr_scheduler.ExponentialLR(object(), 0.9)
    opt = our_optimizer()
    with pytest.raises(ValueError, match="gamma must be > 0"):
        lr_scheduler.ExponentialLR(opt, -0.5)
    with pytest.raises(ValueError, match="step_size must be an integer >= 1"):
        lr_scheduler.StepLR(opt, 0)
    with pytest.raises(TypeError, match="milestones must be integers"):
        lr_scheduler.MultiStepLR(opt, [1.5])
    with pytest.raises(ValueError, match=r"start_factor must be in \(0, 1\]"):
        lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match=r"end_factor must be in \[0, 1\]"):
        lr_scheduler.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="last_epoch must be an integer >= -1"):
        lr_scheduler.ExponentialLR(opt, 0.9, last_epoch=-2)
    sched = lr_scheduler.ExponentialLR(opt, 0.9)
    good = sched.state_dict()
    with pytest.raises(KeyError, match="unknown key 'gama'.*did you mean 'gamma'"):
        sched.load_state_dict({**good, "gama": 0.5})
    with pytest.raises(KeyError, match=r"missing keys \['gamma'\]"):
        sched.load_state_dict({k: v for k, v in good.items() if k != "gamma"})
    with pytest.raises(ValueError, match="base_lrs has 1 entries but the optimizer has 2"):
        sched.load_state_dict({**good, "base_lrs": [0.1]})
