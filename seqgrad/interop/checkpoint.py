"""Checkpoints as numpy .npz: names and arrays only, so loading never runs code.

Writing goes to a temporary file in the same folder, renamed into place, so an
interrupted save leaves the previous checkpoint (or none), never a broken one.

Reading trusts nothing in the file: the zip directory and every member's .npy header are
read first, and only .npy members of bool, integer or float dtype whose declared sizes agree
(and add up to at most `max_bytes`) are read; a deflated member may not expand beyond
MAX_EXPANSION times its compressed size (a zip bomb).
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from ..errors import CheckpointError
from ..memory import available_memory
from ..tensor import Tensor

MAX_KEY_LENGTH = 1024                 # characters in a checkpoint key (a zip member name is at most 65,535 bytes)
DEFAULT_MAX_BYTES = 4 * 2**30         # what a checkpoint may make load() allocate unless told otherwise
MAX_EXPANSION = 200                   # a deflated member may hold at most this many times its compressed size
SMALL_MEMBER = 2**20                  # ... or this many bytes, whichever is more
NUMERIC_KINDS = "biuf"                # bool, signed and unsigned integers, floating point
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def save(state: Mapping[str, object], path: str | os.PathLike) -> Path:
    """Write {name: array} to `path` (an .npz file) atomically; returns the path.

    Keys are non-empty strings of at most MAX_KEY_LENGTH characters without control characters
    (a zip member name ends at a NUL); values are numeric (bool, int, float) arrays or Tensors."""
    path = Path(path)
    arrays = {}
    for name, value in state.items():
        check_key(name)
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype == object or array.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"checkpoint entry {shown_key(name)} must be numeric, got dtype {array.dtype}")
        arrays[name] = array
    write_atomically(path, lambda handle: _write_npz(handle, arrays))
    return path


def check_key(name: object) -> None:
    """Raise unless `name` can be a checkpoint key that reads back as itself."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"checkpoint keys must be non-empty strings, got {shown_key(name)}")
    if len(name) > MAX_KEY_LENGTH:
        raise ValueError(f"checkpoint key {shown_key(name)} has {len(name):,} characters; at most "
                         f"{MAX_KEY_LENGTH:,} are allowed")
    control = _CONTROL.search(name)
    if control is not None:
        raise ValueError(f"checkpoint key {shown_key(name)} holds the control character {control.group()!r} at "
                         f"{control.start()}; keys must be printable (a zip member name would end at a NUL)")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"checkpoint key {shown_key(name)} cannot be written as UTF-8 ({error.reason})") from None


def shown_key(name: object, limit: int = 60) -> str:
    """repr(name), cut to about `limit` characters."""
    text = repr(name)
    return text if len(text) <= limit else text[:limit - 5] + "…" + text[-4:]


def _write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """The .npz layout np.load reads (a zip of NAME.npy members), written member by member so
    any name works (np.savez would take "file" or "allow_pickle" for its own arguments)."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def load(path: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """Read a checkpoint written by `save`: {name: array}.

    Only .npy members of bool, integer or float dtype are accepted (no pickles, bytes, strings,
    complex numbers); the arrays may add up to at most `max_bytes` (None: no limit but the
    machine's). Every problem raises CheckpointError naming the file, before the arrays are read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such checkpoint file", str(path))
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0):
        raise ValueError(f"load: max_bytes must be an int >= 0 or None, got {max_bytes!r}")
    with open(path, "rb") as handle:
        head = handle.read(4)
    # np.load reads anything that is not an archive as a pickle: say what the file is instead.
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise CheckpointError(f"{path}: not a checkpoint: an .npz (zip) archive was expected, the file starts "
                              f"with {head!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _check_members(archive, path, max_bytes)
            return {name: _read_member(archive, info, header, path) for name, info, header in members}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, ValueError, NotImplementedError,
            RuntimeError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(error).__name__}: "
                              f"{_one_line(error)})") from None


def _check_members(archive: zipfile.ZipFile, path: Path, max_bytes: int | None) -> list:
    """(name, ZipInfo, (shape, fortran_order, dtype, data offset)) of every member, all checked."""
    members, seen, total = [], set(), 0
    limit = min(max_bytes, available_memory()) if max_bytes is not None else available_memory()
    for info in archive.infolist():
        where = f"{path}: member {shown_key(info.filename)}"
        if not info.filename.endswith(".npy") or info.is_dir():
            raise CheckpointError(f"{where} is not a .npy array; a checkpoint holds only .npy members")
        name = info.filename[:-len(".npy")]
        if name in seen:
            raise CheckpointError(f"{where} appears twice")
        seen.add(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{where} uses zip compression method {info.compress_type}; only stored and "
                                  "deflated members are read")
        if info.compress_type == zipfile.ZIP_DEFLATED \
                and info.file_size > max(SMALL_MEMBER, MAX_EXPANSION * info.compress_size):
            raise CheckpointError(f"{where} would expand from {info.compress_size:,} to {info.file_size:,} bytes "
                                  f"(more than {MAX_EXPANSION}×): refused as a likely zip bomb")
        total += info.file_size
        if total > limit:
            raise CheckpointError(f"{path}: the arrays declare more than {limit:,} bytes (at member "
                                  f"{shown_key(info.filename)}); refused before reading"
                                  + (" (pass max_bytes= to allow more)" if max_bytes is not None else ""))
        header = _read_header(archive, info, where)
        shape, _, dtype, offset = header
        if dtype.hasobject:
            raise CheckpointError(f"{path}: refused: member {shown_key(info.filename)} holds pickled Python objects, "
                                  "and loading them could run code; seqgrad checkpoints hold only numeric arrays")
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise CheckpointError(f"{where} has dtype {dtype}; a checkpoint holds only bool, integer or float arrays")
        expected = offset + math.prod(shape) * dtype.itemsize
        if expected != info.file_size:
            raise CheckpointError(f"{where} declares shape {shape} of {dtype} ({expected - offset:,} bytes) but "
                                  f"holds {info.file_size - offset:,} bytes of data")
        members.append((name, info, header))
    return members


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> tuple:
    """(shape, fortran_order, dtype, bytes before the data) from a member's .npy header, reading only it."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unknown .npy format version {version}")
        except ValueError as error:
            raise CheckpointError(f"{where} has no readable .npy header ({_one_line(error)})") from None
        return shape, fortran, dtype, member.tell()


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, header: tuple, path: Path) -> np.ndarray:
    shape, fortran, dtype, offset = header
    size = info.file_size - offset
    buffer = bytearray(size)
    view = memoryview(buffer)
    with archive.open(info) as member:
        member.read(offset)
        filled = 0
        while filled < size:
            count = member.readinto(view[filled:])
            if not count:
                raise CheckpointError(f"{path}: member {shown_key(info.filename)} ends after {filled:,} of "
                                      f"{size:,} bytes (truncated)")
            filled += count
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]
