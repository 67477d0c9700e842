"""Elementwise ops, reductions and type promotion: gradchecks on drawn shapes (broadcasts
between ranks, transposed and strided inputs) and agreement with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from devices import layout_on
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import tinyrpn
from tinyrpn import gradcheck

FEW = settings(max_examples=20)

LAYOUTS = ("contiguous", "transposed", "strided")


def make(values: np.ndarray, layout: str = "contiguous", requires_grad: bool = True,
         device: str = "cpu"):
    """A float64 leaf holding ``values`` in the given memory layout, on ``device``.

    ``transposed`` stores the values Fortran-ordered (the transpose of a C array) and
    ``strided`` as every other element of a larger buffer; gradcheck keeps the layout, so
    the op under test really receives a non-contiguous array.
    """
    array = layout_on(device, np.asarray(values, dtype=np.float64), layout)
    return tinyrpn.Tensor._wrap(array, requires_grad)


def away_from(x: np.ndarray, points, gap: float = 1e-2) -> np.ndarray:
    """``x`` with every element moved at least ``gap`` from each kink in ``points``."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        close = np.abs(x - p) < gap
        x[close] = p + np.where(x[close] >= p, gap, -gap) * 2
    return x


def values(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


seeds = st.integers(0, 2**16)
layouts = st.sampled_from(LAYOUTS)
broadcast_pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)

# ----------------------------------------------------------------------------- binary


@pytest.mark.parametrize(
    ("name", "fn", "b_low"),
    [
        ("add", lambda a, b: a + b, -2.0),
        ("sub", lambda a, b: a - b, -2.0),
        ("mul", lambda a, b: a * b, -2.0),
        ("div", lambda a, b: a / b, 0.5),
        ("pow", lambda a, b: a**b, -2.0),
        ("maximum", tinyrpn.maximum, -2.0),
        ("minimum", tinyrpn.minimum, -2.0),
    ],
)
@FEW
@given(shapes=broadcast_pairs, seed=seeds, layout_a=layouts, layout_b=layouts)
def test_binary_gradcheck_with_broadcasting(name, fn, b_low, shapes, seed, layout_a, layout_b,
                                            device):
    shape_a, shape_b = shapes.input_shapes
    a_low = 0.5 if name == "pow" else -2.0  # a ** b needs a > 0 for a real gradient in b
    a = make(values(shape_a, seed, a_low), layout_a, device=device)
    b = make(values(shape_b, seed + 1, b_low), layout_b, device=device)
    if name in ("maximum", "minimum"):  # a tie is a kink: finite differences cannot see it
        diff = np.abs(np.broadcast_to(a.numpy(), shapes.result_shape)
                      - np.broadcast_to(b.numpy(), shapes.result_shape))
        assume(diff.size == 0 or diff.min() > 1e-3)
    assert gradcheck(fn, a, b)


@pytest.mark.parametrize("scalar", [2, -0.5, 3.0])
def test_ops_with_python_numbers_gradcheck(scalar, device):
    x = make(values((2, 3), 0, 0.5, 2.0), device=device)
    for fn in [lambda x: x + scalar, lambda x: scalar + x, lambda x: x - scalar,
               lambda x: scalar - x, lambda x: x * scalar, lambda x: scalar * x,
               lambda x: x / scalar, lambda x: scalar / x, lambda x: x**scalar,
               lambda x: abs(scalar) ** x]:
        assert gradcheck(fn, x)
        y = fn(tinyrpn.tensor(x.numpy(), dtype="float32", device=device))
        assert y.dtype == np.float32  # a Python number never widens the tensor
        np.testing.assert_allclose(y.numpy(), fn(x.numpy()), rtol=1e-5, atol=1e-6)


def test_only_the_needed_input_gradients_are_computed():
    x = tinyrpn.randn(4, 3)  # data: no gradient wanted
    w = tinyrpn.randn(3, 2, requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 2)
    np.testing.assert_allclose(w.grad.numpy(), np.repeat(x.numpy().sum(0)[:, None], 2, 1),
                               rtol=1e-5)


def test_broadcast_mismatch_names_the_op_and_shapes():
    a, b = tinyrpn.ones(2, 3), tinyrpn.ones(4)
    for op, name in [(lambda: a + b, "add"), (lambda: a * b, "mul"), (lambda: a / b, "div"),
                     (lambda: a < b, "lt"), (lambda: tinyrpn.maximum(a, b), "maximum")]:
        with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\)"):
            op()


