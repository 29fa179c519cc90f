"""Gradient flow through time, read from the recorded graph.

- `hidden_grad_norms(loss)`: ||dL/dh_k|| for every step k of every sequence (layer and
  direction), from the norms of the last backward recorded with `seqgrad.viz.record()`
  (`with viz.record(): loss.backward()`). One backward pass, nothing retained by hand.
- `jacobian_norms(loss)`: ||dh_T/dh_k||, how much of the last state reaches back to step k,
  from a few extra backward passes (one per state unit) through the retained graph.

Both find the states the way the drawing does: the node marked with
`seqgrad.autodiff.mark_state(h, "hidden")` (the recurrent layers do) in each time step (any
scope with a `step` label), grouped by the name, `layer` and `direction` of the scopes around
the steps.

    dh_T/dh_k = prod_{j=k+1..T} dh_j/dh_{j-1}, for the Elman RNN dh_j/dh_{j-1} = diag(1 - h_j^2) W_hh
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np

from ..autodiff.graph import sequence_key, step_scope, walk
from ..autodiff.tape import Node
from ..tensor import Tensor
from ..viz import recording as recorded

StateKey = tuple  # sequence_key: (name, layer, direction): ("LSTM", 0, "forward"); layer/direction None when unlabelled


def state_nodes(roots: Tensor | Sequence[Tensor], role: str = "hidden") -> dict[StateKey, dict[int, Node]]:
    """The node holding each step's state, per sequence: {(name, layer, direction): {step: node}}.

    States are the nodes marked with `mark_state(tensor, role)` (the recurrent layers do);
    in a graph with no such node (a loop written by hand), each step scope's last op stands for
    its state. Raises when two runs of one layer claim the same step (rename one layer).
    """
    nodes = walk(roots).nodes
    marked = [node for node in nodes if node.role == role]
    if marked:
        candidates = marked
    else:  # last op of each step scope: later nodes overwrite earlier ones below
        candidates = [node for node in nodes if step_scope(node) is not None]
    states: dict[StateKey, dict[int, Node]] = {}
    runs: dict[tuple, int] = {}   # (sequence, step) -> id of the scope around the step that claimed it
    for node in candidates:
        around = step_scope(node)
        if around is None:
            continue
        step = around.labels["step"]
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool):
            raise TypeError(f"step labels must be integers to index states by step, got {step!r} "
                            f"in {around.describe()}")
        key = sequence_key(around)
        if runs.setdefault((key, int(step)), id(around.parent)) != id(around.parent):
            raise ValueError(f"two runs of {key[0]} (layer {key[1]}, direction {key[2]}) reach step {step} in one "
                             "graph; give one of the layers another name (layer.name = 'encoder') or measure "
                             "each run on its own")
        states.setdefault(key, {})[int(step)] = node
    if not states:
        raise ValueError(f"no time steps found: no node has role {role!r} and no op was recorded inside a "
                         "scope with a `step` label (the recurrent layers label their steps; in a loop of "
                         "your own use `with seqgrad.scope('rnn', step=t):`)")
    return states


def _as_array(by_step: dict[int, float | None]) -> np.ndarray:
    values = np.full(max(by_step) + 1, np.nan)
    for step, value in by_step.items():
        if value is not None:
            values[step] = value
    return values


def hidden_grad_norms(loss: Tensor, role: str = "hidden") -> dict[StateKey, np.ndarray]:
    """||dL/dh_k|| for every step k, per sequence, after `with seqgrad.viz.record(): loss.backward()`.

    Returns {(name, layer, direction): array}, array[k] the norm at step k over the whole
    batch (NaN for a step the last backward did not reach). For the forward direction the
    distance back in time from the loss at the end is T-1-k; for the backward direction it is k.
    """
    states = state_nodes(loss, role)
    norms = {key: {step: recorded.node_grad_norm(node) for step, node in by_step.items()}
             for key, by_step in states.items()}
    if all(norm is None for by_step in norms.values() for norm in by_step.values()):
        raise RuntimeError("no gradients recorded: hidden_grad_norms reads the norms a recorded backward "
                           "leaves; run it as `with seqgrad.viz.record(): loss.backward()` first")
    return {key: _as_array(by_step) for key, by_step in norms.items()}


def jacobian_norms(loss: Tensor, norm: str = "spectral", role: str = "hidden",
                   target_step: int | None = None) -> dict[StateKey, np.ndarray]:
    """||dh_T/dh_k|| for every step k, per sequence: how much of the state at `target_step`
    (default: the last one computed, h_T) depends on the state at step k.

    norm: "spectral" (largest singular value: the worst-case gain back in time) or "fro".
    Needs the saved values: call it before `loss.backward()` or after
    `loss.backward(retain_graph=True)`. Uses one backward pass per hidden unit, seeding unit i
    of every batch row at once, which is exact because batch rows never interact in a recurrent
    layer; for a (B, H) state the norm is the one of the block-diagonal (B·H, B·H) Jacobian
    (spectral: the largest over the batch; fro: over all of it). Parameter gradients, node
    gradient norms recorded for drawings and retained gradients are left as they were. NaN marks steps after the target.
    """
    if norm not in ("spectral", "fro"):
        raise ValueError(f"norm must be 'spectral' or 'fro', got {norm!r}")
    states = state_nodes(loss, role)
    graph = walk(loss)
    targets = {}
    for key, by_step in states.items():
        if target_step is None:
            targets[key] = max(by_step.values(), key=lambda node: node.seq)
        elif target_step in by_step:
            targets[key] = by_step[target_step]
        else:
            raise ValueError(f"target_step {target_step} is not a step of {key} (steps {min(by_step)}–{max(by_step)})")
    freed = next((node for node in graph.nodes if node.freed), None)
    if freed is not None:
        raise RuntimeError(f"jacobian_norms needs the graph's saved values, but a backward pass freed them (at "
                           f"{freed.op.name}); call it before loss.backward(), or use loss.backward(retain_graph=True)")
    saved_norms = recorded.forget(graph.nodes)
    saved_retained = [node.retained for node in graph.nodes]
    # Tensors that hold a gradient: leaves, and non-leaves the user asked to retain_grad().
    holders = list(graph.leaves) + [owner for owner in (ref() for ref in saved_retained if ref is not None)
                                    if owner is not None]
    saved_grads = [holder.grad for holder in holders]
    try:
        for holder in holders:
            holder.grad = None
        return {key: _jacobian_norms_of(states[key], targets[key], norm) for key in states}
    finally:
        recorded.restore(saved_norms)
        for node, retained in zip(graph.nodes, saved_retained):
            node.retained = retained
        for holder, grad in zip(holders, saved_grads):
            holder.grad = grad


def _holder(node: Node) -> Tensor:
    """A Tensor standing for `node`'s output: backward starts from it or keeps its gradient."""
    return Tensor.wrap(np.zeros(node.shape, node.dtype), node=node, requires_grad=True)


