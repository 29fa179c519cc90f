"""The cell zoo: each cell matched to an independent PyTorch reference of its paper's equations
(forward and every gradient, float64), gradchecked through `Recurrent` (stacked, bidirectional, with
lengths), drawn, and kept short."""

import inspect

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.nn import zoo

STEPS, BATCH, FEATURES, HIDDEN = 4, 2, 3, 4


# --- references: the papers' equations, one step each, written with torch ops ------------------
def layer_norm(v, weight, bias, eps=1e-5):
    mean = v.mean(-1, keepdim=True)
    variance = ((v - mean) ** 2).mean(-1, keepdim=True)
    return (v - mean) / (variance + eps).sqrt() * weight + bias


def layer_norm_lstm(torch, p, x, h, c):
    gates = (layer_norm(x @ p["weight_ih"].T, p["norm_input.weight"], p["norm_input.bias"])
             + layer_norm(h @ p["weight_hh"].T, p["norm_hidden.weight"], p["norm_hidden.bias"])
             + p["bias_ih"] + p["bias_hh"])
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(layer_norm(c, p["norm_cell.weight"], p["norm_cell.bias"])), c


def peephole_lstm(torch, p, x, h, c):
    i, f, g, o = (x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]).chunk(4, dim=1)
    i = torch.sigmoid(i + p["peephole_input"] * c)
    f = torch.sigmoid(f + p["peephole_forget"] * c)
    c = f * c + i * torch.tanh(g)
    o = torch.sigmoid(o + p["peephole_output"] * c)
    return o * torch.tanh(c), c


def ind_rnn(torch, p, x, h):
    return (torch.relu(x @ p["weight_ih"].T + p["bias_ih"] + p["weight_hh"] * h),)


def mogrifier_lstm(torch, p, x, h, c):
    for k in range(1, 6):
        if k % 2:
            x = 2 * torch.sigmoid(h @ p[f"mogrifier_q{k}"].T) * x
        else:
            h = 2 * torch.sigmoid(x @ p[f"mogrifier_r{k}"].T) * h
    i, f, g, o = (x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def min_gru(torch, p, x, h):
    z, candidate = (x @ p["weight_ih"].T + p["bias_ih"]).chunk(2, dim=1)
    z = torch.sigmoid(z)
    return ((1 - z) * h + z * candidate,)


def cifg_lstm(torch, p, x, h, c):
    f, g, o = (x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]).chunk(3, dim=1)
    f = torch.sigmoid(f)
    c = f * c + (1 - f) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


REFERENCES = {
    zoo.LayerNormLSTMCell: layer_norm_lstm, zoo.PeepholeLSTMCell: peephole_lstm, zoo.IndRNNCell: ind_rnn,
    zoo.MogrifierLSTMCell: mogrifier_lstm, zoo.MinGRUCell: min_gru, zoo.CIFGLSTMCell: cifg_lstm,
}
IDS = [cell.__name__ for cell in zoo.CELLS]


def _layer(cell_type, **options):
    sg.manual_seed(3)
    layer = nn.Recurrent(lambda size: cell_type(size, HIDDEN, dtype=np.float64), FEATURES, **options)
    for _, param in layer.named_parameters():  # move LayerNorm's 1s and 0s off their start: a stronger test
        param.data = param.data + np.random.default_rng(param.size).uniform(-0.3, 0.3, param.shape)
    return layer


def test_the_zoo_is_every_cell_with_a_reference():
    assert set(zoo.CELLS) == set(REFERENCES)


