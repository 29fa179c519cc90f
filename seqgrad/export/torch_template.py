"""The torch side of seqgrad's sequence layers: copied, class by class, into every exported model.py.

seqgrad reads this file as text and never imports it (torch is not a seqgrad dependency);
`seqgrad.export` copies the definitions a model needs, so the code a user reads in model.py is
this code. Each layer is called as its seqgrad twin: `layer(input, hx=None, lengths=None)` ->
`(output, final_state)`, with seqgrad's lengths semantics: the state stops at each sequence's own
last step (the backward direction starts there), outputs are zero past it.
"""

import math

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def run_packed(run, batch_first, input, hx, lengths):
    """A fused torch RNN/LSTM/GRU `run(input, hx)` over padded sequences of `lengths` (one per batch entry),
    packed so each sequence stops at its own end; output padded back to the input's T with zeros."""
    if lengths is None:
        return run(input, hx)
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(1)
        if hx is not None:
            hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, (tuple, list)) else hx.unsqueeze(1)
    steps = input.shape[1] if batch_first else input.shape[0]
    lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
    # Packing takes no empty sequence: run those for one step, then zero their outputs and give them
    # back their initial state (seqgrad's length 0).
    empty = (lengths == 0).to(input.device)
    packed = pack_padded_sequence(input, lengths.clamp(min=1), batch_first=batch_first, enforce_sorted=False)
    output, state = run(packed, hx)
    output, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=steps)
    if bool(empty.any()):
        keep = (~empty).to(output.dtype)
        output = output * (keep[:, None, None] if batch_first else keep[None, :, None])
        if isinstance(state, tuple):  # an LSTM's (h, c)
            initial = hx if hx is not None else tuple(torch.zeros_like(s) for s in state)
            state = tuple(torch.where(empty[:, None], h0, s) for h0, s in zip(initial, state))
        else:
            initial = hx if hx is not None else torch.zeros_like(state)
            state = torch.where(empty[:, None], initial, state)
    if unbatched:
        output = output.squeeze(1)
        state = tuple(s.squeeze(1) for s in state) if isinstance(state, tuple) else state.squeeze(1)
    return output, state


class RNN(torch.nn.RNN):
    """torch.nn.RNN (fused kernel) called as seqgrad.nn.RNN: layer(input, hx=None, lengths=None)."""

    def forward(self, input, hx=None, lengths=None):
        return run_packed(super().forward, self.batch_first, input, hx, lengths)


class LSTM(torch.nn.LSTM):
    """torch.nn.LSTM (fused kernel) called as seqgrad.nn.LSTM: layer(input, hx=None, lengths=None)."""

    def forward(self, input, hx=None, lengths=None):
        return run_packed(super().forward, self.batch_first, input, hx, lengths)


class GRU(torch.nn.GRU):
    """torch.nn.GRU (fused kernel, reset after) called as seqgrad.nn.GRU: layer(input, hx=None, lengths=None)."""

    def forward(self, input, hx=None, lengths=None):
        return run_packed(super().forward, self.batch_first, input, hx, lengths)


