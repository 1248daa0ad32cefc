"""The assignments by id, and grading one from a notebook's namespace."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from . import a1_architecture, a2_lpips, a3_training, a4_tradeoff, a5_calibration, a6_attack
from .report import Report

ASSIGNMENTS: dict[str, ModuleType] = {
    "a1": a1_architecture,
    "a2": a2_lpips,
    "a3": a3_training,
    "a4": a4_tradeoff,
    "a5": a5_calibration,
    "a6": a6_attack,
}


def grade_namespace(assignment: str, namespace: Mapping) -> Report:
    """Run every check of ``assignment`` ("a1" ... "a6") on a notebook's ``globals()``."""
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; choose one of {', '.join(ASSIGNMENTS)}")
    return ASSIGNMENTS[assignment].grade(namespace)
