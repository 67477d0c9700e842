"""RPN heads, layers and models: composition, fusion, gradients of every parameter,
parameter counts of the reference models, seeding, printing, and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinyrpn
from tinyrpn import gradcheck
from tinyrpn.nn import functional as F
from tinyrpn.rpn import (
    RPN,
    ChebyshevExpansion,
    DualLPHMReconciliation,
    HMReconciliation,
    IdentityReconciliation,
    LinearRemainder,
    LorrReconciliation,
    LPHMReconciliation,
    RPNHead,
    RPNLayer,
    TaylorExpansion,
    make_rpn,
)


def _dual_lphm_reference_model(layout: str = "kron") -> RPN:
    pqr = [(8, 784, 5), (8, 64, 5), (2, 64, 5)]
    return make_rpn(
        [784, 64, 64, 10],
        expansion=lambda m: TaylorExpansion(d=2, postprocess="layer_norm"),
        reconciliation=[lambda n, D, p=p, q=q, r=r: DualLPHMReconciliation(n, D, p, q, r,
                                                                           layout=layout)
                        for p, q, r in pqr],
    )


def _check_parameter_gradients(module, x, eps=1e-6, rtol=1e-5, atol=1e-8):
    """Central differences for every parameter entry of a float64 module."""
    g = tinyrpn.tensor(np.random.default_rng(0).standard_normal(module(x).shape),
                       device=x.device)
    module.zero_grad()
    (module(x) * g).sum().backward()
    for name, p in module.named_parameters():
        flat = p.data.reshape(-1)
        numeric = np.zeros(flat.size)
        for j in range(flat.size):
            keep = float(flat[j])  # a copy: on a GPU, flat[j] is a view
            with tinyrpn.no_grad():
                flat[j] = keep + eps
                plus = float((module(x) * g).sum().item())
                flat[j] = keep - eps
                minus = float((module(x) * g).sum().item())
            flat[j] = keep
            numeric[j] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(p.grad.numpy().reshape(-1), numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of parameter {name}")


# ----------------------------------------------------------------------------- head


def test_head_is_expansion_then_reconciliation_plus_remainder():
    tinyrpn.manual_seed(0)
    expansion = TaylorExpansion(d=2, postprocess="layer_norm")
    head = RPNHead(4, 6, expansion, LPHMReconciliation(6, 20, p=2, q=5, r=2),
                   LinearRemainder(4, 6, bias=True))
    assert (head.m, head.n, head.D) == (4, 6, 20)
    x = tinyrpn.randn(3, 4)
    z = expansion(x).detach().numpy()
    W = head.reconciliation.matrix().detach().numpy()
    pi = (x.detach().numpy() @ head.remainder.weight.detach().numpy().T
          + head.remainder.bias.detach().numpy())
    np.testing.assert_allclose(head(x).detach().numpy(), z @ W.T + pi, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels, fast", [
    ([lambda: DualLPHMReconciliation(6, 20, p=2, q=5, r=1)] * 2, True),
    ([lambda: IdentityReconciliation(6, 20)], True),
    ([lambda: LorrReconciliation(6, 20, r=2)] * 2, False),
    ([lambda: HMReconciliation(6, 20, p=2, q=5), lambda: LorrReconciliation(6, 20)], False),
])
def test_head_forward_reads_its_formula_on_both_paths(channels, fast, monkeypatch):
    """y = mean_c post(κ(x)) W_cᵀ + π(x): through forward_expanded exactly when every
    channel's reconciliation contracts the expansion itself, else by expanding x once."""
    tinyrpn.manual_seed(3)
    expansion = TaylorExpansion(d=2, postprocess="tanh", preprocess="sigmoid")
    head = RPNHead(4, 6, expansion, [make() for make in channels],
                   LinearRemainder(4, 6, bias=True))
    calls = []
    for rec in [head.reconciliation, *head.extra_channels]:
        monkeypatch.setattr(rec, "forward_expanded",
                            lambda x, exp, w=None, rec=rec: calls.append(1)
                            or type(rec).forward_expanded(rec, x, exp, w))
    x = tinyrpn.randn(3, 4)
    y = head(x).detach().numpy()
    assert len(calls) == (len(channels) if fast else 0)
    z = expansion(x).detach().numpy()
    np.testing.assert_allclose(
        expansion.kappa(x).tanh().detach().numpy(), z, rtol=1e-6)  # κ, then post
    W = np.mean([rec.matrix().detach().numpy()
                 for rec in [head.reconciliation, *head.extra_channels]], axis=0)
    pi = (x.detach().numpy() @ head.remainder.weight.detach().numpy().T
          + head.remainder.bias.detach().numpy())
    np.testing.assert_allclose(y, z @ W.T + pi, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["kron", "tinybig"])
