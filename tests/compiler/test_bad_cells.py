"""Cells that cannot be compiled get one clear error naming the cell and what to change; nothing
changes, and the eager layer still runs them."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.compiler import TraceError


class Branching(nn.RNNCell):
    masks_recurrent = False

    def step(self, x, state):
        hidden, _ = super().step(x, state)
        if (hidden.sum() > 0):  # a Python branch on values
            hidden = hidden * 2.0
        return hidden, (hidden,)


class NumpyInside(nn.RNNCell):
    masks_recurrent = False

    def step(self, x, state):
        hidden = sg.Tensor(np.tanh(x.data[:, :self.hidden_size] + state[0].data))
        return hidden, (hidden,)


class WrongStates(nn.RNNCell):
    masks_recurrent = False

    def step(self, x, state):
        hidden, _ = super().step(x, state)
        return hidden, (hidden, hidden)


class WrongShape(nn.RNNCell):
    masks_recurrent = False

    def step(self, x, state):
        hidden, _ = super().step(x, state)
        return hidden, (hidden[:, :2],)


@pytest.mark.parametrize("cell_type, message", [
    (Branching, r"Branching\.step (asks for the truth value|compares).*ops\.where"),
    (NumpyInside, r"NumpyInside\.step reads \.data \(numpy on a Tensor's data\)"),
    (WrongStates, r"WrongStates\.step returned 2 state tensor\(s\), but state_names lists 1"),
    (WrongShape, r"WrongShape\.step: the new hidden state must be a \(B, hidden_size\) = \(2, 4\)"),
])
def test_bad_cells_fail_clearly_and_eager_still_runs(cell_type, message):
    layer = nn.Recurrent(lambda size: cell_type(size, 4, dtype=np.float64), 3)
    before = {name: p.data.copy() for name, p in layer.named_parameters()}
    x = sg.Tensor(np.random.default_rng(0).standard_normal((3, 2, 3)))
    with pytest.raises(TraceError, match=message):
        sg.compile(layer)(x)
    for name, param in layer.named_parameters():
        np.testing.assert_array_equal(param.data, before[name])
        assert type(param) is nn.Parameter and param.grad is None
    if cell_type in (Branching, NumpyInside):
        output, _ = layer(x)  # eager still works
        assert output.shape == (3, 2, 4)


def test_two_traces_that_differ_are_refused():
    calls = []

    class Drifting(nn.RNNCell):
        masks_recurrent = False

        def step(self, x, state):
            calls.append(1)
            hidden, _ = super().step(x, state)
            for _ in range(len(calls) % 2):  # a different op list on every trace
                hidden = hidden * 1.0
            return hidden, (hidden,)

    with pytest.raises(TraceError, match="Drifting.step (runs different ops|ran \\d+ ops in one trace)"):
        sg.compiler.trace(Drifting(3, 4), 2)
