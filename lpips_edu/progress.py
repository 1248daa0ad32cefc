"""Progress bars that suit where the code runs.

In JupyterLab a live widget bar is what a reader wants; in a terminal, a text
bar. A page of the published book is different: it is executed once, without a
browser, and a widget bar would be saved as a widget the static page cannot
draw (and a text bar as hundreds of carriage-return updates). So the book
build sets ``LPIPS_EDU_PROGRESS=final`` (the Makefile does) and every bar then
prints exactly one line when it finishes - the same line tqdm would leave
behind, with the elapsed time and rate that the reader may want to compare with
their own machine.

``LPIPS_EDU_PROGRESS``: ``auto`` (default: ``tqdm.auto``), ``final`` (one line
per finished bar that is left on screen), ``off`` (no bars).
"""

from __future__ import annotations

import io
import os
import sys

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.std import tqdm as _text_tqdm

MODES = ("auto", "final", "off")
ENV = "LPIPS_EDU_PROGRESS"


def progress_mode() -> str:
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV}={mode!r} is not one of {', '.join(MODES)}")
    return mode


class FinalLineBar(_text_tqdm):
    """A tqdm that draws nothing while it runs and prints its last state once, on stdout.

    Bars created with ``leave=False`` (inner loops) print nothing at all, as
    they would vanish from a terminal too.
    """

    def __init__(self, *args, **kwargs):
        kwargs["file"] = io.StringIO()  # the running display goes nowhere
        kwargs["dynamic_ncols"] = False  # a fixed 10-character bar, the rest of the line uncut
        kwargs["ncols"] = None
        kwargs.setdefault("ascii", False)  # a StringIO has no encoding; the page is UTF-8
        kwargs["mininterval"] = float("inf")
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        if self.disable:  # already closed, or created disabled
            return
        line = self.format_meter(**self.format_dict) if self.leave else None
        super().close()
        if line:
            print(line, file=sys.stdout, flush=True)


def progress_bar(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` in the form that suits ``LPIPS_EDU_PROGRESS``."""
    mode = progress_mode()
    if mode == "off":
        kwargs["disable"] = True
    bar = FinalLineBar if mode == "final" else _auto_tqdm
    return bar(iterable, **kwargs)
