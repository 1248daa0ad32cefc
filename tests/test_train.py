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
