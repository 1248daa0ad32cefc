"""The LPIPS metric (Zhang et al., 2018), a drop-in for ``lpips.LPIPS``.

    d(x, x0) = sum_l 1/(H_l W_l) sum_{h,w} || w_l * (y^l_hw - y0^l_hw) ||_2^2

where y^l is the feature map of tap l, scaled to unit length along the
channels at every position, and w_l is a non-negative weight per channel
(the "linear head", calibrated on human judgements). With ``lpips=False``
every w_l is 1.

Same call and same numbers as the ``lpips`` package, plus the fixes its
users keep rediscovering:

* finite gradients where a feature vector is exactly zero (the package's
  ``sqrt`` backward divides 0 by 0 there and returns NaN);
* parameters frozen, the module stays in eval mode (a parent's ``.train()``
  does not switch dropout on), no autograd graph unless an input needs one;
* clear errors for wrong shapes, ranges, dtypes and sizes;
* linear heads loaded strictly (a missing or mismatched file is an error,
  never silently random heads);
* faster: both inputs go through the backbone in one batch, channels_last
  on the CPU, a reusable feature cache for 1-vs-N comparisons, and opt-in
  bfloat16/float16 backbones.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import models
from ..input_checks import RANGE_TOLERANCE, check_batches, check_images, check_same_size, check_value_ranges
from ..models.backbones import resolve_backbone
from ..models.registry import lpips_net_name
from ..profiles import seeded
from .linear_heads import VERSIONS, NetLinLayer, load_heads, official_heads_file

__all__ = ["LPIPS", "LPIPSFeatures", "ScalingLayer", "NetLinLayer", "normalize_tensor", "channel_means",
           "weigh_channels", "full_float32", "official_heads_file", "RANGE_TOLERANCE"]

# The lpips package's input scaling: (x - shift) / scale maps [-1, 1] images to
# ImageNet-normalised ones ((x+1)/2 - mean) / std, with mean/std rounded.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10  # lpips.normalize_tensor: x / (||x|| + eps)

CANDIDATE_PIXELS_PER_BATCH = 256 * 64 * 64  # compare_to_reference's default batch: large, memory-bounded
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class ScalingLayer(nn.Module):
    """[-1, 1] RGB -> the ImageNet normalisation the backbones were trained with."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


def normalize_tensor(x: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """Unit length along channels, ``x / (||x|| + eps)`` as in ``lpips.normalize_tensor``.

    ``vector_norm`` is one fused pass instead of square, sum and sqrt, and its
    backward is 0 (not the package's 0/0 = NaN) where a feature vector is
    exactly zero (a dead position after a ReLU); the values are unchanged.
    """
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + eps)


