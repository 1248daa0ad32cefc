"""Checks for assignment 1: build networks from their description.

* A1.1 ``conv_output_size``: the output-size formula of a convolution or pooling layer.
* A1.2 ``MyAlexNet2012``: the 2012 AlexNet, compared layer by layer with ``lpips_edu.models.AlexNet2012``.
* A1.3 ``vgg11_config``: VGG-11 (configuration A) as a list of channels and ``"M"``.

Feedback names the first layer that differs and the likely cause (the classic
ones: no ``groups=2`` in conv2/4/5, PyTorch's LRN alpha convention, 2x2
instead of overlapping 3x3 pooling), because "parameter count wrong" alone
does not tell a student where to look.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import torch
from torch import nn

from ..models import VGG_CONFIGS, AlexNet2012, build, count_parameters, get_spec
from ..models.vgg import DEPTH_TO_CONFIG, make_features
from .attempt import NotReady, call, call_by_name, exercise, grader, lookup
from .report import Report

# (size, kernel, stride, padding) -> the size PyTorch produces.
SIZE_CASES = {
    "stride 1, no padding": [(32, 5, 1, 0), (13, 3, 1, 0)],
    "padding on both sides": [(27, 5, 1, 2), (13, 3, 1, 1), (224, 11, 4, 2)],
    "stride > 1 rounds down": [(55, 3, 2, 0), (7, 2, 2, 0), (64, 3, 2, 0), (227, 11, 4, 0)],
}

ALEXNET_2012_NAMES = ["conv1", "relu1", "LRN1", "pool1", "conv2", "relu2", "LRN2", "pool2",
                      "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5"]


def true_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


# --------------------------------------------------------------------------- A1.1


def _size_mistake(fn, name: str) -> str:
    """Which classic slip reproduces the student's answers, if any."""
    variants = {
        "rounding up (ceil) instead of down: PyTorch drops an incomplete last window, use //":
            lambda n, k, s, p: math.ceil((n + 2 * p - k) / s) + 1,
        "leaving out the +1 (the first window sits at position 0)": lambda n, k, s, p: (n + 2 * p - k) // s,
        "adding the padding once: it is added on both sides, 2 * padding":
            lambda n, k, s, p: (n + p - k) // s + 1,
        "ignoring the padding": lambda n, k, s, p: (n - k) // s + 1,
        "dividing the size before subtracting the kernel": lambda n, k, s, p: (n + 2 * p) // s - k + 1,
    }
    cases = [c for group in SIZE_CASES.values() for c in group]
    got = [call(fn, name, *c) for c in cases]
    for why, variant in variants.items():
        if all(g == variant(*c) for g, c in zip(got, cases)):
            return f" It looks like {why}."
    return ""


@exercise("A1.1 conv_output_size", points=3)
def check_conv_output_size(namespace: Mapping, report: Report) -> None:
    fn = lookup(namespace, "conv_output_size")
    hint = None
    for group, cases in SIZE_CASES.items():
        wrong = []
        for case in cases:
            got = call(fn, "conv_output_size", *case)
            expected = true_output_size(*case)
            if isinstance(got, float):  # true division: sizes are whole numbers of windows
                got_ok, note = False, " (a float: use // so the size is a whole number of windows)"
            else:
                got_ok, note = got == expected and isinstance(got, int), ""
            if not got_ok:
                wrong.append(f"conv_output_size{case} returned {got!r}{note}, expected {expected}")
        if wrong and hint is None:
            hint = _size_mistake(fn, "conv_output_size")
        feedback = "correct on every case" if not wrong else "; ".join(wrong) + "." + (hint or "")
        report.add(group, 1, not wrong, feedback)


# --------------------------------------------------------------------------- A1.2


