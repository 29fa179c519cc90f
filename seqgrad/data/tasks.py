"""Generated sequence tasks with a known dependency span: the adding problem and the copy (memory) task."""

from __future__ import annotations

import numpy as np

from ..dtypes import get_default_dtype
from ._seeding import resolve_rng
from .batching import IGNORE_INDEX
from .encoding import one_hot as encode_one_hot


def _check_count(name: str, value: int, minimum: int, where: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")


def adding_problem(n: int, seq_len: int, *, seed: int | None = None, rng: np.random.Generator | None = None,
                   batch_first: bool = False, dtype: np.dtype | type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015): sum two marked numbers.

    Shapes: inputs (seq_len, n, 2), or (n, seq_len, 2) with `batch_first`; targets (n, 1).
    Channel 0 holds values drawn from U[0, 1); channel 1 is 1 at exactly two steps, one in the
    first half [0, seq_len // 2) and one in the second half, and 0 elsewhere.
    target = Σ_t x[t, 0] · x[t, 1]. Always predicting 1 scores MSE = Var(u1 + u2) = 1/6 ≈ 0.167.
    """
    _check_count("n", n, 1, "adding_problem")
    _check_count("seq_len", seq_len, 2, "adding_problem")
    generator = resolve_rng(seed, rng, "adding_problem")
    dtype = dtype or get_default_dtype()
    values = generator.random((seq_len, n))
    half = seq_len // 2
    first_marks = generator.integers(0, half, size=n)
    second_marks = generator.integers(half, seq_len, size=n)
    columns = np.arange(n)
    markers = np.zeros((seq_len, n))
    markers[first_marks, columns] = 1.0
    markers[second_marks, columns] = 1.0
    targets = (values[first_marks, columns] + values[second_marks, columns])[:, None]
    inputs = np.stack([values, markers], axis=-1).astype(dtype)
    if batch_first:
        inputs = np.ascontiguousarray(inputs.swapaxes(0, 1))
    return inputs, targets.astype(dtype)


def copy_task(n: int, length: int = 10, delay: int = 20, *, num_symbols: int = 8, one_hot: bool = False,
              seed: int | None = None, rng: np.random.Generator | None = None, batch_first: bool = False,
              dtype: np.dtype | type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The copy (memory) task: read `length` symbols, wait `delay` blanks, see a delimiter, write the symbols back.

    Ids: symbols are 0 .. num_symbols-1, the blank is `num_symbols`, the delimiter `num_symbols + 1`
    (input vocabulary num_symbols + 2). With T = 2·length + delay + 1, step by step:
        inputs:  s_1 .. s_L | blank × delay | delimiter | blank × L
        targets: -100 × (L + delay + 1)                 | s_1 .. s_L
    -100 is "no target" (PyTorch's ignore_index): only the last `length` steps are scored.
    Shapes: inputs (T, n) int64 ids, or (T, n, num_symbols + 2) floats with `one_hot`;
    targets (T, n) int64; n before T with `batch_first`. A model that has forgotten the symbols
    scores cross-entropy ln(num_symbols) per scored step.
    """
    _check_count("n", n, 1, "copy_task")
    _check_count("length", length, 1, "copy_task")
    _check_count("delay", delay, 0, "copy_task")
    _check_count("num_symbols", num_symbols, 1, "copy_task")
    generator = resolve_rng(seed, rng, "copy_task")
    blank, delimiter = num_symbols, num_symbols + 1
    total = 2 * length + delay + 1
    symbols = generator.integers(0, num_symbols, size=(length, n))
    inputs = np.full((total, n), blank, dtype=np.int64)
    inputs[:length] = symbols
    inputs[length + delay] = delimiter
    targets = np.full((total, n), IGNORE_INDEX, dtype=np.int64)
    targets[total - length:] = symbols
    if batch_first:
        inputs, targets = np.ascontiguousarray(inputs.T), np.ascontiguousarray(targets.T)
    if one_hot:
        return encode_one_hot(inputs, num_symbols + 2, dtype), targets
    return inputs, targets
