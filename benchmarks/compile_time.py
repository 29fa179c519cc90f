"""Time to trace a cell and generate its forward and BPTT code (what the first call of a compiled
layer at new sizes pays; later calls reuse the cached code). Best of a few runs, cache cleared.

    python benchmarks/compile_time.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_step import SIZES  # noqa: E402

from seqgrad import nn  # noqa: E402
from seqgrad.compiler import layer  # noqa: E402

CELLS = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}


def compile_ms(cell_type, batch: int, steps: int, features: int, hidden: int, repeats: int = 5) -> float:
    cell = cell_type(features, hidden, dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        layer._CACHE.clear()
        start = time.perf_counter()
        layer.compiled_code(cell, steps, batch, features, np.float32, False, False, False)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> int:
    sizes = dict(SIZES, **{"T=1000": (32, 1000, 32, 128)})
    print("| size (B, T, D, H) | " + " | ".join(f"{name} trace + codegen ms" for name in CELLS) + " |")
    print("|---|" + "---:|" * len(CELLS))
    for name, (batch, steps, features, hidden) in sizes.items():
        times = [compile_ms(cell, batch, steps, features, hidden) for cell in CELLS.values()]
        print(f"| {name} {(batch, steps, features, hidden)} | " + " | ".join(f"{t:.1f}" for t in times) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
