"""python -m lpips_edu.analysis [--profile smoke|cpu|gpu] [--out DIR] [--efficiency] [--models a,b]

Measures every backbone, saves CSV/JSON (with the machine) and a Markdown report with figures.
"""

from __future__ import annotations

import argparse

from ..chapters.plotting import use_book_style
from ..profiles import get_profile
from .analyzer import ModelAnalyzer
from .config import AnalysisConfig
from .machine import machine_line
from .markdown_report import write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lpips_edu.analysis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="auto", help="smoke, cpu, gpu or auto (default)")
    parser.add_argument("--out", default="runs/analysis", help="output folder (default runs/analysis)")
    parser.add_argument("--models", default=None, help="comma-separated registry names (default: the three LPIPS nets)")
    parser.add_argument("--efficiency", action="store_true", help="also time precisions, int8, ONNX")
    parser.add_argument("--compile", action="store_true", help="include torch.compile (slow to compile)")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    config = AnalysisConfig.from_profile(profile)
    if args.models:
        config = config.replace(models=tuple(m.strip() for m in args.models.split(",")), efficiency_models=None)
    if args.compile:
        config = config.replace(compile=True)
    analyzer = ModelAnalyzer(config)
    print(machine_line(analyzer.machine))
    use_book_style()
    analyzer.run()
    if args.efficiency:
        analyzer.efficiency()
    analyzer.save(args.out)
    print(f"report: {write_report(analyzer, args.out)}")
    print(analyzer.recommendations().to_string())


if __name__ == "__main__":
    main()
