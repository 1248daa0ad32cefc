"""What a check returns: a list of graded items and a score.

A student needs to know *what* is wrong, not only that something failed, so
every item carries a sentence of feedback. An item is worth ``max_points``;
it scores all of them or none. Items marked ``manual`` (free-text answers)
are listed for the instructor and never scored automatically.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field

WIDTH = 68  # what a code cell's output shows without scrolling in the book's main column


def _wrap(text: str, width: int) -> str:
    """Indented, wrapped to ``width``; "# YOUR CODE HERE" stays on one line (students search for it)."""
    keep = "# YOUR CODE HERE"
    text = text.replace(keep, keep.replace(" ", "\0"))
    wrapped = textwrap.fill(text, width, initial_indent="  ", subsequent_indent="       ", break_on_hyphens=False)
    return wrapped.replace("\0", " ")


@dataclass
class Item:
    """One graded statement about a submission."""

    name: str
    max_points: float
    passed: bool
    feedback: str
    manual: bool = False  # needs a person: not part of the automatic score

    @property
    def points(self) -> float:
        return self.max_points if self.passed and not self.manual else 0.0

    def line(self, width: int = WIDTH) -> str:
        """The item as printed: a mark, the name, the points and the feedback, wrapped to ``width``."""
        if self.manual:
            text = f"[manual] {self.name} ({self.max_points:g} points, needs manual grading): {self.feedback}"
        else:
            text = (
                f"[{'ok' if self.passed else '--'}] {self.name} ({self.points:g}/{self.max_points:g}): {self.feedback}"
            )
        return _wrap(text, width)


@dataclass
class Report:
    """The items of one exercise or one assignment; ``print(report)`` shows the feedback."""

    title: str
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # unscored context, e.g. which cells raised errors

    @property
    def score(self) -> float:
        return sum(i.points for i in self.items)

    @property
    def max_score(self) -> float:
        """The automatic score's maximum (manual items are not included)."""
        return sum(i.max_points for i in self.items if not i.manual)

    @property
    def manual_points(self) -> float:
        return sum(i.max_points for i in self.items if i.manual)

    @property
    def passed(self) -> bool:
        """True when every automatic item passed."""
        return all(i.passed for i in self.items if not i.manual)

    def add(self, name: str, max_points: float, passed: bool, feedback: str, manual: bool = False) -> Item:
        item = Item(name, float(max_points), bool(passed), feedback, manual)
        self.items.append(item)
        return item

    def extend(self, other: "Report") -> "Report":
        self.items.extend(other.items)
        self.notes.extend(other.notes)
        return self

    def require(self) -> "Report":
        """Raise ``AssertionError`` with the feedback unless every automatic item passed.

        For graders that count a cell as passed when it runs without error (nbgrader's autograder).
        """
        if not self.passed:
            raise AssertionError(str(self))
        return self

    def __str__(self) -> str:
        head = f"{self.title}: {self.score:g}/{self.max_score:g} points"
        if self.manual_points:
            head += f" (+ {self.manual_points:g} graded by hand)"
        lines = [head, *(i.line() for i in self.items)]
        lines += [_wrap(f"note: {n}", WIDTH) for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__  # a check cell's last line shows the feedback, not a dataclass dump

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "score": self.score,
            "max_score": self.max_score,
            "manual_points": self.manual_points,
            "items": [asdict(i) for i in self.items],
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        return cls(data["title"], [Item(**i) for i in data["items"]], list(data.get("notes", [])))
