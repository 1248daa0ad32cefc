"""The Trainer: schedules, determinism, exact resume, checkpoints, DDP equivalence, CLI."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lpips_edu import models
from lpips_edu.data import OfflineImages
from lpips_edu.io import save_torch_atomic
from lpips_edu.train import (
    TrainConfig,
    Trainer,
    learning_rate,
    load_checkpoint,
    topk_correct,
)

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["astronaut", "coffee", "dead_leaves", "gratings"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP's
    spinning threads make them up to 40x slower; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(tmp_path, **changes) -> TrainConfig:
    """squeezenet1_1 on 32 px images of four classes: a full training run in about a second."""
    base = TrainConfig(model="squeezenet1_1", profile="smoke", image_size=32, batch_size=8, epochs=3,
                       lr=0.01, out_dir=str(tmp_path), progress=False, warmup_epochs=0.5)
    return dataclasses.replace(base, **changes)


def tiny_data(per_class: int = 8):
    return (OfflineImages("train", per_class, 32, classes=CLASSES),
            OfflineImages("val", 4, 32, classes=CLASSES))


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_learning_rate_warmup_then_cosine_and_step():
    lr = [learning_rate(s, 1.0, total_steps=10, warmup_steps=2, schedule="cosine") for s in range(11)]
    assert lr[0] == pytest.approx(0.5) and lr[1] == pytest.approx(1.0)
    assert lr[2] == pytest.approx(1.0) and lr[10] == pytest.approx(0.0, abs=1e-12)
    assert lr[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(lr[2:], lr[3:]))
    step = [
        learning_rate(s, 1.0, 100, 0, "step", steps_per_epoch=10, step_epochs=2, step_gamma=0.1)
        for s in (0, 19, 20, 40)
    ]
    assert step == pytest.approx([1.0, 1.0, 0.1, 0.01])


def test_topk_counts_hits_and_caps_k_at_the_number_of_classes():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    top1, top5 = topk_correct(logits, torch.tensor([1, 2]))
    assert top1.item() == 1 and top5.item() == 2


def test_same_seed_gives_identical_weights(tmp_path):
    a = Trainer(tiny(tmp_path / "a", epochs=2), None, *tiny_data())
    a.fit()
    b = Trainer(tiny(tmp_path / "b", epochs=2), None, *tiny_data())
    b.fit()
    assert_identical(weights(a), weights(b))
    assert a.history == [
        {**r, "epoch_seconds": x["epoch_seconds"], "images_per_second": x["images_per_second"]}
        for r, x in zip(b.history, a.history)
    ]


def test_resume_after_interruption_is_bit_identical(tmp_path):
    # Dropout stays on (p=0.5): the resumed run must restore the random state too.
    full = Trainer(tiny(tmp_path / "full", optimizer="adamw", lr=1e-3), None, *tiny_data())
    full.fit()
    interrupted = Trainer(tiny(tmp_path / "resumed", optimizer="adamw", lr=1e-3), None, *tiny_data())
    interrupted.fit(until_epoch=1)
    assert interrupted.epoch == 1
    resumed = Trainer(tiny(tmp_path / "resumed", optimizer="adamw", lr=1e-3, resume=True), None, *tiny_data())
    assert resumed.epoch == 1 and resumed.step == interrupted.step
    resumed.fit()
    assert_identical(weights(full), weights(resumed))
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    assert (tmp_path / "resumed" / "history.jsonl").read_text().count("\n") == 3


def test_checkpoint_loads_with_models_build(tmp_path):
    trainer = Trainer(tiny(tmp_path, epochs=1), None, *tiny_data())
    trainer.fit()
    net = models.build("squeezenet1_1", num_classes=len(CLASSES), weights=trainer.checkpoint_path)
    assert_identical(net.state_dict(), trainer.model.state_dict())
    ckpt = load_checkpoint(trainer.checkpoint_path)  # weights_only=True inside
    assert ckpt["classes"] == CLASSES and ckpt["epoch"] == 1


def test_truncated_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    trainer = Trainer(tiny(tmp_path, epochs=1), None, *tiny_data())
    trainer.fit()
    good = trainer.checkpoint_path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save(trainer.model.state_dict(), foreign)
    with pytest.raises(ValueError, match="not an lpips_edu training checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(ValueError, match="squeezenet1_1 with 4 classes"):
        Trainer(tiny(tmp_path, model="squeezenet1_0", resume=True, lr=0.01), None, *tiny_data())


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    trainer = Trainer(tiny(tmp_path, epochs=1), None, *tiny_data())
    trainer.fit()
    before = trainer.checkpoint_path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_torch_atomic({"x": torch.zeros(1)}, trainer.checkpoint_path)
    assert trainer.checkpoint_path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_head_size_must_match_the_classes(tmp_path):
    wrong = models.build("squeezenet1_1", num_classes=10)
    with pytest.raises(ValueError, match="10 outputs but the dataset has 4 classes"):
        Trainer(tiny(tmp_path), wrong, *tiny_data())


def test_gradient_accumulation_equals_one_large_batch(tmp_path):
    cfg = dict(max_steps=1, dropout=0.0, save_checkpoints=False, optimizer="sgd", warmup_epochs=0)
    big = Trainer(tiny(tmp_path, batch_size=8, **cfg), None, *tiny_data())
    big.fit()
    accumulated = Trainer(tiny(tmp_path, batch_size=4, grad_accum_steps=2, **cfg), None, *tiny_data())
    accumulated.fit()
    for k, v in weights(big).items():
        torch.testing.assert_close(weights(accumulated)[k], v, atol=1e-6, rtol=1e-5)


def test_bf16_autocast_and_channels_last_on_cpu(tmp_path):
    trainer = Trainer(
        tiny(tmp_path, amp="bf16", channels_last=True, max_steps=2, save_checkpoints=False), None, *tiny_data()
    )
    history = trainer.fit()
    assert trainer.amp_dtype == torch.bfloat16 and math.isfinite(history[-1]["train_loss"])


def _cli(args: list[str], env_extra: dict | None = None, launcher: list[str] | None = None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = (launcher or [sys.executable]) + ["-m", "lpips_edu.train", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_ddp_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    # gloo on CPU: 2 processes x batch 4 must take the same step as 1 process x batch 8.
    common = [
        "--model",
        "squeezenet1_1",
        "--profile",
        "smoke",
        "--image-size",
        "32",
        "--images-per-class",
        "4",
        "--val-images-per-class",
        "1",
        "--max-steps",
        "1",
        "--dropout",
        "0",
        "--lr",
        "0.05",
        "--warmup-epochs",
        "0",
        "--progress",
        "false",
        "--seed",
        "3",
    ]
    single = _cli(common + ["--batch-size", "8", "--out-dir", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr[-2000:]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = _cli(common + ["--batch-size", "4", "--out-dir", str(tmp_path / "two")], launcher=launcher)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    one = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert one["step"] == two["step"] == 1
    start = models.build("squeezenet1_1", num_classes=14, dropout=0.0)
    moved = 0
    for k, v in one["model"].items():
        torch.testing.assert_close(two["model"][k], v, atol=1e-6, rtol=1e-5, msg=k)
        moved += int(not torch.equal(v, start.state_dict()[k]))
    assert moved > 0  # the step really changed the weights


def test_recipes_exist_for_every_family_and_profile():
    from lpips_edu.profiles import PROFILES
    from lpips_edu.train import recipe

    for name in ("alexnet", "vgg11_bn", "vgg16_bn", "squeezenet1_1"):
        for profile in PROFILES:
            config = recipe(name, profile, seed=3)
            assert config.model == name and config.profile == profile and config.seed == 3


def test_trained_checkpoint_location_follows_the_environment(tmp_path, monkeypatch):
    from lpips_edu.paths import trained_checkpoint

    monkeypatch.setenv("LPIPS_EDU_RUNS", str(tmp_path))
    assert trained_checkpoint("alexnet") == tmp_path / "alexnet" / "checkpoint.pt"
    monkeypatch.delenv("LPIPS_EDU_RUNS")
    assert trained_checkpoint("alexnet").parts[-3:] == ("runs", "alexnet", "checkpoint.pt")


def test_in_the_book_build_a_training_run_leaves_one_progress_line(tmp_path, monkeypatch, capsys):
    """LPIPS_EDU_PROGRESS=final (set by `make book`): the epoch bars vanish, the run's bar stays as one line."""
    monkeypatch.setenv("LPIPS_EDU_PROGRESS", "final")
    Trainer(tiny(tmp_path, epochs=2, progress=True), None, *tiny_data()).fit()
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if "squeezenet1_1" in line]
    assert len(lines) == 1 and "2/2" in lines[0], out.out
    assert "\r" not in out.out


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_the_trainer_uses_fused_optimizers_that_compute_the_default_update(name, tmp_path):
    """Fused kernels skip the parameter-sized temporaries of the default update (5-7x faster on VGG's classifier)."""
    from lpips_edu.train import make_optimizer

    trainer = Trainer(tiny(tmp_path, optimizer=name, max_steps=1, save_checkpoints=False), None, *tiny_data(2))
    assert trainer.optimizer.defaults.get("fused") is True
    torch.manual_seed(0)
    fused_params = [torch.nn.Parameter(torch.randn(64, 32)), torch.nn.Parameter(torch.randn(32))]
    plain_params = [torch.nn.Parameter(p.detach().clone()) for p in fused_params]

    def groups(params):
        return [{"params": params[:1], "weight_decay": 5e-4}, {"params": params[1:], "weight_decay": 0.0}]

    fused = make_optimizer(name, groups(fused_params), 1e-2, 0.9, torch.device("cpu"))
    plain = (
        torch.optim.SGD(groups(plain_params), lr=1e-2, momentum=0.9)
        if name == "sgd"
        else torch.optim.AdamW(groups(plain_params), lr=1e-2)
    )
    for _ in range(5):
        for a, b in zip(fused_params, plain_params):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        fused.step()
        plain.step()
    for a, b in zip(fused_params, plain_params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_every_step_loss_is_kept_and_a_resumed_run_continues_it(tmp_path):
    """step_losses has one loss per optimizer step; a resumed run continues it exactly as an unbroken one."""
    from lpips_edu.data import OfflineImages

    train, val = OfflineImages("train", 6, 64, 0), OfflineImages("val", 2, 64, 0)
    config = TrainConfig(model="alexnet", profile="smoke", epochs=2, batch_size=16, optimizer="adamw", lr=3e-4,
                         seed=0, progress=False, out_dir=str(tmp_path / "whole"))
    whole = Trainer(config, train_data=train, val_data=val)
    whole.fit()
    assert len(whole.step_losses) == whole.step == 2 * whole.steps_per_epoch
    half = Trainer(dataclasses.replace(config, out_dir=str(tmp_path / "half")), train_data=train, val_data=val)
    half.fit(until_epoch=1)
    resumed = Trainer(dataclasses.replace(config, out_dir=str(tmp_path / "half"), resume=True),
                      train_data=train, val_data=val)
    resumed.fit()
    assert resumed.step_losses == whole.step_losses


# ----------------------------------------------------------------------------- GPU paths, checked on the CPU
def test_amp_auto_takes_fp16_with_loss_scaling_on_gpus_without_native_bf16(monkeypatch):
    from lpips_edu.profiles import PROFILES
    from lpips_edu.train import amp_dtype_for

    capability = {0: (8, 0), 1: (7, 5)}  # an A100 as cuda:0 and a T4 (bf16 only emulated) as cuda:1
    asked = []

    def get_device_capability(device=None):
        asked.append(torch.device(device))
        return capability[torch.device(device).index]

    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # counts emulation
    gpu = PROFILES["gpu"]
    assert amp_dtype_for("auto", torch.device("cuda", 1), gpu) == torch.float16
    assert amp_dtype_for("auto", torch.device("cuda", 0), gpu) == torch.bfloat16
    assert asked == [torch.device("cuda", 1), torch.device("cuda", 0)]  # the Trainer's own GPU, not the current one
    assert amp_dtype_for("bf16", torch.device("cuda", 1), gpu) == torch.bfloat16  # asked for by name: as asked


def test_resume_on_a_machine_with_fewer_gpus_than_the_checkpoint_saved(monkeypatch):
    from lpips_edu import train

    state = train._rng_state()
    state["cuda"] = torch.stack([torch.full((16,), k, dtype=torch.uint8) for k in (1, 2)])  # saved on two GPUs
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.__setitem__(device, s.clone()))
    for gpus in (1, 2, 3):
        restored.clear()
        monkeypatch.setattr(torch.cuda, "device_count", lambda gpus=gpus: gpus)
        train._set_rng_state(state)
        assert sorted(restored) == list(range(min(2, gpus)))
    assert all(torch.equal(restored[k], state["cuda"][k]) for k in (0, 1))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # no GPU at all: the CPU states only
    restored.clear()
    train._set_rng_state(state)
    assert restored == {}


