"""Attention over the steps of an encoded sequence, written only with primitive ops.

    context, weights = attention(query, keys, values=None, lengths=None)

- query (B, query_size): what is looking (a decoder's hidden state);
- keys (T, B, key_size): what is looked at (an encoder's outputs, time-major as the
  recurrent layers give them); values (T, B, D_v) are averaged, the keys by default;
- lengths: one int per batch entry; steps past a sequence's length get exactly zero
  weight and zero gradient (`functional.masked_softmax`);
- context (B, D_v) = Σ_t weights[:, t] values[t]; weights (B, T), each row sums to 1.

The score of step t decides its weight, weights = masked softmax over t of the scores:
    AdditiveAttention (Bahdanau et al. 2015):    score_t = vᵀ tanh(W_q q + W_k k_t + b)
    DotProductAttention "dot" (Luong et al. 2015):     score_t = qᵀ k_t        (query_size == key_size)
    DotProductAttention "general":                     score_t = qᵀ W k_t
    scale=True divides the dot-product scores by √d (d = query_size, the size of the product).

A decoder attends with the same keys at every step, so the part of the work that depends
only on the keys (the key projection, the batch-first layout, the mask) is done once by
`memory(keys, values, lengths)`; `attend(query, memory)` is the per-step part. Calling the
module does both. Every op is recorded in `scope(<name>)` (with `step=` when given), which is
how a drawing boxes the attention of each decoder step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import ops
from ..autodiff.tape import scope
from ..dtypes import get_default_dtype
from ..errors import ShapeError
from ..ops.primitive import data
from ..tensor import Tensor
from . import init
from .functional import masked_softmax
from .layers import Linear
from .module import Module, Parameter


@dataclass(eq=False)
class AttentionMemory:
    """What `attend` needs from the keys, computed once per sequence batch.

    keys (B, T, ·): the keys batch-first, projected where the score allows it;
    values (B, T, D_v) batch-first; mask (B, T) booleans or None when no step is padded;
    lengths (B,) int64."""

    keys: Tensor
    values: Tensor
    mask: np.ndarray | None
    lengths: np.ndarray

    @property
    def steps(self) -> int:
        return self.values.shape[1]

    @property
    def batch_size(self) -> int:
        return self.values.shape[0]

    def repeat(self, times: int) -> AttentionMemory:
        """Each batch entry `times` times in a row (beam search: k hypotheses per sentence).
        The result is cut from the graph: for decoding, not training."""
        mask = None if self.mask is None else np.repeat(self.mask, times, axis=0)
        return AttentionMemory(Tensor(np.repeat(self.keys.data, times, axis=0)),
                               Tensor(np.repeat(self.values.data, times, axis=0)), mask,
                               np.repeat(self.lengths, times))


def length_mask(lengths, steps: int, batch: int, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(lengths (B,) int64, mask (B, T) or None when every sequence fills all T steps), checked."""
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64), None
    lengths = np.asarray(data(lengths))
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"{where}: lengths must be a sequence of ints, one per batch entry; got {lengths!r}")
    if len(lengths) != batch:
        raise ValueError(f"{where}: lengths has {len(lengths)} entries but the keys hold {batch} sequences")
    if lengths.min() < 1:
        bad = int(np.flatnonzero(lengths < 1)[0])
        raise ValueError(f"{where}: lengths must be at least 1 (a sequence with no steps has nothing to attend "
                         f"to), got {int(lengths[bad])} for sequence {bad}")
    if lengths.max() > steps:
        bad = int(np.flatnonzero(lengths > steps)[0])
        raise ValueError(f"{where}: lengths must be at most the {steps} steps of the keys, got "
                         f"{int(lengths[bad])} for sequence {bad}")
    lengths = lengths.astype(np.int64)
    if (lengths == steps).all():
        return lengths, None
    return lengths, np.arange(steps)[None, :] < lengths[:, None]