def test_head_gradients_wrt_input_and_every_parameter(layout, device):
    tinyrpn.manual_seed(1)
    from tinyrpn.nn import LayerNorm

    head = RPNHead(3, 4, TaylorExpansion(d=2, postprocess=[LayerNorm(12), "tanh"]),
                   DualLPHMReconciliation(4, 12, p=2, q=3, r=2, layout=layout),
                   LinearRemainder(3, 4, bias=True)).double().to(device)
    x = tinyrpn.tensor(np.random.default_rng(2).standard_normal((5, 3)), requires_grad=True,
                       device=device)
    assert gradcheck(lambda x: head(x), x)
    _check_parameter_gradients(head, x.detach())
    names = {name for name, _ in head.named_parameters()}
    assert names == {"expansion.postprocess.0.weight", "expansion.postprocess.0.bias",
                     "reconciliation.w", "remainder.weight", "remainder.bias"}


def test_head_rejects_a_reconciliation_of_the_wrong_size():
    with pytest.raises(ValueError, match="turns m=784 features into D=615440.*built for n=64, "
                                         "D=615440; IdentityReconciliation was built for n=64, "
                                         "D=4160"):
        RPNHead(784, 64, TaylorExpansion(d=2), IdentityReconciliation(64, 4160))
    head = RPNHead(3, 2, TaylorExpansion(d=1), IdentityReconciliation(2, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, m=3\)"):
        head(tinyrpn.randn(4, 5))


# ----------------------------------------------------------------------------- layer


def _heads(m, n, count, seed=0):
    tinyrpn.manual_seed(seed)
    return [RPNHead(m, n, ChebyshevExpansion(d=3), HMReconciliation(n, 3 * m, p=2, q=3))
            for _ in range(count)]


@pytest.mark.parametrize("fusion", ["average", "sum", "concatenate"])
def test_layer_fusion(fusion):
    m = 4
    heads = _heads(m, 2, 3) if fusion == "concatenate" else _heads(m, 6, 3)
    layer = RPNLayer(m, 6, heads, fusion=fusion)
    assert layer.width == 3
    x = tinyrpn.tensor(np.random.default_rng(3).uniform(-1, 1, (5, m)).astype(np.float32))
    outs = [h(x).detach().numpy() for h in heads]
    expected = {"average": sum(outs) / 3, "sum": sum(outs),
                "concatenate": np.concatenate(outs, axis=1)}[fusion]
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert layer.num_parameters() == sum(h.num_parameters() for h in heads)
    # heads are independent: each has its own parameter vector
    assert len({id(h.reconciliation.w) for h in heads}) == 3


def test_layer_average_gradients():
    layer = RPNLayer(2, 4, _heads(2, 4, 2, seed=4), fusion="average").double()
    x = tinyrpn.tensor(np.random.default_rng(5).uniform(-1, 1, (3, 2)), requires_grad=True)
    assert gradcheck(lambda x: layer(x), x)
    _check_parameter_gradients(layer, x.detach())


def test_layer_errors():
    with pytest.raises(ValueError, match="unknown fusion 'mean'"):
        RPNLayer(4, 6, _heads(4, 6, 1), fusion="mean")
    with pytest.raises(ValueError, match="head 0 has n=2; with 'average' fusion every head"):
        RPNLayer(4, 6, _heads(4, 2, 2))
    with pytest.raises(ValueError, match=r"outputs \[2, 2\] add up to 4, not 6"):
        RPNLayer(4, 6, _heads(4, 2, 2), fusion="concatenate")
    with pytest.raises(ValueError, match="head 0 reads m=4 features"):
        RPNLayer(5, 6, _heads(4, 6, 1))


# ----------------------------------------------------------------------------- model


def test_identity_reference_model_has_39_696_000_parameters():
    model = make_rpn([784, 64, 64, 10], expansion=lambda m: TaylorExpansion(d=2),
                     reconciliation=lambda n, D: IdentityReconciliation(n, D))
    assert model.num_parameters() == 64 * 615440 + 64 * 4160 + 10 * 4160 == 39_696_000


def test_dual_lphm_reference_model_has_9_330_parameters_and_prints_its_structure():
    model = _dual_lphm_reference_model("tinybig")
    assert model.num_parameters() == 7925 + 725 + 680 == 9330
    text = repr(model)
    for piece in ("[784 → 64 → 64 → 10]", "parameters=9,330", "m=784, n=64, D=615,440",
                  "TaylorExpansion(d=2, postprocess=[layer_norm(eps=1e-05)])",
                  "DualLPHMReconciliation(n=64, D=615440, p=8, q=784, r=5, s=8, t=785, "
                  "layout='tinybig', l=7,925)", "p=2, q=64, r=5, s=5, t=65", "ZeroRemainder"):
        assert piece in text, piece


@pytest.mark.parametrize("name", ["lorr", "hm", "lphm", "dual_lphm"])
def test_model_parameter_count_formulas(name):
    dims, r = [6, 4, 2], 2
    pq = {(4, 42): (2, 6), (2, 20): (2, 5)}  # (n, D) -> (p, q)
    recipes = {
        "lorr": lambda n, D: LorrReconciliation(n, D, r=r),
        "hm": lambda n, D: HMReconciliation(n, D, *pq[(n, D)]),
        "lphm": lambda n, D: LPHMReconciliation(n, D, *pq[(n, D)], r=r),
        "dual_lphm": lambda n, D: DualLPHMReconciliation(n, D, *pq[(n, D)], r=r),
    }
    model = make_rpn(dims, expansion=lambda m: TaylorExpansion(d=2),
                     reconciliation=recipes[name])
    expected = 0
    for n, D in [(4, 42), (2, 20)]:
        p, q = pq[(n, D)]
        s, t = n // p, D // q
        expected += {"lorr": r * (n + D), "hm": p * q + s * t, "lphm": p * q + r * (s + t),
                     "dual_lphm": r * (p + q + s + t)}[name]
    assert model.num_parameters() == expected


def test_model_chains_layers_and_flattens_images(device):
    tinyrpn.manual_seed(6)
    model = make_rpn([4, 3, 2], expansion=lambda m: TaylorExpansion(d=2, postprocess="layer_norm"),
                     reconciliation=lambda n, D: LorrReconciliation(n, D, r=2),
                     remainder=lambda m, n: LinearRemainder(m, n)).to(device)
    x = tinyrpn.randn(5, 4, device=device)
    h = x
    for layer in model.layers:
        h = layer(h)
    np.testing.assert_allclose(model(x).detach().numpy(), h.detach().numpy())
    np.testing.assert_allclose(model(x.reshape(5, 1, 2, 2)).detach().numpy(), h.detach().numpy())
    assert (model.m, model.n, model.depth) == (4, 2, 2)


def test_model_gradients_float64(device):
    tinyrpn.manual_seed(7)
    model = make_rpn([3, 4, 2], expansion=lambda m: TaylorExpansion(d=2, postprocess="layer_norm"),
                     reconciliation=[lambda n, D: LPHMReconciliation(n, D, p=2, q=3, r=2,
                                                                     layout="tinybig"),
                                     lambda n, D: DualLPHMReconciliation(n, D, p=2, q=4, r=1)],
                     remainder=[lambda m, n: LinearRemainder(m, n), None]).double().to(device)
    x = tinyrpn.tensor(np.random.default_rng(8).standard_normal((4, 3)), requires_grad=True,
                       device=device)
    assert gradcheck(lambda x: model(x), x)
    _check_parameter_gradients(model, x.detach())


def test_model_errors():
    layer_a = RPNLayer(4, 2, _heads(4, 2, 1))
    layer_b = RPNLayer(4, 6, _heads(4, 6, 1))
    with pytest.raises(ValueError, match="layer 0 produces n=2 features but layer 1 reads m=4"):
        RPN([layer_a, layer_b])
    with pytest.raises(ValueError, match="2 reconciliation recipes for 3 layers"):
        make_rpn([4, 3, 3, 2], expansion=lambda m: TaylorExpansion(),
                 reconciliation=[IdentityReconciliation] * 2)


def test_model_initialisation_is_seeded_by_manual_seed():
    def build():
        return make_rpn([5, 4, 2], expansion=lambda m: TaylorExpansion(d=2),
                        reconciliation=lambda n, D: DualLPHMReconciliation(n, D, p=2, q=5),
                        remainder=lambda m, n: LinearRemainder(m, n, bias=True))

    tinyrpn.manual_seed(1234)
    first = {k: v.detach().numpy().copy() for k, v in build().state_dict().items()}
    tinyrpn.manual_seed(1234)
    second = {k: v.detach().numpy() for k, v in build().state_dict().items()}
    assert first.keys() == second.keys()
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])
    tinyrpn.manual_seed(4321)
    third = build().state_dict()
    assert not np.array_equal(first["layers.0.heads.0.reconciliation.w"],
                              third["layers.0.heads.0.reconciliation.w"].detach().numpy())


