"""Functions composed from primitives, with no gradient rule of their own: backward goes through
their parts. PyTorch's names and arguments (`dim`, `keepdim`), numpy's where they differ by name
only (`axis`, `keepdims`)."""

from __future__ import annotations

import builtins
from typing import NamedTuple

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import reduce, shape, unary
from .select import maximum, where


class ValuesIndices(NamedTuple):
    """What `max(x, dim)` and `min(x, dim)` return, as PyTorch's `torch.return_types.max`."""

    values: Tensor
    indices: Tensor


def pick_axis(name: str, dim, axis, keepdim, keepdims):
    """One axis and one keep flag from PyTorch's (`dim`, `keepdim`) or numpy's (`axis`, `keepdims`)."""
    if dim is not None and axis is not None:
        raise TypeError(f"{name}: pass dim (PyTorch) or axis (numpy), not both")
    chosen = axis if dim is None else dim
    return (tuple(chosen) if isinstance(chosen, list) else chosen), bool(keepdim or keepdims)


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _extreme(name: str, x, dim, keepdim: bool, arg) -> ValuesIndices:
    """(values, indices) along one `dim`; the gradient goes to the chosen index only (PyTorch's rule)."""
    x = _as_tensor(x)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}(x, dim): dim must be one int, got {dim!r} (use axis= for several axes)")
    if x.ndim == 0:
        if dim not in (0, -1):
            raise ShapeError(f"{name}: dim {dim} is out of range for a 0-d tensor")
        return ValuesIndices(x.reshape(()), Tensor(np.array(0, dtype=np.int64)))
    if not -x.ndim <= dim < x.ndim:
        raise ShapeError(f"{name}: dim {dim} is out of range for shape {x.shape}")
    dim = dim % x.ndim
    if x.shape[dim] == 0:
        raise ShapeError(f"{name}: cannot reduce the empty dim {dim} of shape {x.shape}")
    indices = arg(x.data, axis=dim)
    grid = np.indices(indices.shape, sparse=True)
    index = tuple(grid[:dim]) + (indices,) + tuple(grid[dim:])
    values = x[index]
    if keepdim:
        values, indices = unsqueeze(values, dim), np.expand_dims(indices, dim)
    return ValuesIndices(values, Tensor(indices.astype(np.int64)))


def max(x, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
    """Largest elements, PyTorch's three forms: `max(x)` (all, ties share the gradient);
    `max(x, dim)` -> (values, indices) along dim (the gradient goes to the index); `max(x, other)`
    element-wise (`maximum`). `axis=` (int, tuple) gives numpy's values-only reduction."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is not None and axis is None:
        return _extreme("max", x, dim, keepdim, np.argmax)
    axis, keep = pick_axis("max", dim, axis, keepdim, keepdims)
    return reduce.max(x, axis=axis, keepdims=keep)


def min(x, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):
    """Smallest elements, the three forms of `max`: -max(-x) without dim, (values, indices) with it."""
    if isinstance(dim, Tensor):
        from .select import minimum
        return minimum(x, dim)
    if dim is not None and axis is None:
        return _extreme("min", x, dim, keepdim, np.argmin)
    axis, keep = pick_axis("min", dim, axis, keepdim, keepdims)
    return -reduce.max(-_as_tensor(x), axis=axis, keepdims=keep)


def prod(x, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False, dtype=None) -> Tensor:
    """Product over `dim` (int, tuple or None for all). Pairwise products in log2(n) rounds, so the
    gradient (the product of the other elements) is exact with zeros present, where prod/x is not."""
    x = _as_tensor(x)
    axis, keep = pick_axis("prod", dim, axis, keepdim, keepdims)
    if dtype is not None:
        raise TypeError("prod: dtype= is not supported; cast the input first")
    axes = tuple(range(x.ndim)) if axis is None else ((axis,) if isinstance(axis, (int, np.integer)) else axis)
    span = builtins.max(x.ndim, 1)  # a 0-d tensor takes dim 0 or -1, as PyTorch
    if any(not -span <= a < span for a in axes) or len({a % span for a in axes}) != len(axes):
        raise ShapeError(f"prod: dims {axis} are out of range or repeated for shape {x.shape}")
    axes = tuple(sorted(a % span for a in axes)) if x.ndim else ()
    original = x.shape
    rest = tuple(a for a in range(x.ndim) if a not in axes)
    kept_shape = tuple(x.shape[a] for a in rest)
    count = int(np.prod([x.shape[a] for a in axes]))
    if rest + axes != tuple(range(x.ndim)):  # the reduced axes last, merged into one
        x = x.transpose(rest + axes)
    rows = x.reshape(kept_shape + (count,))
    if count == 0:
        result = Tensor(np.ones(kept_shape, x.dtype))
    else:
        while rows.shape[-1] > 1:
            half = rows.shape[-1] // 2
            paired = rows[..., :half] * rows[..., half:2 * half]
            rows = shape.concat([paired, rows[..., 2 * half:]], axis=-1) if rows.shape[-1] % 2 else paired
        result = rows.reshape(kept_shape)
    if keep:
        result = result.reshape(tuple(1 if a in axes else size for a, size in enumerate(original)))
    return result


def var(x, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims: bool = False) -> Tensor:
    """Variance over `dim`: Σ (x - mean)² / (N - correction). As PyTorch: correction 1 (Bessel's,
    `unbiased=True`) by default, `unbiased=False` is correction 0; N - correction ≤ 0 gives inf or nan."""
    x = _as_tensor(x)
    axis, keep = pick_axis("var", dim, axis, keepdim, keepdims)
    if unbiased is not None and correction is not None:
        raise TypeError("var: pass unbiased or correction, not both")
    correction = (1 if unbiased is None or unbiased else 0) if correction is None else correction
    count = x.size if axis is None else int(np.prod([x.shape[a] for a in
                                                    ((axis,) if isinstance(axis, (int, np.integer)) else axis)]))
    deviation = x - x.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (deviation * deviation).sum(axis=axis, keepdims=keep) / np.asarray(
            builtins.max(count - correction, 0), dtype=x.dtype)


def std(x, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims: bool = False) -> Tensor:
    """Standard deviation: sqrt(var(x, ...)), with var's arguments."""
    return unary.sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims))


