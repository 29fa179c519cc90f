"""Gate activations read from the graph, and the matplotlib plots built on them and on
gradient norms (rendered off screen)."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.bptt import hidden_grad_norms
from seqgrad.viz import gate_activations, plot_gate_saturation, plot_gradient_flow, plot_parameter_grad_norms
from seqgrad.viz.plots import distance_back, saturated_fraction
from tests.nn.reference import sigmoid

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402


def test_lstm_gate_activations_match_the_equations(float64):
    sg.manual_seed(0)
    lstm = nn.LSTM(2, 3, dtype=np.float64)
    x = sg.randn(4, 2, 2)
    output, _ = lstm(x)
    gates = gate_activations(output.sum())
    assert list(gates) == ["input", "forget", "candidate", "output"]
    w_ih, w_hh = lstm.weight_ih_l0.data, lstm.weight_hh_l0.data
    bias = lstm.bias_ih_l0.data + lstm.bias_hh_l0.data
    hidden, cell = np.zeros((2, 3)), np.zeros((2, 3))
    expected = {name: [] for name in gates}
    for t in range(4):
        pre = x.data[t] @ w_ih.T + hidden @ w_hh.T + bias
        i, f, g, o = sigmoid(pre[:, :3]), sigmoid(pre[:, 3:6]), np.tanh(pre[:, 6:9]), sigmoid(pre[:, 9:])
        cell = f * cell + i * g
        hidden = o * np.tanh(cell)
        for name, value in zip(gates, (i, f, g, o)):
            expected[name].append(value.reshape(-1))
    for name, values in gates.items():
        np.testing.assert_allclose(values, np.concatenate(expected[name]), rtol=1e-12)


def test_gru_gates_are_named_and_freed_activations_are_reported():
    sg.manual_seed(0)
    output, _ = nn.GRU(2, 3)(sg.randn(3, 1, 2))
    loss = output.sum()
    gates = gate_activations(loss)
    assert {"reset", "update"} <= set(gates) and all(values.size == 3 * 3 for values in gates.values())
    assert all(((values > 0) & (values < 1)).all() for name, values in gates.items() if name in ("reset", "update"))
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        gate_activations(loss)


def test_saturation_counts_activations_near_their_limits():
    assert saturated_fraction(np.array([0.01, 0.5, 0.99, 0.3]), "forget") == 0.5
    assert saturated_fraction(np.array([-0.99, 0.0, 0.2, 0.97]), "candidate") == 0.5


def test_distance_back_in_time_depends_on_the_direction():
    norms = np.array([1.0, 2.0, np.nan, 4.0])
    np.testing.assert_array_equal(distance_back(norms, "forward")[0], [0, 2, 3])
    np.testing.assert_array_equal(distance_back(norms, "forward")[1], [4.0, 2.0, 1.0])
    np.testing.assert_array_equal(distance_back(norms, "backward")[0], [0, 1, 3])


def test_plots_draw_one_line_or_bar_group_per_model():
    flows, modules, gates = {}, {}, {}
    for label, make in (("tanh RNN", nn.RNN), ("LSTM", nn.LSTM)):
        sg.manual_seed(0)
        layer = make(2, 4)
        output, _ = layer(sg.randn(8, 2, 2))
        loss = (output[-1] ** 2).sum()
        if label == "LSTM":
            gates = gate_activations(loss)
        with sg.viz.record():
            loss.backward()
        flows[label], modules[label] = hidden_grad_norms(loss), layer
    axes = Figure().subplots(1, 3)
    plot_gradient_flow(flows, ax=axes[0])
    assert [line.get_label() for line in axes[0].get_lines()] == ["tanh RNN", "LSTM"]
    assert axes[0].get_yscale() == "log"
    plot_parameter_grad_norms(modules, ax=axes[1])
    assert len(axes[1].patches) == 2 * 4 and axes[1].get_xscale() == "log"
    plot_gate_saturation(gates, ax=axes[2])
    assert len(axes[2].patches) == 4 and "saturated" in axes[2].get_legend().get_texts()[0].get_text()


def test_parameter_plot_needs_gradients():
    sg.manual_seed(0)
    with pytest.raises(RuntimeError, match="no gradients yet"):
        plot_parameter_grad_norms(nn.RNN(2, 3), ax=Figure().subplots())