def test_an_fp16_run_resumes_from_a_checkpoint_saved_without_loss_scaling(tmp_path):
    """float32 or bf16 save an empty scaler state; an fp16 run (a T4, say) continues it with a fresh scaler."""
    first = Trainer(tiny(tmp_path, amp="off", epochs=2), None, *tiny_data())
    first.fit(until_epoch=1)
    assert first.scaler.state_dict() == {}
    resumed = Trainer(tiny(tmp_path, amp="fp16", epochs=2, resume=True), None, *tiny_data())
    assert resumed.epoch == 1 and resumed.scaler.is_enabled() and resumed.amp_dtype == torch.float16
    history = resumed.fit()
    assert len(history) == 2 and math.isfinite(history[-1]["train_loss"])


def test_worker_processes_persist_and_train_exactly_as_without_them(tmp_path):
    """Persistent workers hold copies of the dataset: the epoch must reach them (new crops every epoch)."""
    inline = Trainer(tiny(tmp_path / "inline", num_workers=0, epochs=2), None, *tiny_data())
    inline.fit()
    workers = Trainer(tiny(tmp_path / "workers", num_workers=2, epochs=2), None, *tiny_data())
    assert workers.loaders.train.persistent_workers and workers.loaders.val.persistent_workers
    assert not inline.loaders.train.persistent_workers
    workers.fit()
    assert_identical(weights(inline), weights(workers))
    assert [r["train_loss"] for r in workers.history] == [r["train_loss"] for r in inline.history]


def test_the_epoch_time_waits_for_the_gpu(monkeypatch):
    import time

    from lpips_edu.train import seconds_since

    synced = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    seconds_since(time.perf_counter(), torch.device("cuda", 1))
    seconds_since(time.perf_counter(), torch.device("cpu"))
    assert synced == [torch.device("cuda", 1)]


def test_fp16_sgd_survives_a_skipped_first_step(tmp_path):
    """The GradScaler skips steps whose gradients overflow (its first scale, 2**16, often does); torch's fused SGD
    then kept an uninitialised momentum and the next step moved weights by 1e36. fp16 runs use unfused SGD."""
    trainer = Trainer(tiny(tmp_path, amp="fp16", optimizer="sgd", max_steps=3, save_checkpoints=False), None,
                      *tiny_data())
    before = weights(trainer)
    history = trainer.fit()
    change = max((trainer.model.state_dict()[k].float() - v.float()).abs().max().item() for k, v in before.items())
    assert trainer.scaler.is_enabled() and 0 < change < 1, change
    assert math.isfinite(history[-1]["val_loss"])
