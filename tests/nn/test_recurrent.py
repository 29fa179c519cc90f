"""Sequence layers: shapes, lengths semantics, stacking, dropout, gradcheck over configurations."""

import itertools

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from tests.nn.reference import gru_step, lstm_step, rnn_step

F64 = np.float64
KINDS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def _inputs(steps, batch, features, batch_first=False, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    return sg.Tensor(rng.standard_normal(shape), requires_grad=True)


def _states(kind, count, batch, hidden, seed=1):
    rng = np.random.default_rng(seed)
    h0 = sg.Tensor(rng.standard_normal((count, batch, hidden)), requires_grad=True)
    if kind == "LSTM":
        return (h0, sg.Tensor(rng.standard_normal((count, batch, hidden)), requires_grad=True))
    return h0


def _flat(result):
    output, final = result
    return [output, *(final if isinstance(final, tuple) else (final,))]


@pytest.mark.parametrize("kind", KINDS)
def test_single_layer_unrolls_the_equations(kind):
    rng = np.random.default_rng(0)
    layer = KINDS[kind](3, 4, dtype=F64)
    x = rng.standard_normal((5, 2, 3))
    output, final = layer(sg.Tensor(x))
    weights = [layer.state_dict()[f"{name}_l0"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    h, c = np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(5):
        if kind == "LSTM":
            h, c = lstm_step(x[t], h, c, *weights)
        elif kind == "GRU":
            h = gru_step(x[t], h, *weights)
        else:
            h = rnn_step(x[t], h, *weights)
        np.testing.assert_allclose(output.data[t], h, rtol=1e-12)
    h_n = final[0] if kind == "LSTM" else final
    np.testing.assert_allclose(h_n.data[0], h, rtol=1e-12)


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first", [
    (kind, layers, bidirectional, batch_first)
    for kind, layers, bidirectional, batch_first in itertools.product(KINDS, (1, 3), (False, True), (False, True))
])
def test_shapes_follow_pytorch(kind, layers, bidirectional, batch_first):
    layer = KINDS[kind](3, 4, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = sg.randn(2, 5, 3) if batch_first else sg.randn(5, 2, 3)
    output, final = layer(x)
    directions = 2 if bidirectional else 1
    assert output.shape == ((2, 5, 4 * directions) if batch_first else (5, 2, 4 * directions))
    for state in (final if isinstance(final, tuple) else (final,)):
        assert state.shape == (layers * directions, 2, 4)


def test_unbatched_input_as_pytorch():
    layer = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    output, (h, c) = layer(sg.Tensor(x))
    assert output.shape == (5, 8) and h.shape == (4, 4) and c.shape == (4, 4)
    batched, (hb, _) = layer(sg.Tensor(x[:, None, :]))
    np.testing.assert_allclose(output.data, batched.data[:, 0], rtol=1e-12)
    np.testing.assert_allclose(h.data, hb.data[:, 0], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_equal_running_each_sequence_alone(kind, bidirectional):
    layer = KINDS[kind](3, 4, num_layers=2, bidirectional=bidirectional, dtype=F64)
    lengths = [5, 2, 4]
    x = _inputs(5, 3, 3)
    output, final = layer(x, lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    for b, length in enumerate(lengths):
        alone_out, alone_final = layer(sg.Tensor(x.data[:length, b:b + 1]))
        np.testing.assert_allclose(output.data[:length, b], alone_out.data[:, 0], rtol=1e-10, atol=1e-12)
        assert not output.data[length:, b].any(), "outputs past the end must be zero"
        for state, alone in zip(finals, alone_final if isinstance(alone_final, tuple) else (alone_final,)):
            np.testing.assert_allclose(state.data[:, b], alone.data[:, 0], rtol=1e-10, atol=1e-12)


def test_bad_lengths_and_states_raise_clearly():
    layer = nn.LSTM(3, 4, num_layers=2)
    x = sg.randn(5, 2, 3)
    with pytest.raises(ValueError, match="between 0 and the 5"):
        layer(x, lengths=[6, 2])
    with pytest.raises(ValueError, match="between 0 and the 5"):
        layer(x, lengths=[-1, 2])
    with pytest.raises(ValueError, match="3 entries but the batch has 2"):
        layer(x, lengths=[1, 2, 3])
    with pytest.raises(sg.ShapeError, match=r"initial hidden state must have shape \(2, 2, 4\), got \(1, 2, 4\)"):
        layer(x, (sg.zeros(1, 2, 4), sg.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="2 component"):
        layer(x, sg.zeros(2, 2, 4))
    with pytest.raises(sg.ShapeError, match="expected input features 3, got 7"):
        layer(sg.randn(5, 2, 7))
    with pytest.raises(sg.ShapeError, match=r"\(T, B, D\)"):
        layer(sg.randn(5))


def test_dropout_between_layers_only_while_training():
    sg.manual_seed(0)
    layer = nn.GRU(3, 8, num_layers=2, dropout=0.5, dtype=F64)
    x = _inputs(4, 2, 3)
    layer.eval()
    first, _ = layer(x)
    second, _ = layer(x)
    np.testing.assert_array_equal(first.data, second.data)
    layer.train()
    noisy, _ = layer(x)
    assert not np.allclose(noisy.data, first.data)
    single = nn.GRU(3, 8, num_layers=1, dropout=0.5, dtype=F64)  # never after the last layer
    a, _ = single(x)
    b, _ = single(x)
    np.testing.assert_array_equal(a.data, b.data)


def test_recurrent_dropout_one_mask_per_sequence_applied_before_w_hh():
    sg.manual_seed(0)
    layer = nn.RNN(2, 6, recurrent_dropout=0.5, dtype=F64)
    cell = layer.cell(0)
    x = _inputs(4, 3, 2)
    seen = []
    original = cell.step

    def spy(x_t, state, recurrent_mask=None):
        seen.append(recurrent_mask)
        return original(x_t, state, recurrent_mask=recurrent_mask)

    object.__setattr__(cell, "step", spy)
    layer(x)
    assert len(seen) == 4 and all(mask is seen[0] for mask in seen), "one mask for all steps"
    assert set(np.unique(seen[0])) <= {0.0, 2.0} and seen[0].shape == (3, 6)
    first_call_mask = seen[0]
    seen.clear()
    layer(x)
    assert not np.array_equal(seen[0], first_call_mask), "each forward call samples a new mask"
    layer.eval()
    seen.clear()
    layer(x)
    assert all(mask is None for mask in seen)


CONFIGS = [
    (kind, layers, bidirectional, batch_first, give_state, lengths)
    for kind in KINDS
    for layers, bidirectional, batch_first, give_state, lengths in [
        (1, False, False, False, None),
        (1, True, True, True, [3, 1]),
        (2, True, False, True, None),
        (2, False, True, False, [2, 3]),
        (3, True, False, True, [3, 2]),
    ]
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,give_state,lengths", CONFIGS)
def test_layers_gradcheck(kind, layers, bidirectional, batch_first, give_state, lengths):
    """Engine gradients of outputs and final states w.r.t. input, initial state and every
    weight equal float64 finite differences (per element on small configurations)."""
    layer = KINDS[kind](2, 2, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, dtype=F64)
    x = _inputs(3, 2, 2, batch_first)
    state = _states(kind, layers * (2 if bidirectional else 1), 2, 2) if give_state else None
    state_inputs = list(state) if isinstance(state, tuple) else ([state] if state is not None else [])
    params = list(layer.parameters())

    def run(x, *rest):
        return _flat(layer(x, state, lengths=lengths))

    assert sg.gradcheck(run, [x, *state_inputs, *params], max_elements=400 if layers < 3 else 0, directions=4)


def test_train_and_eval_reach_the_cells():
    layer = nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    layer.eval()
    assert not any(layer.cell(k, d).training for k in range(2) for d in range(2))
    layer.train()
    assert all(layer.cell(k, d).training for k in range(2) for d in range(2))
