"""Property tests over random shapes: broadcasting, reductions and indexing.

The references here never call the engine's own helpers: a broadcast input's gradient
is computed by counting, with np.bincount, every output position that reads each input
element.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import seqgrad
from seqgrad import ops

FAST = settings(max_examples=40, deadline=None)

BROADCAST_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4)


def summed_back(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Σ of g over every output position that reads each element of an input of `shape`."""
    size = int(np.prod(shape))
    owner = np.broadcast_to(np.arange(size).reshape(shape), g.shape)
    return np.bincount(owner.ravel(), weights=g.ravel(), minlength=size).reshape(shape)


# name -> (op, d(out)/da, d(out)/db) as numpy functions of broadcast a, b
BINARY = {
    "add": (ops.add, lambda a, b: np.ones_like(a * b), lambda a, b: np.ones_like(a * b)),
    "sub": (ops.sub, lambda a, b: np.ones_like(a * b), lambda a, b: -np.ones_like(a * b)),
    "mul": (ops.mul, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b),
    "div": (ops.div, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / b**2),
    "maximum": (ops.maximum, lambda a, b: (a > b) * 1.0, lambda a, b: (a < b) * 1.0),
    "minimum": (ops.minimum, lambda a, b: (a < b) * 1.0, lambda a, b: (a > b) * 1.0),
}


