"""Distance rows on disk (CSV or JSON Lines), written a whole row at a time so that a run can be resumed.

A run over a million pairs must survive being stopped. So the output file
only ever grows by complete rows: each row is encoded first and handed to the
operating system in one ``os.write`` call, the moment its distance is known.
An interrupted run leaves a valid file; ``resume=True`` reads which pairs it
already holds (cutting off a half-written last line, which only a power cut or
``kill -9`` in the middle of a write could leave) and appends the rest.

CSV: ``image0,image1,lpips`` with a header row. JSON Lines (``.jsonl`` or
``.ndjson``): one ``{"image0": ..., "image1": ..., "lpips": ...}`` per line.
Distances have 6 decimals in both. The distance's column is named after the
metric (``column``: "lpips", "dists"), so a file of one metric is never
resumed with another's numbers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from ..io import atomic_open

FORMATS = ("csv", "jsonl")
DEFAULT_COLUMN = "lpips"


def format_for(path: str | os.PathLike | None, fmt: str | None = None) -> str:
    """``fmt`` if given, else JSON Lines for a .jsonl/.ndjson name and CSV for anything else."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    return "jsonl" if path is not None and Path(path).suffix.lower() in (".jsonl", ".ndjson") else "csv"


def csv_header(column: str = DEFAULT_COLUMN) -> str:
    return f"image0,image1,{column}\n"


def encode_row(fmt: str, image0: str, image1: str, distance: float, column: str = DEFAULT_COLUMN) -> str:
    """One complete line, newline included."""
    if fmt == "jsonl":
        return f'{{"image0": {json.dumps(image0)}, "image1": {json.dumps(image1)}, "{column}": {distance:.6f}}}\n'
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([image0, image1, f"{distance:.6f}"])
    return buffer.getvalue()


def header(fmt: str, column: str = DEFAULT_COLUMN) -> str:
    return csv_header(column) if fmt == "csv" else ""


def parse_lines(fmt: str, lines: Iterable[str], source: str,
                column: str = DEFAULT_COLUMN) -> list[tuple[tuple[str, str], str]]:
    """``((image0, image1), line)`` for every row line (header and blank lines excluded)."""
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or (fmt == "csv" and number == 1 and line == csv_header(column)):
            continue
        try:
            if fmt == "jsonl":
                record = json.loads(line)
                key = (record["image0"], record["image1"])
                float(record[column])
            else:
                image0, image1, distance = next(csv.reader([line]))
                key = (image0, image1)
                float(distance)
        except (ValueError, KeyError, TypeError, StopIteration) as exc:
            raise ValueError(f"{source}, line {number}, is not a {fmt} distance row ({exc}): {line[:120]!r}. "
                             "Was it written by another program? Pass another output file.") from None
        rows.append((key, line))
    return rows


def read_rows(path: str | os.PathLike, fmt: str, column: str = DEFAULT_COLUMN) -> list[tuple[tuple[str, str], str]]:
    """The complete rows of an output file; a half-written last line is left out."""
    text = Path(path).read_text(encoding="utf-8")
    expected = csv_header(column)
    if fmt == "csv" and text and not expected.startswith(text[: len(expected)]):
        raise ValueError(f"{path} does not start with the header {expected.strip()!r}; pass another output file")
    complete = text[: text.rfind("\n") + 1]
    return parse_lines(fmt, complete.splitlines(keepends=True), str(path), column)


class RowFile:
    """An output file that grows by whole rows; ``done`` holds the pairs it already had (``resume=True``).

    An existing non-empty file is continued with ``resume``, replaced with
    ``overwrite``, and otherwise an error: hours of distances are not thrown
    away because a command was run twice.
    """

    def __init__(self, path: str | os.PathLike, fmt: str, resume: bool = False, overwrite: bool = False,
                 column: str = DEFAULT_COLUMN) -> None:
        self.path, self.fmt, self.column = Path(path), fmt, column
        self.done: set[tuple[str, str]] = set()
        self.written = 0
        exists = self.path.is_file() and self.path.stat().st_size > 0
        if exists and not (resume or overwrite):
            raise FileExistsError(f"{self.path} already exists; pass --resume to continue it, or --overwrite to "
                                  "replace it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if exists and resume:
            rows = read_rows(self.path, fmt, column)
            self.done = {key for key, _ in rows}
            self._cut_partial_line()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if overwrite and not resume else 0)
        self._fd = os.open(self.path, flags, 0o666)
        if os.fstat(self._fd).st_size == 0:
            self._write(header(fmt, column))

    def _cut_partial_line(self) -> None:
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            print(f"note: {self.path} ended in half a row (an interrupted write); it is cut off and redone",
                  file=sys.stderr)
            os.truncate(self.path, keep)

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        while data:  # a regular file takes it all at once; the loop is for the rare short write
            data = data[os.write(self._fd, data):]

    def write(self, image0: str, image1: str, distance: float) -> None:
        """Append one row, whole, at once."""
        self._write(encode_row(self.fmt, image0, image1, distance, self.column))
        self.written += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StdoutRows:
    """Rows printed as they come (no ``-o``): the same encoding, flushed line by line."""

    def __init__(self, fmt: str, column: str = DEFAULT_COLUMN) -> None:
        self.fmt, self.column, self.done, self.written = fmt, column, set(), 0
        sys.stdout.write(header(fmt, column))

    def write(self, image0: str, image1: str, distance: float) -> None:
        sys.stdout.write(encode_row(self.fmt, image0, image1, distance, self.column))
        sys.stdout.flush()
        self.written += 1

    def close(self) -> None:
        sys.stdout.flush()

    def __enter__(self) -> StdoutRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def merge_in_order(sources: Iterable[Path], output: Path, fmt: str, order: dict[tuple[str, str], int],
                   column: str = DEFAULT_COLUMN) -> int:
    """Rows of ``sources`` sorted by their pair's place in ``order``, written atomically to ``output``."""
    rows, seen = [], set()
    for source in sources:
        if source.is_file():
            for key, line in read_rows(source, fmt, column):
                if key not in seen:  # a pair in two sources (a resumed run's output and a part) counts once
                    seen.add(key)
                    rows.append((key, line))
    rows.sort(key=lambda row: order.get(row[0], len(order)))
    with atomic_open(output, "w", newline="") as f:
        f.write(header(fmt, column))
        f.writelines(line for _, line in rows)
    return len(rows)
