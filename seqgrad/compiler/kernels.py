"""The few primitives whose generated line calls a helper instead of one numpy function."""

import numpy as np


def sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x) into `out`, four in-place passes; e^-x may overflow to inf for
    x < -88 (float32), which gives the correct 0 (the caller runs under np.errstate(over="ignore")).
    Speed: the last pass is `np.divide(1.0, ·)`, not `np.reciprocal` (the same correctly rounded
    quotient; numpy vectorises the division and not the float32 reciprocal: 3.0 -> 2.1 µs on 32 × 384)."""
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.divide(1.0, out, out=out)
    return out
