"""The cell contract is checked: what a step returns, what a cell declares, and parameter names
that are attribute paths."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from tests.cells import MinimalGatedUnit


class Configurable(nn.Cell):
    """A cell whose step returns whatever `shape_of` says, to break the contract on purpose."""

    def __init__(self, input_size, hidden_size, result):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight = nn.Parameter(np.full((input_size, hidden_size), 0.1))
        self.result = result

    def step(self, x, state):
        hidden = (x @ self.weight + state[0]).tanh()
        return self.result(hidden)


def _run(result, steps=3, batch=2, **options):
    layer = nn.Recurrent(lambda size: Configurable(size, 4, result), input_size=3, **options)
    return layer(sg.Tensor(np.ones((steps, batch, 3))))


@pytest.mark.parametrize("result, error, message", [
    (lambda h: (h, h), TypeError, r"Configurable.step must return \(output, new_state\) with new_state a tuple of "
                                  r"1 Tensor\(s\) \(hidden\); got Tensor"),
    (lambda h: (h, (h, h)), ValueError, r"Configurable.step returned 2 state component\(s\) but state_names "
                                        r"declares 1 \(hidden\)"),
    (lambda h: (h.reshape(2, 1, 4), (h,)), sg.ShapeError, r"Configurable.step: output must have shape "
                                                          r"\(batch, hidden_size\) = \(2, 4\), got \(2, 1, 4\)"),
    (lambda h: (h, (h[:, :3],)), sg.ShapeError, r"hidden state must have shape .* = \(2, 4\), got \(2, 3\)"),
    (lambda h: (h.data, (h,)), TypeError, r"output must be a Tensor of shape \(2, 4\), got ndarray"),
])
def test_a_step_that_breaks_the_contract_is_named_with_expected_and_got(result, error, message):
    with pytest.raises(error, match=message):
        _run(result)
    with pytest.raises(error, match=message):  # the backward direction checks its first step too
        _run(result, bidirectional=True)
    with pytest.raises(error, match=message):  # and so does the single-step call, PyTorch's cell(x, h)
        Configurable(3, 4, result)(sg.Tensor(np.ones((2, 3))))


def test_a_step_returning_a_list_state_is_accepted():
    output, final = _run(lambda h: (h, [h]))
    assert output.shape == (3, 2, 4) and final.shape == (1, 2, 4)


def test_declarations_are_checked_when_the_class_is_made():
    class Undeclared(nn.Cell):  # undeclared: the class's own step says it
        def step(self, x, state, recurrent_mask=None):
            return x, (x,)

    class Redefined(nn.LSTMCell):  # redefines step without the mask: does not inherit True
        def step(self, x, state):
            return super().step(x, state)

    assert Undeclared.masks_recurrent and not Redefined.masks_recurrent
    with pytest.raises(TypeError, match="masks_recurrent = False but step\\(\\) takes recurrent_mask="):
        class Contradicting(nn.Cell):
            masks_recurrent = False

            def step(self, x, state, recurrent_mask=None):
                return x, (x,)
    with pytest.raises(TypeError, match="masks_recurrent = True but step\\(\\) does not take"):
        class Overdeclared(nn.Cell):
            masks_recurrent = True

            def step(self, x, state):
                return x, (x,)
    with pytest.raises(TypeError, match="gate_names must be a tuple of strings"):
        class BadGates(nn.Cell):
            gate_names = "forget"
    assert nn.LSTMCell.gate_names == ("input_gate", "forget_gate", "candidate", "output_gate")
    assert nn.GRUCell.gate_names == ("reset_gate", "update_gate", "candidate")
    assert nn.LSTMCell.masks_recurrent and nn.GRUCell.masks_recurrent and nn.RNNCell.masks_recurrent


def test_custom_cell_parameter_names_are_attribute_paths_that_round_trip():
    layer = nn.Recurrent(lambda size: MinimalGatedUnit(size, 3), input_size=2, num_layers=2, bidirectional=True)
    names = [name for name, _ in layer.named_parameters()]
    assert "forget.weight_l0" in names and "candidate.bias_l1_reverse" in names and len(names) == 16
    for name, param in layer.named_parameters():
        assert layer.get_parameter(name) is param and param.name == name
    assert layer.forget.weight_l0 is layer.cell(0).forget.weight
    assert layer.get_parameter("candidate.bias_l1_reverse") is layer.cell(1, 1).candidate.bias
    state = {name: np.full(value.shape, 0.25) for name, value in layer.state_dict().items()}
    layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.cell(1, 1).forget.weight.data, 0.25)
    assert set(layer.state_dict()) == set(names)
    with pytest.raises(AttributeError, match="has no parameter 'weight_l9'"):
        layer.get_parameter("forget.weight_l9")
    with pytest.raises(AttributeError, match="has no submodule 'missing'"):
        layer.get_parameter("missing.weight_l0")
    lstm = nn.LSTM(2, 3)
    assert lstm.get_parameter("weight_hh_l0") is lstm.cell(0).weight_hh


def test_a_cell_submodule_name_that_clashes_with_the_layer_is_refused():
    class Clashing(nn.Cell):
        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.dropout = nn.Linear(input_size, hidden_size)

        def step(self, x, state):
            return state[0], state

    with pytest.raises(ValueError, match="clashes with the layer's attribute 'dropout'"):
        nn.Recurrent(lambda size: Clashing(size, 3), input_size=2)
