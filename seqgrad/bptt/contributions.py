"""Each time step's share of a shared weight's gradient: the per-step terms of BPTT.

    dL/dW_hh = Σ_t δ_t h_{t-1}ᵀ        dL/dW_ih = Σ_t δ_t x_tᵀ

A weight used inside step t (W_hh in every cell) receives one term per use; the engine's
backward observer hands each one over (`leaf_grad`), tagged by the node that used it. A
weight used once for all steps (W_ih in the one input projection before the loop) receives
one term for all of them; it is split by step exactly, because the projection is linear in
its output gradient: the gradient that step t's slice sends back (`edge_grad`) is carried
through the projection's own rules on its own. The terms sum to `.grad` to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ..autodiff.graph import step_scope, walk
from ..autodiff.lazy_grads import conform, dense
from ..autodiff.observe import on_backward
from ..autodiff.tape import Node
from ..tensor import Tensor

OUTSIDE = None  # the key of the uses outside any time step (a readout, a loss)


def _step_of(node: Node | None):
    around = step_scope(node) if node is not None else None
    return None if around is None else around.labels["step"]


class StepContributions:
    """Backward observer: per tracked leaf, {step label (None outside the steps): term}.

    `leaves`: the tensors to follow (parameters); `nodes`: the recorded graph (a `Walk`'s
    nodes), used to find the ops before the steps whose output the steps slice (an input
    projection) so their share is split by step. `step_of(node)`: the key of the step a node
    is in (None outside the steps); by default its scope's `step` label (a drawing passes the
    step numbers it shows, which continue across truncated-BPTT windows).
    """

    def __init__(self, leaves: Iterable[Tensor], nodes: list[Node],
                 step_of: Callable[[Node | None], object] | None = None) -> None:
        self.step_of = step_of or _step_of
        self.terms: dict[int, dict] = {id(leaf): {} for leaf in leaves}
        self.split = self._nodes_to_split(nodes)
        self.pieces: dict[int, dict] = {}     # node seq -> {step: gradient of its output from that step}

    def _nodes_to_split(self, nodes: list[Node]) -> set[int]:
        """Ops outside the steps that feed a step (directly or through such ops) and reach a
        followed leaf without passing through a step."""
        in_step = {node.seq: self.step_of(node) is not None for node in nodes}
        reaches: set[int] = set()
        for node in nodes:  # creation order: inputs first
            if in_step[node.seq]:
                continue
            for edge in node.edges:
                if (type(edge) is Node and edge.seq in reaches) or (
                        edge is not None and type(edge) is not Node and id(edge) in self.terms):
                    reaches.add(node.seq)
                    break
        feeds: set[int] = set()
        consumers: dict[int, list[Node]] = {}
        for node in nodes:
            for edge in node.edges:
                if type(edge) is Node:
                    consumers.setdefault(edge.seq, []).append(node)
        for node in reversed(nodes):  # consumers first
            if in_step[node.seq] or node.seq not in reaches:
                continue
            if any(in_step[user.seq] or user.seq in feeds for user in consumers.get(node.seq, ())):
                feeds.add(node.seq)
        return feeds

    def _add(self, terms: dict, step, grad: np.ndarray) -> None:
        current = terms.get(step)
        terms[step] = np.array(grad, copy=True) if current is None else current + grad

    def edge_grad(self, node: Node, position: int, target, grad: np.ndarray) -> None:
        if type(target) is not Node or target.seq not in self.split or node.seq in self.split:
            return  # a split node's own edges are split in node_grad
        self._add(self.pieces.setdefault(target.seq, {}), self.step_of(node), grad)

    def leaf_grad(self, leaf: Tensor, grad: np.ndarray, node: Node | None) -> None:
        terms = self.terms.get(id(leaf))
        if terms is None or (node is not None and node.seq in self.split):
            return
        self._add(terms, self.step_of(node), grad)

    def node_grad(self, node: Node, grad: np.ndarray) -> None:
        if node.seq not in self.split:
            return
        # Every consumer's share arrived as a piece (edge_grad, or a split node's own split), so
        # the pieces add up to `grad`; uses outside the steps are the piece under OUTSIDE.
        pieces = self.pieces.pop(node.seq, {})
        for step, piece in pieces.items():
            grads = node.op.vjp(node, piece)   # linear in the output gradient: the step's share
            for edge, needed, part in zip(node.edges, node.needs, grads):
                if part is None or not needed or edge is None:
                    continue
                part = dense(conform(part, edge.shape, edge.dtype), edge.shape, edge.dtype)
                if type(edge) is Node:
                    if edge.seq in self.split:
                        self._add(self.pieces.setdefault(edge.seq, {}), step, part)
                elif id(edge) in self.terms:
                    self._add(self.terms[id(edge)], step, part)

    def of(self, leaf: Tensor) -> dict:
        """{step: term} for `leaf`, steps in order, the uses outside the steps (key None) last."""
        terms = self.terms[id(leaf)]
        steps = sorted((step for step in terms if step is not OUTSIDE), key=_order)
        ordered = {step: terms[step] for step in steps}
        if OUTSIDE in terms:
            ordered[OUTSIDE] = terms[OUTSIDE]
        return ordered


def _order(step):
    return (0, step) if isinstance(step, (int, np.integer)) else (1, str(step))


def weight_grad_contributions(loss: Tensor, parameter: Tensor) -> dict:
    """Each time step's term of `parameter`'s gradient: {step: array of parameter's shape}.

    The terms sum to the gradient `loss.backward()` gives `parameter` (to float rounding).
    Steps are the `step` labels of the scopes the recurrent layers record (a parameter used by
    two sequences gets, at step t, the sum of both uses at t); uses outside any step are under
    the key None. Runs one backward pass through the retained graph, so call it before
    `loss.backward()` or after `loss.backward(retain_graph=True)`; every `.grad` is left as it was.
    """
    if not isinstance(parameter, Tensor):
        raise TypeError(f"weight_grad_contributions: expected a parameter Tensor, got {type(parameter).__name__}")
    graph = walk(loss)
    if id(parameter) not in graph.leaf_consumers:
        name = getattr(parameter, "name", None) or f"of shape {parameter.shape}"
        raise ValueError(f"weight_grad_contributions: the parameter {name} is not used by the graph of this loss")
    recorder = StepContributions([parameter], graph.nodes)
    with preserved_grads(graph):
        with on_backward(recorder):
            loss.backward(retain_graph=True)
    return recorder.of(parameter)


class preserved_grads:  # noqa: N801  (used like a function: `with preserved_grads(graph):`)
    """Run a backward pass of one's own through a retained graph without changing any `.grad`:
    checks the saved values are there, then puts every leaf's and retained tensor's gradient back."""

    def __init__(self, graph) -> None:
        freed = next((node for node in graph.nodes if node.freed), None)
        if freed is not None:
            raise RuntimeError(f"this needs the graph's saved values, but a backward pass freed them (at "
                               f"{freed.op.name}); call it before loss.backward(), or after "
                               "loss.backward(retain_graph=True)")
        owners = [ref() for ref in (node.retained for node in graph.nodes) if ref is not None]
        self.holders = list(graph.leaves) + [owner for owner in owners if owner is not None]

    def __enter__(self) -> None:
        self.saved = [holder.grad for holder in self.holders]
        for holder in self.holders:
            holder.grad = None

    def __exit__(self, *exc_info) -> bool:
        for holder, grad in zip(self.holders, self.saved):
            holder.grad = grad
        return False
