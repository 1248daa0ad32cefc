"""lpips_edu.DISTS against torchmetrics' DISTS on the same VGG-16 weights, and its call, checks and weights file."""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import shutil

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

import lpips_edu
from lpips_edu import DISTS, models, resolve_backbone
from lpips_edu.cli.image_pairs import pair_distances
from lpips_edu.data import load_sample, to_tensor
from lpips_edu.lpips import dists as dists_module
from lpips_edu.lpips.dists import L2Pool, dists_weights_file, read_dists_weights
from lpips_edu.lpips.peer import peer_dists
from lpips_edu.models import imagenet_features

needs_real_weights = pytest.mark.skipif(
    not imagenet_features.is_present("vgg16"),
    reason="converted ImageNet features missing: run `python -m lpips_edu weights fetch` (make install does)",
)
ATOL = 1e-5  # the bar for equal to torchmetrics


# ------------------------------------------------------------------ inputs and weights
def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer))


@functools.lru_cache(maxsize=None)
def photo_pairs(height: int = 64, width: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Shipped photos in [0, 1] (torchmetrics' range); a noisy, a JPEG and a blurred copy, and an unrelated photo."""
    names = ["astronaut", "chelsea", "coffee", "grace_hopper"]
    crops = [load_sample(n, max(height, width))[:height, :width] for n in names]
    clean = torch.cat([to_tensor(np.ascontiguousarray(c), (0, 1)) for c in crops])
    g = torch.Generator().manual_seed(0)
    noisy = (clean[0:1] + 0.15 * torch.randn(clean[0:1].shape, generator=g)).clamp(0, 1)
    jpeg = to_tensor(_jpeg(np.ascontiguousarray(crops[1]), quality=10), (0, 1))
    blurred = TF.gaussian_blur(clean[2:3], kernel_size=7, sigma=2.0)
    other = to_tensor(np.ascontiguousarray(load_sample("rocket", max(height, width))[:height, :width]), (0, 1))
    return clean, torch.cat([noisy, jpeg, blurred, other])


@functools.lru_cache(maxsize=None)
def seeded_vgg16() -> nn.Module:
    """One seeded random VGG-16 (no ImageNet file needed), shared by ours and torchmetrics'."""
    torch.manual_seed(1234)
    return models.build("vgg16", features_only=True)


def our_dists(**kwargs) -> DISTS:
    return DISTS(backbone=copy.deepcopy(seeded_vgg16()), **kwargs)


@functools.lru_cache(maxsize=None)
def ours_seeded() -> DISTS:
    return our_dists()


@functools.lru_cache(maxsize=None)
def torchmetrics_seeded() -> nn.Module:
    return peer_dists(seeded_vgg16())


def torchmetrics_distance(peer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return peer(x, y).reshape(-1, 1, 1, 1)  # torchmetrics squeezes a batch of one to a number


# ------------------------------------------------------------------ same numbers as torchmetrics
@pytest.mark.parametrize("size", [(32, 32), (64, 64), (97, 80)])
@pytest.mark.parametrize("batch", [1, 3])
def test_equals_torchmetrics_on_the_same_backbone(size, batch):
    clean, distorted = photo_pairs(*size)
    x, y = clean[:batch], distorted[:batch]
    got = ours_seeded()(x, y, normalize=True)
    want = torchmetrics_distance(torchmetrics_seeded(), x, y)
    assert got.shape == (batch, 1, 1, 1) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_distances_order_the_distortions():
    """Not a constant: an unrelated photo is further away than a noisy copy, and a photo is 0 from itself."""
    clean, distorted = photo_pairs()
    d = ours_seeded()(clean, distorted, normalize=True).flatten()
    assert d[3] > 2 * d[0] > 0
    assert float(ours_seeded()(clean, clean, normalize=True).abs().max()) < 1e-6


@needs_real_weights
def test_equals_torchmetrics_on_imagenet_features():
    """The published DISTS: ImageNet VGG-16 (the default backbone) and torchmetrics' alpha/beta."""
    clean, distorted = photo_pairs(64, 64)
    ours = DISTS()
    assert ours.backbone_weights == "imagenet" and "ImageNet" in ours.weights_description
    want = torchmetrics_distance(peer_dists(resolve_backbone("vgg", "imagenet").model), clean, distorted)
    torch.testing.assert_close(ours(clean, distorted, normalize=True), want, atol=ATOL, rtol=0)


def test_l2_pool_is_the_hann_window_of_the_paper():
    x = torch.rand(2, 4, 9, 8)
    window = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    want = (torch.nn.functional.conv2d(x**2, window.expand(4, 1, 3, 3), stride=2, padding=1, groups=4) + 1e-12).sqrt()
    torch.testing.assert_close(L2Pool(4)(x), want, atol=1e-7, rtol=0)
    assert L2Pool(4)(x).shape == (2, 4, 5, 4)  # stride 2: ceil(H / 2) x ceil(W / 2)


# ------------------------------------------------------------------ the call
def test_range_convention_normalize_true_is_the_0_1_call():
    clean, distorted = photo_pairs()
    ours = ours_seeded()
    torch.testing.assert_close(ours(2 * clean - 1, 2 * distorted - 1), ours(clean, distorted, normalize=True),
                               atol=1e-6, rtol=0)


def test_a_batch_of_one_is_compared_with_every_image():
    clean, distorted = photo_pairs()
    ours = ours_seeded()
    expanded = ours(clean[:1].expand_as(distorted), distorted, normalize=True)
    torch.testing.assert_close(ours(clean[:1], distorted, normalize=True), expanded, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(distorted, clean[:1], normalize=True), expanded, atol=1e-6, rtol=0)


@pytest.mark.parametrize("identical", [True, False])
def test_gradients_are_finite_and_equal_torchmetrics(identical):
    clean, distorted = photo_pairs(32, 32)
    target = clean if identical else distorted
    x = target.clone().requires_grad_(True)
    d = ours_seeded()(clean, x, normalize=True)
    assert d.grad_fn is not None
    d.sum().backward()
    assert torch.isfinite(x.grad).all()
    x_ref = target.clone().requires_grad_(True)
    torchmetrics_seeded()(clean, x_ref, require_grad=True).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-8, rtol=1e-3)
    if not identical:
        assert float(x.grad.abs().max()) > 1e-5  # a gradient that is there, not all zeros


def test_frozen_eval_and_no_graph_without_grad_inputs():
    ours = our_dists()
    assert not any(p.requires_grad for p in ours.parameters())
    nn.Sequential(ours).train()
    assert not any(m.training for m in ours.modules())
    clean, distorted = photo_pairs()
    d = ours(clean, distorted, normalize=True)
    assert d.grad_fn is None and not d.requires_grad
    w = torch.ones(1, requires_grad=True)
    (d.sum() * w).backward()  # a normal tensor, usable in later autograd code


def test_the_backbone_passed_in_is_left_as_it_was():
    backbone = models.build("vgg16", features_only=True)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    ours = DISTS(backbone=backbone, precision="bf16")
    assert ours.net is not backbone and isinstance(backbone.features[4], nn.MaxPool2d)
    assert isinstance(ours.net.features[4], L2Pool) and len(ours.net.features) == 30
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())
    assert "the backbone passed in" in ours.weights_description and "torchmetrics" in ours.weights_description


@pytest.mark.parametrize("name", ["alexnet", "vgg16_bn", "vgg19"])
def test_other_backbones_are_refused(name):
    with pytest.raises(ValueError, match="DISTS is defined on VGG-16 without batch norm"):
        DISTS(backbone=models.build(name, features_only=True))


@pytest.mark.parametrize("precision, atol", [("bf16", 2e-3), ("fp16", 1e-4)])
def test_low_precision_backbone_stays_close_to_float32(precision, atol):
    clean, distorted = photo_pairs()
    low = our_dists(precision=precision)
    assert next(low.net.parameters()).dtype == dists_module.PRECISIONS[precision]
    got, want = low(clean, distorted, normalize=True), ours_seeded()(clean, distorted, normalize=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=atol, rtol=0)
    assert not torch.equal(got, want)  # really ran in low precision


@pytest.mark.parametrize("channels_last", [True, False])
def test_memory_layout_does_not_change_the_numbers(channels_last):
    clean, distorted = photo_pairs()
    want = torchmetrics_distance(torchmetrics_seeded(), clean, distorted)
    torch.testing.assert_close(our_dists(channels_last=channels_last)(clean, distorted, normalize=True), want,
                               atol=ATOL, rtol=0)


def test_runs_without_tf32_and_gives_the_callers_setting_back(monkeypatch):
    ours = our_dists()
    seen = []
    forward_features = ours.net.forward_features

    def recording(x):
        seen.append((torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32))
        return forward_features(x)

    monkeypatch.setattr(ours.net, "forward_features", recording)
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    try:
        clean, distorted = photo_pairs(32, 32)
        ours(clean, distorted, normalize=True)
        ours(clean[:1], distorted, normalize=True)
        after = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.allow_tf32 = saved[1]
    assert len(seen) == 3 and set(seen) == {("highest", False)}
    assert after == ("high", True)


def test_pair_distances_run_dists():
    """The folder engine takes any metric called like LPIPS."""
    clean, distorted = photo_pairs()
    ours = ours_seeded()
    results = list(pair_distances(ours, [(clean[i], distorted[i]) for i in range(4)], batch_size=3,
                                  normalize=True, workers=0))
    got = torch.tensor([r.distance for r in results])
    torch.testing.assert_close(got, ours(clean, distorted, normalize=True).flatten(), atol=1e-6, rtol=0)


def test_exported_at_the_top():
    assert lpips_edu.DISTS is DISTS and lpips_edu.lpips.DISTS is DISTS


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize(
    "in0, in1, message",
    [
        (torch.zeros(3, 32, 32), torch.zeros(3, 32, 32), "unsqueeze"),
        (torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 32, 24), "in0 and in1 have different sizes.*DISTS compares"),
        (torch.zeros(2, 3, 32, 32), torch.zeros(3, 3, 32, 32), "batch sizes 2 and 3"),
        (torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32), r"DISTS needs 3 \(RGB\).*repeat\(1, 3, 1, 1\)"),
        (torch.zeros(1, 32, 32, 3), torch.zeros(1, 32, 32, 3), "permute"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, 3, 32, 32), r"DISTS needs floating-point"),
        (torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 1.5), r"DISTS expects images in \[-1, 1\].*normalize"),
        (torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 200.0), "divide by 255"),
        (torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), float("nan")), "NaN"),
        (torch.zeros(1, 3, 15, 32), torch.zeros(1, 3, 15, 32), "too small for the VGG-16 backbone.*minimum is 16x16"),
    ],
)
def test_errors_say_what_is_wrong_and_how_to_fix_it(in0, in1, message):
    with pytest.raises(ValueError, match=message):
        ours_seeded()(in0, in1)


