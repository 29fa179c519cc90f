"""Property: however a cell's step slices its values (H-wide column slices at any offset, disjoint,
overlapping, repeated, some columns never read, through an activation or not, from a projected
input or not, a state that is a slice, sequences of other lengths), the compiled layer computes
what the eager layer computes, gradients included."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqgrad as sg
from seqgrad import nn, ops
from tests.compiler.eager_vs_compiled import assert_compiled_equals_eager

H = 3
ACTIVATIONS = {"none": lambda v: v, "sigmoid": lambda v: v.sigmoid(), "tanh": lambda v: v.tanh()}


def sliced_cell(blocks: int, offsets: list[int], activation: str, projected: bool, state_is_slice: bool):
    """A cell whose pre-activation is `blocks` H-wide blocks wide, read as H-wide slices at `offsets`;
    with `state_is_slice`, its second state is the first slice itself (a view)."""
    width = blocks * H

    class Sliced(nn.Cell):
        gate_names = tuple(f"gate_{k}" for k in range(blocks))
        state_names = ("hidden", "memory") if state_is_slice else ("hidden",)

        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.input_size, self.hidden_size = input_size, hidden_size
            rng = np.random.default_rng(blocks * 7 + len(offsets))
            self.weight_hh = nn.Parameter(rng.uniform(-0.5, 0.5, (width, hidden_size)))
            self.bias = nn.Parameter(rng.uniform(-0.5, 0.5, width))
            self.weight_in = nn.Parameter(rng.uniform(-0.5, 0.5, (width, input_size)))

        if projected:
            def project_inputs(self, inputs):
                steps, batch, features = inputs.shape
                flat = ops.linear(inputs.reshape(steps * batch, features), self.weight_in)
                return flat.reshape(steps, batch, width)

        def step(self, x, state):
            hidden = state[0]
            inputs = x if projected else ops.linear(x, self.weight_in)
            pre = inputs + ops.linear(hidden, self.weight_hh, self.bias)
            value = ACTIVATIONS[activation](pre)
            total = hidden * 0.5
            for k, offset in enumerate(offsets):
                piece = value[:, offset:offset + H]
                total = total + piece * (k + 1.0) if k % 2 == 0 else total * piece
            hidden = total.tanh()
            if state_is_slice:
                return hidden, (hidden + state[1] * 0.5, value[:, offsets[0]:offsets[0] + H])
            return hidden, (hidden,)

    return Sliced


@st.composite
def cells(draw):
    blocks = draw(st.integers(2, 4))
    offsets = draw(st.lists(st.integers(0, blocks * H - H), min_size=1, max_size=4))
    aligned = draw(st.booleans())
    if aligned:  # on gate boundaries, as real cells slice
        offsets = [offset - offset % H for offset in offsets]
    return (blocks, offsets, draw(st.sampled_from(sorted(ACTIVATIONS))), draw(st.booleans()), draw(st.booleans()),
            draw(st.sampled_from([1, 2, 5])), draw(st.booleans()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells())
def test_any_slicing_compiles_to_what_eager_computes(case):
    blocks, offsets, activation, projected, state_is_slice, batch, with_lengths = case
    cell_type = sliced_cell(blocks, offsets, activation, projected, state_is_slice)
    layer = nn.Recurrent(lambda size: cell_type(size, H), 2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((4, batch, 2))
    lengths = [4, 0, 2, 3, 1][:batch] if with_lengths else None
    sg.manual_seed(0)
    assert_compiled_equals_eager(layer, x, lengths=lengths)
