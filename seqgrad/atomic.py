"""Files written whole or not at all: a temporary file beside the target, renamed over it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (reading it means setting it, which is not safe while threads create files).
_FILE_MODE = 0o666 & ~_current_umask()


def write_atomically(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = True) -> Path:
    """Call `write(handle)` on a temporary file in `path`'s folder, then rename it to `path`.

    An interruption (a crash, a full disk, Ctrl-C) leaves the previous file whole, or none.
    The file gets the mode a plain open() would give (mkstemp's are private).
    """
    target = Path(path)
    if not target.parent.exists():
        raise FileNotFoundError(2, "No such directory", str(target.parent))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            os.chmod(temporary, _FILE_MODE)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return target
