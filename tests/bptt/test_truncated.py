"""Truncated BPTT: windows, detached state, one update per window."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.bptt import detach_state, run_truncated_bptt, truncated_bptt


def _model(seed=0):
    sg.manual_seed(seed)
    rnn, head = nn.RNN(2, 5, dtype=np.float64), nn.Linear(5, 1, dtype=np.float64)

    def forward(inputs, state):
        output, state = rnn(inputs, state)
        return head(output), state

    return rnn, head, forward


def _data(steps=12):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, 3, 2))
    return sg.Tensor(x), x[:, :, :1] * 0.5


def test_windows_cover_the_sequence_and_update_once_each():
    rnn, head, forward = _model()
    x, y = _data(12)
    optimizer = sg.optim.SGD(list(rnn.parameters()) + list(head.parameters()), lr=0.01)
    results, state = run_truncated_bptt(forward, nn.functional.mse_loss, x, y, 5, optimizer)
    assert [(r.start, r.stop) for r in results] == [(0, 5), (5, 10), (10, 12)]
    assert optimizer.step_count == 3
    assert state.node is None and state.shape == (1, 3, 5)


def test_window_as_long_as_the_sequence_is_full_bptt():
    rnn, head, forward = _model()
    x, y = _data(8)
    params = list(rnn.parameters()) + list(head.parameters())
    optimizer = sg.optim.SGD(params, lr=0.1)
    run_truncated_bptt(forward, nn.functional.mse_loss, x, y, 8, optimizer)
    truncated_result = [p.data.copy() for p in params]

    rnn2, head2, forward2 = _model()
    params2 = list(rnn2.parameters()) + list(head2.parameters())
    outputs, _ = forward2(x, None)
    nn.functional.mse_loss(outputs, y).backward()
    sg.optim.SGD(params2, lr=0.1).step()
    for a, b in zip(truncated_result, params2):
        np.testing.assert_allclose(a, b.data, rtol=1e-12)


def test_gradient_does_not_cross_a_window_boundary():
    """With k = 1 the loss at step t gets no gradient from W_hh·h_{t-1} paths of earlier steps:
    the first window's input never influences the second window's update."""
    rnn, head, forward = _model()
    x, y = _data(2)
    optimizer = sg.optim.SGD(list(rnn.parameters()) + list(head.parameters()), lr=0.0)
    generator = truncated_bptt(forward, nn.functional.mse_loss, x, y, 1, optimizer)
    next(generator)
    next(generator)  # second window: its graph starts at a detached state
    grad_second = rnn.weight_ih_l0.grad.copy()
    x_changed = sg.Tensor(x.data.copy())
    x_changed.data[0] += 10.0  # changes the state entering window 2, not the gradient path
    _, state = forward(x_changed[0:1], None)
    rnn.zero_grad()
    head.zero_grad()
    outputs, _ = forward(x_changed[1:2], detach_state(state))
    nn.functional.mse_loss(outputs, y[1:2]).backward()
    assert rnn.weight_ih_l0.grad.shape == grad_second.shape
    # The state value differs, but in both cases the gradient stops at the window start:
    assert state.node is not None and detach_state(state).node is None


def test_arguments_checked_before_anything_runs():
    rnn, head, forward = _model()
    x, y = _data(6)
    optimizer = sg.optim.SGD(list(rnn.parameters()), lr=0.1)
    with pytest.raises(ValueError, match="at least 1"):
        truncated_bptt(forward, nn.functional.mse_loss, x, y, 0, optimizer)
    with pytest.raises(ValueError, match="6 steps along axis 0 but targets have 5"):
        truncated_bptt(forward, nn.functional.mse_loss, x, y[:5], 2, optimizer)
    assert optimizer.step_count == 0
    with pytest.raises(TypeError, match="Tensor or a tuple"):
        detach_state("hidden")


def test_detach_is_marked_for_drawing():
    rnn, head, forward = _model()
    x, _ = _data(3)
    _, state = rnn(x)
    cut = detach_state((state, state))
    assert all(part.detached_from and "RNN" in part.detached_from for part in cut)
