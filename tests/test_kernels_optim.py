"""Tests for the optimizers' step functions: the plain array code in each optimizer's file
(tinyrpn/optim/adam.py, ...) and its fast path, the fused loop of tinyrpn.kernels.optim.

1. Each fast path (``_fused_adam_step``, ...) agrees with the plain code
   (``_plain_adam_step``, ...) over several steps, in float32 and float64, on the loop's
   serial path (small parameters) and its parallel one (at least PARALLEL_MIN_SIZE
   elements), for every variant (weight decay, AMSGrad, momentum, Nesterov, ...). On
   'cuda' the public step function is given device arrays and must take the plain code.
2. The plain code agrees with a direct transcription of each formula, in float64.
3. The plumbing: TINYRPN_NUMBA=0, strided parameters and float16 go to the plain code; a
   gradient of another dtype is converted; wrong shapes fail with a message.
"""

from __future__ import annotations

import numpy as np
import pytest
from devices import host, on

from tinyrpn import kernels
from tinyrpn.kernels import optim as K
from tinyrpn.optim import adam, lookahead, madgrad, sgd

DTYPES = [np.float32, np.float64]
SIZES = [7, K.PARALLEL_MIN_SIZE + 5]  # the serial loop, then the parallel one


def tol(dtype) -> dict:
    # A few float32 ulps: the loop may fuse a multiply-add where the plain code rounds twice.
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def arrays(rng, n, dtype, *, count):
    return [rng.standard_normal(n).astype(dtype) for _ in range(count)]


def run_steps(fn, state, grads, per_step):
    """Apply ``fn`` to a copy of ``state`` once per gradient; ``per_step(t)`` gives kwargs."""
    s = [None if x is None else x.copy() for x in state]
    for t, g in enumerate(grads, start=1):
        fn(s[0], g, *s[1:], **per_step(t))
    return s


def run_plain(device, step, plain, state, grads, per_step):
    """The plain code's result (as NumPy arrays). On the cpu it is called directly; on
    'cuda' the public step function is given device arrays and must hand them to it."""
    if device == "cpu":
        return run_steps(plain, state, grads, per_step)
    moved = run_steps(step, [None if x is None else on(device, x) for x in state],
                      [on(device, g) for g in grads], per_step)
    return [None if x is None else host(x) for x in moved]


def run_fused(fused, state, grads, per_step):
    """The fast path's result; the arrays must be ones it takes, else this test is void."""
    assert K.fusable(*[x for x in state if x is not None])
    return run_steps(fused, state, grads, per_step)


def assert_all_close(a, b, dtype):
    for x, y in zip(a, b):
        if x is None:
            assert y is None
            continue
        np.testing.assert_allclose(x, y, **tol(dtype))


# ------------------------------------------------------------------------------- Adam


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("variant", ["plain", "l2", "decoupled", "amsgrad", "amsgrad+l2"])
def test_adam_fused_matches_plain(dtype, n, variant, device):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(n).astype(dtype)
    grads = arrays(rng, n, dtype, count=3)
    amsgrad = "amsgrad" in variant
    zeros = np.zeros(n, dtype)
    state = [p, zeros, zeros, zeros if amsgrad else None]
    options = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8,
                   weight_decay=0.0 if variant in ("plain", "amsgrad") else 0.1,
                   decoupled_weight_decay=variant == "decoupled")
    a = run_fused(adam._fused_adam_step, state, grads, lambda t: dict(step=t, **options))
    b = run_plain(device, adam.adam_step, adam._plain_adam_step, state, grads,
                  lambda t: dict(step=t, **options))
    assert_all_close(a, b, dtype)
    assert not np.allclose(a[0], p)  # the parameter did move


