"""Per-step terms of a weight's gradient: they add up to .grad, and the split of the one input
projection by step equals what a loop that projects every step on its own gives."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.bptt import weight_grad_contributions


@pytest.mark.parametrize("kind", [nn.RNN, nn.LSTM, nn.GRU])
def test_terms_sum_to_the_gradient(float64, kind):
    sg.manual_seed(1)
    layer = kind(3, 4, num_layers=2, bidirectional=True)
    output, _ = layer(sg.randn(5, 2, 3))
    loss = (output ** 2).sum() + output[-1].sum()
    terms = {name: weight_grad_contributions(loss, parameter) for name, parameter in layer.named_parameters()}
    loss.backward()
    for name, parameter in layer.named_parameters():
        assert sorted(terms[name]) == list(range(5)), name        # every step, no use outside the steps
        np.testing.assert_allclose(sum(terms[name].values()), parameter.grad, rtol=1e-12, atol=1e-14, err_msg=name)


def test_the_projection_split_equals_per_step_projections(float64):
    """nn.RNN projects all steps in one matmul; a hand loop calls the cell per step (one use of
    W_ih per step): each step's term of W_ih and W_hh must be the same either way."""
    sg.manual_seed(2)
    layer = nn.RNN(3, 4)
    inputs = sg.randn(6, 2, 3)
    output, _ = layer(inputs)
    loss = (output[-1] ** 2).sum() + output[2].sum()
    fused = {name: weight_grad_contributions(loss, getattr(layer, name)) for name in ("weight_ih_l0", "weight_hh_l0")}

    cell = layer.cell(0)
    hidden, states = None, []
    for t in range(6):
        with sg.scope("loop", step=t):
            hidden = cell(inputs[t], hidden)
        states.append(hidden)
    loop_loss = (states[-1] ** 2).sum() + states[2].sum()
    for name in fused:
        by_step = weight_grad_contributions(loop_loss, getattr(cell, name.removesuffix("_l0")))
        assert sorted(by_step) == sorted(fused[name]) == list(range(6))
        for step in range(6):
            np.testing.assert_allclose(fused[name][step], by_step[step], rtol=1e-12, atol=1e-15,
                                       err_msg=f"{name} step {step}")
    assert np.all(fused["weight_hh_l0"][0] == 0)      # h_0 = 0: the first step adds nothing to W_hh
    assert np.linalg.norm(fused["weight_ih_l0"][0]) > 0


def test_uses_outside_the_steps_and_grads_left_alone(float64):
    sg.manual_seed(3)
    lstm, readout = nn.LSTM(2, 3), nn.Linear(3, 1)
    output, _ = lstm(sg.randn(4, 1, 2))
    loss = (readout(output[-1]) ** 2).sum()
    lstm.weight_hh_l0.grad = np.full((12, 3), 7.0)
    terms = weight_grad_contributions(loss, readout.weight)
    assert list(terms) == [None]                        # used once, after the steps
    assert np.all(lstm.weight_hh_l0.grad == 7.0) and readout.weight.grad is None
    loss.backward()
    np.testing.assert_allclose(terms[None], readout.weight.grad, rtol=1e-14)


def test_errors_say_what_is_wrong(float64):
    sg.manual_seed(4)
    layer, other = nn.RNN(2, 3), nn.Linear(2, 2)
    output, _ = layer(sg.randn(3, 1, 2))
    loss = output.sum()
    with pytest.raises(ValueError, match="weight is not used by the graph"):
        weight_grad_contributions(loss, other.weight)
    with pytest.raises(TypeError, match="expected a parameter Tensor"):
        weight_grad_contributions(loss, np.zeros(3))
    loss.backward()
    with pytest.raises(RuntimeError, match="freed them"):
        weight_grad_contributions(loss, layer.weight_hh_l0)
