"""The few functions gradient rules need that numpy arrays and Tensors spell
differently. Each takes either, so one rule serves plain and double backward."""

import numpy as np

from ..tensor import Tensor


def exp(value):
    return value.exp() if isinstance(value, Tensor) else np.exp(value)


def expand(value, shape: tuple):
    """Broadcast `value` up to `shape` (a view for arrays, a recorded op for Tensors)."""
    if isinstance(value, Tensor):
        from .shape import broadcast_to
        return broadcast_to(value, shape=tuple(shape))
    return np.broadcast_to(value, shape)


def kept_shape(shape: tuple, axis) -> tuple:
    """The shape a reduction over `axis` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def sin(value):
    return value.sin() if isinstance(value, Tensor) else np.sin(value)


def cos(value):
    return value.cos() if isinstance(value, Tensor) else np.cos(value)


def cumsum(value, axis: int):
    if isinstance(value, Tensor):
        from .reduce import cumsum as recorded
        return recorded(value, axis=axis)
    return np.cumsum(value, axis=axis)


def einsum(equation: str, *operands):
    if any(isinstance(operand, Tensor) for operand in operands):
        from .linalg import einsum_equation
        return einsum_equation(*operands, equation=equation)
    return np.einsum(equation, *operands, optimize=len(operands) > 2)
