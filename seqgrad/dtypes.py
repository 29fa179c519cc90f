"""The default floating dtype for data given as Python numbers or lists."""

import numpy as np

_default = np.dtype(np.float32)


def set_default_dtype(dtype) -> None:
    """Use `dtype` (float32 or float64) for tensors built from Python numbers and lists."""
    global _default
    chosen = np.dtype(dtype)
    if chosen not in (np.float32, np.float64):
        raise TypeError(f"default dtype must be float32 or float64, got {chosen}")
    _default = chosen


def get_default_dtype() -> np.dtype:
    return _default
