"""DISTS (Ding et al., 2020): structure and texture similarity of two images, on VGG-16 features.

    D(x, y) = 1 - sum_k sum_c ( alpha_kc t(x_kc, y_kc) + beta_kc s(x_kc, y_kc) )

over six stages k (the image itself, then VGG-16's relu1_2, relu2_2, relu3_3,
relu4_3, relu5_3) and their channels c. With means mu, variances sigma^2 and
the covariance sigma_xy of two feature maps, taken over all their positions,

    t = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)          texture: the same global statistics?
    s = (2 sigma_xy + c2) / (sigma_x^2 + sigma_y^2 + c2)     structure: do the two maps vary together?

and c1 = c2 = 1e-6. LPIPS compares features position by position; the texture
term compares only their averages, so two samples of one texture (grass,
gravel) can come out close although no pixel matches. alpha and beta
(non-negative, fitted to human ratings by the paper) are divided by their
sum: D is 0 for identical images (to rounding) and grows as they differ.

VGG-16's max pools are replaced by L2 pools, sqrt(g * x^2) with a 3 x 3 Hann
window g and stride 2, as the paper does: a max pool aliases, and a texture
shifted by a pixel should keep its features. The convolutions are VGG-16's,
unchanged. alpha and beta are the file the torchmetrics wheel ships (>= 1.8),
read in place and checked against a pinned sha256; the result equals
torchmetrics' DISTS on the same VGG weights (``tests/test_dists.py``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..input_checks import check_batches, check_images, check_same_size, check_value_ranges
from ..io import read_torch_file, state_dict_mismatch, tensor_dict
from ..models.imagenet_features import sha256_of
from ..models.vgg import VGG_CONFIGS
from .metric import PRECISIONS, _own_backbone, full_float32, ready_for_inference

__all__ = ["DISTS", "L2Pool", "dists_weights_file", "read_dists_weights", "stage_similarities", "with_l2_pools"]

# The ImageNet normalisation VGG-16 was trained with, applied to [0, 1] images (exact, not lpips' rounded one).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
C1 = C2 = 1e-6  # keep t and s defined for flat (zero) feature maps
L2_POOL_EPS = 1e-12  # under the square root: a finite gradient where a pooled window is all zero
STAGE_CHANNELS = (3, 64, 128, 256, 512, 512)  # the image, then VGG-16's five taps

WEIGHTS_IN_WHEEL = ("functional", "image", "dists_models", "weights.pt")
WEIGHTS_SHA256 = "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218"
INSTALL_HINT = 'pip install "torchmetrics>=1.8" (or pip install "lpips-edu[peers]")'


def dists_weights_file() -> Path:
    """DISTS's alpha/beta in the torchmetrics wheel, found without importing torchmetrics (that imports torchvision)."""
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"DISTS's alpha/beta weights ship inside the torchmetrics package, which is not "
                                f"installed; install it with {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*WEIGHTS_IN_WHEEL)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: torchmetrics {_torchmetrics_version()} is older than 1.8, the "
                                f"first to ship DISTS's weights; upgrade with {INSTALL_HINT}")
    return path


def _torchmetrics_version() -> str:
    try:
        return importlib.metadata.version("torchmetrics")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def read_dists_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``{"alpha", "beta"}``, each 1 x 1475 x 1 x 1, from ``path`` if it is the pinned file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"DISTS weights {path} do not exist; install them with {INSTALL_HINT}")
    actual = sha256_of(path)
    if actual != WEIGHTS_SHA256:
        raise ValueError(f"DISTS weights {path} are not the pinned file (sha256 {actual[:12]}..., expected "
                         f"{WEIGHTS_SHA256[:12]}...): truncated, altered or from another release. Reinstall "
                         f"them with pip install --force-reinstall \"torchmetrics>=1.8\"")
    state = tensor_dict(read_torch_file(path, "DISTS weights", f"install them with {INSTALL_HINT}"), str(path))
    shape = (1, sum(STAGE_CHANNELS), 1, 1)
    mismatch = state_dict_mismatch({"alpha": shape, "beta": shape}, state)
    if mismatch:
        raise ValueError(f"DISTS weights {path} do not fit VGG-16's stages {STAGE_CHANNELS}: {mismatch}")
    return state


