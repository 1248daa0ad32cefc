"""The comparison's figures: cost, speed, Pareto front, sensitivity curves, per-layer heatmaps, memory.

Each function takes the tables ``ModelAnalyzer`` measured and returns a
matplotlib figure with labelled axes and units (call
``lpips_edu.chapters.plotting.use_book_style()`` first). Nothing here measures.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter


def _colors(models) -> dict[str, str]:
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: palette[i % len(palette)] for i, m in enumerate(models)}


def plot_cost(arch: pd.DataFrame, candidates: pd.DataFrame, size: int = 224):
    """Parameters, FLOPs and measured LPIPS latency side by side: three different rankings."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
    models = list(arch.index)
    colors = [_colors(models)[m] for m in models]
    panels = [
        (arch["params_total"] / 1e6, "parameters (millions)"),
        (arch[f"gflops_features_{size}px"], f"backbone GFLOPs per image ({size} px)"),
        (candidates.loc[models, "latency_ms"], "LPIPS latency, batch 1 (ms)"),
    ]
    for ax, (values, label) in zip(axes, panels):
        ax.bar(models, values, color=colors)
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=20)
        for i, v in enumerate(values):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)
    fig.suptitle("Three measures of cost (log scales)")
    return fig


def plot_flops_vs_latency(speed: pd.DataFrame, arch_flops: dict[tuple[str, int], float]):
    """Backbone GFLOPs per image against measured ms per image, every timed point: FLOPs are not latency."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    data = speed[speed["mode"] == "features"]
    colors = _colors(data["model"].unique())
    for model, g in data.groupby("model", sort=False):
        flops = [arch_flops[(model, s)] for s in g["size"]]
        ax.scatter(flops, g["ms_per_item"], color=colors[model], label=model, s=20 + 12 * np.log2(g["batch"]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GFLOPs per image (backbone, counted)")
    ax.set_ylabel("measured ms per image")
    ax.set_title("Counted work versus measured time (marker size: batch)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_speed(speed: pd.DataFrame, image_size: int):
    """ms per pair versus batch size (at ``image_size``) and versus resolution (batch 1), LPIPS mode, with IQR."""
    data = speed[speed["mode"] == "lpips"]
    colors = _colors(data["model"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for model, g in data.groupby("model", sort=False):
        by_batch = g[g["size"] == image_size].sort_values("batch")
        axes[0].errorbar(by_batch["batch"], by_batch["ms_per_item"],
                         yerr=[(by_batch["median_ms"] - by_batch["q25_ms"]) / by_batch["batch"],
                               (by_batch["q75_ms"] - by_batch["median_ms"]) / by_batch["batch"]],
                         marker="o", color=colors[model], label=model, capsize=3)
        by_size = g[g["batch"] == 1].sort_values("size")
        axes[1].errorbar(by_size["size"], by_size["median_ms"],
                         yerr=[by_size["median_ms"] - by_size["q25_ms"], by_size["q75_ms"] - by_size["median_ms"]],
                         marker="o", color=colors[model], label=model, capsize=3)
    axes[0].set(xscale="log", yscale="log", xlabel="batch size (pairs)", ylabel="ms per LPIPS distance",
                title=f"Batching, {image_size} px")
    axes[1].set(yscale="log", xlabel="image side (px)", ylabel="ms per LPIPS distance", title="Resolution, batch 1")
    for ax in axes:
        ax.yaxis.set_minor_formatter(NullFormatter())
    axes[0].legend()
    fig.tight_layout()
    return fig


def pareto_front(candidates: pd.DataFrame, x: str = "latency_ms", y: str = "quality") -> list:
    """Candidates that no other beats on both lower ``x`` and higher ``y``."""
    front = []
    for idx, row in candidates.iterrows():
        dominated = ((candidates[x] <= row[x]) & (candidates[y] >= row[y]) &
                     ((candidates[x] < row[x]) | (candidates[y] > row[y]))).any()
        if not dominated:
            front.append(idx)
    return front


def plot_pareto(candidates: pd.DataFrame):
    """Quality (2AFC proxy, 95% interval) against latency; the Pareto front is joined."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = _colors(candidates.index)
    for idx, row in candidates.iterrows():
        ax.errorbar(
            row["latency_ms"],
            row["quality"],
            yerr=[[row["quality"] - row["ci_low"]], [row["ci_high"] - row["quality"]]],
            marker="o",
            color=colors[idx],
            capsize=3,
            label=idx,
        )
    front = candidates.loc[pareto_front(candidates)].sort_values("latency_ms")
    ax.plot(front["latency_ms"], front["quality"], "k--", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short log axis
    ax.set_xlabel("LPIPS latency, batch 1 (ms, log scale)")
    ax.set_ylabel("offline 2AFC proxy score")
    ax.set_title("Quality versus speed")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sensitivity(sweep: pd.DataFrame):
    """Mean distance versus strength per distortion, each metric scaled to its own maximum (0..1)."""
    totals = sweep[sweep["layer"] == "total"].copy()
    totals = totals[totals["metric"] != "PSNR"]  # a similarity in dB, infinite at strength 0
    totals.loc[totals["metric"] == "SSIM", "value"] = 1 - totals.loc[totals["metric"] == "SSIM", "value"]
    totals.loc[totals["metric"] == "SSIM", "metric"] = "1 - SSIM"
    curves = totals.groupby(["metric", "distortion", "strength"])["value"].mean().reset_index()
    curves["scaled"] = curves["value"] / curves.groupby("metric")["value"].transform("max").replace(0, 1)
    distortions = list(dict.fromkeys(curves["distortion"]))
    ncols = 5
    nrows = int(np.ceil(len(distortions) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(12, 2.6 * nrows + 0.6), sharey=True, squeeze=False)
    colors = _colors(curves["metric"].unique())
    for ax, d in zip(axes.flat, distortions):
        for metric, g in curves[curves["distortion"] == d].groupby("metric", sort=False):
            ax.plot(
                g["strength"],
                g["scaled"],
                marker=".",
                color=colors[metric],
                label=metric,
                ls="--" if metric in ("L2", "1 - SSIM") else "-",
            )
        ax.set_title(d, fontsize=10)
        ax.set_xlabel("strength")
    for ax in axes.flat[len(distortions) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("distance / metric's max")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def layer_shares(sweep: pd.DataFrame) -> pd.DataFrame:
    """Share of each tap in the total LPIPS distance at the strongest distortion (model, tap) x distortion."""
    strongest = sweep[(sweep["strength"] == sweep["strength"].max()) & (sweep["layer"] != "total")]
    per_layer = strongest.groupby(["metric", "layer", "distortion"], sort=False)["value"].mean()
    total = per_layer.groupby(level=["metric", "distortion"]).transform("sum")
    return (per_layer / total).unstack("distortion")


def plot_layer_heatmaps(sweep: pd.DataFrame):
    """Per network: which taps carry the distance, for each distortion (share of the total, strongest strength)."""
    shares = layer_shares(sweep)
    models = list(dict.fromkeys(shares.index.get_level_values(0)))
    fig, axes = plt.subplots(1, len(models), figsize=(4.4 * len(models), 3.8), squeeze=False, layout="constrained")
    for ax, model in zip(axes.flat, models):
        table = shares.loc[model]
        im = ax.imshow(table.to_numpy(), aspect="auto", vmin=0, vmax=max(0.01, float(shares.to_numpy().max())))
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
        ax.set_title(model)
        ax.grid(False)
    fig.colorbar(im, ax=axes.ravel().tolist(), label="share of the LPIPS distance")
    return fig


def plot_memory(memory: pd.DataFrame, fit: pd.DataFrame, mode: str = "lpips"):
    """Peak activation memory per image versus megapixels, with the fitted straight lines."""
    data = memory[memory["mode"] == mode]
    colors = _colors(data["model"].unique())
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for model, g in data.groupby("model", sort=False):
        mp = g["pixels"] / 1e6
        ax.plot(mp, g["peak_mb_per_image"], "o", color=colors[model], label=model)
        f = fit.loc[(model, mode)]
        xs = np.linspace(0, mp.max() * 1.05, 50)
        ax.plot(
            xs,
            f["intercept_mb"] + f["mb_per_megapixel"] * xs,
            "-",
            color=colors[model],
            lw=1,
            label=f"{model} fit: {f['mb_per_megapixel']:.0f} MiB/MP",
        )
    ax.set_xlabel("image size (megapixels)")
    ax.set_ylabel("peak activation memory (MiB per image)")
    ax.set_title(f"Memory of one {'LPIPS distance' if mode == 'lpips' else 'backbone pass'} versus resolution")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_efficiency(eff: pd.DataFrame):
    """Speedup over plain float32 for every option that ran, per network."""
    ok = eff[eff["status"].str.startswith("ok") & (eff["applies_to"] == "LPIPS distance")]
    table = ok.pivot_table(index="option", columns="model", values="speedup", sort=False)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    table.plot.barh(ax=ax)
    ax.axvline(1, color="k", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("speedup over fp32 (contiguous), same pairs (log scale)")
    ax.set_ylabel("")
    ax.set_title("Efficiency options for one LPIPS call")
    fig.tight_layout()
    return fig