def test_normalize_range_error():
    with pytest.raises(ValueError, match=r"normalize=True DISTS expects images in \[0, 1\]"):
        ours_seeded()(torch.full((1, 3, 32, 32), -0.5), torch.zeros(1, 3, 32, 32), normalize=True)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        DISTS(backbone="random", precision="fp8")


def test_offline_default_fails_fast_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("LPIPS_EDU_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("LPIPS_EDU_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(models.WeightsNotAvailableError) as err:
        DISTS()
    message = str(err.value)
    assert "vgg16-397923af.pth" in message and "backbone='random' for a random one" in message
    assert "DISTS(backbone=lpips_edu.resolve_backbone('vgg').model)" in message


# ------------------------------------------------------------------ the weights file
def test_weights_are_torchmetrics_file_read_in_place():
    from torchmetrics.functional.image import dists as torchmetrics_dists

    path = dists_weights_file()
    assert path == torchmetrics_dists._PATH_WEIGHT_DISTS
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dists_module.WEIGHTS_SHA256
    weights = read_dists_weights(path)
    peer = torchmetrics_seeded()
    assert torch.equal(ours_seeded().alpha, peer.alpha.flatten())
    assert torch.equal(ours_seeded().beta, peer.beta.flatten())
    assert set(weights) == {"alpha", "beta"} and weights["alpha"].shape == (1, 1475, 1, 1)


def test_a_corrupted_copy_is_refused(tmp_path):
    copy_path = tmp_path / "weights.pt"
    shutil.copyfile(dists_weights_file(), copy_path)
    data = bytearray(copy_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy_path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not the pinned file.*force-reinstall"):
        read_dists_weights(copy_path)
    with pytest.raises(FileNotFoundError, match='pip install "torchmetrics>=1.8"'):
        read_dists_weights(tmp_path / "missing.pt")


def test_wrong_shapes_are_refused(tmp_path, monkeypatch):
    """A file that passes the hash check but not the shapes (only if a pin were changed carelessly)."""
    path = tmp_path / "weights.pt"
    torch.save({"alpha": torch.rand(1, 1472, 1, 1), "beta": torch.rand(1, 1475, 1, 1)}, path)
    monkeypatch.setattr(dists_module, "WEIGHTS_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match=r"do not fit VGG-16's stages .*alpha: \(1, 1472, 1, 1\)"):
        read_dists_weights(path)


def test_without_torchmetrics_the_error_names_the_install(monkeypatch):
    real_find_spec = dists_module.importlib.util.find_spec
    monkeypatch.setattr(dists_module.importlib.util, "find_spec",
                        lambda name, *args: None if name == "torchmetrics" else real_find_spec(name, *args))
    with pytest.raises(FileNotFoundError, match='not installed; install it with pip install "torchmetrics>=1.8"'):
        DISTS(backbone="random")
