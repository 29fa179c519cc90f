"""Exercises of notebook 07 (sequence to sequence with attention): additive attention, and teacher forcing."""

from __future__ import annotations

import numpy as np

from ..nn import AdditiveAttention
from ..tensor import Tensor
from .core import Wrong, as_array, call, close, exercise, largest_difference


def _library(query, keys, lengths, weight_query, weight_key, bias, v):
    """seqgrad.nn.AdditiveAttention with these weights: (weights (B, S), context (B, H))."""
    attention = AdditiveAttention(query.shape[1], keys.shape[2], weight_query.shape[0], dtype=np.float64)
    attention.query_projection.weight.data = weight_query.copy()
    attention.key_projection.weight.data, attention.key_projection.bias.data = weight_key.copy(), bias.copy()
    attention.v.data = v.copy()
    context, weights = attention(Tensor(query), Tensor(keys), lengths=lengths)
    return weights.data, context.data


def _additive(query, keys, lengths, weight_query, weight_key, bias, v, masked=True, axis=0):
    scores = np.tanh(query @ weight_query.T + keys @ weight_key.T + bias) @ v      # (S, B)
    if masked:
        scores = np.where(np.arange(keys.shape[0])[:, None] < lengths[None, :], scores, -np.inf)
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    weights = shifted / shifted.sum(axis=axis, keepdims=True)
    return weights.T, np.einsum("sb,sbh->bh", weights, keys)


@exercise("additive_attention", "07", """
    Write Bahdanau's additive attention for one decoder step in numpy (what
    `seqgrad.nn.AdditiveAttention` computes):
    `attend(query, keys, lengths, weight_query, weight_key, bias, v) -> (weights, context)` with
    query (B, H) the decoder state, keys (S, B, H) the encoder outputs (time first), lengths (B,)
    each source's length, weight_query and weight_key (A, H), bias and v (A,). Each source step s
    scores vᵀ tanh(W_q query + W_k key_s + bias); the weights are the softmax of the scores over
    the source steps of that sequence (steps past its length get weight 0); the context is the
    weighted sum of the keys. Return weights (B, S) and context (B, H).
    """, hint="scores = np.tanh(query @ W_q.T + keys @ W_k.T + bias) @ v has shape (S, B); set scores past "
            "each length to -inf, softmax over axis 0 (the source steps), context = Σ_s weights[s] * keys[s]")
def _additive_attention(attend) -> str:
    rng = np.random.default_rng(7)
    steps, batch, size, attention_size = 5, 3, 4, 6
    arrays = (rng.normal(size=(batch, size)), rng.normal(size=(steps, batch, size)), np.array([5, 3, 1]),
              rng.normal(size=(attention_size, size)), rng.normal(size=(attention_size, size)),
              rng.normal(size=attention_size), rng.normal(size=attention_size))
    result = call(attend, *arrays)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Wrong(f"return a pair (weights, context), got {type(result).__name__}")
    weights = as_array(result[0], (batch, steps), "weights")
    context = as_array(result[1], (batch, size), "context")
    expected_weights, expected_context = _library(*arrays)
    if close(weights, expected_weights) and close(context, expected_context):
        return ("equal to seqgrad.nn.AdditiveAttention: weights sum to 1 over each sequence's own source steps, "
                "the context is their weighted sum")
    if close(weights, _additive(*arrays, masked=False)[0]):
        raise Wrong("steps past a sequence's length get weight: they are padding; mask their scores with -inf "
                    "before the softmax")
    if np.allclose(weights.sum(axis=0), 1.0) or close(weights, _additive(*arrays, axis=1)[0]):
        raise Wrong("your weights sum to 1 over the batch: the softmax runs over the source steps of each sequence")
    if close(weights, expected_weights):
        raise Wrong(f"the weights are right, the context is not: {largest_difference(context, expected_context)}")
    raise Wrong(f"the weights differ: {largest_difference(weights, expected_weights)}")


BOS = 1


@exercise("teacher_forcing_inputs", "07", f"""
    Teacher forcing feeds the decoder the true previous character instead of its own guess. Write
    `decoder_inputs(targets) -> inputs` for target ids (T, B), time first: the decoder's input at
    step j is the target at step j - 1, and at step 0 the start symbol BOS = {BOS}.
    """, hint=f"shift the targets down by one step along time and put BOS = {BOS} in front: "
            "np.concatenate([np.full((1, B), BOS), targets[:-1]])")
def _teacher_forcing_inputs(decoder_inputs) -> str:
    targets = np.array([[5, 7], [6, 8], [2, 9], [0, 2]])
    expected = np.concatenate([np.full((1, 2), BOS), targets[:-1]])
    got = np.asarray(call(decoder_inputs, targets.copy()))
    if got.shape != targets.shape:
        raise Wrong(f"inputs should have the targets' shape {targets.shape}, got {got.shape}")
    if np.array_equal(got, targets):
        raise Wrong("those are the targets themselves: the decoder would be shown the answer it must predict")
    if np.array_equal(got, np.concatenate([targets[1:], np.full((1, 2), BOS)])):
        raise Wrong("you shifted the wrong way: step j sees the PREVIOUS target, j - 1")
    if not np.array_equal(got, expected):
        raise Wrong(f"expected\n{expected}\ngot\n{got}")
    return "step j reads target j - 1 and predicts target j"