# ----------------------------------------------------------------------------- unary

UNARY = [
    ("exp", lambda x: x.exp(), -2.0, 2.0, ()),
    ("log", lambda x: x.log(), 0.2, 3.0, ()),
    ("sqrt", lambda x: x.sqrt(), 0.2, 3.0, ()),
    ("abs", lambda x: x.abs(), -2.0, 2.0, (0.0,)),
    ("neg", lambda x: -x, -2.0, 2.0, ()),
    ("tanh", lambda x: x.tanh(), -3.0, 3.0, ()),
    ("sigmoid", lambda x: x.sigmoid(), -6.0, 6.0, ()),
    ("relu", lambda x: x.relu(), -2.0, 2.0, (0.0,)),
    ("clamp", lambda x: x.clamp(-0.5, 0.8), -2.0, 2.0, (-0.5, 0.8)),
    ("clamp_min", lambda x: x.clamp(min=0.1), -2.0, 2.0, (0.1,)),
    ("clamp_max", lambda x: tinyrpn.clamp(x, max=0.1), -2.0, 2.0, (0.1,)),
    ("square", lambda x: x.square(), -2.0, 2.0, ()),
]


@pytest.mark.parametrize(("name", "fn", "low", "high", "kinks"), UNARY)
@FEW
@given(shape=array_shapes(min_dims=0, max_dims=3, max_side=3), seed=seeds, layout=layouts)
def test_unary_gradcheck(name, fn, low, high, kinks, shape, seed, layout, device):
    x = make(away_from(values(shape, seed, low, high), kinks), layout, device=device)
    assert gradcheck(fn, x)


def test_sigmoid_is_stable_at_extremes():
    x = tinyrpn.tensor([-200.0, -30.0, 0.0, 30.0, 200.0], requires_grad=True)
    y = x.sigmoid()
    assert np.all(np.isfinite(y.numpy()))
    np.testing.assert_allclose(y.numpy(), [0, 9.357623e-14, 0.5, 1, 1], rtol=1e-5, atol=0)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_integer_inputs_become_float32_where_pytorch_does():
    i = tinyrpn.tensor([1, 4])
    for y in [i.exp(), i.log(), i.sqrt(), i.tanh(), i.sigmoid(), i / i, i**0.5, i * 0.5]:
        assert y.dtype == np.float32
    assert (i * 2).dtype == np.int64 and i.abs().dtype == np.int64 and i.relu().dtype == np.int64
    assert i.clamp(0.5, 2).dtype == np.float32 and i.clamp(0, 2).dtype == np.int64
    with pytest.raises(TypeError, match="mean"):
        i.mean()


# ----------------------------------------------------------------------------- where


@FEW
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=seeds, layout=layouts)
def test_where_gradcheck_with_broadcasting(shapes, seed, layout, device):
    shape_c, shape_a, shape_b = shapes.input_shapes
    cond = tinyrpn.tensor(np.random.default_rng(seed).random(shape_c) > 0.5, device=device)
    a = make(values(shape_a, seed), layout, device=device)
    b = make(values(shape_b, seed + 1), device=device)
    assert gradcheck(lambda a, b: tinyrpn.where(cond, a, b), a, b)


def test_where_with_numbers_and_bad_shapes():
    x = tinyrpn.tensor([-1.0, 2.0], requires_grad=True)
    y = tinyrpn.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(y.numpy(), [0, 2])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1])
    with pytest.raises(ValueError, match=r"where: condition \(3,\)"):
        tinyrpn.where(tinyrpn.ones(3) > 0, x, x)


# ----------------------------------------------------------------------------- reductions

dims_and_shapes = array_shapes(min_dims=1, max_dims=3, max_side=3).flatmap(
    lambda shape: st.tuples(
        st.just(shape),
        st.one_of(
            st.none(),
            st.integers(-len(shape), len(shape) - 1),
            st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                     unique=True).map(tuple),
        ),
        st.booleans(),
    )
)


