"""A character-level language model (embedding -> recurrent stack -> linear readout) and sampling from it."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..autodiff.tape import no_grad
from ..data.tokenizers import CharTokenizer
from ..data.vocab import PAD_ID, UNK_ID
from ..nn import GRU, LSTM, RNN, Dropout, Embedding, Linear, Module, Recurrent
from ..tensor import Tensor

# Cells a language model can use. A bidirectional layer is not among them: its backward
# direction reads the very character it is asked to predict, so its loss would measure
# copying, not prediction (see `seqgrad tasks --cell bilstm` for a task where it fits).
LM_CELLS: dict[str, Callable[..., Recurrent]] = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
BIDIRECTIONAL_LM_MESSAGE = (
    "a bidirectional LSTM cannot be a next-character language model: its backward direction has already "
    "read the character it must predict; use --cell lstm, gru or rnn (bilstm fits `seqgrad tasks`)"
)


class CharLM(Module):
    """Predicts the next character from the ones before it.

    `model(ids, state=None) -> (logits, state)`; ids (T, B) int, logits (T, B, vocab_size),
    state as the recurrent layer's (`(h, c)` for an LSTM, each (num_layers, B, hidden_size)).
        e_t = E[x_t];   h_t = cell(e_t, h_{t-1});   logits_t = W_out dropout(h_t) + b_out
    `dropout` applies between stacked layers and before the readout, `recurrent_dropout`
    to h_{t-1} inside each layer (one mask per sequence), both only while training.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_size: int = 128, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        if cell == "bilstm":
            raise ValueError(f"CharLM: {BIDIRECTIONAL_LM_MESSAGE}")
        if cell not in LM_CELLS:
            raise ValueError(f"CharLM: cell must be one of {sorted(LM_CELLS)}, got {cell!r}")
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CharLM: {name} must be a positive int, got {value!r}")
        for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"CharLM: {name} must be in [0, 1), got {value!r}")
        self.vocab_size, self.embedding_dim, self.hidden_size = int(vocab_size), int(embedding_dim), int(hidden_size)
        self.cell, self.num_layers = cell, int(num_layers)
        self.dropout_p, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.embedding = Embedding(vocab_size, embedding_dim)
        self.rnn = LM_CELLS[cell](embedding_dim, hidden_size, num_layers, dropout=dropout,
                                  recurrent_dropout=recurrent_dropout)
        self.dropout = Dropout(dropout)
        self.readout = Linear(hidden_size, vocab_size)

    def config(self) -> dict:
        """The constructor's arguments: enough to rebuild the same architecture from a checkpoint."""
        return {"vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim, "hidden_size": self.hidden_size,
                "cell": self.cell, "num_layers": self.num_layers, "dropout": self.dropout_p,
                "recurrent_dropout": self.recurrent_dropout}

    def forward(self, ids, state=None):
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2:
            raise ValueError(f"CharLM: expected ids of shape (T, B), got shape {ids.shape}")
        hidden, state = self.rnn(self.embedding(ids), state)
        return self.readout(self.dropout(hidden)), state

    def extra_repr(self) -> str:
        return f"cell={self.cell}, vocab_size={self.vocab_size}, parameters={self.num_parameters()}"


def sample(model: CharLM, tokenizer: CharTokenizer, prompt: str = "", length: int = 200, temperature: float = 1.0,
           seed: int | None = 0) -> str:
    """`length` characters drawn one at a time from the model after reading `prompt`.

    p(next = k) ∝ exp(logit_k / temperature): below 1 sharper (more likely, more repetitive),
    above 1 flatter; temperature 0 takes the most likely character every time. Padding and
    unknown tokens are never drawn. The draw uses its own generator from `seed`, so the same
    seed gives the same text. Returns only the new characters (not the prompt).
    """
    if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 0:
        raise ValueError(f"sample: length must be an int >= 0, got {length!r}")
    if not (temperature >= 0.0 and math.isfinite(temperature)):
        raise ValueError(f"sample: temperature must be a finite number >= 0, got {temperature!r}")
    if len(tokenizer.vocab) != model.vocab_size:
        raise ValueError(f"sample: the tokenizer has {len(tokenizer.vocab)} tokens but the model predicts "
                         f"{model.vocab_size}")
    unknown = sorted({character for character in prompt if character not in tokenizer.vocab})
    if unknown:
        raise ValueError(f"sample: the prompt has characters the vocabulary does not know: {unknown[:10]!r}")
    generator = np.random.default_rng(seed)
    # Without a prompt the model starts after a newline (the corpus is lines of text), or after
    # its most frequent character when the vocabulary has no newline.
    context = prompt or ("\n" if "\n" in tokenizer.vocab else tokenizer.vocab.tokens[2])
    was_training = model.training
    model.eval()
    drawn = np.empty(length, dtype=np.int64)
    try:
        with no_grad():
            logits, state = model(tokenizer.encode(context)[:, None])
            last = logits.data[-1, 0].astype(np.float64)
            for position in range(length):
                drawn[position] = _draw(last, temperature, generator)
                logits, state = model(drawn[position:position + 1, None], state)
                last = logits.data[-1, 0].astype(np.float64)
    finally:
        model.train(was_training)
    return tokenizer.decode(drawn)


def _draw(logits: np.ndarray, temperature: float, generator: np.random.Generator) -> int:
    """One id from softmax(logits / temperature), never padding or unknown.

    Computed as exp((logits - max) / temperature), which cannot overflow: a temperature so small
    that the division overflows (1e-320), or infinite logits, give the limit of the distribution
    (the most likely ids, equally); NaN logits raise ValueError.
    """
    logits = logits.astype(np.float64, copy=True)
    logits[[PAD_ID, UNK_ID]] = -np.inf
    if np.isnan(logits).any():
        raise ValueError("sample: the model's logits are NaN (its weights are not finite); it cannot be sampled")
    top = logits.max()
    if top == -np.inf:
        raise ValueError("sample: every character has probability 0 (all logits are -inf)")
    if temperature == 0.0 or top == np.inf:
        best = np.flatnonzero(logits == top)
        return int(best[0]) if temperature == 0.0 else int(generator.choice(best))
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        scaled = (logits - top) / temperature   # <= 0; the most likely ids are exactly 0
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum()
    return int(generator.choice(probabilities.size, p=probabilities))
