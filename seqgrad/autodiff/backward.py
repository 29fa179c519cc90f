"""Reverse-mode backward: walk the tape from the root towards the leaves.

Nodes are taken in decreasing creation number (a heap), so every node is
processed after all its consumers, with no recursion: a 10,000-step unrolled
recurrence is just a longer loop. Gradients that are not dense arrays yet (an
index's, a weight's product, a sum of several) live in `lazy_grads`.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..tensor import Tensor
from .lazy_grads import (
    IndexGrad,
    LazyGrad,
    ProductGrad,
    ShapeMismatch,
    TallProducts,
    accumulate,
    conform,
    dense,
    plus,
    summed_to,
)
from .observe import Observers
from .saved import check as check_saved
from .saved import release as release_saved
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
    observers = Observers.current()
    try:
        if create_graph:
            seed = seed if isinstance(seed, Tensor) else Tensor(seed)
            with enable_grad():
                _walk(root, seed, retain_graph or create_graph, _TensorAccumulator(), observers)
        else:
            seed = seed.data if isinstance(seed, Tensor) else seed
            with no_grad():
                _walk(root, seed, retain_graph, _ArrayAccumulator(), observers)
    finally:
        if observers is not None:
            for finished in observers.finished:
                finished()


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


def _walk(root: Tensor, seed, retain_graph: bool, acc, observers: Observers | None) -> None:
    if root.node is None:
        if observers is not None:
            for leaf_grad in observers.leaf_grad:
                leaf_grad(root, _array(seed), None)
        acc.to_leaf(root, seed)
        acc.finish()
        return
    start = root.node
    start.grad = seed
    heap = [(-start.seq, start)]
    # Bound once: this loop runs once per recorded op.
    pop, push = heapq.heappop, heapq.heappush
    context, to_leaf, make_dense = acc.context, acc.to_leaf, acc.dense
    anomaly, ndarray, plain = acc.anomaly, np.ndarray, type(acc) is _ArrayAccumulator
    try:
        while heap:
            node = pop(heap)[1]
            grad, node.grad = node.grad, None
            if type(grad) is not ndarray and not (node.op.lazy_grad and plain and observers is None
                                                  and node.retained is None):
                grad = make_dense(grad, node)  # lazy, or several: made dense once, here
            if node.freed and (node.op.save_inputs or node.op.save_output):
                raise RuntimeError(FREED_MESSAGE.format(op=node.op.name, scope=describe_scope(node.scope)))
            if node.guard is not None:  # the user's arrays it saved: unchanged since the forward?
                check_saved(node)
            if node.retained is not None:
                owner = node.retained()
                if owner is not None:
                    owner.grad = acc.keep(grad)
            if observers is not None:
                for node_grad in observers.node_grad:
                    node_grad(node, _array(grad))
            grads = node.op.vjp(node if plain else context(node), grad)  # plain rules read the node itself
            edges = node.edges
            if len(grads) != len(edges):
                raise RuntimeError(f"{node.op.name}: its vjp returned {len(grads)} gradients for "
                                   f"{len(edges)} inputs{describe_scope(node.scope)}")
            if anomaly:
                acc.check(node, grads)
            if observers is not None:
                grads = _observe_edges(observers, node, grads, acc)
            for position, (edge, needed, edge_grad) in enumerate(zip(edges, node.needs, grads)):
                if edge_grad is None or not needed:
                    continue
                try:
                    if type(edge) is Node:
                        if type(edge_grad) is not ndarray or edge_grad.shape != edge.shape \
                                or edge_grad.dtype != edge.dtype:  # lazy, broadcast, or another dtype
                            edge_grad = conform(edge_grad, edge.shape, edge.dtype)
                        if edge.grad is None:
                            push(heap, (-edge.seq, edge))
                            edge.grad = edge_grad  # borrowed: never added into in place
                        else:
                            edge.grad = plus(edge.grad, edge_grad)
                    else:
                        to_leaf(edge, edge_grad)
                except ShapeMismatch as mismatch:
                    raise _shape_error(node, position, mismatch) from None
            if not retain_graph:
                node.xs = node.out = None
                node.freed = True
                if node.guard is not None:
                    release_saved(node)
        acc.finish()
    finally:
        for _, pending in heap:  # an error mid-way must not leave stale gradients
            pending.grad = None


def _shape_error(node: Node, position: int, mismatch: ShapeMismatch) -> RuntimeError:
    return RuntimeError(f"{node.op.name}: its vjp gave input {position} a gradient of shape {mismatch.got}, "
                        f"but that input has shape {mismatch.expected}{describe_scope(node.scope)}")


def _array(grad) -> np.ndarray:
    """What observers see: the ndarray (a create_graph gradient's values)."""
    return grad.data if isinstance(grad, Tensor) else grad


def _observe_edges(observers: Observers, node: Node, grads, acc) -> list:
    """Tell the observers what each edge carries; the gradients come back dense, so the walk
    does not densify them a second time."""
    dense_grads = list(grads)
    for position, (edge, needed, grad) in enumerate(zip(node.edges, node.needs, grads)):
        if grad is None or not needed:
            continue
        try:
            grad = dense_grads[position] = acc.conformed(grad, edge.shape, edge.dtype)
        except ShapeMismatch as mismatch:
            raise _shape_error(node, position, mismatch) from None
        values = _array(grad)
        for edge_grad in observers.edge_grad:
            edge_grad(node, position, edge, values)
        if type(edge) is not Node:
            for leaf_grad in observers.leaf_grad:
                leaf_grad(edge, values, node)
    return dense_grads


class _ArrayAccumulator:
    """Ordinary backward: gradients are numpy arrays (or lazy ones), summed in place where safe."""

    def __init__(self) -> None:
        self.anomaly = RECORDING.anomaly
        self.products: dict[int, tuple[Tensor, TallProducts]] = {}  # id(leaf) -> the leaf's waiting products

    @staticmethod
    def context(node: Node) -> Node:
        return node  # rules read the saved arrays straight from the node

    @staticmethod
    def dense(grad, node: Node) -> np.ndarray:
        return dense(grad, node.shape, node.dtype)

    @staticmethod
    def conformed(grad, shape: tuple, dtype) -> np.ndarray:
        return dense(conform(grad, shape, dtype), shape, dtype)

    @staticmethod
    def keep(grad) -> np.ndarray:
        return np.array(grad, copy=True)

    @staticmethod
    def check(node: Node, grads) -> None:
        for grad in grads:
            values = grad.values if type(grad) is IndexGrad else grad.dense() if type(grad) is ProductGrad else grad
            if values is not None and not np.isfinite(values).all():
                raise FloatingPointError(f"the gradient of {node.op.name} is not finite{describe_scope(node.scope)}")

    def to_leaf(self, leaf: Tensor, grad) -> None:
        if type(grad) is ProductGrad:  # wait for the weight's other uses: one tall product
            entry = self.products.get(id(leaf))
            if entry is None:
                entry = self.products[id(leaf)] = (leaf, TallProducts())
            if entry[1].add(grad):  # enough rows: sum them now, so they do not all stay alive to the end
                _add_to_leaf(leaf, entry[1].take())
            return
        _add_to_leaf(leaf, grad)

    def finish(self) -> None:
        """Add the products still waiting to their leaves."""
        products, self.products = self.products, {}
        for leaf, waiting in products.values():
            product = waiting.take()
            if product is not None:
                _add_to_leaf(leaf, product)


def _add_to_leaf(leaf: Tensor, grad) -> None:
    """leaf.grad += grad (leaf.grad made when this is the first)."""
    grad = conform(grad, leaf.shape, leaf.dtype)
    if leaf.grad is None:
        leaf.grad = grad.dense(leaf.shape, leaf.dtype) if isinstance(grad, LazyGrad) else np.array(grad, copy=True)
    elif isinstance(leaf.grad, Tensor):  # left by a create_graph backward: stays a Tensor, never changed in place
        leaf.grad = Tensor(accumulate(np.array(leaf.grad.data, dtype=leaf.dtype, copy=True), grad))
    else:
        accumulate(leaf.grad, grad)


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
    """create_graph backward: gradients are Tensors (rules run on Tensors), so every step is
    itself recorded; nothing is lazy here."""

    anomaly = False

    @staticmethod
    def context(node: Node) -> _GraphContext:
        return _GraphContext(node)

    @staticmethod
    def dense(grad, node: Node) -> Tensor:
        return grad

    @staticmethod
    def conformed(grad, shape: tuple, dtype) -> Tensor:
        return _TensorAccumulator._tensor(grad, shape)

    @staticmethod
    def keep(grad) -> Tensor:
        return grad

    @staticmethod
    def finish() -> None:
        """Nothing is deferred: every gradient here is already a recorded Tensor."""

    @staticmethod
    def _tensor(grad, shape: tuple) -> Tensor:
        return summed_to(grad if isinstance(grad, Tensor) else Tensor(grad), shape)

    def to_leaf(self, leaf: Tensor, grad) -> None:
        grad = self._tensor(grad, leaf.shape)
        if leaf.grad is None:
            leaf.grad = grad
        else:
            previous = leaf.grad if isinstance(leaf.grad, Tensor) else Tensor(leaf.grad)
            leaf.grad = previous + grad