@pytest.mark.parametrize(
    "reduce",
    [
        lambda x, dim, keep: x.sum(dim, keepdim=keep),
        lambda x, dim, keep: x.mean(dim, keepdim=keep),
        lambda x, dim, keep: x.var(dim, keepdim=keep),
        lambda x, dim, keep: x.std(dim, keepdim=keep, correction=0),
        lambda x, dim, keep: x.amax(dim, keepdim=keep),
        lambda x, dim, keep: x.amin(dim, keepdim=keep),
    ],
    ids=["sum", "mean", "var", "std", "amax", "amin"],
)
@FEW
@given(case=dims_and_shapes, seed=seeds, layout=layouts)
def test_reduction_gradcheck(reduce, case, seed, layout, device):
    shape, dim, keep = case
    x = values(shape, seed)
    # Distinct values (no ties) for amax/amin; var/std need more than `correction` elements.
    x = make(np.argsort(np.argsort(x.ravel())).reshape(shape) * 0.37 + 0.1, layout,
             device=device)
    n = x.numpy().size if dim is None else int(np.prod(
        [shape[d] for d in ((dim,) if isinstance(dim, int) else dim)]))
    if n < 2:
        return
    assert gradcheck(lambda x: reduce(x, dim, keep), x)


@FEW
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data(), seed=seeds,
       keep=st.booleans(), layout=layouts)
def test_max_min_with_dim_gradcheck(shape, data, seed, keep, layout, device):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    distinct = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.3
    x = make(distinct, layout, device=device)
    assert gradcheck(lambda x: x.max(dim, keepdim=keep).values, x)
    assert gradcheck(lambda x: x.min(dim, keepdim=keep)[0], x)
    assert gradcheck(lambda x: x.max(), x)


def test_sum_of_bool_and_int_tensors_is_int64():
    assert tinyrpn.tensor([True, True, False]).sum().item() == 2
    assert tinyrpn.tensor([True]).sum().dtype == np.int64
    assert tinyrpn.tensor([1, 2], dtype="int32").sum().dtype == np.int64


def test_reduction_errors():
    x = tinyrpn.ones(2, 3)
    with pytest.raises(IndexError, match=r"dimension 2 is out of range .*-2 to 1"):
        x.sum(2)
    with pytest.raises(ValueError, match="same axis more than once"):
        x.sum((0, -2))
    with pytest.raises(ValueError, match="empty tensor"):
        tinyrpn.zeros(0).max()
    with pytest.raises(TypeError, match="one int dim"):
        x.max((0, 1))


def test_max_returns_values_and_indices():
    x = tinyrpn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]])
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), [5, 7])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == np.int64
    assert x.max(0, keepdim=True).indices.shape == (1, 3)
    assert x.argmax().item() == 3 and x.argmin(1).tolist() == [0, 1]
    scalar = tinyrpn.tensor(3.0).max(0)
    assert scalar.values.item() == 3 and scalar.indices.item() == 0
    np.testing.assert_array_equal(x.max(tinyrpn.full((2, 3), 4.0)).numpy(),
                                  [[4, 5, 4], [7, 4, 7]])


# ----------------------------------------------------------------------------- vs PyTorch


def _torch():
    return pytest.importorskip("torch")


def _both(fn, *arrays):
    """Run ``fn`` on tinyrpn and torch float64 leaves built from ``arrays``; backward with
    a fixed direction; return (ours, theirs) as (value, grads) pairs of NumPy arrays."""
    torch = _torch()
    ours_in = [tinyrpn.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    theirs_in = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    ours, theirs = fn(tinyrpn, *ours_in), fn(torch, *theirs_in)
    direction = np.random.default_rng(0).standard_normal(tuple(theirs.shape))
    ours.backward(tinyrpn.tensor(direction))
    theirs.backward(torch.tensor(direction))
    grads = lambda ins: [np.zeros(np.shape(a)) if t.grad is None else np.asarray(t.grad)  # noqa: E731
                         for t, a in zip(ins, arrays)]
    return (ours.numpy(), grads(ours_in)), (theirs.detach().numpy(), grads(theirs_in))


def _assert_same(fn, *arrays, rtol=1e-10, atol=1e-12):
    (ours, our_grads), (theirs, their_grads) = _both(fn, *arrays)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)
    for mine, ref in zip(our_grads, their_grads):
        np.testing.assert_allclose(mine, ref, rtol=rtol, atol=atol)


RNG = np.random.default_rng(42)
A, B, C = RNG.standard_normal((3, 4)), RNG.standard_normal((4,)), RNG.standard_normal((3, 1))
POS = RNG.uniform(0.5, 2.0, (3, 4))


