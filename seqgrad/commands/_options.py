"""Argument types and one-line errors shared by the demo, train, sample and tasks commands."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make `parser` report a bad argument as one line, `seqgrad CMD: error: ...`, exit status 2
    (argparse's default prints the whole usage first)."""

    def error(message: str):
        print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    parser.error = error
    return parser


def positive_int(text: str) -> int:
    value = _number(text, int, "an int")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int, "an int")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """A dropout probability: in [0, 1)."""
    value = _number(text, float, "a number")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text}")
    return value


def fraction(text: str) -> float:
    """A share of the data: in (0, 1)."""
    value = _number(text, float, "a number")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text}")
    return value


def _number(text: str, kind: type, name: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None


def writable_file(path: Path, what: str) -> Path:
    """Check, before any work, that `path` can be written: its folder exists and it is not a folder.
    Raises ValueError naming the path (the command turns it into a one-line usage error)."""
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; give a file path")
    if not path.parent.is_dir():
        raise ValueError(f"{what} {path}: the folder {path.parent} does not exist")
    return path
