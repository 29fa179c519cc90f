"""Exercises of notebook 08 (a character-level RNN): the softmax readout's gradient, bits and perplexity,
and sampling with a temperature."""

from __future__ import annotations

import math

import numpy as np

from ..nn.functional import cross_entropy
from ..tensor import Tensor
from .core import Wrong, as_array, call, close, exercise, largest_difference


@exercise("softmax_readout_grad", "08", """
    Write `dlogits(logits, targets) -> (N, C)`: the gradient of the MEAN cross-entropy
    L = (1/N) Σ_n [logsumexp(logits[n]) - logits[n, targets[n]]] with respect to `logits` (N, C),
    `targets` (N,) class ids. No ignore_index.
    """, hint="row n is (softmax(logits[n]) - onehot(targets[n])) / N: the predicted distribution with 1 taken "
            "off at the right class, divided by the number of predictions")
def _softmax_readout_grad(dlogits) -> str:
    rng = np.random.default_rng(8)
    logits, targets = rng.normal(0.0, 2.0, (6, 5)), rng.integers(0, 5, 6)
    tensor = Tensor(logits, requires_grad=True)
    cross_entropy(tensor, targets).backward()
    expected = tensor.grad
    got = as_array(call(dlogits, logits, targets), logits.shape, "dlogits")
    if close(got, expected):
        return "p - onehot(y), divided by N: equal to the engine's gradient"
    if close(got, expected * len(targets)):
        raise Wrong(f"that is the gradient of the SUM: the mean divides every row by N = {len(targets)}")
    if close(got, -expected) or close(got, -expected * len(targets)):
        raise Wrong("the sign is flipped: it is p - onehot(y) (raising the right class's logit lowers the loss)")
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    if close(got, probabilities / len(targets)) or close(got, probabilities):
        raise Wrong("you returned softmax(logits) alone: take 1 off at each row's target class")
    raise Wrong(f"dlogits differs from the engine's gradient: {largest_difference(got, expected)}")


@exercise("bits_and_perplexity", "08", """
    A character model's mean cross-entropy is measured in nats (natural log). Write
    `convert(mean_nats) -> (bits_per_character, perplexity)`.
    """, hint="bits = nats / ln 2 (log base 2 instead of base e); perplexity = e^(mean nats) = 2^(bits), "
            "the size of a uniform choice that is as uncertain")
def _bits_and_perplexity(convert) -> str:
    for nats in (math.log(65), 1.37):
        result = call(convert, nats)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise Wrong(f"return a pair (bits_per_character, perplexity), got {result!r}")
        bits, perplexity = (float(value) for value in result)
        if math.isclose(bits, nats * math.log(2), rel_tol=1e-9):
            raise Wrong("bits = nats × ln 2 runs the conversion backwards: one bit is ln 2 ≈ 0.693 nats, "
                        "so divide")
        if not math.isclose(bits, nats / math.log(2), rel_tol=1e-9):
            raise Wrong(f"{nats:.4g} nats should be {nats / math.log(2):.4g} bits, got {bits:.4g}")
        if math.isclose(perplexity, 2**nats, rel_tol=1e-9):
            raise Wrong("perplexity is e^nats (or 2^bits), not 2^nats")
        if not math.isclose(perplexity, math.exp(nats), rel_tol=1e-9):
            raise Wrong(f"{nats:.4g} nats should give perplexity {math.exp(nats):.4g}, got {perplexity:.4g}")
    return "a uniform guess among 65 characters is log2(65) = 6.02 bits and perplexity 65"


@exercise("temperature", "08", """
    Write `distribution(logits, temperature) -> probabilities` for sampling the next character:
    the softmax of the logits divided by the temperature (logits (C,)). At temperature 1 it is the
    model's distribution; below 1 it sharpens towards the most likely character, above 1 it
    flattens towards uniform. Make it stable for large logits.
    """, hint="softmax(logits / temperature), computed as exp(u - max u) / Σ exp(u - max u)")
def _temperature(distribution) -> str:
    logits = np.array([2.0, 1.0, -1.0, 0.5, 1.7])
    for temperature in (1.0, 0.5, 2.0):
        scaled = logits / temperature
        expected = np.exp(scaled - scaled.max())
        expected /= expected.sum()
        got = as_array(call(distribution, logits.copy(), temperature), logits.shape, "probabilities")
        if not close(got, expected):
            multiplied = np.exp(logits * temperature - (logits * temperature).max())
            if close(got, multiplied / multiplied.sum()):
                raise Wrong("you multiplied the logits by the temperature: divide, so that T < 1 sharpens")
            raise Wrong(f"at temperature {temperature} the distribution differs: {largest_difference(got, expected)}")
    huge = as_array(call(distribution, np.array([1000.0, 999.0, 0.0]), 1.0), (3,), "probabilities")
    if not np.all(np.isfinite(huge)):
        raise Wrong("logits near 1000 overflow exp(): subtract the largest logit first")
    return "softmax(logits / T): T < 1 sharpens, T > 1 flattens"
