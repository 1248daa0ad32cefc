"""lpips_edu.LPIPS against the lpips package and torchmetrics, on the same weights and real images."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import re

import lpips
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from lpips_edu import LPIPS, models, resolve_backbone
from lpips_edu.cli.image_pairs import pair_distances
from lpips_edu.data import load_sample, to_tensor
from lpips_edu.lpips import official_heads_file
from lpips_edu.lpips.linear_heads import save_heads

NETS = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


# ------------------------------------------------------------------ inputs and weights
def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer))


@functools.lru_cache(maxsize=None)
def real_pairs(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Shipped photos (in [-1, 1]) and real distortions of them: noise, blur, JPEG, and an unrelated photo."""
    names = ["astronaut", "chelsea", "coffee", "grace_hopper"]
    clean = torch.cat([to_tensor(load_sample(n, size), (-1, 1)) for n in names])
    g = torch.Generator().manual_seed(0)
    noisy = (clean[0:1] + 0.15 * torch.randn(clean[0:1].shape, generator=g)).clamp(-1, 1)
    blurred = TF.gaussian_blur(clean[1:2], kernel_size=7, sigma=2.0)
    jpeg = to_tensor(_jpeg(load_sample(names[2], size), quality=10), (-1, 1))
    other = to_tensor(load_sample("rocket", size), (-1, 1))
    return clean, torch.cat([noisy, blurred, jpeg, other])


@functools.lru_cache(maxsize=None)
def _seeded_backbone(net: str) -> nn.Module:
    """One seeded torchvision initialisation per net, shared by the reference and ours."""
    torch.manual_seed(1234)
    return models.build(NETS[net], features_only=True)  # LPIPS never reads the classifier


def backbone_state(net: str) -> dict[str, torch.Tensor]:
    return _seeded_backbone(net).features.state_dict()


def our_metric(net: str, **kwargs) -> LPIPS:
    return LPIPS(net=net, backbone=copy.deepcopy(_seeded_backbone(net)), **kwargs)


def load_into_slices(slices: nn.Module, net: str, state: dict | None = None) -> None:
    """lpips/torchmetrics cut torchvision's `features` into slices: slice{k}.{index}... or slices.{k}.{index}..."""
    features = backbone_state(net) if state is None else state
    ours = {key: features[re.sub(r"^(slice\d+|slices\.\d+)\.", "", key)] for key in slices.state_dict()}
    slices.load_state_dict(ours, strict=True)


@contextlib.contextmanager
def skip_random_init():
    """The reference draws a full random VGG (seconds) that we overwrite at once: skip the draws."""
    names = ["kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_", "constant_", "xavier_uniform_"]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


@functools.lru_cache(maxsize=None)
def reference_metric(net: str, version: str, use_lpips: bool) -> lpips.LPIPS:
    with skip_random_init():  # every weight is overwritten below or loaded from the official file
        ref = lpips.LPIPS(net=net, version=version, lpips=use_lpips, pnet_rand=True, verbose=False)
    load_into_slices(ref.net, net)
    return ref


# ------------------------------------------------------------------ same numbers as the references
@pytest.mark.parametrize("net", list(NETS))
@pytest.mark.parametrize("version", ["0.1", "0.0"])
@pytest.mark.parametrize("use_lpips", [True, False])
def test_matches_lpips_package(net, version, use_lpips):
    in0, in1 = real_pairs()
    ref = reference_metric(net, version, use_lpips)
    for spatial in (False, True):
        ref.spatial = spatial  # a plain flag read by lpips.LPIPS.forward
        ours = our_metric(net, version=version, lpips=use_lpips, spatial=spatial)
        with torch.no_grad():
            want, want_layers = ref(in0, in1, retPerLayer=True)
            want_normalized = ref(in0 * 0.5 + 0.5, in1 * 0.5 + 0.5, normalize=True)
        got, got_layers = ours(in0, in1, retPerLayer=True)
        expected_shape = (4, 1, 64, 64) if spatial else (4, 1, 1, 1)
        assert got.shape == want.shape == expected_shape
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
        assert len(got_layers) == len(want_layers) == ours.L
        for g, w in zip(got_layers, want_layers):
            torch.testing.assert_close(g, w, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours(in0, in1), want, atol=1e-5, rtol=0)
        torch.testing.assert_close(
            ours(in0 * 0.5 + 0.5, in1 * 0.5 + 0.5, normalize=True), want_normalized, atol=1e-5, rtol=0
        )
    ref.spatial = False


