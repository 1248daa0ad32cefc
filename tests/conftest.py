"""Test-wide settings: every notebook and kernel started by the tests runs the smoke profile."""

from __future__ import annotations

import os
from pathlib import Path

# Set before any kernel starts (papermill and nbval kernels inherit the environment).
os.environ["LPIPS_EDU_PROFILE"] = "smoke"
os.environ.setdefault("MPLBACKEND", "Agg")
# Book-trained checkpoints written by notebook runs in the tests go to a throwaway folder.
os.environ.setdefault("LPIPS_EDU_RUNS", str(Path(os.environ.get("TMPDIR", "/tmp")) / "lpips-edu-test-runs"))

