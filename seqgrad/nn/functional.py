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
softplus = ops.softplus

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_last(scores: Tensor, name: str) -> tuple[Tensor, tuple]:
    """PyTorch's class axis (1) moved last and the rest flattened: (N, C, d...) -> (N·d..., C),
    and the shape (N, d...) of one loss per position ((), for unbatched (C,) scores)."""
    if scores.ndim == 0:
        raise ShapeError(f"{name}: expected scores (C,), (N, C) or (N, C, d...), got a 0-d tensor")
    if scores.ndim == 1:
        return scores.reshape(1, scores.shape[0]), ()
    positions = (scores.shape[0],) + scores.shape[2:]
    if scores.ndim > 2:
        scores = scores.transpose((0,) + tuple(range(2, scores.ndim)) + (1,)).reshape(-1, scores.shape[1])
    return scores, positions


def _class_targets(target, positions: tuple, classes: int, ignore_index: int, name: str) -> np.ndarray:
    """Integer class indices of shape `positions`, flattened; every one in range or ignore_index."""
    target = np.asarray(data(target))
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be integer class indices of shape {positions}, or class "
                        f"probabilities of the scores' shape, got dtype {target.dtype} and shape {target.shape}")
    if target.shape != positions:
        raise ShapeError(f"{name}: targets of shape {target.shape} do not match the scores (expected {positions})")
    target = target.reshape(-1)
    bad = (target != ignore_index) & ((target < 0) | (target >= classes))
    if bad.any():
        raise IndexError(f"{name}: target {int(target[bad][0])} is out of range for {classes} classes")
    return target


def _class_weights(weight, classes: int, dtype, name: str):
    if weight is None:
        return None
    weight = np.asarray(data(weight), dtype=dtype)
    if weight.shape != (classes,):
        raise ShapeError(f"{name}: weight must have one entry per class, shape ({classes},), got {weight.shape}")
    return weight


def _reduce(losses: Tensor, positions: tuple, reduction: str, divisor) -> Tensor:
    """One loss per position: as they are (shaped like the targets), summed, or summed / divisor."""
    if reduction == "none":
        return losses.reshape(positions)
    total = losses.sum()
    return total if reduction == "sum" else total / divisor


def _indexed_loss(scores: Tensor, target: np.ndarray, positions: tuple, weight, ignore_index: int,
                  reduction: str, smoothing: float, log_normaliser: Tensor | None) -> Tensor:
    """-(1-ε)·w_y·log p[y] - (ε/C)·Σ_c w_c log p_c per kept position, with log p = scores - log_normaliser
    (None: scores are log-probabilities already). Means divide by the kept positions' Σ w_y."""
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    classes = scores.shape[-1]
    per_target = keep.astype(scores.dtype) if weight is None else np.where(keep, weight[safe], 0.0).astype(scores.dtype)
    picked = scores[np.arange(len(safe)), safe]
    losses = -picked if log_normaliser is None else log_normaliser - picked
    if smoothing:
        class_terms = scores if weight is None else scores * weight
        smooth = -class_terms.sum(axis=-1)
        if log_normaliser is not None:
            smooth = smooth + log_normaliser * float(classes if weight is None else weight.sum())
        losses = (1.0 - smoothing) * losses * per_target + (smoothing / classes) * smooth * keep.astype(scores.dtype)
    elif weight is not None or not keep.all():
        losses = losses * per_target
    divisor = float(per_target.sum()) if weight is not None else max(int(keep.sum()), 1)
    if weight is not None and divisor == 0.0:
        divisor = np.nan  # PyTorch: a weighted mean over nothing is nan
    return _reduce(losses, positions, reduction, divisor)


def nll_loss(log_probs: Tensor, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """-w_y log p[y] for log-probabilities (N, C) or (N, C, d...) and integer targets (N,) or (N, d...);
    the mean divides by Σ w_y over targets that are not `ignore_index` (their count without weights)."""
    _check_reduction(reduction)
    scores, positions = _class_last(log_probs, "nll_loss")
    target = _class_targets(target, positions, scores.shape[-1], ignore_index, "nll_loss")
    weight = _class_weights(weight, scores.shape[-1], scores.dtype, "nll_loss")
    return _indexed_loss(scores, target, positions, weight, ignore_index, reduction, 0.0, None)


def cross_entropy(logits: Tensor, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """-log softmax(logits)[target] = logsumexp(logits) - logits[target], as PyTorch's cross_entropy.

    logits (N, C), (N, C, d...) or (C,). target: integer class indices (N,) / (N, d...) (`ignore_index`
    ones add nothing and are not counted in the mean), or class probabilities of the logits' shape.
    `weight` (C,) weighs each class; `label_smoothing` ε mixes the target with the uniform
    distribution: (1-ε)·target + ε/C."""
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    scores, positions = _class_last(logits, "cross_entropy")
    classes = scores.shape[-1]
    weight = _class_weights(weight, classes, scores.dtype, "cross_entropy")
    probabilities = target if isinstance(target, Tensor) else np.asarray(target)
    if probabilities.dtype.kind == "f":
        if not isinstance(probabilities, Tensor):  # constant targets follow the logits (no float64 widening)
            probabilities = probabilities.astype(scores.dtype, copy=False)
        return _probability_loss(logits, scores, probabilities, positions, weight, reduction, label_smoothing)
    target = _class_targets(target, positions, classes, ignore_index, "cross_entropy")
    return _indexed_loss(scores, target, positions, weight, ignore_index, reduction, label_smoothing,
                         scores.logsumexp(axis=-1))


def _probability_loss(logits: Tensor, scores: Tensor, target, positions: tuple, weight, reduction: str,
                      smoothing: float) -> Tensor:
    """-Σ_c w_c t_c log softmax(logits)_c per position; the mean is over positions (PyTorch's rule)."""
    if target.shape != logits.shape:
        raise ShapeError(f"cross_entropy: probability targets must have the logits' shape {logits.shape}, "
                         f"got {target.shape}")
    if logits.ndim > 2:
        target = target.transpose((0,) + tuple(range(2, logits.ndim)) + (1,))
    target = target.reshape(scores.shape)
    classes = scores.shape[-1]
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / classes
    log_probs = scores.log_softmax(axis=-1)
    terms = log_probs * target if weight is None else log_probs * target * weight
    losses = -terms.sum(axis=-1)
    return _reduce(losses, positions, reduction, max(len(scores.data), 1))


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """-t log σ(z) - (1-t) log(1-σ(z)) = softplus(z) - t·z, stable for any z."""
    _check_reduction(reduction)
    if np.shape(data(target)) != logits.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: logits {logits.shape} and target "
                         f"{np.shape(data(target))} differ")
    losses = ops.softplus(logits, threshold=None) - logits * target
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


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


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) · weight + bias over the last len(normalized_shape) axes
    (biased variance, as PyTorch and Ba et al. 2016). x: (..., *normalized_shape)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ShapeError(f"layer_norm: expected input (..., {', '.join(map(str, shape))}), got {x.shape}")
    axes = tuple(range(-len(shape), 0))
    centred = x - x.mean(axis=axes, keepdims=True)
    variance = (centred * centred).mean(axis=axes, keepdims=True)
    normalised = centred / (variance + eps).sqrt()
    if weight is not None:
        normalised = normalised * weight
    if bias is not None:
        normalised = normalised + bias
    return normalised
