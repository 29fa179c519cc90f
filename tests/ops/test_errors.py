"""Bad input: shape errors name the op, both shapes and the scope; anomaly mode names the op;
construction rejects what cannot be a tensor."""

import re

import numpy as np
import pytest

import seqgrad
from seqgrad import ShapeError


def ones(*shape) -> seqgrad.Tensor:
    return seqgrad.Tensor(np.ones(shape))


# --- shape errors ------------------------------------------------------------------
def test_shape_error_is_a_value_error():
    assert issubclass(ShapeError, ValueError)


def test_matmul_message_names_op_shapes_and_sizes():
    with pytest.raises(ShapeError) as error:
        ones(32, 64) @ ones(128, 512)
    assert str(error.value) == "matmul: (32, 64) @ (128, 512): inner sizes 64 and 128 differ"


def test_matmul_message_ends_with_the_scope():
    with seqgrad.scope("lstm", layer=0, step=57) as where:
        assert where.describe() == "lstm layer 0 step 57"
        with pytest.raises(ShapeError) as error:
            ones(32, 64) @ ones(128, 512)
    assert str(error.value) == "matmul: (32, 64) @ (128, 512): inner sizes 64 and 128 differ (lstm layer 0 step 57)"


def test_nested_scopes_read_outermost_first():
    with seqgrad.scope("lstm", layer=0):
        with seqgrad.scope(step=57):
            with pytest.raises(ShapeError) as error:
                ones(32, 64) @ ones(128, 512)
    assert str(error.value) == "matmul: (32, 64) @ (128, 512): inner sizes 64 and 128 differ (lstm layer 0, step 57)"


@pytest.mark.parametrize("make, words", [
    (lambda: ones(3, 4) + ones(5), ["add", "(3, 4)", "(5,)"]),
    (lambda: ones(3, 4) * np.ones((2, 4)), ["mul", "(3, 4)", "(2, 4)"]),
    (lambda: ones(3).broadcast_to((2, 4)), ["broadcast_to", "(3,)", "(2, 4)"]),
    (lambda: seqgrad.concat([ones(2, 3), ones(2, 4)], axis=0), ["concat", "(2, 3)", "(2, 4)"]),
    (lambda: seqgrad.stack([ones(2, 3), ones(3, 2)]), ["stack", "(2, 3)", "(3, 2)"]),
    (lambda: ones(2, 3).reshape(4, 2), ["reshape", "(2, 3)", "(4, 2)"]),
    (lambda: ones(3)[5], ["getitem", "5", "(3,)"]),
    (lambda: ones(3, 2)[np.array([True, False])], ["getitem", "(3, 2)"]),
    (lambda: ones(2, 3).transpose(0, 0), ["transpose", "(0, 0)", "(2, 3)"]),
    (lambda: ones(6, 2).split([2, 3]), ["split", "[2, 3]", "(6, 2)"]),
    (lambda: ones(4) @ ones(3, 2), ["matmul", "(4,)", "(3, 2)"]),
    (lambda: ones(2, 3, 4) @ ones(5, 4, 2), ["matmul", "(2, 3, 4)", "(5, 4, 2)"]),
])
def test_shape_errors_name_the_op_and_shapes_and_scope(make, words):
    with seqgrad.scope("gru", layer=1, direction="reverse", step=3):
        with pytest.raises(ShapeError) as error:
            make()
    message = str(error.value)
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"
    assert message.endswith("(gru layer 1 direction reverse step 3)")


def test_scopes_are_recorded_on_nodes_and_restored():
    x = seqgrad.Tensor(np.ones(2), requires_grad=True)
    assert seqgrad.current_scope() is None
    with seqgrad.scope("rnn", layer=0):
        with seqgrad.scope(step=3):
            y = x * 2.0
        z = y + 1.0
    outside = z * 1.0
    assert y.node.scope.describe() == "rnn layer 0, step 3"
    assert y.node.scope.get("layer") == 0 and y.node.scope.get("step") == 3
    assert z.node.scope.describe() == "rnn layer 0"
    assert outside.node.scope is None
    with pytest.raises(KeyError):
        with seqgrad.scope("broken"):
            raise KeyError("inside")
    assert seqgrad.current_scope() is None