def layer_facts(layer: nn.Module) -> dict:
    """The hyper-parameters that define a layer (what the description in the notebook specifies)."""
    pair = nn.modules.utils._pair
    kind = type(layer).__name__
    if isinstance(layer, nn.Conv2d):
        return {"kind": kind, "in": layer.in_channels, "out": layer.out_channels, "kernel": layer.kernel_size,
                "stride": layer.stride, "padding": pair(layer.padding), "groups": layer.groups}
    if isinstance(layer, nn.MaxPool2d):
        stride = layer.stride if layer.stride is not None else layer.kernel_size
        return {"kind": kind, "kernel": pair(layer.kernel_size), "stride": pair(stride), "padding": pair(layer.padding)}
    if isinstance(layer, nn.LocalResponseNorm):
        return {"kind": kind, "size": layer.size, "alpha": layer.alpha, "beta": layer.beta, "k": layer.k}
    if isinstance(layer, nn.Linear):
        return {"kind": kind, "in": layer.in_features, "out": layer.out_features}
    if isinstance(layer, nn.Dropout):
        return {"kind": kind, "p": layer.p}
    return {"kind": kind}


def describe(facts: dict) -> str:
    kind = facts["kind"]
    if kind == "Conv2d":
        return (f"Conv2d({facts['in']}->{facts['out']}, kernel {facts['kernel'][0]}, stride {facts['stride'][0]}, "
                f"padding {facts['padding'][0]}, groups {facts['groups']})")
    if kind == "MaxPool2d":
        return f"MaxPool2d(kernel {facts['kernel'][0]}, stride {facts['stride'][0]})"
    if kind == "LocalResponseNorm":
        return (f"LocalResponseNorm(size={facts['size']}, alpha={facts['alpha']:g}, beta={facts['beta']:g}, "
                f"k={facts['k']:g})")
    if kind == "Linear":
        return f"Linear({facts['in']}->{facts['out']})"
    if kind == "Dropout":
        return f"Dropout(p={facts['p']:g})"
    return f"{kind}()"


def _same(a: dict, b: dict) -> bool:
    return all(math.isclose(a[k], b[k], rel_tol=1e-6) if isinstance(a[k], float) else a[k] == b.get(k) for k in a)


def _why(expected: dict, found: dict, name: str) -> str:
    """A sentence on the likely cause of one layer's difference."""
    if expected["kind"] != found["kind"]:
        if expected["kind"] == "LocalResponseNorm":
            return "the paper normalises the responses (LRN) right after relu1 and relu2, before pooling"
        if expected["kind"] == "ReLU":
            return "every convolution is followed by a ReLU"
        if expected["kind"] == "MaxPool2d":
            return "the paper pools after LRN1, LRN2 and relu5 only"
        return f"expected a {expected['kind']} here"
    if expected["kind"] == "Conv2d":
        if expected["groups"] != found["groups"]:
            return (
                "conv2, conv4 and conv5 were split over the paper's two GPUs: each filter sees only half of "
                "the input channels; pass groups=2 (conv1 and conv3 see everything: groups=1)"
            )
        if (expected["in"], expected["out"]) != (found["in"], found["out"]):
            return ("the 2012 filter counts are 96, 256, 384, 384, 256 "
                    "(torchvision's 2014 variant has 64, 192, 384, 256, 256)")
        if expected["kernel"] != found["kernel"] or expected["stride"] != found["stride"]:
            return "kernels are 11 (stride 4), 5, 3, 3, 3 (stride 1)"
        return "the padding keeps the size: 2 for conv1 and the 5x5 conv2, 1 for the 3x3 convolutions"
    if expected["kind"] == "LocalResponseNorm":
        if math.isclose(found["alpha"], expected["alpha"] / expected["size"], rel_tol=1e-6):
            return "PyTorch's LocalResponseNorm divides alpha by size, so the paper's alpha = 1e-4 is alpha=5e-4 here"
        return "the paper's LRN: n=5, alpha=1e-4 (alpha=5e-4 in PyTorch's convention), beta=0.75, k=2"
    if expected["kind"] == "MaxPool2d":
        return "overlapping pooling: 3x3 windows with stride 2"
    return "compare with the description above"


