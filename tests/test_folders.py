"""``compare`` on real folders: every kind of file, bad files survived, interrupted runs resumed, many processes.

Distances come from a seeded random backbone (``--random-backbone``): the
mechanics under test do not depend on ImageNet weights, and the numbers are
checked against the ``lpips`` package on the same weights in test_cli.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lpips_edu import LPIPS, models
from lpips_edu.__main__ import main
from lpips_edu.cli.distance_rows import read_rows
from lpips_edu.cli.image_pairs import pair_distances
from lpips_edu.cli.sharding import shard
from lpips_edu.data import load_sample
from lpips_edu.data.image_files import BadImageError, read_image, read_rgb
from lpips_edu.distributed import Distributed

REPO = Path(__file__).resolve().parents[1]
SIZE = 40  # above AlexNet's 31-pixel minimum, small enough to be quick
RANDOM = ["--random-backbone", "--seed", "0"]


def photo(name: str = "astronaut", size: int = SIZE) -> np.ndarray:
    return load_sample(name, size)


def noisy(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)


def make_dirs(root: Path, n: int, size: int = SIZE) -> tuple[Path, Path]:
    """d0/ photos and d1/ noisy copies, ``n`` pairs named 000.png, 001.png, ..."""
    d0, d1 = root / "d0", root / "d1"
    d0.mkdir(parents=True)
    d1.mkdir(parents=True)
    names = ["astronaut", "chelsea", "coffee", "rocket"]
    for i in range(n):
        clean = photo(names[i % len(names)], size)
        Image.fromarray(clean).save(d0 / f"{i:03d}.png")
        Image.fromarray(noisy(clean, i)).save(d1 / f"{i:03d}.png")
    return d0, d1


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open()))


# ----------------------------------------------------------------------------- reading every kind of file
def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = photo()[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.shape == (1, 3, SIZE, SIZE)
    for c in range(3):
        torch.testing.assert_close(image[0, c], torch.from_numpy(gray / 127.5 - 1).float())


def test_rgba_drops_the_alpha_channel(tmp_path):
    rgb = photo()
    alpha = np.full(rgb.shape[:2], 7, np.uint8)  # nearly transparent: still the colour values are compared
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert torch.equal(read_image(tmp_path / "a.png"), read_image(tmp_path / "rgb.png"))


def test_16_bit_png_keeps_its_precision(tmp_path):
    values = np.linspace(0, 65535, SIZE * SIZE).round().astype(np.uint16).reshape(SIZE, SIZE)
    values[0, :2] = [30000, 30001]  # one step of 16 bits apart: 8 bits would merge them
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode.startswith("I")  # really stored with 16 bits
    image = read_image(tmp_path / "deep.png", value_range=(0, 1))
    torch.testing.assert_close(image[0, 1], torch.from_numpy(values / 65535).float())
    assert image[0, 0, 0, 0] < image[0, 0, 0, 1]
    assert np.asarray(read_rgb(tmp_path / "deep.png"))[-1, -1, 0] == 255  # 8-bit view: white stays white


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    rgb = photo("chelsea")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=98)
    with Image.open(tmp_path / "cmyk.jpg") as check:
        assert check.mode == "CMYK"
    got = read_image(tmp_path / "cmyk.jpg", value_range=(0, 255))[0].permute(1, 2, 0).numpy()
    assert np.abs(got - rgb).mean() < 4  # the photo, not inverted or clipped colours (JPEG loses a little)


def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    upright = photo("coffee")[:, : SIZE // 2]  # taller than wide, so a wrong turn shows in the shape
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # how a sideways camera stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(tmp_path / "turned.jpg", quality=98, exif=exif)
    got = read_image(tmp_path / "turned.jpg", value_range=(0, 255))[0].permute(1, 2, 0).numpy()
    assert got.shape == upright.shape
    error = np.abs(got - upright).mean()
    assert error < 8 and error < np.abs(got - upright[::-1, ::-1]).mean() / 4  # upright, not upside down


# ----------------------------------------------------------------------------- bad files
def _png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _corrupt_png(image):
    data = bytearray(_png_bytes(image))
    middle = len(data) // 2
    data[middle: middle + 64] = bytes(64)  # zeros in the compressed pixels
    return bytes(data)


BAD_FILES = {
    # name in d1 -> (bytes written, what the report says)
    "corrupt.png": (_corrupt_png, "corrupt or truncated PNG file"),
    "truncated.png": (lambda im: _png_bytes(im)[: len(_png_bytes(im)) // 2], "corrupt or truncated PNG file"),
    "truncated.jpg": (lambda im: _jpeg_bytes(im)[: len(_jpeg_bytes(im)) // 2], "corrupt or truncated JPEG file"),
    "text.png": (lambda im: b"these are not the pixels you are looking for\n", "not an image file PIL can read"),
    "empty.png": (lambda im: b"", "empty file (0 bytes)"),
    "tiny.png": (lambda im: _png_bytes(im[:20, :20]), "20x20 pixels is too small for the AlexNet backbone"),
}


@pytest.fixture
def folder_with_bad_files(tmp_path):
    """d0 and d1 with good pairs 0.png and z.png around every bad file, a missing counterpart and a size mismatch."""
    d0, d1 = tmp_path / "d0", tmp_path / "d1"
    d0.mkdir()
    d1.mkdir()
    clean = photo()
    for name in ["0.png", "z.png", *BAD_FILES, "missing.png", "bigger.png"]:
        (d0 / name).write_bytes(_jpeg_bytes(clean) if name.endswith(".jpg") else _png_bytes(clean))
    for name in ["0.png", "z.png"]:
        Image.fromarray(noisy(clean, 1)).save(d1 / name)
    for name, (make, _) in BAD_FILES.items():
        (d1 / name).write_bytes(make(noisy(clean, 2)))
    Image.fromarray(photo("astronaut", SIZE + 8)).save(d1 / "bigger.png")
    return d0, d1


def test_bad_files_are_skipped_with_a_reason_and_exit_code_1(folder_with_bad_files, tmp_path, capsys):
    d0, d1 = folder_with_bad_files
    out = tmp_path / "out.csv"
    assert main(["compare", *RANDOM, "--dirs", str(d0), str(d1), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    for name, (_, reason) in BAD_FILES.items():
        assert f"skipped: {d1 / name}: {reason}" in err
    assert f"skipped: {d1 / 'missing.png'}: no such file" in err
    assert f"skipped: the images of pair 1 ({d0 / 'bigger.png'}, {d1 / 'bigger.png'}) differ in size" in err
    assert "--resize" in err
    assert "skipped 8 bad pair(s)" in err
    assert [Path(r[0]).name for r in rows_of(out)[1:]] == ["0.png", "z.png"]  # the good pairs, in order


def test_strict_stops_at_the_first_bad_file(folder_with_bad_files, tmp_path, capsys):
    d0, d1 = folder_with_bad_files
    out = tmp_path / "out.csv"
    assert main(["compare", *RANDOM, "--strict", "--dirs", str(d0), str(d1), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: the images of pair 1 ({d0 / 'bigger.png'}, {d1 / 'bigger.png'}) differ in size" in err
    assert "--strict stops at the first bad file" in err
    assert [Path(r[0]).name for r in rows_of(out)[1:]] == ["0.png"]  # what came before the bad pair is kept


def test_resize_reconciles_a_size_mismatch(tmp_path, capsys):
    small, big = photo("chelsea"), noisy(photo("chelsea", SIZE * 2), 3)
    Image.fromarray(small).save(tmp_path / "small.png")
    Image.fromarray(big).save(tmp_path / "big.png")
    files = [str(tmp_path / "small.png"), str(tmp_path / "big.png")]
    assert main(["compare", *RANDOM, "--resize", *files]) == 0
    got = float(capsys.readouterr().out)
    torch.manual_seed(0)
    metric = LPIPS(net="alex", backbone=models.build("alexnet", features_only=True))
    resized = torch.nn.functional.interpolate(read_image(tmp_path / "big.png"), size=(SIZE, SIZE), mode="bicubic",
                                              antialias=True, align_corners=False).clamp(-1, 1)
    assert got == pytest.approx(float(metric(read_image(tmp_path / "small.png"), resized)), abs=1e-6)


def test_pair_distances_raise_or_skip_bad_pairs(folder_with_bad_files):
    d0, d1 = folder_with_bad_files
    torch.manual_seed(0)
    metric = LPIPS(net="alex", backbone=models.build("alexnet", features_only=True))
    pairs = [(d0 / "0.png", d1 / "0.png"), (d0 / "empty.png", d1 / "empty.png"), (d0 / "z.png", d1 / "z.png")]
    results = list(pair_distances(metric, pairs, errors="skip"))
    assert [r.error is None for r in results] == [True, False, True]
    assert "empty file" in results[1].error and results[1].distance is None
    stream = pair_distances(metric, pairs)
    assert next(stream).distance == pytest.approx(results[0].distance, abs=1e-6)
    with pytest.raises(BadImageError, match="empty file"):
        next(stream)


def test_pair_distances_yield_before_the_input_ends(tmp_path):
    """A generator of pairs is consumed as it goes: the first result comes before the last pair is asked for."""
    d0, d1 = make_dirs(tmp_path, 6)
    asked = []

    def pairs():
        for i in range(6):
            asked.append(i)
            yield d0 / f"{i:03d}.png", d1 / f"{i:03d}.png"

    torch.manual_seed(0)
    metric = LPIPS(net="alex", backbone=models.build("alexnet", features_only=True))
    stream = pair_distances(metric, pairs(), batch_size=1, workers=1)
    first = next(stream)
    assert first.index == 0 and len(asked) < 6
    assert [r.index for r in stream] == [1, 2, 3, 4, 5]


# ----------------------------------------------------------------------------- output files
def test_existing_output_is_not_overwritten_without_asking(tmp_path, capsys):
    d0, d1 = make_dirs(tmp_path, 2)
    out = tmp_path / "out.csv"
    out.write_text("image0,image1,lpips\nprecious,rows,0.5\n")
    assert main(["compare", *RANDOM, "--dirs", str(d0), str(d1), "-o", str(out)]) == 2
    assert "pass --resume to continue it, or --overwrite" in capsys.readouterr().err
    assert "precious" in out.read_text()
    assert main(["compare", *RANDOM, "--overwrite", "--dirs", str(d0), str(d1), "-o", str(out)]) == 0
    assert len(rows_of(out)) == 3 and "precious" not in out.read_text()


def test_json_lines_output_and_resume(tmp_path, capsys):
    d0, d1 = make_dirs(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    assert main(["compare", *RANDOM, "--dirs", str(d0), str(d1), "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["image0"]).name for r in records] == ["000.png", "001.png", "002.png"]
    assert all(0 < r["lpips"] < 1 for r in records)
    full = out.read_text()
    out.write_text("\n".join(full.splitlines()[:1]) + "\n")
    assert main(["compare", *RANDOM, "--resume", "--dirs", str(d0), str(d1), "-o", str(out)]) == 0
    assert out.read_text() == full


def test_resume_cuts_a_half_written_row(tmp_path, capsys):
    """What ``kill -9`` during a write could leave: the half row is dropped and redone."""
    d0, d1 = make_dirs(tmp_path, 3)
    out = tmp_path / "out.csv"
    assert main(["compare", *RANDOM, "--dirs", str(d0), str(d1), "-o", str(out)]) == 0
    full = out.read_text()
    out.write_text(full[: full.index("\n", full.index("001.png")) - 4])  # row 001 lost its last digits
    assert main(["compare", *RANDOM, "--resume", "--dirs", str(d0), str(d1), "-o", str(out)]) == 0
    assert "half a row" in capsys.readouterr().err
    assert out.read_text() == full


def test_a_foreign_file_is_not_resumed(tmp_path, capsys):
    d0, d1 = make_dirs(tmp_path, 2)
    out = tmp_path / "out.csv"
    out.write_text("name;score\nx;1\n")
    assert main(["compare", *RANDOM, "--resume", "--dirs", str(d0), str(d1), "-o", str(out)]) == 2
    assert "does not start with the header" in capsys.readouterr().err


def _compare_process(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LPIPS_EDU_PROGRESS": "off"}
    return subprocess.Popen([sys.executable, "-m", "lpips_edu", "compare", *RANDOM, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_sigterm_halfway_then_resume_equals_an_uninterrupted_run(tmp_path):
    d0, d1 = make_dirs(tmp_path, 80, size=64)
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    assert main(["compare", *RANDOM, "--batch-size", "4", "--dirs", str(d0), str(d1), "-o", str(whole)]) == 0
    run = _compare_process("--batch-size", "4", "--dirs", str(d0), str(d1), "-o", str(cut))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not cut.exists() or len(cut.read_text().splitlines()) < 9):
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "--resume" in err
    partial = cut.read_text()
    assert partial.endswith("\n") and 9 <= len(partial.splitlines()) < 81  # stopped halfway, on a whole row
    assert [r for r in rows_of(cut)] == rows_of(whole)[: len(rows_of(cut))]
    resumed = _compare_process("--batch-size", "4", "--resume", "--dirs", str(d0), str(d1), "-o", str(cut))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert cut.read_text() == whole.read_text()


# ----------------------------------------------------------------------------- many processes
def test_shards_are_contiguous_whole_batches_covering_every_pair():
    for n in (0, 1, 7, 32, 100):
        spans = [shard(n, 8, Distributed(r, 3)) for r in range(3)]
        assert [i for s in spans for i in s] == list(range(n))
        assert all(s.start % 8 == 0 for s in spans if len(s))


def test_each_rank_takes_its_own_gpu(monkeypatch):
    from lpips_edu.distributed import backend_for, device_for

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    rank = Distributed(3, 8, local_rank=1, local_world_size=2)
    assert device_for(torch.device("cuda"), rank) == torch.device("cuda", 1)
    assert device_for(torch.device("cuda", 0), rank) == torch.device("cuda", 0)  # as asked
    assert device_for(torch.device("cpu"), rank) == torch.device("cpu")
    assert device_for(torch.device("cuda"), Distributed()) == torch.device("cuda")
    assert backend_for(torch.device("cpu"), rank) == "gloo"


def test_more_processes_than_gpus_share_them(monkeypatch):
    """torchrun --nproc_per_node=2 on a one-GPU machine: both ranks on cuda:0, over gloo (NCCL refuses that)."""
    from lpips_edu.distributed import backend_for, device_for

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    ranks = [Distributed(r, 2, local_rank=r, local_world_size=2) for r in range(2)]
    assert [device_for(torch.device("cuda"), r) for r in ranks] == [torch.device("cuda", 0)] * 2
    assert {backend_for(torch.device("cuda", 0), r) for r in ranks} == {"gloo"}


def test_only_host_memory_is_pinned_for_the_gpu(monkeypatch):
    """pin_memory raises on a tensor already on a GPU (pairs given as CUDA tensors); "meta" stands in for one."""
    from lpips_edu.cli.image_pairs import to_device

    pinned, moved = [], []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: pinned.append(self.device.type) or self)
    monkeypatch.setattr(torch.Tensor, "to", lambda self, device, **kwargs: moved.append((str(device), kwargs)) or self)
    to_device(torch.zeros(1, device="meta"), torch.device("cuda"))
    to_device(torch.zeros(1), torch.device("cuda"))
    to_device(torch.zeros(1), torch.device("cpu"))
    assert pinned == ["cpu"]  # the host tensor bound for the GPU, only
    assert moved == [("cuda", {"non_blocking": True})] * 2 + [("cpu", {"non_blocking": True})]


def test_torchrun_two_processes_equal_one_to_the_byte(tmp_path):
    d0, d1 = make_dirs(tmp_path, 20)
    single, merged = tmp_path / "single.csv", tmp_path / "merged.csv"
    assert main(["compare", *RANDOM, "--batch-size", "4", "--dirs", str(d0), str(d1), "-o", str(single)]) == 0
    env = {**os.environ, "PYTHONPATH": str(REPO), "LPIPS_EDU_PROGRESS": "off", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "lpips_edu",
         "compare", *RANDOM, "--batch-size", "4", "--dirs", str(d0), str(d1), "-o", str(merged)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "merged 2 parts: 20 distance(s)" in run.stderr
    assert merged.read_bytes() == single.read_bytes()
    assert not list(tmp_path.glob("merged.csv.part*"))
    assert [key for key, _ in read_rows(merged, "csv")][0] == (str(d0 / "000.png"), str(d1 / "000.png"))


# ----------------------------------------------------------------------------- precision
def test_float32_by_default_on_every_cpu_and_bf16_only_when_asked(tmp_path, monkeypatch, capsys):
    Image.fromarray(photo()).save(tmp_path / "a.png")
    Image.fromarray(noisy(photo(), 0)).save(tmp_path / "b.png")
    files = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    outputs = {}
    for forced in ("0", "1"):  # the portable path, and the path of a CPU with native bf16
        monkeypatch.setenv("LPIPS_EDU_CPU_BF16", forced)
        assert main(["compare", *RANDOM, "-v", "--device", "cpu", *files]) == 0
        outputs[forced] = capsys.readouterr()
        assert "(fp32)" in outputs[forced].err and "bf16" not in outputs[forced].err
    assert outputs["0"].out == outputs["1"].out
    assert main(["compare", *RANDOM, "-v", "--precision", "fp32", "--device", "cpu", *files]) == 0
    assert capsys.readouterr().out == outputs["0"].out  # the default, asked for by name
    assert main(["compare", *RANDOM, "-v", "--precision", "bf16", "--device", "cpu", *files]) == 0
    bf16 = capsys.readouterr()
    assert "(bf16)" in bf16.err
    assert float(bf16.out) == pytest.approx(float(outputs["0"].out), abs=5e-3) and bf16.out != outputs["0"].out


@pytest.mark.parametrize("workers", [0, 3])
def test_both_decoding_schedules_give_every_pair_in_input_order(workers):
    """The GPU's schedule (decode ahead, overlapping) and the CPU's (decode a burst, then compute) agree."""
    import threading

    from lpips_edu.cli.image_pairs import _decoded_ahead, _decoded_in_bursts

    lock, in_flight, most = threading.Lock(), [0], [0]

    def read(index, pair):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.002 * (index % 3))  # finish out of order
        with lock:
            in_flight[0] -= 1
        return (index, pair)

    pairs = [(f"a{i}", f"b{i}") for i in range(11)]
    ahead = list(_decoded_ahead(iter(pairs), read, workers, lookahead=4))
    assert ahead == list(enumerate(pairs))
    seen = []
    for got in _decoded_in_bursts(iter(pairs), read, workers, burst=4):
        seen.append(got)
        assert in_flight[0] == 0, "a burst is handed over only when all of it is decoded"
    assert seen == list(enumerate(pairs))
    assert most[0] <= max(workers, 1)
