"""Exercises with automatic checks: a registry of named exercises, each a prompt, a checker and a hint.

A checker receives the learner's answer (a number, a dict, or a function written in numpy) and
either returns a line saying what was right, or raises `Wrong(what, hint)` saying what is wrong
and what to look at. `check(name, answer)` runs it, prints the verdict and returns it; it never
raises for a wrong or missing answer, so a notebook with its exercises still blank runs to the end.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


class Wrong(Exception):
    """A checker's finding: `what` is wrong with the answer, `hint` what to look at (None: the exercise's hint)."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what, self.hint = what, hint


@dataclass(frozen=True)
class Exercise:
    """One exercise: `prompt` (what to write), `checker(answer) -> message` (raises Wrong), a general `hint`."""

    name: str
    notebook: str
    prompt: str
    hint: str
    checker: Callable[[Any], str]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check; true when the answer passed."""

    name: str
    passed: bool
    message: str
    hint: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "✓" if self.passed else "✗"
        text = f"{mark} {self.name}: {self.message}"
        return text if self.hint is None else f"{text}\n  hint: {self.hint}"


EXERCISES: dict[str, Exercise] = {}


def exercise(name: str, notebook: str, prompt: str, hint: str) -> Callable[[Callable[[Any], str]], Callable]:
    """Register the decorated checker as exercise `name` of notebook `notebook` (e.g. "04")."""

    def register(checker: Callable[[Any], str]) -> Callable[[Any], str]:
        if name in EXERCISES:
            raise ValueError(f"exercise {name!r} is registered twice")
        EXERCISES[name] = Exercise(name, notebook, textwrap.dedent(prompt).strip(), hint, checker)
        return checker

    return register


def _lookup(name: str) -> Exercise:
    if name not in EXERCISES:
        raise KeyError(f"no exercise named {name!r}; the exercises are: {', '.join(sorted(EXERCISES))}")
    return EXERCISES[name]


def names(notebook: str | None = None) -> list[str]:
    """The exercises' names, all or those of one notebook ("01", "02", ...), in registration order."""
    return [name for name, item in EXERCISES.items() if notebook is None or item.notebook == notebook]


def show(name: str) -> None:
    """Print what exercise `name` asks for."""
    item = _lookup(name)
    print(f"Exercise {item.name} (notebook {item.notebook})\n{item.prompt}")


def hint(name: str) -> None:
    """Print exercise `name`'s hint."""
    print(f"hint for {name}: {_lookup(name).hint}")


def check(name: str, answer: Any, quiet: bool = False) -> Verdict:
    """Check `answer` to exercise `name`; print the verdict (unless `quiet`) and return it.

    An answer that is None or `...`, or a function that returns None or raises
    NotImplementedError, counts as not answered yet. A function that raises anything else is
    reported with its error. Only an unknown `name` raises (KeyError).
    """
    item = _lookup(name)
    if answer is None or answer is Ellipsis:
        verdict = Verdict(name, False, "not answered yet", f"see `exercises.show({name!r})`")
    else:
        try:
            with np.errstate(all="ignore"):  # the learner's overflow is reported by the check, not as warnings
                verdict = Verdict(name, True, item.checker(answer))
        except Wrong as wrong:
            verdict = Verdict(name, False, wrong.what, wrong.hint or item.hint)
        except _Unanswered:
            verdict = Verdict(name, False, "not answered yet (your function returns None)",
                              f"see `exercises.show({name!r})`")
        except NotImplementedError:
            verdict = Verdict(name, False, "not answered yet (NotImplementedError)", f"see `exercises.show({name!r})`")
        except Exception as error:  # the learner's own code failed: say how, never crash the notebook
            verdict = Verdict(name, False, f"your answer raised {type(error).__name__}: {error}", item.hint)
    if not quiet:
        print(verdict)
    return verdict


class _Unanswered(Exception):
    """Raised by `call` when the learner's function returns None."""


def call(function: Callable, *args: Any) -> Any:
    """Run the learner's `function(*args)` on copies of array arguments; None means not answered yet."""
    if not callable(function):
        raise Wrong(f"expected a function, got {type(function).__name__}")
    copies = [np.array(arg, copy=True) if isinstance(arg, np.ndarray) else arg for arg in args]
    result = function(*copies)
    if result is None:
        raise _Unanswered
    return result


def as_array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """`value` as a float64 array of `shape`, or Wrong naming `what` and the shapes."""
    try:
        array = np.asarray(value.data if hasattr(value, "data") and not isinstance(value, np.ndarray) else value,
                           dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise Wrong(f"{what} should be an array of shape {shape}, got {type(value).__name__} ({error})") from None
    if array.shape != shape:
        raise Wrong(f"{what} should have shape {shape}, got {array.shape}")
    return array


def close(got: np.ndarray, expected: np.ndarray, rtol: float = 1e-7, atol: float = 1e-9) -> bool:
    """Equal to float64 rounding (after a few operations)."""
    return bool(np.allclose(got, expected, rtol=rtol, atol=atol))


def largest_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """Where two arrays differ most, for a message: 'largest difference 0.31 at index (1, 0)'."""
    difference = np.abs(got - expected)
    index = np.unravel_index(int(np.argmax(difference)), difference.shape)
    return f"largest difference {difference[index]:.3g} at index {tuple(int(i) for i in index)}"