def normalize_tensor_(x: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """``normalize_tensor`` in place, for inference.

    Without a graph to keep, a backbone's taps are not needed afterwards, and
    dividing them in place spares allocating (and faulting in) a second copy of
    every feature map: on a CPU that is a visible part of LPIPS's time for
    networks with large, cheap maps such as SqueezeNet.
    """
    return x.div_(torch.linalg.vector_norm(x, dim=1, keepdim=True).add_(eps))


def squared_differences(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a - b)^2`` of two unit-normalised taps, in place when nothing will backpropagate through it."""
    return torch.sub(a, b).square_() if torch.is_inference_mode_enabled() else (a - b).pow(2)


def channel_means(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``m_l = mean_hw (a - b)^2``: one number per channel, N x C.

    With the spatial mean taken first, a linear head is a dot product with
    ``m_l`` (the mean commutes with a 1 x 1 convolution): the cheap way to
    compute a distance, and what calibration caches.
    """
    return squared_differences(a, b).mean(dim=(2, 3))


def weigh_channels(means: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """One tap's term of the LPIPS sum, ``w_l . m_l`` per image (N); without a head every channel weighs 1."""
    if weight is None:
        return means.sum(dim=1)
    return means @ weight.reshape(-1).to(means.dtype)


def ready_for_inference(metric: nn.Module, precision: str, channels_last: bool) -> None:
    """The last step of building a metric: its backbone in ``precision`` (and layout), nothing trainable, eval mode.

    A metric is a fixed function; calibration makes the parameters it trains
    trainable again itself. ``nn.Module.train(False)`` is called directly because
    a metric's own ``train`` keeps it in eval mode.
    """
    metric.net.to(dtype=PRECISIONS[precision])
    if channels_last:
        metric.net.to(memory_format=torch.channels_last)
    metric.requires_grad_(False)
    nn.Module.train(metric, False)


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """TF32 off for the block's CUDA matmuls and convolutions; the caller's settings restored after.

    PyTorch lets cuDNN convolutions use TF32 by default (10-bit mantissas on
    Ampere and later GPUs), which moves an LPIPS distance by about 1e-3: a
    metric's float32 must be the CPU's. Training keeps TF32; only the metric's
    calls run inside this block. The switches are read through the API the
    caller set them with (torch's newer ``fp32_precision`` raises on a read
    through the old one after a mix), and set through the old one, which keeps both in step.
    """
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    try:
        saved = ("legacy", torch.get_float32_matmul_precision(), matmul.allow_tf32, cudnn.allow_tf32)
    except RuntimeError:  # the caller mixed torch's two APIs: restore through the newer one
        saved = ("fp32_precision", matmul.fp32_precision, cudnn.conv.fp32_precision)
    torch.set_float32_matmul_precision("highest")
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        if saved[0] == "legacy":
            torch.set_float32_matmul_precision(saved[1])
            cudnn.allow_tf32 = saved[3]
        else:
            matmul.fp32_precision, cudnn.conv.fp32_precision = saved[1], saved[2]


@dataclass
class LPIPSFeatures:
    """Unit-normalised taps of a batch of images, ready to compare (see ``LPIPS.features``).

    Computing them once and reusing them is what makes 1-vs-N comparisons cheap.
    """

    taps: list[torch.Tensor]  # float32, N x C_l x H_l x W_l, unit length along C_l
    image_size: tuple[int, int]  # H x W of the images, for spatial maps

    def __len__(self) -> int:
        return self.taps[0].shape[0]

    def __getitem__(self, index) -> "LPIPSFeatures":
        if isinstance(index, int):
            index = slice(index, index + 1)
        return LPIPSFeatures([t[index] for t in self.taps], self.image_size)


class LPIPS(nn.Module):
    """Learned Perceptual Image Patch Similarity: ``LPIPS(net="alex")(img0, img1)``.

    Arguments follow ``lpips.LPIPS``: ``net`` ("alex", "vgg", "squeeze") picks
    the backbone and the official heads; ``version`` "0.1" (default) or "0.0"
    (no input scaling, older heads); ``spatial=True`` returns a distance map;
    ``pnet_rand=True`` uses a randomly initialised backbone. The package's
    ``lpips=False``, ``pretrained=False`` and ``model_path=`` still work, as
    spellings of ``heads``.

    ``heads``: which linear heads weigh the channels, separate from ``net``:

    * ``"official"`` (default): the paper's heads for ``net`` and ``version``,
      from the ``lpips`` wheel;
    * the path of a heads file (``calibrate.save_heads``; ``model_path=``);
    * ``"fresh"``: untrained heads, to be trained (``pretrained=False``);
    * ``None``: no heads, every channel weighs 1 (``lpips=False``).

    ``backbone``: by default ImageNet features (torchvision's file when cached,
    else the copy ``python -m lpips_edu weights fetch`` converted); missing, it
    fails fast, naming what to fetch. Or a kind of weights for ``net``, as
    ``lpips_edu.resolve_backbone`` takes it ("imagenet", "book", "random",
    "best" or a checkpoint path; ``seed`` seeds random weights and fresh heads),
    or any ``lpips_edu.models`` network (with ``forward_features``; ``net`` may
    then be None when the heads are not the official ones). Without official
    heads ``net`` may be any registry name ("vgg11_bn"). The metric works on
    its own copy of a backbone passed in, frozen, in eval mode, channels_last
    and in ``precision``: the caller's module is left exactly as it was.
    ``weights_description`` says what was used (``verbose=True`` prints it),
    ``backbone_weights`` which kind it was.

    ``precision``: "fp32" (default; the reference numbers on every machine: on
    CUDA every call runs with TF32 off, see ``full_float32``), or "bf16"/"fp16"
    for the backbone only (normalisation and heads stay float32): faster where
    the hardware has them; on the shipped photos at 64 and 256 px they changed
    a distance by up to 7.6e-3 (bf16) and 2.8e-4 (fp16) against float32.
    """

    def __init__(
        self,
        net: str | None = "alex",
        version: str = "0.1",
        lpips: bool = True,
        spatial: bool = False,
        pretrained: bool = True,
        backbone: nn.Module | str | os.PathLike | None = None,
        model_path: str | os.PathLike | None = None,
        pnet_rand: bool = False,
        use_dropout: bool = True,
        precision: str = "fp32",
        channels_last: bool = True,
        check_inputs: bool = True,
        verbose: bool = False,
        heads: str | os.PathLike | None = "official",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        heads = _heads_choice(heads, lpips=lpips, pretrained=pretrained, model_path=model_path)
        _check_arguments(net, version, precision, heads, backbone)
        self.pnet_type, self.version, self.spatial = net, version, spatial
        self.precision, self.channels_last, self.check_inputs = precision, channels_last, check_inputs
        self.lpips = heads is not None
        self.scaling_layer = ScalingLayer()
        self.net, self.backbone_weights, self.weights_description = _own_backbone(net, backbone, pnet_rand, seed)
        self.min_input_size = int(getattr(self.net, "min_input_size", 1))
        self.chns = _tap_channels(self.net)
        self.L = len(self.chns)
        if heads is not None:
            with seeded(seed) if seed is not None else contextlib.nullcontext():  # fresh heads from the seed
                self.weights_description += "; " + _attach_heads(self, heads, net, version, use_dropout)
        if verbose:
            print(f"LPIPS {net} v{version}: {self.weights_description}")
        ready_for_inference(self, precision, channels_last)

    @property
    def lins(self) -> nn.ModuleList:
        """The linear heads, shallow to deep (registered as lin0, lin1, ... like the official files)."""
        return nn.ModuleList(getattr(self, f"lin{k}") for k in range(self.L) if hasattr(self, f"lin{k}"))

    def load_heads(self, path: str | os.PathLike) -> None:
        """Load linear heads strictly: every head present, nothing extra, shapes equal (``linear_heads``)."""
        load_heads(self, path)

    def train(self, mode: bool = True) -> "LPIPS":
        """Always eval: a metric must not change with its parent's mode (dropout, batch norm).

        To train the heads with dropout, call ``metric.lins.train()`` explicitly.
        """
        return super().train(False)

    # ----------------------------------------------------------------- checks
    def _check(self, x: torch.Tensor, name: str, normalize: bool) -> None:
        self._check_all({name: x}, normalize)

    def _check_all(self, images: dict[str, torch.Tensor], normalize: bool) -> None:
        """Shapes of every input, then their value ranges with one read from the device for all."""
        for name, x in images.items():
            check_images(x, name, normalize, self.min_input_size, f"the {type(self.net).__name__} backbone",
                         check_range=False)
        if self.check_inputs:
            check_value_ranges(images, normalize)

    # ----------------------------------------------------------------- features
    def _backbone_taps(self, x: torch.Tensor, normalize: bool) -> list[torch.Tensor]:
        """Images -> unit-normalised float32 taps."""
        if normalize:
            x = 2 * x - 1
        x = x.to(self.scaling_layer.shift.dtype)
        if self.version == "0.1":
            x = self.scaling_layer(x)
        x = x.to(PRECISIONS[self.precision])
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        taps = [t.float() for t in self.net.forward_features(x).values()]
        if torch.is_inference_mode_enabled():  # nothing will look at the raw taps again
            return [normalize_tensor_(t) for t in taps]
        return [normalize_tensor(t) for t in taps]

    def _needs_grad(self, *tensors: torch.Tensor) -> bool:
        if not torch.is_grad_enabled():
            return False
        return any(t.requires_grad for t in tensors) or any(p.requires_grad for p in self.parameters())

    def features(self, x: torch.Tensor, normalize: bool = False) -> LPIPSFeatures:
        """Compute the taps of ``x`` once, to compare with ``distance_from_features`` many times."""
        self._check(x, "x", normalize)
        with torch.inference_mode(not self._needs_grad(x)), full_float32():
            return LPIPSFeatures(self._backbone_taps(x, normalize), tuple(x.shape[-2:]))

    def distance_from_features(
        self, f0: LPIPSFeatures, f1: LPIPSFeatures, retPerLayer: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The distance between two feature sets; a batch of 1 broadcasts against N."""
        if len(f0.taps) != self.L or len(f1.taps) != self.L:
            raise ValueError("features come from a different backbone (number of taps differs)")
        if f0.image_size != f1.image_size:
            raise ValueError(f"features of {f0.image_size} and {f1.image_size} images cannot be compared")
        check_batches(len(f0), len(f1))
        grad = self._needs_grad(*f0.taps, *f1.taps)
        with torch.inference_mode(not grad), full_float32():
            res = [self._layer_distance(k, a, b, f0.image_size) for k, (a, b) in enumerate(zip(f0.taps, f1.taps))]
            val = res[0]
            for r in res[1:]:
                val = val + r
        if not grad:  # normal tensors, usable in later autograd code
            val, res = val.clone(), [r.clone() for r in res]
        return (val, res) if retPerLayer else val

    def _layer_distance(self, k: int, a: torch.Tensor, b: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        head = getattr(self, f"lin{k}") if self.lpips else None
        if self.spatial:
            diff = squared_differences(a, b)
            per_position = head(diff) if head is not None else diff.sum(dim=1, keepdim=True)
            return F.interpolate(per_position, size=size, mode="bilinear", align_corners=False)
        if head is not None and head.training:  # dropout per position, while training heads
            return head(squared_differences(a, b)).mean(dim=(2, 3), keepdim=True)
        return weigh_channels(channel_means(a, b), head.weight if head is not None else None).view(-1, 1, 1, 1)

    # ----------------------------------------------------------------- the call
    def forward(
        self, in0: torch.Tensor, in1: torch.Tensor, retPerLayer: bool = False, normalize: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Distance between ``in0`` and ``in1`` (N x 3 x H x W in [-1, 1], or [0, 1] with normalize=True).

        Returns N x 1 x 1 x 1 (N x 1 x H x W with ``spatial=True``); with
        ``retPerLayer`` also the list of per-tap contributions.
        """
        self._check_all({"in0": in0, "in1": in1}, normalize)
        check_same_size(in0, in1)
        check_batches(in0.shape[0], in1.shape[0])
        size = tuple(in0.shape[-2:])
        with torch.inference_mode(not self._needs_grad(in0, in1)), full_float32():
            if in0.shape[0] == in1.shape[0]:
                # One backbone pass for both: a batch twice as large uses the cores better.
                both = self._backbone_taps(torch.cat([in0, in1]), normalize)
                n = in0.shape[0]
                f0 = LPIPSFeatures([t[:n] for t in both], size)
                f1 = LPIPSFeatures([t[n:] for t in both], size)
            else:  # 1 vs N: the single image's features once
                f0 = LPIPSFeatures(self._backbone_taps(in0, normalize), size)
                f1 = LPIPSFeatures(self._backbone_taps(in1, normalize), size)
        return self.distance_from_features(f0, f1, retPerLayer=retPerLayer)

    def compare_to_reference(
        self, reference: torch.Tensor, candidates: torch.Tensor, normalize: bool = False,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Distances from one reference image (1 x 3 x H x W) to N candidates, N x 1 x 1 x 1.

        The reference's features are computed once; candidates go through the
        backbone ``batch_size`` at a time (default: about a million input
        pixels per batch, e.g. 256 images of 64x64, 16 of 256x256).
        """
        if batch_size is None:
            batch_size = max(1, CANDIDATE_PIXELS_PER_BATCH // (candidates.shape[-1] * candidates.shape[-2]))
        if reference.dim() == 4 and reference.shape[0] != 1:
            raise ValueError(f"reference must be one image (1 x 3 x H x W), got shape {tuple(reference.shape)}")
        ref = self.features(reference, normalize=normalize)
        self._check(candidates, "candidates", normalize)
        if candidates.shape[1:] != reference.shape[1:]:
            raise ValueError(
                f"candidates {tuple(candidates.shape)} and reference {tuple(reference.shape)} differ in size"
            )
        out = [
            self.distance_from_features(ref, self.features(chunk, normalize=normalize))
            for chunk in candidates.split(batch_size)
        ]
        return torch.cat(out)

    def extra_repr(self) -> str:
        return (f"net={self.pnet_type!r}, version={self.version!r}, lpips={self.lpips}, spatial={self.spatial}, "
                f"precision={self.precision!r}")


def _heads_choice(heads, lpips: bool, pretrained: bool, model_path) -> str | os.PathLike | None:
    """``heads``, or what the lpips package's spelling (lpips=, pretrained=, model_path=) asks for."""
    package_style = [name for name, given in (("lpips=False", not lpips), ("pretrained=False", not pretrained),
                                              ("model_path=", model_path is not None)) if given]
    if heads != "official" and package_style:
        raise ValueError(f"heads={heads!r} and {', '.join(package_style)} both choose the heads; pass one of them")
    if not lpips:
        return None
    if model_path is not None:
        return model_path
    if not pretrained:
        return "fresh"
    if heads is not None and not isinstance(heads, (str, os.PathLike)):
        raise TypeError(f"heads must be 'official', 'fresh', a file path or None, not {type(heads).__name__}")
    return heads


def _check_arguments(net, version: str, precision: str, heads, backbone) -> None:
    """Unknown names fail here, before anything is built."""
    if version not in VERSIONS:
        raise ValueError(f"unknown LPIPS version {version!r}; choose '0.1' or '0.0'")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    if heads == "official" and net is not None:
        lpips_net_name(net)  # official heads exist for alex, vgg and squeeze only
    elif net is not None:
        models.get_spec(net)
    if net is None and (not isinstance(backbone, nn.Module) or heads == "official"):
        raise ValueError("net=None needs a backbone= network and heads that are not the official ones "
                         "(a heads file, 'fresh' or None); or name the net: 'alex', 'vgg', 'squeeze'")


def _own_backbone(net: str | None, backbone, pnet_rand: bool, seed: int | None,
                  metric: str = "LPIPS") -> tuple[nn.Module, str, str]:
    """The metric's own backbone, its kind of weights and a sentence: a copy of a module, or resolved for ``net``.

    ``metric`` is the class the error messages show the fix with ("LPIPS", "DISTS").
    """
    if isinstance(backbone, nn.Module):
        if not hasattr(backbone, "forward_features"):
            raise TypeError(f"backbone {type(backbone).__name__} has no forward_features; "
                            "build it with lpips_edu.models.build")
        # our own copy: freezing and casting it must not change the caller's module
        return copy.deepcopy(backbone), "module", f"the backbone passed in ({type(backbone).__name__})"
    if pnet_rand and backbone not in (None, "random"):
        raise ValueError(f"pnet_rand=True and backbone={backbone!r} both choose the backbone; pass one of them")
    kind = "random" if pnet_rand else ("imagenet" if backbone is None else backbone)
    try:
        resolved = resolve_backbone(net, kind, seed=seed)
    except models.WeightsNotAvailableError as exc:
        lpips_call = metric == "LPIPS"  # DISTS has one net and no pnet_rand
        random_choice = "backbone='random' or pnet_rand=True" if lpips_call else "backbone='random'"
        net_argument = f"net={net!r}, " if lpips_call else ""
        raise models.WeightsNotAvailableError(
            f"{exc} Without them, pass backbone='best' (a book-trained or a seeded random network when "
            f"there are no ImageNet features), {random_choice} for a random one, or a "
            f"network: {metric}({net_argument}backbone=lpips_edu.resolve_backbone({net!r}).model)."
        ) from exc
    description = resolved.description
    if pnet_rand:
        description += " (pnet_rand=True)"
    return resolved.model, resolved.weights, description


def _attach_heads(metric: "LPIPS", heads: str | os.PathLike, net: str | None, version: str,
                  use_dropout: bool) -> str:
    """Register ``lin0 ... linL`` (official keys) and fill them as ``heads`` says; a sentence saying which."""
    for k, channels in enumerate(metric.chns):
        setattr(metric, f"lin{k}", NetLinLayer(channels, use_dropout))
    if heads == "fresh":
        return "untrained linear heads"
    if heads == "official":
        load_heads(metric, official_heads_file(net, version))
        return f"the official v{version} linear heads (from the lpips package)"
    load_heads(metric, heads)
    return f"linear heads from the file {Path(heads).name}"


@torch.no_grad()
def _tap_channels(backbone: nn.Module) -> list[int]:
    """Channels of every tap, measured with one tiny forward pass."""
    size = int(getattr(backbone, "min_input_size", 64))
    param = next(backbone.parameters())
    taps = backbone.forward_features(torch.zeros(1, 3, size, size, dtype=param.dtype, device=param.device))
    return [t.shape[1] for t in taps.values()]
