import numpy as np
import pytest

import seqgrad
from seqgrad.data import IGNORE_INDEX, adding_problem, copy_task, one_hot


def test_adding_problem_shapes_markers_and_targets():
    inputs, targets = adding_problem(64, 21, seed=0)
    assert inputs.shape == (21, 64, 2) and targets.shape == (64, 1)
    assert inputs.dtype == seqgrad.get_default_dtype() == targets.dtype
    values, markers = inputs[..., 0], inputs[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers.sum(axis=0) == 2).all() and set(np.unique(markers)) == {0.0, 1.0}
    # One marker in the first half [0, 10), the other in [10, 21).
    assert (markers[:10].sum(axis=0) == 1).all() and (markers[10:].sum(axis=0) == 1).all()
    np.testing.assert_allclose(targets[:, 0], (values * markers).sum(axis=0), rtol=1e-6)


def test_adding_problem_baseline_of_predicting_one_is_about_a_sixth():
    _, targets = adding_problem(20000, 100, seed=1, dtype=np.float64)
    assert abs(((targets - 1.0) ** 2).mean() - 1 / 6) < 0.01


def test_adding_problem_is_seeded_and_has_a_batch_first_layout():
    time_major, targets = adding_problem(8, 10, seed=3)
    batch_major, same_targets = adding_problem(8, 10, seed=3, batch_first=True)
    np.testing.assert_array_equal(batch_major, time_major.swapaxes(0, 1))
    np.testing.assert_array_equal(targets, same_targets)
    assert not np.array_equal(adding_problem(8, 10, seed=4)[0], time_major)
    generator = np.random.default_rng(3)
    np.testing.assert_array_equal(adding_problem(8, 10, rng=generator)[0], time_major)
    seqgrad.manual_seed(11)
    first = adding_problem(8, 10)[0]
    seqgrad.manual_seed(11)
    np.testing.assert_array_equal(adding_problem(8, 10)[0], first)
    with pytest.raises(ValueError, match="not both"):
        adding_problem(2, 4, seed=1, rng=generator)
    with pytest.raises(ValueError, match="seq_len must be an int >= 2"):
        adding_problem(2, 1, seed=0)


def test_copy_task_layout_and_ignore_positions():
    length, delay, symbols = 5, 7, 4
    inputs, targets = copy_task(50, length, delay, num_symbols=symbols, seed=0)
    total = 2 * length + delay + 1
    assert inputs.shape == targets.shape == (total, 50) and inputs.dtype == targets.dtype == np.int64
    blank, delimiter = symbols, symbols + 1
    assert ((inputs[:length] >= 0) & (inputs[:length] < symbols)).all()
    assert (inputs[length:length + delay] == blank).all()
    assert (inputs[length + delay] == delimiter).all()
    assert (inputs[length + delay + 1:] == blank).all()
    assert (targets[:total - length] == IGNORE_INDEX).all()
    np.testing.assert_array_equal(targets[total - length:], inputs[:length])
    # The symbols vary between sequences and steps, so copying is not guessable.
    assert len(np.unique(inputs[:length])) == symbols


def test_copy_task_one_hot_and_batch_first():
    ids, targets = copy_task(6, 3, 2, num_symbols=5, seed=1)
    encoded, same_targets = copy_task(6, 3, 2, num_symbols=5, seed=1, one_hot=True, batch_first=True)
    assert encoded.shape == (6, 9, 7)
    np.testing.assert_array_equal(encoded.argmax(axis=-1), ids.T)
    np.testing.assert_array_equal(same_targets, targets.T)
    assert (encoded.sum(axis=-1) == 1).all()
    with pytest.raises(ValueError, match="delay"):
        copy_task(2, 3, -1)


def test_one_hot_checks_its_range():
    np.testing.assert_array_equal(one_hot(np.array([[2, 0]]), 3), [[[0, 0, 1], [1, 0, 0]]])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        one_hot(np.array([3]), 3)
