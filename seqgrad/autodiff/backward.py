"""Reverse-mode backward: walk the tape from the root towards the leaves.

Nodes are taken in decreasing creation number (a heap), so every node is
processed after all its consumers, with no recursion: a 10,000-step unrolled
recurrence is just a longer loop.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..ops.dual import sum_to_shape
from ..ops.primitive import IndexGrad, ProductGrad
from ..tensor import Tensor
from .norm import l2_norm
from .tape import RECORDING, Node, describe_scope, enable_grad, gc_paused, no_grad

FREED_MESSAGE = (
    "backward through {op} a second time: its saved values were freed by the first "
    "backward. Pass retain_graph=True to the first backward() if you need to go twice{scope}"
)


def backward(root: Tensor, gradient=None, *, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad and has no graph "
                           "(did you create it under no_grad, or forget requires_grad=True?)")
    seed = _seed(root, gradient)
    with gc_paused():
        _run(root, seed, retain_graph, create_graph)


def _run(root: Tensor, seed, retain_graph: bool, create_graph: bool) -> None:
    if create_graph:
        seed = seed if isinstance(seed, Tensor) else Tensor(seed)
        with enable_grad():
            _walk(root, seed, retain_graph or create_graph, _TensorAccumulator())
    else:
        seed = seed.data if isinstance(seed, Tensor) else seed
        with no_grad():
            _walk(root, seed, retain_graph, _ArrayAccumulator())


def _seed(root: Tensor, gradient):
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a one-element output, got shape "
                               f"{root.shape}; pass gradient= with that shape (or call .sum() first)")
        return np.ones_like(root.data)
    value = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=root.dtype)
    if value.shape != root.shape:
        raise RuntimeError(f"backward(): gradient has shape {value.shape}, but the output has shape {root.shape}")
    return gradient if isinstance(gradient, Tensor) else value


def _walk(root: Tensor, seed, retain_graph: bool, acc) -> None:
    if root.node is None:
        acc.to_leaf(root, seed)
        return
    start = root.node
    start.grad, start.grad_owned = seed, False
    heap = [(-start.seq, start)]
    # Bound once: this loop runs once per recorded op.
    pop, push = heapq.heappop, heapq.heappush
    norm, context, to_node, to_leaf = acc.norm, acc.context, acc.to_node, acc.to_leaf
    record_norms, anomaly = RECORDING.grad_norms, acc.anomaly
    plain = type(acc) is _ArrayAccumulator  # rules see the node itself; first gradients are stored as they come
    ndarray = np.ndarray
    try:
        while heap:
            node = pop(heap)[1]
            grad, node.grad, node.grad_owned = node.grad, None, False
            if type(grad) is _Scattered:
                grad = grad.gather(node.shape, node.dtype)
            if node.freed:
                raise RuntimeError(FREED_MESSAGE.format(op=node.op.name, scope=describe_scope(node.scope)))
            if record_norms:
                node.grad_norm = norm(grad)
            if node.retained is not None:
                owner = node.retained()
                if owner is not None:
                    owner.grad = acc.keep(grad)
            grads = node.op.vjp(node if plain else context(node), grad)
            edges = node.edges
            if len(grads) != len(edges):
                raise RuntimeError(f"{node.op.name}: its vjp returned {len(grads)} gradients for "
                                   f"{len(edges)} inputs{describe_scope(node.scope)}")
            if anomaly:
                acc.check(node, grads)
            for position, (edge, needed, edge_grad) in enumerate(zip(edges, node.needs, grads)):
                if edge_grad is None or not needed:
                    continue
                try:
                    if type(edge) is Node:
                        if edge.grad is None:
                            push(heap, (-edge.seq, edge))
                            if plain and type(edge_grad) is ndarray and edge_grad.shape == edge.shape \
                                    and edge_grad.dtype == edge.dtype:
                                edge.grad, edge.grad_owned = edge_grad, False  # to_node's common case: borrowed
                                continue
                        to_node(edge, edge_grad)
                    else:
                        to_leaf(edge, edge_grad)
                except _ShapeMismatch as mismatch:
                    raise RuntimeError(
                        f"{node.op.name}: its vjp gave input {position} a gradient of shape {mismatch.got}, "
                        f"but that input has shape {mismatch.expected}{describe_scope(node.scope)}") from None
            if not retain_graph and (node.xs is not None or node.out is not None):
                node.xs = node.out = None
                node.freed = True
        acc.finish()
    finally:
        for _, pending in heap:  # an error mid-way must not leave stale gradients
            pending.grad = None


class _ShapeMismatch(Exception):
    """A rule's gradient that broadcasting cannot explain; `_walk` names the rule's op."""

    def __init__(self, got: tuple, expected: tuple) -> None:
        super().__init__(got, expected)
        self.got, self.expected = got, expected


def _shape_checked(grad, shape: tuple):
    """`grad` with broadcast axes summed back to `shape`; any other shape is an engine error."""
    if grad.shape != shape:
        reduced = sum_to_shape(grad, shape)
        if reduced.shape != shape:
            raise _ShapeMismatch(grad.shape, shape)
        grad = reduced
    return grad


# Rows per tall weight-gradient product (T·B summed at once): enough for BLAS to run at full
# speed, few enough that the pending gradients cost little memory next to the graph's.
PRODUCT_CHUNK_ROWS = 4096


class _PendingProducts:
    """A leaf's weight-gradient products not yet summed, and how many rows they hold."""

    __slots__ = ("leaf", "parts", "rows")

    def __init__(self, leaf: Tensor) -> None:
        self.leaf, self.parts, self.rows = leaf, [], 0