def test_distances_are_meaningful_not_all_equal():
    """Guard against comparing two constant functions: different distortions give different distances."""
    in0, in1 = real_pairs()
    d = our_metric("alex")(in0, in1).flatten()
    assert d.min() > 0 and len(set(d.tolist())) == 4
    assert float(our_metric("alex")(in0, in0).abs().max()) == 0.0


def test_non_square_spatial_map_matches_lpips():
    in0 = to_tensor(load_sample("chelsea", 96), (-1, 1))[..., :72, :]
    in1 = TF.gaussian_blur(in0, kernel_size=5, sigma=1.5)
    ref = reference_metric("squeeze", "0.1", True)
    ref.spatial = True
    with torch.no_grad():
        want = ref(in0, in1)
    ref.spatial = False
    got = our_metric("squeeze", spatial=True)(in0, in1)
    assert got.shape == (1, 1, 72, 96)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("net", list(NETS))
def test_matches_torchmetrics(net, monkeypatch):
    """torchmetrics builds an ImageNet backbone (a download); build it with a random one, then copy ours in."""
    pytest.importorskip("torchmetrics", reason="torchmetrics is in the test extras (pyproject.toml)")
    from torchmetrics.functional.image import lpips as tm_functional
    from torchmetrics.image import lpip as tm_image

    monkeypatch.setattr(tm_image, "_NoTrainLpips", functools.partial(tm_functional._NoTrainLpips, pnet_rand=True))
    with skip_random_init():
        metric = tm_image.LearnedPerceptualImagePatchSimilarity(net_type=net, reduction="none")
    load_into_slices(metric.net.net, net)
    in0, in1 = real_pairs()
    want = metric(in0, in1)
    got = our_metric(net)(in0, in1).flatten()
    # torchmetrics puts its eps (1e-8) inside the square root, lpips (1e-10) outside: 1e-4 apart at most.
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_official_heads_are_the_lpips_wheels_and_torchmetrics_copies():
    for net in NETS:
        ours = our_metric(net)
        official = torch.load(official_heads_file(net, "0.1"), map_location="cpu", weights_only=True)
        for k, head in enumerate(ours.lins):
            assert torch.equal(head.weight, official[f"lin{k}.model.1.weight"])


# ------------------------------------------------------------------ fixed traps
def _dead_backbone(net: str) -> dict[str, torch.Tensor]:
    """A backbone whose last tap is exactly zero everywhere (a dead ReLU), as ImageNet AlexNet gives on flat regions."""
    state = dict(backbone_state(net))
    last_conv_bias = [k for k in state if k.endswith("bias")][-1]
    state[last_conv_bias] = torch.full_like(state[last_conv_bias], -1e4)
    return state


@pytest.mark.parametrize("identical", [True, False])
def test_gradient_is_finite_where_lpips_gives_nan(identical):
    """A tap that is exactly zero at a position: lpips' sqrt backward computes 0/0 = NaN there.

    Behind a ReLU the NaN is masked before it reaches the image, but anomaly
    detection (what one turns on to hunt NaNs) stops in SqrtBackward0, and any
    tap not masked by a ReLU passes the NaN on.
    """
    in0, in1 = real_pairs()
    target = in0[:1] if identical else in1[:1]
    dead = _dead_backbone("alex")
    with skip_random_init():
        ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    load_into_slices(ref.net, "alex", dead)
    ours = our_metric("alex")
    ours.net.features.load_state_dict(dead)

    x_ref = target.clone().requires_grad_(True)
    with pytest.raises(RuntimeError, match="SqrtBackward0"), torch.autograd.detect_anomaly():
        ref(in0[:1], x_ref).sum().backward()

    x = target.clone().requires_grad_(True)
    with torch.autograd.detect_anomaly():
        d = ours(in0[:1], x)
        d.sum().backward()
    assert torch.isfinite(x.grad).all()
    with torch.no_grad():
        torch.testing.assert_close(d, ref(in0[:1], target), atol=1e-6, rtol=0)


