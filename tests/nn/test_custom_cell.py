"""A cell written in the test from primitives gets unrolling, stacking, the bidirectional
form, lengths, recurrent dropout, scopes and gradcheck with no extra code."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from tests.cells import MinimalGatedUnit, PeepholeLSTM


def _layer(cell_type, **options):
    return nn.Recurrent(lambda size: cell_type(size, 3), input_size=2, **options)


def test_custom_cells_stack_bidirectional_with_lengths_and_gradcheck():
    for cell_type in (MinimalGatedUnit, PeepholeLSTM):
        sg.manual_seed(0)
        layer = _layer(cell_type, num_layers=2, bidirectional=True)
        x = sg.Tensor(np.random.default_rng(0).standard_normal((4, 2, 2)), requires_grad=True)
        output, final = layer(x, lengths=[4, 2])
        assert output.shape == (4, 2, 6)
        assert not output.data[2:, 1].any()
        finals = final if isinstance(final, tuple) else (final,)
        assert len(finals) == len(cell_type.state_names) and finals[0].shape == (4, 2, 3)
        names = [name for name, _ in layer.named_parameters()]
        assert names[0].endswith("_l0") and any(name.endswith("_l1_reverse") for name in names)

        def run(x, *params, layer=layer):
            return layer(x, lengths=[4, 2])

        assert sg.gradcheck(run, [x, *layer.parameters()], max_elements=0, directions=4)


def test_custom_cell_records_scopes_and_state_roles():
    layer = _layer(PeepholeLSTM)
    output, (hidden, _) = layer(sg.randn(3, 1, 2, dtype=np.float64))
    steps, roles = set(), set()
    stack, seen = [hidden.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.scope is not None and node.scope.get("step") is not None:
            steps.add(node.scope.get("step"))
            assert node.scope.get("layer") == 0 and node.scope.get("direction") == "forward"
        if node.role:
            roles.add(node.role)
        stack.extend(node.parents())
    assert steps == {0, 1, 2}
    assert roles == {"hidden", "cell"}


@pytest.mark.parametrize("cell_type", [MinimalGatedUnit, PeepholeLSTM])
def test_custom_cell_gets_recurrent_dropout_on_its_hidden_input(cell_type):
    """MinimalGatedUnit masks its recurrent input itself (masks_recurrent); the layer masks the
    peephole LSTM's hidden state for it."""
    sg.manual_seed(1)
    layer = _layer(cell_type, recurrent_dropout=0.5)
    x = sg.randn(5, 4, 2, dtype=np.float64)
    a, _ = layer(x)
    b, _ = layer(x)
    assert not np.allclose(a.data, b.data)
    layer.eval()
    c, _ = layer(x)
    d, _ = layer(x)
    np.testing.assert_array_equal(c.data, d.data)


def test_custom_cell_trains():
    sg.manual_seed(0)
    layer = _layer(MinimalGatedUnit)
    head = nn.Linear(3, 1, dtype=np.float64)
    params = list(layer.parameters()) + list(head.parameters())
    optimizer = sg.optim.Adam(params, lr=0.05)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 16, 2))
    target = x[:, :, :1].cumsum(axis=0) * 0.3  # running sum: needs memory across steps
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        output, _ = layer(sg.Tensor(x))
        loss = nn.functional.mse_loss(head(output), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


class Counter(nn.Cell):
    """No parameters at all: the state counts the steps (a cell may be pure computation)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size

    def step(self, x, state):
        hidden = state[0] + 1.0
        return hidden, (hidden,)


def test_a_cell_without_parameters_unrolls():
    layer = nn.Recurrent(lambda size: Counter(size, 2), input_size=1)
    output, final = layer(sg.zeros(4, 3, 1), lengths=[4, 2, 1])
    np.testing.assert_array_equal(final.data[0, :, 0], [4, 2, 1])
    assert output.shape == (4, 3, 2)
    with pytest.raises(TypeError, match="float64 but the layer's parameters are float32"):
        nn.LSTM(2, 3)(sg.Tensor(np.zeros((4, 1, 2))))
