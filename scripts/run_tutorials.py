"""Re-execute the tutorial notebooks in place, to refresh their committed outputs.

    python scripts/run_tutorials.py                          # every tutorials/NN_*.ipynb
    python scripts/run_tutorials.py 01 tutorials/05_configs_trainer_and_runs.ipynb

Each notebook runs top to bottom in a fresh kernel with ``tutorials/`` as its working
directory and this checkout first on the kernel's path, as the tests run it (and as
Jupyter runs it: ``MPLBACKEND`` is left unset in the kernel, so pyplot draws inline). The
outputs are written back without execution-timing metadata; each notebook's wall time is
printed. Fails (exit 1, the notebook left unwritten) when a cell raises, or when an output
holds a path of this machine (``/work/``, ``/tmp/``, ``/root/``, ``/home/``): committed
outputs must read the same on every machine. Set ``TINYRPN_TUTORIAL_FULL=1`` to run the
full-size versions (do not commit those outputs unless the notebook says so).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|tmp|root|home)/")
TIMEOUT_S = 600  # per cell


def notebooks(names: list[str] | None = None) -> list[Path]:
    """The tutorial notebooks, in order; ``names`` picks some by path or number ("05")."""
    found = sorted(TUTORIALS.glob(NOTEBOOK_PATTERN))
    if not names:
        return found
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
            continue
        hits = [p for p in found if p.name.startswith(name)]
        if len(hits) != 1:
            raise SystemExit(f"run_tutorials: {name!r} matches {len(hits)} notebooks in "
                             f"tutorials/ ({', '.join(p.name for p in found) or 'none'})")
        chosen.append(hits[0])
    return chosen


def kernel_env() -> dict[str, str]:
    """The kernel's environment: this checkout first on the path, and no MPLBACKEND (a
    notebook should see what Jupyter gives it; CI exports MPLBACKEND=Agg for the tests)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    # The kernel runs in tutorials/: a relative data folder (the README's
    # TINYRPN_DATA=../shared/data/mnist) is made absolute so it names the same folder there.
    data = env.get("TINYRPN_DATA")
    if data and not os.path.isabs(os.path.expanduser(data)):
        env["TINYRPN_DATA"] = os.path.abspath(data)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def execute(path: Path, cwd: Path | None = None, timeout: int = TIMEOUT_S) -> tuple[Any, float]:
    """Run the notebook at ``path`` in a fresh kernel (working directory ``cwd``, default
    the notebook's folder); return the executed notebook (not written) and its wall time.
    Raises ``nbclient.exceptions.CellExecutionError`` naming the cell that failed."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    client.execute(env=kernel_env())
    return nb, time.perf_counter() - start


def machine_paths(nb: Any) -> list[str]:
    """The paths of this machine found in a notebook's outputs and metadata."""
    texts = [json.dumps(nb.get("metadata", {}))]
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            # images are base64, where "/tmp/" could occur by chance; their text is elsewhere
            data = {k: v for k, v in output.get("data", {}).items() if not k.startswith("image/")}
            texts.append(json.dumps({**output, "data": data}))
        texts.append(json.dumps(cell.get("metadata", {})))
    hits = []
    for text in texts:
        for m in MACHINE_PATH.finditer(text):
            hits.append(text[max(0, m.start() - 40): m.end() + 40])
    return hits


def strip_timing(nb: Any) -> None:
    """Drop execution timestamps (nbclient adds none with record_timing off; Jupyter does)."""
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="paths or numbers (default: all)")
    args = parser.parse_args(argv)
    import nbformat
    from nbclient.exceptions import CellExecutionError

    chosen = notebooks(args.notebooks)
    if not chosen:
        print("run_tutorials: no notebooks in tutorials/")
        return 0
    failed = 0
    for path in chosen:
        try:
            nb, seconds = execute(path)
        except CellExecutionError as e:
            print(f"{path.name}: FAILED\n{e}", file=sys.stderr)
            failed += 1
            continue
        strip_timing(nb)
        hits = machine_paths(nb)
        if hits:
            print(f"{path.name}: FAILED: outputs hold paths of this machine (not written): "
                  + " | ".join(hits[:5]), file=sys.stderr)
            failed += 1
            continue
        nbformat.write(nb, path)
        size = path.stat().st_size
        print(f"{path.name}: {seconds:.1f} s, {size / 1e3:.0f} kB", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
