"""Gate activations read back from the recorded graph, for saturation histograms.

A gated cell computes all gates with one matmul and takes column blocks of the result
(`gates[:, k*H:(k+1)*H]`): either the activation of a block (a sigmoid or the candidate's
tanh of `gates[:, a:b]`) or a block of an activation (`gates.sigmoid()[:, a:b]`). The
sigmoid and tanh nodes keep their outputs for backward, so the activations of every step
are on the tape already: no hooks, no second forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..autodiff.graph import step_scope, walk
from ..autodiff.tape import Node
from ..tensor import Tensor

ACTIVATIONS = ("sigmoid", "tanh")


def _column_block(index, width: int) -> tuple[int, int] | None:
    """(start, stop) when a getitem index takes a block of columns of a 2-d array of `width`
    columns: [:, a:b], with a or b possibly left out."""
    if (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None)
            and isinstance(index[1], slice) and index[1].step in (None, 1)):
        start, stop, _ = index[1].indices(width)
        if stop > start:
            return start, stop
    return None


def gate_names_of(cell_name: str | None) -> dict[int, str]:
    """{column block: gate name} for the cell class named `cell_name` (the name of its step scope),
    from its declared `gate_names` with '_gate' dropped: {0: 'input', 1: 'forget', ...} for LSTMCell."""
    from ..nn.cells import Cell

    pending = [Cell]
    while pending:
        cell_type = pending.pop()
        if cell_type.__name__ == cell_name:
            return {block: name.removesuffix("_gate") for block, name in enumerate(cell_type.gate_names)}
        pending.extend(cell_type.__subclasses__())
    return {}


def _cell_name(node: Node) -> str | None:
    scope = step_scope(node)
    return None if scope is None else scope.name


def gate_name(node: Node, hidden_size: int | None) -> str | None:
    """Which gate a getitem takes out of a known cell's gate blocks ('forget'), or None: the
    drawing prints it next to the slice."""
    if node.name != "getitem" or hidden_size is None or type(node.edges[0]) is not Node:
        return None
    names = gate_names_of(_cell_name(node))
    source = node.edges[0]
    if not names or len(source.shape) != 2:
        return None
    block = _column_block(node.params.get("index"), source.shape[1])
    if block is None or block[1] - block[0] != hidden_size:
        return None
    return names.get(block[0] // hidden_size)


def gate_activations(roots: Tensor | Sequence[Tensor]) -> dict[str, np.ndarray]:
    """{gate name: all its activations over steps, batch and units (flat)} for the cells in the
    graph behind `roots`, e.g. {'input': ..., 'forget': ..., 'candidate': ..., 'output': ...} for
    an LSTM. Gates of unknown cells are named like 'sigmoid[:, 0:16]'.

    Call it before `loss.backward()` (or after `backward(retain_graph=True)`): backward frees the
    saved activations it reads.
    """
    graph = walk(roots)
    found: dict[tuple[int, str], list[np.ndarray]] = {}
    for node in graph.nodes:
        if node.name not in ACTIVATIONS:
            continue
        cell = _cell_name(node)
        if cell is None:
            continue
        source = node.edges[0]
        pieces: list[tuple[tuple[int, int], np.ndarray | None]] = []
        if type(source) is Node and source.name == "getitem":
            block = _column_block(source.params.get("index"), source.in_shapes[0][-1])
            if block is not None:
                pieces.append((block, None))      # activation of a block: all of it
        else:                                     # activation first, blocks taken afterwards (GRU)
            for user in graph.consumers.get(node.seq, ()):
                block = _column_block(user.params.get("index"), node.shape[-1]) if user.name == "getitem" else None
                if block is not None:
                    pieces.append((block, block))
        if not pieces:
            continue
        if node.out is None:
            raise RuntimeError(f"gate_activations reads the activations saved for backward, but a backward pass "
                               f"freed them ({node.name} in {node.scope.describe()}); call it before "
                               "loss.backward() or use loss.backward(retain_graph=True)")
        for (start, stop), columns in pieces:
            values = node.out if columns is None else node.out[:, start:stop]
            number = start // (stop - start)
            name = gate_names_of(cell).get(number)
            if name is None or (name == "candidate") != (node.name == "tanh"):
                name = f"{node.name}[:, {start}:{stop}]"
            found.setdefault((start, name), []).append(np.asarray(values).reshape(-1))
    return {name: np.concatenate(parts) for (_, name), parts in sorted(found.items())}
