"""How tinyrpn shows itself, in a terminal and in Jupyter: warnings, progress bars, figures.

- **Warnings** of tinyrpn (every one is a :class:`TinyrpnWarning`) print as one line,
  ``ConfigWarning: configs/x.yaml:3: device: 'cuda' is not available here ...``, instead of
  Python's two-line form that repeats the source line of the ``warnings.warn`` call. Other
  libraries' warnings keep their usual form.
- **Progress bars** (:func:`progress_bar`) are tqdm's widget bar in a notebook with
  ipywidgets, and a plain text bar elsewhere, including a notebook without ipywidgets (where
  ``tqdm.auto`` would warn "IProgress not found").
- **Figures** made by :mod:`tinyrpn.plot` appear once in a notebook cell whether the plot
  function is called in the middle of the cell or its figure is the cell's last value, with
  no ``%matplotlib inline`` (:func:`show_in_notebook`).

Nothing here imports IPython, matplotlib or tqdm until it is used.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = [
    "TinyrpnWarning", "figures_not_shown", "in_notebook", "progress_bar", "show_in_notebook",
]


class TinyrpnWarning(UserWarning):
    """The base of every warning tinyrpn issues (``ConfigWarning`` is one); printed as one
    line, ``ClassName: message``. Filter them all with
    ``warnings.simplefilter("ignore", tinyrpn.TinyrpnWarning)``."""


# ---------------------------------------------------------------------------- warnings


def _format_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    if isinstance(category, type) and issubclass(category, TinyrpnWarning):
        # The message already says where (a config's file and line, an op's name); the
        # source line of the warn() call inside tinyrpn would tell a user nothing.
        return f"{category.__name__}: {message}\n"
    return _format_warning.wrapped(message, category, filename, lineno, line)  # type: ignore[attr-defined]


def install_warning_format() -> None:
    """Print tinyrpn's warnings as one line (done once, when tinyrpn is imported)."""
    if getattr(warnings.formatwarning, "wrapped", None) is not None:
        return  # already installed (a re-import)
    _format_warning.wrapped = warnings.formatwarning  # type: ignore[attr-defined]
    warnings.formatwarning = _format_warning  # type: ignore[assignment]


# ---------------------------------------------------------------------------- notebooks


def _kernel_shell() -> Any:
    """The IPython shell of a Jupyter kernel we run in, or None (a script, a terminal
    IPython, which cannot show images)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (a notebook, JupyterLab, nbclient)."""
    return _kernel_shell() is not None


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm progress bar (same arguments as ``tqdm.tqdm``) fit for where it runs.

    In a notebook: tqdm's widget bar when ipywidgets can be imported, else a text bar on
    stdout (tqdm.auto would warn that IProgress is missing and print to stderr, which a
    notebook colours as an error). Elsewhere: tqdm's text bar on stderr.
    """
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401  (tqdm.notebook's bar is an ipywidgets widget)
        except ImportError:
            from tqdm.std import tqdm as text_bar

            kwargs.setdefault("file", sys.stdout)
            return text_bar(*args, **kwargs)
        return _widget_bar_class()(*args, **kwargs)
    from tqdm.std import tqdm as text_bar

    return text_bar(*args, **kwargs)


_widget_bar: Any = None


def _widget_bar_class() -> Any:
    """tqdm's notebook bar, made once (importing it imports ipywidgets)."""
    global _widget_bar
    if _widget_bar is not None:
        return _widget_bar
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_bar

    class WidgetBar(notebook_bar):
        """tqdm's widget bar whose text form is the final bar, not the first. A notebook
        viewer without the widgets (GitHub, a terminal) shows that text: tqdm leaves it at
        "0%", as it was when the bar was displayed; here closing the bar updates it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            show = kwargs.pop("display", True)
            super().__init__(*args, display=False, **kwargs)
            self._handle = None
            if show and not self.disable and self.delay <= 0:
                self._handle = display(self.container, display_id=True)
                self.displayed = True

        def close(self) -> None:
            super().close()
            handle, self._handle = getattr(self, "_handle", None), None
            if handle is None:
                return
            # The text from the bar itself: the container's repr goes through a weak proxy,
            # which is already dead when tqdm closes a bar from __del__.
            view = {"version_major": 2, "version_minor": 0,
                    "model_id": self.container.model_id}
            handle.update({"text/plain": self.format_meter(**self.format_dict),
                           "application/vnd.jupyter.widget-view+json": view}, raw=True)

    _widget_bar = WidgetBar
    return _widget_bar


# Figures waiting to be shown at the end of the cell that made them, unless the cell shows
# them itself (as its last value, or with display()).
_pending: list[Any] = []
_quiet = 0  # > 0 inside figures_not_shown(): figures written to files only
_hooked_shell: Any = None
NOTEBOOK_DPI = 72  # the pixels per inch of a figure shown in a notebook (smaller files)


def _png(fig: Any) -> bytes:
    fig._tinyrpn_shown = True
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=min(fig.dpi, NOTEBOOK_DPI), bbox_inches="tight")
    return buffer.getvalue()


def _show_pending(result: Any = None) -> None:
    waiting = [f for f in _pending if not getattr(f, "_tinyrpn_shown", False)]
    _pending.clear()
    if waiting:
        from IPython.display import display

        for fig in waiting:
            display(fig)


def show_in_notebook(fig: Any) -> Any:
    """Have ``fig`` appear in the notebook cell that made it, exactly once; outside a
    notebook, do nothing. ``fig`` is an instance of a subclass of matplotlib's ``Figure``
    made for this (``tinyrpn.plot.Figure``), not a pyplot figure.

    IPython shows a cell's last value, and whatever ``display()`` is given, through its PNG
    formatter; ours, registered for the subclass only, marks the figure as shown. After the
    cell has run, each figure it made that was not shown so is displayed. Figures of other
    classes keep matplotlib's formatter (inline backend), which is looked up after ours.
    """
    global _hooked_shell
    shell = _kernel_shell() if not _quiet else None
    if shell is None:
        return fig
    if _hooked_shell is not shell:
        shell.events.register("post_run_cell", _show_pending)
        _hooked_shell = shell
    png = shell.display_formatter.formatters["image/png"]
    if type(fig) not in png.type_printers:
        png.for_type(type(fig), _png)
    _pending.append(fig)
    return fig


@contextlib.contextmanager
def figures_not_shown() -> Iterator[None]:
    """Figures made inside are not shown in the notebook: for the curves the Trainer and the
    sweep write to their run directories, which a notebook did not ask to see."""
    global _quiet
    _quiet += 1
    try:
        yield
    finally:
        _quiet -= 1