class Attention(Module):
    """Base class: `memory` prepares the keys, `score` rates them against a query, `attend` mixes
    the values. Subclasses define `project_keys(keys_bt)` and `score(query, memory)`."""

    query_size: int
    key_size: int

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        for label, size in (("query_size", query_size), ("key_size", key_size)):
            if not isinstance(size, int) or size <= 0:
                raise ValueError(f"{type(self).__name__}: {label} must be a positive int, got {size!r}")
        self.query_size, self.key_size = query_size, key_size
        self.name = type(self).__name__

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None, lengths=None,
                step: int | None = None) -> tuple[Tensor, Tensor]:
        """context (B, D_v), weights (B, T); see the module docstring."""
        return self.attend(query, self.memory(keys, values, lengths), step=step)

    def memory(self, keys: Tensor, values: Tensor | None = None, lengths=None) -> AttentionMemory:
        """The keys' share of the work, done once: checks, batch-first layout, key projection, mask."""
        keys = keys if isinstance(keys, Tensor) else Tensor(keys)
        if keys.ndim != 3 or keys.shape[2] != self.key_size:
            raise ShapeError(f"{self.name}: expected keys (T, B, {self.key_size}), got shape {keys.shape}")
        steps, batch, _ = keys.shape
        if steps == 0:
            raise ShapeError(f"{self.name}: the keys have no time steps (shape {keys.shape})")
        if values is not None:
            values = values if isinstance(values, Tensor) else Tensor(values)
            if values.ndim != 3 or values.shape[:2] != (steps, batch):
                raise ShapeError(f"{self.name}: expected values (T, B, D_v) = ({steps}, {batch}, D_v) like the "
                                 f"keys, got shape {values.shape}")
        lengths, mask = length_mask(lengths, steps, batch, self.name)
        with scope(f"{self.name} memory"):
            keys_bt = keys.transpose(1, 0, 2)
            values_bt = keys_bt if values is None else values.transpose(1, 0, 2)
            projected = self.project_keys(keys_bt)
        return AttentionMemory(projected, values_bt, mask, lengths)

    def attend(self, query: Tensor, memory: AttentionMemory, step: int | None = None) -> tuple[Tensor, Tensor]:
        """context (B, D_v) and weights (B, T) for `query` (B, query_size)."""
        query = query if isinstance(query, Tensor) else Tensor(query)
        batch = memory.batch_size
        if query.shape != (batch, self.query_size):
            raise ShapeError(f"{self.name}: expected query ({batch}, {self.query_size}) for keys of "
                             f"{batch} sequences, got shape {query.shape}")
        labels = {} if step is None else {"step": step}
        with scope(self.name, **labels):
            scores = self.score(query, memory)
            weights = ops.softmax(scores, axis=-1) if memory.mask is None else masked_softmax(scores, memory.mask)
            mixed = ops.matmul(weights.reshape(batch, 1, memory.steps), memory.values)
            context = mixed.reshape(batch, memory.values.shape[2])
        return context, weights

    def project_keys(self, keys: Tensor) -> Tensor:
        """keys (B, T, key_size) -> what `score` uses; default: the keys themselves."""
        return keys

    def score(self, query: Tensor, memory: AttentionMemory) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define score(query, memory) -> (B, T)")


class AdditiveAttention(Attention):
    """Bahdanau attention: score_t = vᵀ tanh(W_q q + W_k k_t + b).

    query_projection: Linear(query_size, hidden_size, bias=False) (W_q);
    key_projection: Linear(key_size, hidden_size) (W_k, b); v (hidden_size,) ~ U(-1/√hidden, 1/√hidden).
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int, dtype=None) -> None:
        super().__init__(query_size, key_size)
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"AdditiveAttention: hidden_size must be a positive int, got {hidden_size!r}")
        self.hidden_size = hidden_size
        self.query_projection = Linear(query_size, hidden_size, bias=False, dtype=dtype)
        self.key_projection = Linear(key_size, hidden_size, dtype=dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        self.v = init.uniform_(Parameter(np.empty(hidden_size, dtype or get_default_dtype())), -bound, bound)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_k k_t + b for every step at once: (B, T, hidden_size)."""
        return self.key_projection(keys)

    def score(self, query: Tensor, memory: AttentionMemory) -> Tensor:
        batch = memory.batch_size
        projected_query = self.query_projection(query).reshape(batch, 1, self.hidden_size)
        energy = (memory.keys + projected_query).tanh()        # (B, T, hidden_size)
        return ops.matmul(energy, self.v)                      # (B, T)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, hidden_size={self.hidden_size}"


class DotProductAttention(Attention):
    """Luong attention: score_t = qᵀ k_t ("dot") or qᵀ W k_t ("general", W (query_size, key_size)),
    divided by √query_size when `scale`."""

    KINDS = ("dot", "general")

    def __init__(self, query_size: int, key_size: int, kind: str = "dot", scale: bool = False, dtype=None) -> None:
        super().__init__(query_size, key_size)
        if kind not in self.KINDS:
            raise ValueError(f"DotProductAttention: kind must be one of {self.KINDS}, got {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(f"DotProductAttention: kind='dot' needs query_size == key_size, got {query_size} and "
                             f"{key_size}; use kind='general' to learn a map between them")
        self.kind, self.scale = kind, bool(scale)
        if kind == "general":
            # W k_t as a Linear without bias: weight (query_size, key_size), ~ U(-1/√key_size, 1/√key_size).
            self.key_projection = Linear(key_size, query_size, bias=False, dtype=dtype)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W k_t for every step at once (general), scaled by 1/√d when asked: (B, T, query_size)."""
        if self.kind == "general":
            keys = self.key_projection(keys)
        if self.scale:
            keys = keys * np.asarray(1.0 / math.sqrt(self.query_size), dtype=keys.dtype)
        return keys

    def score(self, query: Tensor, memory: AttentionMemory) -> Tensor:
        batch = memory.batch_size
        scores = ops.matmul(memory.keys, query.reshape(batch, self.query_size, 1))   # (B, T, 1)
        return scores.reshape(batch, memory.steps)

    def extra_repr(self) -> str:
        scaled = ", scale=True" if self.scale else ""
        return f"query_size={self.query_size}, key_size={self.key_size}, kind={self.kind!r}{scaled}"
