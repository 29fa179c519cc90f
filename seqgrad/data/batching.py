"""Batches for recurrent networks: padding with lengths, shuffled minibatches, and language-model windows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._seeding import resolve_rng

# The target value that a loss skips, as PyTorch's `ignore_index` default.
IGNORE_INDEX = -100


def pad_sequences(sequences: Sequence[Any], padding_value: float = 0, batch_first: bool = False,
                  dtype: np.dtype | type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences of different lengths into one array, padding the short ones at the end.

    Shapes: sequence i is (L_i, *features); returns `padded` of shape (T, B, *features), or
    (B, T, *features) with `batch_first` (PyTorch's `pad_sequence` layouts), with T = max L_i,
    and `lengths` (B,) int64. `padded[t, i] == sequences[i][t]` for t < L_i, `padding_value` after.
    """
    arrays = [np.asarray(sequence) for sequence in sequences]
    if not arrays:
        raise ValueError("pad_sequences: expected at least one sequence, got none")
    for position, array in enumerate(arrays):
        if array.ndim == 0:
            raise ValueError(f"pad_sequences: expected sequences of shape (length, *features), "
                             f"got a scalar at position {position}")
        if array.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(f"pad_sequences: every sequence must have features {arrays[0].shape[1:]} "
                             f"(from sequence 0), got shape {array.shape} at position {position}")
    lengths = np.array([array.shape[0] for array in arrays], dtype=np.int64)
    features = arrays[0].shape[1:]
    out_dtype = np.dtype(dtype) if dtype is not None else np.result_type(*arrays)
    padded = np.full((len(arrays), int(lengths.max()), *features), padding_value, dtype=out_dtype)
    # The mask of real steps, read row by row, visits the steps in the order they are concatenated.
    real_steps = np.arange(padded.shape[1]) < lengths[:, None]
    padded[real_steps] = np.concatenate(arrays, axis=0)
    if not batch_first:
        padded = np.ascontiguousarray(np.swapaxes(padded, 0, 1))
    return padded, lengths


class Batch(NamedTuple):
    """One minibatch from `batches`: padded inputs, their lengths, targets (or None), source indices."""

    inputs: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray | None
    indices: np.ndarray


def batches(sequences: Sequence[Any], targets: Sequence[Any] | np.ndarray | None = None, *, batch_size: int,
            shuffle: bool = True, seed: int | None = None, rng: np.random.Generator | None = None,
            sort_by_length: bool = False, drop_last: bool = False, padding_value: float = 0,
            target_padding_value: float = IGNORE_INDEX, batch_first: bool = False) -> Iterator[Batch]:
    """One epoch of padded minibatches; `seed` or `rng` fixes the shuffle.

    Shapes: `inputs` (T, b, *features) or (b, T, *features) with `batch_first`, `lengths` (b,),
    `indices` (b,) the positions in `sequences`. Targets: a numpy array is one target per sequence
    and is indexed along its first axis; a list of sequences (one tag per step, say) is padded
    like the inputs with `target_padding_value` (-100, PyTorch's ignore_index).
    `sort_by_length` groups sequences of similar length (longest first within a batch, as
    `pack_padded_sequence` wants); with `shuffle` the order of those batches is then shuffled.
    """
    count = len(sequences)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be an int >= 1, got {batch_size!r}")
    if count == 0:
        raise ValueError("batches: expected at least one sequence, got none")
    if targets is not None and len(targets) != count:
        raise ValueError(f"batches: expected one target per sequence ({count}), got {len(targets)} targets")
    generator = resolve_rng(seed, rng, "batches") if shuffle else None
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    if sort_by_length:
        order = np.argsort(-lengths, kind="stable")
    elif generator is not None:
        order = generator.permutation(count)
    else:
        order = np.arange(count)
    groups = [order[start:start + batch_size] for start in range(0, count, batch_size)]
    if drop_last and len(groups[-1]) < batch_size:
        groups.pop()
    if sort_by_length and generator is not None:
        groups = [groups[position] for position in generator.permutation(len(groups))]
    per_sequence_targets = _targets_are_per_sequence(targets)
    return _iterate_batches(sequences, targets, groups, per_sequence_targets, padding_value,
                            target_padding_value, batch_first)


