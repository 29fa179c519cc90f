"""In-place edits between forward and backward never give a silently wrong gradient: a leaf's
(or constant's) edit makes backward raise, naming the op and its scope; an op result's array is
read-only until backward has passed; parameter updates after backward, optimizers and
load_state_dict keep working, on live graphs too."""

import gc

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn


def leaf(values):
    return sg.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_editing_a_saved_leaf_makes_backward_raise_instead_of_a_wrong_gradient():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    y = (a * b).sum()
    b.data[:] = 100
    with pytest.raises(RuntimeError, match=r"saved for the gradient of mul was modified in place"):
        y.backward()
    assert a.grad is None
    y = (a * b).sum()  # a new forward sees the new values: its gradient is right
    y.backward()
    np.testing.assert_array_equal(a.grad, [100.0, 100.0, 100.0])


def test_every_form_of_in_place_edit_is_caught():
    for edit in (lambda x: x.__setitem__(0, 7.0), lambda x: x.__imul__(2.0), lambda x: x.fill(0.0),
                 lambda x: np.copyto(x, 1.0), lambda x: np.add(x, 1.0, out=x)):
        a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
        y = (a * b).sum()
        edit(b.data)
        with pytest.raises(RuntimeError, match="modified in place"):
            y.backward()


def test_reading_data_or_writing_the_same_values_is_not_an_edit():
    a, b = leaf([1.0, np.nan]), leaf([3.0, 4.0])
    y = (a * b).sum()
    assert b.data.sum() == 7.0 and np.isnan(a.data.sum())
    a.data[0] = 1.0
    y.backward()
    np.testing.assert_array_equal(b.grad, [1.0, np.nan])


def test_a_weight_read_between_forward_and_backward_is_compared_once_and_locked_again():
    sg.manual_seed(0)
    rnn = nn.RNN(2, 3, dtype=np.float64)
    output, _ = rnn(sg.randn(5, 1, 2, dtype=np.float64))
    loss = (output ** 2).sum()
    weight = rnn.weight_hh_l0.data       # unlocked for the user, the graph's values kept aside
    assert weight.flags.writeable
    loss.backward()                      # unchanged: no error; relocked until the last step used it
    assert weight.flags.writeable        # and the user's again afterwards
    weight[0, 0] = 1.0


def test_a_scaled_lstm_weight_is_named_with_its_layer_and_step():
    sg.manual_seed(0)
    lstm = nn.LSTM(2, 3, dtype=np.float64)
    output, _ = lstm(sg.randn(4, 1, 2, dtype=np.float64))
    loss = (output ** 2).sum()
    lstm.weight_hh_l0.data *= 2.0
    with pytest.raises(RuntimeError, match=r"linear \(LSTM layer 0 direction forward, LSTMCell step 3\)"):
        loss.backward()


def test_an_edited_constant_operand_is_refused_at_the_write():
    x = leaf([1.0, 2.0])
    mask = np.array([1.0, 0.0])
    y = (x * mask).sum()
    with pytest.raises(ValueError, match="read-only"):
        mask[:] = 1.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])
    mask[:] = 1.0


def test_arrays_the_user_holds_are_read_only_while_saved_and_writable_after():
    buffer = np.array([1.0, 2.0])
    x = sg.Tensor(buffer)            # the tensor shares the user's array
    w = leaf([3.0, 4.0])
    y = (w * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        buffer[:] = 0.0              # refused at the write: never a wrong gradient
    y.backward()
    buffer[:] = 0.0                  # backward is done: the array is the user's again
    dropped = (w * x).sum()
    del dropped
    gc.collect()
    buffer[:] = 5.0                  # a graph dropped without backward releases it too


def test_an_op_result_is_read_only_until_backward_has_passed():
    x = leaf([0.5, 1.0])
    h = x.tanh()
    loss = (h * h).sum()
    with pytest.raises(ValueError, match="read-only"):
        h.data[:] = 0.0              # tanh's rule reads its output: refused
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * np.tanh([0.5, 1.0]) * (1 - np.tanh([0.5, 1.0]) ** 2))
    h.data[:] = 0.0                  # backward is done with it


def test_the_teaching_update_after_backward_keeps_working():
    w = leaf([1.0, -2.0])
    expected = w.data.copy()
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with sg.no_grad():
            w.data -= 0.1 * w.grad
        expected -= 0.1 * 2 * expected
        w.grad = None
    np.testing.assert_allclose(w.data, expected)


def test_a_live_graph_without_backward_does_not_block_updates_but_its_backward_raises():
    w = leaf([1.0, 2.0])
    validation = (w * 3.0).sum() + (w * w).sum()   # kept alive, never backpropagated (as a forgotten no_grad)
    for _ in range(2):
        loss = (w * w).sum()
        loss.backward()
        w.data -= 0.1 * w.grad         # in place, while the validation graph still saves w
        w.grad = None
    with pytest.raises(RuntimeError, match="modified in place"):
        validation.backward()


def test_optimizers_and_load_state_dict_on_a_live_graph_keep_the_forward_values():
    sg.manual_seed(0)
    layer = nn.Linear(3, 2, dtype=np.float64)
    x = sg.randn(4, 3, dtype=np.float64)
    loss = (layer(x) ** 2).sum()
    loss.backward(retain_graph=True)
    first = layer.weight.grad.copy()
    for optimizer in (sg.optim.SGD(layer.parameters(), lr=0.1), sg.optim.Adam(layer.parameters(), lr=0.1)):
        optimizer.step()
    layer.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(2)})
    layer.zero_grad()
    loss.backward()                    # new arrays were assigned: the graph still has the old ones
    np.testing.assert_allclose(layer.weight.grad, first)


def test_retained_graph_edited_between_two_backwards_raises_the_second_time():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = (a * b).sum()
    y.backward(retain_graph=True)
    a.data[1] = 10.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()
