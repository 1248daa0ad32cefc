"""The files behind the book's "Be the observer" page, and the container its script fills.

The experiment is static: ``book/_static/observer.js`` and ``observer.css`` (plain
JavaScript and CSS, no framework) read ``observer/set.json`` and show the PNG
patches next to it; the reader's answers stay in the browser until they download
them. Nothing is fetched from another site and nothing is sent anywhere.

Where the files go: Sphinx copies ``html_static_path`` (``book/_static``, set in
``_config.yml``) into ``_build/html/_static`` when it finishes the build, after
every notebook has run. So the page's notebook writes them to
``book/_static/observer/`` (generated, gitignored) and they land in
``_build/html/_static/observer/``, next to the script. The folder is written
whole into a temporary sibling and swapped into place, so the images and the
``set.json`` that describes them always belong together.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

from PIL import Image

from ..data import to_image
from .answers import MetricAnswers, set_json
from .observer_set import ObserverSet

FOLDER = "observer"  # under _static
ROLES = ("ref", "p0", "p1")


def write_page_files(folder: str | os.PathLike, observer_set: ObserverSet,
                     metrics: dict[str, MetricAnswers]) -> dict:
    """Write every patch as a PNG and ``set.json`` into ``folder`` (replaced as a whole); the set's record."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = []
    for i, t in enumerate(observer_set.triplets):
        names = {role: f"{t['id']}_{role}.png" for role in ROLES}
        for role in ROLES:
            image = getattr(observer_set, role)[i : i + 1]
            Image.fromarray(to_image(image)).save(staging / names[role], optimize=True)
        files.append(names)
    record = set_json(observer_set, metrics, files)
    (staging / "set.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return record


def experiment_html(version: str, static_url: str = "../_static") -> str:
    """The page's container: the script replaces its text with the experiment.

    ``static_url`` is ``_static`` as seen from the page (``notebooks/`` is one level down).
    """
    data = html.escape(f"{static_url}/{FOLDER}/", quote=True)
    return (
        f'<link rel="stylesheet" href="{static_url}/observer.css?v={version}">\n'
        f'<div class="lpips-observer" data-folder="{data}" data-version="{html.escape(version)}">\n'
        '<p class="lpo-fallback">The experiment runs in the published book, in your browser, '
        "with JavaScript on (open this page there: <code>_build/html/notebooks/"
        "06b_be_the_observer.html</code> after <code>make book</code>).</p>\n"
        "</div>\n"
        f'<script src="{static_url}/observer.js?v={version}"></script>\n'
    )


def folder_size(folder: str | os.PathLike) -> tuple[int, int]:
    """``(number of files, bytes)`` in a folder."""
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)
