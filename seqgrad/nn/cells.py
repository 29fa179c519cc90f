"""Recurrent cells: one time step each, written only with primitive ops.

The contract every cell meets (built-in or yours), which is all `Recurrent` needs
to unroll, stack, reverse, mask by length, apply recurrent dropout and label the
graph:

    class MyCell(Cell):
        state_names = ("hidden",)            # or ("hidden", "cell"): one Tensor each, (B, hidden_size)
        gate_names = ("forget_gate",)        # what drawings call the gates (may be empty)
        def __init__(self, input_size, hidden_size): ...   # set self.hidden_size
        def step(self, x, state):            # x: (B, D) (or what project_inputs made), state: tuple
            ...
            return output, new_state         # output (B, hidden_size), new_state: tuple like state

`Recurrent` checks the result of the first step: output and every state component must be
(B, hidden_size) Tensors, one per name in `state_names`.

Optional: `project_inputs(inputs)` maps all steps (T, B, D) at once before the loop
(one big matmul instead of T small ones); `step` then receives its row. A cell that
declares `masks_recurrent = True` takes `step(x, state, recurrent_mask=None)` and applies
recurrent dropout itself; otherwise the unroller multiplies the incoming hidden state by
the mask. Undeclared, it follows `step`'s own signature; declared, it is checked against it when
the class is made.
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import ops
from ..dtypes import get_default_dtype
from ..errors import ShapeError
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


class Cell(Module):
    """Base class of recurrent cells; subclasses define `step` (and `hidden_size`)."""

    state_names: tuple[str, ...] = ("hidden",)
    gate_names: tuple[str, ...] = ()
    masks_recurrent: bool = False
    hidden_size: int

    def __init_subclass__(cls, **kwargs) -> None:
        """Check the declarations when the class is made, not at the first unroll."""
        super().__init_subclass__(**kwargs)
        for attribute in ("state_names", "gate_names"):
            value = getattr(cls, attribute)
            if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
                raise TypeError(f"{cls.__name__}.{attribute} must be a tuple of strings, got {value!r}")
        if not cls.state_names:
            raise TypeError(f"{cls.__name__}.state_names must name at least one state component")
        if cls.step is Cell.step:  # an abstract base (GatedCell): its subclasses define step
            return
        takes_mask = "recurrent_mask" in inspect.signature(cls.step).parameters
        if "masks_recurrent" not in cls.__dict__:
            # Undeclared: the class's step says it (a subclass that redefines step without the mask
            # does not inherit its parent's True).
            cls.masks_recurrent = takes_mask
        elif takes_mask != bool(cls.masks_recurrent):
            raise TypeError(
                f"{cls.__name__}: masks_recurrent = {cls.masks_recurrent} but step() "
                f"{'takes' if takes_mask else 'does not take'} recurrent_mask=; declare "
                f"masks_recurrent = {takes_mask} (True: step applies recurrent dropout itself)")

    def initial_state(self, batch_size: int, dtype=None) -> tuple[Tensor, ...]:
        """Zeros (batch_size, hidden_size) for every state component."""
        dtype = dtype or self._dtype()
        return tuple(Tensor(np.zeros((batch_size, self.hidden_size), dtype)) for _ in self.state_names)

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """All steps' input transformation at once, (T, B, D) -> (T, B, ·). Default: none."""
        return inputs

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        raise NotImplementedError(f"{type(self).__name__} must define step(x, state) -> (output, new_state)")

    def forward(self, x: Tensor, state=None):
        """PyTorch's cell call: `RNNCell(x, h) -> h`, `LSTMCell(x, (h, c)) -> (h, c)`.
        x: (B, input_size) or unbatched (input_size,); state defaults to zeros."""
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, x.shape[0])
        if state is None:
            state = self.initial_state(x.shape[0], x.dtype)
        else:
            state = tuple(state) if isinstance(state, (tuple, list)) else (state,)
            state = tuple(s if isinstance(s, Tensor) else Tensor(s) for s in state)
            state = tuple(s.reshape(1, s.shape[0]) if unbatched and s.ndim == 1 else s for s in state)
            expected = (x.shape[0], self.hidden_size)
            if len(state) != len(self.state_names):
                raise ValueError(f"{type(self).__name__}: expected a state of {len(self.state_names)} tensor(s) "
                                 f"({', '.join(self.state_names)}), got {len(state)}")
            for name, value in zip(self.state_names, state):
                if value.shape != expected:
                    raise ShapeError(f"{type(self).__name__}: {name} state must have shape {expected} for an "
                                     f"input batch of {x.shape[0]}, got {value.shape}")
        projected = self.project_inputs(x.reshape(1, *x.shape))[0]
        output, new_state = self.step(projected, state)
        new_state = check_step_result(self, output, new_state, x.shape[0])
        if unbatched:
            new_state = tuple(s.reshape(s.shape[1]) for s in new_state)
        return new_state if len(new_state) > 1 else new_state[0]

    def _dtype(self):
        first = next(self.parameters(), None)
        return first.dtype if first is not None else get_default_dtype()


