"""tinyrpn at home in a terminal and in Jupyter (tinyrpn.display): warnings print as one line,
progress bars fit where they run, plot figures appear once in a notebook cell.

The notebook checks build a small notebook here and execute it in a real kernel (nbclient),
as Jupyter would run it (no ``%matplotlib inline``, no MPLBACKEND).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import tinyrpn
from tinyrpn import display

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_tutorials", ROOT / "scripts" /
                                               "run_tutorials.py")
run_tutorials = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_tutorials)

SOFTMAX_WARNING = ("TinyrpnWarning: softmax: implicit dim is deprecated; using dim=0. Pass dim "
                   "explicitly.\n")


def test_tinyrpn_warnings_print_as_one_line_and_others_as_before():
    code = ("import warnings, tinyrpn\n"
            "tinyrpn.nn.functional.softmax(tinyrpn.ones(3))\n"
            "warnings.warn('from another library', UserWarning)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(SOFTMAX_WARNING)
    # Python's own form for the rest: where the warning was issued, then its category
    assert done.stderr[len(SOFTMAX_WARNING):] == (
        "<string>:3: UserWarning: from another library\n")


def test_every_tinyrpn_warning_class_is_a_tinyrpn_warning():
    from tinyrpn.config import ConfigWarning

    assert issubclass(ConfigWarning, tinyrpn.TinyrpnWarning)
    assert issubclass(tinyrpn.TinyrpnWarning, UserWarning)  # filters on UserWarning still work
    with pytest.warns(tinyrpn.TinyrpnWarning, match="zero-element"):
        tinyrpn.nn.init.kaiming_uniform_(tinyrpn.zeros(0, 3))


def test_progress_bar_outside_a_notebook_is_a_text_bar():
    from tqdm.std import tqdm

    bar = display.progress_bar(total=3, disable=True)
    assert type(bar) is tqdm and not display.in_notebook()


CELLS = {
    "setup": "import sys\nfrom pathlib import Path\nimport numpy as np\nimport tinyrpn\n"
             "from tinyrpn import plot",
    "called mid-cell": "fig = plot.plot_confusion_matrix(np.eye(3))\nprint('after the plot')",
    "last value": "plot.plot_confusion_matrix(np.eye(3))",
    "display()": "from IPython.display import display\n"
                 "fig = plot.plot_confusion_matrix(np.eye(2))\ndisplay(fig)",
    "graph": "a = tinyrpn.tensor(2.0, requires_grad=True)\nplot.draw_graph(a * a + 1.0)",
    "one epoch": "h = tinyrpn.train.History(epoch=[1], steps=[10], train_loss=[0.5], "
                 "train_acc=[0.8], test_loss=[0.6], test_acc=[0.7])\nplot.plot_runs([h])",
    "pyplot too": "import matplotlib.pyplot as plt\nfig = plot.plot_confusion_matrix(np.eye(3))\n"
                  "plt.plot([1, 2, 3])\nplt.show()",
    "two figures": "for k in (2, 3):\n    plot.plot_confusion_matrix(np.eye(k))",
    # notebooks written before this worked start with it; each figure must still show once
    "with %matplotlib inline": "%matplotlib inline\nplot.plot_confusion_matrix(np.eye(3))",
    "mid-cell, inline": "fig = plot.plot_confusion_matrix(np.eye(3))\nprint('after')",
    "assigned": "fig = plot.plot_confusion_matrix(np.eye(3))",
    "warning": "_ = tinyrpn.nn.functional.softmax(tinyrpn.ones(3))",
    # a run directory's curves (and a sweep's plots) are files, not the cell's output
    "trainer files": "import tempfile\nfrom tinyrpn import nn, optim\n"
                     "from tinyrpn.experiments.subspace_sweep import plot_sweep\n"
                     "from tinyrpn.train import Trainer\n"
                     "run = Path(tempfile.mkdtemp())\nnet = nn.Linear(4, 2)\n"
                     "batch = [(tinyrpn.randn(8, 4), tinyrpn.tensor([0, 1] * 4))]\n"
                     "sgd = optim.SGD(net.parameters())\n"
                     "Trainer(net, batch, batch, nn.CrossEntropyLoss(), sgd, epochs=1,\n"
                     "        out_dir=run, progress=False).fit()\n"
                     "plot_sweep([{'dim': 3, 'run_dir': str(run)}], run / 'sweep')\n"
                     "print(sorted(p.relative_to(run).as_posix() for p in run.rglob('*.png')))",
    "widget bar": "for _ in tinyrpn.display.progress_bar(range(3), desc='widget'):\n    pass",
    "trainer": "import json\nfrom tinyrpn import nn, optim, data, train\ntinyrpn.manual_seed(0)\n"
               "x, y = np.random.rand(32, 4).astype('float32'), np.arange(32) % 2\n"
               "model = nn.Linear(4, 2)\nloader = data.DataLoader(x, y, batch_size=8)\n"
               "train.Trainer(model, loader, loader, nn.CrossEntropyLoss(), optim.SGD("
               "model.parameters(), lr=0.1), epochs=1, out_dir='run').fit()\n"
               "print(json.load(open('run/results.json'))['command'])",
    "text bar": "sys.modules['ipywidgets'] = None  # as if ipywidgets were not installed\n"
                "for _ in tinyrpn.display.progress_bar(range(3), desc='text'):\n    pass",
}
IMAGES = {"called mid-cell": 1, "last value": 1, "display()": 1, "graph": 1, "one epoch": 1,
          "pyplot too": 2, "two figures": 2, "with %matplotlib inline": 1,
          "mid-cell, inline": 1, "assigned": 1, "setup": 0, "warning": 0,
          "widget bar": 0, "text bar": 0, "trainer": 0, "trainer files": 0}


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict[str, list]:
    """The outputs of each cell of CELLS, run in one fresh kernel."""
    folder = tmp_path_factory.mktemp("nb")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS.values()]
    path = folder / "display.ipynb"
    nbformat.write(nb, path)
    done, _ = run_tutorials.execute(path, cwd=folder, timeout=300)
    return {name: cell.outputs for name, cell in zip(CELLS, done.cells)}


def _images(outputs: list) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def _text(outputs: list, stream: str) -> str:
    return "".join(o["text"] for o in outputs
                   if o["output_type"] == "stream" and o["name"] == stream)


@pytest.mark.parametrize("cell", list(IMAGES))
def test_a_notebook_shows_each_plot_once_without_matplotlib_inline(executed, cell):
    outputs = executed[cell]
    assert not [o for o in outputs if o["output_type"] == "error"], outputs
    assert _images(outputs) == IMAGES[cell], [o.get("data", o).keys() for o in outputs]


def test_a_figure_called_mid_cell_comes_after_the_cells_printing(executed):
    kinds = [o["output_type"] for o in executed["called mid-cell"]]
    assert kinds == ["stream", "display_data"]


def test_a_notebook_keeps_the_files_of_a_run_and_a_sweep_out_of_the_cell(executed):
    files = "['accuracy.png', 'loss.png', 'sweep/accuracy.png', 'sweep/loss.png']\n"
    assert _text(executed["trainer files"], "stdout") == files


def test_a_notebook_prints_tinyrpn_warnings_as_one_line(executed):
    assert _text(executed["warning"], "stderr") == SOFTMAX_WARNING


def test_a_notebook_progress_bar_never_warns(executed):
    widget = executed["widget bar"]
    view = "application/vnd.jupyter.widget-view+json"
    (shown,) = [o for o in widget if view in o.get("data", {})]
    # what a viewer without widgets shows: the finished bar (tqdm alone would leave "0%")
    assert shown["data"]["text/plain"].startswith("widget: 100%")
    assert _text(widget, "stderr") == ""
    text = executed["text bar"]
    assert _text(text, "stderr") == ""  # no TqdmWarning "IProgress not found"
    bar = _text(text, "stdout")
    assert "text: 100%" in bar and "3/3" in bar and "Warning" not in bar


def test_a_run_from_a_notebook_records_no_kernel_command_line(executed):
    # results.json's "command" would otherwise be the kernel's argv: a connection file's path
    assert _text(executed["trainer"], "stdout").splitlines()[-1] == "(a Jupyter notebook)"
    assert _text(executed["trainer"], "stderr") == ""
