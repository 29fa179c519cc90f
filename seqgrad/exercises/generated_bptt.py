"""Exercises of notebook 09 (the generated BPTT): one iteration of the backward loop, and the buffers it reads."""

from __future__ import annotations

import re

import numpy as np

from ..compiler.layer import compiled_code
from ..tensor import Tensor
from .core import Wrong, as_array, call, close, exercise, largest_difference

_STEPS, _BATCH, _INPUT, _HIDDEN = 6, 2, 3, 4


def _example(seed: int = 9):
    rng = np.random.default_rng(seed)
    weight_ih = rng.normal(0.0, 0.6, (_HIDDEN, _INPUT))
    weight_hh = rng.normal(0.0, 0.6, (_HIDDEN, _HIDDEN))
    bias = rng.normal(0.0, 0.1, _HIDDEN)
    inputs = rng.normal(size=(_STEPS, _BATCH, _INPUT))
    hidden_initial = rng.normal(0.0, 0.5, (_BATCH, _HIDDEN))
    upstream = rng.normal(size=(_STEPS, _BATCH, _HIDDEN))  # ∂L/∂h_t from a loss Σ_t <upstream_t, h_t>
    return weight_ih, weight_hh, bias, inputs, hidden_initial, upstream


def _generated_gradients(weight_ih, weight_hh, bias, inputs, hidden_initial, upstream):
    """dL/dW_hh and dL/dh_0 from the compiled nn.RNN (its backward is the generated code)."""
    from .. import compile as compile_module
    from .. import nn

    layer = nn.RNN(_INPUT, _HIDDEN, dtype=np.float64)
    layer.load_state_dict({"weight_ih_l0": weight_ih, "weight_hh_l0": weight_hh, "bias_ih_l0": bias,
                           "bias_hh_l0": np.zeros(_HIDDEN)})
    initial = Tensor(hidden_initial[None].copy(), requires_grad=True)
    output, _ = compile_module(layer)(Tensor(inputs), initial)
    (output * Tensor(upstream)).sum().backward()
    return layer.weight_hh_l0.grad, initial.grad[0]


def _run_loop(step_backward, weight_ih, weight_hh, bias, inputs, hidden_initial, upstream, checked: bool):
    """The generated backward loop with `step_backward` as its body: (dL/dW_hh, dL/dh_0)."""
    hiddens = [hidden_initial]
    for x in inputs:
        hiddens.append(np.tanh(x @ weight_ih.T + bias + hiddens[-1] @ weight_hh.T))
    d_weight_hh, d_hidden_next = np.zeros_like(weight_hh), np.zeros_like(hidden_initial)
    for t in range(len(inputs) - 1, -1, -1):
        d_hidden = upstream[t] + d_hidden_next
        result = call(step_backward, d_hidden, hiddens[t + 1], weight_hh) if checked else \
            step_backward(d_hidden, hiddens[t + 1], weight_hh)
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise Wrong(f"step_backward should return a pair (d_pre_activation, d_hidden_prev), got "
                        f"{type(result).__name__}" + (f" of length {len(result)}" if isinstance(result, tuple | list)
                                                      else ""))
        d_pre_activation = as_array(result[0], d_hidden.shape, "d_pre_activation")
        d_hidden_next = as_array(result[1], d_hidden.shape, "d_hidden_prev")
        d_weight_hh += d_pre_activation.T @ hiddens[t]
    return d_weight_hh, d_hidden_next


def _variant(slope, carry):
    def step_backward(d_hidden, hidden, weight_hh):
        d_pre_activation = d_hidden * slope(hidden)
        return d_pre_activation, carry(d_pre_activation, weight_hh)

    return step_backward


def _right_carry(delta, weight_hh):
    return delta @ weight_hh


def _right_slope(hidden):
    return 1.0 - hidden**2


_MISTAKES = [
    (_variant(_right_slope, lambda delta, weight_hh: delta @ weight_hh.T),
     "d_hidden_prev = δ_t W_hhᵀ is transposed: with batch rows the generated line is "
     "np.matmul(d_pre_activation, weight_hh), δ_t W_hh (the column form's W_hhᵀ δ_t)"),
    (_variant(lambda hidden: 1.0 - np.tanh(hidden) ** 2, _right_carry),
     "you took tanh of h_t again: the buffer already holds h_t = tanh(a_t), so the slope is 1 - h_t², "
     "as the generated mul and sub lines compute"),
    (_variant(lambda hidden: 1.0 - hidden, _right_carry), "the slope 1 - h_t misses the square: tanh' = 1 - h_t²"),
    (_variant(_right_slope, lambda delta, weight_hh: delta), "d_hidden_prev = δ_t skips the recurrent weight: "
     "h_{t-1} reaches a_t through W_hh, so its gradient is δ_t W_hh"),
]