class _ArrayAccumulator:
    """Ordinary backward: gradients are numpy arrays, summed in place where safe."""

    def __init__(self) -> None:
        self.anomaly = RECORDING.anomaly
        self.products: dict[int, _PendingProducts] = {}

    @staticmethod
    def context(node: Node) -> Node:
        return node

    norm = staticmethod(l2_norm)

    @staticmethod
    def keep(grad) -> np.ndarray:
        return np.array(grad, copy=True)

    def check(self, node: Node, grads) -> None:
        for grad in grads:
            values = grad.values if isinstance(grad, IndexGrad) else grad
            if isinstance(grad, ProductGrad):
                values = grad.dense()
            if values is not None and not np.isfinite(values).all():
                raise FloatingPointError(f"the gradient of {node.op.name} is not finite{describe_scope(node.scope)}")

    @staticmethod
    def to_node(node: Node, grad) -> None:
        if type(grad) is ProductGrad:
            grad = grad.dense()
        elif type(grad) is IndexGrad:
            if type(node.grad) is _Scattered:
                node.grad.pieces.append(grad)
            else:
                node.grad = _Scattered(node.grad, grad)
            return
        current = node.grad
        if type(current) is _Scattered:
            if grad.shape != node.shape:
                grad = _shape_checked(grad, node.shape)
            current.dense = grad if current.dense is None else current.dense + grad
            return
        if grad.shape != node.shape:
            grad = _shape_checked(grad, node.shape)
        if grad.dtype != node.dtype:
            grad = grad.astype(node.dtype)
        if node.grad is None:
            # Borrowed: another edge may hold the same array, so never add into it in place.
            node.grad, node.grad_owned = grad, False
        elif node.grad_owned:
            node.grad += grad
        else:
            node.grad, node.grad_owned = node.grad + grad, True

    def to_leaf(self, leaf: Tensor, grad) -> None:
        if type(grad) is ProductGrad:
            pending = self.products.get(id(leaf))
            if pending is None:
                pending = self.products[id(leaf)] = _PendingProducts(leaf)
            pending.parts.append(grad)
            pending.rows += grad.left.shape[0]
            if pending.rows >= PRODUCT_CHUNK_ROWS:  # enough rows for one tall product: do it now,
                self._flush(pending)                # so the parts do not all stay alive to the end
            return
        if type(grad) is IndexGrad:
            if isinstance(leaf.grad, Tensor):  # left by a create_graph backward: stays a Tensor
                buffer = np.array(leaf.grad.data, dtype=leaf.dtype, copy=True)
                _add_at(buffer, grad)
                leaf.grad = Tensor(buffer)
                return
            if leaf.grad is None:
                leaf.grad = np.zeros(leaf.shape, leaf.dtype)
            _add_at(leaf.grad, grad)
            return
        grad = _shape_checked(grad, leaf.shape)
        if leaf.grad is None:
            leaf.grad = np.array(grad, dtype=leaf.dtype, copy=True)
        elif isinstance(leaf.grad, Tensor):
            leaf.grad = Tensor(leaf.grad.data + grad)
        else:
            leaf.grad += grad


    def finish(self) -> None:
        """Add the products still pending to their leaves."""
        products, self.products = self.products, {}
        for pending in products.values():
            self._flush(pending)

    def _flush(self, pending: _PendingProducts) -> None:
        """One tall matmul for a leaf's pending products: Σ leftᵢᵀ rightᵢ = [left...]ᵀ [right...]."""
        leaf, parts = pending.leaf, pending.parts
        pending.parts, pending.rows = [], 0
        if not parts:
            return
        if len(parts) == 1:
            product = parts[0].dense()
        else:
            product = np.concatenate([p.left for p in parts]).T @ np.concatenate([p.right for p in parts])
        self.to_leaf(leaf, product)