def softplus(x, beta: float = 1.0, threshold: float | None = 20.0) -> Tensor:
    """(1/β) log(1 + e^(βx)), computed as (max(βx, 0) + log1p(e^-|βx|)) / β so no exponential
    overflows; as PyTorch, x itself where βx > threshold. d/dx = σ(βx) (½ at 0: max's ties share)."""
    x = _as_tensor(x)
    scaled = x * beta if beta != 1.0 else x
    soft = maximum(scaled, 0.0) + unary.log1p(unary.exp(-unary.abs(scaled)))
    if beta != 1.0:
        soft = soft / beta
    if threshold is None:
        return soft
    return where(scaled.data > threshold, x, soft)


def unsqueeze(x, dim: int) -> Tensor:
    """A new axis of size 1 at `dim` (negative counts from the end of the result, as PyTorch)."""
    x = _as_tensor(x)
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise ShapeError(f"unsqueeze: dim {dim} is out of range for shape {x.shape} (expected "
                         f"{-x.ndim - 1} to {x.ndim})")
    dim = dim % (x.ndim + 1)
    return x.reshape(x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None) -> Tensor:
    """Axes of size 1 removed: all of them, or those of `dim` (int or tuple); as PyTorch, a named
    axis whose size is not 1 stays."""
    x = _as_tensor(x)
    if dim is None:
        axes = {a for a, size in enumerate(x.shape) if size == 1}
    else:
        axes = set()
        for a in ((dim,) if isinstance(dim, (int, np.integer)) else dim):
            if not -builtins.max(x.ndim, 1) <= a < builtins.max(x.ndim, 1):
                raise ShapeError(f"squeeze: dim {a} is out of range for shape {x.shape}")
            if x.ndim and x.shape[a % x.ndim] == 1:
                axes.add(a % x.ndim)
    return x.reshape(tuple(size for a, size in enumerate(x.shape) if a not in axes))


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes start_dim..end_dim (inclusive) merged into one, as PyTorch's `flatten`."""
    x = _as_tensor(x)
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if not (-x.ndim <= start_dim < x.ndim and -x.ndim <= end_dim < x.ndim) or start > end:
        raise ShapeError(f"flatten: dims {start_dim}..{end_dim} do not fit shape {x.shape}")
    return x.reshape(x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:])


def cat(tensors, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing `dim`: PyTorch's name for `concat`."""
    return shape.concat(tensors, axis=dim if axis is None else axis)
