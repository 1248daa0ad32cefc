"""Calling a student's code without ever crashing the grader.

A check looks names up in the notebook's namespace (``globals()``) and calls
them. Three things go wrong all the time, and each gets its own sentence:
the cell was never run (the name is missing), the ``# YOUR CODE HERE``
block is untouched (``NotImplementedError``), or the code raised. All three
become a ``NotReady`` exception that ``exercise`` turns into one 0-point item.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Mapping

from .report import Report


class NotReady(Exception):
    """The exercise cannot be checked yet; the message says why and what to do."""


def lookup(namespace: Mapping, name: str, hint: str = "run the cell that defines it") -> object:
    """``namespace[name]``, or ``NotReady("`name` is not defined: ...")``."""
    if name not in namespace:
        raise NotReady(f"`{name}` is not defined: {hint}")
    return namespace[name]


def _where(exc: BaseException) -> str:
    """' (line 3: `x = ...`)' for the innermost frame in notebook code, if there is one."""
    frames = traceback.extract_tb(exc.__traceback__)
    cells = [f for f in frames if "ipykernel" in f.filename or f.filename.startswith("<")]
    if not cells:
        return ""
    frame = cells[-1]
    code = f": `{frame.line.strip()}`" if frame.line else ""
    return f" (line {frame.lineno} of its cell{code})"


def call(fn: Callable, name: str, *args, **kwargs):
    """``fn(*args, **kwargs)``; a NotImplementedError or any other error becomes ``NotReady``."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotReady(f"not implemented yet: replace the # YOUR CODE HERE block in `{name}`") from None
    except Exception as exc:  # the student's bug, reported instead of raised
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise NotReady(
            f"`{name}` raised {type(exc).__name__}{': ' + message if message else ''}{_where(exc)}"
        ) from None


def call_by_name(namespace: Mapping, name: str, *args, **kwargs):
    """Look ``name`` up and call it (see ``lookup`` and ``call``)."""
    fn = lookup(namespace, name)
    if not callable(fn):
        raise NotReady(f"`{name}` should be a function (or class), but it is a {type(fn).__name__}")
    return call(fn, name, *args, **kwargs)


def call_returning(namespace: Mapping, name: str, kind: type, description: str, *args, **kwargs):
    """``call_by_name``, then insist on the type the exercise asks for.

    A wrong type gets "`name` should return <description>, got <type>" instead
    of an AttributeError deeper in the check.
    """
    value = call_by_name(namespace, name, *args, **kwargs)
    if not isinstance(value, kind):
        raise NotReady(f"{name} should return {description}, got {type(value).__name__}")
    return value


def exercise(title: str, points: float) -> Callable:
    """Decorate ``check(namespace, report)``: returns a ``check(namespace) -> Report`` that never crashes.

    If the exercise cannot be checked (``NotReady``), the report is one item
    worth ``points`` that scores 0 and says why, so the maximum never changes.
    """

    def wrap(body: Callable[[Mapping, Report], None]) -> Callable[[Mapping], Report]:
        @functools.wraps(body)
        def check(namespace: Mapping) -> Report:
            report = Report(title)
            try:
                body(namespace, report)
            except NotReady as exc:
                report = Report(title)
                report.add(title.split(" ", 1)[-1], points, False, str(exc))
            except Exception as exc:  # the student's objects are not what the check expects (a dict without a key, ...)
                report = Report(title)
                report.add(
                    title.split(" ", 1)[-1],
                    points,
                    False,
                    f"could not be checked: {type(exc).__name__}: {str(exc).strip()[:200]}; compare your "
                    "objects (names, types, keys) with what the exercise asks for",
                )
            if abs(report.max_score - points) > 1e-9:
                raise RuntimeError(
                    f"check {title!r} declares {points} points but its items add up to {report.max_score}"
                )
            return report

        check.points = points
        check.title = title
        return check

    return wrap


def manual_answer(namespace: Mapping, report: Report, name: str, points: float, question: str) -> None:
    """A free-text answer stored in ``namespace[name]``: listed for the instructor, never auto-scored."""
    answer = namespace.get(name)
    if not isinstance(answer, str) or not answer.strip():
        feedback = f'no answer yet: define {name} = """...""" ({question})'
    else:
        words = len(answer.split())
        shown = " ".join(answer.split())
        feedback = f"{words} words. Question: {question} Answer: {shown[:2000]}{' ...' if len(shown) > 2000 else ''}"
    report.add(name, points, False, feedback, manual=True)


def written_answer(title: str, points: float, question: str, name: str = "ANSWER") -> Callable[[Mapping], Report]:
    """The check of an assignment's free-text question (``namespace[name]``), for the instructor to grade."""

    def check_answer(namespace: Mapping) -> Report:
        report = Report(title)
        manual_answer(namespace, report, name, points, question)
        return report

    check_answer.__doc__ = f"{title}: {question}"
    return check_answer


def grader(title: str, checks: tuple[Callable[[Mapping], Report], ...]) -> Callable[[Mapping], Report]:
    """``grade(namespace)``: every check of an assignment, in order, in one report."""

    def grade(namespace: Mapping) -> Report:
        report = Report(title)
        for check in checks:
            report.extend(check(namespace))
        return report

    grade.__doc__ = f"Every check of {title.split()[0]} on a notebook's namespace."
    return grade