@pytest.mark.parametrize("identical", [True, False])
def test_gradient_at_zero_feature_vectors(identical):
    """Gradient with respect to the taps themselves (a backbone without a ReLU at its taps)."""
    from lpips_edu.lpips import normalize_tensor

    g = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 16, 5, 5, generator=g)
    feats[:, :, 2, 3] = 0  # a position where every channel is zero
    other = feats.clone() if identical else torch.rand(2, 16, 5, 5, generator=g)
    for normalize, expect_nan in ((lpips.normalize_tensor, True), (normalize_tensor, False)):
        f = feats.clone().requires_grad_(True)
        ((normalize(f) - normalize(other)) ** 2).sum().backward()
        assert bool(torch.isnan(f.grad).any()) == expect_nan
        torch.testing.assert_close(normalize_tensor(feats), lpips.normalize_tensor(feats), atol=1e-6, rtol=0)


def test_gradient_matches_lpips_where_it_is_defined():
    in0, in1 = real_pairs()
    ref = reference_metric("squeeze", "0.1", True)
    x_ref = in1.clone().requires_grad_(True)
    ref(in0, x_ref).sum().backward()
    x = in1.clone().requires_grad_(True)
    our_metric("squeeze")(in0, x).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-6, rtol=1e-4)


def test_parameters_are_frozen_and_no_graph_without_grad_inputs():
    ours = our_metric("alex")
    assert not any(p.requires_grad for p in ours.parameters())
    in0, in1 = real_pairs()
    d = ours(in0, in1)
    assert d.grad_fn is None and not d.requires_grad
    # the result is a normal tensor: usable in later autograd code
    w = torch.ones(1, requires_grad=True)
    (d.sum() * w).backward()
    x = in1.clone().requires_grad_(True)
    assert ours(in0, x).grad_fn is not None


def test_parent_train_does_not_enable_dropout():
    in0, in1 = real_pairs()
    ours = our_metric("alex")
    parent = nn.Sequential(ours)
    parent.train()
    assert not any(m.training for m in ours.modules())
    torch.testing.assert_close(ours(in0, in1), ours(in0, in1), atol=0, rtol=0)
    ref = copy.deepcopy(reference_metric("alex", "0.1", True)).train()  # the package: dropout on
    with torch.no_grad():
        assert not torch.equal(ref(in0, in1), ref(in0, in1))


# ------------------------------------------------------------------ clear errors
@pytest.fixture(scope="module")
def alex() -> LPIPS:
    return our_metric("alex")


@pytest.mark.parametrize(
    "in0, in1, message",
    [
        (torch.zeros(3, 64, 64), torch.zeros(3, 64, 64), "unsqueeze"),
        (torch.zeros(1, 1, 3, 64, 64), torch.zeros(1, 1, 3, 64, 64), "N x 3 x H x W"),
        (torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 64, 48), "in0 and in1 have different sizes"),
        (torch.zeros(2, 3, 64, 64), torch.zeros(3, 3, 64, 64), "batch sizes 2 and 3"),
        (torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64), r"repeat\(1, 3, 1, 1\)"),
        (torch.zeros(1, 4, 64, 64), torch.zeros(1, 4, 64, 64), r"x\[:, :3\]"),
        (torch.zeros(1, 64, 64, 3), torch.zeros(1, 64, 64, 3), "permute"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), torch.zeros(1, 3, 64, 64), r"x.float\(\) / 255"),
        (torch.zeros(1, 3, 64, 64), torch.full((1, 3, 64, 64), 1.5), r"\[-1, 1\].*normalize=True"),
        (torch.zeros(1, 3, 64, 64), torch.full((1, 3, 64, 64), 200.0), "divide by 255"),
        (torch.zeros(1, 3, 64, 64), torch.full((1, 3, 64, 64), float("nan")), "NaN"),
        (torch.zeros(1, 3, 64, 64), torch.full((1, 3, 64, 64), float("inf")), "NaN or infinite"),
    ],
)
def test_errors_say_what_is_wrong_and_how_to_fix_it(alex, in0, in1, message):
    with pytest.raises(ValueError, match=message):
        alex(in0, in1)