def _targets_are_per_sequence(targets: Sequence[Any] | np.ndarray | None) -> bool:
    if targets is None or (isinstance(targets, np.ndarray) and targets.dtype != object):
        return True
    return all(np.ndim(target) == 0 for target in targets)


def _iterate_batches(sequences, targets, groups, per_sequence_targets, padding_value, target_padding_value,
                     batch_first) -> Iterator[Batch]:
    # Validation and ordering happen in `batches` itself, so errors come at the call, not at the first next().
    target_array = np.asarray(targets) if targets is not None and per_sequence_targets else None
    for indices in groups:
        inputs, lengths = pad_sequences([sequences[i] for i in indices], padding_value, batch_first)
        if targets is None:
            batch_targets = None
        elif target_array is not None:
            batch_targets = target_array[indices]
        else:
            batch_targets, _ = pad_sequences([targets[i] for i in indices], target_padding_value, batch_first)
        yield Batch(inputs, lengths, batch_targets, indices)


class LanguageModelBatches:
    """Consecutive (input, target) windows of `batch_size` parallel streams cut from one long id array.

    The id array is split into `batch_size` contiguous streams of `stream_length` steps; window k
    holds steps [k·seq_len, (k+1)·seq_len) of every stream, so column b of window k+1 continues
    column b of window k: a truncated-BPTT trainer carries the hidden state across windows.
    Shapes: inputs and targets (seq_len, batch_size) int64 (the last window may be shorter unless
    `drop_last`); target[t, b] is the id after input[t, b].
    """

    def __init__(self, ids: Sequence[int] | np.ndarray, batch_size: int, seq_len: int, *, offset: int = 0,
                 drop_last: bool = False):
        id_array = np.asarray(ids)
        if id_array.ndim != 1 or not np.issubdtype(id_array.dtype, np.integer):
            raise ValueError(f"char_lm_batches: expected a 1-D integer array of ids, "
                             f"got shape {id_array.shape} dtype {id_array.dtype}")
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"char_lm_batches: {name} must be an int >= 1, got {value!r}")
        if not isinstance(offset, (int, np.integer)) or offset < 0:
            raise ValueError(f"char_lm_batches: offset must be an int >= 0, got {offset!r}")
        usable = id_array[offset:]
        stream_length = (usable.size - 1) // batch_size
        if stream_length < 1:
            raise ValueError(f"char_lm_batches: {batch_size} streams need at least {batch_size + 1} ids after "
                             f"offset {offset}, got {usable.size}")
        span = batch_size * stream_length
        # Row b of the reshape is stream b; transposing makes time the first axis.
        self.input_streams = usable[:span].astype(np.int64).reshape(batch_size, stream_length).T
        self.target_streams = usable[1:span + 1].astype(np.int64).reshape(batch_size, stream_length).T
        self.batch_size = int(batch_size)
        self.seq_len = int(seq_len)
        self.stream_length = int(stream_length)
        self.drop_last = drop_last

    def __len__(self) -> int:
        full, rest = divmod(self.stream_length, self.seq_len)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for window in range(len(self)):
            start = window * self.seq_len
            stop = start + self.seq_len
            yield (np.ascontiguousarray(self.input_streams[start:stop]),
                   np.ascontiguousarray(self.target_streams[start:stop]))

    def __repr__(self) -> str:
        return (f"LanguageModelBatches(batch_size={self.batch_size}, seq_len={self.seq_len}, "
                f"stream_length={self.stream_length}, windows={len(self)})")


def char_lm_batches(ids: Sequence[int] | np.ndarray, batch_size: int, seq_len: int, *, offset: int = 0,
                    drop_last: bool = False) -> LanguageModelBatches:
    """Windows for a language model with truncated BPTT; see `LanguageModelBatches` for the layout.

    `offset` skips that many leading ids, so a different offset each epoch cuts windows elsewhere.
    """
    return LanguageModelBatches(ids, batch_size, seq_len, offset=offset, drop_last=drop_last)
