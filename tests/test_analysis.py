"""The analysis package: counts against torchvision, measurement helpers against known answers,
the recommendation rule on a synthetic table, and one tiny end-to-end run (no timing assertions)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from lpips_edu import models
from lpips_edu.analysis import AnalysisConfig, ModelAnalyzer, Scenario, recommend, recommendation_table
from lpips_edu.analysis.architecture import architecture_table, disk_sizes, meta_model, tap_table
from lpips_edu.analysis.memory import AllocationTracker, fit_scaling, peak_activation_bytes
from lpips_edu.analysis.plots import pareto_front
from lpips_edu.analysis.quality import rank_agreement
from lpips_edu.analysis.timing import time_call, time_calls
from lpips_edu.models.layer_summary import count_flops
from lpips_edu.profiles import get_profile

NETS = ("alexnet", "vgg16", "squeezenet1_1")


@pytest.mark.parametrize("name", NETS)
def test_flops_match_torchvision_through_the_same_counter(name):
    with torch.device("meta"):
        reference = getattr(torchvision.models, name)()
    for size in (64, 224):
        x = torch.zeros(1, 3, size, size, device="meta")
        with FlopCounterMode(display=False) as counter:
            reference(x)
        assert count_flops(meta_model(name), size) == counter.get_total_flops()


def test_architecture_table_counts_parameters_and_flops():
    table = architecture_table(NETS)
    for name in NETS:
        assert table.at[name, "params_total"] == models.get_spec(name).params_imagenet
        assert table.at[name, "params_features"] + table.at[name, "params_classifier"] == table.at[name, "params_total"]
        assert table.at[name, "gflops_224px"] > table.at[name, "gflops_64px"]
        assert table.at[name, "mb_model_fp32"] > table.at[name, "mb_model_fp16"] > table.at[name, "mb_model_int8"]
    # The orderings the chapter discusses: parameters and FLOPs rank the networks differently from the name.
    assert table["params_total"].idxmax() == "vgg16" and table["params_total"].idxmin() == "squeezenet1_1"
    taps = tap_table(("squeezenet1_1",))
    assert len(taps) == 7 and taps["channels"].iloc[-1] == 512


def test_disk_sizes_match_a_real_save():
    model = models.build("squeezenet1_1")
    estimated = disk_sizes(model)
    for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        buffer = io.BytesIO()
        torch.save({k: v.to(dtype) for k, v in model.state_dict().items()}, buffer)
        assert estimated[precision] == pytest.approx(buffer.getbuffer().nbytes, rel=2e-3)


def test_time_call_reports_median_and_spread():
    t = time_call(lambda: sum(range(1000)), repeats=5, warmup=1, min_block_s=0.001)
    assert t.q25_s <= t.median_s <= t.q75_s and t.repeats == 5 and t.calls_per_repeat >= 1
    with pytest.raises(ValueError):
        time_call(lambda: None, repeats=0)
    both = time_calls({"a": lambda: sum(range(100)), "b": lambda: sum(range(10000))}, repeats=3, warmup=0)
    assert set(both) == {"a", "b"} and all(t.repeats == 3 for t in both.values())


def test_allocation_tracker_counts_outputs_and_frees():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    x = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        assert peak_activation_bytes(lambda: conv(x)) == 2 * 8 * 16 * 16 * 4
        # relu(conv(x)): both outputs alive at once; in-place relu adds nothing.
        assert peak_activation_bytes(lambda: torch.relu(conv(x))) == 2 * (2 * 8 * 16 * 16 * 4)
        assert peak_activation_bytes(lambda: torch.relu_(conv(x))) == 2 * 8 * 16 * 16 * 4
    tracker = AllocationTracker()
    with tracker:
        y = torch.ones(1000)
        del y
    assert tracker.current == 0 and tracker.peak == 4000


def test_fit_scaling_recovers_a_line():
    px = np.array([64, 128, 256]) ** 2
    table = pd.DataFrame({"model": "m", "mode": "lpips", "pixels": px, "peak_mb_per_image": 2 + 3e-6 * px})
    fit = fit_scaling(table).loc[("m", "lpips")]
    assert fit["mb_per_megapixel"] == pytest.approx(3.0) and fit["intercept_mb"] == pytest.approx(2.0)
    assert fit["r2"] == pytest.approx(1.0)


def test_rank_agreement_treats_similarities_as_distances():
    rows = []
    for s in (0.1, 0.4, 0.7, 1.0):
        for metric, value in (("L2", s), ("PSNR", -10 * np.log10(s)), ("SSIM", 1 - s), ("net", s ** 2)):
            rows.append((metric, "total", "blur", s, 0, value))
    sweep = pd.DataFrame(rows, columns=["metric", "layer", "distortion", "strength", "image", "value"])
    for method in ("spearman", "kendall"):
        corr = rank_agreement(sweep, method)
        assert np.allclose(corr.to_numpy(), 1.0)
    with pytest.raises(ValueError):
        rank_agreement(sweep, "pearson")


SYNTHETIC = pd.DataFrame(
    {
        "latency_ms": [5.0, 60.0, 8.0, 2.0],
        "throughput": [900.0, 40.0, 600.0, 1500.0],
        "memory_mb": [20.0, 700.0, 30.0, 10.0],
        "file_mb": [9.0, 56.0, 3.0, 1.0],
        "quality": [0.80, 0.86, 0.855, 0.70],
    },
    index=pd.Index(["fast_ok", "slow_best", "small_good", "tiny_bad"], name="model"),
)


def test_recommendation_rule_picks_the_right_model():
    def pick(**kw):
        return recommend(SYNTHETIC, Scenario("s", **kw))["choice"]

    assert pick(objective="quality") == "small_good"  # 0.855 ties 0.86 (tie 0.01) and is much faster
    assert pick(objective="quality", tie=0.0) == "slow_best"
    assert pick(objective="quality", latency_budget_ms=6) == "fast_ok"
    assert pick(objective="quality", file_budget_mb=2) == "tiny_bad"
    assert pick(objective="throughput", quality_floor=0.8) == "fast_ok"
    assert pick(objective="throughput") == "tiny_bad"
    assert pick(objective="latency", quality_floor=0.85) == "small_good"
    nothing = recommend(SYNTHETIC, Scenario("impossible", latency_budget_ms=1))
    assert nothing["choice"] is None and "latency_ms" in nothing["why"]
    with pytest.raises(ValueError):
        recommend(SYNTHETIC.drop(columns="file_mb"), Scenario("s", file_budget_mb=1))


def test_default_scenarios_on_the_synthetic_table():
    table = recommendation_table(SYNTHETIC)
    assert table.loc["real-time (30 fps video)", "choice"] == "small_good"
    assert table.loc["quality-first (offline evaluation)", "choice"] == "small_good"
    assert table.loc["mobile / edge", "choice"] == "small_good"
    assert table.loc["batch / cloud", "choice"] == "small_good"  # floor 0.84: fast_ok and tiny_bad are below


def test_pareto_front():
    assert set(pareto_front(SYNTHETIC)) == set(SYNTHETIC.index)  # each is the best at its own speed
    dominated = pd.concat([SYNTHETIC, pd.DataFrame({"latency_ms": [10.0], "quality": [0.8]}, index=["worse"])])
    assert set(pareto_front(dominated)) == set(SYNTHETIC.index)


def test_quantized_backbone_gives_close_distances():
    from lpips_edu.analysis.efficiency import evaluation_pairs
    from lpips_edu.analysis.metrics import make_lpips
    from lpips_edu.analysis.quantize import quantize_backbone_static
    from lpips_edu.lpips import LPIPS

    config = AnalysisConfig(efficiency_batch=4)
    a, b = evaluation_pairs(config)
    metric = make_lpips("squeezenet1_1", channels_last=False)
    backbone = quantize_backbone_static(metric.net, metric.scaling_layer(torch.cat([a, b])))
    quantized = LPIPS(net="squeeze", backbone=backbone, channels_last=False)
    ref, got = metric(a, b).flatten(), quantized(a, b).flatten()
    assert (got - ref).abs().max() < 0.15 * ref.abs().mean()


def test_analyzer_end_to_end_tiny(tmp_path):
    config = AnalysisConfig.from_profile(get_profile("smoke"), models=("squeezenet1_1",)).replace(
        memory_sizes=(64, 96), two_afc_triplets=12)
    analyzer = ModelAnalyzer(config, progress=False).run()
    cand = analyzer.candidates()
    assert list(cand.index) == ["squeezenet1_1"] and cand["latency_ms"].iloc[0] > 0
    assert 0 <= cand["quality"].iloc[0] <= 1
    rec = analyzer.recommendations()
    assert len(rec) == 4
    tidy = analyzer.tidy()
    assert {"table", "model", "key", "measure", "value"} == set(tidy.columns) and len(tidy) > 50
    analyzer.save(tmp_path)
    loaded = ModelAnalyzer.load(tmp_path)
    assert loaded.machine["torch"] == torch.__version__
    pd.testing.assert_frame_equal(loaded.candidates(), cand, check_exact=False, rtol=1e-6)
    assert "squeezenet1_1" in analyzer.backbones()


def test_efficiency_reports_a_failing_option_as_unsupported(monkeypatch):
    from lpips_edu.analysis import efficiency

    def fake_variants(name, config, a, b):
        def ok():
            metric = efficiency.make_lpips(name, config.seed)
            return lambda x, y: metric(x, y)

        def broken():
            raise RuntimeError("no kernel for this dtype")

        return {"fp32 (contiguous)": ok, "broken option": broken}

    monkeypatch.setattr(efficiency, "_variants", fake_variants)
    config = AnalysisConfig(models=("squeezenet1_1",), repeats=1, warmup=0, min_block_s=0.0, efficiency_batch=2)
    table = efficiency.efficiency_table(config, progress=False).set_index("option")
    assert table.at["fp32 (contiguous)", "status"] == "ok" and table.at["fp32 (contiguous)", "speedup"] == 1.0
    assert table.at["broken option", "status"].startswith("unsupported: RuntimeError: no kernel")
    assert pd.isna(table.at["broken option", "median_ms"])
    assert table.at["int8 dynamic (classifier)", "applies_to"] == "classification forward"


def test_training_throughput_compares_trainer_and_plain_loop_on_the_same_batch():
    from lpips_edu.analysis.training_speed import PLAIN, training_throughput

    two = training_throughput(["squeezenet1_1"], size=32, batch=2, repeats=1, classes=3,
                              variants={"Trainer fp32": (False, "off"), "Trainer channels_last": (True, "off")})
    assert list(two["variant"]) == [PLAIN, "Trainer fp32", "Trainer channels_last"]
    assert (two["images/s"] > 0).all() and (two["vs plain"] > 0).all()
    assert two.loc[two["variant"] == PLAIN, "vs plain"].item() == 1.0
    one = training_throughput(["squeezenet1_1"], size=32, batch=2, repeats=1, classes=3,
                              variants={"Trainer fp32": (False, "off")}).set_index("variant")
    # a single pair: the ratio is exactly the two images/s of that pair
    assert one.loc["Trainer fp32", "vs plain"] == pytest.approx(one.loc["Trainer fp32", "images/s"]
                                                               / one.loc[PLAIN, "images/s"])


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile on a CPU needs a C compiler (apt install gcc)")
def test_torch_compile_option_runs_on_cpu_and_gives_the_same_distances():
    """The gpu profile's torch.compile row: inductor compiles the backbone for this CPU (about a minute)."""
    from lpips_edu.analysis import efficiency

    config = AnalysisConfig(models=("squeezenet1_1",), efficiency_batch=2, compile=True)
    a, b = efficiency.evaluation_pairs(config)
    variants = efficiency._variants("squeezenet1_1", config, a, b)
    plain, compiled = variants["fp32 channels_last"](), variants["torch.compile"]()
    with torch.inference_mode():
        want, got = plain(a, b).flatten(), compiled(a, b).flatten()
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6), (got, want)


