"""Cells that read their values through column slices in awkward ways compile to what eager
computes (float64, 1e-12): part of the input, one value sliced twice, overlapping slices,
duplicated slices, a new state that is a slice, a weight's rows, a state passed on unchanged.
These are the shapes the column-block rewrite (compiler/blocks.py), the slice-gradient assembly
and the state slots must get right."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn, ops
from tests.compiler.eager_vs_compiled import assert_compiled_equals_eager

H = 4


class _Cell(nn.Cell):
    """A cell with small random parameters given by shape."""

    def __init__(self, input_size, hidden_size, **shapes):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        rng = np.random.default_rng(len(shapes))
        for name, shape in shapes.items():
            setattr(self, name, nn.Parameter(rng.uniform(-0.6, 0.6, shape)))


class PartOfTheInput(_Cell):
    """Reads only the first H columns of a wider input."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(hidden_size, hidden_size))

    def step(self, x, state):
        (hidden,) = state
        hidden = (x[:, :H] + ops.matmul(hidden, self.weight.T)).tanh()
        return hidden, (hidden,)


class TwoSlicesOneGradient(_Cell):
    """Both halves of the input get the same gradient, which the weight's gradient needs too."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(hidden_size, hidden_size))

    def step(self, x, state):
        (hidden,) = state
        hidden = (x[:, :H] + x[:, H:] + ops.matmul(hidden, self.weight.T)).tanh()
        return hidden, (hidden,)


class TwoSlicesProjected(TwoSlicesOneGradient):
    """The same with its own project_inputs (a plain linear map)."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.weight_in = nn.Parameter(np.random.default_rng(5).uniform(-0.6, 0.6, (2 * hidden_size, input_size)))

    def project_inputs(self, inputs):
        steps, batch, features = inputs.shape
        return ops.linear(inputs.reshape(steps * batch, features), self.weight_in).reshape(steps, batch, 2 * H)


class ReadThroughAView(_Cell):
    """`tanh(u * x)` is read through one slice: after narrowing, backward reads x only via a view."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(2 * hidden_size, hidden_size))

    def step(self, x, state):
        (hidden,) = state
        squashed = (x + ops.matmul(hidden, self.weight.T)).sigmoid()
        mixed = (squashed * x).tanh()
        hidden = squashed[:, :H] * hidden + mixed[:, H:]
        return hidden, (hidden,)


class DuplicatedAndOverlapping(_Cell):
    """A slice read twice, a value read by overlapping slices, a per-column scale, a projection."""

    gate_names = ("first", "second", "third")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(3 * hidden_size, hidden_size), bias=(3 * hidden_size,),
                         scale=(1, 3 * hidden_size), weight_in=(3 * hidden_size, input_size))

    def project_inputs(self, inputs):
        steps, batch, features = inputs.shape
        return ops.linear(inputs.reshape(steps * batch, features), self.weight_in).reshape(steps, batch, 3 * H)

    def step(self, x, state):
        (hidden,) = state
        gates = ops.linear(hidden, self.weight, self.bias)
        squashed = (x * self.scale + gates * 0.5).sigmoid()
        mixed = (squashed * gates - x).tanh()
        low, high = mixed[:, :2 * H], mixed[:, H:]
        first, last, again = squashed[:, :H], squashed[:, 2 * H:], squashed[:, 2 * H:]
        hidden = first * hidden + low[:, H:] * high[:, H:] + last * again
        return hidden, (hidden,)


class StateIsASlice(_Cell):
    """The output and a new state are a column slice of one value."""

    state_names = ("hidden", "cell")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(2 * hidden_size, input_size + hidden_size))

    def step(self, x, state):
        hidden, cell_state = state
        both = ops.linear(sg.concat([x, hidden], axis=1), self.weight).tanh()
        return both[:, :H], (both[:, :H], both[:, H:] * 0.5 + cell_state)


class RowsOfAWeight(_Cell):
    """A linear over rows of a bigger weight, its output read gate by gate."""

    gate_names = ("first", "second")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, big=(3 * hidden_size, hidden_size), bias=(3 * hidden_size,),
                         weight_x=(2 * hidden_size, input_size))

    def step(self, x, state):
        (hidden,) = state
        gates = (ops.linear(hidden, self.big[H:], self.bias[H:]) + ops.matmul(x, self.weight_x.T)).sigmoid()
        hidden = gates[:, :H] * hidden + gates[:, H:]
        return hidden, (hidden,)


class ReadWholeAndSliced(_Cell):
    """`pre` read whole (its tanh) and as a slice; the sigmoid read by overlapping slices."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(4 * hidden_size, input_size + hidden_size))

    def step(self, x, state):
        (hidden,) = state
        pre = ops.matmul(sg.concat([x, hidden], axis=1), self.weight.T)
        whole = pre.tanh()
        gates = (pre * 2.0).sigmoid()
        low, middle = gates[:, :2 * H], gates[:, H:3 * H]
        hidden = whole[:, :H] * pre[:, 3 * H:] + (low[:, H:] - middle[:, :H])
        return hidden, (hidden,)


class StatePassedOn(_Cell):
    """A second state the step passes on unchanged (a memory only the first state reads)."""

    state_names = ("hidden", "memory")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(hidden_size, input_size + hidden_size))

    def step(self, x, state):
        hidden, memory = state
        hidden = ops.linear(sg.concat([x, hidden], axis=1), self.weight).tanh() + memory
        return hidden, (hidden, memory)


class LocalsNamedLikeTheGeneratedCode(_Cell):
    """Its locals take the names the generated source uses for itself (the forward's `inputs` and
    `outputs`, a state's buffer `hidden_states`): the trace must name its values otherwise."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, weight=(hidden_size, input_size),
                         weight_hh=(hidden_size, hidden_size))

    def step(self, x, state):
        (hidden,) = state
        inputs = ops.linear(x, self.weight)
        hidden_states = ops.linear(hidden, self.weight_hh)
        outputs = (inputs + hidden_states).tanh()
        return outputs, (outputs,)


CELLS = {  # cell, input features
    "part of the input": (PartOfTheInput, 3 * H),
    "two slices, one gradient": (TwoSlicesOneGradient, 2 * H),
    "two slices, projected": (TwoSlicesProjected, 3),
    "read through a view": (ReadThroughAView, 2 * H),
    "duplicated and overlapping": (DuplicatedAndOverlapping, 3),
    "state is a slice": (StateIsASlice, 3),
    "rows of a weight": (RowsOfAWeight, 3),
    "read whole and sliced": (ReadWholeAndSliced, 3),
    "a state passed on": (StatePassedOn, 3),
    "locals named like the generated code": (LocalsNamedLikeTheGeneratedCode, 3),
}


@pytest.mark.parametrize("batch", [1, 3, 32])
@pytest.mark.parametrize("name", list(CELLS))
def test_a_sliced_cell_compiles_to_what_eager_computes(name, batch):
    cell_type, features = CELLS[name]
    layer = nn.Recurrent(lambda size: cell_type(size, H), features, bidirectional=True)
    x = np.random.default_rng(1).standard_normal((5, batch, features))
    assert_compiled_equals_eager(layer, x)