def test_a_small_rpn_learns_with_plain_sgd():
    """Two interleaved spirals' worth of structure is not needed: XOR of signs, which no
    linear model can fit, is fitted by a one-layer degree-2 RPN."""
    tinyrpn.manual_seed(9)
    rng = np.random.default_rng(10)
    x = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y = ((x[:, 0] * x[:, 1]) > 0).astype(np.int64)
    model = make_rpn([2, 2], expansion=lambda m: TaylorExpansion(d=2),
                     reconciliation=lambda n, D: LorrReconciliation(n, D, r=2))
    xt, yt = tinyrpn.tensor(x), tinyrpn.tensor(y)
    losses = []
    for _ in range(150):
        loss = F.cross_entropy(model(xt), yt)
        model.zero_grad()
        loss.backward()
        with tinyrpn.no_grad():
            for p in model.parameters():
                p.sub_(p.grad, alpha=0.5)
        losses.append(loss.item())
    accuracy = float((model(xt).detach().numpy().argmax(1) == y).mean())
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy > 0.9


# ----------------------------------------------------------------------------- memory

_MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource
    import numpy as np
    import tinyrpn
    from tinyrpn.rpn import IdentityReconciliation, TaylorExpansion, make_rpn

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    def peak():
        # VmHWM: this process's own high-water mark. (ru_maxrss would do too, except that
        # Linux carries a parent's peak over into a child at exec, and pytest may be big.)
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    import sys
    if sys.argv[1:] == ["keep"]:
        assert tinyrpn.backend.keep_freed_memory()

    def build(dims):
        return make_rpn(dims, expansion=lambda m: TaylorExpansion(d=2, postprocess="layer_norm"),
                        reconciliation=lambda n, D: IdentityReconciliation(n, D))

    # load the kernels (Numba) on a small model first, so compiling does not count
    small = build([8, 4, 2])
    small(tinyrpn.randn(3, 8)).sum().backward()
    tinyrpn.manual_seed(0)
    model = build([784, 64, 64, 10])
    x = tinyrpn.tensor(np.random.default_rng(0).standard_normal((64, 784)).astype(np.float32))
    before, peak_before = rss(), peak()
    model(x).sum().backward()
    print(json.dumps({"before": before, "peak_before": peak_before, "peak": peak(),
                      "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""")


@pytest.mark.parametrize("keep_freed_memory", [False, True])
def test_peak_memory_of_identity_model_forward_backward_batch_64(keep_freed_memory):
    """One copy of the layer-1 expansion is 64 × 615,440 × 4 B = 157.6 MB. Forward needs the
    raw expansion and its LayerNorm output side by side (2 copies, then the raw one is
    freed); backward needs the LayerNorm output and the gradient of W (2 copies). Keeping
    the raw expansion alive too would make 3. The same holds when freed memory is kept in
    the heap for reuse (``backend.keep_freed_memory``, as the Trainer does)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    args = ["keep"] if keep_freed_memory else []
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, *args], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    copy = 64 * 615440 * 4
    transient = result["peak"] - result["before"]
    assert result["peak"] > result["peak_before"]
    assert transient < 2.5 * copy, f"{transient / 1e6:.0f} MB above the model's footprint"
    assert transient > 1.5 * copy  # the measurement does see the expansion


# ----------------------------------------------------------------------------- tinyBIG's start


def _tinybig_like_model():
    """Two layers, the first with two heads: identity and tinyBIG-layout dual-LPHM heads."""

    def head(m, n, rec):
        expansion = TaylorExpansion(2)
        return RPNHead(m, n, expansion, rec(n, expansion.output_dim(m)))

    return RPN([
        RPNLayer(3, 4, [head(3, 4, IdentityReconciliation),
                        head(3, 4, lambda n, D: DualLPHMReconciliation(n, D, 2, 3, 2,
                                                                       layout="tinybig"))]),
        RPNLayer(4, 2, [head(4, 2, IdentityReconciliation)]),
    ])


def test_init_like_tinybig_draws_in_tinybigs_order():
    """All heads' unused torch.rand(1, l) first, then xavier_uniform_ head by head."""
    from tinyrpn.random import TorchCPUGenerator
    from tinyrpn.rpn import init_like_tinybig

    model = _tinybig_like_model()
    init_like_tinybig(model, 1234)
    ls = [h.reconciliation.l for layer in model.layers for h in layer.heads]
    stream = TorchCPUGenerator(1234)
    stream.skip(sum(ls))
    for layer in model.layers:
        for h in layer.heads:
            np.testing.assert_array_equal(h.reconciliation.w.detach().numpy(),
                                          stream.xavier_uniform(1, h.reconciliation.l)[0])
    other = _tinybig_like_model()
    init_like_tinybig(other, 1235)
    assert not np.array_equal(other.layers[1].heads[0].reconciliation.w.detach().numpy(),
                              model.layers[1].heads[0].reconciliation.w.detach().numpy())


def test_init_like_tinybig_matches_pytorch_bit_for_bit():
    torch = pytest.importorskip("torch")
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("init_like_tinybig rounds as PyTorch's AVX2/AVX-512 uniform_ kernel")
    from tinyrpn.rpn import init_like_tinybig

    model = _tinybig_like_model()
    init_like_tinybig(model, 1234)
    heads = [h for layer in model.layers for h in layer.heads]
    # what tinyBIG 0.1.1 does: rand(1, l) as each head is built, then xavier on each
    torch.manual_seed(1234)
    ws = [torch.rand(1, h.reconciliation.l) for h in heads]
    for w in ws:
        torch.nn.init.xavier_uniform_(w)
    for h, w in zip(heads, ws):
        np.testing.assert_array_equal(h.reconciliation.w.detach().numpy(), w.detach().numpy()[0])


def test_init_like_tinybig_refuses_heads_with_other_parameters():
    from tinyrpn.rpn import init_like_tinybig

    head = RPNHead(2, 2, TaylorExpansion(2), IdentityReconciliation(2, 6),
                   LinearRemainder(2, 2, bias=True))
    with pytest.raises(ValueError, match=r"layer 0 head 0 has the parameters "
                                         r"\['reconciliation.w', 'remainder.weight', "
                                         r"'remainder.bias'"):
        init_like_tinybig(RPN([RPNLayer(2, 2, head)]), 0)
    with pytest.raises(TypeError, match="expects an RPN"):
        init_like_tinybig(head, 0)
