"""Backward behaves as PyTorch's: accumulation, who keeps .grad, retain_graph, no_grad, detach,
and no gradient array is ever shared between two places that add into it."""

import numpy as np
import pytest

import seqgrad


def leaf(values) -> seqgrad.Tensor:
    return seqgrad.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# --- accumulation and who keeps .grad -------------------------------------------
def test_leaf_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0, 9.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])


def test_only_leaves_and_retained_tensors_keep_grad():
    x = leaf([1.0, -2.0])
    hidden = x * 2.0
    kept = hidden.tanh()
    kept.retain_grad()
    constant = seqgrad.Tensor(np.ones(2))
    loss = (kept * constant).sum()
    loss.backward()
    assert hidden.grad is None
    assert loss.grad is None
    assert constant.grad is None
    np.testing.assert_allclose(kept.grad, [1.0, 1.0])
    np.testing.assert_allclose(x.grad, 2.0 * (1.0 - np.tanh([2.0, -4.0]) ** 2))


def test_retained_grad_is_a_copy_not_the_engine_buffer():
    x = leaf([1.0, 2.0])
    y = x * 1.0
    y.retain_grad()
    (y + y).sum().backward()
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])
    y.grad *= 100.0
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_backward_on_a_leaf_itself():
    x = leaf([[1.0, 2.0]])
    x.backward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(x.grad, [[3.0, 4.0]])


# --- retain_graph -----------------------------------------------------------------
def test_second_backward_without_retain_graph_raises_and_says_how_to_fix_it():
    x = leaf([0.5, 1.5])
    loss = (x.tanh() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_that_doubles_the_gradient():
    x = leaf([0.5, 1.5])
    loss = (x.tanh() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2.0 * first)


def test_retain_graph_with_shared_gradients_and_indexing_stays_correct():
    """Second backward through nodes that accumulated in the first: no stale ownership flags."""
    x = leaf(np.ones(3))
    p, q = x * 2.0, x * 3.0
    r = p * 5.0
    loss = (p + q + r).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [15.0, 15.0, 15.0])
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [30.0, 30.0, 30.0])

    w = leaf(np.arange(6.0).reshape(3, 2))
    y = w * 1.0
    loss = (y[0] * y[1]).sum() + y[2].sum() + y[::-1].sum()
    loss.backward(retain_graph=True)
    once = w.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(w.grad, 2.0 * once)


# --- what backward accepts ----------------------------------------------------------
def test_non_scalar_backward_without_gradient_is_a_clear_error():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match=r"one-element.*\(2,\).*gradient="):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_raises_naming_both_shapes():
    y = leaf([[1.0, 2.0, 3.0]]) * 2.0
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(1, 3\)"):
        y.backward(np.ones(3))


def test_backward_with_an_explicit_gradient_weights_the_outputs():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, -6.0])


def test_backward_does_not_modify_the_gradient_passed_in():
    x = leaf([1.0, 2.0])
    upstream = np.array([1.0, 1.0])
    y = x * 1.0
    (y + y + y).backward(upstream)
    np.testing.assert_array_equal(upstream, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_backward_on_a_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        seqgrad.Tensor(np.ones(2)).sum().backward()


# --- no_grad and detach ------------------------------------------------------------
def test_no_grad_records_nothing_and_restores_recording():
    x = leaf([1.0, 2.0])
    assert seqgrad.is_grad_enabled()
    with seqgrad.no_grad():
        assert not seqgrad.is_grad_enabled()
        y = (x * 2.0).tanh() + x
        with seqgrad.enable_grad():
            recorded = x * 2.0
        assert not seqgrad.is_grad_enabled()
    assert seqgrad.is_grad_enabled()
    assert y.requires_grad is False and y.node is None
    assert recorded.requires_grad and recorded.node is not None


def test_no_grad_restores_recording_after_an_error():
    with pytest.raises(ZeroDivisionError):
        with seqgrad.no_grad():
            1 / 0  # noqa: B018
    assert seqgrad.is_grad_enabled()


def test_detach_stops_gradients():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    z = (y.detach() * x).sum()  # only the direct path to x counts
    z.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])
    detached = y.detach()
    assert detached.requires_grad is False and detached.node is None
    assert detached.data is y.data


