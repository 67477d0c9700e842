"""Tests for tinyrpn.kernels.

Two properties for every kernel:

1. the NumPy twin agrees with an independent definition of the math (a naive loop, an
   einsum, central finite differences in float64, or PyTorch when it is installed);
2. the Numba kernel agrees with the NumPy twin, in float32 and float64, for contiguous
   and strided inputs.

And the plumbing: TINYRPN_NUMBA=0 routes to the twin, and bad arguments fail with errors
that name the problem.
"""

from __future__ import annotations

import numpy as np
import pytest
from devices import host, on
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyrpn import kernels
from tinyrpn.kernels import conv, norm, softmax, taylor

DTYPES = [np.float32, np.float64]


def tol(dtype) -> dict:
    """Tolerances for comparing two implementations that sum in different orders."""
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


def rand(rng, shape, dtype=np.float64, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def strided(a: np.ndarray) -> np.ndarray:
    """The same values as ``a`` in a non-contiguous view (every other element of a bigger array)."""
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    view = big[..., ::2]
    assert a.size <= 1 or not view.flags.c_contiguous  # one number is contiguous any way
    return view


def numerical_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar f at x (float64)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f(x)
        flat[i] = old - h
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


@pytest.fixture
def rng():
    return np.random.default_rng(1989)


# --------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------

# (x shape, weight shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((1, 1, 20, 20), (12, 1, 5, 5), 2, 0, 1, 1),  # LeCun 1989, H1
    ((2, 1, 16, 16), (12, 1, 5, 5), 2, 2, 1, 1),  # H1 with padding
    ((2, 4, 11, 9), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),  # everything asymmetric, groups
    ((3, 6, 7, 7), (6, 1, 3, 3), 1, 1, 1, 6),  # depthwise
    ((2, 3, 5, 6), (4, 3, 1, 1), 1, 0, 1, 1),  # 1x1
    ((1, 2, 4, 4), (3, 2, 6, 6), 1, 1, 1, 1),  # kernel exactly the padded input
    ((2, 2, 9, 9), (2, 2, 3, 3), 3, 2, 2, 1),  # stride > 1 with dilation and padding
    ((4, 8, 16, 16), (8, 8, 3, 3), 1, 1, 1, 1),  # more channels
]
CONV_IDS = ["lecun", "lecun-pad", "asym-groups", "depthwise", "1x1", "full", "dilated", "channels"]


