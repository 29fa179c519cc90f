"""A cell zoo: recurrent cells from the literature, each written as a custom cell from primitive
ops in under 30 lines. `nn.Recurrent(lambda size: PeepholeLSTMCell(size, 64), input_size=32)`
unrolls, stacks, reverses, masks and draws any of them; docs/CELLS.md gives the equations."""

from __future__ import annotations

import numpy as np

from .. import ops
from . import init
from .cells import Cell, GatedCell, LSTMCell, uniform_parameter
from .layers import LayerNorm
from .module import Parameter


class LayerNormLSTMCell(GatedCell):
    """Layer-normalised LSTM (Ba et al. 2016, eq. 20-22), gate order i, f, g, o:
        gates = LN(W_ih x_t) + LN(W_hh h_{t-1}) + b_ih + b_hh      (LN over all 4H pre-activations)
        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(LN(c_t))"""

    gates = 4
    state_names = ("hidden", "cell")
    gate_names = LSTMCell.gate_names

    def __init__(self, input_size: int, hidden_size: int, eps: float = 1e-5, dtype=None) -> None:
        super().__init__(input_size, hidden_size, True, dtype)
        self.norm_input = LayerNorm(4 * hidden_size, eps, dtype=self.weight_ih.dtype)
        self.norm_hidden = LayerNorm(4 * hidden_size, eps, dtype=self.weight_ih.dtype)
        self.norm_cell = LayerNorm(hidden_size, eps, dtype=self.weight_ih.dtype)

    def project_inputs(self, inputs):
        """LN(W_ih x_t) + b for all steps at once: each row is normalised on its own."""
        return self.norm_input(ops.linear(inputs, self.weight_ih)) + (self.bias_ih + self.bias_hh)

    def step(self, x, state, recurrent_mask=None):
        hidden, cell_state = state
        if recurrent_mask is not None:
            hidden = hidden * recurrent_mask
        gates = x + self.norm_hidden(ops.linear(hidden, self.weight_hh))
        i, f, g, o = gates.split(self.hidden_size, axis=1)
        cell_state = f.sigmoid() * cell_state + i.sigmoid() * g.tanh()
        hidden = o.sigmoid() * self.norm_cell(cell_state).tanh()
        return hidden, (hidden, cell_state)


class PeepholeLSTMCell(GatedCell):
    """LSTM whose gates also see the cell state (Gers & Schmidhuber 2000), gate order i, f, g, o:
        i = σ(W_i·[x, h] + p_i ⊙ c_{t-1}),  f = σ(W_f·[x, h] + p_f ⊙ c_{t-1}),  g = tanh(W_g·[x, h])
        c_t = f ⊙ c_{t-1} + i ⊙ g,  o = σ(W_o·[x, h] + p_o ⊙ c_t),  h_t = o ⊙ tanh(c_t)"""

    gates = 4
    state_names = ("hidden", "cell")
    gate_names = LSTMCell.gate_names

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)
        for name in ("peephole_input", "peephole_forget", "peephole_output"):
            setattr(self, name, uniform_parameter((hidden_size,), hidden_size, self.weight_ih.dtype))

    def step(self, x, state, recurrent_mask=None):
        hidden, cell_state = state
        if recurrent_mask is not None:
            hidden = hidden * recurrent_mask
        i, f, g, o = self._recurrent(hidden, x).split(self.hidden_size, axis=1)
        input_gate = (i + self.peephole_input * cell_state).sigmoid()
        forget_gate = (f + self.peephole_forget * cell_state).sigmoid()
        cell_state = forget_gate * cell_state + input_gate * g.tanh()
        output_gate = (o + self.peephole_output * cell_state).sigmoid()
        hidden = output_gate * cell_state.tanh()
        return hidden, (hidden, cell_state)


