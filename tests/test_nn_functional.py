"""tinyrpn.nn.functional: every op's gradient against finite differences (float64), its
forward and backward against torch.nn.functional where torch is installed, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import gradcheck

FEW = settings(max_examples=15, deadline=None)


def arr(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def leaf(values: np.ndarray, grad: bool = True, device: str = "cpu") -> tinyrpn.Tensor:
    return tinyrpn.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad,
                          device=device)


def torch_leaf(values: np.ndarray, grad: bool = True):
    torch = pytest.importorskip("torch")
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad)


def assert_close(ours, theirs, rtol=1e-7, atol=1e-9, what=""):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, tinyrpn.Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def compare_with_torch(our_fn, torch_fn, *arrays, grads=None, rtol=1e-7, atol=1e-9,
                       device="cpu"):
    """Run both functions on the same float64 inputs (ours on ``device``); compare outputs
    and input gradients (for one fixed random output direction)."""
    grads = grads if grads is not None else [True] * len(arrays)
    ours = [leaf(a, g, device) for a, g in zip(arrays, grads)]
    theirs = [torch_leaf(a, g) for a, g in zip(arrays, grads)]
    out, ref = our_fn(*ours), torch_fn(*theirs)
    assert_close(out, ref, rtol, atol, "forward")
    direction = np.random.default_rng(99).standard_normal(ref.shape)
    out.backward(tinyrpn.tensor(direction.astype(np.float64), device=device))
    ref.backward(torch_leaf(direction, grad=False))
    for i, (o, t) in enumerate(zip(ours, theirs)):
        if t.requires_grad:
            assert_close(o.grad, t.grad, rtol, atol, f"gradient of input {i}")


# ----------------------------------------------------------------------------- linear


@FEW
@given(batch=st.integers(1, 4), n_in=st.integers(1, 5), n_out=st.integers(1, 4),
       bias=st.booleans(), lead=st.booleans())
def test_linear_gradcheck(batch, n_in, n_out, bias, lead, device):
    shape = (2, batch, n_in) if lead else (batch, n_in)
    x, w = leaf(arr(*shape, seed=1), device=device), leaf(arr(n_out, n_in, seed=2), device=device)
    b = leaf(arr(n_out, seed=3), device=device) if bias else None
    inputs = (x, w) + ((b,) if bias else ())
    assert gradcheck(lambda x, w, *b: F.linear(x, w, *b), *inputs)


def test_linear_matches_torch_and_skips_unneeded_input_grad(device):
    torch = pytest.importorskip("torch")
    compare_with_torch(F.linear, torch.nn.functional.linear,
                       arr(3, 2, 5), arr(4, 5, seed=1), arr(4, seed=2), device=device)
    x, w = leaf(arr(3, 5), grad=False, device=device), leaf(arr(4, 5, seed=1), device=device)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 5)


def test_linear_errors():
    with pytest.raises(ValueError, match=r"input has 6 features .* weight expects 5"):
        F.linear(tinyrpn.zeros(2, 6), tinyrpn.zeros(3, 5))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        F.linear(tinyrpn.zeros(2, 5), tinyrpn.zeros(3, 5), tinyrpn.zeros(4))
    with pytest.raises(TypeError, match="floating point"):
        F.linear(tinyrpn.zeros(2, 5, dtype="int64"), tinyrpn.zeros(3, 5))


# ----------------------------------------------------------------------------- conv2d


@FEW
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2]), c_g=st.integers(1, 2),
       o_g=st.integers(1, 2), k=st.integers(1, 3), stride=st.integers(1, 2),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), size=st.integers(4, 6),
       bias=st.booleans())
def test_conv2d_gradcheck(n, groups, c_g, o_g, k, stride, padding, dilation, size, bias, device):
    assume(dilation * (k - 1) + 1 <= size - 1 + 2 * padding)  # the kernel fits the input
    x = leaf(arr(n, c_g * groups, size, size - 1, seed=1), device=device)
    w = leaf(arr(o_g * groups, c_g, k, k, seed=2), device=device)
    b = leaf(arr(o_g * groups, seed=3), device=device)

    def fn(x, w, b):
        return F.conv2d(x, w, b if bias else None, stride, padding, dilation, groups)

    assert gradcheck(fn, x, w, b) if bias else gradcheck(lambda x, w: fn(x, w, None), x, w)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), ((2, 1), (0, 2), 1, 1), (1, 2, 2, 1), (1, 1, 1, 2),
    (2, 2, (1, 2), 4), (1, "same", 1, 1), (1, "same", 2, 2), (1, "valid", 1, 1),
])
def test_conv2d_matches_torch(stride, padding, dilation, groups, device):
    torch = pytest.importorskip("torch")
    x, w, b = arr(2, 4, 9, 8, seed=1), arr(8, 4 // groups, 3, 4, seed=2), arr(8, seed=3)
    compare_with_torch(
        lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups),
        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups),
        x, w, b,
        device=device,
    )


def test_conv2d_same_with_even_kernel_matches_torch():
    torch = pytest.importorskip("torch")  # an even kernel pads one more at the end
    compare_with_torch(lambda x, w: F.conv2d(x, w, padding="same"),
                       lambda x, w: torch.nn.functional.conv2d(x, w, padding="same"),
                       arr(1, 2, 6, 5), arr(3, 2, 4, 2, seed=1))


def test_conv2d_unbatched_and_float32():
    x, w = tinyrpn.randn(1, 16, 16), tinyrpn.randn(12, 1, 5, 5)
    assert F.conv2d(x, w, stride=2).shape == (12, 6, 6)
    assert F.conv2d(x, w, stride=2).dtype == np.float32


def test_conv2d_errors():
    x, w = tinyrpn.zeros(1, 3, 16, 16), tinyrpn.zeros(12, 1, 5, 5)
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but weight expects 1 "
                                         r"\(weight shape \(12, 1, 5, 5\)"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match="4-D"):
        F.conv2d(tinyrpn.zeros(16, 16), w)
    with pytest.raises(ValueError, match=r"bias must be a Tensor of shape \(12,\)"):
        F.conv2d(tinyrpn.zeros(1, 1, 8, 8), w, tinyrpn.zeros(3))
    with pytest.raises(ValueError, match="larger than the padded input 4x4"):
        F.conv2d(tinyrpn.zeros(1, 1, 4, 4), w)
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        F.conv2d(tinyrpn.zeros(1, 1, 8, 8), w, stride=2, padding="same")
    with pytest.raises(ValueError, match="need stride >= 1"):
        F.conv2d(tinyrpn.zeros(1, 1, 8, 8), w, stride=0)
    with pytest.raises(ValueError, match="not divisible by groups=2"):
        F.conv2d(tinyrpn.zeros(1, 2, 8, 8), tinyrpn.zeros(3, 1, 3, 3), groups=2)


# ----------------------------------------------------------------------------- pad


@pytest.mark.parametrize("widths, value", [
    ((2, 2, 2, 2), -1.0),            # LeCun 1989: pad by 2 with -1
    ((1, 0), 0.5), ((0, 3, 1, 2, 1, 1), 2.0),
    ((-1, 2, 1, -2), -1.0),          # negative widths crop
])
def test_pad_constant_matches_torch(widths, value, device):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda x: F.pad(x, widths, value=value),
                       lambda x: torch.nn.functional.pad(x, widths, value=value),
                       arr(2, 3, 4, 5), device=device)


def test_pad_lecun_values():
    x = tinyrpn.ones(1, 12, 8, 8)
    out = F.pad(x, (2, 2, 2, 2), value=-1)
    assert out.shape == (1, 12, 12, 12)
    assert out.numpy()[0, 0, :2].tolist() == [[-1.0] * 12] * 2
    assert float(out.numpy()[0, :, 2:10, 2:10].min()) == 1.0


@pytest.mark.parametrize("mode, widths, shape", [
    ("reflect", (2, 1, 3, 0), (2, 3, 4, 5)), ("replicate", (3, 1, 0, 5), (2, 3, 4, 5)),
    ("circular", (2, 4, 1, 3), (2, 3, 4, 5)), ("reflect", (1, 3), (2, 3, 5)),
    ("replicate", (1, 2, 0, 1, 2, 0), (1, 2, 3, 4, 2)),
])
def test_pad_modes_match_torch(mode, widths, shape, device):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda x: F.pad(x, widths, mode=mode),
                       lambda x: torch.nn.functional.pad(x, widths, mode=mode),
                       arr(*shape), device=device)


@FEW
@given(widths=st.sampled_from([2, 4]).flatmap(
           lambda n: st.lists(st.integers(-1, 3), min_size=n, max_size=n)),
       mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]))
def test_pad_gradcheck(widths, mode, device):
    if mode != "constant":
        widths = [abs(w) for w in widths]
    x = leaf(arr(2, 4, 5, seed=4), device=device)
    assert gradcheck(lambda x: F.pad(x, widths, mode=mode, value=-1.0), x)


def test_pad_errors():
    x = tinyrpn.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="even-length"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="only 3"):
        F.pad(x, (1,) * 8)
    with pytest.raises(ValueError, match="unknown mode 'mirror'"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="reflect padding widths must be smaller"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="negative size"):
        F.pad(x, (-2, -2))


# ----------------------------------------------------------------------------- activations


@pytest.mark.parametrize("fn", [F.relu, F.tanh, F.sigmoid, F.mish, F.softplus,
                                lambda x: F.softplus(x, beta=2.0, threshold=3.0)])
def test_activation_gradcheck(fn, device):
    values = arr(4, 5, scale=3.0)
    values[np.abs(values) < 1e-3] = 0.5  # keep away from ReLU's kink
    assert gradcheck(fn, leaf(values, device=device))


@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0), (1.0, 0.0)])
def test_softplus_matches_torch(beta, threshold):
    torch = pytest.importorskip("torch")
    values = np.concatenate([arr(30, scale=6.0), [-50.0, -5.0, 0.0, 5.0, 50.0, 1000.0]])
    compare_with_torch(lambda x: F.softplus(x, beta, threshold),
                       lambda x: torch.nn.functional.softplus(x, beta, threshold), values)


def test_mish_matches_torch_including_extremes():
    torch = pytest.importorskip("torch")
    values = np.concatenate([arr(40, scale=4.0), [-1000.0, -80.0, -20.0, 0.0, 19.9, 20.1, 1e4]])
    compare_with_torch(F.mish, torch.nn.functional.mish, values, rtol=1e-6, atol=1e-12)
    x32 = tinyrpn.tensor(values.astype(np.float32), requires_grad=True)
    out = F.mish(x32)
    out.sum().backward()
    assert out.dtype == np.float32 and np.all(np.isfinite(out.numpy()))
    assert np.all(np.isfinite(x32.grad.numpy()))
    ref = torch.nn.functional.mish(torch.tensor(values.astype(np.float32)))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=2e-6, atol=1e-6)


# ----------------------------------------------------------------------------- softmax


@FEW
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data(),
       log=st.booleans())
def test_softmax_gradcheck(shape, data, log, device):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    fn = F.log_softmax if log else F.softmax
    assert gradcheck(lambda x: fn(x, dim), leaf(arr(*shape, seed=5, scale=2.0), device=device))


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_softmax_matches_torch(dim, device):
    torch = pytest.importorskip("torch")
    values = arr(3, 4, 5, scale=3.0)
    compare_with_torch(lambda x: F.softmax(x, dim), lambda x: torch.softmax(x, dim), values,
                       device=device)
    compare_with_torch(lambda x: F.log_softmax(x, dim), lambda x: torch.log_softmax(x, dim),
                       values, device=device)


def test_log_softmax_is_stable():
    x = tinyrpn.tensor([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]])
    out = F.log_softmax(x, 1).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(out[1], np.log([1 / 3] * 3), rtol=1e-6)
    np.testing.assert_allclose(F.softmax(x, 1).numpy()[0], [1.0, 0.0, 0.0])


def test_softmax_implicit_dim_warns_like_torch():
    with pytest.warns(UserWarning, match="implicit dim"):
        out = F.softmax(tinyrpn.randn(2, 3))
    np.testing.assert_allclose(out.numpy().sum(1), 1.0, rtol=1e-6)


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction, device):
    torch = pytest.importorskip("torch")
    target = np.array([0, 3, 1, 3, 2])
    compare_with_torch(
        lambda x: F.cross_entropy(x, tinyrpn.tensor(target, device=device), reduction=reduction),
        lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(target),
                                                    reduction=reduction),
        arr(5, 4, scale=3.0),
        device=device,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_weight_ignore_index_and_extra_dims_match_torch(reduction, device):
    torch = pytest.importorskip("torch")
    weight = np.array([0.5, 2.0, 1.0])
    target = np.array([[0, 2, -100, 1], [1, 1, 0, -100]])  # (N=2, d=4)
    compare_with_torch(
        lambda x: F.cross_entropy(x, tinyrpn.tensor(target, device=device),
                                  tinyrpn.tensor(weight, device=device),
                                  reduction=reduction),
        lambda x: torch.nn.functional.cross_entropy(
            x, torch.tensor(target), torch.tensor(weight), reduction=reduction),
        arr(2, 3, 4, seed=7),
        device=device,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_match_torch(reduction, device):
    torch = pytest.importorskip("torch")
    probs = np.random.default_rng(3).dirichlet(np.ones(4), size=5)
    compare_with_torch(
        lambda x: F.cross_entropy(x, tinyrpn.tensor(probs, device=device), reduction=reduction),
        lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(probs),
                                                    reduction=reduction),
        arr(5, 4, seed=8),
        device=device,
    )


def test_cross_entropy_unbatched_matches_torch():
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda x: F.cross_entropy(x, tinyrpn.tensor(2)),
                       lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(2)),
                       arr(5, seed=9))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_gradcheck(reduction, device):
    target = tinyrpn.tensor([2, 0, 1, 2], device=device)
    weight = tinyrpn.tensor([1.0, 3.0, 0.5], device=device)
    x = leaf(arr(4, 3, seed=10, scale=2.0), device=device)
    assert gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), x)
    assert gradcheck(lambda x: F.cross_entropy(x, target, weight, reduction=reduction), x)
    assert gradcheck(lambda x: F.nll_loss(x, target, reduction=reduction), x)
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), target, weight,
                                          ignore_index=0, reduction=reduction), x)


def test_cross_entropy_is_log_softmax_then_nll():
    x, t = tinyrpn.randn(6, 10), tinyrpn.tensor([1, 9, 0, 3, 3, 5])
    np.testing.assert_allclose(F.cross_entropy(x, t).item(),
                               F.nll_loss(F.log_softmax(x, 1), t).item(), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch(reduction, device):
    torch = pytest.importorskip("torch")
    target, weight = np.array([1, 0, 2, 2, -100]), np.array([1.0, 0.2, 3.0])
    compare_with_torch(
        lambda x: F.nll_loss(x, tinyrpn.tensor(target, device=device),
                             tinyrpn.tensor(weight, device=device),
                             reduction=reduction),
        lambda x: torch.nn.functional.nll_loss(x, torch.tensor(target), torch.tensor(weight),
                                               reduction=reduction),
        arr(5, 3, seed=11),
        device=device,
    )


def test_cross_entropy_float32_gradient_flows(device):
    x = tinyrpn.randn(64, 10, requires_grad=True, device=device)
    loss = F.cross_entropy(x, tinyrpn.tensor(np.arange(64) % 10, device=device))
    loss.backward()
    assert loss.dtype == np.float32 and loss.shape == ()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy().sum(1), 0.0, atol=1e-7)  # rows of p - onehot


def test_loss_errors():
    x = tinyrpn.randn(3, 4)
    with pytest.raises(IndexError, match=r"target 4 at position \(1,\) is out of range for 4 "
                                         r"classes \(valid: 0 to 3\)"):
        F.cross_entropy(x, tinyrpn.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="target -1 at position"):
        F.nll_loss(x, tinyrpn.tensor([0, -1, 1]))
    with pytest.raises(TypeError, match="must be integers.*float32.*class probabilities"):
        F.cross_entropy(x, tinyrpn.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match input shape "
                                         r"\(3, 4\); expected target shape \(3,\)"):
        F.cross_entropy(x, tinyrpn.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        F.cross_entropy(x, tinyrpn.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(TypeError, match="did you mean reduction='sum'"):
        F.cross_entropy(x, tinyrpn.tensor([0, 1, 2]), "sum")
    with pytest.raises(TypeError, match="must be integers"):
        F.cross_entropy(x, tinyrpn.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"weight must be a Tensor of shape \(4,\)"):
        F.cross_entropy(x, tinyrpn.tensor([0, 1, 2]), tinyrpn.ones(3))
    with pytest.raises(ValueError, match="do not broadcast"):
        F.mse_loss(x, tinyrpn.zeros(5))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch_and_gradcheck(reduction, device):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda a, b: F.mse_loss(a, b, reduction),
                       lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
                       arr(4, 10), arr(4, 10, seed=1), device=device)
    assert gradcheck(lambda a, b: F.mse_loss(a, b, reduction), leaf(arr(3, 2), device=device),
                     leaf(arr(3, 2, seed=1), device=device))


def test_mse_loss_broadcast_warns():
    with pytest.warns(UserWarning, match="broadcast"):
        loss = F.mse_loss(tinyrpn.zeros(4, 1), tinyrpn.ones(4))
    assert loss.item() == 1.0


# ----------------------------------------------------------------------------- layer norm


@FEW
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
       normalized=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       affine=st.booleans())
def test_layer_norm_gradcheck(lead, normalized, affine, device):
    if int(np.prod(normalized)) < 2:
        normalized = [*normalized, 2]  # one feature normalises to 0 and has no gradient
    x = leaf(arr(*lead, *normalized, seed=12, scale=2.0), device=device)
    if not affine:
        assert gradcheck(lambda x: F.layer_norm(x, normalized), x)
    else:
        w = leaf(arr(*normalized, seed=13), device=device)
        b = leaf(arr(*normalized, seed=14), device=device)
        assert gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), x, w, b)


@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_torch(affine, device):
    torch = pytest.importorskip("torch")
    shape = (3, 4, 5)
    if affine:
        compare_with_torch(
            lambda x, w, b: F.layer_norm(x, shape[1:], w, b, eps=1e-3),
            lambda x, w, b: torch.nn.functional.layer_norm(x, shape[1:], w, b, eps=1e-3),
            arr(*shape, scale=3.0), arr(*shape[1:], seed=1), arr(*shape[1:], seed=2),
        device=device,
    )
    else:
        compare_with_torch(lambda x: F.layer_norm(x, 5),
                           lambda x: torch.nn.functional.layer_norm(x, (5,)),
                           arr(*shape, scale=3.0) + 7.0, device=device)


def test_layer_norm_does_not_save_its_input():
    """The backward needs y and rstd only; the op must not hold on to x's array."""
    x = tinyrpn.randn(4, 1000, requires_grad=True)
    h = x * 2.0  # a non-leaf, like the Taylor expansion feeding an RPN layer's LayerNorm
    out = F.layer_norm(h, 1000)
    fn = out.grad_fn
    saved = [v for k, v in vars(fn).items() if isinstance(v, np.ndarray)]
    assert saved, "the op should save y and rstd"
    assert not any(np.shares_memory(v, h.data) for v in saved)
    assert not fn.saves_inputs


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"normalized_shape \(4,\) must match the last dims.*"
                                         r"\(2, 5\)"):
        F.layer_norm(tinyrpn.zeros(2, 5), 4)
    with pytest.raises(ValueError, match=r"weight must have shape \(5,\)"):
        F.layer_norm(tinyrpn.zeros(2, 5), 5, weight=tinyrpn.ones(4))