@exercise("generated_tanh_backward", "09", """
    One iteration of the generated backward loop for the Elman cell takes d_hidden = ∂L/∂h_t (B, H)
    and the saved h_t (B, H) and makes δ_t = ∂L/∂a_t (`d_pre_activation`) and ∂L/∂h_{t-1}
    through the recurrence (`d_hidden_prev`). Write it in numpy, rows are batch entries as in the
    generated code: `step_backward(d_hidden, hidden, weight_hh) -> (d_pre_activation, d_hidden_prev)`.
    The check runs your function as the body of the backward loop over 6 steps and compares
    ∂L/∂W_hh and ∂L/∂h_0 with what the generated code computes.
    """, hint="δ_t = d_hidden * (1 - hidden**2) (tanh' written with its output); d_hidden_prev = δ_t @ W_hh "
            "(batch rows: the transpose of the column form W_hhᵀ δ_t)")
def _generated_tanh_backward(step_backward) -> str:
    example = _example()
    expected_weight, expected_initial = _generated_gradients(*example)
    got_weight, got_initial = _run_loop(step_backward, *example, checked=True)
    if close(got_weight, expected_weight) and close(got_initial, expected_initial):
        return "your loop body gives the generated code's ∂L/∂W_hh and ∂L/∂h_0 to float64 rounding"
    for mistake, message in _MISTAKES:
        wrong_weight, wrong_initial = _run_loop(mistake, *example, checked=False)
        if close(got_weight, wrong_weight) and close(got_initial, wrong_initial):
            raise Wrong(message)
    if close(got_weight, expected_weight):
        raise Wrong(f"∂L/∂W_hh is right but ∂L/∂h_0 is not: d_hidden_prev is wrong "
                    f"({largest_difference(got_initial, expected_initial)})")
    raise Wrong(f"∂L/∂W_hh differs from the generated code's: {largest_difference(got_weight, expected_weight)}")


_SHAPE_STEPS, _SHAPE_BATCH, _SHAPE_HIDDEN = 7, 4, 5


def _saved_shapes() -> dict[str, tuple[int, ...]]:
    """The names in the generated forward's `saved = (...)` line and the shapes it keeps for backward."""
    from .. import nn

    cell = nn.RNNCell(_INPUT, _SHAPE_HIDDEN, dtype=np.float64)
    generated = compiled_code(cell, _SHAPE_STEPS, _SHAPE_BATCH, _INPUT, np.float64, False, False, False)
    names = re.search(r"saved = \(([^)]*)\)", generated.source).group(1)
    names = [name.strip() for name in names.split(",") if name.strip()]
    params = [getattr(cell, role.split(":", 1)[1]).data for role in generated.param_roles]
    hidden = cell.hidden_size
    outputs = np.empty((generated.output_slot + _SHAPE_STEPS, _SHAPE_BATCH, generated.output_width or hidden))
    _, saved = generated.forward(np.zeros((_SHAPE_STEPS, _SHAPE_BATCH, _INPUT)), np.zeros((_SHAPE_BATCH, hidden)),
                                 *params, outputs)
    return {name: tuple(int(n) for n in array.shape) for name, array in zip(names, saved)}


@exercise("saved_buffer_shapes", "09", """
    The generated forward of `nn.RNNCell(3, 5)` over T = 7 steps with batch B = 4 ends with
    `saved = (hidden_states, flat,)`: what it keeps for backward. Predict their shapes before
    printing the code: answer a dict {"hidden_states": (...), "flat": (...)} of tuples.
    """, hint="backward reads h_{t-1} for every step t = 0 .. T-1, h_0 included, and the input projection's "
            "backward needs the inputs it multiplied: one tall (T·B, D) matrix")
def _saved_buffer_shapes(answer) -> str:
    expected = _saved_shapes()
    if not isinstance(answer, dict) or set(answer) != set(expected):
        raise Wrong(f"expected a dict with keys {sorted(expected)}, got "
                    f"{sorted(answer) if isinstance(answer, dict) else type(answer).__name__}")
    try:
        got = {name: tuple(int(n) for n in shape) for name, shape in answer.items()}
    except (TypeError, ValueError):
        raise Wrong("each shape should be a tuple of whole numbers, e.g. (2, 3)") from None
    steps, batch, hidden = _SHAPE_STEPS, _SHAPE_BATCH, _SHAPE_HIDDEN
    hidden_states, flat = got["hidden_states"], got["flat"]
    if hidden_states == (steps, batch, hidden):
        raise Wrong(f"hidden_states {hidden_states} has no slot for h_0: step t = 0 reads h_(t-1) = h_0, so the "
                    "buffer holds T + 1 states (slot 0 the initial one)")
    if hidden_states in ((batch, steps + 1, hidden), (steps + 1, hidden, batch)):
        raise Wrong(f"hidden_states {hidden_states}: the buffer is time-first, (T + 1, B, H), one (B, H) slot per "
                    "step")
    if flat in ((steps, batch, _INPUT), (batch, steps, _INPUT)):
        raise Wrong(f"flat {flat} is not flat: the inputs are reshaped to one tall (T·B, D) matrix for the single "
                    "projection matmul")
    if flat == (steps * batch, hidden):
        raise Wrong(f"flat {flat} is H wide: it holds the inputs (D = {_INPUT} wide) before projection, which "
                    "W_ih's gradient multiplies")
    if got != expected:
        wrong = [f"{name}: {got[name]}" for name in expected if got[name] != expected[name]]
        raise Wrong(f"{'; '.join(wrong)} is not what the generated forward keeps")
    return ", ".join(f"{name} {shape}" for name, shape in expected.items())


