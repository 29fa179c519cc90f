"""Gradient flow through time: ||dL/dh_k|| from one backward pass and ||dh_T/dh_k|| from a few,
checked against the chain rule written out for the Elman RNN (docs/EQUATIONS.md, "Why gradients
vanish": dh_j/dh_{j-1} = diag(1 - h_j^2) W_hh)."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.autodiff import walk
from seqgrad.bptt import hidden_grad_norms, jacobian_norms, state_nodes
from seqgrad.viz.recording import node_grad_norm

KEY = ("RNN", 0, "forward")


def rnn_and_loss(steps=6, batch=2, hidden=4, seed=0):
    sg.manual_seed(seed)
    rnn = nn.RNN(3, hidden, dtype=np.float64)
    output, _ = rnn(sg.randn(steps, batch, 3, dtype=np.float64))
    return rnn, output, (output[-1] ** 2).sum()


def step_jacobians(output: np.ndarray, weight_hh: np.ndarray) -> list[np.ndarray]:
    """dh_{T-1}/dh_k for every k, per batch row: (B, H, H) arrays, written from the equations."""
    steps, batch, hidden = output.shape
    product = np.broadcast_to(np.eye(hidden), (batch, hidden, hidden)).copy()
    jacobians = [None] * steps
    jacobians[steps - 1] = product.copy()
    for k in range(steps - 2, -1, -1):
        step = (1 - output[k + 1] ** 2)[:, :, None] * weight_hh            # diag(1 - h_{k+1}^2) W_hh
        product = product @ step
        jacobians[k] = product.copy()
    return jacobians


def test_hidden_grad_norms_follow_the_chain_rule():
    rnn, output, loss = rnn_and_loss()
    with sg.viz.record():
        loss.backward()
    norms = hidden_grad_norms(loss)
    assert list(norms) == [KEY] and norms[KEY].shape == (6,)
    hidden = output.data
    gradient = 2 * hidden[-1]                                             # dL/dh_{T-1}
    expected = [0.0] * 6
    for k in range(5, -1, -1):
        expected[k] = np.linalg.norm(gradient)
        gradient = (gradient * (1 - hidden[k] ** 2)) @ rnn.weight_hh_l0.data
    np.testing.assert_allclose(norms[KEY], expected, rtol=1e-10)
    assert np.all(np.diff(norms[KEY]) > 0)                               # vanishing back in time here


@pytest.mark.parametrize("norm", ["spectral", "fro"])
def test_jacobian_norms_are_norms_of_the_product_of_step_jacobians(norm):
    rnn, output, loss = rnn_and_loss()
    measured = jacobian_norms(loss, norm=norm)[KEY]
    jacobians = step_jacobians(output.data, rnn.weight_hh_l0.data)
    if norm == "spectral":
        expected = [np.linalg.norm(block, ord=2, axis=(1, 2)).max() for block in jacobians]
    else:
        expected = [np.sqrt(np.sum(block ** 2)) for block in jacobians]
    np.testing.assert_allclose(measured, expected, rtol=1e-9)
    assert measured[-1] == pytest.approx(1.0 if norm == "spectral" else np.sqrt(2 * 4))


def test_jacobian_norms_at_an_earlier_target_leave_later_steps_empty():
    rnn, output, loss = rnn_and_loss()
    measured = jacobian_norms(loss, target_step=3)[KEY]
    assert np.isnan(measured[4:]).all() and measured[3] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="target_step 9"):
        jacobian_norms(loss, target_step=9)


def test_jacobian_norms_leave_every_gradient_as_it_was():
    sg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    raw = sg.randn(6, 2, 3, dtype=np.float64, requires_grad=True)
    inputs = raw * 1.0                                   # a non-leaf upstream of every state
    inputs.retain_grad()
    output, _ = rnn(inputs)
    loss = (output[-1] ** 2).sum()
    with sg.viz.record():
        loss.backward(retain_graph=True)
    grads = {name: parameter.grad.copy() for name, parameter in rnn.named_parameters()}
    kept = {"raw": raw.grad.copy(), "inputs": inputs.grad.copy()}
    node_norms = [node_grad_norm(node) for node in walk(loss).nodes]
    assert None not in node_norms
    with sg.viz.record():  # recording on: the probe's own passes must still leave the drawing's norms alone
        jacobian_norms(loss)
    for name, parameter in rnn.named_parameters():
        np.testing.assert_array_equal(parameter.grad, grads[name])
    np.testing.assert_array_equal(raw.grad, kept["raw"])
    np.testing.assert_array_equal(inputs.grad, kept["inputs"])
    assert [node_grad_norm(node) for node in walk(loss).nodes] == node_norms
    assert [node for node in walk(loss).nodes if node.retained is not None] == [inputs.node]
    fresh_rnn, _, fresh_loss = rnn_and_loss(seed=1)
    jacobian_norms(fresh_loss)
    assert all(parameter.grad is None for parameter in fresh_rnn.parameters())


def test_what_needs_a_backward_pass_or_the_saved_values_says_so():
    _, _, loss = rnn_and_loss()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"viz.record\(\): loss.backward\(\)` first"):
        hidden_grad_norms(loss)  # a plain backward records no norms
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        jacobian_norms(loss)
    with pytest.raises(ValueError, match="norm must be"):
        jacobian_norms(loss, norm="nuclear")


def test_stacked_bidirectional_layers_are_measured_per_layer_and_direction():
    sg.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64)
    output, _ = lstm(sg.randn(5, 2, 2, dtype=np.float64))
    loss = (output[-1] ** 2).sum()
    jacobians = jacobian_norms(loss)
    with sg.viz.record():
        loss.backward()
    norms = hidden_grad_norms(loss)
    keys = {("LSTM", layer, direction) for layer in (0, 1) for direction in ("forward", "backward")}
    assert set(norms) == set(jacobians) == keys
    assert all(values.shape == (5,) and np.isfinite(values).all() for values in norms.values())
    assert jacobians[("LSTM", 0, "forward")][4] == pytest.approx(1.0)    # the forward direction ends at step 4
    assert jacobians[("LSTM", 0, "backward")][0] == pytest.approx(1.0)   # the backward one at step 0
    states = state_nodes(loss, role="cell")
    assert set(states) == keys and all(sorted(by_step) == list(range(5)) for by_step in states.values())


def test_a_hand_written_loop_uses_each_steps_last_op_as_its_state():
    sg.manual_seed(0)
    weight = sg.Tensor(np.eye(3) * 0.9, requires_grad=True)
    inputs = sg.randn(4, 1, 3, dtype=np.float64)
    hidden, states = sg.zeros(1, 3, dtype=np.float64), []
    for t in range(4):
        with sg.scope("my rnn", step=t):
            hidden = (hidden @ weight + inputs[t]).tanh()
        hidden.retain_grad()
        states.append(hidden)
    loss = (hidden ** 2).sum()
    with sg.viz.record():
        loss.backward()
    norms = hidden_grad_norms(loss)
    assert list(norms) == [("my rnn", None, None)]
    np.testing.assert_allclose(norms[("my rnn", None, None)], [np.linalg.norm(h.grad) for h in states], rtol=1e-12)


def test_two_runs_of_one_layer_name_are_refused():
    sg.manual_seed(0)
    encoder, decoder = nn.LSTM(2, 3), nn.LSTM(3, 3)
    encoded, state = encoder(sg.randn(2, 1, 2))
    decoded, _ = decoder(encoded, state)
    with pytest.raises(ValueError, match="two runs of LSTM"):
        state_nodes(decoded.sum())
    decoder.name = "decoder"
    decoded, _ = decoder(encoded, state)
    assert set(state_nodes(decoded.sum())) == {("LSTM", 0, "forward"), ("decoder", 0, "forward")}


def test_a_graph_without_time_steps_is_refused():
    weight = sg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="no time steps found"):
        state_nodes((weight * 2).sum())
