"""A Markdown report of a finished analysis: machine, tables, figures, recommendations.

Every sentence with a number is generated from the tables, so the report can
never disagree with the measurements it sits next to.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

from ..io import write_text_atomic
from . import plots
from .analyzer import ModelAnalyzer
from .machine import machine_line


def _figure(fig, folder: Path, name: str) -> str:
    fig.savefig(folder / f"{name}.png", bbox_inches="tight")
    plt.close(fig)
    return f"![{name}]({name}.png)\n"


def write_report(analyzer: ModelAnalyzer, folder: str | os.PathLike) -> Path:
    """Write ``report.md`` and its PNG figures into ``folder`` (after ``analyzer.save``-able results)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    r, c = analyzer.results, analyzer.config
    lines = ["# Comparing LPIPS backbones", "", f"Machine: {machine_line(analyzer.machine)}", ""]
    lines += [f"- {name}: {what}" for name, what in analyzer.backbones().items()] + [""]
    if "architecture" in r:
        lines += ["## Architecture", "", r["architecture"].round(3).to_markdown(), ""]
    if "speed" in r:
        lines += ["## Speed", "", _figure(plots.plot_speed(r["speed"], c.image_size), folder, "speed")]
        fastest = r["speed"].query("mode == 'lpips' and batch == 1 and size == @c.image_size")
        lines += [f"Fastest LPIPS at batch 1, {c.image_size} px: "
                  f"{fastest.loc[fastest['median_ms'].idxmin(), 'model']}.", ""]
    if "memory" in r:
        lines += ["## Memory", "", _figure(plots.plot_memory(r["memory"], r["memory_fit"].set_index(["model", "mode"])),
                                           folder, "memory"), r["memory_fit"].round(3).to_markdown(index=False), ""]
    if "sweep" in r:
        lines += ["## LPIPS behaviour", "", _figure(plots.plot_sensitivity(r["sweep"]), folder, "sensitivity"),
                  _figure(plots.plot_layer_heatmaps(r["sweep"]), folder, "layers"),
                  r["agreement_spearman"].round(3).to_markdown(index=False), "",
                  r["two_afc"].round(3).to_markdown(index=False), ""]
    if all(k in r for k in ("architecture", "speed", "memory", "two_afc")):
        cand = analyzer.candidates()
        lines += ["## Recommendations", "", _figure(plots.plot_pareto(cand), folder, "pareto"),
                  cand.round(3).to_markdown(), "", analyzer.recommendations().to_markdown(), ""]
    if "efficiency" in r:
        lines += ["## Efficiency options", "", _figure(plots.plot_efficiency(r["efficiency"]), folder, "efficiency"),
                  r["efficiency"].round(4).to_markdown(index=False), ""]
    path = folder / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path