def test_normalize_range_error(alex):
    with pytest.raises(ValueError, match=r"normalize=True LPIPS expects images in \[0, 1\]"):
        alex(torch.zeros(1, 3, 64, 64) - 0.5, torch.zeros(1, 3, 64, 64), normalize=True)
    # tiny overshoot from resampling is tolerated
    alex(torch.full((1, 3, 64, 64), 1.0005), torch.zeros(1, 3, 64, 64))


@pytest.mark.parametrize("net, minimum", [("alex", 31), ("vgg", 16), ("squeeze", 17)])
def test_too_small_images_name_the_minimum(net, minimum):
    metric = our_metric(net)
    assert metric.min_input_size == _seeded_backbone(net).min_input_size == minimum
    metric(torch.zeros(1, 3, minimum, minimum), torch.zeros(1, 3, minimum, minimum))
    with pytest.raises(ValueError, match=f"minimum is {minimum}x{minimum}"):
        metric(torch.zeros(1, 3, minimum - 1, 64), torch.zeros(1, 3, minimum - 1, 64))


def test_offline_default_fails_fast_naming_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("LPIPS_EDU_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(models.WeightsNotAvailableError) as err:
        LPIPS(net="squeeze")
    message = str(err.value)
    assert "squeezenet1_1-b8a52dc0.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "resolve_backbone" in message and "pnet_rand=True" in message


def test_imagenet_backbone_from_the_hub_cache_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, path = models.imagenet_weights_file(models.get_spec("squeezenet1_1"))
    path.parent.mkdir(parents=True)
    full = models.build("squeezenet1_1").state_dict()
    full.update({f"features.{k}": v for k, v in backbone_state("squeeze").items()})
    torch.save(full, path)
    in0, in1 = real_pairs()
    ours = LPIPS(net="squeeze")
    resolved = resolve_backbone("squeeze")
    assert resolved.weights == "imagenet" and "ImageNet" in resolved.description
    with torch.no_grad():
        want = reference_metric("squeeze", "0.1", True)(in0, in1)
    torch.testing.assert_close(ours(in0, in1), want, atol=1e-5, rtol=0)


def test_heads_load_strictly(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        our_metric("alex", model_path=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="do not fit"):
        our_metric("alex", model_path=official_heads_file("vgg"))  # VGG's heads on AlexNet
    partial = torch.load(official_heads_file("alex"), weights_only=True, map_location="cpu")
    partial.pop("lin4.model.1.weight")
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="missing"):
        our_metric("alex", model_path=tmp_path / "partial.pth")
    # calibrated heads in the official key layout load and are used
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate([64, 192, 384, 256, 256])}
    torch.save(heads, tmp_path / "mine.pth")
    mine = our_metric("alex", model_path=tmp_path / "mine.pth")
    assert torch.equal(mine.lin2.weight, heads["lin2.model.1.weight"])
    with pytest.raises(ValueError, match="unknown LPIPS version"):
        our_metric("alex", version="0.2")