def naive_conv2d(x, w, stride, padding, dilation, groups):
    """out[n,o,i,j] = sum_{c,u,v} w[o,c,u,v] * x_pad[n, g*C_g + c, i*s + u*d, j*s + v*d]."""
    (sh, sw), (ph, pw), (dh, dw) = (conv._pair(a, "", "") for a in (stride, padding, dilation))
    n, c_in, h, wd = x.shape
    c_out, c_g, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c_out, ho, wo))
    per_group = c_out // groups
    for o in range(c_out):
        c0 = (o // per_group) * c_g
        for i in range(ho):
            for j in range(wo):
                for u in range(kh):
                    for v in range(kw):
                        patch = xp[:, c0 : c0 + c_g, i * sh + u * dh, j * sw + v * dw]  # (n, c_g)
                        out[:, o, i, j] += patch @ w[o, :, u, v]
    return out


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_twin_matches_naive_loop(case, rng, device):
    xs, ws, s, p, d, g = case
    x, w = rand(rng, xs), rand(rng, ws)
    out = host(conv.conv2d_forward_xp(*on(device, x, w), s, p, d, g))
    np.testing.assert_allclose(out, naive_conv2d(x, w, s, p, d, g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_twin_backward_is_the_adjoint(case, rng, device):
    """conv is bilinear, so <conv(x, w), G> = <x, grad_x> = <w, grad_w> exactly."""
    xs, ws, s, p, d, g = case
    x, w = rand(rng, xs), rand(rng, ws)
    out = host(conv.conv2d_forward_xp(*on(device, x, w), s, p, d, g))
    grad_out = rand(rng, out.shape)
    grad_x, grad_w = host(conv.conv2d_backward_xp(*on(device, grad_out, x, w), s, p, d, g))
    assert grad_x.shape == x.shape and grad_w.shape == w.shape
    inner = np.sum(out * grad_out)
    np.testing.assert_allclose(np.sum(x * grad_x), inner, rtol=1e-10)
    np.testing.assert_allclose(np.sum(w * grad_w), inner, rtol=1e-10)


@pytest.mark.parametrize("path", ["serial", "parallel"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_numba_matches_twin(case, dtype, path, rng, monkeypatch):
    # im2col/col2im run serially below a size threshold; move it to test both loops
    monkeypatch.setattr(conv, "PARALLEL_MIN_ELEMENTS", 0 if path == "parallel" else 1 << 60)
    xs, ws, s, p, d, g = case
    x, w = rand(rng, xs, dtype), rand(rng, ws, dtype)
    out = kernels.conv2d_forward(x, w, s, p, d, g)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, conv.conv2d_forward_xp(x, w, s, p, d, g), **tol(dtype))
    grad_out = rand(rng, out.shape, dtype)
    grad_x, grad_w = kernels.conv2d_backward(grad_out, x, w, s, p, d, g)
    ref_x, ref_w = conv.conv2d_backward_xp(grad_out, x, w, s, p, d, g)
    assert grad_x.dtype == dtype and grad_w.dtype == dtype
    np.testing.assert_allclose(grad_x, ref_x, **tol(dtype))
    np.testing.assert_allclose(grad_w, ref_w, **tol(dtype))


def test_conv2d_uses_the_parallel_loops_for_big_inputs(monkeypatch, rng):
    calls = []
    for name in ("_im2col_parallel", "_col2im_parallel"):
        original = getattr(conv, name)
        monkeypatch.setattr(conv, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    x, w = rand(rng, (64, 16, 16, 16), np.float32), rand(rng, (8, 16, 3, 3), np.float32)
    assert 64 * 16 * 9 * 14 * 14 >= conv.PARALLEL_MIN_ELEMENTS  # the entries of cols
    out = kernels.conv2d_forward(x, w)
    kernels.conv2d_backward(out, x, w)
    assert calls == ["_im2col_parallel", "_im2col_parallel", "_col2im_parallel"]


def test_conv2d_accepts_strided_inputs(rng):
    xs, ws, s, p, d, g = CONV_CASES[2]
    x, w = rand(rng, xs, np.float32), rand(rng, ws, np.float32)
    out = kernels.conv2d_forward(x, w, s, p, d, g)
    np.testing.assert_array_equal(kernels.conv2d_forward(strided(x), strided(w), s, p, d, g), out)
    grad_out = rand(rng, out.shape, np.float32)
    expected = kernels.conv2d_backward(grad_out, x, w, s, p, d, g)
    got = kernels.conv2d_backward(strided(grad_out), strided(x), strided(w), s, p, d, g)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_conv2d_backward_can_skip_a_gradient(rng):
    x, w = rand(rng, (2, 2, 6, 6)), rand(rng, (3, 2, 3, 3))
    grad_out = rand(rng, (2, 3, 4, 4))
    full_x, full_w = kernels.conv2d_backward(grad_out, x, w)
    grad_x, grad_w = kernels.conv2d_backward(grad_out, x, w, need_grad_x=False)
    assert grad_x is None
    np.testing.assert_array_equal(grad_w, full_w)
    grad_x, grad_w = kernels.conv2d_backward(grad_out, x, w, need_grad_weight=False)
    assert grad_w is None
    np.testing.assert_array_equal(grad_x, full_x)


def test_conv2d_mixed_dtypes_promote_to_float64(rng):
    x, w = rand(rng, (1, 1, 6, 6), np.float32), rand(rng, (2, 1, 3, 3), np.float64)
    assert kernels.conv2d_forward(x, w).dtype == np.float64


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 2),
    c_per_group=st.integers(1, 3),
    out_per_group=st.integers(1, 3),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
)
def test_conv2d_numba_matches_naive_on_random_shapes(
    n, groups, c_per_group, out_per_group, size, kernel, stride, padding, dilation
):
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(sp > sz + 2 * p for sp, sz, p in zip(span, size, padding)):
        return  # an invalid geometry; the error is tested elsewhere
    rng = np.random.default_rng(0)
    x = rand(rng, (n, groups * c_per_group, *size))
    w = rand(rng, (groups * out_per_group, c_per_group, *kernel))
    out = kernels.conv2d_forward(x, w, stride, padding, dilation, groups)
    np.testing.assert_allclose(out, naive_conv2d(x, w, stride, padding, dilation, groups),
                               rtol=1e-10, atol=1e-10)
    grad_out = rand(rng, out.shape)
    grad_x, grad_w = kernels.conv2d_backward(grad_out, x, w, stride, padding, dilation, groups)
    ref_x, ref_w = conv.conv2d_backward_xp(grad_out, x, w, stride, padding, dilation, groups)
    np.testing.assert_allclose(grad_x, ref_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad_w, ref_w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, message",
    [
        ((1, 3, 8, 8), (4, 1, 3, 3), {"groups": 2}, "divisible by groups=2"),
        ((1, 4, 8, 8), (4, 1, 3, 3), {"groups": 2}, "needs 2 input channels"),
        ((1, 1, 4, 4), (2, 1, 5, 5), {}, "bigger than the padded input 4x4"),
        ((1, 1, 4, 4), (2, 1, 3, 3), {"dilation": 2}, "spanning 5x5"),
        ((1, 8, 8), (2, 1, 3, 3), {}, r"x must be 4-D \(N, C_in, H, W\), got shape \(1, 8, 8\)"),
        ((1, 1, 8, 8), (2, 3, 3), {}, "weight must be 4-D"),
        ((1, 1, 8, 8), (2, 1, 3, 3), {"stride": 0}, "stride >= 1"),
        ((1, 1, 8, 8), (2, 1, 3, 3), {"padding": (1, -1)}, "padding >= 0"),
        ((1, 1, 8, 8), (2, 1, 3, 3), {"stride": (1, 2, 3)}, "stride must be an int or a pair"),
        ((1, 2, 8, 8), (2, 2, 3, 3), {"groups": 0}, "groups must be a positive int"),
    ],
)
def test_conv2d_rejects_bad_arguments(x_shape, w_shape, kwargs, message):
    x, w = np.zeros(x_shape), np.zeros(w_shape)
    with pytest.raises(ValueError, match=message):
        kernels.conv2d_forward(x, w, **kwargs)


def test_conv2d_backward_rejects_wrong_grad_shape():
    x, w = np.zeros((2, 1, 8, 8)), np.zeros((3, 1, 3, 3))
    message = r"grad_out has shape \(2, 3, 5, 5\), expected \(2, 3, 6, 6\)"
    with pytest.raises(ValueError, match=message):
        kernels.conv2d_backward(np.zeros((2, 3, 5, 5)), x, w)


def test_conv2d_rejects_integer_arrays():
    with pytest.raises(TypeError, match="float32 or float64.*int64"):
        kernels.conv2d_forward(np.zeros((1, 1, 4, 4), np.int64), np.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_torch(case, rng):
    torch = pytest.importorskip("torch")
    xs, ws, s, p, d, g = case
    x, w = rand(rng, xs), rand(rng, ws)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    t_out = torch.nn.functional.conv2d(tx, tw, None, s, p, d, g)
    grad_out = rand(rng, tuple(t_out.shape))
    t_gx, t_gw = torch.autograd.grad(t_out, (tx, tw), torch.tensor(grad_out))
    out = kernels.conv2d_forward(x, w, s, p, d, g)
    grad_x, grad_w = kernels.conv2d_backward(grad_out, x, w, s, p, d, g)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad_x, t_gx.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad_w, t_gw.numpy(), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------
# layer_norm
# --------------------------------------------------------------------------------------

LN_SHAPES = [(1, 1), (3, 1), (4, 17), (2, 1000), (65, 300)]


@pytest.mark.parametrize("shape", LN_SHAPES)
def test_layer_norm_twin_matches_definition(shape, rng, device):
    x = rand(rng, shape, scale=3.0) + 2.0
    y, rstd = host(kernels.layer_norm_forward(on(device, x), 1e-5) if device != "cpu"
                   else norm.layer_norm_forward_xp(x, 1e-5))
    expected_rstd = 1 / np.sqrt(x.var(axis=1) + 1e-5)
    np.testing.assert_allclose(rstd, expected_rstd, rtol=1e-12)
    np.testing.assert_allclose(y, (x - x.mean(axis=1, keepdims=True)) * expected_rstd[:, None],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LN_SHAPES)
def test_layer_norm_numba_matches_twin(shape, dtype, rng):
    x = rand(rng, shape, dtype, scale=3.0) + dtype(2.0)
    y, rstd = kernels.layer_norm_forward(x, 1e-5)
    ref_y, ref_rstd = norm.layer_norm_forward_xp(x, 1e-5)
    assert y.dtype == dtype and rstd.dtype == dtype and rstd.shape == (shape[0],)
    np.testing.assert_allclose(y, ref_y, **tol(dtype))
    np.testing.assert_allclose(rstd, ref_rstd, **tol(dtype))
    grad_y = rand(rng, shape, dtype)
    np.testing.assert_allclose(kernels.layer_norm_backward(grad_y, y, rstd),
                               norm.layer_norm_backward_xp(grad_y, y, rstd), **tol(dtype))
    # strided inputs give the same numbers
    y2, rstd2 = kernels.layer_norm_forward(strided(x), 1e-5)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(
        kernels.layer_norm_backward(strided(grad_y), strided(y), rstd),
        kernels.layer_norm_backward(grad_y, y, rstd),
    )


def test_layer_norm_is_accurate_when_the_mean_dwarfs_the_spread(rng):
    """The one-pass sums are shifted; unshifted E[x^2] - E[x]^2 would lose every digit here."""
    x = 1e6 + rand(rng, (3, 5000), scale=1e-2)
    y, rstd = kernels.layer_norm_forward(x, 0.0)
    np.testing.assert_allclose(rstd, 1 / x.std(axis=1), rtol=1e-7)
    expected = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    np.testing.assert_allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("use_numba", [True, False])
def test_layer_norm_backward_matches_finite_differences(use_numba, rng, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    x = rand(rng, (3, 7), scale=2.0)
    grad_y = rand(rng, (3, 7))

    def loss(x):
        return np.sum(kernels.layer_norm_forward(x, 1e-3)[0] * grad_y)

    y, rstd = kernels.layer_norm_forward(x, 1e-3)
    np.testing.assert_allclose(kernels.layer_norm_backward(grad_y, y, rstd),
                               numerical_grad(loss, x.copy()), rtol=1e-6, atol=1e-7)


def test_layer_norm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rand(rng, (8, 513), scale=2.0) - 1.0
    grad_y = rand(rng, (8, 513))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.layer_norm(tx, (513,), eps=1e-5)
    (t_gx,) = torch.autograd.grad(ty, (tx,), torch.tensor(grad_y))
    y, rstd = kernels.layer_norm_forward(x, 1e-5)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(kernels.layer_norm_backward(grad_y, y, rstd), t_gx.numpy(),
                               rtol=1e-9, atol=1e-9)


def test_layer_norm_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"x must be 2-D \(rows, features\), got shape \(5,\)"):
        kernels.layer_norm_forward(np.zeros(5), 1e-5)
    with pytest.raises(ValueError, match="no features"):
        kernels.layer_norm_forward(np.zeros((3, 0)), 1e-5)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        kernels.layer_norm_forward(np.zeros((3, 2)), -1.0)
    with pytest.raises(TypeError, match="int32"):
        kernels.layer_norm_forward(np.zeros((3, 2), np.int32), 1e-5)
    with pytest.raises(ValueError, match=r"rstd \(2,\) must be \(3,\)"):
        kernels.layer_norm_backward(np.zeros((3, 4)), np.zeros((3, 4)), np.zeros(2))
    with pytest.raises(ValueError, match=r"grad_y \(3, 5\) must match y \(3, 4\)"):
        kernels.layer_norm_backward(np.zeros((3, 5)), np.zeros((3, 4)), np.zeros(3))


# --------------------------------------------------------------------------------------
# log_softmax and cross-entropy
# --------------------------------------------------------------------------------------

SOFTMAX_SHAPES = [(1, 1), (5, 3), (512, 10), (7, 1000)]


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_log_softmax_twin_matches_definition(shape, rng, device):
    x = rand(rng, shape, scale=3.0)
    expected = np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
    got = host(softmax.log_softmax_xp(x) if device == "cpu" else kernels.log_softmax(on(device, x)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_log_softmax_numba_matches_twin(shape, dtype, rng):
    x = rand(rng, shape, dtype, scale=3.0)
    out = kernels.log_softmax(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, softmax.log_softmax_xp(x), **tol(dtype))
    np.testing.assert_array_equal(kernels.log_softmax(strided(x)), out)


@pytest.mark.parametrize("use_numba", [True, False])
def test_log_softmax_is_stable_for_huge_logits(use_numba, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], dtype=np.float32)
    out = kernels.log_softmax(x)
    np.testing.assert_allclose(out[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(out[1], np.full(3, -np.log(3.0)), rtol=1e-6)
    losses, probs = kernels.cross_entropy_forward(x, np.array([2, 0]))
    np.testing.assert_allclose(losses, [2000.0, np.log(3.0)], rtol=1e-6)
    assert np.isfinite(probs).all()


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_cross_entropy_twin_matches_definition(shape, rng, device):
    x = rand(rng, shape, scale=3.0)
    target = rng.integers(0, shape[1], shape[0])
    forward = softmax.cross_entropy_forward_xp if device == "cpu" else kernels.cross_entropy_forward
    losses, probs = host(forward(*on(device, x, target)))
    log_p = softmax.log_softmax_xp(x)
    np.testing.assert_allclose(losses, -log_p[np.arange(shape[0]), target], rtol=1e-12)
    np.testing.assert_allclose(probs, np.exp(log_p), rtol=1e-12)
    grad_losses = rand(rng, shape[0])
    backward = (softmax.cross_entropy_backward_xp if device == "cpu"
                else kernels.cross_entropy_backward)
    grad = host(backward(*on(device, grad_losses, probs, target)))
    onehot = np.eye(shape[1])[target]
    np.testing.assert_allclose(grad, grad_losses[:, None] * (probs - onehot), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_cross_entropy_numba_matches_twin(shape, dtype, rng):
    x = rand(rng, shape, dtype, scale=3.0)
    target = rng.integers(0, shape[1], shape[0]).astype(np.int32)  # any integer dtype will do
    losses, probs = kernels.cross_entropy_forward(x, target)
    ref_losses, ref_probs = softmax.cross_entropy_forward_xp(x, target)
    assert losses.dtype == dtype and probs.dtype == dtype and losses.shape == (shape[0],)
    np.testing.assert_allclose(losses, ref_losses, **tol(dtype))
    np.testing.assert_allclose(probs, ref_probs, **tol(dtype))
    grad_losses = rand(rng, shape[0], dtype)
    grad = kernels.cross_entropy_backward(grad_losses, probs, target)
    np.testing.assert_allclose(grad, softmax.cross_entropy_backward_xp(grad_losses, probs, target),
                               **tol(dtype))
    s_losses, s_probs = kernels.cross_entropy_forward(strided(x), target)
    np.testing.assert_array_equal(s_losses, losses)
    np.testing.assert_array_equal(
        kernels.cross_entropy_backward(strided(grad_losses[None])[0], strided(probs), target), grad
    )


@pytest.mark.parametrize("use_numba", [True, False])
def test_cross_entropy_gradient_matches_finite_differences(use_numba, rng, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    x = rand(rng, (4, 5), scale=2.0)
    target = np.array([0, 4, 2, 2])
    weights = rand(rng, 4)  # a weighted sum of the per-sample losses

    def loss(x):
        return np.sum(weights * kernels.cross_entropy_forward(x, target)[0])

    _, probs = kernels.cross_entropy_forward(x, target)
    np.testing.assert_allclose(kernels.cross_entropy_backward(weights, probs, target),
                               numerical_grad(loss, x.copy()), rtol=1e-6, atol=1e-8)


def test_cross_entropy_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rand(rng, (64, 10), scale=3.0)
    target = rng.integers(0, 10, 64)
    losses, _ = kernels.cross_entropy_forward(x, target)
    expected = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(target),
                                                 reduction="none")
    np.testing.assert_allclose(losses, expected.numpy(), rtol=1e-10)


@pytest.mark.parametrize("use_numba", [True, False])
def test_cross_entropy_rejects_bad_targets(use_numba, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    x = np.zeros((3, 10), np.float32)
    with pytest.raises(IndexError, match=r"target\[1\] = 10 is out of range for 10 classes "
                                         r"\(valid values are 0 ... 9\)"):
        kernels.cross_entropy_forward(x, np.array([0, 10, 3]))
    with pytest.raises(IndexError, match=r"target\[2\] = -1"):
        kernels.cross_entropy_forward(x, np.array([0, 1, -1]))
    with pytest.raises(IndexError, match=r"target\[0\] = 12"):
        kernels.cross_entropy_backward(np.ones(3, np.float32), x, np.array([12, 1, 1]))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\), got \(2,\)"):
        kernels.cross_entropy_forward(x, np.array([0, 1]))
    with pytest.raises(TypeError, match="integer class indices, got float64"):
        kernels.cross_entropy_forward(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"grad_losses must have shape \(3,\)"):
        kernels.cross_entropy_backward(np.ones(4, np.float32), x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="logits must be 2-D"):
        kernels.cross_entropy_forward(np.zeros(10), np.array([0]))


# --------------------------------------------------------------------------------------
# taylor2
# --------------------------------------------------------------------------------------

TAYLOR_SHAPES = [(1, 1), (3, 4), (2, 37), (9, 64)]


def taylor2_definition(x):
    n = x.shape[0]
    return np.concatenate([x, np.einsum("ba,bc->bac", x, x).reshape(n, -1)], axis=1)


@pytest.mark.parametrize("shape", TAYLOR_SHAPES)
def test_taylor2_twin_matches_outer_products(shape, rng, device):
    x = rand(rng, shape)
    z = host(taylor.taylor2_forward_xp(on(device, x)))
    np.testing.assert_array_equal(z, taylor2_definition(x))
    np.testing.assert_array_equal(z[0, shape[1] :], np.outer(x[0], x[0]).ravel())
    grad_z = rand(rng, z.shape)
    m = shape[1]
    big_g = grad_z[:, m:].reshape(shape[0], m, m)
    expected = (grad_z[:, :m] + np.einsum("bac,bc->ba", big_g, x)
                + np.einsum("bca,bc->ba", big_g, x))
    np.testing.assert_allclose(host(taylor.taylor2_backward_xp(*on(device, grad_z, x))), expected,
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", TAYLOR_SHAPES)
def test_taylor2_numba_matches_twin(shape, dtype, rng):
    x = rand(rng, shape, dtype)
    z = kernels.taylor2_forward(x)
    assert z.dtype == dtype and z.shape == (shape[0], shape[1] * (shape[1] + 1))
    np.testing.assert_array_equal(z, taylor.taylor2_forward_xp(x))
    grad_z = rand(rng, z.shape, dtype)
    grad_x = kernels.taylor2_backward(grad_z, x)
    assert grad_x.dtype == dtype
    np.testing.assert_allclose(grad_x, taylor.taylor2_backward_xp(grad_z, x), **tol(dtype))
    np.testing.assert_array_equal(kernels.taylor2_forward(strided(x)), z)
    np.testing.assert_array_equal(kernels.taylor2_backward(strided(grad_z), strided(x)), grad_x)


@pytest.mark.parametrize("use_numba", [True, False])
def test_taylor2_backward_matches_finite_differences(use_numba, rng, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    x = rand(rng, (2, 5))
    grad_z = rand(rng, (2, 30))

    def loss(x):
        return np.sum(kernels.taylor2_forward(x) * grad_z)

    np.testing.assert_allclose(kernels.taylor2_backward(grad_z, x),
                               numerical_grad(loss, x.copy()), rtol=1e-7, atol=1e-8)


def test_taylor2_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"x must be 2-D \(N, m\)"):
        kernels.taylor2_forward(np.zeros(4))
    message = r"grad_z must have shape \(2, 12\) for x \(2, 3\), got \(2, 9\)"
    with pytest.raises(ValueError, match=message):
        kernels.taylor2_backward(np.zeros((2, 9)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="bool"):
        kernels.taylor2_forward(np.zeros((2, 3), bool))


# (N, m, L, r): L divides D = m + m². Blocks that start inside the linear part, that
# straddle the linear and quadratic parts, that hold several runs of constant a, and a
# block as long as the whole row.
CONTRACT_SHAPES = [(1, 1, 2, 1), (3, 4, 5, 2), (2, 5, 6, 3), (4, 3, 12, 1), (2, 7, 8, 5),
                   (5, 6, 3, 4)]


# blocks shorter than m, of m + 1 (the Kronecker layout's), several rows long, and a block
# that spans several rows and starts mid-row
CONTRACT_SHAPES += [(3, 9, 10, 3), (2, 8, 72, 2), (3, 6, 14, 2)]


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("use_numba", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CONTRACT_SHAPES)
def test_taylor2_contract_matches_the_expansion_times_m(shape, dtype, use_numba, method, rng,
                                                        monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    n, m, L, r = shape
    x, M = rand(rng, (n, m), dtype), rand(rng, (L, r), dtype)
    z = taylor2_definition(x.astype(np.float64))
    expected = z.reshape(n, -1, L) @ M.astype(np.float64)
    y = kernels.taylor2_contract(x, M, method)
    assert y.dtype == dtype and y.shape == (n, (m + m * m) // L, r)
    np.testing.assert_allclose(y, expected, **tol(dtype))
    np.testing.assert_allclose(taylor.taylor2_contract_xp(x, M), expected, **tol(dtype))
    np.testing.assert_allclose(kernels.taylor2_contract(strided(x), strided(M), method), y,
                               **tol(dtype))

    g = rand(rng, y.shape, dtype)
    expected_dm = z.reshape(-1, L).T @ g.reshape(-1, r).astype(np.float64)
    dm = kernels.taylor2_contract_grad_m(x, g, method)
    assert dm.dtype == dtype and dm.shape == (L, r)
    np.testing.assert_allclose(dm, expected_dm, **tol(dtype))
    np.testing.assert_allclose(taylor.taylor2_contract_grad_m_xp(x, g), expected_dm, **tol(dtype))


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("use_numba", [True, False])
def test_taylor2_contract_grad_m_matches_finite_differences(use_numba, method, rng, monkeypatch):
    monkeypatch.setenv("TINYRPN_NUMBA", "1" if use_numba else "0")
    x, M = rand(rng, (3, 4)), rand(rng, (5, 2))
    g = rand(rng, (3, 4, 2))

    def loss(M):
        return np.sum(kernels.taylor2_contract(x, M, method) * g)

    np.testing.assert_allclose(kernels.taylor2_contract_grad_m(x, g, method),
                               numerical_grad(loss, M.copy()), rtol=1e-7, atol=1e-8)


# the expansion times a dense W (n × D), as products with [1, x] ⊗ x
DENSE_SHAPES = [(1, 1, 1), (3, 4, 2), (2, 5, 7), (5, 3, 1), (4, 9, 6)]  # (N, m, n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_taylor2_dense_matches_the_expansion_times_w_transposed(shape, dtype, rng):
    N, m, n = shape
    x, W = rand(rng, (N, m), dtype), rand(rng, (n, m + m * m), dtype)
    z = taylor2_definition(x.astype(np.float64))
    y = kernels.taylor2_dense(x, W)
    assert y.dtype == dtype and y.shape == (N, n)
    np.testing.assert_allclose(y, z @ W.T.astype(np.float64), **tol(dtype))
    np.testing.assert_allclose(kernels.taylor2_dense(strided(x), strided(W)), y, **tol(dtype))

    g = rand(rng, (N, n), dtype)
    dW = kernels.taylor2_dense_grad_w(x, g)
    assert dW.dtype == dtype and dW.shape == (n, m + m * m)
    np.testing.assert_allclose(dW, g.T.astype(np.float64) @ z, **tol(dtype))
    dx = kernels.taylor2_dense_grad_x(x, W, g)
    assert dx.dtype == dtype and dx.shape == (N, m)
    expected_dx = taylor.taylor2_backward_xp(g.astype(np.float64) @ W.astype(np.float64),
                                             x.astype(np.float64))
    np.testing.assert_allclose(dx, expected_dx, **tol(dtype))
    np.testing.assert_allclose(kernels.taylor2_dense_grad_x(strided(x), strided(W), strided(g)),
                               dx, **tol(dtype))


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_taylor2_contract_and_dense_on_every_device(method, rng, device):
    """The public kernels given device arrays (the xp twins there) against the definition,
    and layer norm's backward against its NumPy twin."""
    for n, m, L, r in [(3, 4, 5, 2), (3, 9, 10, 3), (2, 8, 72, 2)]:
        x, M = rand(rng, (n, m)), rand(rng, (L, r))
        z = taylor2_definition(x)
        y = host(kernels.taylor2_contract(*on(device, x, M), method))
        np.testing.assert_allclose(y, z.reshape(n, -1, L) @ M, rtol=1e-10, atol=1e-12)
        g = rand(rng, y.shape)
        dm = host(kernels.taylor2_contract_grad_m(*on(device, x, g), method))
        np.testing.assert_allclose(dm, z.reshape(-1, L).T @ g.reshape(-1, r), rtol=1e-10,
                                   atol=1e-12)
    x, W, g = rand(rng, (4, 5)), rand(rng, (3, 30)), rand(rng, (4, 3))
    z = taylor2_definition(x)
    np.testing.assert_allclose(host(kernels.taylor2_dense(*on(device, x, W))), z @ W.T,
                               rtol=1e-10)
    np.testing.assert_allclose(host(kernels.taylor2_dense_grad_w(*on(device, x, g))), g.T @ z,
                               rtol=1e-10)
    np.testing.assert_allclose(host(kernels.taylor2_dense_grad_x(*on(device, x, W, g))),
                               taylor.taylor2_backward_xp(g @ W, x), rtol=1e-10)
    x, grad_y = rand(rng, (6, 40)), rand(rng, (6, 40))
    y, rstd = norm.layer_norm_forward_xp(x, 1e-5)
    np.testing.assert_allclose(host(kernels.layer_norm_backward(*on(device, grad_y, y, rstd))),
                               norm.layer_norm_backward_xp(grad_y, y, rstd), rtol=1e-12)


def test_taylor2_dense_gradients_match_finite_differences(rng):
    x, W, g = rand(rng, (3, 4)), rand(rng, (2, 20)), rand(rng, (3, 2))

    def loss_w(W):
        return np.sum(kernels.taylor2_dense(x, W) * g)

    def loss_x(x):
        return np.sum(kernels.taylor2_dense(x, W) * g)

    np.testing.assert_allclose(kernels.taylor2_dense_grad_w(x, g),
                               numerical_grad(loss_w, W.copy()), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(kernels.taylor2_dense_grad_x(x, W, g),
                               numerical_grad(loss_x, x.copy()), rtol=1e-7, atol=1e-8)


def test_taylor2_dense_grad_w_writes_into_out(rng):
    x, g = rand(rng, (3, 4), np.float32), rand(rng, (3, 2), np.float32)
    flat = np.empty(40, np.float32)
    assert kernels.taylor2_dense_grad_w(x, g, out=flat) is flat
    np.testing.assert_allclose(flat.reshape(2, 20), kernels.taylor2_dense_grad_w(x, g),
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"out must be C-contiguous float32 with 40 elements, "
                                         r"got float64 of shape \(40,\)"):
        kernels.taylor2_dense_grad_w(x, g, out=np.empty(40))
    with pytest.raises(ValueError, match=r"got float32 of shape \(39,\)"):
        kernels.taylor2_dense_grad_w(x, g, out=np.empty(39, np.float32))


def test_taylor2_dense_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"W must have D = m \+ m² = 12 columns for x of "
                                         r"width m = 3, got W of shape \(2, 11\)"):
        kernels.taylor2_dense(np.zeros((2, 3)), np.zeros((2, 11)))
    with pytest.raises(ValueError, match=r"W must be 2-D \(n, D\)"):
        kernels.taylor2_dense(np.zeros((2, 3)), np.zeros(12))
    with pytest.raises(ValueError, match=r"grad_y has 4 rows, x has 2"):
        kernels.taylor2_dense_grad_w(np.zeros((2, 3)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"grad_y must have shape \(2, 1\), got \(2, 3\)"):
        kernels.taylor2_dense_grad_x(np.zeros((2, 3)), np.zeros((1, 12)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"taylor2_dense: expected float32 or float64"):
        kernels.taylor2_dense(np.zeros((2, 3), np.int64), np.zeros((1, 12)))


def test_taylor2_contract_fft_tables_hold_every_run_once():
    # the FFT route's two tables are the direct route's runs regrouped: by block (forward)
    # and by lag (dM); padding entries point at the zero after x
    m, L = 6, 14
    runs, _ = taylor._block_runs(m, L, (m + m * m) // L)
    nfft, block_coef, block_lag, lags, lag_coef, lag_block = taylor._lag_tables(m, L)
    assert nfft >= m + L - 1
    real = block_coef != m + 1
    assert real.sum() == len(runs) == (lag_coef != m + 1).sum()
    assert sorted(block_coef[real]) == sorted(runs[:, 0] + 1)
    assert sorted(block_lag[real]) == sorted((runs[:, 3] - runs[:, 1]) % nfft)
    assert sorted(np.repeat(lags, (lag_coef != m + 1).sum(axis=1))) == sorted(block_lag[real])


def test_taylor2_contract_picks_the_fft_route_for_the_kronecker_layouts_short_blocks():
    # docs/EXPERIMENTS.md §2, layer 1: the Kronecker layout contracts blocks of t = 785 with r = 5
    # columns (about 6x fewer operations through FFTs); tinyBIG's layout one block of
    # s·t = 6280 with one column, where the direct sum is cheaper
    assert taylor.contract_method(784, 785, 5) == "fft"
    assert taylor.contract_method(784, 6280, 1) == "direct"
    assert taylor.contract_method(64, 520, 1) == "direct"


def test_taylor2_contract_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"block length L=7 must divide .* D = m \+ m² = 12"):
        kernels.taylor2_contract(np.zeros((2, 3)), np.zeros((7, 1)))
    with pytest.raises(ValueError, match=r"M must be 2-D \(L, r\)"):
        kernels.taylor2_contract(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"grad_y of shape \(2, 5, 1\) does not fit"):
        kernels.taylor2_contract_grad_m(np.zeros((2, 3)), np.zeros((2, 5, 1)))
    with pytest.raises(ValueError, match=r"method must be one of \('auto', 'direct', 'fft'\), "
                                         r"got 'fast'"):
        kernels.taylor2_contract(np.zeros((2, 3)), np.zeros((4, 1)), method="fast")


# --------------------------------------------------------------------------------------
# every row-wise kernel on random shapes
# --------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(0, 5),
    cols=st.integers(1, 40),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([1e-3, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_row_kernels_match_twins_on_random_shapes(rows, cols, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, (rows, cols), dtype, scale)
    g = rand(rng, (rows, cols), dtype)
    y, rstd = kernels.layer_norm_forward(x, 1e-5)
    ref_y, ref_rstd = norm.layer_norm_forward_xp(x, 1e-5)
    np.testing.assert_allclose(y, ref_y, **tol(dtype))
    np.testing.assert_allclose(rstd, ref_rstd, rtol=tol(dtype)["rtol"])
    np.testing.assert_allclose(kernels.layer_norm_backward(g, y, rstd),
                               norm.layer_norm_backward_xp(g, y, rstd), **tol(dtype))
    np.testing.assert_allclose(kernels.log_softmax(x), softmax.log_softmax_xp(x), **tol(dtype))
    target = rng.integers(0, cols, rows)
    losses, probs = kernels.cross_entropy_forward(x, target)
    ref_losses, ref_probs = softmax.cross_entropy_forward_xp(x, target)
    np.testing.assert_allclose(losses, ref_losses, **tol(dtype))
    np.testing.assert_allclose(probs, ref_probs, **tol(dtype))
    z = kernels.taylor2_forward(x)
    np.testing.assert_array_equal(z, taylor.taylor2_forward_xp(x))
    grad_z = rand(rng, z.shape, dtype)
    np.testing.assert_allclose(kernels.taylor2_backward(grad_z, x),
                               taylor.taylor2_backward_xp(grad_z, x),
                               rtol=tol(dtype)["rtol"] * 10, atol=tol(dtype)["atol"] * 10)


# --------------------------------------------------------------------------------------
# dispatch: TINYRPN_NUMBA=0 routes every kernel to its twin
# --------------------------------------------------------------------------------------

NUMBA_KERNELS = [
    (conv, "_im2col_rows"), (conv, "_im2col_parallel"),
    (conv, "_col2im_planes"), (conv, "_col2im_parallel"),
    (norm, "_layer_norm_forward_numba"), (norm, "_layer_norm_backward_numba"),
    (softmax, "_log_softmax_numba"), (softmax, "_cross_entropy_forward_numba"),
    (softmax, "_cross_entropy_backward_numba"), (softmax, "_first_out_of_range"),
    (taylor, "_taylor2_forward_numba"), (taylor, "_taylor2_backward_numba"),
]


def call_every_kernel(rng):
    x4, w4 = rand(rng, (2, 2, 6, 6)), rand(rng, (2, 2, 3, 3))
    kernels.conv2d_backward(kernels.conv2d_forward(x4, w4), x4, w4)
    x = rand(rng, (4, 3))
    y, rstd = kernels.layer_norm_forward(x, 1e-5)
    kernels.layer_norm_backward(x, y, rstd)
    kernels.log_softmax(x)
    target = np.array([0, 1, 2, 0])
    losses, probs = kernels.cross_entropy_forward(x, target)
    kernels.cross_entropy_backward(losses, probs, target)
    kernels.taylor2_backward(kernels.taylor2_forward(x), x)


@pytest.mark.parametrize("switch", ["0", "false", "off"])
def test_numba_switched_off_routes_to_twins(switch, monkeypatch, rng):
    def refuse(*args):
        raise AssertionError("a Numba kernel ran with TINYRPN_NUMBA=0")

    for module, name in NUMBA_KERNELS:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setenv("TINYRPN_NUMBA", switch)
    call_every_kernel(rng)  # nothing raises: only twins ran


def test_numba_switched_on_uses_the_kernels(monkeypatch, rng):
    calls = set()
    for module, name in NUMBA_KERNELS:
        original = getattr(module, name)

        def spy(*args, _original=original, _name=name):
            calls.add(_name)
            return _original(*args)

        monkeypatch.setattr(module, name, spy)
    monkeypatch.setenv("TINYRPN_NUMBA", "1")
    call_every_kernel(rng)
    serial_only = {"_im2col_parallel", "_col2im_parallel"}  # small shapes stay serial
    assert calls == {name for _, name in NUMBA_KERNELS} - serial_only


def test_twin_results_equal_numba_results_through_the_switch(monkeypatch, rng):
    x = rand(rng, (5, 40), np.float32)
    on = kernels.layer_norm_forward(x, 1e-5)[0], kernels.taylor2_forward(x)
    monkeypatch.setenv("TINYRPN_NUMBA", "0")
    off = kernels.layer_norm_forward(x, 1e-5)[0], kernels.taylor2_forward(x)
    np.testing.assert_allclose(on[0], off[0], **tol(np.float32))
    np.testing.assert_array_equal(on[1], off[1])


def test_set_num_threads_limits_numba_threads():
    import numba

    from tinyrpn import kernels

    before = numba.get_num_threads()
    try:
        kernels.set_num_threads(1)
        assert numba.get_num_threads() == 1
        kernels.set_num_threads(10_000)  # clamped to the pool size, not an error
        assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    finally:
        numba.set_num_threads(before)
