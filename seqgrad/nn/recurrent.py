"""Any cell becomes a sequence layer: unrolled over time, stacked, bidirectional,
masked by lengths, with dropout between layers and recurrent (variational) dropout.

BPTT is not written here: the unrolled steps are ordinary recorded ops, and the
engine's backward goes through them. Every op is recorded inside
`scope(<layer>, layer=k, direction=...)` and `scope(<Cell>, step=t)`, which is how
the graph drawer groups the unrolled graph by layer, direction and time step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .. import ops
from ..autodiff.graph import mark_state
from ..autodiff.tape import gc_paused, scope
from ..errors import ShapeError
from ..tensor import Tensor
from .cells import Cell, GRUCell, LSTMCell, RNNCell, check_step_result
from .functional import dropout, dropout_mask
from .module import Module, Parameter

DIRECTIONS = ("forward", "backward")
# Steps whose input projection is one matmul: every step of sequences up to this length.
PROJECTION_STEPS = 256


class Recurrent(Module):
    """A stack of (optionally bidirectional) layers of `make_cell(input_size)` cells.

    `layer(input, hx=None, lengths=None) -> (output, final_state)`
    - input: (T, B, D), or (B, T, D) with batch_first, or unbatched (T, D).
    - hx: per state component, (num_layers·num_directions, B, H) (a tuple when the cell
      has several components, as the LSTM's (h_0, c_0)); zeros by default.
    - lengths: one int per batch entry (PyTorch's packed-sequence results).
    - output: (T, B, num_directions·H), zero past each sequence's length;
      final state: like hx, taken at each sequence's own last step.
    Parameters are named `<cell parameter>_l{k}` and `..._l{k}_reverse`, as PyTorch does; a cell's
    submodule parameter `forget.weight` becomes `forget.weight_l0`, reachable as `layer.forget.weight_l0`.
    The first step of each direction is checked against the cell contract (see `Cell`).
    """

    def __init__(self, make_cell: Callable[[int], Cell], input_size: int, num_layers: int = 1,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 recurrent_dropout: float = 0.0, name: str | None = None) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        for label, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {p}")
        self.input_size, self.num_layers, self.batch_first = input_size, num_layers, batch_first
        self.dropout, self.recurrent_dropout, self.bidirectional = dropout, recurrent_dropout, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.name = name or type(self).__name__
        cells = []
        layer_input = input_size
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                cell = make_cell(layer_input)
                if not isinstance(cell, Cell):
                    raise TypeError(f"make_cell must return a seqgrad.nn.Cell, got {type(cell).__name__}")
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for param_name, param in cell.named_parameters():
                    self._register_copy(param_name + suffix, param)
                cells.append(cell)
            layer_input = cells[-1].hidden_size * self.num_directions
        self.hidden_size = cells[0].hidden_size
        self.state_names = cells[0].state_names
        # Cells share the parameters registered above; keep them out of the module tree so
        # every parameter has exactly one (PyTorch) name.
        object.__setattr__(self, "cells", cells)

    def _register_copy(self, path: str, param: Parameter) -> None:
        """Register a cell's parameter under `path` as a real attribute path: `weight_ih_l0` on the
        layer itself, and a submodule's `forget.weight_l0` on a holder module `forget`, so that
        `layer.forget.weight_l0`, `get_parameter` and state dicts all agree."""
        *modules, leaf = path.split(".")
        owner: Module = self
        for depth, part in enumerate(modules):
            child = owner._modules.get(part)
            if child is None:
                if hasattr(owner, part):
                    where = ".".join(modules[:depth + 1])
                    raise ValueError(f"{self.name}: a cell parameter path {path!r} clashes with the layer's "
                                     f"attribute {where!r}; rename the cell's submodule")
                child = CellParameters()
                setattr(owner, part, child)
            owner = child
        setattr(owner, leaf, param)
        param.name = path

    def train(self, mode: bool = True) -> Recurrent:
        """Also switch the cells, which are kept out of the module tree (see __init__)."""
        super().train(mode)
        for cell in self.cells:
            cell.train(mode)
        return self

    def cell(self, layer: int, direction: int = 0) -> Cell:
        """The cell of `layer` and `direction` (0 forward, 1 backward)."""
        return self.cells[layer * self.num_directions + direction]

    def extra_repr(self) -> str:
        options = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            options.append(f"num_layers={self.num_layers}")
        for key in ("batch_first", "bidirectional"):
            if getattr(self, key):
                options.append(f"{key}=True")
        for key in ("dropout", "recurrent_dropout"):
            if getattr(self, key):
                options.append(f"{key}={getattr(self, key)}")
        return ", ".join(options) + f", cell={type(self.cells[0]).__name__}"

    # --- the forward pass --------------------------------------------------------------
    def forward(self, input: Tensor, hx=None, lengths: Sequence[int] | None = None):
        with gc_paused():  # a long unroll makes many nodes and no cycles (see gc_paused)
            return self._forward(input, hx, lengths)

    def _forward(self, input: Tensor, hx, lengths):
        if not isinstance(input, Tensor):
            input = Tensor(input)
        self._check_dtype("input", input)
        unbatched = input.ndim == 2
        if input.ndim not in (2, 3):
            raise ShapeError(f"{self.name}: expected input (T, B, D), (B, T, D) with batch_first, or (T, D); "
                             f"got shape {input.shape}")
        if unbatched:
            input = input.reshape(input.shape[0], 1, input.shape[1])
        elif self.batch_first:
            input = input.transpose(1, 0, 2)
        steps, batch, _ = input.shape
        if steps == 0:
            raise ShapeError(f"{self.name}: the input has no time steps (shape {input.shape})")
        initial = self._initial_states(hx, batch, input.dtype, unbatched)
        valid = self._valid_steps(lengths, steps, batch)

        layer_input, finals = input, []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                layer_input = dropout(layer_input, self.dropout, True)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                with scope(self.name, layer=layer, direction=DIRECTIONS[direction]):
                    output, final = self._run_direction(index, layer_input, initial[index], valid, direction == 1)
                outputs.append(output)
                finals.append(final)
            if len(outputs) > 1:
                with scope(self.name, layer=layer):
                    layer_input = ops.concat(outputs, axis=2)
            else:
                layer_input = outputs[0]

        output = layer_input
        with scope(self.name):
            final_state = tuple(ops.stack([final[k] for final in finals], axis=0)
                                for k in range(len(self.state_names)))
        if unbatched:
            output = output.reshape(output.shape[0], output.shape[2])
            final_state = tuple(s.reshape(s.shape[0], s.shape[2]) for s in final_state)
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        return output, (final_state if len(final_state) > 1 else final_state[0])

    def _run_direction(self, index: int, inputs: Tensor, state: tuple, valid, reverse: bool):
        """Unroll one cell over time: (T, B, D) -> outputs (T, B, H) and the final state tuple.

        With lengths, `valid[t]` (B, 1) freezes the state after a sequence's end (forward) or
        holds it at the initial state until its last step (backward), and zeroes outputs past
        the end."""
        cell = self.cells[index]
        step = self._step_function(cell, inputs.shape[1], inputs.dtype)
        cell_name = type(cell).__name__
        outputs = [None] * inputs.shape[0]
        checked = False
        for t, x_t in projected_steps(cell, inputs, reverse):
            with scope(cell_name, step=t):
                output, new_state = step(x_t, state)
                if not checked:  # the contract, once per direction: shapes do not change later
                    new_state = check_step_result(cell, output, new_state, inputs.shape[1])
                    checked = True
                if valid is not None and not valid[t].all():
                    keep = valid[t]
                    new_state = tuple(ops.where(keep, new, old) for new, old in zip(new_state, state))
                    output = output * keep.astype(output.dtype)
                for role, value in zip(cell.state_names, new_state):
                    mark_state(value, role)  # leaves (nothing recorded) are left alone by mark_state
                state = tuple(new_state)
            outputs[t] = output
        return ops.stack(outputs, axis=0), state

    def _step_function(self, cell: Cell, batch: int, dtype) -> Callable:
        """`cell.step`, with recurrent dropout while training: one mask for the whole sequence,
        applied by the cell itself (`masks_recurrent`) or here to the incoming hidden state."""
        if not (self.recurrent_dropout and self.training):
            return cell.step
        mask = dropout_mask((batch, cell.hidden_size), self.recurrent_dropout, dtype)
        if cell.masks_recurrent:
            return functools.partial(cell.step, recurrent_mask=mask)
        return lambda x, state: cell.step(x, (state[0] * mask,) + tuple(state[1:]))

    def _check_dtype(self, what: str, value: Tensor) -> None:
        """Mixed precision would silently run the whole layer in the wider dtype: refuse it."""
        first = next(self.parameters(), None)
        if first is None:  # a cell without parameters takes whatever it is given
            return
        expected = first.dtype
        if value.dtype != expected:
            if value.dtype.kind != "f":   # a layer cannot become int: only the input can be cast
                hint = f"give the input as {expected} (a numpy array: x.astype(np.{expected}))"
            else:
                hint = f"cast the input (x.astype(np.{expected})) or the layer (.to(np.{value.dtype}))"
            raise TypeError(f"{self.name}: {what} is {value.dtype} but the layer's parameters are {expected}; {hint}")

    def _initial_states(self, hx, batch: int, dtype, unbatched: bool) -> list[tuple]:
        """One state tuple per (layer, direction), from hx or zeros; shapes checked first."""
        count = self.num_layers * self.num_directions
        components = len(self.state_names)
        if hx is None:
            return [cell.initial_state(batch, dtype) for cell in self.cells]
        hx = hx if isinstance(hx, (tuple, list)) else (hx,)
        if len(hx) != components:
            raise ValueError(f"{self.name}: hx must have {components} component(s) "
                             f"({', '.join(self.state_names)}), got {len(hx)}")
        hx = [h if isinstance(h, Tensor) else Tensor(h) for h in hx]
        for name, h in zip(self.state_names, hx):
            self._check_dtype(f"initial {name} state", h)
            expected = (count, self.hidden_size) if unbatched else (count, batch, self.hidden_size)
            if h.shape != expected:
                raise ShapeError(f"{self.name}: initial {name} state must have shape {expected}, got {h.shape}")
        if unbatched:
            hx = [h.reshape(count, 1, self.hidden_size) for h in hx]
        per_layer = [h.split(1, axis=0) if count > 1 else (h,) for h in hx]
        return [tuple(pieces[i].reshape(batch, self.hidden_size) for pieces in per_layer) for i in range(count)]

    @staticmethod
    def _valid_steps(lengths, steps: int, batch: int):
        """(T, B, 1) booleans: is step t inside sequence b? None when every sequence is full."""
        if lengths is None:
            return None
        lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
        if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
            raise ValueError(f"lengths must be a sequence of ints, one per batch entry; got {lengths!r}")
        if len(lengths) != batch:
            raise ValueError(f"lengths has {len(lengths)} entries but the batch has {batch} sequences")
        if lengths.min() < 0 or lengths.max() > steps:
            # A length of 0 is an empty sequence: zero outputs, final state = initial state.
            raise ValueError(f"lengths must be between 0 and the {steps} time steps, got {lengths.tolist()}")
        if (lengths == steps).all():
            return None
        return (np.arange(steps)[:, None] < lengths[None, :])[:, :, None]


class CellParameters(Module):
    """Holds the per-layer copies of one cell submodule's parameters (`layer.forget.weight_l0` is
    `layer.cell(0).forget.weight`): the name of every parameter is a path to it."""


def projected_steps(cell: Cell, inputs: Tensor, reverse: bool) -> Iterator[tuple[int, Tensor]]:
    """(t, x_t) in the order the cell runs, x_t being step t of `cell.project_inputs(inputs)`.

    The projection is made PROJECTION_STEPS steps at a time (all steps of any sequence up to
    that length) with one matmul each, when the loop reaches the block: a long sequence never
    holds a (T, B, 4H) projection beside its activations."""
    steps = inputs.shape[0]
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    block = start = projected = None
    for t in order:
        if t // PROJECTION_STEPS != block:
            block = t // PROJECTION_STEPS
            start = block * PROJECTION_STEPS
            projected = cell.project_inputs(
                inputs if steps <= PROJECTION_STEPS else inputs[start:start + PROJECTION_STEPS])
        yield t, projected[t - start]


class RNN(Recurrent):
    """Elman RNN layers, PyTorch's signature: RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, recurrent_dropout: float = 0.0, dtype=None) -> None:
        super().__init__(lambda size: RNNCell(size, hidden_size, bias, nonlinearity, dtype), input_size,
                         num_layers, batch_first, dropout, bidirectional, recurrent_dropout)


class LSTM(Recurrent):
    """LSTM layers, PyTorch's signature; returns (output, (h_n, c_n))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 recurrent_dropout: float = 0.0, dtype=None) -> None:
        super().__init__(lambda size: LSTMCell(size, hidden_size, bias, dtype), input_size,
                         num_layers, batch_first, dropout, bidirectional, recurrent_dropout)


class GRU(Recurrent):
    """GRU layers, PyTorch's signature plus `reset` ('after' as PyTorch, or 'before')."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 reset: str = "after", recurrent_dropout: float = 0.0, dtype=None) -> None:
        super().__init__(lambda size: GRUCell(size, hidden_size, bias, reset, dtype), input_size,
                         num_layers, batch_first, dropout, bidirectional, recurrent_dropout)
