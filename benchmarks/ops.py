"""Time tinyrpn's core ops against PyTorch (CPU) in the same run, forward + backward.

    python benchmarks/ops.py [--repeats 7] [--threads 2] [--only chain,matmul]

Each row is one case: the median time of one training-style step (forward, backward, with
the gradients cleared before each step as zero_grad does) for tinyrpn and for PyTorch,
measured in interleaved rounds, and their ratio tinyrpn / PyTorch (below 1 means tinyrpn
is faster). PyTorch is optional; without it that column is empty. The cases:

- matmul: (512, 784) @ (784, 1500), both operands requiring grad;
- conv2d: LeCun 1989's first layer, 1 -> 12 channels, 5x5 kernels, stride 2, on 20x20
  inputs, at batch 1 and 64 (via ``tinyrpn.nn.functional.conv2d``);
- layer_norm: 64 rows of 615,440 features (RPN layer 1's expansion), no affine;
- cross_entropy: 512 x 10 logits with int64 targets;
- chain: 10 small elementwise ops on (10,) tensors then a sum: the engine's overhead;
- max_pool2d / avg_pool2d: 2x2 windows, stride 2, on (64, 16, 28, 28);
- adaptive_avg_pool2d: (64, 64, 14, 14) to 1x1 (a classifier head's global pooling);
- gelu: (512, 1500) elementwise (exact erf form; "not available" until ops-a's gelu is in);
- cumsum: (64, 10,000) along dim 1;
- gather: (4096, 1000) along dim 1 at (4096, 100) random indices.

The cases without a target (the issue-16 ops) report their ratio only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import compare, format_seconds  # noqa: E402

import tinyrpn  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:  # PyTorch is only the yardstick
    torch = None

Step = Callable[[], object]

# ----------------------------------------------------------------------------- cases


def _leaves(module, arrays: dict[str, np.ndarray], grad: set[str]) -> dict[str, object]:
    """The same arrays as leaves of ``module`` (tinyrpn or torch)."""
    out = {}
    for name, array in arrays.items():
        if module is tinyrpn:
            out[name] = tinyrpn.tensor(array, requires_grad=name in grad)
        else:
            out[name] = torch.tensor(array, requires_grad=name in grad)
    return out


def _step(module, leaves: dict[str, object], forward: Callable[..., object], seed_grad):
    """One training-style step: clear grads, forward, backward (with ``seed_grad`` when
    the output is not a scalar)."""
    params = [t for t in leaves.values() if t.requires_grad]
    seed = None
    if seed_grad is not None:
        seed = tinyrpn.tensor(seed_grad) if module is tinyrpn else torch.tensor(seed_grad)

    def step():
        for p in params:
            p.grad = None
        out = forward(module, **leaves)
        out.backward(seed)

    return step


def case_matmul(rng):
    arrays = {"a": rng.standard_normal((512, 784), dtype=np.float32),
              "w": rng.standard_normal((784, 1500), dtype=np.float32) * 0.03}
    seed = rng.standard_normal((512, 1500), dtype=np.float32)
    return arrays, {"a", "w"}, lambda m, a, w: a @ w, seed


def _conv_case(batch: int):
    def case(rng):
        if not hasattr(_functional(), "conv2d"):
            return None
        arrays = {"x": rng.standard_normal((batch, 1, 20, 20), dtype=np.float32),
                  "w": rng.standard_normal((12, 1, 5, 5), dtype=np.float32) * 0.2,
                  "b": rng.standard_normal(12, dtype=np.float32) * 0.1}
        seed = rng.standard_normal((batch, 12, 8, 8), dtype=np.float32)

        def forward(m, x, w, b):
            F = _functional() if m is tinyrpn else torch_F
            return F.conv2d(x, w, b, stride=2)

        return arrays, {"w", "b"}, forward, seed

    return case


def case_layer_norm(rng):
    if not hasattr(_functional(), "layer_norm"):
        return None
    features = 615_440
    arrays = {"x": rng.standard_normal((64, features), dtype=np.float32)}
    seed = rng.standard_normal((64, features), dtype=np.float32)

    def forward(m, x):
        F = _functional() if m is tinyrpn else torch_F
        return F.layer_norm(x, (features,))

    return arrays, {"x"}, forward, seed


def case_cross_entropy(rng):
    if not hasattr(_functional(), "cross_entropy"):
        return None
    arrays = {"logits": rng.standard_normal((512, 10), dtype=np.float32),
              "target": rng.integers(0, 10, 512)}

    def forward(m, logits, target):
        F = _functional() if m is tinyrpn else torch_F
        return F.cross_entropy(logits, target)

    return arrays, {"logits"}, forward, None


def chain(m, x, w):
    """10 elementwise ops, then a sum so that backward starts from a scalar."""
    y = x * w
    y = y + 1.0
    y = y.tanh()
    y = y * x
    y = y - w
    y = y.sigmoid()
    y = y * 2.0
    y = y.exp()
    y = y / w
    y = y.relu()
    return y.sum()


def case_chain(rng):
    arrays = {"x": rng.standard_normal(10, dtype=np.float32),
              "w": rng.uniform(0.5, 1.5, 10).astype(np.float32)}
    return arrays, {"x", "w"}, chain, None


def _functional():
    try:
        from tinyrpn.nn import functional
    except ImportError:
        return None
    return functional


def _pool_case(name: str, shape: tuple[int, ...], args: tuple, out_shape: tuple[int, ...]):
    def case(rng):
        if not hasattr(_functional(), name):
            return None
        arrays = {"x": rng.standard_normal(shape, dtype=np.float32)}
        seed = rng.standard_normal(out_shape, dtype=np.float32)

        def forward(m, x):
            F = _functional() if m is tinyrpn else torch_F
            return getattr(F, name)(x, *args)

        return arrays, {"x"}, forward, seed

    return case


def case_gelu(rng):
    if not hasattr(_functional(), "gelu"):
        return None  # gelu is ops-a's part of issue 16
    arrays = {"x": rng.standard_normal((512, 1500), dtype=np.float32)}
    seed = rng.standard_normal((512, 1500), dtype=np.float32)

    def forward(m, x):
        F = _functional() if m is tinyrpn else torch_F
        return F.gelu(x)

    return arrays, {"x"}, forward, seed


def case_cumsum(rng):
    if not hasattr(tinyrpn, "cumsum"):
        return None
    arrays = {"x": rng.standard_normal((64, 10_000), dtype=np.float32)}
    seed = rng.standard_normal((64, 10_000), dtype=np.float32)
    return arrays, {"x"}, lambda m, x: m.cumsum(x, 1), seed


def case_gather(rng):
    if not hasattr(tinyrpn, "gather"):
        return None
    arrays = {"x": rng.standard_normal((4096, 1000), dtype=np.float32),
              "index": rng.integers(0, 1000, (4096, 100))}
    seed = rng.standard_normal((4096, 100), dtype=np.float32)
    return arrays, {"x"}, lambda m, x, index: m.gather(x, 1, index), seed


CASES = [
    ("matmul", "matmul 512x784 @ 784x1500", case_matmul, 1.0),
    ("conv1", "conv2d LeCun-1989 layer 1, batch 1", _conv_case(1), 1.0),
    ("conv64", "conv2d LeCun-1989 layer 1, batch 64", _conv_case(64), 1.0),
    ("layer_norm", "layer_norm 64 x 615,440", case_layer_norm, 1.0),
    ("cross_entropy", "cross_entropy 512 x 10", case_cross_entropy, 1.0),
    ("chain", "chain of 10 elementwise ops on (10,)", case_chain, 2.0),
    ("max_pool2d", "max_pool2d 2x2 on 64x16x28x28",
     _pool_case("max_pool2d", (64, 16, 28, 28), (2,), (64, 16, 14, 14)), None),
    ("avg_pool2d", "avg_pool2d 2x2 on 64x16x28x28",
     _pool_case("avg_pool2d", (64, 16, 28, 28), (2,), (64, 16, 14, 14)), None),
    ("adaptive_avg_pool2d", "adaptive_avg_pool2d 64x64x14x14 -> 1x1",
     _pool_case("adaptive_avg_pool2d", (64, 64, 14, 14), (1,), (64, 64, 1, 1)), None),
    ("gelu", "gelu 512 x 1500", case_gelu, None),
    ("cumsum", "cumsum 64 x 10,000 along dim 1", case_cumsum, None),
    ("gather", "gather 4096 x 1000 at 4096 x 100", case_gather, None),
]

# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds per case (median)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads")
    parser.add_argument("--only", default="", help="comma-separated case keys: "
                        + ", ".join(key for key, *_ in CASES))
    args = parser.parse_args(argv)
    only = {k.strip() for k in args.only.split(",") if k.strip()}

    if torch is not None:
        torch.set_num_threads(args.threads)
        torch_note = f"PyTorch {torch.__version__}, {args.threads} threads"
    else:
        torch_note = "PyTorch not installed"
    print(f"tinyrpn {tinyrpn.__version__} vs {torch_note}; forward + backward, median of "
          f"{args.repeats} interleaved rounds; ratio = tinyrpn / PyTorch (lower is better)\n")
    header = f"{'case':40s} {'tinyrpn':>10s} {'PyTorch':>10s} {'ratio':>7s} {'target':>7s}"
    print(header)
    print("-" * len(header))
    for key, title, make_case, target in CASES:
        if only and key not in only:
            continue
        case = make_case(np.random.default_rng(0))
        if case is None:
            print(f"{title:40s} {'not available':>10s}")
            continue
        arrays, grad, forward, seed = case
        steps = {"tinyrpn": _step(tinyrpn, _leaves(tinyrpn, arrays, grad), forward, seed)}
        if torch is not None:
            steps["torch"] = _step(torch, _leaves(torch, arrays, grad), forward, seed)
        times = compare(steps, repeats=args.repeats)
        ours = format_seconds(times["tinyrpn"])
        if torch is None:
            print(f"{title:40s} {ours:>10s} {'-':>10s}")
            continue
        ratio = times["tinyrpn"] / times["torch"]
        theirs = format_seconds(times["torch"])
        if target is None:  # no target: the ratio is reported, not judged
            print(f"{title:40s} {ours:>10s} {theirs:>10s} {ratio:7.2f} {'-':>7s}")
        else:
            verdict = "ok" if ratio <= target else "MISS"
            print(f"{title:40s} {ours:>10s} {theirs:>10s} {ratio:7.2f} "
                  f"{'<= ' + format(target, 'g'):>7s} {verdict}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
