"""Places where tinyrpn once differed from PyTorch, each checked against PyTorch itself:
indexing order, view, numpy() of a graph tensor, in-place changes inside a graph, empty
dim tuples, dtype mixing, NaN gradients and the errors users meet."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import GradientError


def _torch():
    return pytest.importorskip("torch")


def _pair(values, dtype="float64", device="cpu"):
    """The same leaf values in tinyrpn (on ``device``) and in torch, both requiring grad."""
    torch = _torch()
    values = np.asarray(values, dtype=dtype)
    return (tinyrpn.tensor(values, requires_grad=True, device=device),
            torch.tensor(values, requires_grad=True))


def _grads_match(fn, values, device="cpu"):
    """fn on both engines: values and input gradients equal (NaN where torch has NaN)."""
    ours, theirs = _pair(values, device=device)
    out, ref = fn(tinyrpn, ours), fn(_torch(), theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning on the way
        out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- mish


def test_mish_of_a_0d_tensor_matches_pytorch():
    _grads_match(lambda t, x: t.nn.functional.mish(x), 0.7)
    assert F.mish(tinyrpn.tensor(-1.5)).shape == ()


# ----------------------------------------------------------------------------- indexing

INDEXES = [
    lambda t: (0, slice(None), slice(None), [1, 2]),
    lambda t: (slice(None), 0, slice(None), [1, 2]),
    lambda t: (t.tensor(1), slice(None), [0, 2], slice(None)),
    lambda t: ([0, 1], slice(None), 0),
    lambda t: (Ellipsis, 0, [1, 2]),
    lambda t: (1, [0, 2], slice(None), [1, 3]),
    lambda t: (0, slice(1, 3), t.tensor([[True, False, True, False, True]] * 4)),
]


@pytest.mark.parametrize("index", INDEXES)
def test_integers_select_before_index_arrays_as_in_pytorch(index, device):
    torch = _torch()
    values = np.arange(120.0).reshape(2, 3, 4, 5)
    x, tx = _pair(values, device=device)
    out, ref = x[index(tinyrpn)], tx[index(torch)]
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    direction = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tinyrpn.tensor(direction, device=device))
    ref.backward(torch.tensor(direction))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_issue_example_shape():
    assert tinyrpn.zeros(2, 3, 4, 5)[0, :, :, [1, 2]].shape == (3, 4, 2)


def test_indexing_a_0d_tensor_suggests_item():
    with pytest.raises(IndexError, match=r"0-d tensor.*\.item\(\)"):
        tinyrpn.tensor(1.5)[0]
    assert tinyrpn.tensor(1.5)[...].item() == 1.5  # indexing with no dims is fine
    assert tinyrpn.tensor(1.5)[None].shape == (1,)


# ----------------------------------------------------------------------------- view


def test_view_of_a_non_contiguous_tensor_is_refused(device):
    x = tinyrpn.arange(6.0, device=device).reshape(2, 3).t()
    with pytest.raises(RuntimeError, match=r"view: .*shape \(3, 2\).*Use \.reshape"):
        x.view(6)
    np.testing.assert_array_equal(x.reshape(6).numpy(), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(x.contiguous().view(6).numpy(), [0, 3, 1, 4, 2, 5])
    assert not x.is_contiguous() and x.contiguous().is_contiguous()


def test_writes_through_a_view_reach_the_base(device):
    x = tinyrpn.zeros(2, 3, device=device)
    x.view(6)[4] = 7.0
    x.t().view(3, 2)  # a transpose viewed with its own dims is still a view
    assert x[1, 1].item() == 7.0
    y = tinyrpn.zeros(4, 6, device=device)[:, ::2]  # strided, but the last two dims can still split
    assert y.view(4, 3, 1).shape == (4, 3, 1)


# ----------------------------------------------------------------------------- numpy()


def test_numpy_of_a_tensor_that_requires_grad_is_refused():
    x = tinyrpn.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()
    with pytest.raises(RuntimeError):
        (x * 2).numpy()
    np.testing.assert_array_equal(x.detach().numpy(), [1, 1, 1])
    assert x.tolist() == [1.0, 1.0, 1.0]  # a copy: allowed, as in PyTorch
    assert "requires_grad=True" in repr(x)


# ----------------------------------------------------------------------------- in-place


@pytest.mark.parametrize("change", [
    lambda t, y, w: y.add_(w, alpha=2),
    lambda t, y, w: y.sub_(1.5),
    lambda t, y, w: y.mul_(w),
    lambda t, y, w: y.div_(w + 3),
    lambda t, y, w: y.clamp_(-1, 1),
    lambda t, y, w: y.zero_(),
    lambda t, y, w: y.fill_(2.0),
    lambda t, y, w: y.copy_(w * w),
    lambda t, y, w: y.__setitem__((0, slice(1, 3)), w[1, :2]),
    lambda t, y, w: y.__setitem__(1, 5.0),
])
def test_inplace_change_of_a_non_leaf_records_the_op_as_pytorch(change, device):
    torch = _torch()
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    results = []
    for t in (tinyrpn, torch):
        on = {"device": device} if t is tinyrpn else {}
        x = t.tensor(xv, requires_grad=True, **on)
        w = t.tensor(wv, requires_grad=True, **on)
        y = x * 2
        change(t, y, w)
        assert y.grad_fn is not None
        (y * y).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy(),
                        np.zeros((2, 3)) if w.grad is None else w.grad.numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_inplace_change_of_a_saved_value_raises_at_backward():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()
    y.mul_(2)  # allowed, as in PyTorch ...
    with pytest.raises(GradientError, match="Exp: its output was modified in place"):
        z.backward()  # ... but Exp's backward needed the old y
    a = x * 3
    b = a * a  # Mul saved a
    a.add_(1)
    with pytest.raises(GradientError, match="Mul: input 0"):
        b.sum().backward()


def test_inplace_rules(device):
    w = tinyrpn.ones(2, requires_grad=True, device=device)
    with pytest.raises(GradientError, match="leaf that requires grad"):
        w.add_(1)
    x = tinyrpn.zeros(3, device=device)
    x.add_(w.sum())  # a plain tensor takes a gradient-carrying one: it joins the graph
    assert x.requires_grad and not x.is_leaf
    x.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3, 3])
    y = w * 2
    view = y[0]
    with pytest.raises(GradientError, match="shares its memory with a view"):
        view.mul_(3)  # the base's graph could not see it (PyTorch rebases; we refuse)
    with tinyrpn.no_grad():
        y.mul_(3)  # no graph is recorded: only the values change
    np.testing.assert_array_equal(y.detach().numpy(), [6, 6])


# ----------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_an_empty_dim_tuple_reduces_every_dim(op):
    values = np.arange(6.0).reshape(2, 3)
    _grads_match(lambda t, x: getattr(x, op)(()), values)
    assert getattr(tinyrpn.tensor(values), op)(()).shape == ()


@pytest.mark.parametrize("op", ["var", "std"])
def test_an_empty_dim_tuple_reduces_every_dim_for_var_and_std(op):
    # compared with torch's dim=None: torch 2.x's backward of var(()) returns ±inf
    values = np.arange(1.0, 7.0).reshape(2, 3) ** 2
    _grads_match(lambda t, x: getattr(x, op)(() if t is tinyrpn else None), values)
    assert getattr(tinyrpn.tensor(values), op)(()).shape == ()


def test_logsumexp_of_an_empty_dim_tuple_reduces_every_dim():
    # as sum(()); torch 2.x means the same but its forward fails to broadcast the result
    x = tinyrpn.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = tinyrpn.logsumexp(x, ())
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), tinyrpn.logsumexp(x).item(), rtol=1e-15)
    assert tinyrpn.gradcheck(lambda a: tinyrpn.logsumexp(a, ()), x)


def test_any_and_all_with_an_empty_dim_tuple_reduce_nothing_as_torch():
    torch = _torch()
    values = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]])
    for op in ("any", "all"):
        ours = getattr(tinyrpn, op)(tinyrpn.tensor(values), ())
        theirs = getattr(torch, op)(torch.tensor(values), dim=())
        assert ours.shape == tuple(theirs.shape) == (2, 3)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("call", [
    lambda t, x64, w32: t.nn.functional.linear(x64, w32),
    lambda t, x64, w32: x64 @ w32.T,
    lambda t, x64, w32: t.einsum("ij,kj->ik", x64, w32),
    lambda t, x64, w32: t.nn.functional.conv2d(x64.reshape(1, 1, 2, 3),
                                               w32[:2, :2].reshape(1, 1, 2, 2)),
    lambda t, x64, w32: t.nn.functional.layer_norm(x64, (3,), w32[0]),
])
def test_matrix_products_convolutions_and_norms_refuse_mixed_dtypes(call):
    torch = _torch()
    with pytest.raises(RuntimeError):
        call(torch, torch.zeros(2, 3, dtype=torch.float64), torch.zeros(4, 3))
    with pytest.raises(RuntimeError, match="float64 but .* float32"):
        call(tinyrpn, tinyrpn.zeros(2, 3, dtype="float64"), tinyrpn.zeros(4, 3))


def test_linear_module_refuses_float64_input():
    layer = tinyrpn.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="linear: input has dtype float64 but weight has "
                                        "dtype float32"):
        layer(tinyrpn.zeros(1, 3, dtype="float64"))
    assert (tinyrpn.zeros(2, dtype="float64") + tinyrpn.zeros(2)).dtype == np.float64


# ----------------------------------------------------------------------------- NaN

NAN = float("nan")


@pytest.mark.parametrize(("fn", "values"), [
    (lambda t, x: x.max(), [1.0, NAN, 3.0, NAN]),
    (lambda t, x: x.min(), [1.0, NAN, -3.0]),
    (lambda t, x: x.max(0).values, [1.0, NAN, 3.0, NAN]),
    (lambda t, x: t.maximum(x[:4], x[4:]), [NAN, 1.0, 2.0, NAN, 1.0, NAN, 2.0, NAN]),
    (lambda t, x: t.minimum(x[:4], x[4:]), [NAN, 1.0, 2.0, NAN, 1.0, NAN, 2.0, NAN]),
    (lambda t, x: t.relu(x), [NAN, -1.0, 0.0, 2.0]),
])
def test_nan_gradients_follow_pytorch(fn, values, device):
    _grads_match(fn, values, device)


def test_amax_over_a_nan_gives_nan_gradients_as_pytorch():
    x, tx = _pair([1.0, NAN, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.amax().backward()
    tx.amax().backward()
    assert np.isnan(x.grad.numpy()).all() and np.isnan(tx.grad.numpy()).all()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("call", "message"), [
    (lambda: tinyrpn.zeros(2, 3).expand(4, 3), r"dim 0 has size 2.*only size-1 dims can grow"),
    (lambda: tinyrpn.einsum("...i...,i->i", tinyrpn.zeros(2, 3), tinyrpn.zeros(3)),
     r"operand 0, '\.\.\.i\.\.\.', hold more than one ellipsis"),
    (lambda: tinyrpn.eye(-3, 3), "eye: n must be a non-negative size, got n=-3"),
    (lambda: tinyrpn.zeros(2, 3) + tinyrpn.zeros(3, 2), "cannot be broadcast"),
    (lambda: tinyrpn.zeros(2, 3).reshape(4, 2), "cannot reshape"),
    (lambda: tinyrpn.zeros(2, 3).permute(0, 0), "not a permutation"),
    (lambda: tinyrpn.zeros(2, 3) @ tinyrpn.zeros(2, 3), "do not line up"),
])
def test_shape_and_argument_errors_are_value_and_runtime_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()
    with pytest.raises(ValueError, match=message):
        call()


def test_augmented_assignment_into_a_slice_of_a_graph_tensor_as_pytorch(device):
    results = []
    for t in (tinyrpn, _torch()):
        on = {"device": device} if t is tinyrpn else {}
        x = t.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, **on)
        y = x * 2
        y[:, 0] += 1  # a temporary view, read, added to and written back
        y[1] *= 3.0
        y[0] += y[1]
        (y * y).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