# ----------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 2), (3, 2, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training, device):
    channels = shape[1]
    x = leaf(arr(*shape, seed=15, scale=2.0) + 1.0, device=device)
    w, b = leaf(arr(channels, seed=16), device=device), leaf(arr(channels, seed=17), device=device)
    rm = leaf(arr(channels, seed=18), False, device=device)
    rv = leaf(np.abs(arr(channels, seed=19)) + 0.5, False, device=device)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training), x, w, b)
    assert gradcheck(lambda x: F.batch_norm(x, None if training else rm,
                                            None if training else rv, training=training), x)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 2)])
def test_batch_norm_running_stats_match_torch_over_steps(shape, device):
    torch = pytest.importorskip("torch")
    channels = shape[1]
    rm = tinyrpn.zeros(channels, dtype="float64", device=device)
    rv = tinyrpn.ones(channels, dtype="float64", device=device)
    trm, trv = torch.zeros(channels, dtype=torch.float64), torch.ones(channels,
                                                                        dtype=torch.float64)
    w, b = arr(channels, seed=1), arr(channels, seed=2)
    for step in range(4):
        x = arr(*shape, seed=20 + step, scale=1.0 + step) + step
        compare_with_torch(
            lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3),
            lambda x, w, b: torch.nn.functional.batch_norm(x, trm, trv, w, b, training=True,
                                                           momentum=0.3),
            x, w, b,
        device=device,
    )
        assert_close(rm, trm, what=f"running_mean after step {step}")
        assert_close(rv, trv, what=f"running_var after step {step}")
    version = rm._version.value
    compare_with_torch(  # evaluation uses (and does not change) the running statistics
        lambda x, w, b: F.batch_norm(x, rm, rv, w, b),
        lambda x, w, b: torch.nn.functional.batch_norm(x, trm, trv, w, b),
        arr(*shape, seed=30), w, b,
        device=device,
    )
    assert rm._version.value == version


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tinyrpn.zeros(1, 4), None, None, training=True)
    with pytest.raises(ValueError, match="needed when training=False"):
        F.batch_norm(tinyrpn.zeros(3, 4), None, None)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(4,\)"):
        F.batch_norm(tinyrpn.zeros(3, 4), tinyrpn.zeros(3), tinyrpn.ones(3))
    with pytest.raises(ValueError, match="channel dim"):
        F.batch_norm(tinyrpn.zeros(4), None, None, training=True)


# ----------------------------------------------------------------------------- dropout


def test_dropout_is_seeded_and_scaled(device):
    x = tinyrpn.ones(200, 100, device=device)
    tinyrpn.manual_seed(3)
    a = F.dropout(x, 0.25).numpy()
    tinyrpn.manual_seed(3)
    b = F.dropout(x, 0.25).numpy()
    c = F.dropout(x, 0.25).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert set(np.unique(a).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert (a == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert a.mean() == pytest.approx(1.0, abs=0.02)  # the scaling keeps the expectation


def test_dropout_gradient_is_the_mask_and_eval_is_identity(device):
    x = leaf(arr(30, 20), device=device)
    tinyrpn.manual_seed(0)
    out = F.dropout(x, 0.4)
    out.backward(tinyrpn.ones(30, 20, dtype="float64", device=device))
    mask = out.numpy() / x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask)

    def seeded(x):
        tinyrpn.manual_seed(1)
        return F.dropout(x, 0.5)

    assert gradcheck(seeded, leaf(arr(4, 5), device=device))
    assert F.dropout(x, 0.4, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)
