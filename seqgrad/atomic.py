"""Files written whole or not at all: a temporary file beside the target, renamed over it.

The temporary file is named `.<target>.seqgrad-<pid>.<random>.tmp`. A process killed while
writing (kill -9, a power cut) cannot remove its own, so every write first removes the
temporary files in its folder whose process is gone.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

_TEMPORARY = re.compile(r"^\..+\.seqgrad-(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp$")


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
    remove_stale_temporaries(target.parent)
    descriptor, temporary = _temporary(target)
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


def check_writable(path: str | os.PathLike) -> None:
    """Raise OSError (PermissionError, FileNotFoundError, ...) unless `write_atomically(path, ...)` could
    create its temporary file: one is created and removed, so read-only folders fail before any work."""
    descriptor, temporary = _temporary(Path(path))
    os.close(descriptor)
    os.unlink(temporary)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove this module's temporary files in `folder` whose writing process no longer exists;
    returns the paths removed. Files of live processes (and anything else) are left alone."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMPORARY.match(name)
        if match is None or _alive(int(match["pid"])):
            continue
        path = Path(folder) / name
        try:
            path.unlink()
        except OSError:
            continue  # gone already, or not ours to remove
        removed.append(path)
    return removed


def _temporary(target: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{target.name}.seqgrad-{os.getpid()}.", suffix=".tmp", dir=target.parent)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True   # someone else's process (or a pid we cannot ask about): leave its file
    return True
