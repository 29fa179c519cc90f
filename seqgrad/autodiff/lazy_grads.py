"""Gradients that are not dense arrays yet, and the one way backward adds a gradient into a buffer.

Rules return dense arrays, except where a dense array per use would cost memory or time:
- `IndexGrad`: `x[index]`'s gradient, nonzero only at `index` (slicing T steps stays linear in T);
- `ProductGrad`: a weight gradient `leftᵀ @ right`, summed with the other uses of the weight as
  one tall product (BLAS runs one tall product several times faster than T short ones).
Backward collects what reaches one node in a `GradSum` and what reaches one leaf's weight in
`TallProducts`. Every lazy gradient answers the same two questions: `dense(shape, dtype)` and
`add_into(buffer)`.
"""

from __future__ import annotations

import numpy as np


class LazyGrad:
    """A gradient kept in a cheaper form until it is added into a buffer or made dense."""

    __slots__ = ()

    def add_into(self, buffer: np.ndarray) -> None:
        raise NotImplementedError

    def dense(self, shape: tuple, dtype) -> np.ndarray:
        """The gradient as an array of `shape`: zeros plus `add_into`."""
        buffer = np.zeros(shape, dtype)
        self.add_into(buffer)
        return buffer


class IndexGrad(LazyGrad):
    """The gradient of `x[index]`: `values` at `index`, zero elsewhere."""

    __slots__ = ("index", "values", "unique")

    def __init__(self, index, values, unique: bool) -> None:
        self.index = index
        self.values = values
        self.unique = unique  # no repeated positions: `buffer[index] += values` is exact

    def add_into(self, buffer: np.ndarray) -> None:
        if self.unique:
            buffer[self.index] += self.values
        else:
            np.add.at(buffer, self.index, self.values)


class ProductGrad(LazyGrad):
    """A weight gradient `leftᵀ @ right`: left (rows, out_features), right (rows, in_features),
    rows being samples (batch × time). Kept as a pair so that backward can sum every use of a
    shared weight as one tall product (`TallProducts`)."""

    __slots__ = ("left", "right")

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        self.left = left
        self.right = right

    def dense(self, shape: tuple | None = None, dtype=None) -> np.ndarray:
        product = self.left.T @ self.right
        return product if dtype is None or product.dtype == dtype else product.astype(dtype)

    def add_into(self, buffer: np.ndarray) -> None:
        buffer += self.left.T @ self.right


class GradSum(LazyGrad):
    """Several gradients reaching one node: dense ones summed as they come (into an array of its
    own, never into one a rule may still hold), lazy ones kept until the node is reached, so no
    full-size buffer (a (T, B, 4H) input projection's) exists while the graph still holds its
    saved arrays."""

    __slots__ = ("total", "owned", "lazy")

    def __init__(self, first, second) -> None:
        self.total, self.owned, self.lazy = None, False, []
        self.add(first)
        self.add(second)

    def add(self, grad) -> None:
        if isinstance(grad, LazyGrad):
            self.lazy.append(grad)
        elif self.total is None:
            self.total = grad                 # borrowed: another edge may hold the same array
        elif self.owned:
            self.total += grad
        else:
            self.total, self.owned = self.total + grad, True

    def add_into(self, buffer: np.ndarray) -> None:
        if self.total is not None:
            buffer += self.total
        for grad in self.lazy:
            grad.add_into(buffer)

    def dense(self, shape: tuple, dtype) -> np.ndarray:
        if not self.lazy:
            return self.total
        if self.total is None:
            buffer = np.zeros(shape, dtype)
        else:
            buffer = self.total if self.owned else np.array(self.total, dtype=dtype, copy=True)
        for grad in self.lazy:
            grad.add_into(buffer)
        return buffer


# Rows per tall weight-gradient product (T·B summed at once): enough for BLAS to run at full
# speed, few enough that the pending gradients cost little memory next to the graph's.
PRODUCT_CHUNK_ROWS = 4096


class TallProducts(LazyGrad):
    """The `ProductGrad`s reaching one weight, not yet summed: Σ leftᵢᵀ rightᵢ = [left...]ᵀ [right...]."""

    __slots__ = ("parts", "rows")

    def __init__(self) -> None:
        self.parts: list[ProductGrad] = []
        self.rows = 0

    def add(self, grad: ProductGrad) -> bool:
        """Keep `grad`; True when enough rows wait for one tall product (time to `take` them)."""
        self.parts.append(grad)
        self.rows += grad.left.shape[0]
        return self.rows >= PRODUCT_CHUNK_ROWS

    def take(self) -> np.ndarray | None:
        """The sum of the waiting products as one matmul, emptying the list (None when empty)."""
        parts, self.parts, self.rows = self.parts, [], 0
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0].dense()
        return np.concatenate([p.left for p in parts]).T @ np.concatenate([p.right for p in parts])

    def add_into(self, buffer: np.ndarray) -> None:
        product = self.take()
        if product is not None:
            buffer += product


def sum_to_shape(grad, shape: tuple):
    """Sum `grad` over the axes broadcasting added, so it has `shape` again.

    Only broadcast axes are summed (leading extra axes, and axes of size 1 in `shape`);
    any other mismatch is returned unchanged for the caller to report, never reshaped.
    Works on arrays and on Tensors (create_graph).
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return grad
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


class ShapeMismatch(Exception):
    """A rule's gradient that broadcasting cannot explain; backward names the rule's op."""

    def __init__(self, got: tuple, expected: tuple) -> None:
        super().__init__(got, expected)
        self.got, self.expected = got, expected


def summed_to(grad, shape: tuple):
    """`grad` (an array or Tensor) with broadcast axes summed back to `shape`; any other shape raises."""
    if grad.shape != shape:
        reduced = sum_to_shape(grad, shape)
        if reduced.shape != shape:
            raise ShapeMismatch(grad.shape, shape)
        grad = reduced
    return grad


def conform(grad, shape: tuple, dtype):
    """`grad` as a gradient for an input of `shape` and `dtype`: lazy gradients as they are,
    arrays (and numpy scalars) summed back to the shape and cast to the dtype, Tensors
    (create_graph) summed back to the shape."""
    if isinstance(grad, LazyGrad):
        return grad
    if isinstance(grad, (np.generic, int, float)):
        grad = np.asarray(grad)
    grad = summed_to(grad, shape)
    return grad.astype(dtype) if type(grad) is np.ndarray and grad.dtype != dtype else grad


def plus(current, grad):
    """A node's pending gradient plus one more: arrays and lazy gradients gather in a `GradSum`,
    Tensors (create_graph) add as a recorded op."""
    if type(current) is GradSum:
        current.add(grad)
        return current
    if type(current) is np.ndarray or isinstance(current, LazyGrad):
        return GradSum(current, grad)
    return current + grad


def accumulate(buffer: np.ndarray, grad) -> np.ndarray:
    """buffer += grad, for any gradient (lazy ones add themselves); returns the buffer."""
    if isinstance(grad, LazyGrad):
        grad.add_into(buffer)
    else:
        buffer += grad
    return buffer


def dense(grad, shape: tuple, dtype) -> np.ndarray:
    """Any gradient (array, lazy, or a sum of several) as an array of `shape`."""
    if type(grad) is np.ndarray:
        return grad
    return grad.dense(shape, dtype) if isinstance(grad, LazyGrad) else conform(grad, shape, dtype)
