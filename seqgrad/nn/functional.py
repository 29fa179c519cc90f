"""Losses and stateless layers written from primitive ops."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ShapeError
from ..ops.primitive import data
from ..random import generator
from ..tensor import Tensor

softmax = ops.softmax
log_softmax = ops.log_softmax

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_last(scores: Tensor, target) -> tuple[Tensor, np.ndarray]:
    """Move PyTorch's class axis (1) last and flatten: (N, C, d...) -> (N·d..., C)."""
    target = np.asarray(data(target))
    if target.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class indices, got dtype {target.dtype}")
    if scores.ndim == 1:
        scores = scores.reshape(1, scores.shape[0])
        target = target.reshape(1)
    elif scores.ndim > 2:
        axes = (0,) + tuple(range(2, scores.ndim)) + (1,)
        scores = scores.transpose(axes)
    expected = scores.shape[:-1]
    if target.shape != expected and scores.ndim == 2:
        raise ShapeError(f"cross_entropy: targets of shape {target.shape} do not match scores {scores.shape} "
                         f"(expected {expected})")
    if scores.ndim > 2:
        if target.shape != expected:
            raise ShapeError(f"cross_entropy: targets of shape {target.shape} do not match expected {expected}")
        scores = scores.reshape(-1, scores.shape[-1])
        target = target.reshape(-1)
    return scores, target


def _pick(scores: Tensor, target: np.ndarray, ignore_index: int, reduction: str) -> Tensor:
    """-scores[n, target[n]] reduced, leaving out positions whose target is ignore_index."""
    _check_reduction(reduction)
    keep = target != ignore_index
    classes = scores.shape[-1]
    safe = np.where(keep, target, 0)
    if ((safe < 0) | (safe >= classes)).any():
        bad = target[keep & ((target < 0) | (target >= classes))]
        raise IndexError(f"target {int(bad[0])} is out of range for {classes} classes")
    picked = scores[np.arange(len(safe)), safe]
    if not keep.all():
        picked = picked * keep.astype(scores.dtype)
    if reduction == "none":
        return -picked
    total = -picked.sum()
    return total if reduction == "sum" else total / max(int(keep.sum()), 1)


def nll_loss(log_probs: Tensor, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of `target` under `log_probs` (N, C) or (N, C, d...)."""
    scores, target = _class_last(log_probs, target)
    return _pick(scores, target, ignore_index, reduction)


def cross_entropy(logits: Tensor, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[target] = logsumexp(logits) - logits[target], averaged over the
    targets that are not `ignore_index`. logits: (N, C) or (N, C, d...); target: (N,) or (N, d...)."""
    scores, target = _class_last(logits, target)
    _check_reduction(reduction)
    log_normaliser = scores.logsumexp(axis=-1)
    keep = target != ignore_index
    if reduction == "none":
        return log_normaliser * keep.astype(scores.dtype) + _pick(scores, target, ignore_index, "none")
    masked = log_normaliser * keep.astype(scores.dtype) if not keep.all() else log_normaliser
    total = masked.sum() + _pick(scores, target, ignore_index, "sum")
    return total if reduction == "sum" else total / max(int(keep.sum()), 1)


def mse_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of squared differences; shapes must match exactly."""
    _check_reduction(reduction)
    if np.shape(data(target)) != prediction.shape:
        raise ShapeError(f"mse_loss: prediction {prediction.shape} and target {np.shape(data(target))} differ")
    difference = prediction - target
    squared = difference * difference
    if reduction == "none":
        return squared
    return squared.sum() if reduction == "sum" else squared.mean()


def dropout_mask(shape: tuple, p: float, dtype) -> np.ndarray:
    """Inverted-dropout mask: 0 with probability p, else 1/(1-p)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    keep = generator().random(shape) >= p
    return keep.astype(dtype) / np.asarray(1.0 - p, dtype=dtype)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not training."""
    if not training or p == 0.0:
        return x
    return x * dropout_mask(x.shape, p, x.dtype)


def masked_softmax(scores: Tensor, mask, axis: int = -1) -> Tensor:
    """Softmax over `axis` of the positions where `mask` holds; the others get exactly zero
    weight and exactly zero gradient. scores (..., T); mask: booleans broadcastable to scores,
    with at least one True along `axis` in every row.

        w_t = m_t exp(s_t) / Σ_u m_u exp(s_u)

    Masked scores are replaced (by `where`, whose vjp sends them nothing) with the dtype's
    lowest finite value, whose exp underflows to exactly 0 (finite, so detect_anomaly stays quiet).
    """
    mask = np.asarray(data(mask), dtype=bool)
    try:
        mask = np.broadcast_to(mask, scores.shape)
    except ValueError:
        raise ShapeError(f"masked_softmax: mask of shape {mask.shape} does not broadcast to scores "
                         f"{scores.shape}") from None
    if mask.all():
        return ops.softmax(scores, axis=axis)
    if not mask.any(axis=axis).all():
        raise ValueError(f"masked_softmax: every row needs at least one unmasked position along axis {axis}; "
                         f"mask of shape {mask.shape} has a row with none")
    lowest = np.asarray(np.finfo(scores.dtype).min, dtype=scores.dtype)
    return ops.softmax(ops.where(mask, scores, lowest), axis=axis)
