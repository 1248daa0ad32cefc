"""2AFC triplets and JND pairs: the two kinds of human judgement LPIPS is calibrated and scored on.

* **2AFC** (two-alternative forced choice): a reference patch ``ref`` and two
  distorted versions ``p0``, ``p1``; ``judge`` is the fraction of people who
  said ``p1`` is closer to ``ref`` (0 = everyone chose ``p0``).
* **JND** (just noticeable difference): two patches ``p0``, ``p1`` shown
  briefly; ``same`` is the fraction of people who said they are identical.

Both are read from the published BAPPS layout (Zhang et al., 2018)::

    <root>/2afc/<split>/<subset>/{ref,p0,p1}/000000.png, judge/000000.npy
    <root>/jnd/<split>/<subset>/{p0,p1}/000000.png, same/000000.npy

Every item is a dict of tensors (images 3 x H x W in [0, 1], judgements of
shape (1,)), so a ``DataLoader`` batches them. Note: the lpips repository's loader
returns images in [-1, 1]; we keep [0, 1] like the rest of the book, so call
LPIPS with ``normalize=True``. Files are matched by name, not by position in
a listing, so a missing file is an error instead of a silent misalignment.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.image_files import read_rgb

TWO_AFC_FOLDERS = ("ref", "p0", "p1", "judge")
JND_FOLDERS = ("p0", "p1", "same")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
BAPPS_2AFC_SUBSETS = {
    "train": ("traditional", "cnn", "mix"),
    "val": ("traditional", "cnn", "superres", "deblur", "color", "frameinterp"),
}
BAPPS_JND_SUBSETS = {"val": ("traditional", "cnn")}


def load_image(path: str | os.PathLike, size: int | None = None) -> torch.Tensor:
    """A PNG/JPEG as a 3 x H x W float tensor in [0, 1], resized (bilinear, as the reference) to ``size``."""
    from PIL import Image

    image = read_rgb(path)
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


def load_judgement(path: str | os.PathLike) -> torch.Tensor:
    """A BAPPS ``.npy`` judgement (a fraction of people in [0, 1]) as a float tensor of shape (1,)."""
    value = np.asarray(np.load(path), dtype=np.float32).reshape(-1)
    if value.size != 1:
        raise ValueError(f"{path} holds {value.size} numbers; a BAPPS judgement file holds exactly one")
    return torch.from_numpy(value)


def _matched_files(directory: Path, folders: tuple[str, ...], judgement_folder: str) -> list[dict[str, Path]]:
    """For every item name, its file in each folder; errors name the folder and file that do not fit."""
    missing = [f for f in folders if not (directory / f).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{directory} lacks the folder(s) {missing}; a BAPPS subset holds {list(folders)}. "
            "Check the root (it must contain 2afc/ and jnd/) and the split/subset names."
        )
    listings = {}
    for folder in folders:
        suffixes = (".npy",) if folder == judgement_folder else IMAGE_SUFFIXES
        files = sorted(p for p in (directory / folder).iterdir() if p.suffix.lower() in suffixes)
        listings[folder] = {p.stem: p for p in files}
    names = sorted(listings[folders[0]])
    if not names:
        raise FileNotFoundError(f"{directory / folders[0]} holds no files")
    for folder, files in listings.items():
        if set(files) != set(names):
            only_here = sorted(set(files) - set(names))[:3]
            absent = sorted(set(names) - set(files))[:3]
            raise ValueError(
                f"files in {directory / folder} do not match {directory / folders[0]}: "
                f"{len(files)} vs {len(names)} files; missing {absent}, extra {only_here}. "
                "Every item needs one file with the same name in each folder."
            )
    return [{folder: listings[folder][name] for folder in folders} for name in names]


def _subset_dirs(root: str | os.PathLike, task: str, split: str, subsets) -> list[Path]:
    base = Path(root) / task / split
    if not base.is_dir():
        raise FileNotFoundError(
            f"{base} does not exist; expected the BAPPS layout <root>/{task}/<split>/<subset>/. "
            "Download BAPPS with the commands in chapter 7, or pass the folder that contains 2afc/ and jnd/."
        )
    if subsets is None:
        subsets = sorted(p.name for p in base.iterdir() if p.is_dir())
    elif isinstance(subsets, str):
        subsets = [subsets]
    return [base / s for s in subsets]


class TwoAFCDataset(Dataset):
    """BAPPS 2AFC triplets from ``<root>/2afc/<split>/<subset>``; ``subsets=None`` means all present."""

    def __init__(self, root: str | os.PathLike, split: str = "val", subsets=None, load_size: int | None = 64):
        self.load_size = load_size
        self.items: list[dict[str, Path]] = []
        for directory in _subset_dirs(root, "2afc", split, subsets):
            self.items += _matched_files(directory, TWO_AFC_FOLDERS, "judge")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        files = self.items[index]
        item = {k: load_image(files[k], self.load_size) for k in ("ref", "p0", "p1")}
        item["judge"] = load_judgement(files["judge"])
        return item


class JNDDataset(Dataset):
    """BAPPS JND pairs from ``<root>/jnd/<split>/<subset>``; ``subsets=None`` means all present."""

    def __init__(self, root: str | os.PathLike, split: str = "val", subsets=None, load_size: int | None = 64):
        self.load_size = load_size
        self.items: list[dict[str, Path]] = []
        for directory in _subset_dirs(root, "jnd", split, subsets):
            self.items += _matched_files(directory, JND_FOLDERS, "same")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        files = self.items[index]
        item = {k: load_image(files[k], self.load_size) for k in ("p0", "p1")}
        item["same"] = load_judgement(files["same"])
        return item


class TwoAFCTensors(Dataset):
    """2AFC triplets held in memory (the offline benchmark); items look like ``TwoAFCDataset``'s.

    ``meta`` carries optional per-triplet facts (source image, distortion, strengths).
    """

    def __init__(self, ref: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, judge: torch.Tensor,
                 meta: list[dict] | None = None):
        n = ref.shape[0]
        if not (p0.shape == p1.shape == ref.shape) or judge.shape[0] != n:
            raise ValueError(
                f"ref, p0, p1 must have the same shape and judge one value per triplet; got "
                f"{tuple(ref.shape)}, {tuple(p0.shape)}, {tuple(p1.shape)}, judge {tuple(judge.shape)}"
            )
        self.ref, self.p0, self.p1 = ref, p0, p1
        self.judge = judge.reshape(n, 1).float()
        self.meta = meta or [{} for _ in range(n)]

    def __len__(self) -> int:
        return self.ref.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"ref": self.ref[index], "p0": self.p0[index], "p1": self.p1[index], "judge": self.judge[index]}


def write_bapps_tree(
    root: str | os.PathLike,
    triplets: TwoAFCTensors | None = None,
    jnd: tuple | None = None,
    split: str = "val",
    subset: str = "synthetic",
) -> Path:
    """Write triplets (and optionally JND pairs ``(p0, p1, same)``) in the BAPPS layout.

    Used by the tests to build a tiny tree, and by readers who want to score
    the offline benchmark with the lpips repository's scripts.
    """
    from PIL import Image

    def save_png(t: torch.Tensor, path: Path) -> None:
        array = (t.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        Image.fromarray(array).save(path)

    root = Path(root)
    if triplets is not None:
        base = root / "2afc" / split / subset
        for folder in TWO_AFC_FOLDERS:
            (base / folder).mkdir(parents=True, exist_ok=True)
        for i in range(len(triplets)):
            item = triplets[i]
            for k in ("ref", "p0", "p1"):
                save_png(item[k], base / k / f"{i:06d}.png")
            np.save(base / "judge" / f"{i:06d}.npy", item["judge"].numpy().reshape(1))
    if jnd is not None:
        p0, p1, same = jnd
        base = root / "jnd" / split / subset
        for folder in JND_FOLDERS:
            (base / folder).mkdir(parents=True, exist_ok=True)
        for i in range(p0.shape[0]):
            save_png(p0[i], base / "p0" / f"{i:06d}.png")
            save_png(p1[i], base / "p1" / f"{i:06d}.png")
            np.save(base / "same" / f"{i:06d}.npy", np.asarray(same[i], dtype=np.float32).reshape(1))
    return root
