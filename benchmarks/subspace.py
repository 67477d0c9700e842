"""Training in a random subspace (docs/EXPERIMENTS.md §4): memory and speed of each projection,
against the reference's way in PyTorch, measured in the same run.

    python benchmarks/subspace.py                      # about three minutes on 2 cores
    python benchmarks/subspace.py --dim 1000 --steps 20 --threads 1 --json out.json

Every row is measured in a fresh process, so its peak resident memory (``getrusage``'s
maximum RSS) is what that process needed: the network 784-200-200-10 (D = 199,210) is
built, put in a ``dim``-dimensional subspace (θ = P ω), and takes ``steps`` Adam steps at
batch 256 on random inputs (a step's cost does not depend on the pixel values).

- tinyrpn, one row per projection: ``qr`` (dense and orthonormal, the reference's P),
  ``dense`` (Gaussian, unit-norm columns), ``sparse``, ``fastfood`` (never stores P), and
  ``full`` (the plain network, no subspace).
- torch: the reference's way, P built by QR of [θ₀ | randn(D, d−1)] with
  ``torch.linalg.qr``, θ = P @ ω, the network's forward on slices of θ, ``torch.optim.Adam``
  on ω. tinyrpn's ``qr`` row does the same arithmetic, so its ratio is the engines'; the
  other rows' ratios say what another projection costs or saves against it.

"added" is the peak minus the resident memory before P was built (interpreter, NumPy,
PyTorch and tinyrpn's imports excluded): what the subspace and the steps themselves need.
PyTorch is optional; without it only tinyrpn's rows are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import tinyrpn  # noqa: E402
from tinyrpn.experiments.subspace_sweep import in_fresh_process, measure_projections  # noqa: E402
from tinyrpn.models import subspace_mlp  # noqa: E402
from tinyrpn.rundir import peak_memory_mb  # noqa: E402

PROJECTIONS = ("qr", "dense", "sparse", "fastfood", "full")


def torch_reference(dim: int, batch_size: int, steps: int, seed: int,
                    threads: int | None) -> dict[str, Any] | None:
    """The reference's subspace step in PyTorch (float32, CPU), in this process."""
    try:
        import torch
    except ImportError:
        return None
    F = torch.nn.functional
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    # θ₀: the tinyrpn network's initial parameters, flattened in its order (each layer's
    # weight, out × in and row-major, then its bias)
    tinyrpn.manual_seed(seed)
    base = subspace_mlp()
    sizes = base.sizes
    theta0 = torch.cat([torch.from_numpy(p.detach().numpy().ravel()) for p in base.parameters()])
    D = theta0.numel()
    before = peak_memory_mb()
    start = time.perf_counter()
    P, _ = torch.linalg.qr(torch.cat([theta0[:, None], torch.randn(D, dim - 1)], dim=1))
    omega = torch.zeros(dim)
    omega[0] = theta0[0] / P[0, 0]
    omega.requires_grad_(True)
    build = time.perf_counter() - start
    x = torch.rand(batch_size, sizes[0])
    y = torch.randint(0, sizes[-1], (batch_size,))
    opt = torch.optim.Adam([omega], lr=3e-3, betas=(0.9, 0.99))

    def forward(theta: Any) -> Any:
        h, at = x, 0
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = theta[at:at + n_out * n_in].view(n_out, n_in)
            b = theta[at + n_out * n_in:at + n_out * (n_in + 1)]
            at += n_out * (n_in + 1)
            h = F.linear(h, W, b)
            if layer < len(sizes) - 2:
                h = torch.relu(h)
        return F.log_softmax(h, dim=1)

    def step() -> None:
        opt.zero_grad()
        F.nll_loss(forward(P @ omega), y).backward()
        opt.step()

    for _ in range(2):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - start) / steps
    return {"projection": "qr (torch)", "dim": dim, "build_seconds": build,
            "ms_per_step": 1000 * per_step, "projection_mb": P.numel() * 4 / 2**20,
            "rss_before_build_mb": before, "peak_rss_mb": peak_memory_mb(),
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for PyTorch and tinyrpn's kernels (default: as is)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    if args.dim < 2:
        parser.error(f"--dim must be at least 2 (P's first column is θ₀'s), got {args.dim}")

    rows = measure_projections(PROJECTIONS, dim=args.dim, batch_size=args.batch_size,
                               steps=args.steps, threads=args.threads)
    reference = in_fresh_process(torch_reference, args.dim, args.batch_size, args.steps,
                                  0, args.threads)
    print(f"d = {args.dim}, batch {args.batch_size}, {args.steps} Adam steps after 2 "
          f"warm-up steps, one fresh process per row")
    header = (f"{'projection':12s} {'P (MB)':>8s} {'build (s)':>9s} {'ms/step':>8s} "
              f"{'peak (MB)':>9s} {'added (MB)':>10s} {'time vs torch':>13s} "
              f"{'added vs torch':>14s}")
    print(header)
    for row in rows + ([reference] if reference else []):
        added = row["peak_rss_mb"] - row["rss_before_build_mb"]
        row["added_mb"] = added
        if reference:
            row["time_vs_torch"] = row["ms_per_step"] / reference["ms_per_step"]
            row["added_vs_torch"] = added / (reference["peak_rss_mb"]
                                             - reference["rss_before_build_mb"])
        time_ratio = f"{row['time_vs_torch']:.2f}x" if reference else "-"
        memory_ratio = f"{row['added_vs_torch']:.2f}x" if reference else "-"
        print(f"{row['projection']:12s} {row['projection_mb']:8.1f} "
              f"{row['build_seconds']:9.2f} {row['ms_per_step']:8.2f} "
              f"{row['peak_rss_mb']:9.0f} {added:10.0f} {time_ratio:>13s} "
              f"{memory_ratio:>14s}", flush=True)
    if reference is None:
        print("(PyTorch is not installed: no reference row)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "torch": reference,
                       "load_average": os.getloadavg()[0]}, f, indent=2)


if __name__ == "__main__":
    main()