def test_heads_argument_is_separate_from_the_net(tmp_path):
    in0, in1 = real_pairs()
    official = our_metric("alex")
    # the lpips package's spellings are the same choices as heads=
    assert torch.equal(our_metric("alex", heads=official_heads_file("alex"))(in0, in1), official(in0, in1))
    assert torch.equal(our_metric("alex", heads=None)(in0, in1), our_metric("alex", lpips=False)(in0, in1))
    torch.manual_seed(3)
    fresh = our_metric("alex", heads="fresh")
    torch.manual_seed(3)
    assert torch.equal(fresh(in0, in1), our_metric("alex", pretrained=False)(in0, in1))
    assert "untrained linear heads" in fresh.weights_description
    # a registry network without official heads needs no stand-in net name
    uncalibrated = LPIPS(net=None, backbone=models.build("vgg11", features_only=True), heads=None)
    assert uncalibrated.pnet_type is None and not uncalibrated.lpips and uncalibrated(in0, in1).shape == (4, 1, 1, 1)
    save_heads(official, tmp_path / "heads.pth")
    on_any_backbone = LPIPS(net=None, backbone=copy.deepcopy(_seeded_backbone("alex")), heads=tmp_path / "heads.pth")
    assert torch.equal(on_any_backbone(in0, in1), official(in0, in1))
    with pytest.raises(ValueError, match="net=None needs a backbone"):
        LPIPS(net=None)
    with pytest.raises(ValueError, match="net=None needs a backbone= network and heads that are not the official"):
        LPIPS(net=None, backbone=copy.deepcopy(_seeded_backbone("alex")))
    with pytest.raises(ValueError, match="both choose the heads"):
        our_metric("alex", heads=None, model_path=official_heads_file("alex"))
    with pytest.raises(TypeError, match="heads must be"):
        our_metric("alex", heads=3)
    with pytest.raises(ValueError, match="unknown net 'resnet'"):
        LPIPS(net="resnet")


def test_the_backbone_passed_in_is_left_as_it_was():
    backbone = models.build("squeezenet1_1", features_only=True).train()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    metric = LPIPS(net="squeeze", backbone=backbone, precision="bf16", channels_last=True)
    assert metric.net is not backbone
    assert backbone.training and all(p.requires_grad for p in backbone.parameters())
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in backbone.parameters())
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())
    assert not any(p.requires_grad for p in metric.parameters())
    assert next(metric.net.parameters()).dtype == torch.bfloat16
    # a second metric from the same module is built from the same, untouched weights
    in0, in1 = real_pairs()
    first = LPIPS(net="squeeze", backbone=backbone)(in0, in1)
    assert torch.equal(LPIPS(net="squeeze", backbone=backbone)(in0, in1), first)