def _jacobian_norms_of(by_step: dict[int, Node], target: Node, norm: str) -> np.ndarray:
    shape = target.shape
    rows, units = (shape if len(shape) == 2 else (1, int(np.prod(shape))))
    steps = sorted(by_step)
    holders = {}
    for step in steps:
        holders[step] = _holder(by_step[step])
        by_step[step].retained = weakref.ref(holders[step])
    start = _holder(target)
    # gradients[k][b, i, j] = d h_target[b, i] / d h_k[b, j]
    gradients: dict[int, np.ndarray] = {}
    for unit in range(units):
        seed = np.zeros((rows, units), target.dtype)
        seed[:, unit] = 1.0
        for holder in holders.values():
            holder.grad = None
        start.backward(seed.reshape(shape), retain_graph=True)
        for step, holder in holders.items():
            if holder.grad is None:
                continue
            block = gradients.setdefault(step, np.zeros((rows, units, int(np.prod(holder.shape)) // rows)))
            block[:, unit, :] = np.asarray(holder.grad).reshape(rows, -1)
    values = {}
    for step, block in gradients.items():
        if norm == "fro":
            values[step] = float(np.sqrt(np.sum(block * block)))
        else:
            values[step] = float(np.linalg.svd(block, compute_uv=False)[:, 0].max())
    return _as_array({step: values.get(step) for step in steps})
