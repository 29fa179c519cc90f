"""The benchmark's two contenders compute the same thing: the numpy baseline's forward and
BPTT gradients equal seqgrad's LSTM and GRU (float64), and so does one whole training step."""

import numpy as np
import pytest

import seqgrad as sg
from benchmarks.numpy_baseline import (
    TrainingStep,
    gru_backward,
    gru_forward,
    init_recurrent_weights,
    lstm_backward,
    lstm_forward,
)
from seqgrad import nn

STEPS, BATCH, INPUT_SIZE, HIDDEN_SIZE = 6, 3, 5, 4


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_and_every_gradient_match_seqgrad(cell):
    rng = np.random.default_rng(7)
    weights = init_recurrent_weights(cell, INPUT_SIZE, HIDDEN_SIZE, rng, np.float64)
    x = rng.standard_normal((STEPS, BATCH, INPUT_SIZE))
    h0 = rng.standard_normal((BATCH, HIDDEN_SIZE))
    c0 = rng.standard_normal((BATCH, HIDDEN_SIZE))
    upstream = rng.standard_normal((STEPS, BATCH, HIDDEN_SIZE))

    layer = (nn.LSTM if cell == "lstm" else nn.GRU)(INPUT_SIZE, HIDDEN_SIZE, dtype=np.float64)
    layer.load_state_dict({f"{name}_l0": value for name, value in weights.items()})
    x_sg = sg.Tensor(x.copy(), requires_grad=True)
    h0_sg = sg.Tensor(h0[None].copy(), requires_grad=True)
    c0_sg = sg.Tensor(c0[None].copy(), requires_grad=True)
    output, _ = layer(x_sg, (h0_sg, c0_sg) if cell == "lstm" else h0_sg)
    (output * upstream).sum().backward()

    if cell == "lstm":
        theirs, _, cache = lstm_forward(x, h0, c0, weights)
        grads = lstm_backward(upstream, cache)
    else:
        theirs, _, cache = gru_forward(x, h0, weights)
        grads = gru_backward(upstream, cache)
    np.testing.assert_allclose(output.data, theirs, rtol=1e-10, atol=1e-12)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(getattr(layer, f"{name}_l0").grad, grads[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(x_sg.grad, grads["x"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h0_sg.grad[0], grads["h0"], rtol=1e-9, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(c0_sg.grad[0], grads["c0"], rtol=1e-9, atol=1e-12)


def test_training_step_matches_the_benchmarks_seqgrad_step():
    from benchmarks.training_step import SeqgradStep

    rng = np.random.default_rng(3)
    weights = init_recurrent_weights("lstm", INPUT_SIZE, HIDDEN_SIZE, rng, np.float64)
    readout_weight = rng.uniform(-0.3, 0.3, (2, HIDDEN_SIZE))
    readout_bias = rng.uniform(-0.3, 0.3, 2)
    x = rng.standard_normal((STEPS, BATCH, INPUT_SIZE))
    target = rng.standard_normal((STEPS, BATCH, 2))
    baseline = TrainingStep("lstm", weights, readout_weight, readout_bias, 1e-4)
    ours = SeqgradStep("lstm", weights, readout_weight, readout_bias, np.float64)
    for _ in range(3):  # the losses agree step after step, so the updates agree too
        assert ours(x, target) == pytest.approx(baseline(x, target), rel=1e-10)
    np.testing.assert_allclose(ours.layer.weight_hh_l0.data, baseline.parameters["weight_hh"], rtol=1e-10)
