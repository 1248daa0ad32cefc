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

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import models
from .backbones import resolve_backbone
from .models.registry import LPIPS_NET_TO_MODEL

# The lpips package's input scaling: (x - shift) / scale maps [-1, 1] images to
# ImageNet-normalised ones ((x+1)/2 - mean) / std, with mean/std rounded.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10  # lpips.normalize_tensor: x / (||x|| + eps)
RANGE_TOLERANCE = 1e-3  # inputs may overshoot [-1, 1] by this much (resampling, rounding)

CANDIDATE_PIXELS_PER_BATCH = 256 * 64 * 64  # compare_to_reference's default batch: large, memory-bounded
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
HEAD_NETS = {"alex": "alex", "vgg": "vgg", "vgg16": "vgg", "squeeze": "squeeze"}


class ScalingLayer(nn.Module):
    """[-1, 1] RGB -> the ImageNet normalisation the backbones were trained with."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class NetLinLayer(nn.Module):
    """One linear head: dropout then a 1x1 convolution to one channel, no bias.

    The dropout slot is always there (an ``Identity`` without dropout) so the
    state dict keys are always ``model.1.weight``, as in the official files.
    """

    def __init__(self, channels: int, use_dropout: bool = True) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Dropout() if use_dropout else nn.Identity(),
            nn.Conv2d(channels, 1, kernel_size=1, stride=1, padding=0, bias=False),
        )

    @property
    def weight(self) -> torch.Tensor:
        return self.model[1].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


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


def official_heads_file(net: str, version: str = "0.1") -> Path:
    """The linear heads shipped in the ``lpips`` wheel: ``lpips/weights/v{version}/{net}.pth``."""
    if net not in HEAD_NETS:
        raise ValueError(f"unknown net {net!r}; the lpips package has heads for 'alex', 'vgg' and 'squeeze'")
    if version not in ("0.0", "0.1"):
        raise ValueError(f"unknown LPIPS version {version!r}; choose '0.1' (current) or '0.0' (the first release)")
    try:
        import lpips as lpips_package
    except ImportError as exc:
        raise ImportError(
            "the official LPIPS linear weights ship inside the 'lpips' package; install it with "
            "pip install 'lpips-edu[reference]' (or pip install lpips), or pass model_path=... "
            "or lpips=False"
        ) from exc
    return Path(lpips_package.__file__).parent / "weights" / f"v{version}" / f"{HEAD_NETS[net]}.pth"


def load_heads_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A heads file (``lin{k}.model.1.weight`` -> 1 x C x 1 x 1), read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"LPIPS linear weights {path} do not exist; pass model_path= a file saved by the "
            "calibration code, or lpips=False for the uncalibrated baseline"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"could not read LPIPS linear weights {path}: {exc}") from exc
    if isinstance(state, dict) and "heads" in state and isinstance(state["heads"], dict):
        state = state["heads"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return state


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
    the backbone and the heads; ``version`` "0.1" (default) or "0.0" (no input
    scaling, older heads); ``lpips=False`` sums channels without heads;
    ``spatial=True`` returns a distance map; ``pretrained`` loads the official
    heads (or ``model_path``'s); ``pnet_rand=True`` uses a randomly
    initialised backbone.

    ``backbone``: any ``lpips_edu.models`` network (with ``forward_features``);
    by default ImageNet features (torchvision's file when cached, else the
    copy ``python -m lpips_edu weights fetch`` converted); missing, it fails
    fast, naming what to fetch. ``weights_description`` says what was used
    (``verbose=True`` prints it). The metric takes ownership of the backbone: it
    freezes it, keeps it in eval mode, channels_last, and in ``precision``.

    ``precision``: "fp32" (default), or "bf16"/"fp16" for the backbone only
    (normalisation and heads stay float32). Measured on the shipped photos
    against noisy/blurred/JPEG copies (``benchmarks/lpips_speed.py``), bf16
    changes AlexNet/VGG distances by at most ~1e-4 (under 1% of the mean
    distance) and ran 1.6-1.9x faster than our fp32 on a 2-core CPU with avx512_bf16;
    fp16 is ~50x more accurate than bf16 (8 more mantissa bits) but only
    fast on GPUs.
    """

    def __init__(
        self,
        net: str = "alex",
        version: str = "0.1",
        lpips: bool = True,
        spatial: bool = False,
        pretrained: bool = True,
        backbone: nn.Module | None = None,
        model_path: str | os.PathLike | None = None,
        pnet_rand: bool = False,
        use_dropout: bool = True,
        precision: str = "fp32",
        channels_last: bool = True,
        check_inputs: bool = True,
        verbose: bool = False,
    ) -> None:
        super().__init__()
        if net not in HEAD_NETS:
            raise ValueError(f"unknown net {net!r}; choose 'alex', 'vgg' or 'squeeze'")
        if version not in ("0.0", "0.1"):
            raise ValueError(f"unknown LPIPS version {version!r}; choose '0.1' or '0.0'")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
        self.pnet_type = net
        self.version = version
        self.lpips = lpips
        self.spatial = spatial
        self.precision = precision
        self.channels_last = channels_last
        self.check_inputs = check_inputs
        self.scaling_layer = ScalingLayer()
        if backbone is None:
            backbone, self.weights_description = _default_backbone(net, random=pnet_rand)
        else:
            self.weights_description = f"the backbone passed in ({type(backbone).__name__})"
        self.net = backbone
        if not hasattr(self.net, "forward_features"):
            raise TypeError(
                f"backbone {type(self.net).__name__} has no forward_features; build it with lpips_edu.models.build"
            )
        self.min_input_size = int(getattr(self.net, "min_input_size", 1))
        self.chns = _tap_channels(self.net)
        self.L = len(self.chns)

        if lpips:
            for k, c in enumerate(self.chns):
                setattr(self, f"lin{k}", NetLinLayer(c, use_dropout))
            if pretrained or model_path is not None:
                path = Path(model_path) if model_path is not None else official_heads_file(net, version)
                self.load_heads(path)
                self.weights_description += f"; linear heads from {path}"
        if verbose:
            print(f"LPIPS {net} v{version}: {self.weights_description}")

        self.net.to(dtype=PRECISIONS[precision])
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.requires_grad_(False)
        super().train(False)

    @property
    def lins(self) -> nn.ModuleList:
        """The linear heads, shallow to deep (registered as lin0, lin1, ... like the official files)."""
        return nn.ModuleList(getattr(self, f"lin{k}") for k in range(self.L) if hasattr(self, f"lin{k}"))

    def load_heads(self, path: str | os.PathLike) -> None:
        """Load linear heads strictly: every head present, nothing extra, shapes equal."""
        state = load_heads_state_dict(path)
        expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(self.chns)}
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        wrong = [f"{k}: {tuple(v.shape)} vs {expected[k]}" for k, v in state.items()
                 if k in expected and tuple(v.shape) != expected[k]]
        if missing or unexpected or wrong:
            raise ValueError(
                f"LPIPS linear weights {path} do not fit this backbone (tap channels {self.chns}): "
                f"missing {missing}, unexpected {unexpected}, wrong shape {wrong}. Use heads made "
                f"for the same net (net={self.pnet_type!r}) and backbone."
            )
        for k in range(self.L):
            getattr(self, f"lin{k}").model[1].weight.data.copy_(state[f"lin{k}.model.1.weight"])

    def train(self, mode: bool = True) -> "LPIPS":
        """Always eval: a metric must not change with its parent's mode (dropout, batch norm).

        To train the heads with dropout, call ``metric.lins.train()`` explicitly.
        """
        return super().train(False)

    # ----------------------------------------------------------------- checks
    def _check(self, x: torch.Tensor, name: str, normalize: bool) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not (x.is_floating_point()):
            raise ValueError(
                f"{name} has dtype {x.dtype}; LPIPS needs floating-point images. Convert with "
                f"x.float() / 255 and pass normalize=True (or x.float() / 127.5 - 1 for [-1, 1])"
            )
        if x.dim() != 4:
            raise ValueError(
                f"{name} must be a batch N x 3 x H x W, got shape {tuple(x.shape)}"
                + ("; add the batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "")
            )
        if x.shape[1] != 3:
            hint = {1: "for grayscale images repeat the channel: x.repeat(1, 3, 1, 1)",
                    4: "for RGBA images drop the alpha channel: x[:, :3]"}.get(
                x.shape[1], "images must be N x 3 x H x W (channels first); for N x H x W x 3 use x.permute(0, 3, 1, 2)")
            raise ValueError(f"{name} has {x.shape[1]} channels, LPIPS needs 3 (RGB); {hint}")
        h, w = x.shape[-2:]
        if h < self.min_input_size or w < self.min_input_size:
            raise ValueError(
                f"{name} is {h}x{w} pixels, too small for the {type(self.net).__name__} backbone: the "
                f"minimum is {self.min_input_size}x{self.min_input_size}; resize or pad the images"
            )
        if not self.check_inputs or x.numel() == 0:
            return
        lo, hi = (float(v) for v in torch.aminmax(x.detach()))
        if lo != lo or hi != hi or not torch.isfinite(torch.tensor([lo, hi])).all():
            raise ValueError(f"{name} contains NaN or infinite values; check the images (and the loss upstream)")
        low, high = (0.0, 1.0) if normalize else (-1.0, 1.0)
        if lo < low - RANGE_TOLERANCE or hi > high + RANGE_TOLERANCE:
            hint = (
                "with normalize=True LPIPS expects images in [0, 1]"
                if normalize
                else "LPIPS expects images in [-1, 1]; for [0, 1] images pass normalize=True"
            )
            raise ValueError(
                f"{name} has values in [{lo:.4g}, {hi:.4g}]; {hint}"
                + ("" if hi <= 255 + RANGE_TOLERANCE and hi <= high + 1 else " (0..255 images: divide by 255 first)")
                + "; clamp slightly out-of-range images with x.clamp(...)"
            )

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
        with torch.inference_mode(not self._needs_grad(x)):
            return LPIPSFeatures(self._backbone_taps(x, normalize), tuple(x.shape[-2:]))

    def distance_from_features(
        self, f0: LPIPSFeatures, f1: LPIPSFeatures, retPerLayer: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The distance between two feature sets; a batch of 1 broadcasts against N."""
        if len(f0.taps) != self.L or len(f1.taps) != self.L:
            raise ValueError("features come from a different backbone (number of taps differs)")
        if f0.image_size != f1.image_size:
            raise ValueError(f"features of {f0.image_size} and {f1.image_size} images cannot be compared")
        _check_batches(len(f0), len(f1))
        grad = self._needs_grad(*f0.taps, *f1.taps)
        with torch.inference_mode(not grad):
            res = [self._layer_distance(k, a, b, f0.image_size) for k, (a, b) in enumerate(zip(f0.taps, f1.taps))]
            val = res[0]
            for r in res[1:]:
                val = val + r
        if not grad:  # normal tensors, usable in later autograd code
            val, res = val.clone(), [r.clone() for r in res]
        return (val, res) if retPerLayer else val

    def _layer_distance(self, k: int, a: torch.Tensor, b: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        diff = torch.sub(a, b).square_() if torch.is_inference_mode_enabled() else (a - b).pow(2)
        if self.spatial:
            per_position = getattr(self, f"lin{k}")(diff) if self.lpips else diff.sum(dim=1, keepdim=True)
            return F.interpolate(per_position, size=size, mode="bilinear", align_corners=False)
        # mean over positions commutes with the 1x1 convolution: average first, it is cheaper.
        if self.lpips and getattr(self, f"lin{k}").training:  # dropout per position, while training heads
            return getattr(self, f"lin{k}")(diff).mean(dim=(2, 3), keepdim=True)
        mean_diff = diff.mean(dim=(2, 3))  # N x C
        if self.lpips:
            per_image = mean_diff @ getattr(self, f"lin{k}").weight.flatten().to(mean_diff.dtype)
        else:
            per_image = mean_diff.sum(dim=1)
        return per_image.view(-1, 1, 1, 1)

    # ----------------------------------------------------------------- the call
    def forward(
        self, in0: torch.Tensor, in1: torch.Tensor, retPerLayer: bool = False, normalize: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Distance between ``in0`` and ``in1`` (N x 3 x H x W in [-1, 1], or [0, 1] with normalize=True).

        Returns N x 1 x 1 x 1 (N x 1 x H x W with ``spatial=True``); with
        ``retPerLayer`` also the list of per-tap contributions.
        """
        self._check(in0, "in0", normalize)
        self._check(in1, "in1", normalize)
        if in0.shape[1:] != in1.shape[1:]:
            raise ValueError(
                f"in0 and in1 must have the same image size, got {tuple(in0.shape)} and {tuple(in1.shape)}; "
                "resize one of them (LPIPS compares images position by position)"
            )
        _check_batches(in0.shape[0], in1.shape[0])
        size = tuple(in0.shape[-2:])
        with torch.inference_mode(not self._needs_grad(in0, in1)):
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


def _check_batches(n0: int, n1: int) -> None:
    if n0 != n1 and n0 != 1 and n1 != 1:
        raise ValueError(
            f"batch sizes {n0} and {n1} do not match; pass equal batches, or one image (batch 1) "
            "to compare against every image of the other batch"
        )


def _default_backbone(net: str, random: bool) -> tuple[nn.Module, str]:
    """ImageNet features for ``net`` (``random``: torchvision's initialisation, from the caller's RNG)."""
    if random:
        return models.build(LPIPS_NET_TO_MODEL[net], features_only=True), "random weights (pnet_rand=True)"
    try:
        resolved = resolve_backbone(net, weights="imagenet")
    except models.WeightsNotAvailableError as exc:
        raise models.WeightsNotAvailableError(
            f"{exc} Without them, pass a backbone: LPIPS(net={net!r}, backbone=...) - for example "
            f"lpips_edu.resolve_backbone({net!r}).model, which falls back to a book-trained or a seeded "
            "random network - or pnet_rand=True for a random one."
        ) from exc
    return resolved.model, resolved.description


@torch.no_grad()
def _tap_channels(backbone: nn.Module) -> list[int]:
    """Channels of every tap, measured with one tiny forward pass."""
    size = int(getattr(backbone, "min_input_size", 64))
    param = next(backbone.parameters())
    taps = backbone.forward_features(torch.zeros(1, 3, size, size, dtype=param.dtype, device=param.device))
    return [t.shape[1] for t in taps.values()]
