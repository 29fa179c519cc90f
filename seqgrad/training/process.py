"""The process settings every training command starts with."""

from __future__ import annotations

from .allocator import keep_freed_memory
from .threads import FreeCoreThreads


def prepare_training_process() -> FreeCoreThreads:
    """Freed memory kept for the next update (allocator.py: no page faults for the arrays every
    update allocates again) and one BLAS thread for now; the returned FreeCoreThreads' `update()`,
    called after each update, moves to the cores other processes leave free (threads.py)."""
    keep_freed_memory()
    return FreeCoreThreads()
