"""Serve MathJax from the book itself instead of a CDN.

Sphinx points ``mathjax_path`` at a CDN by default, so formulas stay raw TeX
when the book is read offline (a laptop on a train, a course machine without
internet, our browser tests). The ``django-static-mathjax`` wheel ships the
MathJax 3 distribution; this extension copies the parts a page needs into
``_static/mathjax`` and points Sphinx there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

# The combined component Sphinx loads, plus what it loads lazily (fonts, TeX extensions, menu).
PARTS = ["tex-mml-chtml.js", "output", "input", "ui", "a11y", "adaptors"]
TARGET = "mathjax"


def _distribution() -> Path:
    import mathjax  # installed by the django-static-mathjax wheel

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _use_local_copy(app: Sphinx, config) -> None:
    config.mathjax_path = f"{TARGET}/tex-mml-chtml.js"


def _copy_distribution(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = _distribution(), Path(app.outdir) / "_static" / TARGET
    for part in PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        elif src.is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)


def setup(app: Sphinx) -> dict:
    _distribution()  # fail at start-up, not after executing every notebook, if MathJax is missing
    app.connect("config-inited", _use_local_copy)
    app.connect("build-finished", _copy_distribution)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
