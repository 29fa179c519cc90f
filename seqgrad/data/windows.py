"""Sliding windows over a time series: (past `window` steps -> next `horizon` steps) pairs for forecasting."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def sliding_windows(series: np.ndarray, window: int, horizon: int = 1, stride: int = 1, *,
                    batch_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into inputs of `window` steps and the `horizon` steps that follow each, every `stride` steps.

    Shapes: `series` (T, *features), time first (a 1-D series has no feature axis; pass
    `series[:, None]` for an RNN that wants one). With N = (T - window - horizon) // stride + 1:
    inputs (window, N, *features) and targets (horizon, N, *features), or (N, window, *features)
    and (N, horizon, *features) with `batch_first`.
    Window n: inputs = series[n·stride : n·stride + window], targets = the next `horizon` steps.
    """
    values = np.asarray(series)
    for name, value in (("window", window), ("horizon", horizon), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"sliding_windows: {name} must be an int >= 1, got {value!r}")
    if values.ndim == 0:
        raise ValueError("sliding_windows: expected a series of shape (T, *features), got a scalar")
    span = window + horizon
    if values.shape[0] < span:
        raise ValueError(f"sliding_windows: window {window} + horizon {horizon} needs at least {span} steps, "
                         f"got a series of shape {values.shape}")
    # View of shape (T - span + 1, *features, span); keep every stride-th start, then put time after N.
    spans = np.moveaxis(sliding_window_view(values, span, axis=0)[::stride], -1, 1)
    inputs, targets = spans[:, :window], spans[:, window:]
    if not batch_first:
        inputs, targets = np.swapaxes(inputs, 0, 1), np.swapaxes(targets, 0, 1)
    # Copies: the views are read-only and share memory with `series`.
    return np.ascontiguousarray(inputs), np.ascontiguousarray(targets)
