"""Gradient norms for drawings, recorded by watching a backward pass:

    with seqgrad.viz.record():
        loss.backward()
    seqgrad.viz.draw(loss)          # coloured by ||dL/d(node)||

The engine computes nothing for drawings; this observer keeps ||dL/d(out)|| per node and the
norm of the gradient each edge carries, from the last recorded backward through them. They
are kept beside the graph (weakly: they go when the graph goes).
"""

from __future__ import annotations

import weakref

from ..autodiff.norm import l2_norm
from ..autodiff.observe import ObserverHandle, on_backward
from ..autodiff.tape import Node

_node_norms: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # Node -> ||dL/d(out)||
_edge_norms: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # Node -> {input position: ||grad||}


class GradientNorms:
    """Backward observer: stores the norm of every node's output gradient and of every edge's gradient."""

    def node_grad(self, node: Node, grad) -> None:
        _node_norms[node] = l2_norm(grad)

    def edge_grad(self, node: Node, position: int, target, grad) -> None:
        norms = _edge_norms.get(node)
        if norms is None:
            norms = _edge_norms[node] = {}
        norms[position] = l2_norm(grad)


def record() -> ObserverHandle:
    """Record gradient norms for drawings during the backward passes inside `with record():`
    (or until `handle.remove()`)."""
    return on_backward(GradientNorms())


def node_grad_norm(node: Node) -> float | None:
    """||dL/d(node's output)|| from the last recorded backward through it (None if none reached it)."""
    return _node_norms.get(node)


def edge_grad_norm(node: Node, position: int) -> float | None:
    """||gradient sent along input edge `position` of `node`|| in the last recorded backward."""
    norms = _edge_norms.get(node)
    return None if norms is None else norms.get(position)


def forget(nodes) -> dict:
    """Remove the recorded norms of `nodes`, returning them for `restore` (a probe's own passes
    must not change what a drawing shows)."""
    saved = {}
    for node in nodes:
        saved[node] = (_node_norms.pop(node, None), _edge_norms.pop(node, None))
    return saved


def restore(saved: dict) -> None:
    """Put back the norms `forget` removed."""
    for node, (norm, edges) in saved.items():
        _node_norms.pop(node, None)
        _edge_norms.pop(node, None)
        if norm is not None:
            _node_norms[node] = norm
        if edges is not None:
            _edge_norms[node] = edges
