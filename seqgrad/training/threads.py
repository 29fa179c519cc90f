"""Keep numpy's OpenBLAS to one thread in the training commands.

Why: the matrices of a recurrent step are small (a batch of 64 × a few hundred units), so a
second BLAS thread saves little (measured: 0.13 s against 0.15 s per update of the demo's
LSTM on two idle cores), while OpenBLAS threads that spin-wait for a core another process
holds make every update many times slower (measured: 5-10 s against 0.5-0.8 s per update
with four other busy processes on two cores). One thread is the robust choice for a demo
that must finish in a predictable time on a shared machine.

Best effort, standard library only: find the OpenBLAS that is loaded into this process and
call its `*_set_num_threads`; anything else (Accelerate, MKL, no OpenBLAS found) is left alone.
"""

from __future__ import annotations

import ctypes
import os
import re

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux: /proc/self/maps)."""
    maps = "/proc/self/maps"
    if not os.path.exists(maps):
        return []
    with open(maps, encoding="utf-8", errors="replace") as handle:
        paths = re.findall(r"(/\S*openblas\S*\.so\S*)", handle.read(), flags=re.IGNORECASE)
    return sorted(set(paths))


def limit_blas_threads(count: int = 1) -> int | None:
    """Ask every loaded OpenBLAS to use `count` threads. Returns the thread count it had before
    (of the first one found), or None when no OpenBLAS is loaded."""
    import numpy  # noqa: F401  (OpenBLAS is loaded with numpy)

    if count < 1:
        raise ValueError(f"limit_blas_threads: count must be at least 1, got {count}")
    previous = None
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            getter = getattr(library, name.replace("_set_", "_get_"), None)
            if setter is None or getter is None:
                continue
            if previous is None:
                previous = int(getter())
            setter(ctypes.c_int(count))
            break
    return previous


def blas_threads() -> int | None:
    """The thread count of the first loaded OpenBLAS, or None when there is none."""
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            getter = getattr(library, name.replace("_set_", "_get_"), None)
            if getter is not None:
                return int(getter())
    return None
