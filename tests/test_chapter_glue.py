"""Numbers glued into a chapter's prose are plain Python numbers, which myst-nb's format specs can read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from repo_layout import NOTEBOOKS

from lpips_edu.chapters.glue import plain


@pytest.mark.parametrize("value", [np.float64(5.92), np.float32(0.5), np.int64(3), torch.tensor(0.25),
                                   torch.tensor([7.5])])
def test_numpy_scalars_and_one_element_tensors_become_python_numbers(value):
    got = plain(value)
    assert type(got) in (float, int) and f"{got:.1f}" == f"{float(value):.1f}"
    assert repr(got).replace(".", "").replace("-", "").isdigit() or "e" in repr(got)


def test_other_values_pass_unchanged():
    frame = {"a": 1}
    assert plain(frame) is frame and plain("text") == "text" and plain(2.5) == 2.5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_chapter_glues_through_myst_nb_directly(path):
    assert "from myst_nb import glue" not in path.read_text(encoding="utf-8"), (
        "import glue from lpips_edu.chapters.glue: numpy 2's np.float64(...) breaks {glue:text} format specs"
    )
