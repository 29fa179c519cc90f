"""JSON files for vocabularies and tokenizers: written atomically, read back with checks that name the file;
JSON headers kept inside checkpoints as uint8 arrays."""

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from .errors import DataFileError

FORMAT_VERSION = 1
MAX_DEPTH = 64   # nesting of arrays and objects a seqgrad JSON file may have (ours use 3)
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_array(payload: dict[str, Any]) -> np.ndarray:
    """A JSON document as a uint8 array: text that an .npz can hold without pickling."""
    return np.frombuffer(json.dumps(payload, ensure_ascii=False).encode("utf-8"), dtype=np.uint8).copy()


def loads_bounded(text: str, max_depth: int = MAX_DEPTH):
    """json.loads(text), refusing first (ValueError) a document nested deeper than `max_depth`:
    the parser recurses once per level, so a hostile file would otherwise raise RecursionError."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()   # a whole string literal (skipped), or one bracket
        if token in "[{":
            depth += 1
            if depth > max_depth:
                raise ValueError(f"JSON nested more than {max_depth} levels deep (at character {match.start()})")
        elif token in "]}":
            depth -= 1
    return json.loads(text)


def write_json_atomic(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write `payload` as JSON to a temporary file beside `path`, then rename it over `path`.

    A crash or a full disk leaves the old file whole instead of a half-written one.
    """
    target = Path(path)
    text = json.dumps(payload, ensure_ascii=False, indent=1)
    write_atomically(target, lambda handle: handle.write(text), binary=False)


def read_json_payload(path: str | os.PathLike, expected_format: str) -> dict[str, Any]:
    """Read a file written by `write_json_atomic` and check it holds `expected_format` at a known version."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataFileError(f"{source}: expected a UTF-8 JSON {expected_format} file, got undecodable bytes "
                            f"({error})") from None
    try:
        payload = loads_bounded(text)
    except json.JSONDecodeError as error:
        raise DataFileError(f"{source}: expected a JSON {expected_format} file, got invalid JSON "
                            f"({error.msg} at line {error.lineno} column {error.colno})") from None
    except ValueError as error:
        raise DataFileError(f"{source}: expected a JSON {expected_format} file, got {error}") from None
    if not isinstance(payload, dict):
        raise DataFileError(f"{source}: expected a JSON object holding a {expected_format}, "
                            f"got a JSON {type(payload).__name__}")
    found_format = payload.get("format")
    if found_format != expected_format:
        raise DataFileError(f"{source}: expected format {expected_format!r}, got {found_format!r}")
    found_version = payload.get("version")
    if found_version != FORMAT_VERSION:
        raise DataFileError(f"{source}: expected {expected_format} version {FORMAT_VERSION}, got {found_version!r}")
    return payload


def require_field(payload: dict[str, Any], key: str, kind: type | tuple[type, ...], source: str) -> Any:
    """`payload[key]` if present and of type `kind`, else a DataFileError naming the file and the field."""
    if key not in payload:
        raise DataFileError(f"{source}: missing field {key!r}")
    value = payload[key]
    # bool is an int in Python; a field that wants an int should not accept true/false.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        expected = " or ".join(k.__name__ for k in _as_tuple(kind))
        raise DataFileError(f"{source}: field {key!r} must be {expected}, got {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