# --- several paths to one tensor --------------------------------------------------
def test_a_tensor_used_twice_gets_both_paths():
    a = leaf([2.0, -1.0])
    (a * a + a).sum().backward()
    np.testing.assert_array_equal(a.grad, 2.0 * np.array([2.0, -1.0]) + 1.0)


def test_x_plus_x_through_shared_gradient_arrays():
    """add's rule returns one array for both inputs; in-place accumulation must not corrupt it."""
    x = leaf([1.0, 2.0, 3.0])
    y = x + x
    z = y * 3.0 + y
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [8.0, 8.0, 8.0])


def test_one_node_feeding_many_consumers():
    x = leaf([0.5, -0.5])
    h = x * 1.0
    terms = [h, h, h * 2.0, h + h, h.tanh(), -h, h[::-1], h.reshape(2, 1).sum(axis=1)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    total.sum().backward()
    expected = 1 + 1 + 2 + 2 + (1 - np.tanh([0.5, -0.5]) ** 2) - 1 + 1 + 1
    np.testing.assert_allclose(x.grad, expected)


def test_a_leaf_used_in_many_places():
    x = leaf([1.0, 2.0])
    w = leaf([[1.0, 0.0], [0.0, 2.0]])
    out = (x @ w + x * x + seqgrad.stack([x, x]).sum(axis=0) + seqgrad.concat([x, x])[:2]).sum()
    out.backward()
    np.testing.assert_allclose(x.grad, np.array([1.0, 2.0]) + 2 * np.array([1.0, 2.0]) + 2.0 + 1.0)
    np.testing.assert_allclose(w.grad, np.outer([1.0, 2.0], [1.0, 1.0]))


def test_leaf_grads_are_independent_arrays():
    """Two leaves fed the same gradient array (x + y) must not share .grad storage."""
    x = leaf([1.0, 2.0])
    y = leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad, y.grad)
    x.grad *= 0.0
    x.grad += 7.0
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])
    (x + y).sum().backward()  # accumulation into one leaf leaves the other alone
    np.testing.assert_array_equal(x.grad, [8.0, 8.0])
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])


def test_stacked_gradients_are_views_that_are_never_written_through():
    """stack's rule hands each input a view of one array; accumulating into one input must copy."""
    x = leaf([1.0])
    y = leaf([1.0])
    a, b = x * 1.0, y * 1.0
    s = seqgrad.stack([a, b])  # gradient: views g[0], g[1] of one array
    loss = (s * np.array([[1.0], [10.0]])).sum() + (a * 100.0).sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad, [101.0])
    np.testing.assert_array_equal(y.grad, [10.0])


def test_gradient_is_not_kept_in_a_read_only_broadcast_view():
    """sum's rule returns a broadcast (read-only) view; later accumulation must not write into it."""
    x = leaf(np.ones((2, 3)))
    h = x * 1.0
    loss = h.sum() + (h * 2.0).sum() + h.mean()
    loss.backward()
    np.testing.assert_allclose(x.grad, np.full((2, 3), 3.0 + 1.0 / 6.0))


def test_a_product_with_a_constant_does_not_keep_the_other_factor():
    x = seqgrad.Tensor(np.ones(3), requires_grad=True)
    activation = x * 2.0
    masked = activation * np.array([1.0, 0.0, 1.0])  # dropout-like: the mask needs no gradient
    assert masked.node.xs[0] is None and masked.node.xs[1] is not None
    both = activation * activation
    assert both.node.xs[0] is not None and both.node.xs[1] is not None
    masked.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 2.0])
