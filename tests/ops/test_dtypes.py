"""dtype rules: Python data takes the default dtype, numpy floats keep theirs, and numbers and
arrays mix with Tensors on either side of every operator without losing the graph."""

import numpy as np
import pytest

import seqgrad


@pytest.mark.parametrize("data", [1.0, 3, [1, 2], [[1.5], [2.5]], (1.0, 2.0)])
def test_python_data_takes_the_default_dtype(data):
    assert seqgrad.get_default_dtype() == np.float32
    assert seqgrad.Tensor(data).dtype == np.float32


@pytest.mark.parametrize("data", [1.0, 3, [1, 2]])
def test_set_default_dtype_float64(float64, data):
    assert seqgrad.Tensor(data).dtype == np.float64
    assert seqgrad.zeros(2, 3).dtype == np.float64
    assert seqgrad.ones((2,)).dtype == np.float64
    assert seqgrad.randn(4).dtype == np.float64


def test_factories_follow_the_default_dtype():
    assert seqgrad.zeros(2).dtype == np.float32
    assert seqgrad.randn(2, 2, dtype=np.float64).dtype == np.float64
    assert seqgrad.zeros_like(seqgrad.Tensor(np.ones(3))).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_float_arrays_keep_their_dtype_whatever_the_default(dtype):
    for default in (np.float32, np.float64):
        seqgrad.set_default_dtype(default)
        assert seqgrad.Tensor(np.ones(3, dtype)).dtype == dtype


def test_index_arrays_keep_their_integer_dtype():
    assert seqgrad.Tensor(np.arange(3)).dtype == np.arange(3).dtype
    assert seqgrad.Tensor(np.array([True])).dtype == np.bool_


def test_default_dtype_must_be_a_float():
    with pytest.raises(TypeError, match="int64"):
        seqgrad.set_default_dtype(np.int64)
    assert seqgrad.get_default_dtype() == np.float32


def test_tensor_opts_out_of_numpy_ufuncs():
    assert seqgrad.Tensor.__array_ufunc__ is None


MIXED = {
    "2 * x": lambda x: 2 * x,
    "x * 2": lambda x: x * 2,
    "x - np.ones(3)": lambda x: x - np.ones(3),
    "np.ones(3) - x": lambda x: np.ones(3) - x,
    "1.0 - x": lambda x: 1.0 - x,
    "np.ones(3) * x": lambda x: np.ones(3) * x,
    "np.ones(3) + x": lambda x: np.ones(3) + x,
    "np.full(3, 2.0) / x": lambda x: np.full(3, 2.0) / x,
    "x / 2": lambda x: x / 2,
    "np.eye(3) @ x": lambda x: np.eye(3) @ x,
    "x @ np.eye(3)": lambda x: x @ np.eye(3),
    "np.float64(2.0) * x": lambda x: np.float64(2.0) * x,
    "[1.0, 2.0, 3.0] + x": lambda x: [1.0, 2.0, 3.0] + x,
}


@pytest.mark.parametrize("expression", sorted(MIXED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numbers_and_arrays_on_either_side_keep_the_graph(expression, dtype):
    x = seqgrad.Tensor(np.array([1.0, 2.0, 4.0], dtype=dtype), requires_grad=True)
    out = MIXED[expression](x)
    assert isinstance(out, seqgrad.Tensor)
    assert out.requires_grad and out.node is not None
    assert out.dtype == np.result_type(x.data, *([np.float64] if "np." in expression else []))
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype and x.grad.shape == (3,)
    assert np.abs(x.grad).sum() > 0


def test_python_numbers_do_not_promote_float32():
    x = seqgrad.Tensor(np.ones(3, np.float32), requires_grad=True)
    for out in (2 * x, x - 1, 1.0 - x, x / 3.0, x**2, -x, x.sigmoid(), x.clip(0.0, 0.5)):
        assert out.dtype == np.float32


def test_comparisons_give_masks_without_gradient():
    x = seqgrad.Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.node is None
    np.testing.assert_array_equal((x <= np.array([0.0, 3.0])).data, [True, True])


def test_numpy_scalars_keep_their_dtype():
    assert seqgrad.Tensor(np.float64(1.5)).dtype == np.float64
    assert seqgrad.Tensor(np.int64(3)).dtype == np.int64
    assert seqgrad.Tensor(1.5).dtype == seqgrad.get_default_dtype()
