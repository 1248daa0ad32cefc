"""``python -m lpips_edu compare`` on files written to tmp_path, checked against the lpips package."""

from __future__ import annotations

import csv
import functools
import subprocess
import sys
from pathlib import Path

import lpips
import numpy as np
import pytest
import torch
from PIL import Image

from lpips_edu import models
from lpips_edu.__main__ import COMMANDS, main
from lpips_edu.data import load_sample, to_tensor

REPO = Path(__file__).resolve().parents[1]
# float32 is the default on every CPU (test_folders.py checks both forced CPU paths); one test names it.
FP32 = ["--precision", "fp32"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """d0/ photos, d1/ noisy copies with the same names, plus a grayscale file (read as RGB)."""
    root = tmp_path_factory.mktemp("images")
    (root / "d0").mkdir()
    (root / "d1").mkdir()
    rng = np.random.default_rng(0)
    for name in ["astronaut", "chelsea", "coffee"]:
        clean = load_sample(name, 48)
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(clean).save(root / "d0" / f"{name}.png")
        Image.fromarray(noisy).save(root / "d1" / f"{name}.png")
    Image.fromarray(load_sample("rocket", 40)).convert("L").save(root / "d0" / "rocket.png")
    Image.fromarray(load_sample("rocket", 40)).save(root / "d1" / "rocket.png")
    return root


def reference_distance(path0: Path, path1: Path, seed: int = 0) -> float:
    """The lpips package on the same random backbone the CLI builds with --random-backbone --seed."""
    torch.manual_seed(seed)
    features = models.build("alexnet").features.state_dict()
    ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    ref.net.load_state_dict({k: features[k.split(".", 1)[1]] for k in ref.net.state_dict()})
    read = lambda p: to_tensor(np.array(Image.open(p).convert("RGB")), (-1, 1))  # noqa: E731
    with torch.no_grad():
        return float(ref(read(path0), read(path1)))


@functools.lru_cache(maxsize=None)
def dists_reference_network(seed: int = 0) -> torch.nn.Module:
    """torchmetrics' DISTS on the seeded random VGG-16 that --metric dists --random-backbone --seed builds."""
    from lpips_edu.lpips.peer import peer_dists

    torch.manual_seed(seed)
    return peer_dists(models.build("vgg16", features_only=True))


def dists_reference(path0: Path, path1: Path, seed: int = 0) -> float:
    read = lambda p: to_tensor(np.array(Image.open(p).convert("RGB")), (0, 1))  # noqa: E731  torchmetrics: [0, 1]
    with torch.no_grad():
        return float(dists_reference_network(seed)(read(path0), read(path1)))


def test_compare_two_files_prints_the_distance(images, capsys):
    a, b = images / "d0" / "astronaut.png", images / "d1" / "astronaut.png"
    assert main(["compare", *FP32, "--random-backbone", str(a), str(b)]) == 0
    out = capsys.readouterr()
    assert float(out.out.strip()) == pytest.approx(reference_distance(a, b), abs=1e-5)
    assert "alexnet: random weights" in out.err and "not the published LPIPS" in out.err


def test_compare_dirs_writes_csv_in_name_order(images, tmp_path, capsys):
    out_csv = tmp_path / "sub" / "out.csv"
    assert main(["compare", "--random-backbone", "--dirs", str(images / "d0"), str(images / "d1"),
                 "-o", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [Path(r["image0"]).name for r in rows] == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"]
    for r in rows:
        assert float(r["lpips"]) == pytest.approx(reference_distance(Path(r["image0"]), Path(r["image1"])), abs=1e-5)
    assert not list(out_csv.parent.glob(".*.tmp"))  # atomic write left no temp file


def test_compare_all_pairs_to_stdout(images, tmp_path, capsys):
    folder = tmp_path / "same_size"
    folder.mkdir()
    for name in ["a", "b", "c"]:
        (folder / f"{name}.png").write_bytes(
            (images / "d1" / f"{['astronaut', 'chelsea', 'coffee'][ord(name) - 97]}.png").read_bytes()
        )
    assert main(["compare", "--random-backbone", "--seed", "1", "--all-pairs", str(folder)]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0] == ["image0", "image1", "lpips"]
    assert [(Path(r[0]).stem, Path(r[1]).stem) for r in rows[1:]] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert float(rows[1][2]) == pytest.approx(reference_distance(folder / "a.png", folder / "b.png", seed=1), abs=1e-5)


def test_backbone_weights_file_is_used(images, tmp_path, capsys):
    torch.manual_seed(0)
    trained = models.build("alexnet", num_classes=10)
    torch.save({"model": trained.state_dict()}, tmp_path / "alexnet.pt")
    a, b = images / "d0" / "chelsea.png", images / "d1" / "chelsea.png"
    assert main(["compare", "--backbone-weights", str(tmp_path / "alexnet.pt"), str(a), str(b)]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(reference_distance(a, b, seed=0), abs=1e-5)


def test_offline_without_backbone_is_a_clear_error(images, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("LPIPS_EDU_ALLOW_DOWNLOAD", raising=False)
    a = images / "d0" / "astronaut.png"
    assert main(["compare", str(a), str(a)]) == 2
    err = capsys.readouterr().err
    assert "python -m lpips_edu weights fetch" in err and "alexnet-owt-7be5be79.pth" in err
    assert "--random-backbone" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare"], "exactly one of them"),
        (["compare", "one.png"], "exactly two image files"),
        (["compare", "missing0.png", "missing1.png"], "no such file"),
    ],
)
def test_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_mismatched_sizes_are_reported(images, capsys):
    a, b = images / "d0" / "astronaut.png", images / "d0" / "rocket.png"
    assert main(["compare", "--random-backbone", str(a), str(b)]) == 1
    assert "differ in size (48x48 and 40x40); pass resize=True (--resize)" in capsys.readouterr().err


def test_bad_files_are_named_with_the_fix(images, tmp_path, capsys):
    """The CLI and pair_distances check inputs with lpips_edu.input_checks: the message names the file."""
    tiny = tmp_path / "tiny.png"
    Image.fromarray(load_sample("coffee", 40)[:20, :20]).save(tiny)
    assert main(["compare", "--random-backbone", str(tiny), str(tiny)]) == 1
    err = capsys.readouterr().err
    assert f"error: {tiny}: 20x20 pixels is too small for the AlexNet backbone, whose minimum is 31x31" in err
    a, b = images / "d0" / "astronaut.png", images / "d0" / "rocket.png"
    assert main(["compare", "--random-backbone", str(a), str(b)]) == 1
    assert f"error: the images of pair 0 ({a}, {b}) differ in size" in capsys.readouterr().err


def test_compare_dists_two_files_equals_torchmetrics(images, capsys):
    a, b = images / "d0" / "coffee.png", images / "d1" / "coffee.png"
    assert main(["compare", "--metric", "dists", "--random-backbone", str(a), str(b)]) == 0
    out = capsys.readouterr()
    assert float(out.out.strip()) == pytest.approx(dists_reference(a, b), abs=1e-5)
    assert "vgg16: random weights" in out.err and "not the published DISTS" in out.err


def test_compare_dists_dirs_writes_a_dists_column(images, tmp_path, capsys):
    out_csv = tmp_path / "dists.csv"
    argv = ["compare", "--metric", "dists", "--net", "vgg", "--random-backbone", "--seed", "1",
            "--dirs", str(images / "d0"), str(images / "d1"), "-o", str(out_csv)]
    assert main(argv) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert list(rows[0]) == ["image0", "image1", "dists"] and len(rows) == 4  # rocket: grayscale read as RGB
    for r in rows:
        want = dists_reference(Path(r["image0"]), Path(r["image1"]), seed=1)
        assert float(r["dists"]) == pytest.approx(want, abs=1e-5)
    # an LPIPS file is not continued with DISTS numbers
    lpips_csv = tmp_path / "lpips.csv"
    assert main(["compare", "--random-backbone", "--dirs", str(images / "d0"), str(images / "d1"),
                 "-o", str(lpips_csv)]) == 0
    capsys.readouterr()
    assert main([*argv[:-1], str(lpips_csv), "--resume"]) == 2
    assert "does not start with the header 'image0,image1,dists'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--net", "alex"], "--metric dists runs on VGG-16 only: drop --net alex"),
        (["--no-heads"], "--no-heads: LPIPS options; DISTS has no versions or heads"),
        (["--version", "0.0", "--heads", "h.pth"], "--version, --heads: LPIPS options"),
    ],
)
def test_dists_refuses_lpips_options(images, extra, message, capsys):
    a = images / "d0" / "coffee.png"
    assert main(["compare", "--metric", "dists", "--random-backbone", *extra, str(a), str(a)]) == 2
    assert message in capsys.readouterr().err


def test_commands_are_one_line_each_and_module_runs():
    assert COMMANDS["compare"] == "lpips_edu.cli.compare_command:add_compare_command"
    result = subprocess.run(
        [sys.executable, "-m", "lpips_edu", "compare", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0 and "--all-pairs" in result.stdout
