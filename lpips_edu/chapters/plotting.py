"""One figure style for every notebook, and the image grids the chapters share.

Figures get an opaque light background and dark text so they read the same in
the book's light and dark themes; sizes and fonts are chosen for the width of
the book's main column.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import normalize, to_tensor

BOOK_STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#222222",
    "text.color": "#222222",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.frameon": False,
    "font.size": 10,
    "image.cmap": "viridis",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a notebook)."""
    mpl.rcParams.update(BOOK_STYLE)


def show_images(images: list[np.ndarray], titles: list[str] | None = None, ncols: int | None = None, size: float = 2.2):
    """A row (or grid) of H x W x 3 images with titles, axes hidden."""
    ncols = ncols or len(images)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(image, cmap=None if image.ndim == 3 else "gray")
        if titles:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def _tile_grid(n: int, ncols: int, size: float):
    """A figure of ``n`` small square tiles, ``ncols`` to a row, without axes."""
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def show_feature_maps(activation: torch.Tensor, n: int = 16, title: str = "", ncols: int = 8, size: float = 1.1):
    """The first ``n`` channels of one image's activation (1 x C x H x W), each scaled to its own range."""
    maps = activation[0, :n].detach().float().cpu().numpy()
    fig, axes = _tile_grid(len(maps), ncols, size)
    for i, m in enumerate(maps):
        axes.flat[i].imshow(m, cmap="magma")
        axes.flat[i].set_title(f"ch {i}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_filters(weight: torch.Tensor, n: int = 64, ncols: int = 16, title: str = "", size: float = 0.55):
    """First-layer filters (out x 3 x k x k) as small RGB images, each scaled to its own range."""
    w = weight[:n].detach().float().cpu()
    lo = w.flatten(1).min(1).values[:, None, None, None]
    hi = w.flatten(1).max(1).values[:, None, None, None]
    w = ((w - lo) / (hi - lo + 1e-12)).permute(0, 2, 3, 1).numpy()
    fig, axes = _tile_grid(len(w), ncols, size)
    for i, f in enumerate(w):
        axes.flat[i].imshow(f, interpolation="nearest")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def show_tap_maps(backbone: torch.nn.Module, image: np.ndarray, taps: list[str], n: int = 8) -> None:
    """A photograph (H x W x 3 uint8), then the first ``n`` channels of each named tap for it.

    The image is standardised with ImageNet's mean and std, as the backbones were trained;
    each figure is shown before the next is drawn, so they appear in this order.
    """
    features = backbone.forward_features(normalize(to_tensor(image)))
    show_images([image], [f"input ({image.shape[0]}x{image.shape[1]})"], size=2.6)
    plt.show()
    for name in taps:
        shape = tuple(features[name].shape[1:])
        show_feature_maps(features[name], n=n, title=f"{name}: {shape} (first {n} channels)")
        plt.show()
