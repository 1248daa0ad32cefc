"""``python -m lpips_edu observers score FILES...``: a class's judgements, scored like BAPPS.

    python -m lpips_edu observers score judgements/*.json
    python -m lpips_edu observers score judgements/*.json --set _build/html/_static/observer/set.json

FILES are the JSON files that readers saved on the book's "Be the observer" page
(one per reader). Each triplet's judgement ``h`` is the fraction of the readers
who chose p1, as in BAPPS; every metric gets its 2AFC score against these ``h``
with a 95% bootstrap interval, and two numbers frame them: the ceiling no metric
can pass against these judgements, and how often two readers agree with each
other (``lpips_edu.observers.answers``).

``--set`` takes the ``set.json`` of the book the readers used, so the metrics
are scored with the answers that page showed. Without it the set is rebuilt
from the package and the metrics are computed on this machine (the report names
the weights each one used).
"""

from __future__ import annotations

import argparse
import sys


def add_observers_command(subparsers) -> None:
    """Register ``observers`` (see the module docstring)."""
    p = subparsers.add_parser("observers", help="score metrics against readers' 2AFC judgements",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    score = actions.add_parser("score", help="2AFC score of every metric against judgement files")
    score.add_argument("files", nargs="+", metavar="FILE", help="judgement files saved by the page")
    score.add_argument("--set", dest="set_json", metavar="SET.json",
                       help="the page's set.json (default: rebuild the set and compute the metrics here)")
    score.add_argument("--skip-duplicates", action="store_true",
                       help="leave out a file that repeats an earlier one instead of stopping")
    score.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    score.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of random backbones")
    score.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    from ..observers.agreement import score_report
    from ..observers.answers import answered_set, load_set_json
    from ..observers.judgements import read_judgements

    try:
        answered = load_set_json(args.set_json) if args.set_json else answered_set(seed=args.seed)
        judgements = read_judgements(args.files, answered, skip_duplicates=args.skip_duplicates)
        print(score_report(judgements, answered, args.resamples, args.seed))
    except (OSError, ValueError) as exc:  # JudgementFileError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
