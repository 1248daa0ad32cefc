"""The figures the chapters share (lpips_edu.chapters.plotting) draw what they say they draw."""

from __future__ import annotations

import matplotlib.pyplot as plt

from lpips_edu.chapters.plotting import show_tap_maps
from lpips_edu.data import load_sample
from lpips_edu.models import build


def test_show_tap_maps_draws_the_input_and_one_figure_per_tap():
    plt.close("all")
    show_tap_maps(build("squeezenet1_1"), load_sample("astronaut", size=48), ["relu1", "fire5"], n=4)
    figures = [plt.figure(number) for number in plt.get_fignums()]
    assert len(figures) == 3 and figures[0].axes[0].get_title() == "input (48x48)"
    assert figures[1]._suptitle.get_text() == "relu1: (64, 23, 23) (first 4 channels)"
    assert figures[2]._suptitle.get_text().startswith("fire5: (256,")
    plt.close("all")
