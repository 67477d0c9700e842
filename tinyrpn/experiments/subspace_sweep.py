"""The subspace sweep: one training per subspace dimension d (docs/EXPERIMENTS.md §4, Li et al.
2018).

:func:`run_subspace_sweep` trains one run per d from one config (its ``model.dim`` is
overridden), each in its own directory ``out_dir/d<d>`` (``out_dir/full`` for the whole
space), then draws the reference's two plots, one line per d,

- ``out_dir/loss.png``      training loss against step,
- ``out_dir/accuracy.png``  test accuracy against step (measured every
  ``training.eval_every_steps`` steps),

and writes ``out_dir/summary.json``: per d the final and best test accuracy, the peak
memory (resident set size) of the run, and its seconds. By default every run trains in
a fresh child process, so that each run's peak memory is its own (a process's peak can
only grow); ``isolate=False`` trains in this process instead.

:func:`find_dint90` searches for d_int90, the smallest d whose run reaches 90% test
accuracy, by bisection between a d that does not reach it and one that does (see its
docstring for how the dims are chosen). Both reuse completed runs found in ``out_dir``
(``resume=True``), so a search after a sweep into the same directory starts from the
sweep's runs.

Both functions take plain arguments (no argparse): the command line's ``tinyrpn sweep``
is a thin layer over them, with :func:`parse_dims` for a ``--dims 3,10,100,full`` option.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinyrpn.rundir import peak_memory_mb
from tinyrpn.serialization import atomic_write

__all__ = ["DEFAULT_DIMS", "find_dint90", "measure_projections", "parse_dims",
           "run_subspace_sweep"]

Dim = int | str  # an int d, or "full"
DEFAULT_DIMS: tuple[Dim, ...] = (3, 10, 100, 300, 1000, "full")
SUMMARY = "summary.json"


# ------------------------------------------------------------------------------ helpers


def parse_dims(text: str | Iterable[Any]) -> tuple[Dim, ...]:
    """``"3,10,100,full"`` (or a list of ints and "full") as a tuple of dims, checked."""
    items = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) \
        else list(text)
    dims: list[Dim] = []
    for item in items:
        if isinstance(item, str) and item.lower() == "full":
            dims.append("full")
            continue
        try:
            d = int(item)
        except (TypeError, ValueError):
            d = 0
        if isinstance(item, bool) or d < 1 or (not isinstance(item, str) and d != item):
            raise ValueError(f"dims: {item!r} is not a positive integer or 'full' "
                             f"(e.g. dims=(3, 10, 100, 'full') or --dims 3,10,100,full)")
        dims.append(d)
    if not dims:
        raise ValueError("dims: give at least one dimension, e.g. 3,10,100,full")
    if len(set(dims)) != len(dims):
        raise ValueError(f"dims: {list(dims)} lists a dimension twice")
    return tuple(dims)


def _run_name(d: Dim) -> str:
    return "full" if d == "full" else f"d{d}"


def in_fresh_process(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a new interpreter (spawn, not fork), and its result: the child's
    peak memory (:func:`tinyrpn.rundir.peak_memory_mb` there) is that call's alone.
    ``fn`` must be importable by name (a module-level function)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _overrides(d: Dim, projection: str | None, epochs: int | None,
               extra: Mapping[str, Any] | None) -> dict[str, Any]:
    o: dict[str, Any] = dict(extra or {})
    o["model.dim"] = d
    if projection is not None and d != "full":
        o["model.projection"] = projection
    if epochs is not None:
        o["training.epochs"] = epochs
    return o


def _check_config(config_path: str | os.PathLike[str], overrides: Mapping[str, Any]) -> Any:
    from tinyrpn.config import ConfigError, load_config

    try:
        exp = load_config(config_path, overrides=overrides)
    except ConfigError:
        kind = load_config(config_path).config["model"]["type"]  # is the model the problem?
        if kind == "subspace":
            raise
        exp = None
    else:
        kind = exp.config["model"]["type"]
    if kind != "subspace":
        raise ValueError(
            f"{config_path}: a subspace sweep needs model.type: subspace (with model.base the "
            f"network and model.dim the dimension), got model.type: {kind}"
        )
    return exp


def _train_one(config_path: str, overrides: dict[str, Any], run_dir: str,
               limit_train: int | None, limit_test: int | None, progress: bool,
               resume: bool) -> dict[str, Any]:
    """Build and train one run (in whatever process calls it); return its numbers."""
    from tinyrpn.train import TrainingDiverged

    start = time.perf_counter()
    exp = _check_config(config_path, overrides)
    trainer = exp.trainer(run_dir, limit_train=limit_train, limit_test=limit_test,
                          progress=progress)
    built = time.perf_counter() - start
    error = None
    try:
        trainer.fit(resume=resume)
    except TrainingDiverged as e:  # recorded (results.json says "diverged"); the sweep goes on
        error = str(e)
    h = trainer.history
    model = trainer.model
    return {
        "build_seconds": built,
        "seconds": time.perf_counter() - start,
        "peak_rss_mb": peak_memory_mb(),
        "num_parameters": int(model.num_parameters()),
        "steps": int(trainer.global_step),
        "final_train_loss": h.step_loss[-1] if h.step_loss else None,
        "projection": getattr(model, "projection_kind", None),
        "error": error,
        "pid": os.getpid(),
    }


def _run(d: Dim, config_path: str, out_dir: Path, projection: str | None, epochs: int | None,
         limit_train: int | None, limit_test: int | None, progress: bool, isolate: bool,
         resume: bool, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Train (or, with ``resume``, reuse) the run for ``d``; return its summary row."""
    run_dir = out_dir / _run_name(d)
    overrides = _overrides(d, projection, epochs, extra)
    _check_config(config_path, overrides)  # fail here, in this process, on a bad config
    row_file = run_dir / "sweep_run.json"
    results_file = run_dir / "results.json"
    if resume and row_file.exists() and results_file.exists():
        row = json.loads(row_file.read_text())
        done = json.loads(results_file.read_text())
        if (done.get("status") == "completed" and row.get("overrides") == _plain(overrides)
                and row.get("limit_train") == limit_train and row.get("limit_test") == limit_test):
            return {**row, "reused": True}
    args = (str(config_path), overrides, str(run_dir), limit_train, limit_test, progress,
            resume)
    if isolate:
        measured = in_fresh_process(_train_one, *args)
    else:
        measured = _train_one(*args)
        measured["peak_rss_is_process_max"] = True  # includes everything run before
    results = json.loads(results_file.read_text())
    history = json.loads((run_dir / "history.json").read_text())
    accs = history.get("test_acc_at_steps") or []
    steps = history.get("test_steps") or []
    best_i = max(range(len(accs)), key=accs.__getitem__) if accs else None
    row = {
        "dim": d, "run_dir": str(run_dir), "status": results.get("status"),
        "final_test_acc": results.get("final_test_acc"),
        "best_test_acc": max([a for a in [results.get("best_test_acc"),
                                          accs[best_i] if best_i is not None else None]
                              if a is not None], default=None),
        "best_test_acc_step": steps[best_i] if best_i is not None else None,
        "final_test_loss": results.get("final_test_loss"),
        **measured,
        "overrides": _plain(overrides), "limit_train": limit_train, "limit_test": limit_test,
    }
    _write_json(row_file, row)
    return {**row, "reused": False}


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2).encode())


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _megabytes(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f} MB"


