"""Progress bars: one final line in the book build, live bars otherwise, none when switched off."""

import pytest

from lpips_edu.progress import FinalLineBar, progress_bar


def test_final_mode_prints_exactly_one_line_per_finished_bar(monkeypatch, capsys):
    monkeypatch.setenv("LPIPS_EDU_PROGRESS", "final")
    for _ in progress_bar(range(250), desc="steps"):
        pass
    with progress_bar(total=3, desc="inner", leave=False) as bar:
        bar.update(3)
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("steps: 100%") and "250/250" in lines[0]
    assert "\r" not in out.out and out.err == ""


def test_final_line_keeps_the_postfix_and_closing_twice_prints_once(monkeypatch, capsys):
    monkeypatch.setenv("LPIPS_EDU_PROGRESS", "final")
    bar = progress_bar(total=2, desc="alexnet")
    assert isinstance(bar, FinalLineBar)
    bar.update(2)
    bar.set_postfix(loss="0.512")
    bar.close()
    bar.close()
    assert capsys.readouterr().out.count("loss=0.512") == 1


def test_off_mode_and_disabled_bars_print_nothing(monkeypatch, capsys):
    monkeypatch.setenv("LPIPS_EDU_PROGRESS", "off")
    assert sum(progress_bar(range(5))) == 10
    monkeypatch.setenv("LPIPS_EDU_PROGRESS", "final")
    assert sum(progress_bar(range(5), disable=True)) == 10
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_unknown_mode_names_the_choices(monkeypatch):
    monkeypatch.setenv("LPIPS_EDU_PROGRESS", "verbose")
    with pytest.raises(ValueError, match="auto, final, off"):
        progress_bar(range(3))

