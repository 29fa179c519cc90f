"""Ops take their parameters by position too, as numpy and PyTorch users write them."""

import numpy as np
import pytest

import seqgrad as sg


def test_positional_parameters_fill_in_order():
    x = sg.Tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(sg.sum(x, 1).data, x.data.sum(1))
    assert sg.sum(x, 1, True).shape == (3, 1)
    assert sg.mean(x, (0, 1)).shape == ()
    np.testing.assert_allclose(sg.softmax(x, 0).data.sum(0), 1.0)
    np.testing.assert_array_equal(sg.clip(x, 2, 5).data, np.clip(x.data, 2, 5))
    assert sg.reshape(x, (4, 3)).shape == (4, 3)


def test_positional_and_keyword_conflicts_are_errors():
    x = sg.randn(2, 3)
    with pytest.raises(TypeError, match="'axis' both by position and by keyword"):
        sg.sum(x, 1, axis=0)
    with pytest.raises(TypeError, match="at most 2 more arguments"):
        sg.sum(x, 1, True, 5)
