"""``ModelAnalyzer``: one entry point that measures, tabulates, saves and reports the comparison.

>>> from lpips_edu.analysis import ModelAnalyzer
>>> a = ModelAnalyzer.from_profile("smoke")
>>> a.run()                        # architecture, speed, memory, quality (efficiency: a.efficiency())
>>> a.recommendations()            # computed from the measured candidates
>>> a.save("runs/analysis/smoke")  # CSV + JSON with the machine description

Every measurement is a method returning a DataFrame and kept in
``self.results``, so a chapter can run only what it shows. Every row says the
device it was computed on (``device``): speed and memory on the analyzer's
device, the quality and efficiency tables where their metrics run (the CPU:
int8 and onnxruntime have no GPU path here), so a table is never labelled with
a GPU it did not use. ``machine["device"]`` is the analyzer's device.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import torch

from ..io import write_text_atomic
from ..paths import shown
from ..profiles import Profile, get_profile
from . import architecture, efficiency, memory, quality, recommend, speed
from .config import AnalysisConfig
from .machine import describe_machine
from .metrics import analysed_backbone, make_lpips


class ModelAnalyzer:
    """Measures every backbone of ``config.models`` on one machine; results in ``self.results``."""

    def __init__(self, config: AnalysisConfig | None = None, device: torch.device | str | None = None,
                 progress: bool = True) -> None:
        self.config = config or AnalysisConfig()
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.progress = progress
        self.machine = describe_machine(self.device)
        self.results: dict[str, pd.DataFrame] = {}

    @classmethod
    def from_profile(cls, profile: str | Profile = "auto", **kwargs) -> "ModelAnalyzer":
        p = profile if isinstance(profile, Profile) else get_profile(profile)
        return cls(AnalysisConfig.from_profile(p), **kwargs)

    def backbones(self) -> dict[str, str]:
        """Which weights each network uses (ImageNet, book-trained or random), to state on the page."""
        return {name: analysed_backbone(name, self.config.seed).description for name in self.config.models}

    # -------------------------------------------------------------- measurements
    def architecture(self) -> pd.DataFrame:
        c = self.config
        self.results["architecture"] = architecture.architecture_table(c.models, c.flop_sizes)
        self.results["taps"] = architecture.tap_table(c.models, c.image_size).reset_index()
        self.results["layers"] = architecture.layer_parameters(c.models, c.image_size)
        return self.results["architecture"]

    def speed(self) -> pd.DataFrame:
        self.results["speed"] = speed.speed_table(self.config, self.device, self.progress)
        return self.results["speed"]

    def memory(self) -> pd.DataFrame:
        metrics = {n: make_lpips(n, self.config.seed).to(self.device) for n in self.config.models}
        table = memory.memory_table(metrics, self.config.memory_sizes, self.device)
        self.results["memory"] = table
        self.results["memory_fit"] = memory.fit_scaling(table).reset_index()
        return table

    def quality(self) -> pd.DataFrame:
        sweep = quality.distortion_sweep(self.config, self.progress)
        self.results["sweep"] = sweep
        for method in ("spearman", "kendall"):
            self.results[f"agreement_{method}"] = quality.rank_agreement(sweep, method).reset_index()
        return self.two_afc()

    def two_afc(self) -> pd.DataFrame:
        """Only the 2AFC proxy score of ``quality`` (no distortion sweep): the quality axis of a trade-off."""
        self.results["two_afc"] = quality.two_afc_table(self.config, self.progress)[0].reset_index()
        return self.results["two_afc"]

    def weights_effect(self, name: str = "alexnet") -> pd.DataFrame:
        """``quality.weights_effect``: ``name``'s LPIPS with each kind of weights present, on the same items."""
        self.results["weights_effect"] = quality.weights_effect(self.config, name, self.progress).reset_index()
        return self.results["weights_effect"]

    def efficiency(self) -> pd.DataFrame:
        self.results["efficiency"] = efficiency.efficiency_table(self.config, self.progress)
        return self.results["efficiency"]

    def run(self, parts=("architecture", "speed", "memory", "quality")) -> "ModelAnalyzer":
        for part in parts:
            getattr(self, part)()
        return self

    # -------------------------------------------------------------- derived tables
    def candidates(self) -> pd.DataFrame:
        """One row per network with the columns ``recommend`` reads, all taken from measured tables."""
        needed = [k for k in ("architecture", "speed", "memory", "two_afc") if k not in self.results]
        if needed:
            raise ValueError(f"measure {needed} first (e.g. analyzer.run())")
        arch, sp = self.results["architecture"], self.results["speed"]
        mem, afc = self.results["memory"], self.results["two_afc"].set_index("metric")
        lp = sp[sp["mode"] == "lpips"]
        size = self.config.image_size
        rows = []
        for name in self.config.models:
            one = lp[(lp["model"] == name) & (lp["batch"] == 1) & (lp["size"] == size)]
            at_size = lp[(lp["model"] == name) & (lp["size"] == size)]
            m = mem[(mem["model"] == name) & (mem["mode"] == "lpips")]
            m = m.iloc[(m["size"] - size).abs().argsort()[:1]]
            rows.append({
                "model": name,
                "latency_ms": float(one["median_ms"].iloc[0]),
                "throughput": float(at_size["items_per_s"].max()),
                "best_batch": int(at_size.loc[at_size["items_per_s"].idxmax(), "batch"]),
                "memory_mb": float(m["peak_mb"].iloc[0] + m["weights_mb"].iloc[0]),
                "file_mb": float(arch.at[name, "mb_features_fp32"]),
                "quality": float(afc.at[name, "two_afc"]),
                "ci_low": float(afc.at[name, "ci_low"]),
                "ci_high": float(afc.at[name, "ci_high"]),
                "weights": analysed_backbone(name, self.config.seed).weights,
            })
        return pd.DataFrame(rows).set_index("model")

    def recommendations(self, scenarios=None) -> pd.DataFrame:
        return recommend.recommendation_table(self.candidates(), scenarios)

    def tidy(self) -> pd.DataFrame:
        """Every numeric result in one long table: ``table, model, key, measure, value``."""
        frames = []
        for table, df in self.results.items():
            df = df.reset_index() if df.index.name else df
            model_col = "model" if "model" in df else ("metric" if "metric" in df else None)
            numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and c not in ("index",)]
            keys = [c for c in df.columns if c not in numeric and c != model_col]
            as_text = df[keys].apply(lambda col: col.map(lambda v: "" if pd.isna(v) else str(v)))
            long = df.drop(columns=["model"], errors="ignore").assign(key=as_text.agg("|".join, axis=1) if keys else "",
                             model=df[model_col] if model_col else "")
            long = long[["model", "key", *numeric]].melt(id_vars=["model", "key"], var_name="measure",
                                                         value_name="number").rename(columns={"number": "value"})
            frames.append(long.assign(table=table))
        return pd.concat(frames, ignore_index=True)[["table", "model", "key", "measure", "value"]]

    # -------------------------------------------------------------- saving
    def save(self, folder: str | os.PathLike) -> Path:
        """CSV per table, ``tidy.csv``, and ``results.json`` (machine, config, backbones, every table)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in self.results.items():
            write_text_atomic(folder / f"{name}.csv", df.to_csv())
        write_text_atomic(folder / "tidy.csv", self.tidy().to_csv(index=False))
        tables = {k: json.loads(v.reset_index().to_json(orient="records")) for k, v in self.results.items()}
        payload = {"machine": self.machine, "config": self.config.__dict__, "backbones": self.backbones(),
                   "tables": tables}
        write_text_atomic(folder / "results.json", json.dumps(payload, indent=1, default=str))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "ModelAnalyzer":
        """An analyzer holding the tables saved by ``save`` (the machine is the one that measured)."""
        payload = json.loads((Path(folder) / "results.json").read_text())
        config = payload["config"]
        config = AnalysisConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
        out = cls(config, progress=False)
        out.machine = payload["machine"]
        index = {"architecture": "model"}
        for name, records in payload["tables"].items():
            df = pd.DataFrame(records).drop(columns=["index"], errors="ignore")
            out.results[name] = df.set_index(index[name]) if name in index else df
        return out


def results_dir(profile_name: str) -> Path:
    """Where a chapter saves its analysis: ``<runs>/analysis/<profile>`` (``$LPIPS_EDU_RUNS`` or ``<repo>/runs``)."""
    from ..paths import runs_dir

    return runs_dir() / "analysis" / profile_name


def load_or_measure(
    folder: str | os.PathLike,
    config: AnalysisConfig,
    parts=("architecture", "speed", "memory", "quality"),
    progress: bool = True,
) -> tuple[ModelAnalyzer, str]:
    """Reuse a saved analysis when it was measured here (same machine, torch, sizes); else measure and save.

    Returns the analyzer and a sentence saying which happened, for the page.
    """
    folder = Path(folder)
    fresh = ModelAnalyzer(config, progress=progress)
    if (folder / "results.json").is_file():
        try:
            saved = ModelAnalyzer.load(folder)
        except (ValueError, KeyError, TypeError) as exc:
            saved, why = None, f"unreadable ({exc})"
        if saved is not None:
            same_machine = all(
                saved.machine.get(k) == fresh.machine.get(k)
                for k in ("cpu", "cpu_cores", "torch_threads", "torch", "device")
            )
            if (
                saved.config == config
                and same_machine
                and all(p in saved.results or p == "quality" and "two_afc" in saved.results for p in parts)
            ):
                return saved, f"reused the measurements saved in {shown(folder)} (same machine, torch and sizes)"
            why = "measured on another machine or with other sizes"
    else:
        why = "none saved yet"
    fresh.run(parts)
    fresh.save(folder)
    return fresh, f"measured now ({why}) and saved to {folder}"
