"""Judgement files from the "Be the observer" page, read into 2AFC judgements like BAPPS's.

The page saves one JSON file per reader (nothing leaves the browser)::

    {"format": "lpips-edu/observer-judgements", "format_version": 1,
     "set": "be-the-observer", "set_version": "<12 hex digits>",
     "session": "<random id>", "created": "<ISO time>",
     "judgements": [{"triplet": "t07", "choice": "p1", "ms": 2310}, ...]}

``read_judgements`` reads one file or a whole class. As in BAPPS, each triplet's
judgement ``h`` is the fraction of the observers who answered it that chose
``p1``. A file that is not such a file, that comes from another version of the
set or names a triplet the set does not have is an error that names the file and
says why; so is the same submission handed in twice (same session, or the same
answers with the same response times), unless ``skip_duplicates=True``.

``simulated_observer`` writes what a reader would, from a metric's distances and
some noise: the code path can be shown, and tested, without claiming anyone's
judgements. Its files say ``"simulated"`` and the reader counts them.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .observer_set import SET_NAME

FORMAT = "lpips-edu/observer-judgements"
FORMAT_VERSION = 1
CHOICES = {"p0": 0.0, "p1": 1.0}


class JudgementFileError(ValueError):
    """A judgement file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class Judgements:
    """Observers x triplets: ``choices`` 1 (chose p1), 0 (chose p0) or NaN (not answered)."""

    set_version: str
    ids: tuple[str, ...]  # the set's triplets, in the set's order (the columns)
    files: tuple[str, ...]  # one per observer (the rows)
    choices: np.ndarray
    times_ms: np.ndarray
    simulated: tuple[bool, ...]
    skipped_duplicates: tuple[str, ...] = ()

    @property
    def counts(self) -> np.ndarray:
        """How many observers answered each triplet."""
        return np.sum(~np.isnan(self.choices), axis=0)

    @property
    def h(self) -> np.ndarray:
        """Per triplet, the fraction of its observers who chose p1 (NaN where nobody answered)."""
        with np.errstate(invalid="ignore"):
            return np.nansum(self.choices, axis=0) / np.where(self.counts > 0, self.counts, np.nan)

    @property
    def answered(self) -> np.ndarray:
        """Indices (into ``ids``) of the triplets at least one observer answered."""
        return np.flatnonzero(self.counts > 0)

    def as_2afc(self, observer_set):
        """The answered triplets of ``observer_set`` as a ``TwoAFCTensors`` whose ``judge`` is ``h``."""
        if observer_set.version != self.set_version:
            raise ValueError(f"these judgements are for set version {self.set_version}, not {observer_set.version}")
        keep = self.answered.tolist()
        return observer_set.as_2afc(torch.tensor(self.h[keep], dtype=torch.float32), keep)


def _fail(path, why: str) -> None:
    raise JudgementFileError(f"{path}: {why}")


