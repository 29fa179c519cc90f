import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqgrad.data import sliding_windows


def reference_windows(series, window, horizon, stride):
    inputs, targets = [], []
    start = 0
    while start + window + horizon <= len(series):
        inputs.append(series[start:start + window])
        targets.append(series[start + window:start + window + horizon])
        start += stride
    return np.array(inputs), np.array(targets)


@given(length=st.integers(2, 40), window=st.integers(1, 10), horizon=st.integers(1, 5), stride=st.integers(1, 4),
       features=st.sampled_from([(), (1,), (3,), (2, 2)]))
def test_matches_a_loop_reference_in_both_layouts(length, window, horizon, stride, features):
    series = np.arange(length * int(np.prod(features))).reshape(length, *features).astype(float)
    if length < window + horizon:
        with pytest.raises(ValueError, match="needs at least"):
            sliding_windows(series, window, horizon, stride)
        return
    expected_inputs, expected_targets = reference_windows(series, window, horizon, stride)
    inputs, targets = sliding_windows(series, window, horizon, stride, batch_first=True)
    np.testing.assert_array_equal(inputs, expected_inputs)
    np.testing.assert_array_equal(targets, expected_targets)
    time_inputs, time_targets = sliding_windows(series, window, horizon, stride)
    np.testing.assert_array_equal(time_inputs, expected_inputs.swapaxes(0, 1))
    np.testing.assert_array_equal(time_targets, expected_targets.swapaxes(0, 1))


def test_outputs_are_writable_copies():
    series = np.arange(10.0)
    inputs, _ = sliding_windows(series, 3)
    inputs[:] = -1
    assert series.min() == 0 and inputs.flags.writeable


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="stride"):
        sliding_windows(np.arange(10), 3, stride=0)
    with pytest.raises(ValueError, match="scalar"):
        sliding_windows(np.float64(1.0), 1)
