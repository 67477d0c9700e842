"""Speed and memory of tinyrpn.rpn on the reference RPNs of docs/EXPERIMENTS.md §1–2 (batch 64).

    python benchmarks/rpn.py                 # everything, a few minutes on 2 cores
    python benchmarks/rpn.py --steps 3       # fewer timed steps
    python benchmarks/rpn.py --json out.json # also write the numbers

(a) dual-LPHM training step (forward, cross-entropy, backward, AdamW step) with every
    reconciliation computing z·Wᵀ from its factors (the head's ``forward_expanded``, which
    for layer 1 contracts the Taylor expansion without storing it) against the same
    model computing it as z @ matrix().T (z and W built on every step, as tinyBIG does).
(b) identity-reconciliation training step: achieved GFLOP/s, counting the matrix products
    the step executes (2·N·n·D forward and twice that backward per layer, less layer 1's
    dz, which nobody needs), against this machine's SGEMM rate on the products layer 1
    runs, measured in the same run; the nominal rate (6·N·n·D per layer) is printed too;
    epoch estimate (938 batches); where the time goes; and the step with layer 1 through
    [1, x] ⊗ x against the step through the stored expansion, the models taking turns.
(t) for reference, the same steps in PyTorch written as tinyBIG 0.1.1 runs them.
(c) peak memory of a fresh process (VmHWM, its own high-water mark; ru_maxrss is reported
    too, but Linux carries the parent's peak over into a child at exec, so it is only
    meaningful while this process is still small: (c) runs first) of one forward+backward,
    and of a full step.

The inputs are random (timing does not depend on the values). Ratios are measured in one
run, so a busy machine slows both sides alike; absolute numbers move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# tinyrpn before NumPy, as the tinyrpn command imports them, so that its OpenBLAS setting
# (tinyrpn/__init__.py) is in place when NumPy loads OpenBLAS
import tinyrpn  # noqa: E402, I001
import numpy as np  # noqa: E402
from tinyrpn import kernels  # noqa: E402
from tinyrpn.nn import functional as F  # noqa: E402
from tinyrpn.rpn import (  # noqa: E402
    RPN,
    DualLPHMReconciliation,
    IdentityReconciliation,
    TaylorExpansion,
    make_rpn,
)
from tinyrpn.rpn.reconciliation import _mm  # noqa: E402

BATCH = 64
BATCHES_PER_EPOCH = 938
DIMS = [784, 64, 64, 10]
DUAL_PQR = [(8, 784, 5), (8, 64, 5), (2, 64, 5)]


# ----------------------------------------------------------------------------- models


def identity_model(ln_layer1: bool) -> RPN:
    """§1. tinyBIG 0.1.1 built no LayerNorm in layer 1 (``ln_layer1=False``); the config
    meant one there too (``ln_layer1=True``). Layers 2 and 3 always have one."""
    post = ["layer_norm" if ln_layer1 else None, "layer_norm", "layer_norm"]
    return make_rpn(DIMS,
                    expansion=[lambda m, p=p: TaylorExpansion(d=2, postprocess=p) for p in post],
                    reconciliation=lambda n, D: IdentityReconciliation(n, D))


def dual_lphm_model(layout: str, ln_layer1: bool = False) -> RPN:
    """§2, with the three (p, q, r) of the reference config."""
    post = ["layer_norm" if ln_layer1 else None, "layer_norm", "layer_norm"]
    return make_rpn(
        DIMS,
        expansion=[lambda m, p=p: TaylorExpansion(d=2, postprocess=p) for p in post],
        reconciliation=[lambda n, D, p=p, q=q, r=r: DualLPHMReconciliation(n, D, p, q, r,
                                                                           layout=layout)
                        for p, q, r in DUAL_PQR])


def through_matrix(model: RPN) -> RPN:
    """Make every reconciliation compute z @ W(w)ᵀ with W materialised on each call.

    The product skips gradients nobody needs, exactly like ``rec(z)``'s, so the comparison
    measures building and multiplying by W, nothing else.
    """
    for layer in model.layers:
        for head in layer.heads:
            rec = head.reconciliation
            object.__setattr__(rec, "forward",
                               lambda z, w=None, rec=rec: _mm(z, rec.matrix(w).T))
            # the head calls forward_expanded (which fuses the expansion into the first
            # contraction): here it must expand, then multiply by the built W
            object.__setattr__(rec, "forward_expanded",
                               lambda x, expansion, w=None, rec=rec:
                               _mm(expansion(x), rec.matrix(w).T))
    return model


def through_stored_expansion(model: RPN) -> RPN:
    """Make every identity head build its expansion and multiply it by W (``rec(z)``), the
    route layer 1 took before ``kernels.taylor2_dense``: for comparison in (b)."""
    for layer in model.layers:
        for head in layer.heads:
            rec = head.reconciliation
            object.__setattr__(rec, "forward_expanded",
                               lambda x, expansion, w=None, rec=rec: rec(expansion(x), w))
    return model


# ----------------------------------------------------------------------------- timing


def batch(seed: int = 0) -> tuple[tinyrpn.Tensor, tinyrpn.Tensor]:
    rng = np.random.default_rng(seed)
    x = tinyrpn.tensor(rng.standard_normal((BATCH, 784)).astype(np.float32))
    y = tinyrpn.tensor(rng.integers(0, 10, BATCH))
    return x, y


def make_optimizer(model: RPN) -> Any:
    from tinyrpn.optim import AdamW

    return AdamW(model.parameters(), lr=2e-3, weight_decay=2e-4)


def time_training(model: RPN, steps: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each phase of a training step over ``steps`` timed steps."""
    optimizer = make_optimizer(model)
    x, y = batch()
    phases: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": [], "step": []}
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if i >= warmup:
            for name, value in (("forward", t1 - t0), ("backward", t2 - t1),
                                ("optimizer", t3 - t2), ("step", t3 - t0)):
                phases[name].append(value)
    out = {name: statistics.median(v) for name, v in phases.items()}
    out["step_min"] = min(phases["step"])
    return out