class _Scattered:
    """Index gradients gathered for one node and added into a buffer only when the node is
    processed, so no full-size buffer (a (T, B, 4H) input projection's) exists while the rest
    of the graph still holds its saved arrays. `dense` is any ordinary gradient that came too."""

    __slots__ = ("dense", "pieces")

    def __init__(self, dense, first: IndexGrad) -> None:
        self.dense = dense
        self.pieces = [first]

    def gather(self, shape: tuple, dtype) -> np.ndarray:
        if self.dense is None:
            buffer = np.zeros(shape, dtype)
        else:
            buffer = np.array(self.dense, dtype=dtype, copy=True)
        for piece in self.pieces:
            _add_at(buffer, piece)
        return buffer


def _add_at(buffer: np.ndarray, grad: IndexGrad) -> None:
    if grad.unique:
        buffer[grad.index] += grad.values
    else:
        np.add.at(buffer, grad.index, grad.values)


class _GraphContext:
    """What a rule sees under create_graph: saved values as Tensors wired into the graph."""

    __slots__ = ("xs", "out", "in_shapes", "params", "needs")

    def __init__(self, node: Node) -> None:
        self.in_shapes, self.params, self.needs = node.in_shapes, node.params, node.needs
        self.xs = None if node.xs is None else tuple(
            _rewire(array, edge) for array, edge in zip(node.xs, node.edges))
        self.out = None if node.out is None else _rewire(node.out, node)


def _rewire(array, source) -> Tensor:
    """A Tensor holding a saved array whose gradient flows to `source` (a Node or leaf)."""
    if array is None:  # an input the rule does not read was not saved
        return None
    if isinstance(source, Tensor):
        return source
    return Tensor.wrap(np.asarray(array), node=source, requires_grad=source is not None)


class _TensorAccumulator:
    """create_graph backward: gradients are Tensors, so every step is itself recorded."""

    anomaly = False

    @staticmethod
    def context(node: Node) -> _GraphContext:
        return _GraphContext(node)

    @staticmethod
    def finish() -> None:
        """Nothing is deferred: every gradient here is already a recorded Tensor."""

    @staticmethod
    def norm(grad) -> float:
        return l2_norm(grad.data)

    @staticmethod
    def keep(grad) -> Tensor:
        return grad

    @staticmethod
    def _dense(grad, shape):
        if type(grad) is IndexGrad:  # rules return Tensors here, but be safe
            from ..ops.shape import scatter
            return scatter(grad.values, index=grad.index, shape=shape, unique=grad.unique)
        return grad if isinstance(grad, Tensor) else Tensor(grad)

    def to_node(self, node: Node, grad) -> None:
        grad = _shape_checked(self._dense(grad, node.shape), node.shape)
        node.grad = grad if node.grad is None else node.grad + grad

    def to_leaf(self, leaf: Tensor, grad) -> None:
        grad = _shape_checked(self._dense(grad, leaf.shape), leaf.shape)
        if leaf.grad is None:
            leaf.grad = grad
        else:
            previous = leaf.grad if isinstance(leaf.grad, Tensor) else Tensor(leaf.grad)
            leaf.grad = previous + grad
