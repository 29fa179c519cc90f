"""Exercises of notebook 04 (gates): the reset-before GRU step, and the parameter counts of LSTM and GRU."""

from __future__ import annotations

import numpy as np

from ..nn import GRU, LSTM, GRUCell
from ..tensor import Tensor
from .core import Wrong, as_array, call, close, exercise, largest_difference

COUNT_INPUT, COUNT_HIDDEN, COUNT_LAYERS = 10, 32, 2


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-u))


@exercise("gru_reset_before", "04", """
    Write one step of the GRU of Cho et al. (2014), reset="before", in numpy:
    `step(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh) -> new_hidden` with x (B, D),
    hidden (B, H), weights stored as PyTorch stores them (weight_ih (3H, D), weight_hh (3H, H),
    biases (3H,), blocks in the order r, z, n), and h_t = (1 - z) ⊙ n + z ⊙ h_(t-1).
    The reset gate multiplies h_(t-1) BEFORE the candidate's recurrent product:
    n = tanh(W_in x + b_in + W_hn (r ⊙ h_(t-1)) + b_hn). (docs/EQUATIONS.md, "GRU")
    """, hint="slice each (3H, ·) weight into its r, z, n blocks; r and z are sigmoids of x W_iᵀ + b_i + h W_hᵀ + b_h "
            "(batch in rows); then n uses (r * hidden) @ W_hnᵀ")
def _gru_reset_before(step) -> str:
    rng = np.random.default_rng(11)
    batch, features, size = 3, 4, 5
    cell = GRUCell(features, size, reset="before", dtype=np.float64)
    weights = {name: rng.normal(0.0, 0.5, getattr(cell, name).shape)
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    for name, value in weights.items():
        getattr(cell, name).data = value.copy()
    x, hidden = rng.normal(size=(batch, features)), rng.normal(0.0, 0.5, (batch, size))
    expected = cell(Tensor(x), Tensor(hidden)).data
    got = as_array(call(step, x, hidden, *weights.values()), (batch, size), "new_hidden")
    if close(got, expected):
        return "equal to GRUCell(reset='before') to float64 rounding"
    cell.reset = "after"
    if close(got, cell(Tensor(x), Tensor(hidden)).data):
        raise Wrong("that is PyTorch's reset-after GRU: r multiplies (W_hn h + b_hn); here it multiplies h first")
    cell.reset = "before"
    flipped = _flipped_update(x, hidden, **weights)
    if close(got, flipped):
        raise Wrong("z is the share of the OLD state kept (seqgrad, PyTorch, Cho et al.): h_t = (1 - z) ⊙ n + z ⊙ h; "
                    "you wrote the diagrams' z' = 1 - z")
    raise Wrong(f"new_hidden differs from GRUCell(reset='before'): {largest_difference(got, expected)}")


def _flipped_update(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh) -> np.ndarray:
    size = hidden.shape[1]
    gates_x = x @ weight_ih.T + bias_ih
    gates_h = hidden @ weight_hh[:2 * size].T + bias_hh[:2 * size]
    reset, update = np.split(_sigmoid(gates_x[:, :2 * size] + gates_h), 2, axis=1)
    candidate = np.tanh(gates_x[:, 2 * size:] + (reset * hidden) @ weight_hh[2 * size:].T + bias_hh[2 * size:])
    return update * candidate + (1 - update) * hidden


@exercise("parameter_counts", "04", f"""
    Predict, without building them, the number of parameters of a {COUNT_LAYERS}-layer LSTM and of a
    {COUNT_LAYERS}-layer GRU, each with input_size {COUNT_INPUT} and hidden_size {COUNT_HIDDEN}
    (PyTorch's layout: weight_ih, weight_hh, bias_ih, bias_hh per layer). Answer with a dict
    {{"lstm": ..., "gru": ...}}; then say what fraction of the LSTM's the GRU has.
    """, hint="per layer: G·H·(D_in + H + 2) with G = 4 (LSTM) or 3 (GRU) gate blocks and two bias vectors; "
            "layer 2's input is layer 1's output, so its D_in is H")
def _parameter_counts(answer) -> str:
    if not isinstance(answer, dict) or set(answer) != {"lstm", "gru"}:
        raise Wrong(f"expected a dict with keys 'lstm' and 'gru', got {answer!r}")
    expected = {name: sum(param.size for param in layer(COUNT_INPUT, COUNT_HIDDEN, COUNT_LAYERS).parameters())
                for name, layer in (("lstm", LSTM), ("gru", GRU))}
    for name, gates in (("lstm", 4), ("gru", 3)):
        got = answer[name]
        if not isinstance(got, (int, np.integer)) or got != expected[name]:
            same_input = COUNT_LAYERS * gates * COUNT_HIDDEN * (COUNT_INPUT + COUNT_HIDDEN + 2)
            no_bias_second = expected[name] - COUNT_LAYERS * gates * COUNT_HIDDEN
            if got == no_bias_second:
                raise Wrong(f"{name}: {got} counts one bias vector per layer; PyTorch's layout has two "
                            "(bias_ih and bias_hh)")
            if got == same_input:
                raise Wrong(f"{name}: {got} gives layer 2 the input size {COUNT_INPUT}; it reads layer 1's "
                            f"{COUNT_HIDDEN} outputs")
            raise Wrong(f"{name}: {got!r} is not its parameter count")
    ratio = expected["gru"] / expected["lstm"]
    return (f"LSTM {expected['lstm']:,}, GRU {expected['gru']:,}: the GRU has {ratio:.0%} of the LSTM's "
            "(3 gate blocks of 4)")