@pytest.mark.torch
@pytest.mark.parametrize("cell_type", zoo.CELLS, ids=IDS)
def test_matches_the_papers_equations_in_torch(cell_type):
    torch = pytest.importorskip("torch")
    layer = _layer(cell_type)
    cell = layer.cell(0)
    rng = np.random.default_rng(0)
    x = sg.Tensor(rng.standard_normal((STEPS, BATCH, FEATURES)), requires_grad=True)
    output, final = layer(x)
    finals = final if isinstance(final, tuple) else (final,)
    upstream = rng.standard_normal(output.shape)
    ((output * upstream).sum() + sum((state * 0.5).sum() for state in finals)).backward()

    params = {name: torch.tensor(param.data, requires_grad=True) for name, param in cell.named_parameters()}
    torch_x = torch.tensor(x.data, requires_grad=True)
    state = tuple(torch.zeros(BATCH, HIDDEN, dtype=torch.float64) for _ in cell.state_names)
    outputs = []
    for t in range(STEPS):
        state = REFERENCES[cell_type](torch, params, torch_x[t], *state)
        outputs.append(state[0])
    reference = torch.stack(outputs)
    ((reference * torch.from_numpy(upstream)).sum() + sum((s * 0.5).sum() for s in state)).backward()

    np.testing.assert_allclose(output.data, reference.detach().numpy(), rtol=1e-12, atol=1e-14)
    for ours, theirs in zip(finals, state):
        np.testing.assert_allclose(ours.data[0], theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, torch_x.grad.numpy(), rtol=1e-10, atol=1e-13)
    for name, param in cell.named_parameters():
        np.testing.assert_allclose(param.grad, params[name].grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("cell_type", zoo.CELLS, ids=IDS)
def test_gradcheck_stacked_bidirectional_with_lengths(cell_type):
    layer = _layer(cell_type, num_layers=2, bidirectional=True)
    x = sg.Tensor(np.random.default_rng(1).standard_normal((3, 2, FEATURES)), requires_grad=True)
    output, final = layer(x, lengths=[3, 2])
    assert output.shape == (3, 2, 2 * HIDDEN) and not output.data[2, 1].any()

    def run(x, *params):
        return layer(x, lengths=[3, 2])

    assert sg.gradcheck(run, [x, *layer.parameters()], max_elements=0, directions=3)


@pytest.mark.parametrize("cell_type", zoo.CELLS, ids=IDS)
def test_declares_gates_and_draws_three_steps(cell_type):
    assert isinstance(cell_type.gate_names, tuple)
    assert cell_type.gate_names or cell_type is zoo.IndRNNCell  # IndRNN has no gates
    layer = _layer(cell_type, recurrent_dropout=0.3)
    output, _ = layer(sg.Tensor(np.ones((3, 1, FEATURES))))
    drawing = sg.viz.draw((output ** 2).sum(), level="cell")
    for t in range(3):
        assert f"{cell_type.__name__} step {t}" in drawing.source


@pytest.mark.parametrize("cell_type", zoo.CELLS, ids=IDS)
def test_each_cell_is_at_most_thirty_lines_of_code(cell_type):
    source = inspect.getsource(cell_type)
    docstring = inspect.getdoc(cell_type) or ""
    lines = [line for line in source.splitlines() if line.strip()]
    assert len(lines) - len(docstring.splitlines()) <= 30, f"{cell_type.__name__}: {len(lines)} lines"


def test_cells_train_a_little():
    """A running sum needs memory across steps: every zoo cell fits it better after 40 Adam steps."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 8, 2))
    target = x[:, :, :1].cumsum(axis=0) * 0.3
    for cell_type in zoo.CELLS:
        sg.manual_seed(0)
        layer = nn.Recurrent(lambda size, c=cell_type: c(size, 6, dtype=np.float64), 2)
        head = nn.Linear(6, 1, dtype=np.float64)
        optimizer = sg.optim.Adam(list(layer.parameters()) + list(head.parameters()), lr=0.03)
        losses = []
        for _ in range(40):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(head(layer(sg.Tensor(x))[0]), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.5 * losses[0], f"{cell_type.__name__}: {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize("cell_type, expected", [
    (zoo.CIFGLSTMCell, {"forget", "candidate", "output"}),
    (zoo.LayerNormLSTMCell, {"input", "forget", "candidate", "output"}),
    (zoo.MinGRUCell, {"update"}),
], ids=["CIFG", "LayerNormLSTM", "minGRU"])
def test_gate_histograms_use_the_declared_gate_names(cell_type, expected):
    output, _ = _layer(cell_type)(sg.Tensor(np.ones((3, 2, FEATURES))))
    activations = sg.viz.gate_activations(output)
    assert set(activations) == expected
    assert all(values.size == 3 * 2 * HIDDEN for values in activations.values())
