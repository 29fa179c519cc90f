"""Backward observers (`on_backward`), the graph readers (`walk`, `step_scope`, `mark_state`)
and the gradient norms drawings record through them."""

import numpy as np
import pytest

import seqgrad
from seqgrad import nn
from seqgrad.autodiff import mark_state, on_backward, step_scope, walk
from seqgrad.viz.recording import edge_grad_norm, node_grad_norm


class Log:
    """Everything an observer can see, in order."""

    def __init__(self):
        self.nodes, self.edges, self.leaves, self.finished_count = [], [], [], 0

    def node_grad(self, node, grad):
        self.nodes.append((node, np.array(grad)))

    def edge_grad(self, node, position, target, grad):
        self.edges.append((node, position, target, np.array(grad)))

    def leaf_grad(self, leaf, grad, node):
        self.leaves.append((leaf, np.array(grad), node))

    def finished(self):
        self.finished_count += 1


def _lstm_loss(steps=4):
    seqgrad.manual_seed(0)
    layer = nn.LSTM(3, 5, dtype=np.float64)
    x = seqgrad.Tensor(np.random.default_rng(0).standard_normal((steps, 2, 3)))
    output, _ = layer(x)
    return layer, (output * output).sum()


def test_observer_sees_each_node_once_in_backward_order_with_dense_gradients():
    x = seqgrad.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * 2.0
    z = (y[1:] * np.array([3.0, 4.0])).sum() + y.sum()
    log = Log()
    with on_backward(log) as installed:
        z.backward()
    assert installed is log and log.finished_count == 1
    seen = [node for node, _ in log.nodes]
    assert len({id(node) for node in seen}) == len(seen) == len(walk(z).nodes)
    assert [node.seq for node in seen] == sorted((node.seq for node in seen), reverse=True)
    grads = {node.seq: grad for node, grad in log.nodes}
    np.testing.assert_allclose(grads[y.node.seq], [1.0, 4.0, 5.0])  # both uses of y summed
    for _, _, target, grad in log.edges:  # densified to the target's shape
        assert grad.shape == target.shape
    getitem_edge = next(grad for node, _, _, grad in log.edges if node.name == "getitem")
    np.testing.assert_allclose(getitem_edge, [0.0, 3.0, 4.0])


def test_leaf_terms_sum_to_the_leaf_gradient_including_weight_products():
    layer, loss = _lstm_loss()
    log = Log()
    with on_backward(log):
        loss.backward()
    for name, parameter in layer.named_parameters():
        terms = [grad for leaf, grad, _ in log.leaves if leaf is parameter]
        assert terms, name
        np.testing.assert_allclose(np.sum(terms, axis=0), parameter.grad, rtol=1e-10, atol=1e-12)
    weight_hh = layer.weight_hh_l0
    steps = {step_scope(node).labels["step"] for leaf, _, node in log.leaves if leaf is weight_hh}
    assert steps == {0, 1, 2, 3}  # one term per time step: per-step contributions of a weight


def test_observed_backward_gives_the_same_gradients():
    layer, loss = _lstm_loss()
    loss.backward(retain_graph=True)
    plain = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer.zero_grad()
    with on_backward(Log()):
        loss.backward()
    for name, parameter in layer.named_parameters():
        np.testing.assert_allclose(parameter.grad, plain[name], rtol=1e-12)


def test_removed_observer_sees_nothing_and_finished_runs_after_an_error():
    log = Log()
    handle = on_backward(log)
    handle.remove()
    handle.remove()  # twice is harmless
    x = seqgrad.Tensor(np.ones(2), requires_grad=True)
    (x * 2.0).sum().backward()
    assert log.nodes == [] and log.finished_count == 0
    y = (x * 3.0).sum()
    y.backward()
    with on_backward(log), pytest.raises(RuntimeError, match="a second time"):
        y.backward()
    assert log.finished_count == 1


def test_observer_needs_one_of_the_methods():
    with pytest.raises(TypeError, match="node_grad, edge_grad, leaf_grad, finished"):
        on_backward(object())


def test_observer_sees_arrays_under_create_graph():
    x = seqgrad.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    log = Log()
    with on_backward(log):
        (x * x).sum().backward(create_graph=True)
    assert all(type(grad) is np.ndarray for _, grad in log.nodes)
    np.testing.assert_allclose(log.leaves[0][1] + log.leaves[1][1], [2.0, 4.0])


def test_record_keeps_norms_only_for_recorded_passes():
    x = seqgrad.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = x * 2.0
    z = (y * np.array([1.0, 2.0])).sum()
    z.backward(retain_graph=True)
    assert node_grad_norm(y.node) is None  # a plain backward computes nothing for drawings
    with seqgrad.viz.record():
        z.backward()
    assert node_grad_norm(y.node) == pytest.approx(5 ** 0.5)  # dz/dy = [1, 2]
    assert node_grad_norm(z.node) == pytest.approx(1.0)
    assert edge_grad_norm(y.node, 0) == pytest.approx(2 * 5 ** 0.5)  # dz/dx = 2 dz/dy


def test_recorded_norm_of_huge_float32_gradients_does_not_overflow():
    x = seqgrad.Tensor(np.full(4, 1e30, dtype=np.float32), requires_grad=True)
    y = x * 1.0
    with seqgrad.viz.record():
        y.backward(np.full(4, 1e30, dtype=np.float32))
    assert node_grad_norm(y.node) == pytest.approx(2e30)


def test_step_scope_and_mark_state_in_a_hand_written_loop():
    weight = seqgrad.Tensor(np.full((2, 2), 0.5), requires_grad=True)
    hidden = seqgrad.zeros(1, 2)
    for t in range(3):
        with seqgrad.scope("rnn", layer=0), seqgrad.scope("cell", step=t):
            hidden = (hidden @ weight + 1.0).tanh()
            mark_state(hidden, "hidden")
    assert hidden.node.role == "hidden"
    assert step_scope(hidden.node).labels == {"step": 2}
    assert step_scope(None) is None
    mark_state(weight, "hidden")  # a leaf has no recorded op: nothing to mark
    with pytest.raises(TypeError, match="role"):
        mark_state(hidden, 1)
    loss = hidden.sum()
    with seqgrad.viz.record():
        loss.backward()
    norms = seqgrad.bptt.hidden_grad_norms(loss)
    assert list(norms) == [("rnn", 0, None)] and norms[("rnn", 0, None)].shape == (3,)


def test_walk_never_recurses_and_lists_leaves_once():
    x = seqgrad.Tensor(np.ones(1), requires_grad=True)
    h = x
    for _ in range(5000):
        h = h * 1.0 + x
    graph = walk(h)
    assert len(graph.nodes) == 10000 and graph.leaves == [x]
    assert len(graph.leaf_consumers[id(x)]) == 5001


def test_cut_from_names_a_detached_state_and_its_slices():
    from seqgrad.autodiff.graph import cut_from
    rnn = nn.RNN(2, 3, num_layers=2)
    _, final = rnn(seqgrad.randn(3, 1, 2))
    cut = final.detach()
    assert cut_from(cut) == cut.detached_from == "stack (RNN)"
    assert cut_from(cut[1]) == "stack (RNN)"            # a layer's slice of the detached state
    assert cut_from(seqgrad.randn(2, 3)) is None
