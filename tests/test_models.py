"""Architectures against torchvision and the lpips package, on the same weights."""

from __future__ import annotations

import math
import time

import lpips.pretrained_networks as lpips_nets
import pytest
import torch
import torchvision
from torch import nn

from lpips_edu import models
from lpips_edu.models.alexnet import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE, local_response_norm
from lpips_edu.models.layer_summary import layer_table, receptive_fields, tap_shapes

TORCHVISION_NAMES = [n for n in models.available_models() if models.get_spec(n).torchvision_name]


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_state_dict_loads_strictly_and_logits_match(name):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)().eval()
    ours = models.build(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    # 112 px keeps the test quick and still exercises the adaptive pooling before the head.
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_same_seed_gives_torchvision_initialisation(name):
    # Same layer order and the same init calls: the random draws coincide.
    torch.manual_seed(123)
    reference = getattr(torchvision.models, name)()
    torch.manual_seed(123)
    ours = models.build(name)
    for (k, a), (k2, b) in zip(reference.state_dict().items(), ours.state_dict().items()):
        assert k == k2
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("name", models.available_models())
def test_parameter_count_matches_published(name):
    assert models.count_parameters(models.build(name)) == models.get_spec(name).params_imagenet


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_registry_weights_url_is_torchvisions(name):
    """The registry spells out each file's URL so that start-up need not import torchvision's model zoo."""
    spec = models.get_spec(name)
    assert spec.weights_url == torchvision.models.get_weight(spec.weights_enum).url


def test_published_counts_of_the_three_lpips_backbones():
    # Numbers from the papers / torchvision's model cards, typed here on purpose.
    assert models.count_parameters(models.build("alexnet")) == 61_100_840
    assert models.count_parameters(models.build("vgg16")) == 138_357_544
    assert models.count_parameters(models.build("squeezenet1_0")) == 1_248_424
    assert models.count_parameters(models.build("squeezenet1_1")) == 1_235_496


LPIPS_SLICES = {"alexnet": lpips_nets.alexnet, "vgg16": lpips_nets.vgg16, "squeezenet1_1": lpips_nets.squeezenet}


@pytest.mark.parametrize("name", list(LPIPS_SLICES))
def test_taps_match_lpips_pretrained_network_slices(name):
    torch.manual_seed(1)
    ours = models.build(name).eval()
    reference = LPIPS_SLICES[name](requires_grad=False, pretrained=False).eval()
    # lpips slices hold torchvision's `features` modules: copy ours into them.
    ref_state = {}
    for slice_key in reference.state_dict():
        _, index, rest = slice_key.split(".", 2)
        ref_state[slice_key] = ours.features.state_dict()[f"{index}.{rest}"]
    reference.load_state_dict(ref_state, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        taps = ours.forward_features(x)
        expected = reference(x)
    assert len(taps) == len(expected)
    for (tap_name, got), want in zip(taps.items(), expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0, msg=f"{name}.{tap_name}")


def test_tap_names_follow_the_lpips_convention():
    assert list(models.build("alexnet").lpips_taps) == ["relu1", "relu2", "relu3", "relu4", "relu5"]
    assert list(models.build("vgg16").lpips_taps) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
    assert list(models.build("vgg19_bn").lpips_taps) == ["relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"]
    assert list(models.build("vgg11").lpips_taps) == ["relu1_1", "relu2_1", "relu3_2", "relu4_2", "relu5_2"]
    assert len(models.build("squeezenet1_1").lpips_taps) == 7
    assert len(models.build("squeezenet1_0").lpips_taps) == 7


@pytest.mark.parametrize("name", models.available_models())
def test_every_tap_is_the_output_of_a_relu_or_fire_module(name):
    model = models.build(name)
    for tap, index in model.lpips_taps.items():
        assert isinstance(model.features[index], (nn.ReLU, models.Fire)), tap


class _Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "squeezenet1_1"])
def test_forward_features_stops_at_the_last_requested_tap(name):
    model = models.build(name).eval()
    first_tap = next(iter(model.lpips_taps))
    first_index = model.lpips_taps[first_tap]
    counters = []
    for i in range(first_index + 1, len(model.features)):
        counter = _Counter()
        model.features[i].register_forward_hook(lambda m, inp, out, c=counter: c.forward(out))
        counters.append(counter)
    out = model.forward_features(torch.rand(1, 3, 64, 64), taps=[first_tap])
    assert list(out) == [first_tap]
    assert all(c.calls == 0 for c in counters)


def test_forward_features_rejects_unknown_taps():
    with pytest.raises(ValueError, match="available taps"):
        models.build("alexnet").forward_features(torch.rand(1, 3, 64, 64), taps=["conv1"])


def _runs(model, fn, size):
    try:
        with torch.no_grad():
            fn(torch.zeros(1, 3, size, size))
        return True
    except (RuntimeError, ValueError):
        return False


@pytest.mark.parametrize("name", models.available_models())
def test_min_input_size_is_exact(name):
    """The declared minimum is the smallest size the layers themselves accept."""
    model = models.build(name).eval()
    size = model.min_input_size
    # Bypass our own check by running the layers directly.
    def run_features(x):
        for layer in model.features[: max(model.lpips_taps.values()) + 1]:
            x = layer(x)
            if min(x.shape[-2:]) < 1:
                raise ValueError("empty")
        return x

    assert _runs(model, run_features, size)
    assert not _runs(model, run_features, size - 1)


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "squeezenet1_1", "alexnet_2012"])
def test_too_small_input_names_the_minimum(name):
    model = models.build(name)
    size = model.min_input_size
    with pytest.raises(ValueError, match=f"minimum is {size}x{size}"):
        model.forward_features(torch.rand(1, 3, size - 1, size + 5))
    with pytest.raises(ValueError, match=f"minimum is {model.min_classifier_input_size}"):
        model(torch.rand(1, 3, model.min_classifier_input_size - 1, 224))


