"""Measuring and comparing LPIPS backbones: architecture, speed, memory, behaviour, efficiency, deployment.

One module per idea: ``config`` (sizes per profile), ``machine``, ``timing``,
``architecture``, ``speed``, ``memory``, ``quality``, ``quantize``,
``efficiency``, ``recommend``, ``plots``, ``report``; ``ModelAnalyzer`` ties
them together and ``python -m lpips_edu.analysis`` runs them.
"""

from .analyzer import ModelAnalyzer, load_or_measure, results_dir
from .config import AnalysisConfig
from .machine import describe_machine, machine_line
from .recommend import Scenario, default_scenarios, recommend, recommendation_table

__all__ = [
    "ModelAnalyzer",
    "load_or_measure",
    "results_dir",
    "AnalysisConfig",
    "describe_machine",
    "machine_line",
    "Scenario",
    "default_scenarios",
    "recommend",
    "recommendation_table",
]
