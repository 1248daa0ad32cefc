"""The offline dataset, the real-dataset loaders and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lpips_edu import data
from lpips_edu.data import folders, offline
from lpips_edu.data.procedural import GENERATORS


def test_offline_items_are_uint8_images_with_balanced_labels():
    ds = data.OfflineImages("train", images_per_class=3, image_size=32)
    assert len(ds) == 3 * len(data.OFFLINE_CLASSES) and ds.num_classes == len(ds.classes)
    image, label = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32) and label == 0
    labels = [ds[i][1] for i in range(len(ds))]
    assert np.bincount(labels).tolist() == [3] * ds.num_classes


def test_offline_is_a_function_of_seed_epoch_and_index():
    a = data.OfflineImages("train", images_per_class=2, image_size=32, seed=1)
    b = data.OfflineImages("train", images_per_class=2, image_size=32, seed=1)
    for i in range(len(a)):
        assert torch.equal(a[i][0], b[i][0])
    first = a[0][0]
    a.set_epoch(1)  # training draws new patches every epoch ...
    assert not torch.equal(a[0][0], first)
    val = data.OfflineImages("val", images_per_class=2, image_size=32, seed=1)
    v0 = val[0][0]
    val.set_epoch(5)  # ... validation stays fixed
    assert torch.equal(val[0][0], v0)
    other_seed = data.OfflineImages("train", images_per_class=2, image_size=32, seed=2)
    assert not torch.equal(other_seed[0][0], b[0][0])


@pytest.mark.parametrize("name", list(offline.PHOTOS))
def test_training_and_validation_patches_never_share_pixels(name):
    width, height = offline._photo(name).size
    rng = np.random.default_rng(0)
    train_boxes = np.array([offline.patch_box((width, height), rng, "train") for _ in range(300)])
    val_boxes = np.array([offline.patch_box((width, height), rng, "val") for _ in range(300)])
    for boxes in (train_boxes, val_boxes):
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
    # Two boxes share a pixel iff they overlap on both axes; check every pair.
    t, v = train_boxes[:, None, :], val_boxes[None, :, :]
    overlap_x = (t[..., 0] < v[..., 2]) & (v[..., 0] < t[..., 2])
    overlap_y = (t[..., 1] < v[..., 3]) & (v[..., 1] < t[..., 3])
    assert not (overlap_x & overlap_y).any()


def test_procedural_splits_use_different_seeds():
    train = data.OfflineImages("train", 2, 32, classes=list(GENERATORS))
    val = data.OfflineImages("val", 2, 32, classes=list(GENERATORS))
    for i in range(len(train)):
        assert not torch.equal(train[i][0], val[i][0])


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generators_are_deterministic_rgb(name):
    a = GENERATORS[name](np.random.default_rng(3), 48)
    b = GENERATORS[name](np.random.default_rng(3), 48)
    assert a.shape == (48, 48, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert a.std() > 5  # not a flat image


def test_unknown_class_and_split_are_rejected():
    with pytest.raises(ValueError, match="unknown offline classes"):
        data.OfflineImages("train", classes=["astronaut", "unicorn"])
    with pytest.raises(ValueError, match="split"):
        data.OfflineImages("test")


def test_normalize_round_trip_and_model_input_sizes():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    x = data.normalize(images)
    assert x.dtype == torch.float32
    torch.testing.assert_close(data.denormalize(x), images.float() / 255, atol=1e-6, rtol=0)
    assert data.input_size_for("alexnet", 32) == 63  # AlexNet's classifier needs >= 63 px
    assert data.input_size_for("squeezenet1_1", 32) == 32


def _write_tree(root, splits=("train", "val"), classes=("cat", "dog"), per_class=3):
    rng = np.random.default_rng(0)
    for split in splits:
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")


def test_image_folder_reads_imagenet_layout(tmp_path):
    _write_tree(tmp_path)
    train, val = data.build_datasets("folder", image_size=16, root=tmp_path)
    assert train.classes == val.classes == ["cat", "dog"]
    assert len(train) == len(val) == 6
    image, label = val[4]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16) and label == 1
    # A path given as the dataset name works too.
    assert len(data.build_datasets(str(tmp_path), image_size=16)[0]) == 6


def test_image_folder_reads_tiny_imagenet_validation_layout(tmp_path):
    _write_tree(tmp_path, splits=("train",))
    (tmp_path / "val" / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "val" / "images" / "val_0.png")
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.png\tdog\t0\t0\t8\t8\n")
    train, val = data.build_datasets("folder", image_size=16, root=tmp_path)
    assert len(val) == 1 and val[0][1] == train.classes.index("dog")


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(data.DatasetNotAvailableError, match="does not exist"):
        data.build_datasets("folder", root=tmp_path / "missing")
    (tmp_path / "empty" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(data.DatasetNotAvailableError, match="no images"):
        data.build_datasets("folder", root=tmp_path / "empty")
    _write_tree(tmp_path / "bad")
    corrupt = tmp_path / "bad" / "val" / "cat" / "0.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    _, val = data.build_datasets("folder", image_size=16, root=tmp_path / "bad")
    with pytest.raises(ValueError, match="0.png"):
        val[0]


def test_downloads_are_opt_in_and_fail_fast_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("LPIPS_EDU_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(data.DatasetNotAvailableError, match="download=True"):
        data.build_datasets("cifar10", root=tmp_path)
    monkeypatch.setattr(folders, "_reachable", lambda url, timeout: False)
    with pytest.raises(data.DatasetNotAvailableError, match="unreachable.*put it in"):
        data.build_datasets("imagenette", root=tmp_path, download=True)
