"""tinyrpn.random.TorchCPUGenerator: PyTorch's CPU random stream, bit for bit."""

import os
import subprocess
import sys

import numpy as np
import pytest
from torch_oracle import skip_unless_mt19937_bernoulli, torch_epoch_orders

from tinyrpn.random import TorchCPUGenerator, _fma_float32, pytorch_cpu_rand

# ----------------------------------------------------------------------------- without torch
# Recorded with PyTorch 2.13 on an x86 AVX2 CPU.


def test_recorded_values():
    g = TorchCPUGenerator(1234)
    # torch.manual_seed(1234); torch.empty((), dtype=torch.int64).random_().item(), twice
    assert [g.random64(), g.random64()] == [3532910284440527571, 2252509165406510133]
    # g = torch.Generator(); g.manual_seed(1234); torch.randperm(10, generator=g)
    assert TorchCPUGenerator(1234).randperm(10).tolist() == [5, 4, 8, 2, 6, 9, 1, 7, 0, 3]
    # torch.manual_seed(1234); torch.nn.init.xavier_uniform_(torch.empty(1, 6)), as uint32 bits
    fused = [3210692081, 3191472661, 3202592098, 3195853775, 3209781198, 1052653597]
    w = TorchCPUGenerator(1234).xavier_uniform(1, 6)
    assert w.dtype == np.float32 and w.shape == (1, 6)
    assert w.view(np.uint32).ravel().tolist() == fused
    # the portable kernel rounds twice: one ulp off in three of the six
    unfused = TorchCPUGenerator(1234).xavier_uniform(1, 6, fused=False).view(np.uint32)
    assert unfused.ravel().tolist() == [
        3210692081,
        3191472660,
        3202592098,
        3195853776,
        3209781198,
        1052653596,
    ]


def test_recorded_tinybig_mnist_first_epoch_order():
    # tinyBIG 0.1.1's MNIST run (identity reconciliation, seed 1234): torch.rand(1, l) for
    # the three heads, xavier_uniform_ on each, then the first shuffled training epoch.
    g = TorchCPUGenerator(1234)
    sizes = [64 * (784 + 784**2), 64 * (64 + 64**2), 10 * (64 + 64**2)]
    g.skip(2 * sum(sizes))
    order = g.data_loader_epoch(60000)
    assert order[:8].tolist() == [583, 14, 33579, 15860, 16840, 35591, 49872, 2073]
    assert np.array_equal(np.sort(order), np.arange(60000))


def test_one_stream_across_calls():
    whole = TorchCPUGenerator(7).random32(20)
    g = TorchCPUGenerator(7)
    parts = [g.random32(3), g.random32(0), g.random32(5)]
    g.skip(4)
    parts.append(g.random32(8))
    assert np.array_equal(np.concatenate(parts), np.concatenate([whole[:8], whole[12:]]))
    np.testing.assert_array_equal(TorchCPUGenerator(7).rand(20), pytorch_cpu_rand(7, 20))
    assert TorchCPUGenerator(7).random64() == (int(whole[0]) << 32 | int(whole[1])) & (2**63 - 1)
    # PyTorch keeps the low 32 bits of a seed
    assert np.array_equal(TorchCPUGenerator(2**40 + 7).random32(5), whole[:5])


def test_state_round_trip_and_errors():
    g = TorchCPUGenerator(3)
    g.skip(700)  # past one MT19937 block of 624
    state = g.get_state()
    a = g.rand(10)
    g.set_state(state)
    np.testing.assert_array_equal(g.rand(10), a)
    with pytest.raises(TypeError, match="non-negative integer seed"):
        TorchCPUGenerator(-1)
    with pytest.raises(TypeError, match="non-negative integer count"):
        g.rand(2.0)
    with pytest.raises(ValueError, match="randperm reproduces PyTorch only"):
        g.randperm(2**31)
    assert g.randperm(0).shape == (0,) and g.randperm(1).tolist() == [0]


def test_recorded_bernoulli_and_state_array():
    # torch.manual_seed(1234); torch.empty(40).bernoulli_(0.75).int().tolist()
    expected = [1] * 9 + [0, 0] + [1] * 17 + [0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1]
    g = TorchCPUGenerator(1234)
    assert g.bernoulli(40, 0.75).astype(int).tolist() == expected
    # ... and, continuing after a float64 tensor of 12 at p = 0.3 from a fresh seed
    assert TorchCPUGenerator(1234).bernoulli(12, 0.3).astype(int).tolist() == [
        1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1]
    # two 32-bit draws per element: the stream continues 80 draws later
    h = TorchCPUGenerator(1234)
    h.skip(80)
    np.testing.assert_array_equal(g.random32(5), h.random32(5))
    # the state as one array, for a module buffer
    array = g.state_array()
    assert array.shape == (625,) and array.dtype == np.int64 and array[-1] == 85
    np.testing.assert_array_equal(TorchCPUGenerator.from_state_array(array).rand(9), g.rand(9))
    with pytest.raises(ValueError, match="expected 625 numbers"):
        TorchCPUGenerator.from_state_array(array[:624])


def test_fma_rounds_once():
    # (1 − 2⁻²⁴)(1 + 2⁻²³) + 2⁻⁴⁷(1 + 2⁻²³) = 1 + 2⁻²⁴ + 2⁻⁷⁰: float64 rounds that to the
    # float32 midpoint 1 + 2⁻²⁴, which float32 would round to even (1.0); rounded once, the
    # sum lies above the midpoint and gives 1 + 2⁻²³.
    x = np.array([1 - 2.0**-24], dtype=np.float32)
    y, z = np.float32(1 + 2.0**-23), np.float32(2.0**-47 * (1 + 2.0**-23))
    assert np.float32(x[0].astype(np.float64) * np.float64(y) + np.float64(z)) == 1.0
    assert _fma_float32(x, y, z)[0] == np.float32(1 + 2.0**-23)
    assert _fma_float32(x, y, -z)[0] == np.float32(1.0)  # below the midpoint