class IndRNNCell(Cell):
    """Independently recurrent network (Li et al. 2018): each unit sees only its own past,
        h_t = relu(W_ih x_t + b_ih + u ⊙ h_{t-1})        (u = weight_hh, a vector of H)
    u starts in U(0, 1), so no unit's state grows through the recurrence at the start."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "relu", dtype=None) -> None:
        super().__init__()
        if nonlinearity not in ("relu", "tanh"):
            raise ValueError(f"IndRNNCell: nonlinearity must be 'relu' or 'tanh', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.weight_ih = uniform_parameter((hidden_size, input_size), hidden_size, dtype)
        self.bias_ih = uniform_parameter((hidden_size,), hidden_size, dtype)
        self.weight_hh = init.uniform_(Parameter(np.empty(hidden_size, self.weight_ih.dtype)), 0.0, 1.0)

    def project_inputs(self, inputs):
        return ops.linear(inputs, self.weight_ih, self.bias_ih)

    def step(self, x, state):
        pre_activation = x + self.weight_hh * state[0]
        hidden = pre_activation.relu() if self.nonlinearity == "relu" else pre_activation.tanh()
        return hidden, (hidden,)


class MogrifierLSTMCell(GatedCell):
    """Mogrifier LSTM (Melis et al. 2020): before each LSTM step, x and h gate each other in turn,
        x ← 2σ(Q^k h) ⊙ x   (odd rounds k),   h ← 2σ(R^k x) ⊙ h   (even rounds k),   k = 1..rounds,
    then the LSTM equations run on the mogrified x and h. Q^k: (D, H), R^k: (H, D)."""

    gates = 4
    state_names = ("hidden", "cell")
    gate_names = LSTMCell.gate_names

    def __init__(self, input_size: int, hidden_size: int, rounds: int = 5, bias: bool = True, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)
        self.rounds = rounds
        for k in range(1, rounds + 1):
            shape = (input_size, hidden_size) if k % 2 else (hidden_size, input_size)
            setattr(self, f"mogrifier_{'q' if k % 2 else 'r'}{k}", uniform_parameter(shape, hidden_size,
                                                                                    self.weight_ih.dtype))

    def project_inputs(self, inputs):
        return inputs  # x is mogrified by h_{t-1} at every step: nothing can be projected ahead

    def step(self, x, state, recurrent_mask=None):
        hidden, cell_state = state
        if recurrent_mask is not None:
            hidden = hidden * recurrent_mask
        for k in range(1, self.rounds + 1):
            if k % 2:
                x = 2.0 * ops.linear(hidden, getattr(self, f"mogrifier_q{k}")).sigmoid() * x
            else:
                hidden = 2.0 * ops.linear(x, getattr(self, f"mogrifier_r{k}")).sigmoid() * hidden
        bias = self._input_bias()
        projected = ops.linear(x, self.weight_ih) if bias is None else ops.linear(x, self.weight_ih, bias)
        i, f, g, o = self._recurrent(hidden, projected).split(self.hidden_size, axis=1)
        cell_state = f.sigmoid() * cell_state + i.sigmoid() * g.tanh()
        hidden = o.sigmoid() * cell_state.tanh()
        return hidden, (hidden, cell_state)


class MinGRUCell(Cell):
    """minGRU (Feng et al. 2024), sequential form: the gates do not see h_{t-1},
        z_t = σ(W_z x_t + b_z),  h̃_t = W_h x_t + b_h,  h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
    so every step's z and h̃ come from one input projection (weight_ih rows: z, then h̃). No
    weight meets h_{t-1}, so recurrent dropout has nothing to drop here."""

    gate_names = ("update_gate", "candidate")
    masks_recurrent = True

    def __init__(self, input_size: int, hidden_size: int, dtype=None) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = uniform_parameter((2 * hidden_size, input_size), hidden_size, dtype)
        self.bias_ih = uniform_parameter((2 * hidden_size,), hidden_size, dtype)

    def project_inputs(self, inputs):
        return ops.linear(inputs, self.weight_ih, self.bias_ih)

    def step(self, x, state, recurrent_mask=None):
        (hidden,) = state
        update_gate, candidate = x[:, :self.hidden_size].sigmoid(), x[:, self.hidden_size:]
        hidden = hidden + update_gate * (candidate - hidden)
        return hidden, (hidden,)


class CIFGLSTMCell(GatedCell):
    """Coupled input-forget gate LSTM (Greff et al. 2017): the input gate is 1 - f, so three
    blocks, gate order f, g, o:
        f, o = σ(W·[x, h] + b),  g = tanh(W_g·[x, h] + b_g)
        c_t = f ⊙ c_{t-1} + (1 - f) ⊙ g,   h_t = o ⊙ tanh(c_t)"""

    gates = 3
    state_names = ("hidden", "cell")
    gate_names = ("forget_gate", "candidate", "output_gate")

    def step(self, x, state, recurrent_mask=None):
        hidden, cell_state = state
        if recurrent_mask is not None:
            hidden = hidden * recurrent_mask
        f, g, o = self._recurrent(hidden, x).split(self.hidden_size, axis=1)
        forget_gate, candidate = f.sigmoid(), g.tanh()
        cell_state = candidate + forget_gate * (cell_state - candidate)
        hidden = o.sigmoid() * cell_state.tanh()
        return hidden, (hidden, cell_state)


CELLS = (LayerNormLSTMCell, PeepholeLSTMCell, IndRNNCell, MogrifierLSTMCell, MinGRUCell, CIFGLSTMCell)
