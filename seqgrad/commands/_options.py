"""Argument types, memory estimates and one-line errors shared by the commands."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..atomic import check_writable
from ..memory import available_memory, format_bytes


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make `parser` report a bad argument as one line, `seqgrad CMD: error: ... (see seqgrad CMD --help)`,
    exit status 2 (argparse's default prints the whole usage first)."""

    def error(message: str):
        print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    parser.error = error
    return parser


def seed(text: str) -> int:
    """A random seed: an int in [0, 2**32) (numpy and the data order take it as is)."""
    value = _number(text, int, "an int")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text}")
    return value


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
    try:
        check_writable(path)
    except OSError as error:
        raise ValueError(f"{what} {path}: cannot write in {path.parent} ({error.strerror})") from None
    return path


# --- memory ----------------------------------------------------------------------------------
def check_memory(estimate: float, what: str) -> None:
    """Refuse, before any work, settings whose estimated memory (bytes) exceeds what the machine has;
    the ValueError names the settings (`what`) and the estimate."""
    available = available_memory()
    if estimate > available:
        raise ValueError(f"{what} would need about {format_bytes(estimate)} of memory, more than the "
                         f"{format_bytes(available)} this machine has available; choose smaller sizes")


def recurrent_memory(*, steps: int, batch: int, hidden: int, inputs: int, layers: int = 1, gates: int = 4,
                     outputs: int = 0, directions: int = 1, itemsize: int = 4) -> float:
    """A rough upper estimate (bytes) of training a recurrent stack on (steps, batch, inputs) with a
    readout of `outputs`: the weights with their gradient and two Adam moments, and what backward keeps
    of every step (about eight arrays of gates·hidden per layer and step, plus the inputs and logits)."""
    weights = layers * directions * gates * hidden * (inputs + hidden + 2) + hidden * directions * (outputs + 1)
    activations = steps * batch * (layers * directions * gates * hidden * 8 + inputs + 3 * outputs)
    return float(itemsize) * (4 * weights + activations)
