"""The few primitives whose generated line calls a helper instead of one numpy function."""

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x) into `out`, four in-place passes; e^-x may overflow to inf for
    x < -88 (float32), which gives the correct 0 (the caller runs under np.errstate(over="ignore"))."""
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out
