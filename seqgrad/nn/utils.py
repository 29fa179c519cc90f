"""Gradient clipping (applied to `.grad` in place, after backward, before the optimizer step)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..autodiff.norm import l2_norm
from ..tensor import Tensor


def _grads(parameters) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data if isinstance(p.grad, Tensor) else p.grad for p in parameters if p.grad is not None]


def grad_norm(parameters: Iterable[Tensor] | Tensor) -> float:
    """sqrt(Σ_p ||grad_p||²) over the parameters that have a gradient (0.0 if none has)."""
    return _total_norm(_grads(parameters))


def _total_norm(grads: list[np.ndarray]) -> float:
    return math.sqrt(sum(l2_norm(g) ** 2 for g in grads))


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients by min(1, max_norm / (total + 1e-6)), total = sqrt(Σ ||grad||²).

    Returns the total norm before clipping. A non-finite total is never applied silently:
    it raises with `error_if_nonfinite`, and otherwise leaves the gradients unchanged.
    """
    if not max_norm > 0:   # also refuses nan, which every comparison would let through
        raise ValueError(f"clip_grad_norm_: max_norm must be a positive number, got {max_norm}")
    grads = _grads(parameters)
    if not grads:
        return 0.0
    total = _total_norm(grads)
    if not np.isfinite(total):
        if error_if_nonfinite:
            raise FloatingPointError(f"the total gradient norm is {total}: some gradient is not finite, "
                                     "so it cannot be clipped")
        return total
    scale = min(1.0, max_norm / (total + 1e-6))
    if scale < 1.0:
        for g in grads:
            g *= scale
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]."""
    if not clip_value > 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a positive number, got {clip_value}")
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
