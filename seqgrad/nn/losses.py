"""Loss modules: PyTorch's names and options around `nn.functional`'s losses."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """mean (or sum, or each) of (prediction - target)²; shapes must match."""

    def forward(self, prediction: Tensor, target) -> Tensor:
        return F.mse_loss(prediction, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """-w_y log p[y] from log-probabilities (N, C) or (N, C, d...) and class indices (N,) or (N, d...)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = None if weight is None else np.asarray(getattr(weight, "data", weight))
        self.ignore_index = ignore_index

    def forward(self, log_probs: Tensor, target) -> Tensor:
        return F.nll_loss(log_probs, target, self.weight, self.ignore_index, self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, " + super().extra_repr()


class CrossEntropyLoss(_Loss):
    """logsumexp(logits) - logits[target] (class indices, with `ignore_index`) or -Σ t log softmax
    (class probabilities); optional class `weight` and `label_smoothing`, as PyTorch's."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight = None if weight is None else np.asarray(getattr(weight, "data", weight))
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, logits: Tensor, target) -> Tensor:
        return F.cross_entropy(logits, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)

    def extra_repr(self) -> str:
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"ignore_index={self.ignore_index}, " + super().extra_repr() + smoothing