def test_adam_plain_matches_formula():
    """Two steps of the plain code against the textbook formula in float64."""
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(5)
    g1, g2 = rng.standard_normal(5), rng.standard_normal(5)
    lr, b1, b2, eps, wd = 0.1, 0.8, 0.9, 1e-8, 0.05
    p, m, v = p0.copy(), np.zeros(5), np.zeros(5)
    for t, g in ((1, g1), (2, g2)):
        adam._plain_adam_step(p, g, m, v, None, step=t, lr=lr, beta1=b1, beta2=b2, eps=eps,
                              weight_decay=wd, decoupled_weight_decay=True)
    # by hand: AdamW
    q, mm, vv = p0.copy(), 0.0, 0.0
    for t, g in ((1, g1), (2, g2)):
        q = q * (1 - lr * wd)
        mm = b1 * mm + (1 - b1) * g
        vv = b2 * vv + (1 - b2) * g * g
        q = q - lr * (mm / (1 - b1**t)) / (np.sqrt(vv / (1 - b2**t)) + eps)
    np.testing.assert_allclose(p, q, rtol=1e-12)


# ------------------------------------------------------------------------------- SGD


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "momentum,dampening,weight_decay,nesterov",
    [(0.0, 0.0, 0.0, False), (0.0, 0.0, 0.1, False), (0.9, 0.0, 0.0, False),
     (0.9, 0.3, 0.01, False), (0.9, 0.0, 0.01, True)],
)
def test_sgd_fused_matches_plain(dtype, n, momentum, dampening, weight_decay, nesterov,
                                 device):
    rng = np.random.default_rng(3)
    p = rng.standard_normal(n).astype(dtype)
    grads = arrays(rng, n, dtype, count=3)
    buf = np.full(n, np.nan, dtype)  # the first step must not read the buffer
    state = [p, buf if momentum else None]

    def per_step(t):
        return dict(lr=0.1, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov, first_step=t == 1)

    a = run_fused(sgd._fused_sgd_step, state, grads, per_step)
    b = run_plain(device, sgd.sgd_step, sgd._plain_sgd_step, state, grads, per_step)
    assert_all_close(a, b, dtype)
    assert np.isfinite(a[0]).all()


def test_sgd_plain_matches_formula():
    p0, g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([-1.0, 2.0])
    p, b = p0.copy(), np.empty(2)
    sgd._plain_sgd_step(p, g1, b, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.0,
                        nesterov=False, first_step=True)
    sgd._plain_sgd_step(p, g2, b, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.0,
                        nesterov=False, first_step=False)
    b1 = g1                             # first step: buffer = gradient (no dampening)
    b2 = 0.9 * b1 + 0.5 * g2            # then momentum * b + (1 - dampening) * g
    np.testing.assert_allclose(b, b2)
    np.testing.assert_allclose(p, p0 - 0.1 * b1 - 0.1 * b2)


# ------------------------------------------------------------------------------- MADGRAD


def madgrad_reference(p0, grads, lr, momentum, weight_decay, eps):
    """docs/EXPERIMENTS.md §3 in float64: x0 fixed at the first step,
    z = x0 - s / (cbrt(nu) + eps)."""
    x0 = p0.astype(np.float64)
    x = x0.copy()
    nu, s = np.zeros_like(x), np.zeros_like(x)
    for k, g in enumerate(grads):
        g = g.astype(np.float64) + weight_decay * x
        lam = (lr + eps) * np.sqrt(k + 1)
        nu += lam * g * g
        s += lam * g
        z = x0 - s / (np.cbrt(nu) + eps)
        c = 1 - momentum
        x = z if momentum == 0 else (1 - c) * x + c * z
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("momentum,weight_decay", [(0.9, 0.0), (0.9, 0.01), (0.0, 0.0),
                                                    (0.0, 0.01)])