# --- anomaly detection --------------------------------------------------------------
def test_detect_anomaly_names_the_op_with_a_non_finite_output():
    x = seqgrad.Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"), seqgrad.detect_anomaly():
        with seqgrad.scope("loss", step=2):
            with pytest.raises(FloatingPointError, match=re.escape("log") + r".*\(loss step 2\)"):
                x.log()


def test_detect_anomaly_names_the_op_with_a_non_finite_gradient():
    x = seqgrad.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore"), seqgrad.detect_anomaly():
        with seqgrad.scope("readout"):
            y = x.sqrt()  # finite forward: sqrt(0) = 0
        loss = y.sum()
        with pytest.raises(FloatingPointError, match=r"sqrt.*\(readout\)"):
            loss.backward()
    assert x.grad is None  # raised before the leaf received anything


def test_without_detect_anomaly_non_finite_values_pass_silently():
    x = seqgrad.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        x.sqrt().sum().backward()
        assert np.isnan(x.log().data).sum() == 0 and np.isinf(x.log().data).sum() == 1
    assert np.isinf(x.grad[0])


# --- construction -------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    "abc", ["a", "b"], np.array(["a", "b"]), np.array([1.0, None], dtype=object), None, {"a": 1},
    1 + 2j, np.array([1j]), [1.0, [2.0, 3.0]], object(),
], ids=["str", "list-of-str", "str-array", "object-array", "None", "dict", "complex", "complex-array",
        "ragged", "object"])
def test_non_numeric_data_is_a_type_error(data):
    with pytest.raises(TypeError):
        seqgrad.Tensor(data)


@pytest.mark.parametrize("data", [np.arange(3), np.array([True, False]), np.array([1, 2], dtype=np.int32)])
def test_integer_and_boolean_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match=str(data.dtype)):
        seqgrad.Tensor(data, requires_grad=True)
    kept = seqgrad.Tensor(data)  # accepted as indices or masks
    assert kept.dtype == data.dtype
    with pytest.raises(TypeError):
        kept.requires_grad_()


def test_python_integers_made_integer_by_dtype_cannot_require_grad():
    with pytest.raises(TypeError):
        seqgrad.Tensor([1, 2], dtype=np.int64, requires_grad=True)


@pytest.mark.parametrize("other", ["a", None, object(), [1, "a"]])
def test_non_numeric_operands_are_type_errors(other):
    x = seqgrad.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError):
        x + other


def test_index_arrays_must_be_integer_or_boolean():
    with pytest.raises(TypeError, match="float64"):
        ones(3)[np.array([0.0, 1.0])]


def test_pow_needs_a_number_exponent():
    with pytest.raises(TypeError, match="exponent"):
        ones(2) ** ones(2)


def test_unregistered_primitive_can_be_declared_twice():
    from seqgrad.ops import REGISTRY, primitive
    first = primitive("notebook_square", np.square, lambda ctx, g: (2 * g * ctx.xs[0],), saves="x", register=False)
    second = primitive("notebook_square", np.square, lambda ctx, g: (2 * g * ctx.xs[0],), saves="x", register=False)
    assert "notebook_square" not in REGISTRY and first is not second
    with pytest.raises(ValueError, match="declared twice"):
        primitive("tanh", np.tanh, lambda ctx, g: (g,))


def test_anomaly_mode_raises_without_numpy_warnings(recwarn):
    with seqgrad.detect_anomaly(), pytest.raises(FloatingPointError, match="log"):
        seqgrad.Tensor(np.array([-1.0]), requires_grad=True).log()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_extra_inputs_and_tensors_by_keyword_are_refused():
    x, y = seqgrad.randn(3), seqgrad.randn(3)
    before = y.data.copy()
    with pytest.raises(TypeError, match=r"tanh\(\) takes 1 tensor\(s\), got 2"):
        seqgrad.tanh(x, y)
    np.testing.assert_array_equal(y.data, before)  # numpy's `out` slot must not be reachable
    with pytest.raises(TypeError, match="by position"):
        seqgrad.linear(seqgrad.randn(2, 3), seqgrad.randn(4, 3), bias=seqgrad.randn(4))


def test_truth_value_of_a_tensor_is_numpy_like():
    assert bool(seqgrad.Tensor(1.0)) and not bool(seqgrad.Tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(seqgrad.randn(3) > 0)
