"""The timing table the chapters print and draw (lpips_edu.analysis.timing.milliseconds)."""

from __future__ import annotations

import pytest

from lpips_edu.analysis.timing import Timing, milliseconds


def test_milliseconds_has_one_row_per_call_in_order_with_median_and_quartiles():
    timings = {"slow": Timing(0.004, 0.003, 0.006, 5, 1), "fast": Timing(0.001, 0.0009, 0.0012, 5, 10)}
    table = milliseconds(timings)
    assert list(table.index) == ["slow", "fast"] and list(table.columns) == ["median", "q25", "q75"]
    assert table.loc["slow"].tolist() == pytest.approx([4.0, 3.0, 6.0])
    assert table.loc["fast", "median"] == pytest.approx(1.0)