def test_training_throughput_skips_bf16_without_native_bf16_and_times_it_when_forced(monkeypatch):
    from lpips_edu.analysis.training_speed import PLAIN, training_throughput

    setup = dict(names=["squeezenet1_1"], size=32, batch=2, repeats=1, classes=3, min_block_s=0.0)
    monkeypatch.setenv("LPIPS_EDU_CPU_BF16", "0")
    table = training_throughput(**setup, variants={"Trainer fp32": (False, "off"),
                                                   "Trainer bf16": (False, "bf16")}).set_index("variant")
    assert list(table.index) == [PLAIN, "Trainer fp32", "Trainer bf16"]
    assert table.loc["Trainer fp32", "status"] == "ok" and table.loc["Trainer fp32", "images/s"] > 0
    assert table.loc["Trainer bf16", "status"].startswith("bf16 skipped: LPIPS_EDU_CPU_BF16=0")
    assert table.loc["Trainer bf16", ["images/s", "vs plain"]].isna().all()
    only_bf16 = {"Trainer bf16": (False, "bf16")}
    alone = training_throughput(**setup, variants=only_bf16).set_index("variant")  # the plain loop is still timed
    assert alone.loc[PLAIN, "images/s"] > 0 and alone.loc["Trainer bf16", "status"] != "ok"
    monkeypatch.setenv("LPIPS_EDU_CPU_BF16", "1")
    forced = training_throughput(**setup, variants=only_bf16).set_index("variant")
    assert forced.loc["Trainer bf16", "status"] == "ok" and forced.loc["Trainer bf16", "vs plain"] > 0