@FAST
@given(shapes=BROADCAST_PAIRS, name=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_gradients_are_summed_back_to_each_input_shape(shapes, name, seed):
    (shape_a, shape_b), out_shape = shapes
    rng = np.random.default_rng(seed)
    a_values = rng.standard_normal(shape_a)
    b_values = rng.uniform(0.5, 2.0, shape_b) * rng.choice([-1.0, 1.0], shape_b)  # away from 0 for div
    a = seqgrad.Tensor(np.asarray(a_values), requires_grad=True)
    b = seqgrad.Tensor(np.asarray(b_values), requires_grad=True)
    op, d_da, d_db = BINARY[name]
    out = op(a, b)
    assert out.shape == out_shape
    upstream = rng.standard_normal(out_shape)
    out.backward(np.asarray(upstream))
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    np.testing.assert_allclose(a.grad, summed_back(upstream * d_da(a_values, b_values), shape_a), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(b.grad, summed_back(upstream * d_db(a_values, b_values), shape_b), rtol=1e-10,
                               atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(shapes=BROADCAST_PAIRS, seed=st.integers(0, 2**16))
def test_gradcheck_of_a_broadcast_expression(shapes, seed):
    (shape_a, shape_b), _ = shapes
    rng = np.random.default_rng(seed)
    a = seqgrad.Tensor(np.asarray(rng.standard_normal(shape_a)), requires_grad=True)
    b = seqgrad.Tensor(np.asarray(rng.standard_normal(shape_b)), requires_grad=True)
    assert seqgrad.gradcheck(lambda a, b: (a * b).tanh() / (1.0 + b * b) - a.exp() * 0.5, [a, b])


@st.composite
def shape_and_axis(draw):
    """A shape, and an axis for it: None, an int, or a tuple of distinct axes, some negative."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    if ndim == 0:
        return shape, None
    axes = draw(hnp.valid_tuple_axes(ndim, min_size=1))
    axes = tuple(axis % ndim - (ndim if draw(st.booleans()) else 0) for axis in axes)  # some spelled negative
    axis = draw(st.sampled_from([None, axes[0], axes]))
    return shape, axis


def normalized_axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(a % ndim for a in axes))


@FAST
@given(shape_axis=shape_and_axis(), keepdims=st.booleans(), name=st.sampled_from(["sum", "mean", "max", "logsumexp"]),
       seed=st.integers(0, 2**16))
def test_reductions_over_random_axes(shape_axis, keepdims, name, seed):
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    values = rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0  # distinct: max has one winner
    x = seqgrad.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)
    out = getattr(ops, name)(x, axis=axis, keepdims=keepdims)

    expected_kept = {
        "sum": lambda: np.sum(values, axis=axis, keepdims=True),
        "mean": lambda: np.mean(values, axis=axis, keepdims=True),
        "max": lambda: np.max(values, axis=axis, keepdims=True),
        "logsumexp": lambda: np.log(np.sum(np.exp(values), axis=axis, keepdims=True)),
    }[name]()
    axes = normalized_axes(axis, len(shape))
    expected = expected_kept if keepdims else np.squeeze(expected_kept, axis=axes)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)

    upstream = np.asarray(rng.standard_normal(out.shape))
    out.backward(upstream)
    kept_upstream = upstream if keepdims else np.expand_dims(upstream, axes)
    local = {
        "sum": lambda: np.ones(shape),
        "mean": lambda: np.ones(shape) / np.prod([shape[a] for a in axes]),
        "max": lambda: (values == expected_kept) * 1.0,
        "logsumexp": lambda: np.exp(values - expected_kept),
    }[name]()
    assert x.grad.shape == shape
    np.testing.assert_allclose(x.grad, kept_upstream * local, rtol=1e-10, atol=1e-14)


@st.composite
def shape_and_basic_index(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5))
    return shape, draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))


@FAST
@given(shape_index=shape_and_basic_index(), seed=st.integers(0, 2**16))
def test_basic_indexing_gradient_lands_where_the_elements_came_from(shape_index, seed):
    shape, index = shape_index
    rng = np.random.default_rng(seed)
    x = seqgrad.Tensor(np.asarray(rng.standard_normal(shape)), requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.data, x.data[index])
    upstream = np.asarray(rng.standard_normal(out.shape))
    out.backward(upstream)
    expected = np.zeros(shape)
    expected[index] += upstream
    np.testing.assert_array_equal(x.grad, expected)


@st.composite
def shape_and_integer_index(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=6)))
    return shape, index


@FAST
@given(shape_index=shape_and_integer_index(), seed=st.integers(0, 2**16))
def test_integer_array_indexing_with_repeats_accumulates(shape_index, seed):
    shape, index = shape_index
    rng = np.random.default_rng(seed)
    x = seqgrad.Tensor(np.asarray(rng.standard_normal(shape)), requires_grad=True)
    out = x[index]
    upstream = np.asarray(rng.standard_normal(out.shape))
    out.backward(upstream)
    expected = np.zeros(shape)
    np.add.at(expected, index, upstream)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-15)


@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=st.integers(0, 2**16))
def test_boolean_mask_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    x = seqgrad.Tensor(np.asarray(rng.standard_normal(shape)), requires_grad=True)
    mask = rng.random(shape) < 0.5
    out = x[mask]
    upstream = np.asarray(rng.standard_normal(out.shape))
    out.backward(upstream)
    expected = np.zeros(shape)
    expected[mask] = upstream
    np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize("shape, target", [
    ((2, 1, 4), (3, 2, 5, 4)), ((1, 5), (2, 4, 5)), ((4,), (3, 4)), ((), (2, 2)),
])
def test_broadcast_to_gradient_matches_the_counting_reference(shape, target):
    x = seqgrad.Tensor(np.ones(shape, dtype=np.float64), requires_grad=True)
    upstream = np.random.default_rng(0).standard_normal(target)
    x.broadcast_to(target).backward(upstream)
    assert x.grad.shape == shape
    np.testing.assert_allclose(x.grad, summed_back(upstream, shape))


# --- shape properties over random shapes and axes, against numpy ----------------------------------
@st.composite
def array_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    signs = draw(st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)))
    axes = tuple(a - len(shape) if negative else a for a, negative in zip(axes, signs))
    return shape, axes, draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=25, deadline=None)
@given(case=array_and_axes())
def test_reductions_match_numpy_on_random_shapes_and_axes(case):
    shape, axes, keep, seed = case
    values = np.random.default_rng(seed).uniform(0.5, 1.5, shape) * np.random.default_rng(seed + 1).choice(
        [-1.0, 1.0], shape)
    x = seqgrad.Tensor(values, requires_grad=True)
    product = x.prod(dim=axes, keepdim=keep)
    np.testing.assert_allclose(product.data, np.prod(values, axis=axes, keepdims=keep), rtol=1e-12)
    variance = x.var(dim=axes, keepdim=keep, correction=0)
    np.testing.assert_allclose(variance.data, np.var(values, axis=axes, keepdims=keep), rtol=1e-10, atol=1e-14)
    smallest = x.min(axis=axes, keepdims=keep)
    np.testing.assert_array_equal(smallest.data, np.min(values, axis=axes, keepdims=keep))
    product.sum().backward()
    expected = np.prod(values, axis=axes, keepdims=True) / values  # no zeros here: prod/x is the rule
    np.testing.assert_allclose(x.grad, expected, rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3), data=st.data())
def test_unsqueeze_squeeze_flatten_round_trip(shape, data):
    x = seqgrad.Tensor(np.arange(float(np.prod(shape))).reshape(shape), requires_grad=True)
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    grown = x.unsqueeze(dim)
    assert grown.shape == np.expand_dims(x.data, dim).shape
    assert grown.squeeze(dim).shape == shape
    assert x.squeeze().shape == np.squeeze(x.data).shape
    if shape:
        start = data.draw(st.integers(0, len(shape) - 1))
        end = data.draw(st.integers(start, len(shape) - 1))
        flat = x.flatten(start, end)
        assert flat.shape == shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
        (flat * 2.0).sum().backward()
        np.testing.assert_array_equal(x.grad, np.full(shape, 2.0))
