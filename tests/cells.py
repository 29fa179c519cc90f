"""Cells written in the tests from primitives, shared by every test that needs a custom cell:
the README's MinimalGatedUnit (it masks its own recurrent input), a peephole LSTM (two state
components, an output that is not its hidden state, dropout masked by the layer), and a cell
with its own project_inputs."""

import numpy as np

import seqgrad as sg
from seqgrad import nn, ops


class MinimalGatedUnit(nn.Cell):
    """The README's cell: f = σ(W_f [h, x] + b_f); h̃ = tanh(W_h [f ⊙ h, x] + b_h); h' = h + f ⊙ (h̃ - h)."""

    state_names = ("hidden",)
    masks_recurrent = True

    def __init__(self, input_size, hidden_size, dtype=np.float64):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.forget = nn.Linear(input_size + hidden_size, hidden_size, dtype=dtype)
        self.candidate = nn.Linear(input_size + hidden_size, hidden_size, dtype=dtype)

    def step(self, x, state, recurrent_mask=None):
        (hidden,) = state
        dropped = hidden if recurrent_mask is None else hidden * recurrent_mask
        forget_gate = self.forget(sg.concat([dropped, x], axis=1)).sigmoid()
        candidate = self.candidate(sg.concat([forget_gate * dropped, x], axis=1)).tanh()
        hidden = hidden + forget_gate * (candidate - hidden)
        return hidden, (hidden,)


class PeepholeLSTM(nn.Cell):
    """Two state components; gates look at the cell state; the output is hidden/2 + relu."""

    state_names = ("hidden", "cell")

    def __init__(self, input_size, hidden_size, dtype=np.float64):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.gates = nn.Linear(input_size + hidden_size, 4 * hidden_size, dtype=dtype)
        self.peephole = nn.Parameter(np.full((3, hidden_size), 0.1, dtype=dtype))

    def step(self, x, state):
        hidden, cell_state = state
        i, f, g, o = self.gates(sg.concat([x, hidden], axis=1)).split(self.hidden_size, axis=1)
        peep_i, peep_f, peep_o = self.peephole.split(1, axis=0)
        input_gate = (i + peep_i * cell_state).sigmoid()
        forget_gate = (f + peep_f * cell_state).sigmoid()
        cell_state = forget_gate * cell_state + input_gate * g.tanh()
        output_gate = (o + peep_o * cell_state).sigmoid()
        hidden = output_gate * cell_state.tanh()
        return hidden * 0.5 + hidden.relu(), (hidden, cell_state)


class ProjectedCell(nn.Cell):
    """Its own project_inputs (a scaled, shifted linear map of all steps at once); a
    multiplicative-integration step h' = tanh(α ⊙ p ⊙ (h W_hhᵀ) + p + h W_hhᵀ)."""

    def __init__(self, input_size, hidden_size, dtype=np.float64):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        rng = np.random.default_rng(3)
        self.weight_in = nn.Parameter(rng.uniform(-0.5, 0.5, (hidden_size, input_size)).astype(dtype))
        self.weight_hh = nn.Parameter(rng.uniform(-0.5, 0.5, (hidden_size, hidden_size)).astype(dtype))
        self.alpha = nn.Parameter(np.full(hidden_size, 0.7, dtype))

    def project_inputs(self, inputs):
        steps, batch, features = inputs.shape
        flat = ops.linear(inputs.reshape(steps * batch, features), self.weight_in)
        return (flat * 2.0 - 0.1).reshape(steps, batch, self.hidden_size)

    def step(self, x, state):
        (hidden,) = state
        recurrent = ops.matmul(hidden, self.weight_hh.T)
        hidden = (self.alpha * x * recurrent + x + recurrent).tanh()
        return hidden, (hidden,)
