"""Compare a tinyrpn function with its PyTorch counterpart on the same float64 inputs:
outputs (every element of a tuple result) and the inputs' gradients for one random
direction of the (first) output. Imported by the op tests; skips where torch is missing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinyrpn


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def _as_numpy(t: Any) -> np.ndarray:
    if isinstance(t, tinyrpn.Tensor):
        return t.numpy()
    return t.detach().numpy()


def compare_with_torch(ours_fn: Any, torch_fn: Any, *arrays: np.ndarray, rtol: float = 1e-7,
                       atol: float = 1e-9, seed: int = 99) -> None:
    """Run ``ours_fn`` and ``torch_fn`` on the arrays (floating ones become leaves that
    require grad; integer ones are passed as integer tensors) and compare."""
    torch = pytest.importorskip("torch")
    arrays = [np.asarray(a) for a in arrays]
    grads = [a.dtype.kind == "f" for a in arrays]
    ours = [tinyrpn.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    out, ref = ours_fn(*ours), torch_fn(*theirs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    refs = ref if isinstance(ref, (tuple, list)) else (ref,)
    assert len(outs) == len(refs)
    for k, (o, r) in enumerate(zip(outs, refs)):
        o_np, r_np = _as_numpy(o), _as_numpy(r)
        assert o_np.shape == r_np.shape, (k, o_np.shape, r_np.shape)
        if r_np.dtype.kind in "biu":
            assert o_np.dtype.kind == r_np.dtype.kind, (k, o_np.dtype, r_np.dtype)
            np.testing.assert_array_equal(o_np, r_np, err_msg=f"output {k}")
        else:
            np.testing.assert_allclose(o_np, r_np, rtol=rtol, atol=atol, err_msg=f"output {k}")
    first, first_ref = _first(out), _first(ref)
    if not first_ref.dtype.is_floating_point or not first_ref.requires_grad:
        return
    direction = np.random.default_rng(seed).standard_normal(tuple(first_ref.shape))
    first.backward(tinyrpn.tensor(direction))
    first_ref.backward(torch.tensor(direction))
    for i, (o, t) in enumerate(zip(ours, theirs)):
        if t.requires_grad:
            expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
            got = np.zeros(o.shape) if o.grad is None else o.grad.numpy()
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {i}")


def leaf(array: np.ndarray) -> tinyrpn.Tensor:
    return tinyrpn.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)
