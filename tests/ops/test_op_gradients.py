"""Every primitive in the registry gradchecked in float64, plus the stability of the softmax family."""

import numpy as np
import pytest

import seqgrad
from seqgrad import ops
from tests.ops.op_cases import CASES, recorded_ops


def as_list(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def test_every_registered_primitive_has_a_gradcheck_case():
    covered = {case.op for case in CASES}
    missing = sorted(set(ops.REGISTRY) - covered)
    assert not missing, f"primitives in seqgrad.ops.REGISTRY without a gradcheck case: {missing}"


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_gradcheck(case):
    inputs = case.inputs()
    outputs = as_list(case.fn(*inputs))
    assert case.op in recorded_ops(outputs), f"{case.name} does not record {case.op}"
    for out in outputs:
        assert out.dtype == np.float64
        assert np.isfinite(out.data).all()
    assert seqgrad.gradcheck(case.fn, inputs)


def test_gradients_land_in_input_dtype_and_shape():
    """float32 inputs broadcast against each other get float32 gradients of their own shapes."""
    a = seqgrad.Tensor(np.ones((2, 1, 3), np.float32), requires_grad=True)
    b = seqgrad.Tensor(np.ones((4, 1), np.float32), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (2, 1, 3) and a.grad.dtype == np.float32
    assert b.grad.shape == (4, 1) and b.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad, np.full((2, 1, 3), 4.0))
    np.testing.assert_array_equal(b.grad, np.full((4, 1), 6.0))


# --- values the gradcheck cannot see: stability and ties -----------------------
def naive_softmax(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shift", [1e3, -1e3])
def test_softmax_family_is_finite_and_correct_at_1e3(shift):
    """softmax, log_softmax and logsumexp of logits near ±1e3 equal the unshifted math."""
    centred = np.random.default_rng(0).standard_normal((3, 5))
    logits = seqgrad.Tensor(centred + shift, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        probabilities = logits.softmax(axis=-1)
        log_probabilities = logits.log_softmax(axis=-1)
        total = logits.logsumexp(axis=-1)
        (probabilities * centred).sum().backward()
    np.testing.assert_allclose(probabilities.data, naive_softmax(centred), rtol=1e-12)
    np.testing.assert_allclose(log_probabilities.data, np.log(naive_softmax(centred)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(total.data, shift + np.log(np.exp(centred).sum(axis=-1)), rtol=1e-14)
    assert np.isfinite(logits.grad).all()


def test_softmax_family_with_logits_1e3_apart():
    """Logits 1e3 apart: one class takes all the probability, nothing overflows."""
    logits = seqgrad.Tensor(np.array([1000.0, -1000.0, 0.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        probabilities = seqgrad.softmax(logits, axis=-1)
        log_probabilities = seqgrad.log_softmax(logits, axis=-1)
        total = seqgrad.logsumexp(logits, axis=-1)
        log_probabilities[1].backward()
    np.testing.assert_allclose(probabilities.data, [1.0, 0.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(log_probabilities.data, [0.0, -2000.0, -1000.0])
    assert total.item() == 1000.0
    # d log p_1 / d x = onehot(1) - p
    np.testing.assert_allclose(logits.grad, [-1.0, 1.0, 0.0], atol=1e-300)


def test_sigmoid_is_stable_for_large_inputs():
    x = seqgrad.Tensor(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = x.sigmoid()
        y.sum().backward()
    np.testing.assert_allclose(y.data, [0.0, np.exp(-40.0), 0.5, 1.0, 1.0], rtol=1e-12, atol=1e-300)
    assert np.isfinite(x.grad).all() and x.grad[2] == 0.25


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_ties_in_maximum_and_minimum_split_the_gradient(name):
    a = seqgrad.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = seqgrad.Tensor(np.array([1.0, 0.0, 5.0]), requires_grad=True)
    getattr(seqgrad, name)(a, b).sum().backward()
    expected_a = [0.5, 1.0, 0.0] if name == "maximum" else [0.5, 0.0, 1.0]
    np.testing.assert_array_equal(a.grad, expected_a)
    np.testing.assert_array_equal(b.grad, 1.0 - np.array(expected_a))


def test_max_ties_share_the_gradient_with_keepdims():
    x = seqgrad.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    out = x.max(axis=1, keepdims=True)
    assert out.shape == (2, 1)
    out.backward(np.array([[2.0], [1.0]]))
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def test_clip_passes_gradient_at_the_bounds_and_not_outside():
    x = seqgrad.Tensor(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_getitem_with_repeated_indices_accumulates():
    x = seqgrad.Tensor(np.arange(4.0), requires_grad=True)
    x[[0, 0, 3, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 0.0, 1.0])


def test_split_and_chunk_sizes_follow_pytorch():
    x = seqgrad.Tensor(np.arange(14.0).reshape(7, 2))
    assert [piece.shape[0] for piece in x.split(3)] == [3, 3, 1]
    assert [piece.shape[0] for piece in x.split([2, 5])] == [2, 5]
    assert [piece.shape[0] for piece in x.chunk(3)] == [3, 3, 1]
    assert [piece.shape[1] for piece in x.chunk(2, axis=1)] == [1, 1]
    np.testing.assert_array_equal(seqgrad.concat(x.split([2, 5]), axis=0).data, x.data)
