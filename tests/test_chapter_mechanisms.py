"""What a chapter writes in the open is what the package runs: the two are tied by equal results.

A chapter's central mechanism (the AlexNet class, VGG's ``make_layers``, the Fire
module, the training loop, the 2AFC loss and the heads' loop, the timing
protocol, the attack) sits in a code cell tagged ``mechanism``. These tests take
those cells from the notebook as they are, run them in a fresh namespace, and
check them against the package on inputs the chapter never used. If either
side changes, a test fails here, whatever the page prints.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
import torch
import torchvision
from repo_layout import REPO

from lpips_edu import models
from lpips_edu.models.vgg import VGG_CONFIGS, make_features

TAG = "mechanism"


def mechanism(chapter: str) -> dict:
    """The namespace left by the ``mechanism`` cells of ``notebooks/<chapter>.ipynb``, run in order."""
    nb = nbformat.read(REPO / "notebooks" / f"{chapter}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    assert cells, f"{chapter} has no cell tagged {TAG!r}"
    namespace: dict = {}
    for source in cells:
        exec(compile(source, f"{chapter}:{TAG}", "exec"), namespace)  # noqa: S102 - the book's own cells
    return namespace


def test_every_mechanism_cell_runs_on_its_own():
    for chapter in ("01_alexnet", "02_vgg", "03_squeezenet"):
        assert mechanism(chapter)


@pytest.mark.parametrize("num_classes", [1000, 14])
def test_the_chapters_alexnet_is_torchvisions_and_the_packages(num_classes):
    AlexNet = mechanism("01_alexnet")["AlexNet"]
    torch.manual_seed(1)
    ours = AlexNet(num_classes=num_classes).eval()
    reference = torchvision.models.alexnet(num_classes=num_classes).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    package = models.build("alexnet", num_classes=num_classes).eval()
    package.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 80, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(package(x), ours(x))
        torch.testing.assert_close(reference(x), ours(x))


@pytest.mark.parametrize("config", list(VGG_CONFIGS))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_chapters_make_layers_is_the_packages(config, batch_norm):
    make_layers = mechanism("02_vgg")["make_layers"]
    ours = make_layers(VGG_CONFIGS[config], batch_norm)
    package = make_features(VGG_CONFIGS[config], batch_norm)
    assert [type(m) for m in ours] == [type(m) for m in package]
    package.load_state_dict(ours.state_dict(), strict=True)
    ours.train(), package.train()  # batch norm in training mode: batch statistics, the running ones updated
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(package(x), ours(x), rtol=0, atol=0)
    if batch_norm:
        torch.testing.assert_close(package.state_dict(), ours.state_dict(), rtol=0, atol=0)


def test_the_chapters_fire_module_and_parameter_formula_are_the_packages():
    space = mechanism("03_squeezenet")
    Fire, fire_parameters = space["Fire"], space["fire_parameters"]
    ours = Fire(96, 16, 64, 64)
    package = models.Fire(96, 16, 64, 64)
    package.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 96, 15, 15, generator=torch.Generator().manual_seed(4))
    assert torch.equal(package(x), ours(x))
    for name in ("squeezenet1_0", "squeezenet1_1"):
        for m in models.build(name).features:
            if isinstance(m, models.Fire):
                mine = Fire(m.squeeze.in_channels, m.squeeze.out_channels, m.expand1x1.out_channels,
                            m.expand3x3.out_channels)
                mine.load_state_dict(copy.deepcopy(m.state_dict()), strict=True)  # same names, same shapes
                shape = (m.squeeze.in_channels, m.squeeze.out_channels, m.expand1x1.out_channels,
                         m.expand3x3.out_channels)
                assert fire_parameters(*shape) == sum(p.numel() for p in m.parameters()), shape
