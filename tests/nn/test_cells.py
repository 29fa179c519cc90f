"""Cells against the equations of docs/EQUATIONS.md and PyTorch's calling conventions."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from tests.nn.reference import gru_step, lstm_step, rnn_step

F64 = np.float64


def _params(cell):
    return [getattr(cell, name).data for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def test_elman_worked_example_from_equations():
    cell = nn.RNNCell(2, 2, dtype=F64)
    cell.load_state_dict({
        "weight_ih": np.array([[0.4, -0.1], [0.2, 0.5]]), "weight_hh": np.array([[0.3, 0.1], [-0.2, 0.4]]),
        "bias_ih": np.array([0.1, -0.2]), "bias_hh": np.zeros(2)})
    expected = [[0.42189901, 0.24491866], [0.24591629, 0.24828814], [-0.06131927, 0.26374766]]
    hidden = None
    for x, want in zip([[1.0, 0.5], [0.2, 0.8], [-0.4, 1.0]], expected):
        hidden = cell(sg.Tensor(np.array(x)), hidden)
        np.testing.assert_allclose(hidden.data, want, atol=1e-8)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_equation(nonlinearity):
    rng = np.random.default_rng(1)
    cell = nn.RNNCell(3, 4, nonlinearity=nonlinearity, dtype=F64)
    x, h = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    out = cell(sg.Tensor(x), sg.Tensor(h))
    np.testing.assert_allclose(out.data, rnn_step(x, h, *_params(cell), nonlinearity), rtol=1e-12)


def test_lstm_cell_matches_equation_and_returns_pair():
    rng = np.random.default_rng(2)
    cell = nn.LSTMCell(3, 4, dtype=F64)
    x, h, c = rng.standard_normal((5, 3)), rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    h_new, c_new = cell(sg.Tensor(x), (sg.Tensor(h), sg.Tensor(c)))
    want_h, want_c = lstm_step(x, h, c, *_params(cell))
    np.testing.assert_allclose(h_new.data, want_h, rtol=1e-12)
    np.testing.assert_allclose(c_new.data, want_c, rtol=1e-12)


@pytest.mark.parametrize("reset", ["after", "before"])
def test_gru_cell_matches_both_reset_placements(reset):
    rng = np.random.default_rng(3)
    cell = nn.GRUCell(3, 4, reset=reset, dtype=F64)
    x, h = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    out = cell(sg.Tensor(x), sg.Tensor(h))
    np.testing.assert_allclose(out.data, gru_step(x, h, *_params(cell), reset), rtol=1e-12)


def test_reset_placements_differ():
    rng = np.random.default_rng(4)
    after = nn.GRUCell(3, 4, reset="after", dtype=F64)
    before = nn.GRUCell(3, 4, reset="before", dtype=F64)
    before.load_state_dict(after.state_dict())
    x, h = sg.Tensor(rng.standard_normal((2, 3))), sg.Tensor(rng.standard_normal((2, 4)))
    assert not np.allclose(after(x, h).data, before(x, h).data)


def test_state_defaults_to_zeros_and_unbatched_input_works():
    cell = nn.LSTMCell(3, 4, dtype=F64)
    x = np.random.default_rng(5).standard_normal(3)
    h, c = cell(sg.Tensor(x))
    assert h.shape == (4,) and c.shape == (4,)
    want_h, want_c = lstm_step(x[None], np.zeros((1, 4)), np.zeros((1, 4)), *_params(cell))
    np.testing.assert_allclose(h.data, want_h[0], rtol=1e-12)


def test_default_initialisation_is_uniform_within_one_over_sqrt_hidden():
    sg.manual_seed(0)
    cell = nn.LSTMCell(10, 64)
    bound = 1 / np.sqrt(64)
    for param in cell.parameters():
        assert np.abs(param.data).max() <= bound
        assert np.abs(param.data).max() > 0.9 * bound


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(2, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="reset"):
        nn.GRUCell(2, 2, reset="sometimes")
    with pytest.raises(ValueError, match="positive"):
        nn.LSTMCell(0, 2)


@pytest.mark.parametrize("make", [
    lambda: nn.RNNCell(3, 2, dtype=F64), lambda: nn.LSTMCell(3, 2, dtype=F64),
    lambda: nn.GRUCell(3, 2, dtype=F64), lambda: nn.GRUCell(3, 2, reset="before", dtype=F64),
    lambda: nn.LSTMCell(3, 2, bias=False, dtype=F64),
], ids=["rnn", "lstm", "gru", "gru-before", "lstm-nobias"])
def test_cells_gradcheck(make):
    cell = make()
    rng = np.random.default_rng(6)
    x = sg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = sg.Tensor(rng.standard_normal((2, 2)), requires_grad=True)
    state = (h, sg.Tensor(rng.standard_normal((2, 2)), requires_grad=True)) if isinstance(cell, nn.LSTMCell) else h
    params = list(cell.parameters())

    def run(x, *rest):
        return cell(x, state)

    assert sg.gradcheck(run, [x, *params])
    assert sg.gradcheck(lambda h: cell(x, h if not isinstance(state, tuple) else (h, state[1])), [h])


def test_cell_state_is_checked_before_use():
    cell = nn.LSTMCell(3, 4, dtype=F64)
    x = sg.Tensor(np.zeros((2, 3)))
    h, c = cell(x, [np.zeros((2, 4)), np.zeros((2, 4))])  # a list works as in PyTorch
    assert h.shape == (2, 4)
    with pytest.raises(sg.ShapeError, match=r"hidden state must have shape \(2, 4\) for an input batch of 2, "
                                            r"got \(5, 4\)"):
        cell(x, (sg.Tensor(np.zeros((5, 4))), sg.Tensor(np.zeros((5, 4)))))
    with pytest.raises(ValueError, match="2 tensor"):
        cell(x, sg.Tensor(np.zeros((2, 4))))
