"""Sequence to sequence: an encoder reads the source, a decoder writes the target one token at a
time, attending to the encoder's steps (or, without attention, to one fixed summary of them).

    encoder:   k_1..k_S, final = Recurrent(E_src[x_1..x_S])          keys k_s (B, K), K = dirs·H_enc
    bridge:    s_0 = tanh(W_b [final_fwd; final_bwd] + b_b)           per state component (h, and c for LSTM)
    decoder:   h_j = cell([E_tgt[y_{j-1}]; c_{j-1}], h_{j-1})        input feeding: the previous context
               c_j, a_j = attention(h_j, k_1..k_S)                   a_j (B, S): the soft alignment
                   (attention=None: c_j = [final_fwd; final_bwd] at every step, the fixed context)
               logits_j = W_o tanh(W_r [h_j; c_j] + b_r) + b_o
    y_{-1} is `<s>`; training feeds the true y_{j-1} (teacher forcing) or, with probability
    1 - teacher_forcing per sentence and step, the model's own previous guess.

Each decoder step is recorded in `scope("Decoder", step=j)` with the attention in its own scope
inside it, so drawings box every decoder step and show where its attention reads from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ops
from ..autodiff.graph import mark_state
from ..autodiff.tape import no_grad, scope
from ..data.jsonio import json_array, loads_bounded
from ..data.tokenizers import CharTokenizer
from ..data.translation import TranslationTask
from ..data.vocab import Vocabulary
from ..dtypes import get_default_dtype
from ..errors import CheckpointError, ShapeError
from ..interop.checkpoint import load as load_arrays
from ..interop.checkpoint import save as save_arrays
from ..nn import functional as F
from ..nn.attention import AdditiveAttention, Attention, AttentionMemory, DotProductAttention
from ..nn.cells import Cell, GRUCell, LSTMCell, RNNCell
from ..nn.layers import Embedding, Linear
from ..nn.module import Module
from ..nn.recurrent import GRU, LSTM, RNN, Recurrent
from ..random import generator
from ..tensor import Tensor

CELLS: dict[str, tuple[Callable[..., Recurrent], Callable[..., Cell]]] = {
    "lstm": (LSTM, LSTMCell), "gru": (GRU, GRUCell), "rnn": (RNN, RNNCell)}
ATTENTIONS = ("additive", "dot", "general", "none")
DECODER_SCOPE = "Decoder"


@dataclass(eq=False)
class Encoded:
    """What the decoder needs from the encoder: the keys (S, B, K), the attention memory (None
    without attention), the bridged initial decoder state, the fixed summary (B, K), lengths (B,)."""

    keys: Tensor
    memory: AttentionMemory | None
    state: tuple[Tensor, ...]
    summary: Tensor
    lengths: np.ndarray


@dataclass(eq=False)
class Decoding:
    """A decoded batch: tokens (B, L) int64 ending in `</s>` then padding; weights (B, L, S) the
    attention of every output step (None without attention); scores (B,) the log-probabilities
    (beam search: divided by length ** length_penalty)."""

    tokens: np.ndarray
    weights: np.ndarray | None
    scores: np.ndarray


class Seq2Seq(Module):
    """Encoder-decoder with attention (or none, `attention=None`), input feeding and a bridge.

    `model(sources, lengths, targets, teacher_forcing=1.0) -> (logits (T, B, V), weights (T, B, S) or None)`,
    sources (S, B) int ids padded past `lengths`, targets (T, B) ids ending in `</s>` (pad 0 after).
    `encoder`: any `Recurrent` whose input size is `embedding_size` (default: a bidirectional
    `cell` layer of `hidden_size` units); `attention`: "additive" (Bahdanau), "dot", "general"
    (Luong; `scale=True` through an `Attention` instance), an `Attention` module, or None.
    `seqgrad.compile(model)` runs the encoder with generated forward and BPTT code (its `loss`, `greedy`
    and `beam_search` too); the decoder's cell, stepped here by hand, and the attention stay eager.
    `seqgrad.export.to_torch(model)` writes its torch twin.
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, *, bos_id: int, eos_id: int,
                 pad_id: int = 0, embedding_size: int = 32, hidden_size: int = 64, cell: str = "lstm",
                 encoder: Recurrent | None = None, bidirectional: bool = True, num_layers: int = 1,
                 attention: str | Attention | None = "additive", attention_size: int | None = None,
                 dtype=None) -> None:
        super().__init__()
        for name, value in (("source_vocab_size", source_vocab_size), ("target_vocab_size", target_vocab_size),
                            ("embedding_size", embedding_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Seq2Seq: {name} must be a positive int, got {value!r}")
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
            if not 0 <= value < target_vocab_size:
                raise ValueError(f"Seq2Seq: {name} must be a target id in [0, {target_vocab_size}), got {value}")
        dtype = np.dtype(dtype or get_default_dtype())
        self.bos_id, self.eos_id, self.pad_id = int(bos_id), int(eos_id), int(pad_id)
        self.source_vocab_size, self.target_vocab_size = int(source_vocab_size), int(target_vocab_size)
        self.embedding_size, self.hidden_size, self.cell_kind = int(embedding_size), int(hidden_size), cell
        self.source_embedding = Embedding(source_vocab_size, embedding_size, padding_idx=pad_id, dtype=dtype)
        self.target_embedding = Embedding(target_vocab_size, embedding_size, dtype=dtype)
        layer_class, cell_class = CELLS[cell]
        if encoder is None:
            encoder = layer_class(embedding_size, hidden_size, num_layers, bidirectional=bidirectional, dtype=dtype)
            encoder.name = "Encoder"
        elif not isinstance(encoder, Recurrent):
            raise TypeError(f"Seq2Seq: encoder must be a seqgrad.nn.Recurrent, got {type(encoder).__name__}")
        elif encoder.input_size != embedding_size or encoder.batch_first:
            raise ValueError(f"Seq2Seq: the encoder must take time-major input of embedding_size={embedding_size} "
                             f"features, got input_size={encoder.input_size}, batch_first={encoder.batch_first}")
        self.encoder = encoder
        self.key_size = key_size = encoder.hidden_size * encoder.num_directions
        self.decoder = cell_class(embedding_size + key_size, hidden_size, dtype=dtype)
        if len(self.decoder.state_names) != len(encoder.state_names):
            raise ValueError(f"Seq2Seq: the encoder's states ({', '.join(encoder.state_names)}) cannot be bridged "
                             f"to the decoder's ({', '.join(self.decoder.state_names)})")
        for name in self.decoder.state_names:  # bridge_hidden, and bridge_cell for an LSTM
            setattr(self, f"bridge_{name}", Linear(key_size, hidden_size, dtype=dtype))
        self.attention = self._make_attention(attention, attention_size, dtype)
        self.readout = Linear(hidden_size + key_size, hidden_size, dtype=dtype)
        self.output = Linear(hidden_size, target_vocab_size, dtype=dtype)

    def _make_attention(self, attention, attention_size, dtype) -> Attention | None:
        if attention is None or attention == "none":
            return None
        if isinstance(attention, Attention):
            if (attention.query_size, attention.key_size) != (self.hidden_size, self.key_size):
                raise ValueError(f"Seq2Seq: the attention must take queries of {self.hidden_size} (the decoder's "
                                 f"hidden size) and keys of {self.key_size}, got {attention.query_size} and "
                                 f"{attention.key_size}")
            return attention
        if attention == "additive":
            return AdditiveAttention(self.hidden_size, self.key_size, attention_size or self.hidden_size, dtype=dtype)
        if attention in ("dot", "general"):
            return DotProductAttention(self.hidden_size, self.key_size, kind=attention, dtype=dtype)
        raise ValueError(f"Seq2Seq: attention must be one of {ATTENTIONS}, an Attention module or None, "
                         f"got {attention!r}")

    @property
    def attention_kind(self) -> str:
        if self.attention is None:
            return "none"
        return getattr(self.attention, "kind", "additive")

    def config(self) -> dict:
        """The constructor's arguments (for the default encoder): enough to rebuild the model."""
        attention_size = getattr(self.attention, "hidden_size", None)
        return {"source_vocab_size": self.source_vocab_size, "target_vocab_size": self.target_vocab_size,
                "bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
                "embedding_size": self.embedding_size, "hidden_size": self.hidden_size, "cell": self.cell_kind,
                "bidirectional": self.encoder.bidirectional, "num_layers": self.encoder.num_layers,
                "attention": self.attention_kind, "attention_size": attention_size,
                "dtype": str(self.output.weight.dtype)}

    # --- encoding ----------------------------------------------------------------------------
    def encode(self, sources, lengths) -> Encoded:
        """Run the encoder over sources (S, B) with `lengths` (B,) and bridge its final states."""
        sources = np.asarray(sources.data if isinstance(sources, Tensor) else sources)
        if sources.ndim != 2:
            raise ShapeError(f"Seq2Seq: expected sources (S, B) of token ids, got shape {sources.shape}")
        steps, batch = sources.shape
        lengths = np.asarray(lengths)
        if lengths.shape != (batch,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"Seq2Seq: expected lengths of {batch} ints (one per source), got {lengths!r}")
        if lengths.min() < 1 or lengths.max() > steps:
            bad = int(np.flatnonzero((lengths < 1) | (lengths > steps))[0])
            raise ValueError(f"Seq2Seq: each length must be between 1 and the {steps} source steps, got "
                             f"{int(lengths[bad])} for source {bad}")
        keys, final = self.encoder(self.source_embedding(sources), lengths=lengths)
        finals = final if isinstance(final, tuple) else (final,)
        directions = self.encoder.num_directions
        with scope("Bridge"):
            # The top layer's final states, both directions side by side: (B, K).
            tops = [component[-directions:].transpose(1, 0, 2).reshape(batch, self.key_size)
                    for component in finals]
            state = tuple(getattr(self, f"bridge_{name}")(top).tanh()
                          for name, top in zip(self.decoder.state_names, tops))
        memory = None if self.attention is None else self.attention.memory(keys, lengths=lengths)
        return Encoded(keys, memory, state, tops[0], lengths)

    # --- one decoder step ---------------------------------------------------------------------
    def decode_step(self, previous: np.ndarray, state: tuple, context: Tensor, encoded: Encoded, step: int):
        """(logits (B, V), new state, context (B, K), attention weights (B, S) or None) for the
        previous tokens (B,)."""
        with scope(DECODER_SCOPE, step=step):
            embedded = self.target_embedding(previous)
            fed = ops.concat([embedded, context], axis=1)
            projected = self.decoder.project_inputs(fed.reshape(1, *fed.shape))[0]
            hidden, state = self.decoder.step(projected, state)
            for role, value in zip(self.decoder.state_names, state):
                mark_state(value, role)
            if self.attention is None:
                context, weights = encoded.summary, None
            else:
                context, weights = self.attention.attend(hidden, encoded.memory)
            features = ops.concat([hidden, context], axis=1)
            logits = self.output(self.readout(features).tanh())
        return logits, state, context, weights

    def initial_context(self, encoded: Encoded) -> Tensor:
        """The context fed with `<s>`: zeros with attention, the fixed summary without."""
        if self.attention is None:
            return encoded.summary
        return Tensor(np.zeros(encoded.summary.shape, encoded.summary.dtype))

    # --- training ------------------------------------------------------------------------------
    def forward(self, sources, lengths, targets, teacher_forcing: float = 1.0,
                rng: np.random.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """logits (T, B, V) for targets (T, B); attention weights stacked (T, B, S) or None."""
        targets = np.asarray(targets)
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"Seq2Seq: teacher_forcing must be in [0, 1], got {teacher_forcing}")
        encoded = self.encode(sources, lengths)
        if targets.ndim != 2 or targets.shape[1] != len(encoded.lengths):
            raise ShapeError(f"Seq2Seq: expected targets (T, {len(encoded.lengths)}) of token ids, got shape "
                             f"{targets.shape}")
        rng = rng or generator()
        batch = targets.shape[1]
        previous = np.full(batch, self.bos_id, dtype=np.int64)
        state, context = encoded.state, self.initial_context(encoded)
        all_logits, all_weights = [], []
        for step in range(targets.shape[0]):
            logits, state, context, weights = self.decode_step(previous, state, context, encoded, step)
            all_logits.append(logits)
            all_weights.append(weights)
            previous = targets[step]
            if teacher_forcing < 1.0:
                guessed = logits.data.argmax(axis=1)
                previous = np.where(rng.random(batch) < teacher_forcing, previous, guessed)
        logits = ops.stack(all_logits, axis=0)
        weights = None if self.attention is None else ops.stack(all_weights, axis=0)
        return logits, weights

    def loss(self, sources, lengths, targets, teacher_forcing: float = 1.0,
             rng: np.random.Generator | None = None) -> Tensor:
        """Mean cross-entropy over the target tokens (padding ignored)."""
        logits, _ = self(sources, lengths, targets, teacher_forcing, rng)
        targets = np.asarray(targets)
        return F.cross_entropy(logits.reshape(-1, self.target_vocab_size), targets.reshape(-1),
                               ignore_index=self.pad_id)

    # --- decoding ---------------------------------------------------------------------------
    def greedy(self, sources, lengths, max_length: int = 32) -> Decoding:
        """The most likely token at each step, fed back, until every sentence has said `</s>`."""
        with no_grad():
            encoded = self.encode(sources, lengths)
            batch = len(encoded.lengths)
            previous = np.full(batch, self.bos_id, dtype=np.int64)
            state, context = encoded.state, self.initial_context(encoded)
            tokens, weights_seen = [], []
            scores = np.zeros(batch)
            done = np.zeros(batch, dtype=bool)
            for step in range(max_length):
                logits, state, context, weights = self.decode_step(previous, state, context, encoded, step)
                log_probs = _log_softmax(logits.data)
                chosen = log_probs.argmax(axis=1)
                scores += np.where(done, 0.0, log_probs[np.arange(batch), chosen])
                chosen = np.where(done, self.pad_id, chosen)
                tokens.append(chosen)
                if weights is not None:
                    weights_seen.append(weights.data)
                done |= chosen == self.eos_id
                if done.all():
                    break
                previous = chosen
        weights = None if not weights_seen else np.stack(weights_seen, axis=1)
        return Decoding(np.stack(tokens, axis=1), weights, scores)

    def beam_search(self, sources, lengths, beam_size: int = 5, max_length: int = 32,
                    length_penalty: float = 1.0) -> Decoding:
        """Keep the `beam_size` most likely prefixes of each sentence (all sentences at once);
        a prefix ends at `</s>`. The answer is the ended prefix with the best
        log P / length ** length_penalty (0: no normalisation, 1: per-token average)."""
        if not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_search: beam_size must be a positive int, got {beam_size!r}")
        if beam_size > self.target_vocab_size:
            raise ValueError(f"beam_search: beam_size {beam_size} exceeds the {self.target_vocab_size} target tokens")
        with no_grad():
            encoded = self.encode(sources, lengths)
            batch, k, vocab = len(encoded.lengths), beam_size, self.target_vocab_size
            wide = _repeat_encoded(encoded, k)
            state, context = wide.state, self.initial_context(wide)
            scores = np.full((batch, k), -np.inf)
            scores[:, 0] = 0.0                                  # one live prefix per sentence to begin
            history = np.zeros((batch, k, 0), dtype=np.int64)
            weight_history = np.zeros((batch, k, 0, encoded.keys.shape[0]))
            ended = np.zeros((batch, k), dtype=bool)
            length = np.zeros((batch, k), dtype=np.int64)
            previous = np.full(batch * k, self.bos_id, dtype=np.int64)
            rows = np.arange(batch)[:, None]
            for step in range(max_length):
                logits, state, context, weights = self.decode_step(previous, state, context, wide, step)
                log_probs = _log_softmax(logits.data).reshape(batch, k, vocab)
                # An ended prefix continues only with padding, at no cost, so it keeps its score.
                log_probs[ended] = -np.inf
                log_probs[ended, self.pad_id] = 0.0
                candidates = (scores[:, :, None] + log_probs).reshape(batch, k * vocab)
                best = np.argsort(-candidates, axis=1, kind="stable")[:, :k]
                origin, token = best // vocab, best % vocab
                scores = candidates[rows, best]
                was_ended = ended[rows, origin]
                history = np.concatenate([history[rows, origin], token[:, :, None]], axis=2)
                if weights is not None:
                    step_weights = weights.data.reshape(batch, k, 1, -1)[rows, origin]
                    weight_history = np.concatenate([weight_history[rows, origin], step_weights], axis=2)
                length = np.where(was_ended, length[rows, origin], step + 1)
                ended = was_ended | (token == self.eos_id)
                if ended.all():
                    break
                order = (rows * k + origin).reshape(-1)
                state = tuple(Tensor(component.data[order]) for component in state)
                context = Tensor(context.data[order]) if self.attention is not None else context
                previous = np.where(ended.reshape(-1), self.pad_id, token.reshape(-1))
            normalised = np.where(ended, scores / np.maximum(length, 1) ** length_penalty, -np.inf)
            # Sentences with no ended prefix within max_length fall back to their best live one.
            none_ended = ~ended.any(axis=1)
            normalised[none_ended] = scores[none_ended] / np.maximum(length[none_ended], 1) ** length_penalty
            choice = normalised.argmax(axis=1)
        tokens = history[np.arange(batch), choice]
        weights = None if self.attention is None else weight_history[np.arange(batch), choice]
        return Decoding(tokens, weights, normalised[np.arange(batch), choice])


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _repeat_encoded(encoded: Encoded, times: int) -> Encoded:
    """Each sentence `times` times in a row (beam search), cut from the graph."""
    def repeat(tensor: Tensor) -> Tensor:
        return Tensor(np.repeat(tensor.data, times, axis=0))
    memory = None if encoded.memory is None else encoded.memory.repeat(times)
    return Encoded(Tensor(np.repeat(encoded.keys.data, times, axis=1)), memory,
                   tuple(repeat(component) for component in encoded.state), repeat(encoded.summary),
                   np.repeat(encoded.lengths, times))


# --- translating text and checkpoints -------------------------------------------------------
def translate(model: Seq2Seq, task: TranslationTask, texts: list[str], beam_size: int = 1,
              max_length: int | None = None) -> tuple[list[str], Decoding]:
    """Translations of `texts` (greedy when beam_size is 1) and the decoding behind them."""
    sources, lengths = task.encode_sources(texts)
    max_length = max_length or max(2 * int(lengths.max()) + 8, 16)
    was_training = model.training
    model.eval()
    try:
        if beam_size == 1:
            decoding = model.greedy(sources, lengths, max_length)
        else:
            decoding = model.beam_search(sources, lengths, beam_size, max_length)
    finally:
        model.train(was_training)
    return [task.decode_target(row) for row in decoding.tokens], decoding


def alignment(decoding: Decoding, task: TranslationTask, index: int,
              source_length: int) -> tuple[list[str], np.ndarray | None]:
    """Sentence `index` of a decoding: its output tokens up to and including `</s>`, and the
    attention weights (output tokens, source_length) behind them (None without attention)."""
    row = decoding.tokens[index]
    ends = np.flatnonzero(row == task.eos_id)
    keep = int(ends[0]) + 1 if ends.size else len(row)
    tokens = task.target.decode(row[:keep])
    weights = None if decoding.weights is None else decoding.weights[index, :keep, :source_length]
    return tokens, weights


CONFIG_KEY = "seq2seq.config"
FORMAT = "seqgrad.Seq2Seq"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: Seq2Seq, task: TranslationTask, extra: dict | None = None) -> Path:
    """Weights, model config, task name and both vocabularies in one .npz (numbers only: the
    config is UTF-8 JSON stored as bytes), written atomically by `seqgrad.save`."""
    if model.source_vocab_size != len(task.source.vocab) or model.target_vocab_size != len(task.target):
        raise ValueError(f"save_checkpoint: the model's vocabularies ({model.source_vocab_size}, "
                         f"{model.target_vocab_size}) do not match task {task.name!r}'s "
                         f"({len(task.source.vocab)}, {len(task.target)})")
    config = {"format": FORMAT, "version": FORMAT_VERSION, "task": task.name, "model": model.config(),
              "source_vocabulary": task.source.vocab.to_dict(), "target_vocabulary": task.target.to_dict(),
              "extra": extra or {}}
    arrays = {f"model.{name}": value for name, value in model.state_dict().items()}
    arrays[CONFIG_KEY] = json_array(config)
    return save_arrays(arrays, path)


def load_checkpoint(path: str | os.PathLike, task: str | None = None) -> tuple[Seq2Seq, TranslationTask, dict]:
    """(model, task with its vocabularies and no pairs, extra) from `save_checkpoint`'s file.
    `task` names the task expected; a checkpoint of another task or of another kind is refused."""
    arrays = load_arrays(path)
    if CONFIG_KEY not in arrays:
        keys = ", ".join(sorted(arrays)[:4])
        raise CheckpointError(f"{path}: not a sequence-to-sequence checkpoint (no {CONFIG_KEY!r} entry; it holds "
                              f"{keys}{', ...' if len(arrays) > 4 else ''})")
    try:
        config = loads_bounded(arrays[CONFIG_KEY].astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:  # not JSON, or nested deeper than JSON headers ever are
        raise CheckpointError(f"{path}: its {CONFIG_KEY!r} entry is not readable JSON ({error})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: expected format {FORMAT!r} version {FORMAT_VERSION}")
    if task is not None and config.get("task") != task:
        raise CheckpointError(f"{path}: this checkpoint was trained on task {config.get('task')!r}, not {task!r}")
    try:
        source = CharTokenizer(Vocabulary.from_dict(config["source_vocabulary"], source=f"{path} (source)"))
        target = Vocabulary.from_dict(config["target_vocabulary"], source=f"{path} (target)")
        model = Seq2Seq(**config["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: the model description does not fit ({error})") from None
    model.load_state_dict({name[len("model."):]: value for name, value in arrays.items()
                           if name.startswith("model.")})
    model.eval()
    return model, TranslationTask(config["task"], [], [], [], source, target), config.get("extra", {})