class L2Pool(nn.Module):
    """``sqrt(g * x^2)``, ``g`` a normalised 3 x 3 Hann window, stride 2: a max pool that does not alias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hann = torch.hann_window(5, periodic=False, dtype=torch.float64)[1:-1]  # 0.5, 1, 0.5
        window = torch.outer(hann, hann) / hann.sum() ** 2
        self.register_buffer("window", window.float().expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in float32 whatever the backbone's precision: squares of float16 features overflow beyond 256
        squares = x.float().square()
        pooled = F.conv2d(squares, self.window.float(), stride=2, padding=1, groups=squares.shape[1])
        return (pooled + L2_POOL_EPS).sqrt().to(x.dtype)


def _check_vgg16(features: nn.Sequential) -> None:
    """DISTS's weights belong to VGG-16's five stages: refuse any other ``features``."""
    layout = [m.out_channels if isinstance(m, nn.Conv2d) else "M" for m in features
              if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    if layout != VGG_CONFIGS["D"] or any(isinstance(m, nn.BatchNorm2d) for m in features):
        raise ValueError("DISTS is defined on VGG-16 without batch norm; pass backbone=models.build('vgg16', "
                         "features_only=True) (with weights), or a kind of weights: 'imagenet', 'random', ...")


def with_l2_pools(features: nn.Sequential) -> nn.Sequential:
    """VGG-16's ``features`` to relu5_3, each max pool an L2 pool; indices (and so taps, state dict keys) unchanged."""
    layers, channels = [], 3
    for layer in list(features)[:-1]:  # the fifth pool comes after the last tap
        if isinstance(layer, nn.Conv2d):
            channels = layer.out_channels
        layers.append(L2Pool(channels) if isinstance(layer, nn.MaxPool2d) else layer)
    return nn.Sequential(*layers)