def test_efficiency_does_not_time_16_bit_options_the_cpu_would_emulate(monkeypatch):
    from lpips_edu.analysis import efficiency

    original = efficiency._variants

    def fewer_variants(name, config, a, b):
        return {k: v for k, v in original(name, config, a, b).items() if k in ("fp32 (contiguous)", "bf16", "fp16")}

    monkeypatch.setattr(efficiency, "_variants", fewer_variants)
    monkeypatch.setattr(efficiency, "classifier_dynamic_rows", lambda config: [])
    config = AnalysisConfig(models=("squeezenet1_1",), repeats=1, warmup=0, min_block_s=0.0, efficiency_batch=2)
    monkeypatch.setenv("LPIPS_EDU_CPU_BF16", "0")
    monkeypatch.setenv("LPIPS_EDU_CPU_FP16", "0")
    table = efficiency.efficiency_table(config, progress=False).set_index("option")
    assert table.at["fp32 (contiguous)", "status"] == "ok"
    for option in ("bf16", "fp16"):
        assert table.at[option, "status"].startswith(f"{option} skipped: LPIPS_EDU_CPU_{option.upper()}=0")
        assert pd.isna(table.at[option, "median_ms"]) and pd.isna(table.at[option, "speedup"])
        # the distances of one untimed call still show what the option costs in accuracy
        assert 0 < table.at[option, "max_rel_err"] < 0.05
    monkeypatch.setenv("LPIPS_EDU_CPU_BF16", "1")
    forced = efficiency.efficiency_table(config, progress=False).set_index("option")
    assert forced.at["bf16", "status"] == "ok" and forced.at["bf16", "speedup"] > 0
    assert forced.at["fp16", "status"].startswith("fp16 skipped")


def test_every_row_names_the_device_it_was_computed_on(monkeypatch):
    """An analyzer for a GPU times speed and memory there; its quality and efficiency rows run on the CPU."""
    from lpips_edu.analysis import analyzer as analyzer_module
    from lpips_edu.analysis import efficiency

    def plain_only(name, config, a, b):
        def build():
            metric = efficiency.make_lpips(name, config.seed)
            return lambda x, y: metric(x, y)

        return {"fp32 (contiguous)": build}

    monkeypatch.setattr(analyzer_module, "describe_machine", lambda device: {"device": torch.device(device).type})
    monkeypatch.setattr(efficiency, "_variants", plain_only)
    monkeypatch.setattr(efficiency, "classifier_dynamic_rows", lambda config: [])
    config = AnalysisConfig(models=("squeezenet1_1",), repeats=1, warmup=0, min_block_s=0.0, efficiency_batch=2,
                            two_afc_triplets=8)
    gpu_analyzer = ModelAnalyzer(config, device="cuda", progress=False)  # nothing here touches the GPU
    assert gpu_analyzer.machine["device"] == "cuda"
    assert set(gpu_analyzer.two_afc()["device"]) == {"cpu"}
    assert set(gpu_analyzer.efficiency()["device"]) == {"cpu"}