def _accuracy(row: Mapping[str, Any], metric: str) -> float:
    value = row.get(f"{metric}_test_acc")
    return 0.0 if value is None or not math.isfinite(value) else float(value)  # diverged: 0


def _label(d: Dim) -> str:
    return "full" if d == "full" else f"d = {d}"


def _sort_key(d: Dim) -> float:
    return math.inf if d == "full" else float(d)


def plot_sweep(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike[str],
               threshold: float | None = None) -> list[Path]:
    """The two reference plots from a sweep's rows: ``loss.png`` (training loss against
    step) and ``accuracy.png`` (test accuracy against step), one line per d."""
    from tinyrpn import plot
    from tinyrpn.display import figures_not_shown
    from tinyrpn.history import History

    rows = sorted(rows, key=lambda r: _sort_key(r["dim"]))
    histories = [History.load(r["run_dir"]) for r in rows]
    labels = [_label(r["dim"]) for r in rows]
    out = Path(out_dir)
    paths = []
    for metric in ("loss", "accuracy"):
        with figures_not_shown():  # written to the sweep directory, not shown in a notebook
            fig = plot._figure(8, 5)
        ax = fig.add_subplot()
        plot.plot_curves(histories, metric=metric, x="step", labels=labels, ax=ax)
        if metric == "accuracy" and threshold is not None:
            ax.axhline(threshold, color="gray", lw=0.8, ls="--")
        ax.set_title("training loss per step" if metric == "loss"
                     else "test accuracy per step")
        path = out / f"{metric}.png"
        plot._finish(fig, path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ the sweep


def run_subspace_sweep(
    config_path: str | os.PathLike[str],
    dims: Sequence[Dim] = DEFAULT_DIMS,
    out_dir: str | os.PathLike[str] = "runs/subspace",
    projection: str | None = None,
    epochs: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    progress: bool = True,
    *,
    overrides: Mapping[str, Any] | None = None,
    isolate: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Train one run per d in ``dims`` (ints and/or ``"full"``) from the subspace config
    ``config_path``; draw the two reference plots; write and return the summary.

    - ``projection``: override ``model.projection`` (qr | dense | sparse | fastfood).
    - ``epochs``, ``limit_train``, ``limit_test``: shorter runs (``training.epochs``; the
      first N training / test examples).
    - ``overrides``: further dotted config overrides, e.g. ``{"seed": 1}``.
    - ``isolate``: train each run in a fresh child process (its peak memory is then its
      own); ``False`` trains in this process.
    - ``resume``: reuse completed runs in ``out_dir`` made with the same settings, and
      continue interrupted ones from their checkpoints.

    Returns (and writes to ``out_dir/summary.json``) ``{"config", "out_dir", "projection",
    "epochs", "limit_train", "limit_test", "runs": [...], "plots": [...]}`` with one row per
    d: ``dim, run_dir, status, final_test_acc, best_test_acc, best_test_acc_step,
    final_test_loss, final_train_loss, steps, num_parameters, peak_rss_mb, seconds,
    build_seconds``.
    """
    dims = parse_dims(dims)
    out = Path(out_dir)
    rows = []
    for d in dims:
        rows.append(_run(d, str(config_path), out, projection, epochs, limit_train,
                         limit_test, progress, isolate, resume, overrides))
        if progress:
            r = rows[-1]
            print(f"[sweep] {_label(d)}: {r['status']}, final test acc "
                  f"{_fmt(r['final_test_acc'])}, best {_fmt(r['best_test_acc'])}, peak "
                  f"{_megabytes(r['peak_rss_mb'])}, {r['seconds']:.0f} s"
                  f"{' (reused)' if r['reused'] else ''}", file=sys.stderr)
    return _summarise(rows, config_path, out, projection, epochs, limit_train, limit_test)


def _summarise(rows: list[dict[str, Any]], config_path: Any, out: Path, projection: Any,
               epochs: Any, limit_train: Any, limit_test: Any,
               threshold: float | None = None, **extra: Any) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: _sort_key(r["dim"]))
    plots = [str(p) for p in plot_sweep(rows, out, threshold)]
    summary = {
        "config": str(config_path), "out_dir": str(out), "projection": projection,
        "epochs": epochs, "limit_train": limit_train, "limit_test": limit_test,
        **extra, "runs": rows, "plots": plots,
    }
    _write_json(out / SUMMARY, summary)
    return summary


# ------------------------------------------------------------------------------- d_int90


def find_dint90(
    config_path: str | os.PathLike[str],
    threshold: float = 0.90,
    *,
    relative: bool = False,
    lo: int = 100,
    hi: int = 1000,
    resolution: int = 50,
    grid: Sequence[int] | None = None,
    metric: str = "final",
    out_dir: str | os.PathLike[str] = "runs/subspace",
    projection: str | None = None,
    epochs: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    isolate: bool = True,
    resume: bool = True,
) -> dict[str, Any]:
    """The smallest d whose run reaches ``threshold`` test accuracy (d_int90).

    Which d are trained (the finer sweep):

    - with ``grid``: exactly those d (a fixed grid, as Li et al. swept), and d_int90 is the
      smallest of them that reaches the target;
    - otherwise by bisection: train ``lo`` and ``hi`` (defaults 100 and 1000, which bracket
      d_int90 for the reference network: 0.58 at d = 100, 0.90–0.92 at d = 1000). While
      ``hi`` misses the target it is doubled (up to D); while ``lo`` reaches it, it is
      halved (down to 1). Then the midpoint of [lo, hi], rounded to a multiple of
      ``resolution``, is trained and replaces whichever end it agrees with, until
      ``hi − lo <= resolution``. From [100, 1000] at resolution 50 that is 4 or 5 more
      runs (e.g. 550, 800, 700, 750), and d_int90 is the final ``hi``.

    Bisection assumes accuracy grows with d; runs are noisy (one seed each), so the result
    lists every run and says whether their accuracies were in fact monotone in d
    (``monotone``), and gives ``crossing``, the d where the straight line between the last
    ``lo`` and ``hi`` crosses the target, a finer estimate than the grid.

    ``metric``: compare each run's ``final`` test accuracy (default) or its ``best`` over
    the evaluations during training (optimistic: chosen on the test set). ``relative``:
    Li et al.'s definition, target = threshold × the full network's accuracy (a ``full``
    run is trained first). Runs go to ``out_dir/d<d>`` and completed ones found there are
    reused (``resume``). The other arguments are as for :func:`run_subspace_sweep`.
    Returns (and writes to ``out_dir/dint90.json``) the result.
    """
    if metric not in ("final", "best"):
        raise ValueError(f"find_dint90: metric must be 'final' or 'best', got {metric!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"find_dint90: threshold must be in (0, 1], got {threshold!r}")
    if not (isinstance(resolution, int) and resolution >= 1):
        raise ValueError(f"find_dint90: resolution must be a positive integer, got {resolution!r}")
    out = Path(out_dir)
    exp = _check_config(config_path, _overrides(1, projection, epochs, overrides))
    from tinyrpn.config.models import count_parameters

    D = int(count_parameters(exp.config["model"]["base"]))
    runs: dict[Dim, dict[str, Any]] = {}

    def run(d: Dim) -> float:
        if d not in runs:
            runs[d] = _run(d, str(config_path), out, projection, epochs, limit_train,
                           limit_test, progress, isolate, resume, overrides)
            if progress:
                print(f"[dint90] {_label(d)}: {metric} test acc "
                      f"{_fmt(runs[d][f'{metric}_test_acc'])}", file=sys.stderr)
        return _accuracy(runs[d], metric)

    target = threshold * run("full") if relative else threshold
    if grid is not None:
        dims = sorted(d for d in parse_dims(grid) if d != "full")
        for d in dims:
            run(d)
        reached = [d for d in dims if run(d) >= target]
        result_d = reached[0] if reached else None
        below = [d for d in dims if result_d is None or d < result_d]
        lo_d = below[-1] if below else None
        hi_d = result_d
    else:
        if not 1 <= lo < hi <= D:
            raise ValueError(f"find_dint90: need 1 <= lo < hi <= D = {D}, got lo={lo}, hi={hi}")
        while run(hi) < target and hi < D:
            lo, hi = hi, min(2 * hi, D)
        while lo > 1 and run(lo) >= target:
            lo, hi = max(1, lo // 2), lo
        if run(hi) < target:
            lo_d, hi_d, result_d = hi, None, None  # not even the largest d reaches it
        elif run(lo) >= target:
            lo_d, hi_d, result_d = None, lo, lo  # d = 1 reaches it
        else:
            while hi - lo > resolution:
                mid = int(round((lo + hi) / 2 / resolution)) * resolution
                if not lo < mid < hi:
                    mid = (lo + hi) // 2
                if run(mid) >= target:
                    hi = mid
                else:
                    lo = mid
            lo_d, hi_d, result_d = lo, hi, hi
    crossing = None
    if lo_d is not None and hi_d is not None:
        a, b = run(lo_d), run(hi_d)
        crossing = lo_d + (target - a) * (hi_d - lo_d) / (b - a) if b != a else float(hi_d)
    tested = sorted((d for d in runs if d != "full"), key=float)
    accs = [_accuracy(runs[d], metric) for d in tested]
    summary = _summarise(
        list(runs.values()), config_path, out, projection, epochs, limit_train, limit_test,
        threshold=target,
        dint90={"d_int90": result_d, "target": target, "threshold": threshold,
                "relative": relative, "metric": metric, "lo": lo_d, "hi": hi_d,
                "crossing": crossing, "resolution": resolution, "grid": grid is not None,
                "tested": [[d, a] for d, a in zip(tested, accs)],
                "monotone": all(x <= y for x, y in zip(accs, accs[1:])), "D": D},
    )
    _write_json(out / "dint90.json", summary)
    return summary


# ---------------------------------------------------------------------------- measurements


def _measure_one(projection: str, dim: int, batch_size: int, steps: int, seed: int,
                 threads: int | None) -> dict[str, Any]:
    """Build the reference network in a ``dim``-dimensional subspace and time Adam steps
    on random [0, 1) inputs (what a step costs does not depend on the pixel values)."""
    import numpy as np

    import tinyrpn
    from tinyrpn import nn, optim
    from tinyrpn.models import Subspace, subspace_mlp

    if threads is not None:
        from tinyrpn import kernels

        kernels.set_num_threads(threads)
    tinyrpn.manual_seed(seed)
    base = subspace_mlp()
    before = peak_memory_mb()
    start = time.perf_counter()
    model = base if projection == "full" else Subspace(base, dim, projection=projection,
                                                       offset=False)
    build = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    x = tinyrpn.tensor(rng.random((batch_size, 784), dtype=np.float32))
    y = tinyrpn.tensor(rng.integers(0, 10, batch_size))
    loss_fn = nn.NLLLoss()
    opt = optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.99))

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(2):  # warm-up: compilation, caches
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - start) / steps
    projection_mb = 0.0 if projection == "full" else model.projection.nbytes / 2**20
    return {
        "projection": projection, "dim": dim if projection != "full" else "full",
        "batch_size": batch_size, "steps": steps, "build_seconds": build,
        "steps_per_second": 1.0 / per_step, "ms_per_step": 1000 * per_step,
        "projection_mb": projection_mb, "rss_before_build_mb": before,
        "peak_rss_mb": peak_memory_mb(), "numba_threads": threads,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def measure_projections(
    projections: Sequence[str] = ("qr", "dense", "sparse", "fastfood", "full"),
    dim: int = 1000,
    batch_size: int = 256,
    steps: int = 20,
    *,
    seed: int = 0,
    threads: int | None = None,
    isolate: bool = True,
) -> list[dict[str, Any]]:
    """Peak memory and speed of the reference network (D = 199,210) trained in a
    ``dim``-dimensional subspace with each projection (``"full"``: the plain network).

    Each projection is measured in a fresh child process (``isolate``), so ``peak_rss_mb``
    (``getrusage``'s maximum resident set size) is what building P and ``steps`` Adam steps
    at ``batch_size`` need, interpreter and libraries included (``rss_before_build_mb``
    is the part before P is built). ``threads`` sets Numba's thread count. The machine's
    load average is recorded with each row: on a shared machine it explains slow numbers.
    """
    rows = []
    for projection in projections:
        args = (projection, dim, batch_size, steps, seed, threads)
        if isolate:
            rows.append(in_fresh_process(_measure_one, *args))
        else:
            rows.append(_measure_one(*args))
    return rows
