"""Feed-forward layers: Linear, Embedding, LayerNorm, Dropout, Sequential."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..dtypes import get_default_dtype
from ..errors import ShapeError
from ..ops.primitive import data
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b. weight (out, in), bias (out,), both ~ U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = dtype or get_default_dtype()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = init.uniform_(Parameter(np.empty((out_features, in_features), dtype)), -bound, bound)
        self.bias = init.uniform_(Parameter(np.empty(out_features, dtype)), -bound, bound) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear: expected input (..., {self.in_features}), got {x.shape}")
        if self.bias is None:
            return ops.linear(x, self.weight)
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Rows of a (num_embeddings, dim) table picked by integer ids; weight ~ N(0, 1).

    The gradient is a scatter-add of the output gradient into the used rows (no one-hot).
    With `padding_idx`, as PyTorch: that row starts at zero, is returned as stored (a loaded
    non-zero row stays what it is), and receives no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"padding_idx must be within [-{num_embeddings}, {num_embeddings}), got {padding_idx}")
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim), dtype or get_default_dtype())))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0.0

    def forward(self, ids) -> Tensor:
        ids = np.asarray(data(ids))
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: ids must be in [0, {self.num_embeddings}), got range "
                             f"[{ids.min()}, {ids.max()}]")
        rows = self.weight[ids]
        if self.padding_idx is not None:
            padding = (ids == self.padding_idx)[..., None]
            if padding.any():  # the stored row as a constant: same values, no gradient
                rows = ops.where(padding, self.weight.data[self.padding_idx], rows)
        return rows

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """Normalise over the last axes, then scale and shift (Ba et al. 2016), as PyTorch's:
    y = (x - mean) / sqrt(var + eps) · weight + bias, weight = 1 and bias = 0 at the start.
    x: (..., *normalized_shape)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        dtype = dtype or get_default_dtype()
        self.weight = Parameter(np.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Dropout(Module):
    """Inverted dropout with probability p while training; identity in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied in order; indexable and iterable."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            setattr(self, str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
