"""The Euclidean norm of a gradient, as every part of seqgrad reports it."""

from __future__ import annotations

import math

import numpy as np


def l2_norm(values) -> float:
    """||values||₂ as a Python float; float32 squares that overflow fall back to float64."""
    squared = float(np.vdot(values, values).real)
    if squared == math.inf:  # float32 squares overflow long before the norm does
        return float(np.linalg.norm(np.asarray(values, dtype=np.float64)))
    return math.sqrt(squared) if squared == squared else math.nan