def check_step_result(cell: Cell, output, new_state, batch: int) -> tuple:
    """The cell contract: `step` returns (output, new_state) with output and every state component
    a (B, hidden_size) Tensor, one per name in `state_names`. Returns new_state as a tuple."""
    name = type(cell).__name__
    expected = (batch, cell.hidden_size)
    names = ", ".join(cell.state_names)
    if not isinstance(new_state, (tuple, list)):
        raise TypeError(f"{name}.step must return (output, new_state) with new_state a tuple of "
                        f"{len(cell.state_names)} Tensor(s) ({names}); got {type(new_state).__name__} "
                        "as the state (write `return hidden, (hidden,)`)")
    if len(new_state) != len(cell.state_names):
        raise ValueError(f"{name}.step returned {len(new_state)} state component(s) but state_names declares "
                         f"{len(cell.state_names)} ({names})")
    for what, value in [("output", output)] + [(f"{n} state", v) for n, v in zip(cell.state_names, new_state)]:
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}.step: {what} must be a Tensor of shape {expected}, got {type(value).__name__}")
        if value.shape != expected:
            raise ShapeError(f"{name}.step: {what} must have shape (batch, hidden_size) = {expected}, "
                             f"got {value.shape}")
    return tuple(new_state)


def uniform_parameter(shape: tuple, hidden_size: int, dtype=None) -> Parameter:
    """A new parameter ~ U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default for recurrent weights."""
    return init.recurrent_uniform_(Parameter(np.empty(shape, dtype or get_default_dtype())), hidden_size)


