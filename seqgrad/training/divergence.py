"""When a training run has diverged: its loss or a parameter is not finite, or its loss ended far
above where it started. A diverged run is reported, never saved as if it had trained."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..tensor import Tensor

DIVERGED_FACTOR = 2.0   # a final loss above this many times the reference is a diverged run


def divergence(losses: Sequence[float], parameters: Iterable[tuple[str, Tensor]], final: float | None = None,
               reference: float | None = None, final_label: str = "loss") -> str | None:
    """Why a run diverged, or None when it did not.

    losses: the training losses, one per update; parameters: (name, tensor) pairs; final: the
    loss the run ended with (held-out, or the mean of the last updates); reference: where the loss
    started (its first value, or a baseline's, whichever is higher); final_label names `final` in the reason.
    """
    for update, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            return f"the training loss became {loss} at update {update}"
    for name, parameter in parameters:
        if not np.isfinite(parameter.data).all():
            return f"parameter {name} holds non-finite values"
    if final is not None and not math.isfinite(final):
        return f"the {final_label} is {final}"
    if final is not None and reference is not None and final > DIVERGED_FACTOR * reference:
        return f"the {final_label} ended at {final:.4g}, far above the {reference:.4g} it started from"
    return None


def diverged_message(reason: str, lr: float, clip: float | None) -> str:
    """One line: the run diverged, why, and what to try."""
    advice = f"try a lower --lr (this run: {lr:g})"
    advice += f" or a smaller --clip (this run: {clip:g})" if clip else " or --clip 1 (clipping was off)"
    return f"training diverged: {reason}; {advice}"
