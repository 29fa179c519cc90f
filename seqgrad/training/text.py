"""Text for a language model: read a file with clear errors, and split off a held-out part."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from ..memory import available_memory, format_bytes

CHUNK = 1 << 20
BYTES_PER_CHARACTER = 32   # what training holds per character of text: the str, its ids, batches of them


def read_text_file(path: str | os.PathLike, max_chars: int | None = None) -> str:
    """The UTF-8 text of `path` (its first `max_chars` characters when given). A missing file raises
    FileNotFoundError; a binary or non-UTF-8 file, an empty one, or one too big for memory raises
    ValueError naming the file and what was found. The file is read in chunks and checked as it
    comes, so an endless device (/dev/zero) fails at its first chunk."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory (expected a text file)", str(path))
    limit = available_memory() // BYTES_PER_CHARACTER
    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces: list[str] = []
    read = characters = 0
    with open(path, "rb") as handle:
        while max_chars is None or characters < max_chars:
            chunk = handle.read(CHUNK)
            pending = decoder.getstate()[0]   # the start of a character cut by the previous chunk
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}: expected UTF-8 text, got undecodable byte 0x{error.object[error.start]:02x} "
                                 f"at offset {read - len(pending) + error.start}") from None
            if not chunk:
                break
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise ValueError(f"{path}: expected text, got a NUL byte at offset {read + nul} (a binary file?)")
            read += len(chunk)
            if read > limit:
                raise ValueError(f"{path}: more than {format_bytes(read)} of text, more than this machine's memory "
                                 f"can train on ({format_bytes(limit)}); use --max-chars")
            pieces.append(text)
            characters += len(text)
    text = "".join(pieces)
    if max_chars is not None:
        text = text[:max_chars]
    if not text.strip():
        raise ValueError(f"{path}: the file holds no text ({read} bytes of whitespace)")
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
