"""Keep numpy's BLAS to one thread in the training commands.

Why: the matrices of a recurrent step are small (a batch of 64 × a few hundred units), so a
second BLAS thread saves little (measured: 0.13 s against 0.15 s per update of the demo's
LSTM on two idle cores), while BLAS threads that spin-wait for a core another process
holds make every update many times slower (measured: 5-10 s against 0.5-0.8 s per update
with four other busy processes on two cores). One thread is the robust choice for a demo
that must finish in a predictable time on a shared machine.

threadpoolctl does the finding and setting, for OpenBLAS, MKL and BLIS alike.
"""

from __future__ import annotations

import numpy  # noqa: F401  (the BLAS to control is the one numpy loads)
from threadpoolctl import threadpool_info, threadpool_limits


def limit_blas_threads(count: int = 1) -> int | None:
    """Ask the BLAS libraries numpy loaded to use `count` threads. Returns the thread count the
    first of them had before, or None when numpy uses no BLAS threadpoolctl knows."""
    if count < 1:
        raise ValueError(f"limit_blas_threads: count must be at least 1, got {count}")
    previous = blas_threads()
    threadpool_limits(limits=count, user_api="blas")
    return previous


def blas_threads() -> int | None:
    """The thread count of the first BLAS library loaded, or None when there is none."""
    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    return int(libraries[0]["num_threads"]) if libraries else None
