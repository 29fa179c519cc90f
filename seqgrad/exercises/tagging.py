"""Exercises of notebook 05 (bidirectional tagging): final states from padded outputs, and padded targets."""

from __future__ import annotations

import numpy as np

from ..data.batching import IGNORE_INDEX
from ..nn import LSTM
from ..random import manual_seed
from ..tensor import Tensor
from .core import Wrong, as_array, call, close, exercise

LENGTHS = np.array([5, 2, 4])


@exercise("final_states", "05", """
    A bidirectional layer ran over a padded batch with `lengths`; its `outputs` are (T, B, 2H), the
    forward direction's h in [..., :H] and the backward direction's in [..., H:], zeros past each
    sequence's length. Write `final_states(outputs, lengths) -> (B, 2H)`: for each sequence, the
    forward direction's last state next to the backward direction's last state, i.e. what the
    layer returns as h_n (h_n[0] and h_n[1] concatenated), read from `outputs` alone.
    """, hint="the forward direction ends at step L_b - 1 (not T - 1: outputs past L_b are zero); the backward "
            "direction runs from L_b - 1 down to 0, so it ends at step 0")
def _final_states(final_states) -> str:
    manual_seed(4)
    layer = LSTM(3, 4, bidirectional=True, dtype=np.float64)
    inputs = np.random.default_rng(4).normal(size=(int(LENGTHS.max()), len(LENGTHS), 3))
    outputs, (hidden, _) = layer(Tensor(inputs), lengths=LENGTHS)
    expected = np.concatenate([hidden.data[0], hidden.data[1]], axis=1)
    got = as_array(call(final_states, outputs.data, LENGTHS.copy()), expected.shape, "final_states")
    if close(got, expected):
        return "equal to h_n: forward at each sequence's own last step, backward at step 0"
    size = expected.shape[1] // 2
    if close(got[:, :size], outputs.data[-1, :, :size]):
        raise Wrong("the forward half is outputs[-1]: for a sequence shorter than T that is padding (zeros); "
                    "take step lengths[b] - 1")
    if close(got[:, :size], expected[:, :size]):
        raise Wrong("the forward half is right; the backward direction's last state is at step 0, where it "
                    "finishes its right-to-left run")
    raise Wrong("final_states is not h_n; check each half against hidden[0] and hidden[1]")


@exercise("padded_targets", "05", f"""
    Tags of different lengths must become one (T, B) int64 array of targets, time first, for
    `cross_entropy(..., ignore_index={IGNORE_INDEX})`. Write `padded_targets(tags) -> targets`:
    `tags` is a list of B lists of class ids; T is the longest; every position past a
    sequence's end must be ignored by the loss (contribute nothing, count nothing).
    """, hint=f"fill with ignore_index = {IGNORE_INDEX} (not 0: class 0 is a real tag and the padding would be "
            "learned); column b holds sequence b; dtype int64")
def _padded_targets(padded_targets) -> str:
    tags = [[2, 0, 1, 1, 0], [0, 2], [1, 1, 0, 2]]
    expected = np.full((5, 3), IGNORE_INDEX, dtype=np.int64)
    for column, sequence in enumerate(tags):
        expected[:len(sequence), column] = sequence
    got = np.asarray(call(padded_targets, [list(sequence) for sequence in tags]))
    if got.shape == expected.shape[::-1]:
        raise Wrong(f"shape {got.shape} is batch-first; the layers here are time-major: (T, B) = {expected.shape}")
    if got.shape != expected.shape:
        raise Wrong(f"expected shape (T, B) = {expected.shape}, got {got.shape}")
    if not np.issubdtype(got.dtype, np.integer):
        raise Wrong(f"targets are class ids: an integer array, got {got.dtype}")
    if np.array_equal(got, np.where(expected == IGNORE_INDEX, 0, expected)):
        raise Wrong("the padding is 0, which is a real class: the loss would train the model to tag padding as 0 "
                    f"and count it in the mean; pad with {IGNORE_INDEX}")
    if not np.array_equal(got, expected):
        raise Wrong(f"targets differ from the expected\n{expected}")
    return f"padding positions hold {IGNORE_INDEX}, so cross_entropy ignores them"