@pytest.mark.parametrize(
    "fn",
    [
        lambda t, a, b, c: a + b * c - a / (c * c + 1),
        lambda t, a, b, c: (a.abs() + 0.5) ** b + c.exp(),
        lambda t, a, b, c: t.maximum(a, b) * t.minimum(a, c),
        lambda t, a, b, c: t.where(a > b, a * c, b.tanh()),
        lambda t, a, b, c: a.sigmoid() * b.relu() + c.clamp(-0.3, 0.3),
        lambda t, a, b, c: (a * b).sum(1, keepdim=True) * c.mean() + a.std(0),
        lambda t, a, b, c: a.var(1, correction=0) + a.var(0, unbiased=True).sum(),
        lambda t, a, b, c: a.amax(1) + a.amin((0, 1)) + a.max(0).values.sum(),
    ],
)
def test_values_and_gradients_match_pytorch(fn):
    _assert_same(fn, A, B, C)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t, p: p.log() + p.sqrt(),
        lambda t, p: p.tanh().sigmoid().exp(),
        lambda t, p: (p - 1).abs(),
        lambda t, p: p.var() * p.std(1, keepdim=True),
        lambda t, p: (-p).max(),
    ],
)
def test_unary_values_and_gradients_match_pytorch(fn):
    _assert_same(fn, POS)


def test_max_min_ties_follow_pytorch():
    ties = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, 0.0, -1.0, 0.0]])
    _assert_same(lambda t, x: x.max(), ties)  # full reduction: tie shares the gradient
    _assert_same(lambda t, x: x.min(), ties)
    _assert_same(lambda t, x: x.max(1).values, ties)  # with dim: all to the returned index
    _assert_same(lambda t, x: x.min(1)[0], ties)
    _assert_same(lambda t, x: x.max(0, keepdim=True).values, ties)
    _assert_same(lambda t, x: x.amax(1), ties)  # amax/amin share, as the full reduction
    _assert_same(lambda t, x: x.amin(0), ties)
    x = tinyrpn.tensor(ties, requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])
    x.grad = None
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0, 0], [1, 0, 0, 0]])


def test_maximum_minimum_ties_split_the_gradient_as_pytorch():
    a, b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 3.0])
    _assert_same(lambda t, a, b: t.maximum(a, b), a, b)
    _assert_same(lambda t, a, b: t.minimum(a, b), a, b)


def _grads_of_sum(fn, *arrays):
    leaves = [tinyrpn.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    fn(*leaves).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


def test_clamp_on_a_bound_takes_the_minimum_norm_subgradient():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    # number bounds: an element on a bound gets no gradient, as relu at 0
    (g,) = _grads_of_sum(lambda x: x.clamp(0.0, 1.0), x)
    np.testing.assert_array_equal(g, [0, 0, 1, 0, 0])
    (g,) = _grads_of_sum(lambda x: x.clamp(min=0.0), x)
    np.testing.assert_array_equal(g, _grads_of_sum(lambda x: x.relu(), x)[0])
    (g,) = _grads_of_sum(lambda x: x.clamp(max=1.0), x)
    np.testing.assert_array_equal(g, [1, 1, 1, 0, 0])
    # tensor bounds: a tie shares the gradient equally, as maximum and minimum
    bound = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    gx, gb = _grads_of_sum(lambda x, b: x.clamp(min=b), x, bound)
    np.testing.assert_array_equal(gx, [0, 0.5, 0, 0.5, 1])
    np.testing.assert_array_equal(gb, [1, 0.5, 1, 0.5, 0])
    gx, gb = _grads_of_sum(lambda x, b: x.clamp(max=b), x, bound)
    np.testing.assert_array_equal(gx, [1, 0.5, 1, 0.5, 0])
    np.testing.assert_array_equal(gb, [0, 0.5, 0, 0.5, 1])
    gx, glo, ghi = _grads_of_sum(lambda x, lo, hi: x.clamp(lo, hi), x, np.zeros(5), np.ones(5))
    np.testing.assert_array_equal(gx, [0, 0.5, 1, 0.5, 0])
    np.testing.assert_array_equal(glo, [1, 0.5, 0, 0, 0])
    np.testing.assert_array_equal(ghi, [0, 0, 0, 0.5, 1])
    # a number beside a tensor bound: the number's ties leave the element nothing
    gx, ghi = _grads_of_sum(lambda x, hi: x.clamp(0.0, hi), x, np.ones(5))
    np.testing.assert_array_equal(gx, [0, 0, 1, 0.5, 0])
    np.testing.assert_array_equal(ghi, [0, 0, 0, 0.5, 1])


def test_clamp_keeps_nan():
    x = tinyrpn.tensor([np.nan, 0.5])
    assert np.isnan(x.clamp(0.0, 1.0).numpy()[0])
    assert np.isnan(x.clamp(min=tinyrpn.zeros(2)).numpy()[0])
    assert np.isnan(x.clamp(0.0, tinyrpn.ones(2)).numpy()[0])


def test_clamp_boundaries_follow_pytorch():
    torch = _torch()
    if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 14):
        pytest.skip(f"PyTorch {torch.__version__} passes the gradient on a clamp bound; "
                    "since 2.14 it takes the minimum-norm subgradient, as tinyrpn does")
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    _assert_same(lambda t, x: x.clamp(0.0, 1.0), x)
    _assert_same(lambda t, x: x.clamp(min=0.5), x)
    _assert_same(lambda t, x, lo: x.clamp(min=lo), x, np.array([0.0, 0.0, 1.0, 1.0, 1.0]))
    _assert_same(lambda t, x, lo, hi: x.clamp(lo, hi), x, np.zeros(5), np.ones(5))


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="at least one"):
        tinyrpn.ones(2).clamp()


