"""Every primitive's torch line computes what the primitive computes, value and gradient (float64),
on the op gradcheck cases: each case's recorded graph is written out node by node with
`torch_expression` and run in torch. Every registered primitive has a mapping, or is listed here
with the reason it has none."""

import numpy as np
import pytest

from seqgrad import ops
from seqgrad.autodiff.tape import Node
from seqgrad.export.torch_ops import TORCH_OPS, torch_expression
from tests.ops.op_cases import CASES

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# Recorded only by double backward (getitem's gradient as an op); a step never runs it.
UNMAPPED = {"scatter": "getitem's gradient, recorded only under create_graph"}


def graph(outputs) -> tuple[list, list[Node]]:
    """(leaf tensors, nodes in creation order) behind `outputs`; None when a node took a plain constant."""
    pending = [out.node for out in outputs]
    leaves, nodes, seen = {}, {}, set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes[node.seq] = node
        for edge in node.edges:
            if edge is None:
                return None
            if type(edge) is Node:
                pending.append(edge)
            else:
                leaves[id(edge)] = edge
    return list(leaves.values()), [nodes[seq] for seq in sorted(nodes)]


def run_in_torch(leaves, nodes, outputs):
    names = {id(leaf): f"leaf{i}" for i, leaf in enumerate(leaves)}
    values = {names[id(leaf)]: torch.tensor(leaf.data, requires_grad=True) for leaf in leaves}
    namespace = {"torch": torch, "F": torch.nn.functional, "device": torch.device("cpu"), **values}
    for position, node in enumerate(nodes):
        names[id(node)] = f"node{position}"
        args = [names[id(edge)] for edge in node.edges]
        shapes = [edge.shape for edge in node.edges]
        line = torch_expression(node.op.name, args, dict(node.params), shapes)
        namespace[f"node{position}"] = eval(line, namespace)
    return values, [namespace[names[id(out.node)]] for out in outputs]


def check_case(case) -> set[str]:
    """Run `case` in seqgrad and, line by line, in torch; compare values and input gradients.
    Returns the ops it checked (none when a plain number or array enters the graph untracked)."""
    inputs = case.inputs()
    result = case.fn(*inputs)
    outputs = [out for out in (list(result) if isinstance(result, tuple) else [result]) if out.node is not None]
    found = graph(outputs) if outputs else None
    if found is None:
        return set()
    leaves, nodes = found
    values, torch_outputs = run_in_torch(leaves, nodes, outputs)
    rng = np.random.default_rng(0)
    total, torch_total = None, None
    for out, theirs in zip(outputs, torch_outputs):
        np.testing.assert_allclose(theirs.detach().numpy(), out.data, rtol=1e-12, atol=1e-12, err_msg=case.name)
        weight = rng.standard_normal(out.shape)
        term, theirs_term = (out * weight).sum(), (theirs * torch.from_numpy(weight)).sum()
        total = term if total is None else total + term
        torch_total = theirs_term if torch_total is None else torch_total + theirs_term
    total.backward()
    torch_total.backward()
    for index, leaf in enumerate(leaves):
        if leaf.requires_grad:
            np.testing.assert_allclose(values[f"leaf{index}"].grad.numpy(), leaf.grad, rtol=1e-10, atol=1e-12,
                                       err_msg=case.name)
    return {node.op.name for node in nodes}


def test_torch_lines_equal_the_primitives():
    checked = set()
    for case in CASES:
        if case.op in TORCH_OPS:
            checked |= check_case(case)
    assert set(TORCH_OPS) & set(ops.REGISTRY) <= checked


def test_every_primitive_is_mapped_or_explained():
    missing = sorted(set(ops.REGISTRY) - set(TORCH_OPS) - set(UNMAPPED))
    assert not missing, f"primitives without a torch mapping: {missing}"