def test_unbatched_input_says_how_to_fix_it():
    with pytest.raises(ValueError, match="unsqueeze"):
        models.build("alexnet").forward_features(torch.rand(3, 64, 64))


def test_alexnet_2012_matches_the_paper():
    model = models.build("alexnet_2012")
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert all(p.kernel_size == 3 and p.stride == 2 for p in pools)  # overlapping pooling
    lrns = [i for i, m in enumerate(model.features) if isinstance(m, nn.LocalResponseNorm)]
    assert lrns == [2, 6]  # after conv1 and conv2 (and their ReLUs)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 224, 224)).shape == (1, 1000)
        assert model.forward_features(torch.rand(1, 3, 224, 224))["relu1"].shape == (1, 96, 55, 55)


def test_lrn_is_the_paper_formula():
    """b = a / (k + alpha * sum_{window of n channels} a^2)^beta with the paper's alpha=1e-4."""
    torch.manual_seed(0)
    a = torch.rand(1, 12, 4, 4) * 30
    ours = local_response_norm()(a)
    c = a.shape[1]
    expected = torch.empty_like(a)
    for i in range(c):
        lo, hi = max(0, i - LRN_SIZE // 2), min(c - 1, i + LRN_SIZE // 2)
        s = (a[:, lo : hi + 1] ** 2).sum(1)
        expected[:, i] = a[:, i] / (LRN_K + LRN_ALPHA * s) ** LRN_BETA
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "squeezenet1_1"])
def test_receptive_field_bounds_the_measured_gradient_support(name):
    """Theory vs measurement: the gradient of one deep unit touches exactly its receptive field."""
    torch.manual_seed(0)
    model = models.build(name, features_only=True).eval()
    tap, index = list(model.lpips_taps.items())[-1]
    rf, _ = receptive_fields(model.features)[index]
    size = rf + 48  # the centre unit's field fits with a 24-pixel margin: no padding inside it
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    model = model.double()
    feats = model.forward_features(x, taps=[tap])[tap]
    h, w = feats.shape[-2:]
    feats[0, :, h // 2, w // 2].sum().backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero()
    extent = int(rows.max() - rows.min() + 1)
    assert extent <= rf
    assert extent >= rf - 16  # padding-free interior: close to the theoretical value


def test_layer_table_and_tap_shapes():
    table = layer_table(models.build("alexnet"), 224)
    assert table.loc[1, "output (C x H x W)"] == "64 x 55 x 55"
    assert table.loc[1, "receptive field (px)"] == 11
    assert table["parameters"].sum() == 2_469_696  # AlexNet's convolutional part
    shapes = tap_shapes(models.build("vgg16"), 64)
    assert list(shapes["channels"]) == [64, 128, 256, 512, 512]
    assert shapes.loc["relu5_3", "height x width"] == "4 x 4"


def test_imagenet_weights_offline_fail_fast_naming_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("LPIPS_EDU_ALLOW_DOWNLOAD", raising=False)
    start = time.perf_counter()
    with pytest.raises(models.WeightsNotAvailableError) as err:
        models.build("alexnet", weights="imagenet")
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def test_imagenet_download_requested_offline_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("lpips_edu.models.weights._reachable", lambda url, timeout: False)
    with pytest.raises(models.WeightsNotAvailableError, match="unreachable"):
        models.build("squeezenet1_1", weights="imagenet", download=True)


def test_imagenet_weights_load_from_the_hub_cache(tmp_path, monkeypatch):
    """A file in the cache is used without any network access."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = models.get_spec("squeezenet1_1")
    _, path = models.imagenet_weights_file(spec)
    path.parent.mkdir(parents=True)
    torch.manual_seed(5)
    reference = torchvision.models.squeezenet1_1()
    torch.save(reference.state_dict(), path)
    ours = models.build("squeezenet1_1", weights="imagenet", download=False).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference.eval()(x))


def test_variant_without_imagenet_weights_says_so():
    with pytest.raises(ValueError, match="no published ImageNet weights"):
        models.build("alexnet_2012", weights="imagenet")


def test_checkpoint_path_loads_with_weights_only(tmp_path):
    torch.manual_seed(0)
    trained = models.build("squeezenet1_1", num_classes=10)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": trained.state_dict(), "epoch": 3}, path)
    loaded = models.build("squeezenet1_1", num_classes=10, weights=path)
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_with_wrong_head_names_num_classes(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save(models.build("squeezenet1_1", num_classes=10).state_dict(), path)
    with pytest.raises(ValueError, match="num_classes"):
        models.build("squeezenet1_1", num_classes=20, weights=path)


def test_checkpoint_with_code_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": models.build("squeezenet1_1").state_dict(), "cls": math.sqrt}, path)
    with pytest.raises(ValueError, match="weights_only"):
        models.build("squeezenet1_1", weights=path)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "trunc.pt"
    torch.save(models.build("squeezenet1_1").state_dict(), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated"):
        models.build("squeezenet1_1", weights=path)


def test_unknown_model_lists_the_choices():
    with pytest.raises(ValueError, match="squeezenet1_1"):
        models.build("resnet50")
    assert models.get_spec("alex").name == "alexnet"
