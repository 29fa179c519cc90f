"""seqgrad.gradcheck itself: passes on right gradients, and names the input and element of a wrong one."""

import numpy as np
import pytest

import seqgrad
from seqgrad import GradcheckError, ops
from seqgrad.ops.primitive import Primitive


def throwaway(name: str, forward, vjp, saves: str = "x") -> Primitive:
    """A primitive that is not registered: declared with Primitive directly, so REGISTRY is untouched."""
    op = Primitive(name, forward, vjp, saves, doc="test only")
    assert name not in ops.REGISTRY
    return op


def square_missing_the_factor_two():
    return throwaway("square_missing_the_factor_two", np.square, lambda ctx, g: (g * ctx.xs[0],))


def square_wrong_at(position):
    def vjp(ctx, g):
        grad = 2.0 * g * ctx.xs[0]
        grad[position] += 1.0
        return (grad,)
    return throwaway("square_wrong_at_one_element", np.square, vjp)


def leaf(array) -> seqgrad.Tensor:
    return seqgrad.Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def test_passes_on_a_correct_function_with_several_outputs():
    rng = np.random.default_rng(0)
    a, b = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal(4))
    assert seqgrad.gradcheck(lambda a, b: ((a * b).tanh(), (a @ b).exp()), [a, b]) is True


def test_restores_the_inputs_it_perturbs():
    rng = np.random.default_rng(1)
    values = rng.standard_normal((3, 3))
    x = leaf(values.copy())
    seqgrad.gradcheck(lambda x: (x * x).sum(), [x])
    np.testing.assert_array_equal(x.data, values)


def test_a_wrong_rule_raises_naming_the_input_and_element():
    wrong = square_wrong_at((1, 2))
    rng = np.random.default_rng(2)
    a, b = leaf(rng.standard_normal(3)), leaf(rng.standard_normal((2, 3)))
    with pytest.raises(GradcheckError) as error:
        seqgrad.gradcheck(lambda a, b: a.tanh() + wrong(b), [a, b])
    message = str(error.value)
    assert "input 1" in message and "element (1, 2)" in message
    assert "analytic" in message and "numeric" in message
    assert isinstance(error.value, AssertionError)  # so plain `assert`-style tooling reports it


def test_a_wrong_rule_on_a_large_input_is_caught_by_random_directions():
    """Per-element differences are skipped past max_elements; the <w, J u> check still fails."""
    wrong = square_missing_the_factor_two()
    x = leaf(np.random.default_rng(3).uniform(0.5, 1.5, (100, 100)))
    with pytest.raises(GradcheckError, match="random direction"):
        seqgrad.gradcheck(lambda x: wrong(x), [x], max_elements=100)


def test_a_single_wrong_element_of_a_large_input_is_caught_by_random_directions():
    wrong = square_wrong_at((7, 3))
    x = leaf(np.random.default_rng(4).standard_normal((50, 40)) * 1e-3)
    with pytest.raises(GradcheckError, match="random direction"):
        seqgrad.gradcheck(lambda x: wrong(x), [x], max_elements=100)


def test_random_directions_pass_on_a_correct_large_input():
    x = leaf(np.random.default_rng(5).standard_normal((100, 100)))
    w = leaf(np.random.default_rng(6).standard_normal((100, 20)))
    assert seqgrad.gradcheck(lambda x, w: (x @ w).tanh(), [x, w], max_elements=100)


def test_the_registry_is_untouched_by_throwaway_primitives():
    before = dict(ops.REGISTRY)
    wrong = square_missing_the_factor_two()
    wrong(leaf([1.0]))
    assert ops.REGISTRY == before


def test_rejects_float32_inputs_and_inputs_without_grad():
    with pytest.raises(TypeError, match="float64"):
        seqgrad.gradcheck(lambda x: x * 2.0, [seqgrad.Tensor(np.ones(2, np.float32), requires_grad=True)])
    with pytest.raises(ValueError, match="requires grad"):
        seqgrad.gradcheck(lambda x: x * 2.0, [seqgrad.Tensor(np.ones(2))])
    with pytest.raises(TypeError, match="Tensor"):
        seqgrad.gradcheck(lambda x: x * 2.0, [np.ones(2)])


def test_engine_names_the_op_whose_rule_returns_a_wrong_shape():
    """A rule's gradient that broadcasting cannot explain (here transposed) is an engine error,
    never silently reshaped into the input's shape."""
    transposed = throwaway("forgets_to_transpose_back", lambda x: x.T.copy(), lambda ctx, g: (g,), saves="")
    x = leaf(np.ones((2, 3)))
    with seqgrad.scope("cell", step=4):
        y = transposed(x)
    with pytest.raises(RuntimeError, match=r"forgets_to_transpose_back.*\(3, 2\).*\(2, 3\).*cell step 4"):
        (y * 1.0).sum().backward()


def test_engine_rejects_a_rule_returning_too_few_gradients():
    first_only = throwaway("first_only", np.add, lambda ctx, g: (g,), saves="")
    a, b = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="first_only.*1 gradients for 2 inputs"):
        first_only(a, b).sum().backward()


def test_gradcheck_restores_inputs_and_their_gradients_even_when_fn_fails():
    x = seqgrad.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.grad = np.array([7.0, 7.0])
    calls = []

    def flaky(value):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("boom")
        return value * value

    with pytest.raises(RuntimeError, match="boom"):
        seqgrad.gradcheck(flaky, [x])
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])
    assert seqgrad.gradcheck(lambda value: value * value, [x])
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])
