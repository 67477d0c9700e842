"""Reference values of tinyBIG 0.1.1's function data sets, for tests/data/.

Run: python scripts/tinybig_function_reference.py TINYBIG_SRC tests/data
(TINYBIG_SRC: a folder holding tinyBIG 0.1.1's tinybig/data/function_dataloader.py and
feynman_dataloader.py, e.g. from `git archive v0.1.1`; needs sympy.)

For every equation of tinyBIG's four lists it writes, to tinybig_function_reference.json,
what tinyBIG's loader reads from the list (name, output, formula, the variables with their
ranges) and the value at three points of the box computed as tinyBIG computes it (sympy's
`sympify` then `lambdify` to NumPy). Where the list declares fewer variables than it names,
tinyBIG's loader keeps the declared number; the values are then computed with every named
variable, as tinyrpn draws them, and `declared` records tinyBIG's count; `tinybig_fails`
says why tinyBIG's own loader cannot make an equation's data, where it cannot.
(Not run by the tests, which read the JSON it writes.)
"""

import ast
import json
import sys
from pathlib import Path

import numpy as np
import sympy as sp

LISTS = {
    "elementary": ("function_dataloader.py", "Elementary_Function_Equations"),
    "composite": ("function_dataloader.py", "Composite_Function_Equations"),
    "feynman": ("feynman_dataloader.py", "Feynman_Equations"),
    "dimensionless_feynman": ("feynman_dataloader.py", "Dimensionless_Feynman_Equations"),
}


def read_list(path: Path, name: str) -> list[str]:
    """The strings of the tuple assigned to `name` in a Python file (parsed, not run)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return [element.value for element in node.value.elts]
    raise KeyError(name)


def parse(line: str) -> dict:
    fields = line.split(",")
    variables = []
    i = 5
    while i + 2 < len(fields) and fields[i] != "":
        variables.append([fields[i], float(fields[i + 1]), float(fields[i + 2])])
        i += 3
    return {"name": fields[0], "output": fields[2], "formula": fields[3],
            "declared": int(fields[4]), "variables": variables}


def tinybig_fails(entry: dict, point: np.ndarray) -> str | None:
    """Why tinyBIG 0.1.1's own loader cannot make this equation's data (None if it can): it
    sympifies the formula without naming the variables (so `gamma` is the Gamma function
    and `I` the imaginary unit) and keeps only the declared number of variables."""
    kept = entry["variables"][: entry["declared"]]
    try:
        fn = sp.lambdify(sp.symbols(" ".join(v[0] for v in kept)),
                         sp.sympify(entry["formula"]), "numpy")
        value = complex(fn(*point[: len(kept)]))
    except Exception as error:  # what tinyBIG would raise
        return f"{type(error).__name__}: {error}".splitlines()[0][:160]
    if value.imag != 0:
        return f"complex values ({value})"
    return None


def main(source: str, out_dir: str) -> None:
    folder = Path(source) / "tinybig" / "data"
    rng = np.random.default_rng(2024)
    reference = {}
    for family, (file, name) in LISTS.items():
        entries = []
        for line in read_list(folder / file, name):
            entry = parse(line)
            names = [v[0] for v in entry["variables"]]
            symbols = {n: sp.Symbol(n) for n in names}  # (`gamma`, `I` are variables here)
            fn = sp.lambdify(list(symbols.values()),
                             sp.sympify(entry["formula"], locals=symbols), "numpy")
            low = np.array([v[1] for v in entry["variables"]])
            high = np.array([v[2] for v in entry["variables"]])
            points = low + (high - low) * rng.uniform(0.05, 0.95, size=(3, len(names)))
            values = [float(fn(*p)) for p in points]
            entry["tinybig_fails"] = tinybig_fails(entry, points[0])
            entries.append({**entry, "points": points.tolist(), "values": values})
        reference[family] = entries
    path = Path(out_dir) / "tinybig_function_reference.json"
    path.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {path}: " + ", ".join(f"{k} {len(v)}" for k, v in reference.items()))


if __name__ == "__main__":
    main(*sys.argv[1:3])
