import numpy as np
import pytest

from seqgrad.data import IGNORE_INDEX, batches, char_lm_batches, pad_sequences


def test_pad_sequences_time_major_layout_and_lengths():
    padded, lengths = pad_sequences([[1, 2, 3], [4], [5, 6]], padding_value=-1)
    assert padded.shape == (3, 3) and lengths.tolist() == [3, 1, 2]
    assert padded.T.tolist() == [[1, 2, 3], [4, -1, -1], [5, 6, -1]]
    assert padded.dtype == np.int64 and lengths.dtype == np.int64


def test_pad_sequences_batch_first_with_features_matches_a_reference():
    rng = np.random.default_rng(0)
    sequences = [rng.standard_normal((length, 2, 3)) for length in (4, 0, 7, 1)]
    padded, lengths = pad_sequences(sequences, batch_first=True)
    assert padded.shape == (4, 7, 2, 3) and lengths.tolist() == [4, 0, 7, 1]
    for i, sequence in enumerate(sequences):
        np.testing.assert_array_equal(padded[i, :len(sequence)], sequence)
        assert (padded[i, len(sequence):] == 0).all()
    time_major, _ = pad_sequences(sequences)
    np.testing.assert_array_equal(time_major, padded.swapaxes(0, 1))


def test_pad_sequences_rejects_mismatched_features_and_empty_input():
    with pytest.raises(ValueError, match=r"features \(2,\).*shape \(3, 3\) at position 1"):
        pad_sequences([np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(ValueError, match="at least one"):
        pad_sequences([])


def test_batches_cover_every_sequence_once_and_are_seeded():
    sequences = [list(range(length)) for length in (5, 3, 8, 1, 4, 6, 2)]
    labels = np.arange(7) * 10
    first = list(batches(sequences, labels, batch_size=3, seed=4))
    again = list(batches(sequences, labels, batch_size=3, seed=4))
    other = list(batches(sequences, labels, batch_size=3, seed=5))
    seen = np.concatenate([batch.indices for batch in first])
    assert sorted(seen.tolist()) == list(range(7))
    assert [b.indices.tolist() for b in first] == [b.indices.tolist() for b in again]
    assert [b.indices.tolist() for b in first] != [b.indices.tolist() for b in other]
    for batch in first:
        assert batch.targets.tolist() == (batch.indices * 10).tolist()
        assert batch.lengths.tolist() == [len(sequences[i]) for i in batch.indices]
        assert batch.inputs.shape == (batch.lengths.max(), len(batch.indices))


def test_batches_sorted_by_length_are_tight_and_drop_last():
    sequences = [np.ones(length) for length in (5, 3, 8, 1, 4, 6, 2)]
    groups = list(batches(sequences, batch_size=2, shuffle=False, sort_by_length=True))
    assert [g.lengths.tolist() for g in groups] == [[8, 6], [5, 4], [3, 2], [1]]
    dropped = list(batches(sequences, batch_size=2, sort_by_length=True, drop_last=True, seed=0))
    assert sorted(g.lengths.tolist() for g in dropped) == [[3, 2], [5, 4], [8, 6]]


def test_batches_pad_per_step_targets_with_ignore_index():
    sequences = [[1, 2, 3], [4]]
    tags = [[7, 8, 9], [6]]
    (batch,) = batches(sequences, tags, batch_size=2, shuffle=False, batch_first=True)
    assert batch.targets.tolist() == [[7, 8, 9], [6, IGNORE_INDEX, IGNORE_INDEX]]


def test_batches_validate_at_the_call():
    with pytest.raises(ValueError, match="one target per sequence"):
        batches([[1], [2]], [0], batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        batches([[1]], batch_size=0)


def test_char_lm_batches_continue_each_stream_across_windows():
    ids = np.arange(103)
    windows = char_lm_batches(ids, batch_size=4, seq_len=7)
    # (103 - 1) // 4 = 25 steps per stream: 3 full windows of 7 and one of 4.
    assert len(windows) == 4 and windows.stream_length == 25
    pairs = list(windows)
    assert [inputs.shape for inputs, _ in pairs] == [(7, 4), (7, 4), (7, 4), (4, 4)]
    whole_inputs = np.concatenate([inputs for inputs, _ in pairs])
    whole_targets = np.concatenate([targets for _, targets in pairs])
    for stream in range(4):
        # Column b is the contiguous run starting at b · 25, and each target is the next id.
        np.testing.assert_array_equal(whole_inputs[:, stream], ids[stream * 25:(stream + 1) * 25])
    np.testing.assert_array_equal(whole_targets, whole_inputs + 1)
    # The first input of window k+1 follows the last input of window k in every stream.
    np.testing.assert_array_equal(pairs[1][0][0], pairs[0][0][-1] + 1)


def test_char_lm_batches_drop_last_offset_and_errors():
    ids = np.arange(50)
    assert [x.shape[0] for x, _ in char_lm_batches(ids, 2, 10, drop_last=True)] == [10, 10]
    shifted = next(iter(char_lm_batches(ids, 2, 5, offset=3)))[0]
    assert shifted[0].tolist() == [3, 26]
    with pytest.raises(ValueError, match="at least 11 ids"):
        char_lm_batches(np.arange(10), batch_size=10, seq_len=2)
    with pytest.raises(ValueError, match="1-D integer"):
        char_lm_batches(np.zeros((4, 4), dtype=int), 2, 2)
