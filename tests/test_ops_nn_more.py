"""conv1d, conv_transpose2d, pad with negative widths in every mode, interpolate,
scaled_dot_product_attention, BatchNorm3d and the Conv1d/ConvTranspose2d modules: values
and gradients against PyTorch, float64 gradients against finite differences, errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_oracle import compare_with_torch, leaf

import tinyrpn
import tinyrpn.nn.functional as F
from tinyrpn import gradcheck, nn


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------- conv1d


@pytest.mark.parametrize("numba", ["1", "0"])
@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1}, {"padding": "same",
                                    "dilation": 2}, {"groups": 2, "stride": 3}])
def test_conv1d_matches_torch(kwargs, numba, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    x, w, b = arr(2, 4, 9), arr(6, 4 // kwargs.get("groups", 1), 3, seed=1), arr(6, seed=2)
    compare_with_torch(lambda *t: F.conv1d(*t, **kwargs),
                       lambda *t: torch.nn.functional.conv1d(*t, **kwargs), x, w, b)
    assert gradcheck(lambda *t: F.conv1d(*t, **kwargs), leaf(x), leaf(w), leaf(b))


def test_conv1d_unbatched_and_module():
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda x, w: F.conv1d(x, w, padding=1),
                       lambda x, w: torch.nn.functional.conv1d(x, w, padding=1),
                       arr(3, 7), arr(2, 3, 3, seed=1))
    tinyrpn.manual_seed(0)
    layer = nn.Conv1d(3, 5, 3, padding=1, bias=True)
    assert layer.weight.shape == (5, 3, 3) and layer.bias.shape == (5,)
    bound = 1 / np.sqrt(9)  # PyTorch's init bound: 1/√fan_in
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert layer(tinyrpn.randn(2, 3, 8)).shape == (2, 5, 8)


# ----------------------------------------------------------------------------- conv_transpose2d


@pytest.mark.parametrize("numba", ["1", "0"])
@pytest.mark.parametrize("kwargs", [
    {}, {"stride": 2, "padding": 1}, {"stride": 2, "padding": 1, "output_padding": 1},
    {"groups": 2, "dilation": 2, "stride": (2, 1), "padding": (1, 0)},
])
def test_conv_transpose2d_matches_torch(kwargs, numba, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("TINYRPN_NUMBA", numba)
    groups = kwargs.get("groups", 1)
    x, w, b = arr(2, 4, 4, 5), arr(4, 3, 3, 2, seed=1), arr(3 * groups, seed=2)
    compare_with_torch(lambda *t: F.conv_transpose2d(*t, **kwargs),
                       lambda *t: torch.nn.functional.conv_transpose2d(*t, **kwargs), x, w, b)
    assert gradcheck(lambda *t: F.conv_transpose2d(*t, **kwargs), leaf(x[:1]), leaf(w),
                     leaf(b))


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(y, w), x> = <y, conv_transpose2d(x, w)> for every x, y: the defining property
    x, y, w = arr(1, 3, 4, 4), arr(1, 2, 9, 9, seed=1), arr(3, 2, 3, 3, seed=2)
    t = tinyrpn.tensor
    lhs = (F.conv2d(t(y), t(w), stride=2).numpy() * x).sum()
    rhs = (y * F.conv_transpose2d(t(x), t(w), stride=2).numpy()).sum()
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


def test_conv_transpose2d_module_matches_torch():
    torch = pytest.importorskip("torch")
    ours = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
        theirs.bias.copy_(torch.tensor(ours.bias.numpy()))
    x = arr(2, 4, 5, 5).astype(np.float32)
    np.testing.assert_allclose(ours(tinyrpn.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- pad


PAD_WIDTHS = [(-1, 2, 1, -1), (-1, -1, 0, 0), (2, -1, -1, 1), (-2, 3, 0, 0), (0, -2, -1, -1),
              (1, 1, -2, 2), (-3, 0, 0, 0)]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
@pytest.mark.parametrize("widths", PAD_WIDTHS)
def test_pad_negative_widths_crop_in_every_mode(mode, widths):
    torch = pytest.importorskip("torch")
    x = arr(1, 2, 3, 4)
    try:
        torch.nn.functional.pad(torch.tensor(x), widths, mode=mode)
    except RuntimeError:
        with pytest.raises(ValueError):
            F.pad(tinyrpn.tensor(x), widths, mode=mode)
        return
    kept = (4 - max(-widths[0], 0) - max(-widths[1], 0), 3 - max(-widths[2], 0)
            - max(-widths[3], 0))
    wraps_twice = mode == "circular" and (max(widths[:2]) > kept[0]
                                          or max(widths[2:]) > kept[1])
    if not wraps_twice:
        compare_with_torch(lambda t: F.pad(t, widths, mode=mode),
                           lambda t: torch.nn.functional.pad(t, widths, mode=mode), x)
    # Wrapping around the kept part more than once: PyTorch 2.14 returns uninitialised
    # memory for some of those elements and a gradient that misses copies; tinyrpn keeps
    # wrapping (each output copies kept[(k - lo) mod size]), checked by finite differences.
    assert gradcheck(lambda t: F.pad(t, widths, mode=mode), leaf(x))


# ----------------------------------------------------------------------------- interpolate


INTERPOLATE_SIZES = [{"size": (10, 3)}, {"scale_factor": 2}, {"scale_factor": (1.7, 0.6)},
                     {"scale_factor": 1.5, "recompute_scale_factor": True}, {"size": 1},
                     {"size": 4}]


@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("nearest-exact", None),
                                                 ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("sizes", INTERPOLATE_SIZES)
def test_interpolate_matches_torch(mode, align_corners, sizes):
    torch = pytest.importorskip("torch")
    compare_with_torch(
        lambda t: F.interpolate(t, mode=mode, align_corners=align_corners, **sizes),
        lambda t: torch.nn.functional.interpolate(t, mode=mode, align_corners=align_corners,
                                                  **sizes), arr(2, 3, 5, 7))
    assert gradcheck(lambda t: F.interpolate(t, mode=mode, align_corners=align_corners,
                                             **sizes), leaf(arr(1, 2, 5, 7)))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("sizes", [{"size": 11}, {"scale_factor": 0.5}, {"scale_factor": 3}])
def test_interpolate_nearest_1d_matches_torch(sizes, mode):
    torch = pytest.importorskip("torch")
    compare_with_torch(lambda t: F.interpolate(t, mode=mode, **sizes),
                       lambda t: torch.nn.functional.interpolate(t, mode=mode, **sizes),
                       arr(2, 3, 5))


@pytest.mark.parametrize("call, message", [
    (lambda x: F.interpolate(x), "exactly one of size and scale_factor"),
    (lambda x: F.interpolate(x, size=3, mode="bicubic"), "mode must be one of"),
    (lambda x: F.interpolate(x[0], size=3, mode="bilinear"), "needs a 4-D"),
    (lambda x: F.interpolate(x, size=(1, 2, 3)), "must have 2 entries"),
    (lambda x: F.interpolate(x, size=3, align_corners=True), "align_corners only applies"),
])
def test_interpolate_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call(tinyrpn.tensor(arr(1, 2, 4, 4)))


# ----------------------------------------------------------------------------- attention


def _qkv(heads=3, kv_heads=3):
    return arr(2, heads, 4, 5), arr(2, kv_heads, 6, 5, seed=1), arr(2, kv_heads, 6, 7, seed=2)


@pytest.mark.parametrize("kind", ["plain", "causal", "bool", "bool-empty-row", "float",
                                  "gqa"])
def test_scaled_dot_product_attention_matches_torch(kind):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    q, k, v = _qkv(6, 3) if kind == "gqa" else _qkv()
    mask = np.random.default_rng(5).random((4, 6)) > 0.4
    mask[:, 0] = True
    if kind == "bool-empty-row":
        mask[1] = False  # a query that sees no key: zeros out, no gradient, as PyTorch
    bias = arr(3, 4, 6, seed=6)
    ours_kw, theirs_kw = {}, {}
    if kind == "causal":
        ours_kw = theirs_kw = {"is_causal": True, "scale": 0.3}
    elif kind.startswith("bool"):
        ours_kw, theirs_kw = {"attn_mask": tinyrpn.tensor(mask)}, {"attn_mask": torch.tensor(
            mask)}
    elif kind == "float":
        ours_kw, theirs_kw = {"attn_mask": tinyrpn.tensor(bias)}, {"attn_mask": torch.tensor(
            bias)}
    elif kind == "gqa":
        ours_kw = theirs_kw = {"enable_gqa": True}
    compare_with_torch(lambda *t: F.scaled_dot_product_attention(*t, **ours_kw),
                       lambda *t: tf.scaled_dot_product_attention(*t, **theirs_kw), q, k, v)
    assert gradcheck(lambda *t: F.scaled_dot_product_attention(*t, **ours_kw),
                     leaf(q[:1]), leaf(k[:1]), leaf(v[:1]))


def test_attention_dropout_is_seeded_and_errors_are_named():
    q, k, v = (tinyrpn.tensor(a) for a in _qkv())
    tinyrpn.manual_seed(3)
    first = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    tinyrpn.manual_seed(3)
    np.testing.assert_array_equal(first, F.scaled_dot_product_attention(q, k, v,
                                                                        dropout_p=0.5).numpy())
    with pytest.raises(ValueError, match="must agree"):
        F.scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=tinyrpn.tensor(np.ones((4, 6), bool)),
                                       is_causal=True)


# ----------------------------------------------------------------------------- BatchNorm3d


def test_batchnorm3d_matches_torch_in_training_and_eval():
    torch = pytest.importorskip("torch")
    x = arr(3, 2, 2, 3, 4).astype(np.float32)
    ours, theirs = nn.BatchNorm3d(2), torch.nn.BatchNorm3d(2)
    for _ in range(2):
        np.testing.assert_allclose(ours(tinyrpn.tensor(x)).numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                                   atol=1e-5)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(tinyrpn.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), value.numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="5-D"):
        ours(tinyrpn.tensor(x[0]))
    layer = nn.BatchNorm3d(2).double()
    assert gradcheck(lambda t: layer(t), leaf(arr(2, 2, 2, 2, 3)))