_LEAK = 0.1


def _leaky_reference(weight_ih, weight_hh, bias, inputs, leak: float = _LEAK) -> np.ndarray:
    """h_t = max(a_t, leak·a_t) with a_t = W_ih x_t + b + W_hh h_{t-1}, h_0 = 0, in numpy: (T, B, H)."""
    hidden, outputs = np.zeros((inputs.shape[1], weight_hh.shape[0])), []
    for x in inputs:
        pre_activation = x @ weight_ih.T + bias + hidden @ weight_hh.T
        hidden = np.maximum(pre_activation, leak * pre_activation)
        outputs.append(hidden)
    return np.stack(outputs)


@exercise("traceable_leaky_cell", "09", """
    `BranchingLeakyCell` (in the notebook) means h_t = max(a_t, 0.1 a_t) elementwise (a leaky ReLU of
    a_t = W_ih x_t + b + W_hh h_{t-1}), but its step branches in Python on the values of a_t, so
    `seqgrad.compiler.trace` refuses it. Write a cell class (subclass `nn.RNNCell`, override `step`)
    that computes the same thing with seqgrad ops only, and answer the class. The check traces it,
    compares the eager layer's outputs with h_t = max(a_t, 0.1 a_t), and the compiled layer's
    gradients with the eager layer's.
    """, hint="the same ops must run for every input: ops.maximum(pre_activation, 0.1 * pre_activation), or "
            "pre_activation.relu() - 0.1 * (-pre_activation).relu()")
def _traceable_leaky_cell(cell_class) -> str:
    from .. import compile as compile_module
    from .. import nn
    from ..compiler import TraceError, trace

    if not isinstance(cell_class, type):
        raise Wrong(f"expected a cell class (e.g. `class LeakyCell(nn.RNNCell): ...`), got {type(cell_class).__name__}")
    cell = cell_class(_INPUT, _HIDDEN, dtype=np.float64)
    zeros = np.zeros((_BATCH, _HIDDEN))
    call(cell.step, Tensor(zeros), (Tensor(zeros),))  # a step that returns None: not answered yet
    try:
        trace(cell, _BATCH, np.float64)
    except TraceError as error:
        raise Wrong(f"the compiler still refuses your step: {str(error).split(': its result')[0]}") from None
    weight_ih, weight_hh, bias, inputs, _, upstream = _example(seed=4)
    layer = nn.Recurrent(lambda size: cell_class(size, _HIDDEN, dtype=np.float64), _INPUT)
    layer.load_state_dict({"weight_ih_l0": weight_ih, "weight_hh_l0": weight_hh, "bias_ih_l0": bias,
                           "bias_hh_l0": np.zeros(_HIDDEN)})
    output, _ = layer(Tensor(inputs))
    got = as_array(output, (_STEPS, _BATCH, _HIDDEN), "the layer's output")
    expected = _leaky_reference(weight_ih, weight_hh, bias, inputs)
    if not close(got, expected):
        if close(got, _leaky_reference(weight_ih, weight_hh, bias, inputs, leak=0.0)):
            raise Wrong("where a_t < 0 your cell gives 0: that is ReLU; the leaky one keeps 0.1 a_t")
        if close(got, _leaky_reference(weight_ih, weight_hh, bias, inputs, leak=1.0)):
            raise Wrong("where a_t < 0 your cell gives a_t unchanged: the branch's leaky slope 0.1 is missing")
        raise Wrong(f"your cell's outputs differ from h_t = max(a_t, 0.1 a_t): {largest_difference(got, expected)}")
    (output * Tensor(upstream)).sum().backward()
    eager = {name: param.grad.copy() for name, param in layer.named_parameters()}
    layer.zero_grad()
    compiled_output, _ = compile_module(layer)(Tensor(inputs))
    (compiled_output * Tensor(upstream)).sum().backward()
    for name, param in layer.named_parameters():
        if not close(param.grad, eager[name]):
            raise Wrong(f"the compiled {name} gradient differs from the eager one: "
                        f"{largest_difference(param.grad, eager[name])}")
    return "traced; outputs are max(a_t, 0.1 a_t) and the generated BPTT's gradients equal the eager layer's"
