"""What an executed notebook must look like to read well in the book (shared by the chapter and assignment tests)."""

from __future__ import annotations

LONG_OUTPUT_LINES = 20  # under the smoke profile; the cpu profile's outputs are longer still
SCROLL_TAGS = {"scroll-output", "hide-output", "output_scroll"}


def output_lines(cell) -> int:
    """Lines of text a reader scrolls past: streams, plain-text results and HTML table rows."""
    lines = 0
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            lines += out.get("text", "").count("\n")
        elif "text/html" in data:
            lines += data["text/html"].count("<tr")
        elif "text/plain" in data and "image/png" not in data:
            lines += data["text/plain"].count("\n")
    return lines


def reading_problems(executed) -> list[str]:
    """Figures without alt text and long outputs that do not scroll, by cell index."""
    undescribed, long_outputs = [], []
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        if any("image/png" in out.get("data", {}) for out in cell.get("outputs", [])) and not (
            cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
        ):
            undescribed.append(index)
        if output_lines(cell) > LONG_OUTPUT_LINES and not SCROLL_TAGS & set(cell.metadata.get("tags", [])):
            long_outputs.append(index)
    problems = []
    if undescribed:
        problems.append(
            f"code cells {undescribed} draw figures without alt text: set the cell metadata "
            '{"mystnb": {"image": {"alt": "..."}}} (and a "figure": {"caption": ...} for a single-figure cell)'
        )
    if long_outputs:
        problems.append(f"code cells {long_outputs} print long outputs: tag them scroll-output (or hide-output)")
    return problems