def _compare_sequences(
    expected: list[nn.Module], found: list[nn.Module], where: str, names: list[str] | None
) -> str | None:
    for i, (e, f) in enumerate(zip(expected, found)):
        ef, ff = layer_facts(e), layer_facts(f)
        if not _same(ef, ff):
            label = f"{where}[{i}]" + (f" ({names[i]})" if names else "")
            return f"{label}: expected {describe(ef)}, found {describe(ff)}; {_why(ef, ff, label)}"
    if len(expected) != len(found):
        label = f"{where} has {len(found)} layers, the 2012 network has {len(expected)}"
        if len(found) < len(expected):
            return f"{label}; missing from {where}[{len(found)}] on: " + ", ".join(
                describe(layer_facts(m)) for m in expected[len(found) :]
            )
        return f"{label}; extra: " + ", ".join(describe(layer_facts(m)) for m in found[len(expected) :])
    return None


def _parameter_hint(model: nn.Module, reference: nn.Module) -> str:
    """Explain a parameter difference: missing groups, or the layers whose sizes differ."""
    diff = count_parameters(model) - count_parameters(reference)
    grouped = [
        (n, m) for n, m in zip(ALEXNET_2012_NAMES, reference.features) if isinstance(m, nn.Conv2d) and m.groups == 2
    ]
    for r in range(1, len(grouped) + 1):
        for subset in itertools.combinations(grouped, r):
            if diff == sum(m.weight.numel() for _, m in subset):  # groups=1 doubles a grouped layer's weights
                layers = ", ".join(n for n, _ in subset)
                return (
                    f" The surplus is exactly what groups=2 saves in {layers}: without groups each filter "
                    "sees all input channels, twice the weights."
                )
    found = dict(model.named_modules())
    notes = []
    for name, m in reference.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and name in found:
            a, b = count_parameters(m), count_parameters(found[name])
            if a != b:
                notes.append(f"{name}: {b:,} vs {a:,}")
    return (
        (" Layers whose parameter counts differ (yours vs the paper's): " + "; ".join(notes[:4]) + ".") if notes else ""
    )


