"""Per-op overhead of the engine: microseconds per primitive op, forward plus backward, on tiny arrays.

On arrays of 4 elements the arithmetic is free, so what is measured is the bookkeeping: a
Tensor and a tape Node per op, the gradient rule's call, accumulation into the leaves. The
same figure is measured for PyTorch's eager ops (when torch is importable) in the same run,
interleaved with seqgrad's so both see the same machine state, and for the bare numpy
calls of the forward and the gradient (the floor any numpy engine pays).

One timed call = build the op's output from leaves that require grad, backward with a
preallocated output gradient, and reset the leaves' .grad to None (as zero_grad does).
Each figure is the median over `--repeats` blocks of `--number` calls (min in brackets).

    python benchmarks/op_overhead.py [--number 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

import seqgrad

try:
    import torch
except ImportError:  # the comparison column is left out
    torch = None

SIZE = 4
OPS = ("add", "mul", "tanh", "sigmoid", "matmul 4x4", "getitem", "sum")


def engine_calls(rng: np.random.Generator, leaf_of: Callable, ones: Callable) -> dict[str, Callable[[], None]]:
    """One forward + backward per call for each op, in an engine given how it makes a leaf that
    requires grad from an array (`leaf_of`) and an all-ones output gradient (`ones`)."""
    def leaf(*shape):
        return leaf_of(rng.standard_normal(shape).astype(np.float32))

    a, b, m, n = leaf(SIZE), leaf(SIZE), leaf(SIZE, SIZE), leaf(SIZE, SIZE)
    vector_seed, matrix_seed, slice_seed = ones(SIZE), ones(SIZE, SIZE), ones(2)

    def call(make, leaves, seed):
        def once():
            make().backward(seed)
            for x in leaves:
                x.grad = None
        return once

    return {
        "add": call(lambda: a + b, (a, b), vector_seed),
        "mul": call(lambda: a * b, (a, b), vector_seed),
        "tanh": call(a.tanh, (a,), vector_seed),
        "sigmoid": call(a.sigmoid, (a,), vector_seed),
        "matmul 4x4": call(lambda: m @ n, (m, n), matrix_seed),
        "getitem": call(lambda: a[1:3], (a,), slice_seed),
        "sum": call(a.sum, (a,), None),
    }


def seqgrad_calls(rng: np.random.Generator) -> dict[str, Callable[[], None]]:
    return engine_calls(rng, lambda array: seqgrad.Tensor(array, requires_grad=True),
                        lambda *shape: np.ones(shape, np.float32))


def torch_calls(rng: np.random.Generator) -> dict[str, Callable[[], None]]:
    return engine_calls(rng, lambda array: torch.tensor(array, requires_grad=True), torch.ones)


def numpy_calls(rng: np.random.Generator) -> dict[str, Callable[[], None]]:
    """The forward and the gradient as bare numpy calls, with no engine around them."""
    a, b = rng.standard_normal(SIZE).astype(np.float32), rng.standard_normal(SIZE).astype(np.float32)
    m, n = (rng.standard_normal((SIZE, SIZE)).astype(np.float32) for _ in range(2))
    g, g_matrix, g_slice = np.ones(SIZE, np.float32), np.ones((SIZE, SIZE), np.float32), np.ones(2, np.float32)

    def add():
        np.add(a, b)
        return g.copy(), g.copy()

    def mul():
        np.multiply(a, b)
        return g * b, g * a

    def tanh():
        y = np.tanh(a)
        return g * (1.0 - y * y)

    def sigmoid():
        decay = np.exp(-np.abs(a))
        y = np.maximum(decay, a >= 0) / (1.0 + decay)
        return g * y * (1.0 - y)

    def matmul():
        np.matmul(m, n)
        return g_matrix @ n.T, m.T @ g_matrix

    def getitem():
        a[1:3]
        grad = np.zeros_like(a)
        grad[1:3] += g_slice
        return grad

    def reduce_sum():
        np.sum(a)
        return np.ones_like(a)

    return {"add": add, "mul": mul, "tanh": tanh, "sigmoid": sigmoid, "matmul 4x4": matmul, "getitem": getitem,
            "sum": reduce_sum}


def microseconds_per_call(call: Callable[[], None], number: int) -> float:
    gc.disable()  # the timed calls make no reference cycles: refcounting frees everything
    try:
        start = time.perf_counter()
        for _ in range(number):
            call()
        return (time.perf_counter() - start) / number * 1e6
    finally:
        gc.enable()


def measure(number: int, repeats: int) -> dict[str, dict[str, list[float]]]:
    """{engine: {op: [µs per call, one per repeat]}}, engines interleaved op by op."""
    rng = np.random.default_rng(0)
    engines = {"seqgrad": seqgrad_calls(rng), "numpy": numpy_calls(rng)}
    if torch is not None:
        torch.set_num_threads(1)  # tiny arrays: threads only add contention on a shared machine
        engines["torch"] = torch_calls(rng)
    for calls in engines.values():  # warm up: first calls pay imports and caches
        for call in calls.values():
            microseconds_per_call(call, 50)
    gc.collect()
    gc.freeze()  # torch's many objects would make every later collection slow
    times = {engine: {op: [] for op in OPS} for engine in engines}
    for _ in range(repeats):
        for op in OPS:
            for engine, calls in engines.items():
                times[engine][op].append(microseconds_per_call(calls[op], number))
    return times


def table(times: dict[str, dict[str, list[float]]]) -> str:
    def cell(samples: list[float]) -> str:
        return f"{statistics.median(samples):.1f} ({min(samples):.1f})"

    with_torch = "torch" in times
    header = "| op | seqgrad µs | numpy floor µs |" + (" torch µs | seqgrad / torch |" if with_torch else "")
    rule = "|---|---:|---:|" + ("---:|---:|" if with_torch else "")
    rows = [header, rule]
    for op in OPS:
        row = f"| {op} | {cell(times['seqgrad'][op])} | {cell(times['numpy'][op])} |"
        if with_torch:
            ratio = statistics.median(times["seqgrad"][op]) / statistics.median(times["torch"][op])
            row += f" {cell(times['torch'][op])} | {ratio:.2f} |"
        rows.append(row)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per op and engine")
    args = parser.parse_args()
    times = measure(args.number, args.repeats)
    versions = f"seqgrad {seqgrad.__version__}, numpy {np.__version__}"
    versions += f", torch {torch.__version__} (1 thread)" if torch is not None else ", torch not installed"
    print(f"Per-op overhead, forward + backward on float32 arrays of {SIZE} elements "
          f"(matmul {SIZE}x{SIZE}); median (min) of {args.repeats} blocks of {args.number} calls.")
    print(f"Python {platform.python_version()}, {versions}.\n")
    print(table(times))


if __name__ == "__main__":
    main()