# ------------------------------------------------------------------ speed paths give the same numbers
def test_feature_cache_equals_the_direct_call():
    in0, in1 = real_pairs()
    ours = our_metric("squeeze")
    f0, f1 = ours.features(in0), ours.features(in1)
    torch.testing.assert_close(ours.distance_from_features(f0, f1), ours(in0, in1), atol=1e-6, rtol=0)
    reference = in0[:1]
    with torch.no_grad():
        want = reference_metric("squeeze", "0.1", True)(reference.expand_as(in1), in1)
    torch.testing.assert_close(ours.compare_to_reference(reference, in1, batch_size=3), want, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours(reference, in1), want, atol=1e-5, rtol=0)  # batch 1 broadcasts
    torch.testing.assert_close(ours.distance_from_features(f0[0], f1), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("channels_last", [True, False])
def test_memory_layout_does_not_change_the_numbers(channels_last):
    in0, in1 = real_pairs()
    with torch.no_grad():
        want = reference_metric("alex", "0.1", True)(in0, in1)
    torch.testing.assert_close(our_metric("alex", channels_last=channels_last)(in0, in1), want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("precision, atol", [("bf16", 5e-4), ("fp16", 5e-5)])
def test_low_precision_backbone_stays_close_to_float32(precision, atol):
    in0, in1 = real_pairs()
    with torch.no_grad():
        want = reference_metric("alex", "0.1", True)(in0, in1)
    low = our_metric("alex", precision=precision)(in0, in1)
    backbone_dtype = next(our_metric("alex", precision=precision).net.parameters()).dtype
    assert low.dtype == torch.float32 and backbone_dtype != torch.float32
    # bf16 keeps 8 mantissa bits, fp16 11: errors measured in benchmarks/lpips_speed.py are ~1e-4 and ~2e-6.
    torch.testing.assert_close(low, want, atol=atol, rtol=0)
    assert not torch.equal(low, want)  # really ran in low precision


@contextlib.contextmanager
def tf32_switched_on():
    """TF32 on for CUDA matmuls and convolutions, as a training script may leave it; put back afterwards."""
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.allow_tf32 = saved[1]


def test_the_metric_runs_without_tf32_and_gives_the_callers_setting_back(monkeypatch):
    """On CUDA, TF32 moves a distance by about 1e-3: every call of the metric runs in full float32."""
    metric = our_metric("alex")
    seen = []
    forward_features = metric.net.forward_features

    def recording(x):
        seen.append((torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32))
        return forward_features(x)

    monkeypatch.setattr(metric.net, "forward_features", recording)
    in0, in1 = real_pairs()
    with tf32_switched_on():
        metric(in0, in1)
        metric.distance_from_features(metric.features(in0), metric.features(in1))
        metric.compare_to_reference(in0[:1], in1)
        after = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    assert len(seen) == 5 and set(seen) == {("highest", False)}
    assert after == ("high", True)  # the caller's (training) settings are back


def test_the_input_checks_read_back_from_the_device_once_per_call(monkeypatch):
    """On a GPU every value read back waits for the queued work: both inputs' ranges come back together, once."""
    from lpips_edu import input_checks
    from lpips_edu.lpips import metric as metric_module

    reads = []

    class Recording(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("tolist", "item", "__float__", "__bool__", "__int__", "cpu", "numpy"):
                reads.append(func.__name__)
            return super().__torch_function__(func, types, args, kwargs or {})

    in0, in1 = real_pairs()
    input_checks.check_value_ranges({"in0": in0.as_subclass(Recording), "in1": in1.as_subclass(Recording)}, False)
    assert reads == ["tolist"]
    checked = []
    monkeypatch.setattr(metric_module, "check_value_ranges", lambda images, normalize: checked.append(list(images)))
    our_metric("alex")(in0, in1)
    assert checked == [["in0", "in1"]]
    broken = in1.clone().index_fill_(0, torch.tensor([2]), float("nan"))
    with pytest.raises(ValueError, match="in1 contains NaN"):
        input_checks.check_value_ranges({"in0": in0, "in1": broken}, False)


def test_pair_distances_keep_input_order_across_sizes(tmp_path):
    in0, in1 = real_pairs()
    small0 = to_tensor(load_sample("flower", 48), (-1, 1))
    small1 = TF.gaussian_blur(small0, kernel_size=5, sigma=1.0)
    Image.fromarray(load_sample("china", 48)).save(tmp_path / "a.png")
    Image.fromarray(load_sample("flower", 48)).save(tmp_path / "b.png")
    pairs = [
        (in0[0], in1[0]),
        (small0, small1),
        (tmp_path / "a.png", tmp_path / "b.png"),
        (in0[1:2], in1[1:2]),
        (small1[0], small0[0]),
        (in0[3], in1[3]),
    ]
    ours = our_metric("alex")
    results = list(pair_distances(ours, iter(pairs), batch_size=2))  # any iterable, here a one-pass iterator
    assert [r.index for r in results] == list(range(len(pairs)))
    got = torch.tensor([r.distance for r in results])
    ref = reference_metric("alex", "0.1", True)
    file_a = to_tensor(load_sample("china", 48), (-1, 1))
    file_b = to_tensor(load_sample("flower", 48), (-1, 1))
    with torch.no_grad():
        want = torch.stack(
            [
                ref(in0[:1], in1[:1]),
                ref(small0, small1),
                ref(file_a, file_b),
                ref(in0[1:2], in1[1:2]),
                ref(small1, small0),
                ref(in0[3:4], in1[3:4]),
            ]
        ).flatten()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"the images of pair 1 differ in size \(64x64 and 48x48\); pass resize=True"):
        list(pair_distances(ours, [(in0[0], in1[0]), (in0[0], small0)]))


def test_reference_lpips_helper_builds_the_package_on_our_weights():
    """The helper the book and the benchmark use equals the reference built by hand above."""
    from lpips_edu.lpips.peer import peer_lpips

    in0, in1 = real_pairs()
    helper = peer_lpips("squeeze", _seeded_backbone("squeeze"))
    assert isinstance(helper, lpips.LPIPS) and not helper.training
    with torch.no_grad():
        torch.testing.assert_close(helper(in0, in1), reference_metric("squeeze", "0.1", True)(in0, in1), atol=0, rtol=0)
