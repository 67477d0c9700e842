"""backend.ArrayCache: big scratch arrays are reused only when nobody holds them."""

from __future__ import annotations

import numpy as np

import tinyrpn
from tinyrpn.backend import REUSE_MIN_BYTES, ArrayCache
from tinyrpn.rpn import IdentityReconciliation

BIG = (REUSE_MIN_BYTES // 4,)  # float32 elements: exactly the threshold


def test_a_free_array_is_handed_out_again():
    cache = ArrayCache()
    a = cache.empty("z", BIG, np.float32)
    address = a.__array_interface__["data"][0]
    del a
    b = cache.empty("z", BIG, np.float32)
    assert b.__array_interface__["data"][0] == address


def test_an_array_that_is_still_held_is_never_handed_out_again():
    cache = ArrayCache()
    a = cache.empty("z", BIG, np.float32)
    assert cache.empty("z", BIG, np.float32) is not a  # held by ``a``
    view = cache.empty("z", BIG, np.float32).reshape(2, -1)
    assert not np.shares_memory(cache.empty("z", BIG, np.float32), view)  # held by a view
    t = tinyrpn.tensor(cache.empty("z", BIG, np.float32))
    assert not np.shares_memory(cache.empty("z", BIG, np.float32), t.numpy())  # by a Tensor


def test_other_shapes_and_dtypes_get_new_arrays_and_small_ones_are_not_kept():
    cache = ArrayCache()
    a = cache.empty("z", BIG, np.float32)
    a_id = id(a)
    del a
    other = cache.empty("z", (BIG[0] + 1,), np.float32)
    assert other.shape == (BIG[0] + 1,) and id(other) != a_id
    assert cache.empty("y", BIG, np.float64).dtype == np.float64
    small = cache.empty("s", (10,), np.float32)
    del small
    assert "s" not in cache._arrays
    cache.clear()
    assert cache._arrays == {}


def test_reused_gradient_buffers_do_not_overwrite_a_gradient_someone_kept():
    """The identity reconciliation writes dw into a cached 16 MB+ buffer on every backward.

    A gradient the user kept from step 1 must survive step 2, and step 2's gradient must
    be right, whether or not the buffer was reused.
    """
    n, D = 64, 65_536  # W is 16.8 MB in float32: above the cache's threshold
    rec = IdentityReconciliation(n, D)
    rng = np.random.default_rng(0)
    grads = []
    for step in range(3):
        z = tinyrpn.tensor(rng.standard_normal((4, D)).astype(np.float32))
        g = rng.standard_normal((4, n)).astype(np.float32)
        rec.w.grad = None
        (rec.apply(z) * tinyrpn.tensor(g)).sum().backward()
        expected = (g.T.astype(np.float64) @ z.numpy().astype(np.float64)).ravel()
        np.testing.assert_allclose(rec.w.grad.numpy(), expected, rtol=1e-4, atol=1e-4)
        if step == 0:
            kept = rec.w.grad  # the user keeps step 1's gradient
            kept_values = kept.numpy().copy()
        grads.append(rec.w.grad.numpy())
    np.testing.assert_array_equal(kept.numpy(), kept_values)
    assert not np.shares_memory(grads[0], grads[1])


def test_taylor2_forward_reuses_its_output_only_once_it_is_released():
    from tinyrpn import kernels
    from tinyrpn.kernels import taylor

    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((4, 1024)).astype(np.float32) for _ in range(3)]  # z: 16.8 MB
    z1 = kernels.taylor2_forward(xs[0])
    z1_copy = z1.copy()
    z2 = kernels.taylor2_forward(xs[1])  # z1 is still held: a new array
    assert not np.shares_memory(z1, z2)
    np.testing.assert_array_equal(z1, z1_copy)
    del z1
    z3 = kernels.taylor2_forward(xs[2])  # z2, the cached one, is held: a new array again
    assert not np.shares_memory(z2, z3)
    np.testing.assert_array_equal(z2, taylor.taylor2_forward_xp(xs[1]))
    np.testing.assert_array_equal(z3, taylor.taylor2_forward_xp(xs[2]))
    address = z3.__array_interface__["data"][0]
    del z2, z3
    z4 = kernels.taylor2_forward(xs[0])  # nothing holds the cached z3: reused
    assert z4.__array_interface__["data"][0] == address
    np.testing.assert_array_equal(z4, z1_copy)
