"""python -m lpips_edu COMMAND ...: one entry point, one line per command.

Each entry names a function ``add(subparsers)`` that adds the command's parser
and sets ``func`` (called with the parsed arguments, returns the exit code).
To add a command, add one line here; its module is imported only when needed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "compare": "lpips_edu.cli.compare_command:add_compare_command",
    "weights": "lpips_edu.cli.weights_command:add_weights_command",
    "observers": "lpips_edu.cli.observers_command:add_observers_command",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lpips_edu", description="lpips-edu command line")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for target in COMMANDS.values():
        module, function = target.split(":")
        getattr(importlib.import_module(module), function)(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