class Recurrent(torch.nn.Module):
    """seqgrad.nn.Recurrent in torch: `cell` unrolled over time, stacked, optionally bidirectional.

    `layer(input, hx=None, lengths=None) -> (output, final_state)`:
    - input (T, B, D), (B, T, D) with batch_first, or unbatched (T, D);
    - hx: per state component (num_layers·num_directions, B, H), a tuple when the cell has several;
    - output (T, B, num_directions·H), zero past each sequence's length; final state at each
      sequence's own last step.
    The cell holds no weights: this layer holds them, named as seqgrad names them,
    `<cell parameter>_l{k}` and `<cell parameter>_l{k}_reverse` (as torch.nn.LSTM's weight_ih_l0),
    and passes one layer-direction's to each call: `cell(x, state, weights) -> (output, new_state)`.
    `layer_weight_shapes` gives each layer's {cell parameter: shape}; the weights start
    ~ U(-1/sqrt(H), 1/sqrt(H)), as torch's recurrent layers do, until a state dict is loaded.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, batch_first=False, dropout=0.0,
                 bidirectional=False, recurrent_dropout=0.0, layer_weight_shapes=(), dtype=None):
        super().__init__()
        self.cell = cell
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout, self.recurrent_dropout = batch_first, dropout, recurrent_dropout
        self.num_directions = 2 if bidirectional else 1
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_names = []  # per layer-direction: {cell parameter: this layer's name for it}
        for layer, shapes in enumerate(layer_weight_shapes):
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name, shape in shapes.items():
                    weight = torch.nn.Parameter(torch.empty(shape, dtype=dtype).uniform_(-bound, bound))
                    self._owner(name + suffix).register_parameter((name + suffix).rsplit(".", 1)[-1], weight)
                self.weight_names.append({name: name + suffix for name in shapes})

    def _owner(self, dotted_name):
        """The module that holds `dotted_name`'s last part: seqgrad's `forget.weight_l0` is the parameter
        `weight_l0` of a plain container module `forget`, so the state-dict key is the same."""
        owner = self
        for part in dotted_name.split(".")[:-1]:
            if part not in owner._modules:
                owner.add_module(part, torch.nn.Module())
            owner = owner._modules[part]
        return owner

    def weights(self, index):
        """{cell parameter: tensor} of layer-direction `index` (layer·num_directions + direction)."""
        return {name: self.get_parameter(full_name) for name, full_name in self.weight_names[index].items()}

    def forward(self, input, hx=None, lengths=None):
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        steps, batch = input.shape[0], input.shape[1]
        count = self.num_layers * self.num_directions
        components = len(self.cell.state_names)
        if hx is None:
            states = [tuple(input.new_zeros(batch, self.hidden_size) for _ in range(components))] * count
        else:
            hx = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
            if len(hx) != components:
                raise ValueError(f"hx must have {components} component(s) {self.cell.state_names}, got {len(hx)}")
            hx = tuple(h.unsqueeze(1) for h in hx) if unbatched else hx
            states = [tuple(h[index] for h in hx) for index in range(count)]
        valid = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=input.device)
            # (T, B, 1): is step t inside sequence b?
            valid = (torch.arange(steps, device=input.device)[:, None] < lengths[None, :])[:, :, None]

        layer_input, finals = input, []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                layer_input = F.dropout(layer_input, self.dropout, True)
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                output, final = self._run_direction(index, layer_input, states[index], valid, direction == 1)
                outputs.append(output)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]

        output = layer_input
        final_state = tuple(torch.stack([final[k] for final in finals]) for k in range(components))
        if unbatched:
            output = output.squeeze(1)
            final_state = tuple(s.squeeze(1) for s in final_state)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (final_state if components > 1 else final_state[0])

    def _run_direction(self, index, inputs, state, valid, reverse):
        """One layer-direction over time. With lengths, `valid[t]` (B, 1) keeps the old state past a
        sequence's end (forward), or the initial state until its last step (backward), and zeroes outputs."""
        weights = self.weights(index)
        steps, batch = inputs.shape[0], inputs.shape[1]
        mask = None
        if self.recurrent_dropout and self.training:  # one mask per sequence (variational dropout)
            mask = F.dropout(inputs.new_ones(batch, self.hidden_size), self.recurrent_dropout, True)
        elif self.cell.masks_recurrent:  # a cell that applies the mask itself gets ones when nothing drops
            mask = inputs.new_ones(batch, self.hidden_size)
        projected = self.cell.project_inputs(inputs, weights)
        outputs = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            if mask is None:
                output, new_state = self.cell(projected[t], state, weights)
            elif self.cell.masks_recurrent:
                output, new_state = self.cell(projected[t], state, weights, recurrent_mask=mask)
            else:
                output, new_state = self.cell(projected[t], (state[0] * mask,) + tuple(state[1:]), weights)
            if valid is not None:
                keep = valid[t]
                new_state = tuple(torch.where(keep, new, old) for new, old in zip(new_state, state))
                output = output * keep.to(output.dtype)
            state = tuple(new_state)
            outputs[t] = output
        return torch.stack(outputs), state
