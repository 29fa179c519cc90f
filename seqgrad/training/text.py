"""Text for a language model: read a file with clear errors, and split off a held-out part."""

from __future__ import annotations

import os
from pathlib import Path


def read_text_file(path: str | os.PathLike) -> str:
    """The UTF-8 text of `path`. A missing file raises FileNotFoundError; a binary or non-UTF-8
    file, or an empty one, raises ValueError naming the file and what was found."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory (expected a text file)", str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: expected UTF-8 text, got undecodable byte 0x{raw[error.start]:02x} at offset "
                         f"{error.start}") from None
    if "\x00" in text:
        raise ValueError(f"{path}: expected text, got a NUL byte at offset {text.index(chr(0))} (a binary file?)")
    if not text.strip():
        raise ValueError(f"{path}: the file holds no text ({len(raw)} bytes of whitespace)")
    return text


def split_held_out(text: str, fraction: float) -> tuple[str, str]:
    """(training text, held-out text): the last `fraction` of the characters are held out.

    The cut moves forward to the next line break when the held-out part has one, so no line
    is split between the two.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction!r}")
    cut = int(round(len(text) * (1.0 - fraction)))
    if cut < 1 or cut > len(text) - 2:
        raise ValueError(f"the text has {len(text)} characters: too few to hold out {fraction:.0%} of them "
                         "(at least 2 characters on each side)")
    line_break = text.find("\n", cut)
    if 0 <= line_break < len(text) - 2:
        cut = line_break + 1
    return text[:cut], text[cut:]
