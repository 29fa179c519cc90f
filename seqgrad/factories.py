"""Tensors made from a shape: zeros, ones, normal noise."""

import numpy as np

from .dtypes import get_default_dtype
from .random import generator
from .tensor import Tensor


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype or get_default_dtype()), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype or get_default_dtype()), requires_grad=requires_grad)


def zeros_like(other: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(other.data), requires_grad=requires_grad)


def ones_like(other: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(other.data), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal values from seqgrad's generator (see `manual_seed`)."""
    values = generator().standard_normal(_shape(shape)).astype(dtype or get_default_dtype())
    return Tensor(values, requires_grad=requires_grad)


def _shape(shape: tuple) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
