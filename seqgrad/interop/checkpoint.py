"""Checkpoints as numpy .npz: names and arrays only, so loading never runs code.

Writing goes to a temporary file in the same folder, renamed into place, so an
interrupted save leaves the previous checkpoint (or none), never a broken one.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from ..errors import CheckpointError
from ..tensor import Tensor


def save(state: Mapping[str, object], path: str | os.PathLike) -> Path:
    """Write {name: array} to `path` (an .npz file) atomically; returns the path."""
    path = Path(path)
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"checkpoint keys must be non-empty strings, got {name!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint entry {name!r} must be numeric, got dtype {array.dtype}")
        arrays[name] = array
    write_atomically(path, lambda handle: _write_npz(handle, arrays))
    return path


def _write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """The .npz layout np.load reads (a zip of NAME.npy members), written member by member so
    any name works (np.savez would take "file" or "allow_pickle" for its own arguments)."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a checkpoint written by `save`: {name: array}. Object arrays (pickles) are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such checkpoint file", str(path))
    with open(path, "rb") as handle:
        head = handle.read(4)
    # np.load reads anything that is not an archive as a pickle: say what the file is instead.
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise CheckpointError(f"{path}: not a checkpoint: an .npz (zip) archive was expected, the file starts "
                              f"with {head!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise CheckpointError(f"{path}: refused: it holds pickled Python objects, and loading them could "
                                  "run code; seqgrad checkpoints hold only numeric arrays") from None
        raise CheckpointError(f"{path}: not a readable checkpoint: {error}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(error).__name__}: {error})") from None