class GatedCell(Cell):
    """A cell with PyTorch's four parameters: weight_ih (G·H, D), weight_hh (G·H, H),
    bias_ih and bias_hh (G·H,), all ~ U(-1/sqrt(H), 1/sqrt(H)); G gate blocks, named by
    `gate_names` in the order of their rows."""

    gates = 1
    masks_recurrent = True

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size}, {hidden_size}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = dtype or get_default_dtype()
        rows = self.gates * hidden_size
        shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size)}
        if bias:
            shapes.update(bias_ih=(rows,), bias_hh=(rows,))
        for name, shape in shapes.items():
            setattr(self, name, uniform_parameter(shape, hidden_size, dtype))
        if not bias:
            self.bias_ih = self.bias_hh = None

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """x W_ihᵀ + b_ih (+ b_hh where it simply adds) for all T steps in one matmul."""
        steps, batch, features = inputs.shape
        if features != self.input_size:
            raise ShapeError(f"{type(self).__name__}: expected input features {self.input_size}, got {features}")
        bias = self._input_bias()
        flat = inputs.reshape(steps * batch, features)
        projected = ops.linear(flat, self.weight_ih) if bias is None else ops.linear(flat, self.weight_ih, bias)
        return projected.reshape(steps, batch, projected.shape[-1])

    def _input_bias(self):
        return None if not self.bias else self.bias_ih + self.bias_hh

    def _recurrent(self, hidden: Tensor, x: Tensor) -> Tensor:
        """x + h W_hhᵀ: the step's one matmul for all gates, with the projected input added in the same op."""
        return ops.linear(hidden, self.weight_hh, x)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(GatedCell):
    """Elman cell: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def step(self, x, state, recurrent_mask=None):
        (hidden,) = state
        if recurrent_mask is not None:
            hidden = hidden * recurrent_mask
        pre_activation = self._recurrent(hidden, x)
        hidden = pre_activation.tanh() if self.nonlinearity == "tanh" else pre_activation.relu()
        return hidden, (hidden,)


class LSTMCell(GatedCell):
    """LSTM (gate order i, f, g, o as PyTorch):
        i, f, o = σ(·), g = tanh(·) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)"""

    gates = 4
    state_names = ("hidden", "cell")
    gate_names = ("input_gate", "forget_gate", "candidate", "output_gate")

    def step(self, x, state, recurrent_mask=None):
        hidden, cell_state = state
        if recurrent_mask is not None:
            hidden = hidden * recurrent_mask
        size = self.hidden_size
        gates = self._recurrent(hidden, x)
        # One sigmoid over all four blocks (its g block is unused) instead of three small ones.
        squashed = gates.sigmoid()
        input_gate, forget_gate = squashed[:, :size], squashed[:, size:2 * size]
        output_gate = squashed[:, 3 * size:]
        candidate = gates[:, 2 * size:3 * size].tanh()
        cell_state = forget_gate * cell_state + input_gate * candidate
        hidden = output_gate * cell_state.tanh()
        return hidden, (hidden, cell_state)


class GRUCell(GatedCell):
    """GRU (gate order r, z, n as PyTorch):
        r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        reset="after"  (PyTorch, cuDNN):  n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        reset="before" (Cho et al. 2014): n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}, computed as n + z ⊙ (h_{t-1} - n)"""

    gates = 3
    gate_names = ("reset_gate", "update_gate", "candidate")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset: str = "after",
                 dtype=None) -> None:
        if reset not in ("after", "before"):
            raise ValueError(f"reset must be 'after' or 'before', got {reset!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.reset = reset

    def _input_bias(self):
        # b_hn sits inside r ⊙ (...), so only b_ih folds into the input projection.
        return self.bias_ih if self.bias else None

    def step(self, x, state, recurrent_mask=None):
        (hidden,) = state
        size = self.hidden_size
        recurrent_input = hidden * recurrent_mask if recurrent_mask is not None else hidden
        if self.reset == "after":
            # h W_hhᵀ + b_hh for all three blocks in one op; σ over x + that for all blocks (n's unused).
            h_all = ops.linear(recurrent_input, self.weight_hh, self.bias_hh) if self.bias else \
                ops.linear(recurrent_input, self.weight_hh)
            squashed = (x + h_all).sigmoid()
            reset_gate, update_gate = squashed[:, :size], squashed[:, size:2 * size]
            candidate = (x[:, 2 * size:] + reset_gate * h_all[:, 2 * size:]).tanh()
        else:
            weight_gates, weight_candidate = self.weight_hh[:2 * size], self.weight_hh[2 * size:]
            gate_bias = x[:, :2 * size] + self.bias_hh[:2 * size] if self.bias else x[:, :2 * size]
            squashed = ops.linear(recurrent_input, weight_gates, gate_bias).sigmoid()
            reset_gate, update_gate = squashed[:, :size], squashed[:, size:]
            candidate_bias = x[:, 2 * size:] + self.bias_hh[2 * size:] if self.bias else x[:, 2 * size:]
            candidate = ops.linear(reset_gate * recurrent_input, weight_candidate, candidate_bias).tanh()
        hidden = candidate + update_gate * (hidden - candidate)
        return hidden, (hidden,)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset == "after" else ", reset='before'")
