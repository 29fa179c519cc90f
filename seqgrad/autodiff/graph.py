"""The recorded graph, read: `walk(root)` collects it, `step_scope(node)` says which time step
a node belongs to, `mark_state(tensor, role)` names a recurrent state for readers (drawings,
gradient flow). Everything here is plain Python over the tape, without recursion."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .tape import Node, Scope, describe_scope


@dataclass(eq=False)
class Walk:
    """Everything that led to the roots: nodes in creation order (a topological order),
    the leaf tensors they consumed, and who consumes what."""

    nodes: list[Node]
    leaves: list            # leaf Tensors, in the order first met
    consumers: dict[int, list[Node]]          # node seq -> nodes that use its output
    leaf_consumers: dict[int, list[Node]]     # id(leaf) -> nodes that use it


def walk(roots) -> Walk:
    """Collect the graph behind `roots` (a Tensor or a sequence of them) with an explicit stack."""
    from ..tensor import Tensor  # the tape is imported by Tensor's own module
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    if not roots:
        raise ValueError("walk: no tensors given")
    stack: list[Node] = []
    seen: set[int] = set()
    for position, root in enumerate(roots):
        if not isinstance(root, Tensor):
            raise TypeError(f"expected a Tensor (usually the loss), got {type(root).__name__} at position {position}")
        if root.node is None:
            why = "a leaf" if root.requires_grad else "made under no_grad or from tensors that do not require grad"
            raise ValueError(f"the tensor at position {position} has no recorded graph: it is {why}; "
                             "pass a tensor computed from parameters (usually the loss)")
        if id(root.node) not in seen:
            seen.add(id(root.node))
            stack.append(root.node)
    nodes: list[Node] = []
    while stack:
        node = stack.pop()
        nodes.append(node)
        for edge in node.edges:
            if type(edge) is Node and id(edge) not in seen:
                seen.add(id(edge))
                stack.append(edge)
    nodes.sort(key=lambda node: node.seq)
    consumers: dict[int, list[Node]] = {}
    leaf_consumers: dict[int, list[Node]] = {}
    leaves: list = []
    for node in nodes:
        for edge in node.edges:
            if type(edge) is Node:
                consumers.setdefault(edge.seq, []).append(node)
            elif edge is not None:
                users = leaf_consumers.get(id(edge))
                if users is None:
                    leaves.append(edge)
                    leaf_consumers[id(edge)] = users = []
                if not users or users[-1] is not node:
                    users.append(node)
    return Walk(nodes, leaves, consumers, leaf_consumers)


def step_scope(node_or_scope: Node | Scope | None) -> Scope | None:
    """The innermost scope with a `step` label around a node (or above a scope); None outside any step."""
    scope = node_or_scope.scope if isinstance(node_or_scope, Node) else node_or_scope
    while scope is not None and "step" not in scope.labels:
        scope = scope.parent
    return scope


def sequence_key(step: Scope) -> tuple:
    """(name, layer, direction) of the sequence a step scope belongs to: ("LSTM", 0, "forward");
    the name is the nearest named scope around the step, layer and direction None when unlabelled."""
    named = step.parent
    while named is not None and not named.name:
        named = named.parent
    name = named.name if named is not None else step.name
    return (name, step.get("layer"), step.get("direction"))


class DetachedFrom(str):
    """Where `detach()` cut a tensor off, as text ("tanh (RNN layer 0, step 5)": the op and its
    scope), with weak references to that op's Node (`.node()`) and to the Nodes it read
    (`.inputs`). Weak: a detached state never keeps the previous window's graph in memory; and
    when the op itself is gone (a layer's stacked final state, dropped once the next window
    starts) the states it stacked are still found while their graph lives, so a drawing of
    both windows can join the cut to the state it copied."""

    def __new__(cls, node: Node) -> DetachedFrom:
        made = super().__new__(cls, node.op.name + describe_scope(node.scope))
        made.node = weakref.ref(node)
        made.inputs = tuple(weakref.ref(edge) for edge in node.edges if type(edge) is Node)
        return made


_cuts: dict[int, tuple[weakref.ref, str]] = {}   # id(array) -> (the array, weakly; where it was cut)


def mark_cut(array: np.ndarray, where: str) -> None:
    """Remember that `array` left the graph through `detach()` at `where` ("tanh (RNN layer 0, step 5)"),
    so that readers can tell a truncated-BPTT state (or a slice of one) from ordinary data."""
    key = id(array)
    _cuts[key] = (weakref.ref(array, lambda _, key=key: _cuts.pop(key, None)), where)


def cut_from(tensor) -> str | None:
    """Where a leaf tensor was cut from a graph: its own `detached_from`, or that of the detached
    array it is a view of (a layer's slice of a detached state); None for ordinary data."""
    if tensor.detached_from is not None:
        return tensor.detached_from
    array = tensor._data
    for candidate in (array, array.base):
        entry = _cuts.get(id(candidate)) if candidate is not None else None
        if entry is not None and entry[0]() is candidate:
            return entry[1]
    return None


def mark_state(tensor, role: str) -> None:
    """Name `tensor` as a recurrent state ("hidden", "cell", ...) for whoever reads the graph:
    drawings group and label it, `bptt.hidden_grad_norms` measures it. A tensor without a
    recorded op (a leaf, or made under no_grad) has nothing to mark and is left alone."""
    if not isinstance(role, str):
        raise TypeError(f"mark_state: role must be a string such as 'hidden', got {role!r}")
    node = getattr(tensor, "node", None)
    if node is not None:
        node.role = role
