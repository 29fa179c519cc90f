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


def masked_softmax(scores, mask):
    """Softmax over the last axis of the steps where `mask` (B, T) holds (None: all of them); the others
    get exactly zero weight and zero gradient (their scores become the dtype's lowest finite value)."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    return torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)


class Attention(torch.nn.Module):
    """seqgrad.nn.Attention: `context, weights = attention(query, keys, values=None, lengths=None)`,
    query (B, Q), keys (T, B, K), values (T, B, D_v) (the keys by default) -> context (B, D_v), weights (B, T).
    `memory(keys, values, lengths)` does the keys' share once; `attend(query, memory)` is one query's share."""

    def forward(self, query, keys, values=None, lengths=None):
        return self.attend(query, self.memory(keys, values, lengths))

    def memory(self, keys, values=None, lengths=None):
        """(keys batch-first and projected (B, T, ·), values batch-first (B, T, D_v), mask (B, T) or None)."""
        keys_bt = keys.transpose(0, 1)
        values_bt = keys_bt if values is None else values.transpose(0, 1)
        mask = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=keys.device)
            mask = torch.arange(keys.shape[0], device=keys.device)[None, :] < lengths[:, None]
        return self.project_keys(keys_bt), values_bt, mask

    def attend(self, query, memory):
        """context (B, D_v) = Σ_t weights[:, t] values[:, t], weights (B, T) = masked softmax of the scores."""
        keys, values, mask = memory
        weights = masked_softmax(self.score(query, keys), mask)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau attention (seqgrad.nn.AdditiveAttention): score_t = vᵀ tanh(W_q q + W_k k_t + b)."""

    def __init__(self, query_size, key_size, hidden_size, dtype=None):
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_projection = torch.nn.Linear(query_size, hidden_size, bias=False, dtype=dtype)
        self.key_projection = torch.nn.Linear(key_size, hidden_size, dtype=dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        self.v = torch.nn.Parameter(torch.empty(hidden_size, dtype=dtype).uniform_(-bound, bound))

    def project_keys(self, keys):
        return self.key_projection(keys)

    def score(self, query, keys):
        energy = torch.tanh(keys + self.query_projection(query).unsqueeze(1))  # (B, T, hidden_size)
        return energy @ self.v  # (B, T)


class DotProductAttention(Attention):
    """Luong attention (seqgrad.nn.DotProductAttention): score_t = qᵀ k_t ("dot") or qᵀ W k_t ("general"),
    divided by sqrt(query_size) when `scale`."""

    def __init__(self, query_size, key_size, kind="dot", scale=False, dtype=None):
        super().__init__()
        self.query_size, self.key_size, self.kind, self.scale = query_size, key_size, kind, scale
        if kind == "general":
            self.key_projection = torch.nn.Linear(key_size, query_size, bias=False, dtype=dtype)

    def project_keys(self, keys):
        if self.kind == "general":
            keys = self.key_projection(keys)
        if self.scale:
            keys = keys * (1.0 / math.sqrt(self.query_size))
        return keys

    def score(self, query, keys):
        return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, T)