@exercise("A1.2 MyAlexNet2012", points=10)
def check_alexnet2012(namespace: Mapping, report: Report) -> None:
    builder = lookup(namespace, "MyAlexNet2012")
    torch.manual_seed(0)
    model = call_by_name(namespace, "MyAlexNet2012", num_classes=1000)
    reference = AlexNet2012(num_classes=1000)
    if not isinstance(model, nn.Module):
        raise NotReady(f"MyAlexNet2012(num_classes=1000) returned a {type(model).__name__}, not an nn.Module")

    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        report.add(
            "features, layer by layer",
            4,
            False,
            "the model has no `features` nn.Sequential: keep torchvision's layout (features, avgpool, classifier)",
        )
    else:
        problem = _compare_sequences(list(reference.features), list(features), "features", ALEXNET_2012_NAMES)
        report.add(
            "features, layer by layer",
            4,
            problem is None,
            problem or "all 15 layers match the 2012 network (kernels, strides, padding, groups, LRN, pooling)",
        )

    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Sequential):
        report.add("classifier", 2, False, "the model has no `classifier` nn.Sequential")
    else:
        problem = _compare_sequences(list(reference.classifier), list(classifier), "classifier", None)
        report.add(
            "classifier",
            2,
            problem is None,
            problem or "dropout, 9216->4096->4096->num_classes with ReLUs, as in the paper",
        )

    n, expected = count_parameters(model), get_spec("alexnet_2012").params_imagenet
    report.add(
        "parameter count",
        2,
        n == expected,
        f"{n:,} parameters with 1000 classes"
        + (
            " as in the paper"
            if n == expected
            else f", expected {expected:,} ({n - expected:+,}).{_parameter_hint(model, reference)}"
        ),
    )

    problems = []
    small = call(builder, "MyAlexNet2012", num_classes=10)
    small.eval()
    with torch.no_grad():
        for size in (224, 227):
            x = torch.zeros(2, 3, size, size)
            try:
                logits = small(x)
            except Exception as exc:  # a shape error in forward
                problems.append(
                    f"forward on 2x3x{size}x{size} raised {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                )
                continue
            if tuple(logits.shape) != (2, 10):
                problems.append(
                    f"forward on 2x3x{size}x{size} with num_classes=10 gave {tuple(logits.shape)}, expected (2, 10)"
                )
        if isinstance(getattr(small, "features", None), nn.Sequential):
            try:
                shape = tuple(small.features(torch.zeros(1, 3, 224, 224)).shape[1:])
                if shape != (256, 6, 6):
                    problems.append(
                        f"features of a 224x224 image are {shape}, expected (256, 6, 6): "
                        "224 -> 55 (conv1) -> 27 -> 13 (pools) -> 6 (pool5)"
                    )
            except Exception as exc:
                problems.append(f"features on a 224x224 image raised {type(exc).__name__}")
    report.add(
        "output shapes",
        2,
        not problems,
        "; ".join(problems) or "224 and 227 px inputs give N x num_classes logits; features end at 256 x 6 x 6",
    )


# --------------------------------------------------------------------------- A1.3


def _config_parameters(config: list) -> int:
    """Parameters of a VGG with this configuration and a 1000-class head (built on the meta device: no memory)."""
    with torch.device("meta"):
        features = make_features(config, batch_norm=False)
        head = build("vgg11").classifier  # every VGG's: 512 x 7 x 7 -> 4096 -> 4096 -> 1000
    return count_parameters(features) + count_parameters(head)


@exercise("A1.3 vgg11_config", points=3)
def check_vgg11_config(namespace: Mapping, report: Report) -> None:
    config = call_by_name(namespace, "vgg11_config")
    expected = VGG_CONFIGS["A"]
    if not isinstance(config, (list, tuple)) or not all(v == "M" or isinstance(v, int) for v in config):
        raise NotReady(f'vgg11_config() should return a list of ints and "M", got {config!r}'[:300])
    config = list(config)
    convs, pools = sum(v != "M" for v in config), config.count("M")
    shape_ok = convs == 8 and pools == 5
    named = {f"configuration {k} (VGG-{d})": VGG_CONFIGS[k] for d, k in DEPTH_TO_CONFIG.items()}
    same_as = next((name for name, v in named.items() if v == config and v != expected), None)
    feedback = (
        f"{convs} convolutions and {pools} max pools"
        + (
            " as in VGG-11"
            if shape_ok
            else "; VGG-11 has 8 convolutions (the '11' counts 8 convolutions + 3 fully connected layers) and 5 pools"
        )
        + (f"; your list is {same_as}" if same_as else "")
    )
    report.add("layers and pools", 1, shape_ok, feedback)

    first = next((i for i, (a, b) in enumerate(zip(config, expected)) if a != b), None)
    if first is None and len(config) != len(expected):
        first = min(len(config), len(expected))
    report.add(
        "channels in order",
        1,
        first is None,
        "every entry matches Table 1, column A"
        if first is None
        else f"entry {first} is {config[first] if first < len(config) else 'missing'}, expected "
        f"{expected[first] if first < len(expected) else 'nothing (the list should end here)'}; "
        "channels double after each pool (64, 128, 256, 512) and stop at 512",
    )
    try:
        n = _config_parameters(config)
    except Exception as exc:
        report.add("parameter count", 1, False, f"could not build a VGG from the list: {type(exc).__name__}: {exc}")
        return
    target = get_spec("vgg11").params_imagenet
    report.add(
        "parameter count",
        1,
        n == target,
        f"a VGG with this list has {n:,} parameters"
        + (", VGG-11's count" if n == target else f", VGG-11 has {target:,}"),
    )


CHECKS = (check_conv_output_size, check_alexnet2012, check_vgg11_config)


grade = grader("A1 Build AlexNet-2012 and VGG-11 from their description", CHECKS)
