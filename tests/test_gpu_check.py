"""``benchmarks/gpu_check.py --dry-run``: the prepared GPU check runs its CPU code paths here, CUDA skipped.

No GPU has run the script yet (README); this keeps it runnable until one does:
every check that can run on a CPU runs at tiny sizes and passes, and the CUDA-only
ones say they were skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
NO_GPU = {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}


def test_the_dry_run_passes_every_cpu_check_and_says_cuda_is_skipped(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--json", str(out)], cwd=tmp_path,
                            env={**os.environ, **NO_GPU}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "DRY RUN on the CPU" in result.stdout and "CUDA is skipped" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP")]
    payload = json.loads(out.read_text())
    statuses = {r["name"]: r["status"] for r in payload["results"]}
    assert payload["dry_run"] and len(lines) == len(payload["results"]) == len(statuses)  # one line, one name each
    assert payload["counts"]["FAIL"] == 0 and payload["counts"]["PASS"] >= 30, payload["counts"]
    for cuda_only in ("lpips.alex.tf32_gap", "compile.alex_forward_features", "train.torchrun_2_processes_one_gpu"):
        assert statuses[cuda_only] == "SKIP"
    for covered in ("lpips.alex.fp32_vs_cpu.64px", "folders.torchrun_2_processes_cpu",
                    "train.steps.amp_fp16.channels_last", "train.resume.bf16_checkpoint_into_fp16",
                    "train.gpu_profile_first_steps_offline", "export.torchscript_from_the_device",
                    "calibrate.cache_and_heads_on_the_device"):
        assert statuses[covered] == "PASS", covered


def test_without_cuda_the_full_run_refuses_and_names_the_dry_run(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--json", str(tmp_path / "x.json")], cwd=tmp_path,
                            env={**os.environ, **NO_GPU}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--dry-run" in result.stderr
    assert not (tmp_path / "x.json").exists()