def parse_judgement_file(path: str | os.PathLike) -> dict:
    """The checked content of one file: format, version, session and a list of judgements."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(path, f"cannot be read ({exc})")
    if not text.strip():
        _fail(path, "is empty; save the file again with the page's 'Download my judgements' button")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(path, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                    "was it edited or cut short?")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        _fail(path, f"is not a judgement file of the 'Be the observer' page (it lacks \"format\": \"{FORMAT}\")")
    if record.get("format_version") != FORMAT_VERSION:
        _fail(path, f"has format version {record.get('format_version')!r}; this lpips_edu reads version "
                    f"{FORMAT_VERSION} (use the lpips_edu that matches the book it came from)")
    for key in ("set_version", "session"):
        if not isinstance(record.get(key), str) or not record[key]:
            _fail(path, f"has no {key!r}")
    items = record.get("judgements")
    if not isinstance(items, list) or not items:
        _fail(path, "holds no judgements (was it saved before the first answer?)")
    seen = set()
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("triplet"), str):
            _fail(path, f"judgement {n} has no triplet id")
        if item.get("choice") not in CHOICES:
            _fail(
                path, f"judgement {n} (triplet {item['triplet']}) has choice {item.get('choice')!r}, not 'p0' or 'p1'"
            )
        ms = item.get("ms")
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not math.isfinite(ms) or ms < 0:
            _fail(path, f"judgement {n} (triplet {item['triplet']}) has no valid response time 'ms'")
        if item["triplet"] in seen:
            _fail(path, f"answers triplet {item['triplet']} twice")
        seen.add(item["triplet"])
    return record


def read_judgements(paths, observer_set, skip_duplicates: bool = False) -> Judgements:
    """One or many judgement files, checked against ``observer_set`` (anything with ``version`` and ``ids``)."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise JudgementFileError("no judgement files given")
    ids = tuple(observer_set.ids)
    column = {triplet: j for j, triplet in enumerate(ids)}
    rows, times, files, simulated, skipped = [], [], [], [], []
    first_of: dict[tuple, str] = {}
    for path in paths:
        record = parse_judgement_file(path)
        if record["set_version"] != observer_set.version:
            _fail(
                path,
                f"was made on version {record['set_version']} of the triplet set, but the set here is "
                f"version {observer_set.version}; score it with the set.json of the book it came from "
                "(--set)",
            )
        unknown = [item["triplet"] for item in record["judgements"] if item["triplet"] not in column]
        if unknown:
            _fail(path, f"names triplet(s) {unknown[:3]} that set {observer_set.version} does not have")
        answers = tuple(sorted((i["triplet"], i["choice"], float(i["ms"])) for i in record["judgements"]))
        keys = (("session", record["session"]), ("answers", answers))
        repeated = next((first_of[k] for k in keys if k in first_of), None)
        if repeated is not None:
            if skip_duplicates:
                skipped.append(str(path))
                continue
            _fail(
                path,
                f"repeats {repeated} (the same submission twice): remove one copy, "
                "or pass skip_duplicates=True (--skip-duplicates)",
            )
        first_of.update({k: str(path) for k in keys})
        row, time = np.full(len(ids), np.nan), np.full(len(ids), np.nan)
        for item in record["judgements"]:
            row[column[item["triplet"]]] = CHOICES[item["choice"]]
            time[column[item["triplet"]]] = float(item["ms"])
        rows.append(row)
        times.append(time)
        files.append(str(path))
        simulated.append(bool(record.get("simulated")))
    return Judgements(
        observer_set.version, ids, tuple(files), np.array(rows), np.array(times), tuple(simulated), tuple(skipped)
    )


def simulated_observer(
    d0, d1, ids, set_version: str, noise: float = 1.0, lapse: float = 0.05, seed: int = 0, label: str = "a metric"
) -> dict:
    """A judgement record from a *simulated* observer who follows a metric, with noise.

    The observer picks p1 with probability ``sigmoid((d0 - d1) / (noise * s))``,
    ``s`` the median gap ``|d0 - d1|`` over the set (so ``noise`` is in units of a
    typical gap), and with probability ``lapse`` answers at random. Triplets come
    in a shuffled order, and response times are log-normal around 2.5 s.
    """
    d0, d1 = np.asarray(d0, dtype=np.float64), np.asarray(d1, dtype=np.float64)
    rng = random.Random(seed)
    scale = max(float(np.median(np.abs(d0 - d1))), 1e-12) * max(noise, 1e-6)
    order = list(range(len(ids)))
    rng.shuffle(order)
    items = []
    for i in order:
        p1 = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, (d0[i] - d1[i]) / scale))))
        chose_p1 = rng.random() < 0.5 if rng.random() < lapse else rng.random() < p1
        items.append(
            {
                "triplet": ids[i],
                "choice": "p1" if chose_p1 else "p0",
                "ms": round(rng.lognormvariate(math.log(2500), 0.4)),
            }
        )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "set": SET_NAME,
        "set_version": set_version,
        "session": f"simulated-{seed}-{rng.getrandbits(32):08x}",
        "created": "simulated",
        "simulated": f"follows {label}, noise {noise:g}, lapse rate {lapse:g}",
        "judgements": items,
    }