def test_madgrad_fused_matches_plain_and_formula(dtype, n, momentum, weight_decay, device):
    rng = np.random.default_rng(4)
    p = rng.standard_normal(n).astype(dtype)
    grads = arrays(rng, n, dtype, count=4)
    zeros = np.zeros(n, dtype)
    state = [p, zeros, zeros, p.copy() if momentum else None]

    def per_step(t):
        return dict(k=t - 1, lr=1e-2, momentum=momentum, weight_decay=weight_decay, eps=1e-6)

    a = run_fused(madgrad._fused_madgrad_step, state, grads, per_step)
    b = run_plain(device, madgrad.madgrad_step, madgrad._plain_madgrad_step, state, grads,
                  per_step)
    assert_all_close(a, b, dtype)
    expected = madgrad_reference(p, grads, 1e-2, momentum, weight_decay, 1e-6)
    # float32 drifts a little more: the cube root amplifies rounding in nu
    rtol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(a[0], expected, rtol=rtol, atol=rtol)


def test_madgrad_zero_gradient_entries_stay_put():
    """nu = 0 (an entry never seen a gradient) must give 0 / eps = 0, not NaN."""
    for n in SIZES:
        p = np.linspace(-1, 1, n).astype(np.float32)
        nu, s = np.zeros(n, np.float32), np.zeros(n, np.float32)
        g = np.zeros(n, np.float32)
        madgrad.madgrad_step(p, g, nu, s, None, k=0, lr=0.1, momentum=0.0,
                             weight_decay=0.0, eps=1e-6)
        np.testing.assert_array_equal(p, np.linspace(-1, 1, n).astype(np.float32))


def test_cube_root_loop():
    rng = np.random.default_rng(5)
    x32 = (rng.random(20_000) * 10.0 ** rng.uniform(-44, 38, 20_000)).astype(np.float32)
    x32[:3] = [0.0, 1e-45, np.finfo(np.float32).max]  # zero, the smallest denormal, the max
    out = np.empty_like(x32)
    K.cbrt_loop(x32, out)
    # float32: the correctly rounded cube root (computed in float64, then rounded)
    np.testing.assert_array_equal(out, np.cbrt(x32.astype(np.float64)).astype(np.float32))
    x64 = rng.random(20_000) * 10.0 ** rng.uniform(-199, 199, 20_000)  # the documented range
    out64 = np.empty_like(x64)
    K.cbrt_loop(x64, out64)
    np.testing.assert_allclose(out64, np.cbrt(x64), rtol=1e-15, atol=0)  # a few ulps
    special = np.array([np.nan, -1.0, -0.0, 0.0], np.float64)
    out_s = np.empty_like(special)
    K.cbrt_loop(special, out_s)
    assert np.isnan(out_s[0]) and np.isnan(out_s[1])  # NaN in, NaN out; negative: NaN
    assert out_s[2] == 0 and out_s[3] == 0


# ------------------------------------------------------------------------------- Lookahead


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_lookahead_fused_matches_plain_and_formula(dtype, n, device):
    rng = np.random.default_rng(6)
    fast, slow = arrays(rng, n, dtype, count=2)
    expected = slow.astype(np.float64) + 0.3 * (fast.astype(np.float64) - slow)
    a = [fast.copy(), slow.copy()]
    assert K.fusable(*a)
    lookahead._fused_lookahead_sync(*a, alpha=0.3)
    b = [fast.copy(), slow.copy()]
    if device == "cpu":
        lookahead._plain_lookahead_sync(*b, alpha=0.3)
    else:
        moved = on(device, *b)
        lookahead.lookahead_sync(*moved, alpha=0.3)  # device arrays: the plain code
        b = host(moved)
    assert_all_close(a, b, dtype)
    np.testing.assert_allclose(a[1], expected, **tol(dtype))
    np.testing.assert_array_equal(a[0], a[1])  # fast restarts from slow


# ------------------------------------------------------------------------------- plumbing


