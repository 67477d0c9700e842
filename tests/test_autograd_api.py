"""tinyrpn.autograd.grad, Tensor.register_hook, module forward hooks and the device API,
each checked against what PyTorch does with the same calls."""

from __future__ import annotations

import types

import numpy as np
import pytest

import tinyrpn
from tinyrpn import GradientError, autograd, nn

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
XV, WV = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))


def _both(t):
    x = t.tensor(XV, requires_grad=True, dtype=t.float64)
    w = t.tensor(WV, requires_grad=True, dtype=t.float64)
    h = (x @ w).tanh()
    return x, w, h, (h * h).sum()


# ----------------------------------------------------------------------------- grad


def test_grad_matches_torch_autograd_grad_and_leaves_dot_grad_alone():
    x, w, h, loss = _both(tinyrpn)
    tx, tw, th, tloss = _both(torch)
    ours = autograd.grad(loss, [x, w, h])
    theirs = torch.autograd.grad(tloss, [tx, tw, th])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert x.grad is None and w.grad is None  # returned, not accumulated


def test_grad_with_several_outputs_and_grad_outputs():
    direction = RNG.standard_normal((3, 2))
    results = []
    for t in (tinyrpn, torch):
        x, w, h, loss = _both(t)
        results.append(t.autograd.grad([loss, h], [x], grad_outputs=[None, t.tensor(direction)]))
    np.testing.assert_allclose(results[0][0].numpy(), results[1][0].numpy(), rtol=1e-12)
    (single,) = autograd.grad(_both(tinyrpn)[3], _both(tinyrpn)[0], allow_unused=True)
    assert single is None  # that x belongs to another graph


def test_grad_errors_and_retain_graph():
    x, w, h, loss = _both(tinyrpn)
    unused = tinyrpn.ones(2, requires_grad=True)
    with pytest.raises(GradientError, match="input 1 .* was not used"):
        autograd.grad(loss, [x, unused], retain_graph=True)
    g1 = autograd.grad(loss, x, retain_graph=True)[0]
    g2 = autograd.grad(loss, x)[0]
    np.testing.assert_array_equal(g1.numpy(), g2.numpy())
    with pytest.raises(GradientError, match="second time"):
        autograd.grad(loss, x)
    with pytest.raises(GradientError, match="without a given gradient only one-element"):
        autograd.grad(_both(tinyrpn)[2], x)
    with pytest.raises(GradientError, match="does not require grad"):
        autograd.grad(_both(tinyrpn)[3], tinyrpn.ones(2))
    with pytest.raises(NotImplementedError, match="create_graph"):
        autograd.grad(loss, x, create_graph=True)


# ----------------------------------------------------------------------------- hooks


def test_tensor_hooks_see_and_replace_gradients_as_in_pytorch():
    records = []
    for t in (tinyrpn, torch):
        x, w, h, loss = _both(t)
        seen = {}
        h.register_hook(lambda g, seen=seen: seen.update(h=g.detach().numpy().copy()))
        w.register_hook(lambda g: g * 2)  # a leaf: the doubled gradient is accumulated
        handle = x.register_hook(lambda g: g * 100)
        handle.remove()
        loss.backward()
        records.append((seen["h"], w.grad.numpy(), x.grad.numpy()))
    for ours, theirs in zip(*records):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_hook_on_an_intermediate_changes_what_flows_on():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: tinyrpn.zeros_like(g))
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0])
    x2 = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y2 = x2 * 3
    y2.register_hook(lambda g: g + 1)
    (g,) = autograd.grad(y2.sum(), x2)  # hooks run in grad() too
    np.testing.assert_array_equal(g.numpy(), [6, 6])
    with pytest.raises(GradientError, match="register_hook on a tensor that does not require"):
        tinyrpn.ones(2).register_hook(print)


def test_forward_hooks_record_and_replace_as_in_pytorch():
    """A teacher's view: activations and their gradients, collected with hooks."""
    results = []
    for t, torch_nn in ((tinyrpn, nn), (torch, torch.nn)):
        t.manual_seed(0)
        model = torch_nn.Sequential(torch_nn.Linear(4, 3), torch_nn.Tanh(), torch_nn.Linear(3, 2))
        with t.no_grad():
            for p, v in zip(model.parameters(), (RNG_W1, RNG_B1, RNG_W2, RNG_B2)):
                p.copy_(t.tensor(v))
        acts, grads = {}, {}

        def keep(module, inputs, output, acts=acts, grads=grads):
            acts["tanh"] = output.detach().numpy().copy()
            output.register_hook(lambda g: grads.update(tanh=g.numpy().copy()))

        handle = model[1].register_forward_hook(keep)
        model[2].register_forward_hook(lambda m, i, o: o * 2)  # replaces the output
        model[0].register_forward_pre_hook(lambda m, i: (i[0] + 1,))
        out = model(t.tensor(XV.astype(np.float32)))
        out.sum().backward()
        handle.remove()
        model(t.tensor(XV.astype(np.float32)))
        results.append((acts["tanh"], grads["tanh"], out.detach().numpy(),
                        model[0].weight.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


RNG_W1, RNG_B1 = RNG.standard_normal((3, 4)).astype(np.float32), np.zeros(3, np.float32)
RNG_W2, RNG_B2 = RNG.standard_normal((2, 3)).astype(np.float32), np.ones(2, np.float32)


# ----------------------------------------------------------------------------- names


def test_cuda_namespace_and_alias():
    assert tinyrpn.cuda.is_available() == tinyrpn.cuda_is_available()
    assert tinyrpn.cuda.device_count() >= int(tinyrpn.cuda.is_available())


def test_top_level_names_are_tinyrpns_own():
    public = [n for n in dir(tinyrpn) if not n.startswith("_")]
    for name in ("Any", "os", "importlib", "annotations"):
        assert name not in public
    # a submodule is an attribute of the package once something imported it (as in torch)
    submodules = {n for n in public if isinstance(getattr(tinyrpn, n), types.ModuleType)
                  and getattr(tinyrpn, n).__name__ == f"tinyrpn.{n}"}
    assert [n for n in public if n not in tinyrpn.__all__ and n not in submodules] == []


def test_repr_and_grad_fn_name_the_same_op():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 2, x * x, x.exp(), x.sin(), x[0], x.sum()):
        assert f"grad_fn={y.grad_fn!r}" in repr(y)


def test_backward_with_inputs_and_autograd_backward_match_pytorch():
    direction = RNG.standard_normal((3, 2))
    results = []
    for t in (tinyrpn, torch):
        x, w, h, loss = _both(t)
        loss.backward(inputs=[w])  # only w's .grad is filled
        assert x.grad is None
        first = w.grad.numpy().copy()
        x2, w2, h2, loss2 = _both(t)
        t.autograd.backward([loss2, h2], [None, t.tensor(direction)])
        results.append((first, w2.grad.numpy(), x2.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