# ----------------------------------------------------------------------------- against torch


def _fused(torch) -> bool:
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("AVX2", "AVX512"):
        return True
    if capability == "DEFAULT":
        return False
    pytest.skip(f"uniform_'s rounding not known for CPU capability {capability}")


@pytest.mark.parametrize("seed", [0, 1, 1234, 2**40 + 7])
def test_matches_torch_bit_for_bit(seed):
    torch = pytest.importorskip("torch")
    fused = _fused(torch)
    torch.manual_seed(seed)
    expected = [
        torch.rand(517),
        torch.nn.init.xavier_uniform_(torch.empty(1, 4160)),
        torch.nn.init.xavier_uniform_(torch.empty(64, 100), gain=2.0),
        torch.empty(333).uniform_(-0.3, 2.5),
        [torch.empty((), dtype=torch.int64).random_().item() for _ in range(3)],
        torch.rand(5),
    ]
    g = TorchCPUGenerator(seed)
    got = [
        g.rand(517),
        g.xavier_uniform(1, 4160, fused=fused),
        g.xavier_uniform(64, 100, gain=2.0, fused=fused),
        g.uniform(333, -0.3, 2.5, fused=fused),
        [g.random64() for _ in range(3)],
        g.rand(5),
    ]
    for e, m in zip(expected, got):
        np.testing.assert_array_equal(np.asarray(e), m)
    for n in (1, 2, 1000, 60000):
        t = torch.Generator()
        t.manual_seed(seed)
        g = TorchCPUGenerator(seed)
        np.testing.assert_array_equal(torch.randperm(n, generator=t).numpy(), g.randperm(n))
        np.testing.assert_array_equal(torch.rand(3, generator=t).numpy(), g.rand(3))


@pytest.mark.parametrize("seed", [0, 1337])
def test_bernoulli_and_dropout_match_torch(seed):
    torch = pytest.importorskip("torch")
    skip_unless_mt19937_bernoulli(torch)
    import tinyrpn
    import tinyrpn.nn.functional as F

    torch.manual_seed(seed)
    masks = [torch.empty(192).bernoulli_(0.75), torch.empty(7, dtype=torch.float64).bernoulli_(0.1)]
    x = torch.randn(2, 12, 4, 4)
    dropped = torch.nn.functional.dropout(x, 0.25, training=True)
    g = TorchCPUGenerator(seed)
    np.testing.assert_array_equal(g.bernoulli(192, 0.75), masks[0].numpy() == 1)
    np.testing.assert_array_equal(g.bernoulli(7, 0.1), masks[1].numpy() == 1)
    g.skip(2 * 96 * 2)  # torch.randn of 96: normal_ draws two 32-bit numbers per value
    ours = F.dropout(tinyrpn.tensor(x.numpy()), 0.25, training=True, generator=g)
    np.testing.assert_array_equal(ours.numpy(), dropped.numpy())  # bit for bit


def test_uniform_across_chunks_matches_torch():
    torch = pytest.importorskip("torch")
    fused = _fused(torch)
    n = TorchCPUGenerator._CHUNK + 12345
    torch.manual_seed(5)
    expected = torch.empty(n).uniform_(-0.01, 0.01).numpy()
    np.testing.assert_array_equal(TorchCPUGenerator(5).uniform(n, -0.01, 0.01, fused), expected)


def test_portable_kernel_rounds_twice():
    pytest.importorskip("torch")
    code = (
        "import torch; torch.manual_seed(9);"
        "w = torch.nn.init.xavier_uniform_(torch.empty(3, 1000));"
        "print(torch.backends.cpu.get_cpu_capability()); print(w.numpy().tobytes().hex())"
    )
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "DEFAULT"
    w = np.frombuffer(bytes.fromhex(out[1]), dtype=np.float32).reshape(3, 1000)
    np.testing.assert_array_equal(TorchCPUGenerator(9).xavier_uniform(3, 1000, fused=False), w)


def test_data_loader_epochs_match_torch():
    torch = pytest.importorskip("torch")

    torch.manual_seed(1234)
    torch.rand(1, 777)  # something drawn before, like a model's initial weights
    orders = torch_epoch_orders(torch, 1000, 300, epochs=3)
    after = torch.rand(4).numpy()

    g = TorchCPUGenerator(1234)
    g.skip(777)
    for order in orders:
        np.testing.assert_array_equal(g.data_loader_epoch(1000), order)
        assert g.data_loader_epoch(None) is None
    np.testing.assert_array_equal(g.rand(4), after)


@pytest.mark.slow
def test_tinybig_mnist_init_and_orders_match_torch():
    """tinyBIG 0.1.1's MNIST run: rand then xavier_uniform_ per head, then epochs."""
    torch = pytest.importorskip("torch")

    fused = _fused(torch)
    sizes = [64 * (784 + 784**2), 64 * (64 + 64**2), 10 * (64 + 64**2)]
    torch.manual_seed(1234)
    heads = [torch.rand(1, size) for size in sizes]
    for w in heads:
        torch.nn.init.xavier_uniform_(w)
    orders = torch_epoch_orders(torch, 60000, 10000, epochs=2)

    g = TorchCPUGenerator(1234)
    g.skip(sum(sizes))
    for w, size in zip(heads, sizes):
        np.testing.assert_array_equal(g.xavier_uniform(1, size, fused=fused), w.numpy())
    for order in orders:
        np.testing.assert_array_equal(g.data_loader_epoch(60000), order)
        g.data_loader_epoch(None)