def test_numba_switched_off_uses_the_plain_code(monkeypatch):
    calls = []
    real = adam._plain_adam_step
    monkeypatch.setattr(adam, "_plain_adam_step",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    options = dict(step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    adam.adam_step(p, g, m, v, **options)
    assert calls == []
    monkeypatch.setenv("TINYRPN_NUMBA", "0")
    adam.adam_step(p, g, m, v, **{**options, "step": 2})
    assert calls == [1]


@pytest.mark.parametrize("kind", ["strided", "float16"])
def test_layouts_the_loop_does_not_take_go_to_the_plain_code(kind):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 8))
    if kind == "strided":
        p_step, p_plain = base.T.copy().T, base.T.copy().T  # Fortran order: not C-contiguous
        assert not p_step.flags.c_contiguous
    else:
        p_step, p_plain = base.astype(np.float16), base.astype(np.float16)
    g = rng.standard_normal((6, 8)).astype(p_step.dtype)
    buf1, buf2 = np.zeros_like(p_step), np.zeros_like(p_plain)
    assert not K.fusable(p_step, buf1)
    sgd.sgd_step(p_step, g, buf1, lr=0.1, momentum=0.9, first_step=True)
    sgd._plain_sgd_step(p_plain, g, buf2, lr=0.1, momentum=0.9, dampening=0.0,
                        weight_decay=0.0, nesterov=False, first_step=True)
    np.testing.assert_array_equal(p_step, p_plain)
    assert not np.array_equal(p_step, base.astype(p_step.dtype))


def test_gradient_of_another_dtype_is_converted():
    p32 = np.ones(5, np.float32)
    g64 = np.full(5, 0.5, np.float64)
    sgd.sgd_step(p32, g64, None, lr=0.1)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, 0.95)


def test_shape_mismatch_is_reported():
    p = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"adam_step: exp_avg has shape \(3, 2\).*\(2, 3\)"):
        adam.adam_step(p, np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32),
                      np.zeros((2, 3), np.float32), step=1, lr=0.1, beta1=0.9, beta2=0.9,
                      eps=1e-8, weight_decay=0.0)
    with pytest.raises(ValueError, match="momentum != 0 needs a momentum_buffer"):
        sgd.sgd_step(p, p.copy(), None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="momentum != 0 needs the x0 array"):
        madgrad.madgrad_step(p, p.copy(), p.copy(), p.copy(), None, k=0, lr=0.1,
                             momentum=0.9, weight_decay=0.0, eps=1e-6)


def test_exported_from_the_kernels_package():
    for name in ("adam_loop", "sgd_loop", "madgrad_loop", "madgrad_loop_without_momentum",
                 "lookahead_loop"):
        assert getattr(kernels, name) is getattr(K, name)


@pytest.mark.device
def test_device_arrays_take_the_plain_code_and_agree(cuda):
    rng = np.random.default_rng(8)
    p, g, x0 = arrays(rng, 1000, np.float32, count=3)
    cases = [
        (adam.adam_step, lambda: [p, np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)],
         dict(step=1, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1,
              decoupled_weight_decay=True)),
        (sgd.sgd_step, lambda: [p, np.zeros_like(p)],
         dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, first_step=True)),
        (madgrad.madgrad_step, lambda: [p, np.zeros_like(p), np.zeros_like(p), x0],
         dict(k=0, lr=0.01, momentum=0.9, weight_decay=0.0, eps=1e-6)),
    ]
    for fn, state, options in cases:
        on_host = [a.copy() for a in state()]
        on_device = list(on(cuda, *state()))
        fn(on_host[0], g, *on_host[1:], **options)
        fn(on_device[0], on(cuda, g), *on_device[1:], **options)
        for a, b in zip(on_host, on_device):
            np.testing.assert_allclose(host(b), a, rtol=1e-5, atol=1e-6)
    fast, slow = on(cuda, p, x0)
    lookahead.lookahead_sync(fast, slow, alpha=0.5)
    np.testing.assert_allclose(host(fast), x0 + 0.5 * (p - x0), rtol=1e-6)
