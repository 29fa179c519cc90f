"""Backpropagation through time over long unrolls: no recursion, linear work, linear indexing."""

import sys
import time

import numpy as np
import pytest

import seqgrad
from seqgrad.autodiff.tape import Node

DEFAULT_RECURSION_LIMIT = 1000
HIDDEN, BATCH, FEATURES = 32, 4, 8


def make_weights(rng, dtype=np.float32) -> dict:
    scale = 1.0 / np.sqrt(HIDDEN)
    def uniform(*shape):
        return seqgrad.Tensor(rng.uniform(-scale, scale, shape).astype(dtype), requires_grad=True)
    return {"weight_ih": uniform(HIDDEN, FEATURES), "weight_hh": uniform(HIDDEN, HIDDEN), "bias": uniform(HIDDEN)}


def unrolled_tanh_rnn(inputs: seqgrad.Tensor, weights: dict) -> seqgrad.Tensor:
    """h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b), h_0 = 0, over inputs (T, B, D); returns h_T (B, H)."""
    weight_ih_t, weight_hh_t = weights["weight_ih"].T, weights["weight_hh"].T
    hidden = seqgrad.zeros(inputs.shape[1], HIDDEN, dtype=inputs.dtype)
    for step in range(inputs.shape[0]):
        hidden = (inputs[step] @ weight_ih_t + hidden @ weight_hh_t + weights["bias"]).tanh()
    return hidden


def reachable_nodes(root: seqgrad.Tensor) -> list[Node]:
    """Every node behind `root`, each once, found with an explicit stack (no recursion)."""
    pending, seen, nodes = [root.node], set(), []
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        pending.extend(node.parents())
    return nodes


def test_10000_step_rnn_backward_under_the_default_recursion_limit():
    assert sys.getrecursionlimit() <= DEFAULT_RECURSION_LIMIT, "the test must run at Python's default limit"
    rng = np.random.default_rng(0)
    weights = make_weights(rng)
    inputs = seqgrad.Tensor(rng.standard_normal((10_000, BATCH, FEATURES)).astype(np.float32), requires_grad=True)
    started = time.perf_counter()
    final = unrolled_tanh_rnn(inputs, weights)
    loss = (final * final).sum()
    forward_seconds = time.perf_counter() - started
    nodes = reachable_nodes(loss)
    started = time.perf_counter()
    loss.backward()
    backward_seconds = time.perf_counter() - started
    print(f"\n10,000-step tanh RNN (hidden {HIDDEN}, batch {BATCH}): {len(nodes)} nodes, "
          f"forward {forward_seconds:.2f} s, backward {backward_seconds:.2f} s")
    for name, weight in weights.items():
        assert weight.grad is not None and np.isfinite(weight.grad).all(), name
        assert np.abs(weight.grad).sum() > 0, name
    assert inputs.grad.shape == inputs.shape and np.isfinite(inputs.grad).all()
    assert np.abs(inputs.grad[-1]).sum() > 0  # the last step reaches the loss directly
    # Saved arrays are released as backward uses them: nothing large outlives the pass.
    assert all(node.xs is None and node.out is None for node in nodes)
    del nodes, final, loss  # tearing down a 60,000-node chain must not recurse either


def test_the_unrolled_rnn_gradient_is_right_on_a_short_sequence():
    rng = np.random.default_rng(1)
    weights = make_weights(rng, dtype=np.float64)
    inputs = seqgrad.Tensor(rng.standard_normal((5, 2, FEATURES)), requires_grad=True)
    params = [inputs, weights["weight_ih"], weights["weight_hh"], weights["bias"]]

    def run(inputs, weight_ih, weight_hh, bias):
        return unrolled_tanh_rnn(inputs, {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias": bias})

    assert seqgrad.gradcheck(run, params)


def test_backward_visits_each_node_once_and_the_graph_grows_linearly(monkeypatch):
    calls = {"vjp": 0}
    for op in seqgrad.ops.REGISTRY.values():
        def counted(ctx, g, rule=op.vjp):
            calls["vjp"] += 1
            return rule(ctx, g)
        monkeypatch.setattr(op, "vjp", counted)

    def graph_size(steps: int, run_backward: bool) -> int:
        rng = np.random.default_rng(steps)
        weights = make_weights(rng)
        inputs = seqgrad.Tensor(rng.standard_normal((steps, 1, FEATURES)).astype(np.float32))
        loss = unrolled_tanh_rnn(inputs, weights).sum()
        size = len(reachable_nodes(loss))
        if run_backward:
            calls["vjp"] = 0
            loss.backward()
            assert calls["vjp"] == size, "backward must run each node's rule exactly once"
        return size

    one, two = graph_size(1, False), graph_size(2, False)
    per_step, fixed = two - one, 2 * one - two
    assert per_step > 0
    for steps in (2000, 8000):
        assert graph_size(steps, run_backward=True) == per_step * steps + fixed


# --- indexing every step of a (T, B, D) tensor stays linear in T ---------------------
@pytest.fixture
def dense_allocations(monkeypatch):
    """Shapes of every array numpy's zeros/empty/full family allocates during the test."""
    shapes = []
    for name in ("zeros", "empty", "full", "zeros_like", "empty_like", "full_like"):
        original = getattr(np, name)
        def counting(*args, original=original, name=name, **kwargs):
            result = original(*args, **kwargs)
            shapes.append(result.shape)
            return result
        monkeypatch.setattr(np, name, counting)
    return shapes


STEPS, SMALL_BATCH, SMALL_FEATURES = 1000, 2, 3


def step_slices(sequence: seqgrad.Tensor, how: str) -> list:
    if how == "index":
        return [sequence[t] for t in range(sequence.shape[0])]
    if how == "iterate":
        return list(sequence)
    if how == "split":
        return list(sequence.split(1, axis=0))
    return list(sequence.chunk(sequence.shape[0], axis=0))


@pytest.mark.parametrize("how", ["index", "iterate", "split", "chunk"])
@pytest.mark.parametrize("through_a_node", [False, True], ids=["leaf", "node"])
def test_gradient_buffer_of_a_sliced_sequence_is_allocated_once(dense_allocations, how, through_a_node):
    values = np.random.default_rng(2).standard_normal((STEPS, SMALL_BATCH, SMALL_FEATURES))
    source = seqgrad.Tensor(values, requires_grad=True)
    sequence = source * 1.0 if through_a_node else source
    loss = None
    for x_t in step_slices(sequence, how):
        term = (x_t * x_t).sum()
        loss = term if loss is None else loss + term
    dense_allocations.clear()
    loss.backward()
    np.testing.assert_allclose(source.grad, 2.0 * values)
    full_size = [shape for shape in dense_allocations if shape == (STEPS, SMALL_BATCH, SMALL_FEATURES)]
    assert len(full_size) <= 1, f"{len(full_size)} dense buffers of the whole sequence for {STEPS} steps"
    allocated = sum(int(np.prod(shape)) for shape in dense_allocations)
    assert allocated <= 2 * values.size + 10 * STEPS