def interleaved_steps(models: dict[str, RPN], rounds: int, steps: int = 3) -> dict[str, float]:
    """Median seconds of a training step of each model, the models taking turns for
    ``rounds`` rounds of ``steps`` steps (the first step of each turn is not timed), so that
    the machine's changes of speed fall on all of them alike."""
    x, y = batch()
    optimizers = {name: make_optimizer(model) for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            optimizer = optimizers[name]
            for i in range(steps + 1):
                t = time.perf_counter()
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
                if i:
                    times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def min_and_median(fn: Callable[[], Any], repeats: int = 5) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def median_of(fn: Callable[[], Any], repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# The products layer 1 runs. Without a LayerNorm in layer 1 (as tinyBIG ran §1) the head
# multiplies through z = [1, x] ⊗ x (kernels.taylor2_dense): x times W viewed as
# (64·785) × 784, and for dW the transposed (64·785) × 64 matrix V times x. With a LayerNorm
# z is built and normalised, and the products are z Wᵀ and gᵀ z. Layer 1's input needs no
# gradient, so neither route runs the third product (dz = g W).
LAYER1_PRODUCTS = {False: ("x W3ᵀ (forward)", "Vᵀ x (grad W)"),
                   True: ("z Wᵀ (forward)", "gᵀ z (grad W)")}


def layer1_products() -> dict[str, Callable[[], Any]]:
    """Each of layer 1's matrix products on random float32 data, ready to time."""
    rng = np.random.default_rng(1)
    D, n, m = 615440, 64, 784
    x = rng.standard_normal((BATCH, m), dtype=np.float32)
    z = rng.standard_normal((BATCH, D), dtype=np.float32)
    W = rng.standard_normal((n, D), dtype=np.float32)
    g = rng.standard_normal((BATCH, n), dtype=np.float32)
    V = rng.standard_normal((BATCH, n * (m + 1)), dtype=np.float32)
    dw = np.empty_like(W)
    return {
        "x W3ᵀ (forward)": lambda: x @ W.reshape(-1, m).T,
        "Vᵀ x (grad W)": lambda: np.matmul(V.T, x, out=dw.reshape(-1, m)),
        "z Wᵀ (forward)": lambda: z @ W.T,
        "gᵀ z (grad W)": lambda: np.matmul(g.T, z, out=dw),
    }


def sgemm_rate() -> dict[str, dict[str, float]]:
    """GFLOP/s of np.float32 matmul on each of layer 1's products (2·N·n·D FLOPs each), on
    the products of each route together, and on a square one (``best``: the fastest of 5
    runs; ``median``: their median)."""
    flops = 2 * BATCH * 64 * 615440
    times = {name: min_and_median(fn) for name, fn in layer1_products().items()}
    a = np.random.default_rng(2).standard_normal((2048, 2048), dtype=np.float32)
    square = min_and_median(lambda: a @ a)
    out = {}
    for k, stat in (("best", 0), ("median", 1)):
        out[k] = {name: flops / t[stat] / 1e9 for name, t in times.items()}
        for ln_layer1, names in LAYER1_PRODUCTS.items():
            out[k][_route(ln_layer1)] = (len(names) * flops
                                         / sum(times[name][stat] for name in names) / 1e9)
        out[k]["square_2048"] = 2 * 2048 ** 3 / square[stat] / 1e9
    return out


def _route(ln_layer1: bool) -> str:
    return "layer1 with LN" if ln_layer1 else "layer1 without LN"


def identity_flops() -> tuple[float, float]:
    """(nominal, executed) matmul FLOPs of one identity training step.

    Nominal: 2·N·n·D forward + 2 × that backward, every layer. Executed: layer 1's input
    (the expansion of raw pixels) needs no gradient, so its dz = dy·W is skipped.
    """
    nD = [(64, 615440), (64, 4160), (10, 4160)]
    nominal = sum(6 * BATCH * n * D for n, D in nD)
    executed = nominal - 2 * BATCH * 64 * 615440
    return nominal, executed


def profile_layer1(ln_layer1: bool) -> dict[str, float]:
    """Seconds of the big pieces of layer 1, each timed on its own (median of 5)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    out = {}
    if ln_layer1:
        out["taylor2 forward"] = median_of(lambda: kernels.taylor2_forward(x))
        z = kernels.taylor2_forward(x)
        out["layer norm forward"] = median_of(lambda: kernels.layer_norm_forward(z, 1e-5))
        del z
    products = layer1_products()
    out.update({name: median_of(products[name]) for name in LAYER1_PRODUCTS[ln_layer1]})
    return out


# ----------------------------------------------------------------------------- PyTorch


def torch_reference_step(reconciliation: str, steps: int) -> float | None:
    """Median seconds of the same training step written as tinyBIG 0.1.1 runs it in PyTorch
    (Taylor expansion by einsum, dense W built on every step, F.linear, parameter-free
    LayerNorm in layers 2 and 3, AdamW); None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)

    def taylor(x: Any) -> Any:
        return torch.cat([x, torch.einsum("ba,bc->bac", x, x).reshape(x.shape[0], -1)], 1)

    def dual_lphm_w(w: Any, n: int, D: int, p: int, q: int, r: int) -> Any:
        s, t = n // p, D // q
        P, Q, S, T = torch.split(w, [p * r, q * r, s * r, t * r])
        A = (P.view(p, r) @ Q.view(q, r).T).reshape(1, -1)
        B = (S.view(s, r) @ T.view(t, r).T).reshape(1, -1)
        return torch.einsum("pq,st->psqt", A, B).reshape(n, D)

    layers = []
    for i, (m, n) in enumerate(zip(DIMS[:-1], DIMS[1:])):
        D = m + m * m
        if reconciliation == "identity":
            l = n * D
        else:
            p, q, r = DUAL_PQR[i]
            l = r * (p + q + n // p + D // q)
        bound = (6 / (l + 1)) ** 0.5
        layers.append((m, n, D, torch.nn.Parameter(torch.empty(l).uniform_(-bound, bound))))
    optimizer = torch.optim.AdamW([w for *_, w in layers], lr=2e-3, weight_decay=2e-4)
    x, y = batch()
    xt, yt = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())

    def step() -> None:
        optimizer.zero_grad()
        h = xt
        for i, (_, n, D, w) in enumerate(layers):
            z = taylor(h)
            if i > 0:
                z = torch.nn.functional.layer_norm(z, (D,))
            W = w.view(n, D) if reconciliation == "identity" else dual_lphm_w(w, n, D, *DUAL_PQR[i])
            h = torch.nn.functional.linear(z, W)
        torch.nn.functional.cross_entropy(h, yt).backward()
        optimizer.step()

    return median_of(step, repeats=steps)


# ----------------------------------------------------------------------------- memory

_MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    import tinyrpn
    from tinyrpn.nn import functional as F
    sys.path.insert(0, {bench!r})
    import rpn as bench

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    def peak():
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def ru_maxrss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    small = bench.make_rpn(
        [8, 4, 2], expansion=lambda m: bench.TaylorExpansion(d=2, postprocess="layer_norm"),
        reconciliation=lambda n, D: bench.IdentityReconciliation(n, D))
    F.cross_entropy(small(tinyrpn.randn(3, 8)), tinyrpn.tensor([0, 1, 0])).backward()
    tinyrpn.manual_seed(0)
    model = bench.identity_model({ln_layer1})
    x, y = bench.batch()
    out = {{"model_built": rss(), "peak_before": peak()}}
    F.cross_entropy(model(x), y).backward()
    out["peak_forward_backward"] = peak()
    out["ru_maxrss_forward_backward"] = ru_maxrss()
    if {with_optimizer}:
        opt = bench.make_optimizer(model)
        opt.step()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        out["peak_training_step"] = peak()
    print(json.dumps(out))
""")


def peak_memory(ln_layer1: bool, with_optimizer: bool) -> dict[str, float]:
    here = os.path.dirname(os.path.abspath(__file__))
    script = _MEMORY_SCRIPT.format(root=os.path.dirname(here), bench=here,
                                   ln_layer1=ln_layer1, with_optimizer=with_optimizer)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return {k: v / 1e6 for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per case")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--parts", default="abct",
                        help="which parts to run: a (dual-LPHM), b (identity), c (memory), "
                             "t (PyTorch, tinyBIG-style, for reference)")
    args = parser.parse_args()
    # as tinyrpn's Trainer does (and for PyTorch too, in this process): freed big arrays
    # leave their pages to the next one instead of going back to the system
    tinyrpn.backend.keep_freed_memory()
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"load average {os.getloadavg()[0]:.1f} at start",
        "numpy": np.__version__, "batch": BATCH,
    }
    print(results["machine"])

    results["threads"] = {k: os.environ.get(k) for k in (
        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}

    if "c" in args.parts:
        run_memory(results)
    if "a" in args.parts:
        run_dual_lphm(args, results)
    if "b" in args.parts:
        run_identity(args, results)
    if "t" in args.parts:
        print("\n(t) the same steps in PyTorch, written as tinyBIG 0.1.1 runs them "
              "(no LayerNorm in layer 1)")
        results["torch_tinybig_style_step_s"] = {}
        for name in ("dual_lphm", "identity"):
            seconds = torch_reference_step(name, args.steps)
            results["torch_tinybig_style_step_s"][name] = seconds
            print(f"  {name}: " + ("torch not installed" if seconds is None
                                   else f"{seconds:.3f} s per step"))
    results["ru_maxrss_this_process_mb"] = resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1e3
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def run_dual_lphm(args: argparse.Namespace, results: dict[str, Any]) -> None:
    print("\n(a) dual-LPHM training step (batch 64, AdamW), rec(z) from W's factors vs "
          "matrix()")
    print(f"{'layout':8} {'rec(z) s':>9} {'matrix() s':>11} {'ratio':>7}")
    results["dual_lphm"] = {}
    for layout in ("kron", "tinybig"):
        tinyrpn.manual_seed(1234)
        fast = time_training(dual_lphm_model(layout), args.steps * 2)
        tinyrpn.manual_seed(1234)
        slow = time_training(through_matrix(dual_lphm_model(layout)), args.steps)
        ratio = slow["step"] / fast["step"]
        results["dual_lphm"][layout] = {"factors": fast, "matrix": slow, "speedup": ratio}
        print(f"{layout:8} {fast['step']:9.4f} {slow['step']:11.4f} {ratio:6.1f}x")


def run_identity(args: argparse.Namespace, results: dict[str, Any]) -> None:
    print("\n(b) identity-reconciliation training step (batch 64, AdamW)")
    rates = sgemm_rate()
    results["sgemm_gflops"] = rates
    for k in ("best", "median"):
        print(f"    SGEMM GFLOP/s on this machine now ({k}): " + ", ".join(
            f"{name} {v:.1f}" for name, v in rates[k].items()))
    nominal, executed = identity_flops()
    results["identity"] = {}
    for ln_layer1 in (False, True):
        tinyrpn.manual_seed(1234)
        t = time_training(identity_model(ln_layer1), args.steps)
        achieved = executed / t["step"] / 1e9
        rate, best_rate = rates["median"][_route(ln_layer1)], rates["best"][_route(ln_layer1)]
        label = "LN in layer 1" if ln_layer1 else "no LN in layer 1 (as tinyBIG ran)"
        entry = {
            **t, "nominal_gflop": nominal / 1e9, "executed_gflop": executed / 1e9,
            "achieved_gflops_nominal": nominal / t["step"] / 1e9,
            "achieved_gflops_executed": achieved,
            "fraction_of_sgemm": achieved / rate,
            "fraction_of_sgemm_best": executed / t["step_min"] / 1e9 / best_rate,
            "epoch_estimate_s": BATCHES_PER_EPOCH * t["step"],
            "layer1_profile_s": profile_layer1(ln_layer1),
        }
        results["identity"]["ln_layer1" if ln_layer1 else "tinybig"] = entry
        print(f"  {label}: step {t['step']:.3f} s (min {t['step_min']:.3f}) = forward "
              f"{t['forward']:.3f} + backward {t['backward']:.3f} + AdamW {t['optimizer']:.3f}")
        print(f"    {executed / 1e9:.2f} GFLOP executed -> {achieved:.1f} GFLOP/s = "
              f"{100 * entry['fraction_of_sgemm']:.0f}% of SGEMM on these products "
              f"({rate:.1f}; fastest step vs best SGEMM: "
              f"{100 * entry['fraction_of_sgemm_best']:.0f}%); nominal {nominal / 1e9:.2f} "
              f"GFLOP -> {entry['achieved_gflops_nominal']:.1f} GFLOP/s; epoch estimate "
              f"{entry['epoch_estimate_s']:.0f} s")
        print("    layer 1 pieces: " + ", ".join(
            f"{k} {1e3 * v:.0f} ms" for k, v in entry["layer1_profile_s"].items()))
    tinyrpn.manual_seed(1234)
    routes = interleaved_steps({
        "[1, x] ⊗ x": identity_model(False),
        "stored expansion": through_stored_expansion(identity_model(False)),
    }, rounds=args.steps)
    results["identity"]["routes_interleaved_s"] = routes
    print("  layer 1 without LN, interleaved: through [1, x] ⊗ x "
          f"{routes['[1, x] ⊗ x']:.3f} s per step, through the stored expansion (the route "
          f"before) {routes['stored expansion']:.3f} s: "
          f"{routes['stored expansion'] / routes['[1, x] ⊗ x']:.2f}x")


def run_memory(results: dict[str, Any]) -> None:
    print("\n(c) peak RSS (fresh process), identity model, batch 64")
    results["memory_mb"] = {}
    copy = BATCH * 615440 * 4 / 1e6
    for ln_layer1 in (False, True):
        mem = peak_memory(ln_layer1, with_optimizer=True)
        results["memory_mb"]["ln_layer1" if ln_layer1 else "tinybig"] = mem
        print(f"  {'LN in layer 1' if ln_layer1 else 'no LN in layer 1':17}: model built "
              f"{mem['model_built']:.0f} MB; peak after forward+backward "
              f"{mem['peak_forward_backward']:.0f} MB "
              f"(+{(mem['peak_forward_backward'] - mem['model_built']) / copy:.2f} copies "
              f"of the {copy:.0f} MB expansion; ru_maxrss "
              f"{mem['ru_maxrss_forward_backward']:.0f} MB); after two AdamW steps "
              f"{mem['peak_training_step']:.0f} MB")


if __name__ == "__main__":
    main()
