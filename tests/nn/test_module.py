"""Module bookkeeping as PyTorch users expect it."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.encoder = nn.LSTM(4, 3, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(6, 5))

    def forward(self, ids):
        output, _ = self.encoder(self.embedding(ids))
        return self.head(output)


def test_named_parameters_are_dotted_and_pytorch_named():
    names = [name for name, _ in Tagger().named_parameters()]
    assert names[0] == "embedding.weight"
    assert "encoder.weight_hh_l0_reverse" in names
    assert names[-2:] == ["head.1.weight", "head.1.bias"]
    assert len(names) == len(set(names)) == 1 + 8 + 2


def test_state_dict_round_trip_and_copies():
    model, other = Tagger(), Tagger()
    state = model.state_dict()
    state["head.1.bias"][...] = 7.0  # a copy: the model is not changed through it
    assert not (model.head[1].bias.data == 7.0).any()
    other.load_state_dict(model.state_dict())
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    model = Tagger()
    before = model.state_dict()
    state = model.state_dict()
    del state["encoder.bias_ih_l0"]
    state["extra.weight"] = np.zeros(2)
    state["head.1.weight"] = np.zeros((6, 6))
    state["embedding.weight"] = np.zeros_like(state["embedding.weight"])  # valid: must not be applied either
    with pytest.raises(sg.StateDictError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "missing keys: encoder.bias_ih_l0" in message
    assert "unexpected keys: extra.weight" in message
    assert "head.1.weight: expected shape (5, 6), got (6, 6)" in message
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_load_state_dict_non_strict_ignores_missing_and_unexpected():
    model = Tagger()
    model.load_state_dict({"head.1.bias": np.ones(5), "other": np.ones(1)}, strict=False)
    np.testing.assert_array_equal(model.head[1].bias.data, np.ones(5))


def test_train_eval_zero_grad_and_to():
    model = Tagger()
    model.eval()
    assert not any(module.training for module in model.modules())
    model.train()
    assert all(module.training for module in model.modules())
    out = model(np.array([[1, 2], [3, 4]]))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.to(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.encoder.cell(0, 1).weight_ih.dtype == np.float64  # cells share the parameters
    assert model(np.array([[1, 2]])).dtype == np.float64


def test_repr_shows_structure_and_counts():
    text = repr(Tagger())
    assert "(encoder): LSTM(4, 3, bidirectional=True, cell=LSTMCell)" in text
    assert "(embedding): Embedding(10, 4)  # 40 parameters" in text
    assert text.strip().endswith(f"Total: {Tagger().num_parameters():,} parameters")


def test_parameters_must_be_floating_and_init_order():
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.array([1, 2]))

    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_init_functions():
    sg.manual_seed(0)
    weight = nn.Parameter(np.zeros((8, 4)))
    nn.init.orthogonal_(weight)
    np.testing.assert_allclose(weight.data.T @ weight.data, np.eye(4), atol=1e-5)
    stacked = nn.Parameter(np.zeros((12, 3)))
    nn.init.orthogonal_(stacked, blocks=4)
    for block in np.split(stacked.data, 4):
        np.testing.assert_allclose(block @ block.T, np.eye(3), atol=1e-5)
    nn.init.xavier_uniform_(weight)
    assert np.abs(weight.data).max() <= np.sqrt(6 / 12)
    cell = nn.LSTMCell(3, 4)
    nn.init.forget_gate_bias_(cell, 1.0)
    np.testing.assert_array_equal(cell.bias_ih.data[4:8], 1.0)
    np.testing.assert_array_equal(cell.bias_hh.data[4:8], 0.0)
