"""Drop duplicated inline scripts from every page.

With Sphinx 7, sphinx-thebe registers its inline configuration script
(``const THEBE_JS_URL = ...``) a second time with ``filename=None`` instead of ``""``, so each
page declares the same ``const`` twice and the browser reports a SyntaxError.
Identical scripts are removed here, once, for every page.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _dedupe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    # The copies differ in how "no file" is spelled (None or ""), which defeats Sphinx's own
    # de-duplication; compare the file name, normalised, and the attributes.
    seen, unique = set(), []
    for script in sorted(scripts, key=lambda js: getattr(js, "priority", 500)):
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: the same list object is the builder's, which later handlers and the template read.
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    # Early: Sphinx stops calling html-page-context handlers once one returns a template name.
    app.connect("html-page-context", _dedupe, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
