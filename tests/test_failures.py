"""Chapter 7b's package code: the attack, the E-LPIPS-style ensemble, BlurPool, the rank-flip rate.

Everything runs on seeded random backbones (no ImageNet file needed) and the
offline triplets; the chapter's own cells are tied to these functions in
``tests/test_chapter_mechanisms.py``.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from lpips_edu import LPIPS, calibrate, models
from lpips_edu.calibrate.shifts import centre_crop, rank_flip_rates, rank_flips, two_afc_choices
from lpips_edu.lpips.attack import CachedReference, closer_candidates, pgd_flip, quantize_8bit
from lpips_edu.lpips.ensemble import (
    Transform,
    TransformEnsemble,
    apply_transform,
    downscale_factors,
    random_transform,
)
from lpips_edu.models.blurpool import BlurPool, antialiased_alexnet, binomial_filter


@functools.lru_cache(maxsize=None)
def triplets(n: int = 8, seed: int = 11):
    """Seeded offline triplets at 64 px, rounded to 8 bits, with close calls."""
    config = calibrate.BenchmarkConfig(image_size=64, gap_range=(0.02, 0.1))
    data = calibrate.make_offline_2afc(n, ["astronaut", "coffee", "chelsea", "rocket"], seed=seed, config=config)
    return tuple(quantize_8bit(t) for t in (data.ref, data.p0, data.p1))


@functools.lru_cache(maxsize=None)
def metric(net: str = "alex") -> LPIPS:
    return LPIPS(net, backbone="random", seed=3)


def l2(x: torch.Tensor, ref: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return (x - ref[index]).pow(2).mean(dim=(1, 2, 3))


def attack_inputs(n: int = 8):
    ref, p0, p1 = triplets(n)
    m = metric()
    with torch.no_grad():
        d0, d1 = m(ref, p0, normalize=True).flatten(), m(ref, p1, normalize=True).flatten()
    closer, farther, p1_closer = closer_candidates(d0, d1, p0, p1)
    return m, ref, closer, farther, p1_closer


# ------------------------------------------------------------------ the attack
def test_quantize_8bit_rounds_to_the_png_grid_and_refuses_other_ranges():
    x = torch.tensor([0.0, 0.4 / 255, 0.6 / 255, 0.5, 1.0])
    q = quantize_8bit(x)
    torch.testing.assert_close(q * 255, torch.round(q * 255), rtol=0, atol=1e-5)
    assert q.tolist() == pytest.approx([0.0, 0.0, 1 / 255, 128 / 255, 1.0])
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        quantize_8bit(torch.tensor([-0.5, 0.5]))


def test_closer_candidates_picks_the_nearer_image_and_the_other_distance():
    p0, p1 = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    closer, farther, p1_closer = closer_candidates(torch.tensor([0.1, 0.5]), torch.tensor([0.3, 0.2]), p0, p1)
    assert p1_closer.tolist() == [False, True]
    assert torch.equal(closer[0], p0[0]) and torch.equal(closer[1], p1[1])
    assert farther.tolist() == pytest.approx([0.3, 0.5])


def test_cached_reference_is_the_metric_on_the_chosen_references():
    m, ref, closer, _, _ = attack_inputs()
    index = torch.tensor([5, 0, 3])
    with torch.no_grad():
        cached = CachedReference(m, ref)(closer[index], index)
        direct = m(ref[index], closer[index], normalize=True).flatten()
    torch.testing.assert_close(cached, direct, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_the_attack_stays_in_the_ball_and_the_image_range_after_rounding(k):
    m, ref, closer, farther, _ = attack_inputs()
    eps = k / 255
    result = pgd_flip(CachedReference(m, ref), closer, farther, eps, eps / 2, 4)
    assert (result.images - closer).abs().max() <= eps + 1e-6
    assert result.images.min() >= 0 and result.images.max() <= 1
    rounded = quantize_8bit(result.images)  # the start is on the 8-bit grid, eps a whole number of levels
    assert (255 * (rounded - closer)).abs().max().item() <= k + 1e-4


def test_the_attack_flips_decisions_at_a_small_eps_and_reports_them_truly():
    m, ref, closer, farther, _ = attack_inputs()
    result = pgd_flip(CachedReference(m, ref), closer, farther, 2 / 255, 1 / 255, 5)
    assert result.flipped.float().mean() > 0
    with torch.no_grad():
        d = m(ref, result.images, normalize=True).flatten()
    assert torch.equal(result.flipped, d > farther)
    assert ((result.steps_taken >= 0) & (result.steps_taken <= 5)).all()


def test_a_gradient_step_on_l2_moves_every_pixel_away_from_the_reference():
    ref = torch.full((1, 3, 4, 4), 0.5)
    x = ref + torch.tensor([0.1, -0.1, 0.2])[None, :, None, None]
    result = pgd_flip(lambda y, i: l2(y, ref, i), x, torch.tensor([10.0]), eps=0.05, alpha=0.01, steps=1)
    torch.testing.assert_close(result.images, x + 0.01 * torch.sign(x - ref))
    assert result.steps_taken.tolist() == [1] and not result.flipped.item()


def test_snapshots_steps_and_stopping():
    m, ref, closer, farther, _ = attack_inputs()
    distance = CachedReference(m, ref)
    stopping = pgd_flip(distance, closer, farther, 2 / 255, 1 / 255, 4, record=(0, 2, 4))
    assert torch.equal(stopping.snapshots[0], closer)
    assert torch.equal(stopping.snapshots[4], stopping.images)
    assert torch.equal(pgd_flip(distance, closer, farther, 2 / 255, 1 / 255, 0).images, closer)
    going_on = pgd_flip(distance, closer, farther, 2 / 255, 1 / 255, 4, stop_at_flip=False)
    assert (going_on.steps_taken == 4).all()
    assert going_on.flipped.sum() >= stopping.flipped.sum() - 1  # a longer push rarely loses a flip


def test_the_attack_refuses_bad_arguments():
    _, ref, closer, farther, _ = attack_inputs(4)
    distance = lambda y, i: l2(y, ref, i)  # noqa: E731
    with pytest.raises(ValueError, match="eps >= 0, alpha > 0"):
        pgd_flip(distance, closer, farther, -1.0, 0.1, 3)
    with pytest.raises(ValueError, match="outside 0..3"):
        pgd_flip(distance, closer, farther, 0.1, 0.1, 3, record=(5,))
    with pytest.raises(ValueError, match=r"\[0, 1\] images"):
        pgd_flip(distance, 2 * closer - 1, farther, 0.1, 0.1, 3)
    with pytest.raises(ValueError, match="N distances"):
        pgd_flip(distance, closer, farther[:2], 0.1, 0.1, 3)


# ------------------------------------------------------------------ the ensemble
def test_transform_pieces_do_what_they_say():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4) / 100
    assert torch.equal(apply_transform(Transform(), x), x)
    assert torch.equal(apply_transform(Transform(flip_h=True), x), x.flip(-1))
    assert torch.equal(apply_transform(Transform(transpose=True), x), x.transpose(-2, -1))
    assert torch.equal(apply_transform(Transform(channels=(2, 0, 1)), x), x[:, [2, 0, 1]])
    torch.testing.assert_close(apply_transform(Transform(colour=(0.5, 1.0, 0.2)), x),
                               x * torch.tensor([0.5, 1.0, 0.2]).view(1, 3, 1, 1))
    torch.testing.assert_close(apply_transform(Transform(scale=2), x), F.avg_pool2d(x, 2))
    torch.testing.assert_close(apply_transform(Transform(scale=2, scale_offset=(1, 1)), x),
                               F.avg_pool2d(x[..., 1:, 1:], 2))
    moved = apply_transform(Transform(shift=(1, 2)), x)
    assert moved.shape == x.shape and torch.equal(moved[..., 1:, 2:], x[..., :-1, :-2])
    with pytest.raises(ValueError, match="does not fit"):
        apply_transform(Transform(shift=(4, 0)), x)


def test_downscale_factors_keep_the_backbones_minimum():
    assert downscale_factors(64, 31) == [1, 2]
    assert downscale_factors(64, 1, max_scale=8) == list(range(1, 9))
    assert downscale_factors(31, 31) == [1]
    with pytest.raises(ValueError, match="below the backbone's minimum"):
        downscale_factors(16, 31)


def test_random_transforms_are_seeded_and_scale_with_probability_one_over_s_squared():
    draw = lambda seed: random_transform(torch.Generator().manual_seed(seed), (64, 64), 16)  # noqa: E731
    assert draw(5) == draw(5)
    assert len({draw(s) for s in range(20)}) > 1
    g = torch.Generator().manual_seed(0)
    scales = [random_transform(g, (64, 64), 31).scale for _ in range(4000)]
    assert scales.count(1) / len(scales) == pytest.approx(0.8, abs=0.03)  # weights 1 and 1/4
    t = draw(1)
    assert 0 <= min(t.shift) and max(t.shift) <= 7 and sorted(t.channels) == [0, 1, 2]
    assert all(0.2 <= c <= 1.0 for c in t.colour)


def test_the_ensemble_is_reproducible_and_called_like_lpips():
    ref, p0, _ = triplets(4)
    ensemble = TransformEnsemble(metric(), samples=3, seed=7)
    with torch.no_grad():
        first, again = ensemble(ref, p0, normalize=True), ensemble(ref, p0, normalize=True)
        other_seed = TransformEnsemble(metric(), samples=3, seed=8)(ref, p0, normalize=True)
        minus_one_to_one = ensemble(2 * ref - 1, 2 * p0 - 1)
        same = ensemble(ref, ref, normalize=True)
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        fresh = [ensemble(ref, p0, normalize=True, generator=g1) for _ in range(2)]
        replay = ensemble(ref, p0, normalize=True, generator=g2)
    assert first.shape == (4, 1, 1, 1) and torch.equal(first, again)
    assert not torch.equal(first, other_seed)
    torch.testing.assert_close(minus_one_to_one, first, rtol=1e-5, atol=1e-6)
    assert same.abs().max() < 1e-6
    assert not torch.equal(fresh[0], fresh[1]) and torch.equal(fresh[0], replay)
    views = ensemble.transforms((64, 64))
    expected = sum(metric()(apply_transform(t, ref), apply_transform(t, p0), normalize=True) for t in views) / 3
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-6)


def test_the_ensemble_refuses_what_lpips_refuses_and_bad_settings():
    ref, p0, _ = triplets(4)
    ensemble = TransformEnsemble(metric(), samples=2)
    with pytest.raises(ValueError, match="normalize=True"):
        ensemble(255 * ref, 255 * p0)
    with pytest.raises(ValueError, match="different sizes"):
        ensemble(ref, p0[..., :32, :32], normalize=True)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        TransformEnsemble(metric(), samples=0)
    with pytest.raises(ValueError, match="spatial=False"):
        TransformEnsemble(LPIPS("alex", backbone="random", seed=3, spatial=True))


def test_the_attack_runs_on_the_ensemble_with_fresh_views():
    m, ref, closer, farther, _ = attack_inputs(4)
    ensemble = TransformEnsemble(m, samples=2, seed=0)
    g = torch.Generator().manual_seed(0)
    result = pgd_flip(lambda x, i: ensemble(ref[i], x, normalize=True, generator=g).flatten(),
                      closer, farther, 2 / 255, 1 / 255, 2, stop_at_flip=False)
    assert (result.images - closer).abs().max() <= 2 / 255 + 1e-6 and (result.steps_taken == 2).all()


# ------------------------------------------------------------------ BlurPool
def test_binomial_filters():
    torch.testing.assert_close(binomial_filter(3) * 16, torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]))
    assert binomial_filter(1).tolist() == [[1.0]]
    assert binomial_filter(5).sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        binomial_filter(0)


def test_blur_before_subsampling_makes_a_checkerboard_shift_invariant():
    board = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2).float()[None, None]  # 1 x 1 x 8 x 8
    shifted = torch.roll(board, 1, dims=-1)
    plain = lambda x: x[..., ::2, ::2]  # noqa: E731
    assert (plain(board) - plain(shifted)).abs().max() == 1.0  # aliasing: all ones against all zeros
    blur = BlurPool(1, stride=2, filter_size=3)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # away from the reflected border
    torch.testing.assert_close(blur(board)[inner], blur(shifted)[inner])
    with pytest.raises(ValueError, match="built for 1 channels"):
        blur(torch.zeros(1, 2, 8, 8))


def test_antialiased_alexnet_with_the_identity_filter_is_the_original():
    net = models.build("alexnet", features_only=True).eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        original = net.forward_features(x)
        same = antialiased_alexnet(net, filter_size=1).forward_features(x)
        blurred = antialiased_alexnet(net).forward_features(x)
    for name in original:
        torch.testing.assert_close(same[name], original[name], rtol=1e-5, atol=1e-5)
        assert blurred[name].shape == original[name].shape
    assert any(not torch.allclose(blurred[n], original[n]) for n in original)
    assert net.features[0].stride == (4, 4)  # the network passed in is left as it was


def test_antialiased_alexnet_knows_its_minimum_and_refuses_other_networks():
    anti = antialiased_alexnet(models.build("alexnet", features_only=True))
    with torch.no_grad():
        anti.forward_features(torch.zeros(1, 3, anti.min_input_size, anti.min_input_size))
        with pytest.raises(ValueError, match="too small"):
            anti.forward_features(torch.zeros(1, 3, anti.min_input_size - 1, anti.min_input_size - 1))
        with pytest.raises(RuntimeError):  # what the minimum guards against: nothing left to mirror
            anti.features[:12](torch.zeros(1, 3, anti.min_input_size - 1, anti.min_input_size - 1))
    metric_on_it = LPIPS("alex", backbone=anti)  # the official heads fit its taps
    assert metric_on_it.min_input_size == anti.min_input_size
    with pytest.raises(ValueError, match="antialiased already"):
        antialiased_alexnet(anti)
    with pytest.raises(TypeError, match="AlexNet"):
        antialiased_alexnet(models.build("vgg11", features_only=True))


# ------------------------------------------------------------------ shifts
def test_centre_crop_moves_the_window_and_checks_the_margin():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(centre_crop(x, 1), x[..., 1:5, 1:5])
    assert torch.equal(centre_crop(x, 1, (0, 1)), x[..., 1:5, 2:6])
    assert torch.equal(centre_crop(x, 2, (-1, 0)), x[..., 1:3, 2:4])
    with pytest.raises(ValueError, match="margin of at least 2"):
        centre_crop(x, 1, (0, 2))
    with pytest.raises(ValueError, match="leaves nothing"):
        centre_crop(x, 3)


def test_two_afc_choices_and_rank_flips():
    ref = torch.zeros(3, 3, 8, 8)
    p0 = torch.full_like(ref, 0.1)
    p1 = torch.full_like(ref, 0.2)
    p1[1] = 0.05
    l2_distance = lambda a, b: (a - b).pow(2).mean(dim=(1, 2, 3))  # noqa: E731
    assert two_afc_choices(l2_distance, ref, p0, p1).tolist() == [False, True, False]
    assert two_afc_choices(l2_distance, ref, p0, p1, batch_size=1).tolist() == [False, True, False]
    # flat images: a shift changes nothing
    assert rank_flip_rates(l2_distance, ref, p0, p1, (1, 2)) == {1: 0.0, 2: 0.0}
    # a vertical edge in p0 that moving the window one pixel right puts on top of the reference's edge
    ref2 = torch.zeros(1, 3, 8, 8)
    ref2[..., 4:] = 1.0
    p0_2 = torch.zeros(1, 3, 8, 8)
    p0_2[..., 5:] = 1.0  # the edge one column to the right
    p1_2 = ref2 * 0.8
    flips = rank_flips(l2_distance, ref2, p0_2, p1_2, shifts=(1,), margin=2)
    assert flips[1].tolist() == [True]
    with pytest.raises(ValueError, match="no triplets"):
        rank_flip_rates(l2_distance, ref[:0], p0[:0], p1[:0])
    with pytest.raises(ValueError, match="same shape"):
        two_afc_choices(l2_distance, ref, p0[:2], p1)
