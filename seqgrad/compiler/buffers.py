"""Large buffers of compiled layers, reused from call to call.

A compiled layer's (T, B, ·) buffers are tens of MB; a fresh array that size comes from the OS
as new pages, zeroed on first touch, every training step (measured: the GRU forward at B = 64,
H = 512 took 1.8x the hand-written baseline's time for that alone, 1.06x without it). The
baseline keeps its buffers in a cache; this pool does the same for generated code: a buffer is
handed out again only when nothing but the pool refers to it (the previous step's backward has
released it), so reuse never changes a value anyone still holds.
"""

from __future__ import annotations

import sys

import numpy as np

SMALL_BYTES = 1 << 20  # below this, np.empty: the allocator reuses such blocks by itself
LIMIT_BYTES = 1 << 30  # the pool keeps at most this much; beyond it, buffers are not kept


class BufferPool:
    """`empty(shape, dtype)` like np.empty, reusing a kept buffer nobody else refers to."""

    def __init__(self, limit_bytes: int = LIMIT_BYTES) -> None:
        self.kept: dict[tuple, list[np.ndarray]] = {}
        self.limit_bytes, self.kept_bytes = limit_bytes, 0

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        if size < SMALL_BYTES:
            return np.empty(shape, dtype)
        kept = self.kept.setdefault((tuple(shape), dtype.str), [])
        for position in range(len(kept)):
            # References: the list's, and getrefcount's argument. Anything more: still in use.
            if sys.getrefcount(kept[position]) == 2:
                return kept[position]
        buffer = np.empty(shape, dtype)
        if self.kept_bytes + size <= self.limit_bytes:
            kept.append(buffer)
            self.kept_bytes += size
        return buffer

    def clear(self) -> None:
        """Drop every kept buffer (their memory returns once no one else holds them)."""
        self.kept.clear()
        self.kept_bytes = 0


POOL = BufferPool()