def test_pow_edge_cases_follow_pytorch():
    torch = _torch()
    base, exponent = np.array([0.0, 0.0, 1.0, 2.0]), np.array([0.0, 2.0, 0.0, 0.5])
    (ours, our_grads), (theirs, their_grads) = _both(lambda t, a, b: a**b, base, exponent)
    np.testing.assert_allclose(ours, theirs)
    for mine, ref in zip(our_grads, their_grads):
        np.testing.assert_allclose(mine, ref)
    x = tinyrpn.tensor([0.0, 1.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0])
    tx = torch.tensor([0.0, 1.0], requires_grad=True)
    (tx**0.5).sum().backward()
    x.grad = None
    (x**0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())  # inf at 0, as torch


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_var_std_correction_matches_pytorch(correction, dim):
    _assert_same(lambda t, x: x.var(dim, correction=correction), A)
    _assert_same(lambda t, x: x.std(dim, correction=correction, keepdim=True), A)


def test_var_positional_forms_match_pytorch():
    torch = _torch()
    ours, theirs = tinyrpn.tensor(A), torch.tensor(A)
    for args in [(), (False,), (1, False), (0, True, True)]:
        np.testing.assert_allclose(ours.var(*args).numpy(), theirs.var(*args).numpy())
        np.testing.assert_allclose(ours.std(*args).numpy(), theirs.std(*args).numpy())
    with pytest.raises(ValueError, match="either unbiased or correction"):
        ours.var(0, True, correction=0)
    # too few elements for the correction: inf or nan, as in PyTorch
    assert np.isnan(tinyrpn.tensor([1.0]).var().item())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.array([1, 2], np.int64), np.array([0.5, 1.5], np.float32)),
        (np.array([1, 2], np.int32), np.array([3, 4], np.int64)),
        (np.array([1, 2], np.uint8), np.array([3, 4], np.int32)),
        (np.array([True, False]), np.array([3, 4], np.int32)),
        (np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float64)),
        (np.array([1.0, 2.0], np.float32), np.array(3.0, np.float64)),
        (np.array([1, 2], np.int64), np.array(2.5, np.float64)),
        (np.array([1, 2], np.int32), np.array(2, np.int64)),
        (np.array([1.0, 2.0], np.float16), np.array(2, np.int64)),
    ],
)
def test_type_promotion_matches_pytorch(a, b):
    torch = _torch()
    ops = [lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x / y]
    if a.dtype != np.bool_:
        ops.append(lambda x, y: x - y)
    else:
        with pytest.raises(TypeError, match="bool"):
            tinyrpn.tensor(a) - tinyrpn.tensor(b)
    for op in ops:
        ours = op(tinyrpn.tensor(a), tinyrpn.tensor(b))
        theirs = op(torch.tensor(a), torch.tensor(b))
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (a.dtype, b.dtype)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-3)


@pytest.mark.parametrize("scalar", [2, 2.5, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool", "uint8"])
def test_python_numbers_never_widen_within_a_category(scalar, dtype):
    torch = _torch()
    ours = tinyrpn.tensor([1, 0]).to(dtype) * scalar
    theirs = torch.tensor([1, 0]).to(getattr(torch, dtype)) * scalar
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")


def test_float32_stays_float32_through_ops_with_numbers():
    x = tinyrpn.randn(3, requires_grad=True)
    y = ((x * 2.5 + 1) / 3.0 - 0.5) ** 2
    y = y.var() + y.std() + y.mean() + y.max()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