def stage_similarities(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Texture ``t`` and structure ``s`` of every channel of one stage, N x C each (a batch of 1 broadcasts)."""
    mean_a, mean_b = a.mean((2, 3), keepdim=True), b.mean((2, 3), keepdim=True)
    da, db = a - mean_a, b - mean_b  # centred first: E[xy] - E[x]E[y] loses digits to cancellation
    var_a, var_b, cov = da.square().mean((2, 3)), db.square().mean((2, 3)), (da * db).mean((2, 3))
    mean_a, mean_b = mean_a.flatten(1), mean_b.flatten(1)
    texture = (2 * mean_a * mean_b + C1) / (mean_a.square() + mean_b.square() + C1)
    structure = (2 * cov + C2) / (var_a + var_b + C2)
    return texture, structure


class DISTS(nn.Module):
    """Deep Image Structure and Texture Similarity: ``DISTS()(img0, img1)``, called like ``lpips_edu.LPIPS``.

    Images are N x 3 x H x W in [-1, 1], or [0, 1] with ``normalize=True``
    (torchmetrics' DISTS takes [0, 1]: its call is ours with
    ``normalize=True``); a batch of 1 is compared with every image of the
    other. Returns N x 1 x 1 x 1, like LPIPS, 0 for identical images.
    Checked like LPIPS: shapes, value ranges (``check_inputs``), the smallest
    image VGG-16 takes, equal sizes and batches.

    ``backbone``: ImageNet VGG-16 features by default (as ``LPIPS(net="vgg")``
    resolves them: fetched on first use where allowed, else an error naming
    what to fetch), a kind of weights as ``lpips_edu.resolve_backbone`` takes
    it ("random" with ``seed``, "best", a checkpoint path), or a VGG-16 from
    ``lpips_edu.models`` (the metric works on its own copy). alpha/beta come
    from the torchmetrics wheel (``dists_weights_file``).
    ``weights_description`` says what was used (``verbose=True`` prints it).

    Frozen and always in eval mode; no autograd graph unless an input needs
    one, and finite gradients, identical inputs included. ``precision``:
    "fp32" (default; on CUDA with TF32 off, so a GPU gives the CPU's numbers,
    see ``full_float32``) or "bf16"/"fp16" for the backbone's convolutions only.
    """

    def __init__(
        self,
        backbone: nn.Module | str | os.PathLike | None = None,
        precision: str = "fp32",
        channels_last: bool = True,
        check_inputs: bool = True,
        verbose: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
        self.precision, self.channels_last, self.check_inputs = precision, channels_last, check_inputs
        weights = read_dists_weights(dists_weights_file())  # first: a missing file should not cost a VGG build
        self.net, self.backbone_weights, description = _own_backbone("vgg", backbone, False, seed, metric="DISTS")
        _check_vgg16(self.net.features)
        self.net.features = with_l2_pools(self.net.features)
        self.min_input_size = int(self.net.min_input_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.alpha = nn.Parameter(weights["alpha"].flatten())
        self.beta = nn.Parameter(weights["beta"].flatten())
        self.weights_description = (f"{description}; alpha and beta from torchmetrics {_torchmetrics_version()} "
                                    "(DISTS, Ding et al. 2020)")
        if verbose:
            print(f"DISTS: {self.weights_description}")
        ready_for_inference(self, precision, channels_last)

    def train(self, mode: bool = True) -> "DISTS":
        """Always eval: a metric must not change with its parent's mode."""
        return super().train(False)

    def _needs_grad(self, *tensors: torch.Tensor) -> bool:
        if not torch.is_grad_enabled():
            return False
        return any(t.requires_grad for t in tensors) or any(p.requires_grad for p in self.parameters())

    def stages(self, x: torch.Tensor, normalize: bool = False) -> list[torch.Tensor]:
        """The six float32 stages DISTS compares: the [0, 1] image, then relu1_2 ... relu5_3."""
        image = x.float() if normalize else (x.float() + 1) / 2
        h = ((image - self.mean) / self.std).to(PRECISIONS[self.precision])
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        return [image, *(t.float() for t in self.net.forward_features(h).values())]

    def forward(self, in0: torch.Tensor, in1: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """DISTS between ``in0`` and ``in1`` (N x 3 x H x W in [-1, 1], [0, 1] with normalize=True): N x 1 x 1 x 1."""
        for name, x in (("in0", in0), ("in1", in1)):
            check_images(x, name, normalize, self.min_input_size, "the VGG-16 backbone", check_range=False,
                         metric="DISTS")
        if self.check_inputs:
            check_value_ranges({"in0": in0, "in1": in1}, normalize, metric="DISTS")
        check_same_size(in0, in1, metric="DISTS")
        check_batches(in0.shape[0], in1.shape[0])
        grad = self._needs_grad(in0, in1)
        with torch.inference_mode(not grad), full_float32():
            if in0.shape[0] == in1.shape[0]:  # one backbone pass for both: a larger batch uses the cores better
                n = in0.shape[0]
                both = self.stages(torch.cat([in0, in1]), normalize)
                stages0, stages1 = [s[:n] for s in both], [s[n:] for s in both]
            else:
                stages0, stages1 = self.stages(in0, normalize), self.stages(in1, normalize)
            total = self.alpha.sum() + self.beta.sum()
            alphas = (self.alpha / total).split(STAGE_CHANNELS)
            betas = (self.beta / total).split(STAGE_CHANNELS)
            similarity = 0
            for a, b, alpha, beta in zip(stages0, stages1, alphas, betas):
                texture, structure = stage_similarities(a, b)
                similarity = similarity + texture @ alpha + structure @ beta
            distance = (1 - similarity).view(-1, 1, 1, 1)
        return distance if grad else distance.clone()  # a normal tensor, usable in later autograd code

    def extra_repr(self) -> str:
        return f"precision={self.precision!r}, channels_last={self.channels_last}"
