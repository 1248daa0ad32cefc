"""Classic full-reference distances, the baselines every perceptual metric is compared with.

Each takes two batches N x 3 x H x W in [0, 1] and returns N distances
(larger = more different), so it plugs into the same scoring code as LPIPS.
"""

from __future__ import annotations

import numpy as np
import torch


def l2_distance(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, in RGB with values in [0, 1]."""
    return (x0 - x1).pow(2).flatten(1).mean(1)


def psnr(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (peak 1): a similarity, higher = closer; infinite for equal images."""
    return 10 * torch.log10(1.0 / l2_distance(x0, x1))


def _to_numpy_images(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()


def l2_lab_distance(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Mean squared error in CIE Lab (L in [0, 100]) divided by 100**2: the lpips repository's "L2" baseline.

    Lab is roughly perceptually uniform for flat colours, so this fixes
    colour weighting but not structure (shifts, blur vs noise).
    """
    from skimage.color import rgb2lab

    a, b = _to_numpy_images(x0), _to_numpy_images(x1)
    values = [0.5 * np.mean((rgb2lab(p) / 100.0 - rgb2lab(q) / 100.0) ** 2) for p, q in zip(a, b)]
    return torch.tensor(values, dtype=torch.float32)


def ssim(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al., 2004) per image, scikit-image's implementation, colour channels averaged."""
    from skimage.metrics import structural_similarity

    a, b = _to_numpy_images(x0), _to_numpy_images(x1)
    win = min(7, a.shape[1], a.shape[2])
    win -= 1 - win % 2  # the window must be odd
    values = [structural_similarity(p, q, data_range=1.0, channel_axis=-1, win_size=win) for p, q in zip(a, b)]
    return torch.tensor(values, dtype=torch.float32)


def dssim_distance(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """``(1 - SSIM) / 2``: SSIM turned into a distance, as the lpips repository's DSSIM baseline."""
    return (1.0 - ssim(x0, x1)) / 2.0


BASELINES = {"L2 (RGB)": l2_distance, "L2 (Lab)": l2_lab_distance, "DSSIM": dssim_distance}