class Seq2Seq(torch.nn.Module):
    """seqgrad.models.Seq2Seq: an encoder over the source, a bridge to the decoder's first state, a decoder
    cell fed the previous token and the previous context, attention over the encoder's steps (or none).

    `model(sources, lengths, targets, teacher_forcing=1.0) -> (logits (T, B, V), weights (T, B, S) or None)`
    with sources (S, B) int64 padded past `lengths` and targets (T, B) int64; `model.greedy(sources, lengths)`
    -> (tokens (B, L), weights (B, L, S) or None, scores (B,)), as seqgrad's greedy decoding.
        keys, final = encoder(E_src[x], lengths)            s_0 = tanh(W_b [final_fwd; final_bwd] + b_b)
        h_j = cell([E_tgt[y_{j-1}]; c_{j-1}], h_{j-1})      c_j, a_j = attention(h_j, keys)
        logits_j = W_o tanh(W_r [h_j; c_j] + b_r) + b_o
    """

    def __init__(self, source_embedding, target_embedding, encoder, decoder, bridge_hidden, readout, output,
                 bridge_cell=None, attention=None, bos_id=1, eos_id=2, pad_id=0):
        super().__init__()
        self.source_embedding, self.target_embedding = source_embedding, target_embedding
        self.encoder, self.decoder, self.bridge_hidden = encoder, decoder, bridge_hidden
        if bridge_cell is not None:  # an LSTM's cell state has its own bridge
            self.bridge_cell = bridge_cell
        self.attention, self.readout, self.output = attention, readout, output
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id

    def encode(self, sources, lengths):
        """(keys (S, B, K), attention memory or None, initial decoder state, fixed summary (B, K), lengths)."""
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
        keys, final = self.encoder(self.source_embedding(sources), lengths=lengths)
        finals = final if isinstance(final, tuple) else (final,)
        # the fused torch layers say `bidirectional`, the generated-cell Recurrent `num_directions`
        directions = getattr(self.encoder, "num_directions", None) or (2 if self.encoder.bidirectional else 1)
        batch = sources.shape[1]
        tops = [component[-directions:].transpose(0, 1).reshape(batch, -1) for component in finals]
        bridges = [self.bridge_hidden] + ([self.bridge_cell] if hasattr(self, "bridge_cell") else [])
        state = tuple(torch.tanh(bridge(top)) for bridge, top in zip(bridges, tops))
        memory = None if self.attention is None else self.attention.memory(keys, lengths=lengths)
        return keys, memory, state, tops[0]

    def decode_step(self, previous, state, context, memory, summary):
        """(logits (B, V), new state, context (B, K), weights (B, S) or None) for the previous tokens (B,)."""
        fed = torch.cat([self.target_embedding(previous), context], dim=1)
        if isinstance(self.decoder, torch.nn.LSTMCell):
            hidden, cell_state = self.decoder(fed, state)
            state = (hidden, cell_state)
        else:
            hidden = self.decoder(fed, state[0])
            state = (hidden,)
        if self.attention is None:
            context, weights = summary, None
        else:
            context, weights = self.attention.attend(hidden, memory)
        logits = self.output(torch.tanh(self.readout(torch.cat([hidden, context], dim=1))))
        return logits, state, context, weights

    def forward(self, sources, lengths, targets, teacher_forcing=1.0):
        """Teacher forcing feeds the true previous token; with probability 1 - teacher_forcing per sentence
        and step, the model's own guess instead (torch's random numbers, not seqgrad's)."""
        keys, memory, state, summary = self.encode(sources, lengths)
        batch = targets.shape[1]
        previous = torch.full((batch,), self.bos_id, dtype=torch.int64, device=targets.device)
        context = summary if self.attention is None else torch.zeros_like(summary)
        all_logits, all_weights = [], []
        for step in range(targets.shape[0]):
            logits, state, context, weights = self.decode_step(previous, state, context, memory, summary)
            all_logits.append(logits)
            all_weights.append(weights)
            previous = targets[step]
            if teacher_forcing < 1.0:
                guessed = logits.detach().argmax(dim=1)
                keep = torch.rand(batch, device=targets.device) < teacher_forcing
                previous = torch.where(keep, previous, guessed)
        weights = None if self.attention is None else torch.stack(all_weights)
        return torch.stack(all_logits), weights

    @torch.no_grad()
    def greedy(self, sources, lengths, max_length=32):
        """The most likely token at each step, fed back, until every sentence has said `</s>`:
        (tokens (B, L) ending in `</s>` then padding, weights (B, L, S) or None, log-probabilities (B,))."""
        keys, memory, state, summary = self.encode(sources, lengths)
        batch = sources.shape[1]
        previous = torch.full((batch,), self.bos_id, dtype=torch.int64, device=sources.device)
        context = summary if self.attention is None else torch.zeros_like(summary)
        scores = torch.zeros(batch, dtype=summary.dtype, device=sources.device)
        done = torch.zeros(batch, dtype=torch.bool, device=sources.device)
        tokens, weights_seen = [], []
        for _ in range(max_length):
            logits, state, context, weights = self.decode_step(previous, state, context, memory, summary)
            log_probs = torch.log_softmax(logits, dim=1)
            chosen = log_probs.argmax(dim=1)
            scores += torch.where(done, 0.0, log_probs.gather(1, chosen[:, None])[:, 0])
            chosen = torch.where(done, self.pad_id, chosen)
            tokens.append(chosen)
            if weights is not None:
                weights_seen.append(weights)
            done |= chosen == self.eos_id
            if bool(done.all()):
                break
            previous = chosen
        weights = torch.stack(weights_seen, dim=1) if weights_seen else None
        return torch.stack(tokens, dim=1), weights, scores
