"""Tests for tinyrpn.optim: SGD, Adam, AdamW, MADGRAD, Lookahead and the Optimizer base.

- one or two steps of each optimizer against arithmetic written out here;
- SGD / Adam / AdamW against torch.optim over several steps (random gradients, several
  shapes, every variant), when torch is installed;
- MADGRAD against a direct NumPy transcription of docs/EXPERIMENTS.md §3 (torch has no MADGRAD);
- state dicts: 3 steps, save to disk, load into fresh objects, 3 more steps gives exactly
  what 6 uninterrupted steps give;
- the contract: parameters without gradients are skipped, versions are bumped, and
  mistakes fail with errors that name them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from devices import host, on

import tinyrpn
from tinyrpn import nn, optim
from tinyrpn.autograd import GradientError
from tinyrpn.optim import lr_scheduler

SHAPES = [(), (3,), (4, 5), (2, 3, 4), (300, 250)]  # (300, 250): the parallel kernel path


def params_from(arrays, device="cpu"):
    return [nn.Parameter(on(device, np.array(a, copy=True))) for a in arrays]


def set_grads(params, grads):
    """Each parameter's gradient, on the parameter's device."""
    for p, g in zip(params, grads):
        p.grad = None if g is None else tinyrpn.tensor(np.array(g, copy=True), device=p.device)


def random_problem(dtype=np.float32, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return start, grads


def run_ours(make, start, grads, device="cpu"):
    """The parameters (as NumPy arrays) after one step per set of gradients."""
    params = params_from(start, device)
    opt = make(params)
    for g in grads:
        set_grads(params, g)
        opt.step()
    return [host(p.data) for p in params]


# ------------------------------------------------------------------ hand-computed steps


def test_sgd_by_hand():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    set_grads([p], [[0.5, -1.0]])
    opt.step()
    # first step: buffer b = g = [0.5, -1]; p = p - 0.1 b
    np.testing.assert_allclose(p.data, [1.0 - 0.05, 2.0 + 0.1])
    set_grads([p], [[1.0, 1.0]])
    opt.step()
    # b = 0.9 [0.5, -1] + [1, 1] = [1.45, 0.1]; p = [0.95, 2.1] - 0.1 b
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [1.45, 0.1])
    np.testing.assert_allclose(p.data, [0.95 - 0.145, 2.1 - 0.01])


def test_sgd_plain_and_weight_decay_by_hand():
    p = nn.Parameter(np.array([2.0, -4.0]))
    opt = optim.SGD([p], lr=0.5, weight_decay=0.1)
    set_grads([p], [[1.0, 1.0]])
    opt.step()
    # g + wd p = [1.2, 0.6]; p - 0.5 (g + wd p)
    np.testing.assert_allclose(p.data, [2.0 - 0.6, -4.0 - 0.3])
    assert opt.state[p] == {}  # no momentum, no state


def test_adam_by_hand():
    p = nn.Parameter(np.array([1.0, -1.0]))
    opt = optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    set_grads([p], [[0.1, -0.2]])
    opt.step()
    # m = 0.1 g, v = 0.001 g^2; bias-corrected m/0.1 = g, v/0.001 = g^2:
    # p -= 0.01 g / (|g| + 1e-8)
    np.testing.assert_allclose(p.data, [1.0 - 0.01 * 0.1 / (0.1 + 1e-8),
                                        -1.0 + 0.01 * 0.2 / (0.2 + 1e-8)], rtol=1e-14)
    set_grads([p], [[0.1, 0.2]])
    opt.step()
    # m = 0.9 [0.01, -0.02] + 0.1 [0.1, 0.2] = [0.019, 0.002];    / (1 - 0.9^2 = 0.19)
    # v = 0.999 [1e-5, 4e-5] + 0.001 [0.01, 0.04] = [1.999e-5, 7.996e-5]; / 0.001999
    #   = [0.01, 0.04] -> sqrt = [0.1, 0.2]
    m_hat = np.array([0.019, 0.002]) / 0.19
    expected = np.array([1.0 - 0.01 * 0.1 / (0.1 + 1e-8), -1.0 + 0.01 * 0.2 / (0.2 + 1e-8)])
    expected -= 0.01 * m_hat / (np.array([0.1, 0.2]) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    assert opt.state[p]["step"] == 2
    np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], [1.999e-5, 7.996e-5])


def test_adam_l2_vs_adamw_decoupled_by_hand():
    p1, p2 = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([1.0]))
    adam = optim.Adam([p1], lr=0.1, weight_decay=0.1)
    adamw = optim.AdamW([p2], lr=0.1, weight_decay=0.1)
    set_grads([p1], [[0.5]])
    set_grads([p2], [[0.5]])
    adam.step()
    adamw.step()
    # Adam: g' = 0.5 + 0.1 * 1 = 0.6; first step moves by lr * g'/|g'| = 0.1
    np.testing.assert_allclose(p1.data, [1.0 - 0.1 * 0.6 / (0.6 + 1e-8)])
    # AdamW: p = 1 * (1 - 0.1 * 0.1) = 0.99, then 0.1 * 0.5 / 0.5
    np.testing.assert_allclose(p2.data, [0.99 - 0.1 * 0.5 / (0.5 + 1e-8)])
    assert optim.AdamW([nn.Parameter(np.zeros(1))]).defaults["weight_decay"] == 1e-2


def test_madgrad_by_hand():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.MADGRAD([p], lr=0.01, momentum=0.9, eps=1e-6)
    set_grads([p], [[0.5, -0.25]])
    opt.step()
    g = np.array([0.5, -0.25])
    lam = (0.01 + 1e-6) * math.sqrt(1)          # k = 0
    nu, s = lam * g**2, lam * g
    z = np.array([1.0, 2.0]) - s / (nu ** (1 / 3) + 1e-6)
    x = 0.9 * np.array([1.0, 2.0]) + 0.1 * z     # c = 1 - momentum = 0.1
    np.testing.assert_allclose(p.data, x, rtol=1e-13)
    set_grads([p], [[0.5, -0.25]])
    opt.step()
    lam2 = (0.01 + 1e-6) * math.sqrt(2)          # k = 1
    nu, s = nu + lam2 * g**2, s + lam2 * g
    z = np.array([1.0, 2.0]) - s / (nu ** (1 / 3) + 1e-6)   # from x0, the first point
    x = 0.9 * x + 0.1 * z
    np.testing.assert_allclose(p.data, x, rtol=1e-13)
    assert opt.state["k"] == 2


def test_lookahead_by_hand():
    p = nn.Parameter(np.array([1.0]))
    la = optim.Lookahead(optim.SGD([p], lr=0.1), k=2, alpha=0.5)
    seen = []
    for _ in range(4):
        set_grads([p], [[1.0]])
        la.step()
        seen.append(float(p.data[0]))
        if len(seen) == 3:
            with la.slow_weights():
                slow_now = float(p.data[0])
            assert float(p.data[0]) == pytest.approx(0.8)  # the fast weights are back
    # steps 1, 2: p = 0.9, 0.8; sync: slow = 1 + 0.5 (0.8 - 1) = 0.9, p = 0.9
    # step 3: p = 0.8 (slow still 0.9); step 4: p = 0.7; sync: slow = 0.9 + 0.5 (0.7 - 0.9)
    np.testing.assert_allclose(seen, [0.9, 0.9, 0.8, 0.8])
    assert slow_now == pytest.approx(0.9)
    np.testing.assert_allclose(la.slow[p], [0.8])


# ------------------------------------------------------------------ against torch.optim


def torch_run(torch_cls, kwargs, start, grads):
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.tensor(a)) for a in start]
    opt = torch_cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in params]


SGD_VARIANTS = [
    {"lr": 0.1},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
]
ADAM_VARIANTS = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,kwargs",
    [("SGD", k) for k in SGD_VARIANTS] + [("Adam", k) for k in ADAM_VARIANTS]
    + [("AdamW", k) for k in ADAM_VARIANTS],
)
def test_against_torch(name, kwargs, dtype, device):
    torch = pytest.importorskip("torch")
    start, grads = random_problem(dtype, steps=6, seed=len(str(kwargs)))
    ours = run_ours(lambda ps: getattr(optim, name)(ps, **kwargs), start, grads, device)
    theirs = torch_run(getattr(torch.optim, name), dict(kwargs, foreach=False), start, grads)
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    for a, b, s in zip(ours, theirs, start):
        assert a.shape == b.shape and a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)
        assert not np.array_equal(a, s)  # they moved


def test_param_groups_against_torch(device):
    torch = pytest.importorskip("torch")
    start, grads = random_problem(np.float64, steps=5, seed=3)

    def ours_groups(ps):
        return optim.AdamW([{"params": ps[:2], "lr": 0.1}, {"params": ps[2:]}], lr=0.01,
                           weight_decay=0.05)

    ours = run_ours(ours_groups, start, grads, device)
    params = [torch.nn.Parameter(torch.tensor(a)) for a in start]
    opt = torch.optim.AdamW([{"params": params[:2], "lr": 0.1}, {"params": params[2:]}],
                            lr=0.01, weight_decay=0.05)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        opt.step()
    for a, b in zip(ours, params):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------ MADGRAD


def madgrad_reference(start, grads, lr, momentum, weight_decay, eps):
    """docs/EXPERIMENTS.md §3 transcribed in float64, one parameter at a time."""
    out = []
    for i, x0 in enumerate(start):
        x0 = x0.astype(np.float64)
        x, nu, s = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
        for k, step_grads in enumerate(grads):
            g = step_grads[i].astype(np.float64) + weight_decay * x
            lam = (lr + eps) * math.sqrt(k + 1)
            nu = nu + lam * g * g
            s = s + lam * g
            z = x0 - s / (np.cbrt(nu) + eps)
            c = 1 - momentum
            x = z if momentum == 0 else (1 - c) * x + c * z
        out.append(x)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, {"lr": 1.7e-4}, {"momentum": 0.0},
                                    {"weight_decay": 0.01}, {"momentum": 0.5, "eps": 1e-4}])
def test_madgrad_against_reference_formula(kwargs, dtype, device):
    start, grads = random_problem(dtype, steps=6, seed=11)
    ours = run_ours(lambda ps: optim.MADGRAD(ps, **kwargs), start, grads, device)
    full = {"lr": 1e-2, "momentum": 0.9, "weight_decay": 0.0, "eps": 1e-6, **kwargs}
    expected = madgrad_reference(start, grads, **full)
    rtol = 1e-4 if dtype == np.float32 else 1e-11
    for a, b, s in zip(ours, expected, start):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        assert not np.array_equal(a, s)


def test_madgrad_step_counter_is_shared():
    """k counts optimizer steps, as in the reference: a parameter whose first gradient comes
    at the second step uses lambda_1 = (lr + eps) sqrt(2)."""
    p, q = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([3.0]))
    opt = optim.MADGRAD([p, q], lr=0.1, momentum=0.9, eps=1e-6)
    set_grads([p, q], [[1.0], None])
    opt.step()
    assert q not in opt.state and float(q.data[0]) == 3.0
    set_grads([p, q], [[1.0], [2.0]])
    opt.step()
    lam = (0.1 + 1e-6) * math.sqrt(2)
    z = 3.0 - lam * 2.0 / ((lam * 4.0) ** (1 / 3) + 1e-6)
    assert float(q.data[0]) == pytest.approx(0.9 * 3.0 + 0.1 * z, rel=1e-13)


def test_madgrad_does_not_change_the_gradient():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.MADGRAD([p], weight_decay=0.5)
    set_grads([p], [[0.1, 0.2]])
    opt.step()
    np.testing.assert_array_equal(p.grad.data, [0.1, 0.2])


# ------------------------------------------------------------------ state dicts

CASES = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "madgrad": lambda ps: optim.MADGRAD(ps, lr=0.01),
    "madgrad-no-momentum": lambda ps: optim.MADGRAD(ps, lr=0.01, momentum=0.0),
    "lookahead-madgrad": lambda ps: optim.Lookahead(optim.MADGRAD(ps, lr=0.01), k=2, alpha=0.8),
    "lookahead-adamw": lambda ps: optim.Lookahead(optim.AdamW(ps, lr=0.01), k=4),
}


def two_groups(make):
    """The optimizer over two groups with different learning rates."""
    def build(ps):
        opt = make(ps[:3])
        opt.add_param_group({"params": ps[3:], "lr": 0.003})
        return opt
    return build


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_round_trip_continues_identically(case, tmp_path, device):
    make = two_groups(CASES[case])
    start, grads = random_problem(np.float32, steps=6, seed=5)
    whole = params_from(start, device)
    opt = make(whole)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    for g in grads:
        set_grads(whole, g)
        opt.step()
        sched.step()

    first = params_from(start, device)
    opt1 = make(first)
    sched1 = lr_scheduler.ExponentialLR(opt1, gamma=0.9)
    for g in grads[:3]:
        set_grads(first, g)
        opt1.step()
        sched1.step()
    path = tmp_path / "ckpt.npz"
    tinyrpn.save({"optimizer": opt1.state_dict(), "scheduler": sched1.state_dict(),
                   "params": [p.data for p in first]}, path)

    ckpt = tinyrpn.load(path, map_location=device)
    second = params_from([host(a) for a in ckpt["params"]], device)
    opt2 = make(second)
    sched2 = lr_scheduler.ExponentialLR(opt2, gamma=0.9)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    for g in grads[3:]:
        set_grads(second, g)
        opt2.step()
        sched2.step()
    for a, b in zip(whole, second):
        np.testing.assert_array_equal(host(a.data), host(b.data))
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert repr(opt2) == repr(opt)


def test_state_dict_layout_is_pytorchs():
    ps = params_from([np.zeros(3), np.zeros((2, 2)), np.zeros(1)])
    opt = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}])
    set_grads(ps, [np.ones(3), None, np.ones(1)])
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 2]  # parameter 1 had no gradient: no state
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"] == 1 and isinstance(sd["state"][0]["step"], int)
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_load_state_dict_accepts_json_shaped_input():
    """A JSON round trip turns int keys into strings and tuples into lists."""
    ps = params_from([np.ones(3)])
    opt = optim.Adam(ps, lr=0.1)
    set_grads(ps, [np.ones(3)])
    opt.step()
    sd = opt.state_dict()
    jsonish = {"state": {str(k): {kk: (np.int64(vv) if kk == "step" else vv)
                                  for kk, vv in v.items()} for k, v in sd["state"].items()},
               "param_groups": [{k: list(v) if isinstance(v, tuple) else v
                                 for k, v in g.items()} for g in sd["param_groups"]]}
    fresh = optim.Adam(params_from([np.ones(3)]), lr=0.1)
    fresh.load_state_dict(jsonish)
    assert fresh.param_groups[0]["betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(fresh.state[fresh.param_groups[0]["params"][0]]["exp_avg"],
                                  opt.state[ps[0]]["exp_avg"])
    # the loaded arrays are copies, in the parameter's dtype
    assert fresh.state[fresh.param_groups[0]["params"][0]]["exp_avg"] is not \
        opt.state[ps[0]]["exp_avg"]


def test_load_state_dict_errors_change_nothing():
    ps = params_from([np.ones(3), np.ones(2)])
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    set_grads(ps, [np.ones(3), np.ones(2)])
    opt.step()
    good = opt.state_dict()

    def broken(**changes):
        sd = {"state": {k: dict(v) for k, v in good["state"].items()},
              "param_groups": [dict(g) for g in good["param_groups"]]}
        for path, value in changes.items():
            if path == "top":
                sd.update(value)
            elif path == "group":
                sd["param_groups"][0].update(value)
            elif path == "state0":
                sd["state"][0].update(value)
            elif path == "state":
                sd["state"].update(value)
        return sd

    fresh_params = params_from([np.ones(3), np.ones(2)])
    fresh = optim.SGD(fresh_params, lr=0.2, momentum=0.9)
    cases = [
        (broken(top={"extra": 1}), KeyError, "unknown key 'extra'"),
        (broken(group={"momentun": 0.5}), KeyError, "unknown key 'momentun'.*'momentum'"),
        (broken(state0={"exp_avg": np.ones(3)}), KeyError, "unknown key 'exp_avg'"),
        (broken(state={"k": 3}), KeyError, "unknown state entry 'k'"),
        (broken(state={7: {"momentum_buffer": np.ones(3)}}), KeyError, "parameter 7"),
        (broken(state0={"momentum_buffer": np.ones(4)}), ValueError, r"shape \(4,\)"),
        (broken(group={"lr": -1.0}), ValueError, "lr must be >= 0"),
        ({"state": {}, "param_groups": []}, ValueError, "0 parameter groups"),
        ({"state": {}}, KeyError, "missing key 'param_groups'"),
    ]
    for sd, error, message in cases:
        with pytest.raises(error, match=message):
            fresh.load_state_dict(sd)
        assert fresh.param_groups[0]["lr"] == 0.2 and len(fresh.state) == 0  # untouched
    one_param = optim.SGD(params_from([np.ones(3)]), lr=0.1)
    with pytest.raises(ValueError, match="2 parameters in the state dict but 1 here"):
        one_param.load_state_dict(good)


def test_lookahead_state_dict_errors():
    ps = params_from([np.ones(2)])
    la = optim.Lookahead(optim.SGD(ps, lr=0.1), k=2)
    set_grads(ps, [np.ones(2)])
    la.step()
    sd = la.state_dict()
    assert set(sd) == {"optimizer", "slow", "step_count", "k", "alpha"} and sd["step_count"] == 1
    with pytest.raises(KeyError, match="unknown key 'slow_weights'"):
        la.load_state_dict({**sd, "slow_weights": {}})
    with pytest.raises(ValueError, match=r"slow\[0\] has shape \(3,\)"):
        la.load_state_dict({**sd, "slow": {0: np.ones(3)}})
    with pytest.raises(KeyError, match="numbered 0 to 0"):
        la.load_state_dict({**sd, "slow": {5: np.ones(2)}})


# ------------------------------------------------------------------ the contract


def test_parameters_without_gradient_are_skipped():
    ps = params_from([np.ones(3), np.ones(3)])
    for make in (lambda p: optim.SGD(p, momentum=0.9), optim.Adam, optim.MADGRAD):
        opt = make(ps)
        set_grads(ps, [np.ones(3), None])
        opt.step()
        np.testing.assert_array_equal(ps[1].data, np.ones(3))
        assert ps[1] not in opt.state or not opt.state[ps[1]]
        assert not np.array_equal(ps[0].data, np.ones(3))


def test_step_bumps_the_version_so_stale_graphs_fail():
    w = nn.Parameter(np.array([1.0, 2.0, 3.0]))
    y = (w * w).sum()  # the backward of w * w needs w's old values
    opt = optim.SGD([w], lr=0.1)
    version = w._version.value
    w.grad = tinyrpn.tensor(np.ones(3))
    opt.step()
    assert w._version.value == version + 1
    with pytest.raises(GradientError, match="modified in place"):
        y.backward()


def test_zero_grad():
    ps = params_from([np.ones(2), np.ones(2)])
    opt = optim.SGD(ps)
    set_grads(ps, [np.ones(2), None])
    shared = ps[0].grad.data
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(ps[0].grad.data, [0.0, 0.0])
    np.testing.assert_array_equal(shared, [1.0, 1.0])  # a new array, the old one untouched
    assert ps[1].grad is None
    opt.zero_grad()
    assert ps[0].grad is None


def test_closure_is_called_with_grad_enabled():
    w = nn.Parameter(np.array([3.0]))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tinyrpn.no_grad():
        loss = opt.step(closure)
    assert float(loss.item()) == 9.0
    np.testing.assert_allclose(w.data, [3.0 - 0.25 * 6.0])


def test_training_a_model_lowers_the_loss(seeded):
    xs = seeded.standard_normal((64, 5)).astype(np.float32)
    w_true = np.linspace(-0.5, 0.5, 5, dtype=np.float32)[:, None]
    x, y = tinyrpn.tensor(xs), tinyrpn.tensor(xs @ w_true)
    model = nn.Linear(5, 1)
    opt = optim.Lookahead(optim.AdamW(model.parameters(), lr=0.05), k=3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert losses[-1] < 0.05 * losses[0]


def test_groups_and_repr():
    ps = params_from([np.ones(2), np.ones(3), np.ones(4)])
    opt = optim.SGD([{"params": ps[:1]}, {"params": ps[1:2], "lr": 0.5}], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": ps[2], "momentum": 0.0})  # a single tensor is fine
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5, 0.1]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9, 0.0]
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "Parameter Group 2" in text
    assert "    lr: 0.5" in text and "params" not in text
    la = optim.Lookahead(opt, k=4, alpha=0.8)
    assert repr(la).startswith("Lookahead (k=4, alpha=0.8) over\nSGD (")
    assert la.param_groups is opt.param_groups and la.state is opt.state
    # model.parameters() is a generator: taken once, in order
    model = nn.Linear(3, 2)
    assert len(optim.Adam(model.parameters()).param_groups[0]["params"]) == 2


def test_lookahead_slow_weights_context():
    p = nn.Parameter(np.array([1.0, 2.0]))
    la = optim.Lookahead(optim.SGD([p], lr=0.5), k=10)
    data_id = id(p.data)
    with la.slow_weights():  # before any step: nothing to swap
        np.testing.assert_array_equal(p.data, [1.0, 2.0])
    set_grads([p], [[1.0, 1.0]])
    la.step()
    with la.slow_weights():
        np.testing.assert_array_equal(p.data, [1.0, 2.0])
        with pytest.raises(RuntimeError, match="inside slow_weights"):
            la.step()
        with pytest.raises(RuntimeError, match="already active"):
            with la.slow_weights():
                pass
    np.testing.assert_array_equal(p.data, [0.5, 1.5])
    assert id(p.data) == data_id  # values copied in and out, the array is the same


def test_lookahead_drives_the_inner_optimizer_for_schedulers():
    p = nn.Parameter(np.ones(2))
    inner = optim.AdamW([p], lr=0.1)
    la = optim.Lookahead(inner)
    sched = lr_scheduler.MultiStepLR(la, milestones=[1], gamma=0.4)
    sched.step()
    assert inner.param_groups[0]["lr"] == pytest.approx(0.04)
    la.zero_grad()
    la.add_param_group({"params": [nn.Parameter(np.ones(1))]})
    assert len(inner.param_groups) == 2


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda ps: optim.SGD(ps, lr=-0.1), ValueError, "SGD: lr must be >= 0, got -0.1"),
        (lambda ps: optim.SGD(ps, lr="fast"), TypeError, "lr must be a number"),
        (lambda ps: optim.SGD(ps, nesterov=True), ValueError, "nesterov=True needs momentum"),
        (lambda ps: optim.SGD(ps, momentum=-1), ValueError, "momentum must be >= 0"),
        (lambda ps: optim.Adam(ps, betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in"),
        (lambda ps: optim.Adam(ps, betas=0.9), TypeError, "betas must be a pair"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), ValueError, "eps must be >= 0"),
        (lambda ps: optim.AdamW(ps, weight_decay=-0.1), ValueError, "weight_decay must be"),
        (lambda ps: optim.MADGRAD(ps, lr=0.0), ValueError, "MADGRAD: lr must be > 0"),
        (lambda ps: optim.MADGRAD(ps, momentum=1.0), ValueError, r"momentum must be in \[0"),
        (lambda ps: optim.Lookahead(optim.SGD(ps), k=0), ValueError, "k must be an integer"),
        (lambda ps: optim.Lookahead(optim.SGD(ps), alpha=1.5), ValueError, "alpha must be in"),
        (lambda ps: optim.Lookahead(ps), TypeError, "must be a tinyrpn.optim.Optimizer"),
    ],
)
def test_bad_hyperparameters(make, error, message):
    with pytest.raises(error, match=message):
        make(params_from([np.ones(2)]))


def test_bad_parameters():
    good = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(good)  # a single tensor, not a list
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray"):
        optim.SGD([good, np.ones(2)])
    with pytest.raises(TypeError, match="floating-point.*int64"):
        optim.Adam([tinyrpn.tensor(np.arange(3))])
    with pytest.raises(ValueError, match="not a leaf"):
        optim.Adam([good * 2])
    with pytest.raises(ValueError, match="appears twice"):
        optim.Adam([good, good])
    with pytest.raises(ValueError, match="more than one group"):
        optim.Adam([{"params": [good]}, {"params": [good]}])
    with pytest.raises(TypeError, match="not a set"):
        optim.Adam({good})
    with pytest.raises(KeyError, match="'params' key"):
        optim.Adam([good]).add_param_group({"lr": 0.1})


@pytest.mark.device
def test_optimizers_on_cuda_match_the_cpu(cuda):
    start, grads = random_problem(np.float32, steps=3, seed=9)
    for make in CASES.values():
        cpu, gpu = params_from(start), params_from(start, cuda)
        opt_cpu, opt_gpu = make(cpu), make(gpu)
        for g in grads:
            set_grads(cpu, g)
            set_grads(gpu, g)
            opt_cpu.step()
            opt_gpu.step()
        for a, b in zip(cpu, gpu):
            assert b.device == "cuda"
            np.testing.assert_allclose(host(b.data), a.data, rtol=1e-5, atol=1e-6)
        # a CPU state dict loads onto the GPU parameters, and steps on from there
        again = make(gpu)
        again.load_state_dict(opt_cpu.state_dict())
        set_grads(gpu, grads[0])
        again.step()
        assert all(p.device == "cuda" for p in gpu)
