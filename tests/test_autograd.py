"""The engine: construction, backward, gradient bookkeeping, safety checks, repr."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import tinyrpn
from tinyrpn import Function, GradientError, Tensor
from tinyrpn.autograd import unbroadcast

# ----------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([1.0, 2.0], np.float32),
        (2.5, np.float32),
        ([1, 2], np.int64),
        (3, np.int64),
        ([True, False], np.bool_),
        ([1, 2.5], np.float32),
        (np.arange(3, dtype=np.float64), np.float64),  # arrays keep their dtype
        (np.arange(3, dtype=np.int32), np.int32),
        (np.arange(3, dtype=np.uint8), np.uint8),
    ],
)
def test_tensor_dtype_follows_pytorch(data, dtype):
    assert tinyrpn.tensor(data).dtype == dtype


def test_tensor_copies_its_data_and_keeps_float64_when_asked():
    source = np.ones(3)
    t = tinyrpn.tensor(source, dtype=tinyrpn.float64)
    source[0] = 5
    assert t.dtype == np.float64 and t.numpy()[0] == 1
    assert tinyrpn.tensor([1, 2], dtype="float64").dtype == np.float64
    assert tinyrpn.tensor([1.0], dtype="double").dtype == np.float64
    with pytest.raises(TypeError, match="unknown dtype"):
        tinyrpn.tensor([1.0], dtype="float128x")


def test_tensor_of_tensors_and_nested_lists():
    a, b = tinyrpn.tensor([1.0, 2.0]), tinyrpn.tensor([3.0, 4.0])
    np.testing.assert_array_equal(tinyrpn.tensor([a, b]).numpy(), [[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="cannot make a tensor"):
        tinyrpn.tensor(["a", "b"])


@pytest.mark.parametrize("factory", [tinyrpn.zeros, tinyrpn.ones, tinyrpn.randn, tinyrpn.rand])
def test_shape_factories(factory):
    assert factory(2, 3).shape == (2, 3)
    assert factory((2, 3)).shape == (2, 3)
    assert factory([4]).shape == (4,)
    assert factory(2, 3).dtype == np.float32
    assert factory(2, dtype=tinyrpn.float64).dtype == np.float64
    assert factory(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative integers"):
        factory(2, -1)
    with pytest.raises(ValueError, match="non-negative integers"):
        factory(2.5)


def test_value_factories():
    np.testing.assert_array_equal(tinyrpn.zeros(2).numpy(), [0, 0])
    np.testing.assert_array_equal(tinyrpn.ones(2).numpy(), [1, 1])
    full = tinyrpn.full((2, 2), 1.5)
    assert full.dtype == np.float32 and np.all(full.numpy() == 1.5)
    assert tinyrpn.full((2,), 7).dtype == np.int64  # as PyTorch: the value decides
    assert tinyrpn.full(3, True).dtype == np.bool_
    assert tinyrpn.full((2,), 7, dtype="float64").dtype == np.float64
    x = tinyrpn.randn(2, 3, dtype=tinyrpn.float64)
    for like, value in [(tinyrpn.zeros_like, 0), (tinyrpn.ones_like, 1)]:
        y = like(x)
        assert y.shape == x.shape and y.dtype == np.float64 and np.all(y.numpy() == value)
    assert tinyrpn.zeros_like(x, dtype="float32").dtype == np.float32
    assert tinyrpn.full_like(x, 3.0).numpy().sum() == 18
    assert tinyrpn.randn_like(x).shape == (2, 3) and tinyrpn.rand_like(x).dtype == np.float64
    np.testing.assert_array_equal(tinyrpn.eye(3).numpy(), np.eye(3))
    assert tinyrpn.eye(2, 3).shape == (2, 3) and tinyrpn.eye(2).dtype == np.float32


def test_arange_matches_pytorch_dtypes_and_values():
    assert tinyrpn.arange(5).dtype == np.int64
    np.testing.assert_array_equal(tinyrpn.arange(5).numpy(), np.arange(5))
    np.testing.assert_array_equal(tinyrpn.arange(2, 8, 3).numpy(), [2, 5])
    assert tinyrpn.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_allclose(tinyrpn.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert tinyrpn.arange(3, dtype="float64").dtype == np.float64
    with pytest.raises(ValueError, match="step"):
        tinyrpn.arange(0, 3, 0)


def test_manual_seed_makes_draws_repeatable():
    tinyrpn.manual_seed(123)
    a = tinyrpn.randn(5).numpy()
    b = tinyrpn.rand(5).numpy()
    tinyrpn.manual_seed(123)
    np.testing.assert_array_equal(tinyrpn.randn(5).numpy(), a)
    np.testing.assert_array_equal(tinyrpn.rand(5).numpy(), b)
    assert not np.array_equal(tinyrpn.randn(5).numpy(), a)
    assert np.all((b >= 0) & (b < 1))
    # float64 draws are the same numbers as float32 ones, at higher precision
    tinyrpn.manual_seed(123)
    np.testing.assert_allclose(tinyrpn.randn(5, dtype="float64").numpy(), a, rtol=1e-6)
    with pytest.raises(TypeError, match="integer seed"):
        tinyrpn.manual_seed(1.5)


def test_pytorch_cpu_rand_grid_and_recorded_values():
    from tinyrpn.random import pytorch_cpu_rand

    u = pytorch_cpu_rand(1337, 1000)
    assert u.dtype == np.float32 and u.shape == (1000,)
    assert np.all((u >= 0) & (u < 1))
    assert np.all(u * 2**24 == np.round(u * 2**24))  # 24-bit grid
    # torch.manual_seed(1337); torch.rand(3) * 2**24, recorded with PyTorch 2.13
    np.testing.assert_array_equal(u[:3] * 2**24, [1313943, 8315069, 10453852])
    np.testing.assert_array_equal(pytorch_cpu_rand(1337, 10), u[:10])  # a prefix of one stream
    assert pytorch_cpu_rand(5, 0).shape == (0,)
    with pytest.raises(TypeError, match="non-negative integer seed"):
        pytorch_cpu_rand(-1, 3)
    with pytest.raises(TypeError, match="non-negative integer count"):
        pytorch_cpu_rand(1, 2.0)


def test_pytorch_cpu_rand_matches_torch_bit_for_bit():
    from tinyrpn.random import pytorch_cpu_rand

    torch = pytest.importorskip("torch")
    for seed in (0, 1, 1337, 2**31 + 7):
        torch.manual_seed(seed)
        expected = torch.cat([torch.rand(12, 1, 5, 5).flatten(), torch.rand(517)])
        np.testing.assert_array_equal(pytorch_cpu_rand(seed, 817), expected.numpy())


def test_rng_state_round_trip():
    tinyrpn.manual_seed(7)
    state = tinyrpn.get_rng_state()
    a = tinyrpn.randn(4).numpy()
    tinyrpn.set_rng_state(state)
    np.testing.assert_array_equal(tinyrpn.randn(4).numpy(), a)


# ----------------------------------------------------------------------------- properties


def test_properties_and_conversions():
    t = tinyrpn.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == np.float32
    assert t.size() == (2, 3) and t.size(1) == 3 and t.numel() == 6 and len(t) == 2
    assert isinstance(t.numpy(), np.ndarray) and t.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert tinyrpn.tensor([2.5]).item() == 2.5 and isinstance(tinyrpn.tensor(3).item(), int)
    with pytest.raises(ValueError, match="exactly one element"):
        t.item()
    assert float(tinyrpn.tensor(1.5)) == 1.5 and int(tinyrpn.tensor(4)) == 4
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    assert t.double().dtype == np.float64 and t.long().dtype == np.int64
    assert t.to("float64").dtype == np.float64 and t.to(dtype="int32").dtype == np.int32
    assert t.device == "cpu" and t.is_leaf and t.grad_fn is None


def test_requires_grad_flag():
    x = tinyrpn.tensor([1.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    y = tinyrpn.tensor([1.0], requires_grad=True) * 2
    assert y.requires_grad and not y.is_leaf
    with pytest.raises(GradientError, match="non-leaf"):
        y.requires_grad_(False)


@pytest.mark.parametrize("make", [
    lambda: tinyrpn.tensor([1, 2], requires_grad=True),
    lambda: tinyrpn.tensor([1, 2]).requires_grad_(),
    lambda: setattr(tinyrpn.tensor([True]), "requires_grad", True),
    lambda: tinyrpn.arange(3, requires_grad=True),
])
def test_integer_tensors_cannot_require_grad(make):
    with pytest.raises(GradientError, match="only floating-point tensors can require grad"):
        make()


def test_detach_shares_memory_and_version_but_not_the_graph():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, y.data) and d._version is y._version


# ----------------------------------------------------------------------------- backward


def test_backward_on_a_scalar_and_accumulation_across_calls():
    x = tinyrpn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])
    assert isinstance(x.grad, Tensor) and x.grad.dtype == np.float32
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8, 12])
    x.grad = None
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3, 3])


def test_backward_without_gradient_on_a_non_scalar_is_an_error():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradientError, match=r"only on a scalar.*shape \(2,\)"):
        (x * 2).backward()


def test_backward_with_an_explicit_gradient():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    g = tinyrpn.tensor([1.0, -1.0])
    (x * 3).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), [3, -3])
    np.testing.assert_array_equal(g.numpy(), [1, -1])  # the caller's gradient is untouched
    (x * 3).backward(gradient=[2.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [9, 3])
    with pytest.raises(GradientError, match="must match"):
        (x * 3).backward(tinyrpn.ones(3))


def test_backward_of_something_without_grad_is_an_error():
    with pytest.raises(GradientError, match="does not require grad"):
        tinyrpn.tensor([1.0]).sum().backward()


def test_gradient_of_a_leaf_has_the_leaf_dtype():
    x = tinyrpn.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    (x * 2.5).sum().backward()
    assert x.grad.dtype == np.float64


def test_a_node_used_twice_gets_the_sum_of_its_gradients():
    x = tinyrpn.tensor([2.0], requires_grad=True)
    y = x * 3
    z = y * y + y  # dz/dx = (2y + 1) * 3 = 39
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [39.0])
    w = tinyrpn.tensor([3.0], requires_grad=True)
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0])


def test_leaf_grads_never_alias_each_other():
    a = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    b = tinyrpn.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # Add hands the same array to both inputs
    assert not np.shares_memory(a.grad.data, b.grad.data)
    with tinyrpn.no_grad():
        a.grad.mul_(10)
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1])


def test_deep_chain_needs_no_recursion():
    x = tinyrpn.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-3)
    # An unused deep graph is freed without hitting the recursion limit either.
    z = x
    for _ in range(10_000):
        z = z + 1.0
    ref = weakref.ref(z)
    del z
    gc.collect()
    assert ref() is None


def test_graph_is_released_after_backward():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GradientError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8])


def test_saved_arrays_are_freed_after_backward():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = x * tinyrpn.tensor([3.0, 4.0])
    fn = y.grad_fn
    y.sum().backward()
    assert fn.released and not hasattr(fn, "a") and fn.parents == ()


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).retain_grad()
    z = (x * 2)
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [4, 8])
    assert z.grad is None


def test_branches_that_do_not_require_grad_are_skipped():
    x = tinyrpn.tensor([1.0], requires_grad=True)
    c = tinyrpn.tensor([5.0])
    (x * c + c * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0])
    assert c.grad is None


# ----------------------------------------------------------------------------- .grad


def test_grad_can_be_assigned_and_is_validated():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    x.grad = tinyrpn.tensor([0.5, 0.5])
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.5, 2.5])
    with pytest.raises(GradientError, match=r"shape \(3,\) to a tensor of shape \(2,\)"):
        x.grad = tinyrpn.zeros(3)
    with pytest.raises(GradientError, match="dtype float64"):
        x.grad = tinyrpn.zeros(2, dtype="float64")
    with pytest.raises(TypeError, match="Tensor or None"):
        x.grad = np.zeros(2)
    x.grad = None
    assert x.grad is None


# ----------------------------------------------------------------------------- no_grad


def test_no_grad_records_nothing():
    x = tinyrpn.tensor([1.0], requires_grad=True)
    with tinyrpn.no_grad():
        y = x * 2
        assert not tinyrpn.is_grad_enabled()
        with tinyrpn.enable_grad():
            assert (x * 2).requires_grad
    assert not y.requires_grad and y.grad_fn is None
    assert tinyrpn.is_grad_enabled()


def test_no_grad_as_decorator_restores_the_mode_after_an_error():
    @tinyrpn.no_grad()
    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert tinyrpn.is_grad_enabled()


# ----------------------------------------------------------------------------- in-place safety


def test_inplace_change_of_a_saved_input_names_the_op():
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    x = tinyrpn.tensor([3.0, 4.0])
    y = (w * x).sum()
    x.add_(1)
    with pytest.raises(GradientError, match=r"Mul: input 1 .*modified in place"):
        y.backward()


def test_inplace_change_of_a_saved_output_names_the_op():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()
    with tinyrpn.no_grad():
        y.mul_(2)
    with pytest.raises(GradientError, match="Exp: its output was modified in place"):
        z.backward()


@pytest.mark.parametrize("modify", [
    lambda x: x.reshape(2, 2).zero_(),
    lambda x: x.T.fill_(1.0),
    lambda x: x[0].add_(1.0),
    lambda x: x.detach().mul_(2),
    lambda x: x.__setitem__((0, 0), 5.0),
])
def test_inplace_change_through_a_view_is_seen(modify):
    w = tinyrpn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x = tinyrpn.tensor([[5.0, 6.0], [7.0, 8.0]])
    y = (w * x.reshape(4).reshape(2, 2)).sum()  # Mul saved a view of x
    modify(x)
    with pytest.raises(GradientError, match="Mul: input 1"):
        y.backward()


def test_inplace_change_of_an_input_that_is_not_saved_is_harmless():
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    x = tinyrpn.tensor([3.0, 4.0])
    y = (w + x).sum()  # Add does not read its inputs in backward
    x.add_(1)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1, 1])


def test_copying_views_do_not_share_a_version():
    x = tinyrpn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x[[0, 1]]._version is not x._version  # advanced indexing copies
    assert x[0]._version is x._version
    assert x.T._version is x._version


def test_inplace_on_a_tensor_that_requires_grad_needs_no_grad():
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradientError, match=r"add_: in-place change of a leaf .*no_grad"):
        w.add_(1)
    with tinyrpn.no_grad():
        w.sub_(tinyrpn.tensor([0.5, 0.5]), alpha=2)
    np.testing.assert_array_equal(w.detach().numpy(), [0, 1])
    assert w._version.value == 1


def test_augmented_assignment_updates_a_parameter_in_place():
    # `p -= lr * p.grad` in a hand-written optimizer must change the model's own tensor,
    # as in PyTorch, not bind the name to a new tensor and leave the parameter as it was.
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    params = [w]
    with tinyrpn.no_grad():
        for p in params:
            p -= 0.25 * p.grad
    np.testing.assert_array_equal(w.detach().numpy(), [0.5, 1.0])
    x = tinyrpn.tensor([1.0, 2.0])
    alias = x
    x += 1
    x *= tinyrpn.tensor([2.0, 3.0])
    x /= 2
    x -= 1
    assert x is alias and x._version.value == 4
    np.testing.assert_array_equal(alias.numpy(), [1.0, 3.5])


def test_augmented_assignment_of_a_parameter_while_recording_raises():
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradientError, match=r"-=: in-place change of a leaf .*no_grad"):
        w -= 1


def test_augmented_assignment_stays_out_of_place_where_in_place_cannot_be():
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    h_before = h
    h += 1  # a tensor in a graph: a new node, the gradient still flows
    assert h is not h_before
    total = tinyrpn.zeros(())
    total += h.sum()  # an operand that requires grad: the result must carry the graph
    total.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])
    n = tinyrpn.tensor([1, 2])
    n_before = n
    n += 0.5  # the result is float: it cannot be written into the int64 array
    assert n.dtype == np.float32 and n_before.dtype == np.int64
    np.testing.assert_array_equal(n_before.numpy(), [1, 2])
    s = tinyrpn.tensor(1.0)
    s += tinyrpn.tensor([1.0, 2.0])  # broadcasts to a bigger shape
    np.testing.assert_array_equal(s.numpy(), [2.0, 3.0])
    with pytest.raises(ValueError, match="cannot be broadcast"):
        v = tinyrpn.ones(3)
        v += tinyrpn.ones(2)


def test_augmented_assignment_of_a_saved_input_is_caught_by_backward():
    w = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    x = tinyrpn.tensor([3.0, 4.0])
    y = (w * x).sum()
    x += 1
    with pytest.raises(GradientError, match=r"Mul: input 1 .*modified in place"):
        y.backward()


def test_setitem_of_a_tensor_that_requires_grad_is_recorded():
    out = tinyrpn.zeros(3)
    x = tinyrpn.tensor([1.0], requires_grad=True)
    out[0] = x  # as PyTorch: out joins the graph
    out[1:] = tinyrpn.tensor([2.0, 3.0])
    assert out.requires_grad and out.grad_fn is not None
    (out * tinyrpn.tensor([5.0, 6.0, 7.0])).sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), [1, 2, 3])
    np.testing.assert_array_equal(x.grad.numpy(), [5])


def test_inplace_methods():
    x = tinyrpn.tensor([1.0, -2.0, 3.0])
    x.mul_(2).add_(1)
    np.testing.assert_array_equal(x.numpy(), [3, -3, 7])
    x.div_(tinyrpn.tensor(2.0)).clamp_(-1, 2)
    np.testing.assert_array_equal(x.numpy(), [1.5, -1, 2])
    x.copy_(tinyrpn.tensor(4.0))
    np.testing.assert_array_equal(x.numpy(), [4, 4, 4])
    with pytest.raises(ValueError, match="cannot be broadcast"):
        x.copy_(tinyrpn.ones(2))
    assert x._version.value == 5


# ----------------------------------------------------------------------------- Function


class _Square(Function):
    """out = a²; da = 2 a d."""

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, d):
        return 2 * self.a * d


def test_a_user_defined_function():
    x = tinyrpn.tensor([1.0, 3.0], requires_grad=True)
    y = _Square.apply(x)
    assert repr(y.grad_fn) == "<_SquareBackward>"  # as the tensor's repr names it
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 6])


class _WrongShape(Function):
    def forward(self, a):
        return a.sum(axis=0)

    def backward(self, d):
        return np.ones((7,))


class _WrongCount(Function):
    def forward(self, a):
        return a * 1

    def backward(self, d):
        return d, d


def test_the_engine_checks_every_gradient():
    x = tinyrpn.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(GradientError, match=r"_WrongShape.backward .*shape \(7,\).*\(1, 2\)"):
        _WrongShape.apply(x).sum().backward()
    with pytest.raises(GradientError, match="2 gradients for 1 inputs"):
        _WrongCount.apply(x).sum().backward()


@pytest.mark.parametrize(
    ("grad_shape", "shape", "expected"),
    [
        ((2, 3), (2, 3), [[1, 1, 1], [1, 1, 1]]),
        ((2, 3), (3,), [2, 2, 2]),
        ((2, 3), (1, 3), [[2, 2, 2]]),
        ((2, 3), (2, 1), [[3], [3]]),
        ((4, 2, 3), (2, 1), [[12], [12]]),
        ((4, 2, 3), (1, 1, 1), [[[24]]]),
        ((2, 3), (), 6),
    ],
)
def test_unbroadcast_sums_over_what_broadcasting_added(grad_shape, shape, expected):
    out = unbroadcast(np.ones(grad_shape), shape)
    assert out.shape == shape
    np.testing.assert_array_equal(out, expected)


def test_broadcast_gradients_reach_operands_of_different_ranks():
    a = tinyrpn.randn(4, 1, 3, requires_grad=True)
    b = tinyrpn.randn(2, 1, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (4, 1, 3) and b.grad.shape == (2, 1)
    np.testing.assert_allclose(a.grad.numpy(),
                               np.broadcast_to(b.detach().numpy().sum(), (4, 1, 3)),
                               rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), np.full((2, 1), a.detach().numpy().sum()),
                               rtol=1e-5)


# ----------------------------------------------------------------------------- operators


def test_numpy_arrays_hand_over_to_tensor_operators():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 4])


def test_reflected_operators():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    y = (1 - x) + (2 / x) + (2**x) + (-x) + (3 * x)
    y.sum().backward()
    expected = -1 - 2 / np.array([1, 4]) + np.log(2) * 2 ** np.array([1, 2]) - 1 + 3
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


def test_comparisons_give_bool_tensors_without_grad():
    x = tinyrpn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x < 2, [1, 0, 0]), (x <= 2, [1, 1, 0]), (x > 2, [0, 0, 1]),
        (x >= 2, [0, 1, 1]), (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1]),
    ]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.numpy(), expected)


# ----------------------------------------------------------------------------- repr


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda t: t.tensor([1.0, 2.0], requires_grad=True),
         "tensor([1., 2.], requires_grad=True)"),
        (lambda t: t.tensor([1, 2]), "tensor([1, 2])"),
        (lambda t: t.tensor([True, False]), "tensor([ True, False])"),
        (lambda t: t.tensor(3.0), "tensor(3.)"),
        (lambda t: t.tensor([1.5, 100.0, -3.0]), "tensor([  1.5000, 100.0000,  -3.0000])"),
        (lambda t: t.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
        (lambda t: t.tensor([1.0, float("nan"), -float("inf")]), "tensor([1., nan, -inf])"),
        (lambda t: t.tensor([2.0], dtype=t.float64), "tensor([2.], dtype=tinyrpn.float64)"),
        (lambda t: t.tensor([], dtype=t.int64), "tensor([], dtype=tinyrpn.int64)"),
        (lambda t: t.zeros(0, 3), "tensor([], size=(0, 3))"),
        (lambda t: t.tensor([1.0], requires_grad=True) * 2,
         "tensor([2.], grad_fn=<MulBackward>)"),
        (lambda t: t.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    ],
)
def test_repr_reads_like_pytorch(make, expected):
    assert repr(make(tinyrpn)) == expected


def test_repr_matches_pytorch_on_random_values():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    ours = repr(tinyrpn.tensor(values))
    theirs = repr(torch.tensor(values))
    assert ours == theirs
    big = np.random.default_rng(1).standard_normal((40, 50)).astype(np.float32)
    assert repr(tinyrpn.tensor(big)) == repr(torch.tensor(big))


def test_grad_fn_names_the_op():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    assert "grad_fn=<SumBackward>" in repr(x.sum())
    assert "grad_fn=<ExpBackward>" in repr(x.exp())
    assert "grad_fn=<MaxBackward>" in repr(x.max())


def test_mask_operators():
    x = tinyrpn.tensor([1.0, -1.0, 2.0])
    np.testing.assert_array_equal(((x > 0) & (x < 1.5)).numpy(), [True, False, False])
    np.testing.assert_array_equal(((x > 0) | (x < -0.5)).numpy(), [True, True, True])
    np.testing.assert_array_equal(((x > 0) ^ True).numpy(), [False, True, False])
    np.testing.assert_array_equal((~(x > 0)).numpy(), [False, True, False])
    np.testing.assert_array_equal((x > 0).logical_not().numpy(), [False, True, False])
    with pytest.raises(TypeError, match="bool or integer"):
        x & x
    with pytest.raises(TypeError, match="bool or integer"):
        _ = ~x


def test_graph_does_not_keep_intermediate_arrays_alive():
    """The graph links Functions, not tensors: an intermediate array that no backward
    needs is freed as soon as the user lets go of it (the 157 MB expansion of an RPN
    layer must not outlive its use)."""
    import gc
    import weakref

    x = tinyrpn.randn(4, 3, requires_grad=True)
    h = x * 2.0  # a non-leaf whose array Add's backward below never reads
    array = weakref.ref(h.data)
    out = (h + 1.0).sum()
    del h
    gc.collect()
    assert array() is None
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_retain_grad_on_an_intermediate_after_it_was_used():
    x = tinyrpn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    out = (h * h).sum()
    h.retain_grad()  # asked for after h was consumed, as PyTorch allows
    out.backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    assert x.grad is not None and h.grad_fn is not None


def test_to_names_devices_and_dtypes_when_the_string_is_neither():
    t = tinyrpn.tensor([1.0, 2.0])
    assert t.to("cpu").device == "cpu" and t.to("torch.float64").dtype == np.float64
    neither = (r"Tensor.to: 'gpu' is neither a device \(valid: 'cpu', 'cuda', 'cuda:N'\) "
               r"nor a dtype \(valid names: .*float64")
    with pytest.raises(ValueError, match=neither):
        t.to("gpu")
    lin = tinyrpn.nn.Linear(2, 2)
    assert lin.to("float64").weight.dtype == np.float64
    with pytest.raises(ValueError, match="Linear.to: 'gpu' is neither a device"):
        lin.to("gpu")
    assert lin.weight.dtype == np.float64  # nothing was changed by the failed call
