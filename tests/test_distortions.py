"""Distortions: checked against scipy / PIL where a reference exists, plus the contract every one keeps."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from lpips_edu.data import distortions as D
from lpips_edu.data import load_sample, to_tensor

NAMES = D.distortion_names()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.cat([to_tensor(load_sample(n, size=48)) for n in ("astronaut", "coffee")])


@pytest.mark.parametrize("name", NAMES)
def test_contract_shape_range_and_determinism(name, images):
    a = D.distort(name, images, 0.6, seed=3)
    b = D.distort(name, images, 0.6, seed=3)
    assert a.shape == images.shape and a.dtype == images.dtype
    assert a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    if D.DISTORTIONS[name].random:
        assert not torch.equal(a, D.distort(name, images, 0.6, seed=4))


@pytest.mark.parametrize("name", NAMES)
def test_strength_zero_is_identity_and_error_grows_with_strength(name, images):
    tolerance = 6 / 255 if name == "jpeg" else 1e-5  # JPEG at quality 95 (4:2:0 chroma) is close, not exact
    assert (D.distort(name, images, 0.0) - images).abs().mean() <= tolerance
    errors = [(D.distort(name, images, s, seed=0) - images).pow(2).mean().item() for s in (0.2, 0.5, 1.0)]
    assert errors[0] < errors[1] < errors[2], errors


def test_blur_matches_scipy_gaussian_filter(images):
    sigma, radius = 1.5, 5  # strength 0.5 -> sigma 1.5 px, radius ceil(3 sigma)
    ours = D.blur(images, 0.5)[0].numpy()
    # torch's "reflect" padding is scipy's "mirror"; truncate so that scipy uses the same radius.
    ref = np.stack(
        [ndimage.gaussian_filter(c, sigma, mode="mirror", truncate=radius / sigma) for c in images[0].numpy()]
    )
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_jpeg_is_pil_compression(images):
    array = (images[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=D.jpeg_quality(0.7))
    ref = np.asarray(Image.open(io.BytesIO(buffer.getvalue())), dtype=np.float32) / 255
    np.testing.assert_allclose(D.jpeg(images, 0.7)[0].permute(1, 2, 0).numpy(), ref, atol=1e-6)
    assert D.jpeg_quality(0.0) == 95 and D.jpeg_quality(1.0) == 5


def test_quantize_uses_the_documented_number_of_levels(images):
    for strength, levels in ((0.0, 256), (1.0, 2), (4 / 7, 16)):
        assert D.quantization_levels(strength) == levels
        assert len(torch.unique(D.quantize(images[:1], strength)[:, 0])) <= levels


def test_integer_resampling_is_an_exact_translation(images):
    n, _, h, w = images.shape
    flow = torch.zeros(n, h, w, 2)
    flow[..., 0] = 1.0  # sample one pixel to the right: content moves left by one pixel
    moved = D._resample(images, flow)
    torch.testing.assert_close(moved[..., :, :-1], images[..., :, 1:], atol=1e-5, rtol=0)


def test_shift_moves_by_the_documented_distance(images):
    # Shift by 4 * 0.5 = 2 px: the best integer re-alignment has far lower error than none.
    moved = D.shift(images, 0.5, torch.Generator().manual_seed(0))
    errors = {}
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            back = torch.roll(moved, shifts=(dy, dx), dims=(2, 3))[..., 4:-4, 4:-4]
            errors[(dy, dx)] = (back - images[..., 4:-4, 4:-4]).abs().mean().item()
    best = min(errors, key=errors.get)
    assert best != (0, 0) and max(abs(best[0]), abs(best[1])) <= 2


def test_saturation_one_is_grey_with_bt601_luma(images):
    grey = D.saturation(images, 1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    luma = (images * torch.tensor(D.LUMA).view(1, 3, 1, 1)).sum(1)
    torch.testing.assert_close(grey[:, 0], luma.clamp(0, 1))


def test_clear_errors():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown distortion"):
        D.distort("sepia", x, 0.5)
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\]"):
        D.blur(x, 1.5)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        D.blur(x * 2 - 1, 0.5)
    with pytest.raises(ValueError, match="unsqueeze"):
        D.blur(x[0], 0.5)
    with pytest.raises(ValueError, match="uint8"):
        D.blur((x * 255).to(torch.uint8), 0.5)


def test_tiny_images_still_work():
    x = torch.rand(1, 3, 4, 4)
    for name in NAMES:
        assert D.distort(name, x, 1.0).shape == x.shape
