"""Compiled layers compute what the eager layers compute: outputs, final states and every
parameter and input gradient agree to 1e-12 relative in float64."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from tests.cells import MinimalGatedUnit, PeepholeLSTM, ProjectedCell
from tests.compiler.eager_vs_compiled import assert_compiled_equals_eager

D, H = 3, 4

LAYERS = {
    "rnn-tanh": lambda **kw: nn.RNN(D, H, dtype=np.float64, **kw),
    "rnn-relu": lambda **kw: nn.RNN(D, H, nonlinearity="relu", dtype=np.float64, **kw),
    "lstm": lambda **kw: nn.LSTM(D, H, dtype=np.float64, **kw),
    "gru": lambda **kw: nn.GRU(D, H, dtype=np.float64, **kw),
    "gru-before": lambda **kw: nn.GRU(D, H, reset="before", dtype=np.float64, **kw),
    "mgu": lambda **kw: nn.Recurrent(lambda size: MinimalGatedUnit(size, H), D, **kw),
    "peephole": lambda **kw: nn.Recurrent(lambda size: PeepholeLSTM(size, H), D, **kw),
    "projected": lambda **kw: nn.Recurrent(lambda size: ProjectedCell(size, H), D, **kw),
}

# (options, lengths, given initial state, batch): 1-3 layers, bidirectional, zero and unsorted lengths;
# batches above 3 are compiled from small traces stretched to the real batch (retarget).
SETUPS = [
    (dict(), None, False, 3),
    (dict(num_layers=2, bidirectional=True), [5, 0, 3], True, 3),
    (dict(num_layers=3, recurrent_dropout=0.3), [2, 5, 4], False, 3),
    (dict(bidirectional=True, recurrent_dropout=0.2), [5, 2, 0, 4, 1], True, 5),
]


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("setup", range(len(SETUPS)))
def test_compiled_equals_eager(name, setup):
    options, lengths, given, batch = SETUPS[setup]
    sg.manual_seed(1)
    layer = LAYERS[name](**options)
    rng = np.random.default_rng(setup)
    x = rng.standard_normal((5, batch, D))
    hx = None
    if given:
        count = layer.num_layers * layer.num_directions
        hx = [rng.standard_normal((count, batch, H)) for _ in layer.state_names]
    compiled = assert_compiled_equals_eager(layer, x, hx, lengths)
    if lengths is not None and 0 in lengths:
        empty = lengths.index(0)
        assert not compiled["output"][:, empty].any(), "an empty sequence's outputs are zeros"



# Which parts of a layer the loss reads: the compiled node takes its gradient as the slices that
# reach it (outputs, each final state), used once, twice or not at all, or made dense otherwise.
LOSSES = {
    "outputs twice": lambda output, finals: (output * output).sum() + output[-1].sum(),
    "only the last final state": lambda output, finals: (finals[-1] * finals[-1]).sum(),
    "outputs and a final state twice": lambda output, finals: output.sum() + (finals[0] * finals[0]).sum(),
    "a reshape of the outputs": lambda output, finals: output.reshape(-1).cumsum(0).sum(),
}


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_gradients_reaching_part_of_the_layer(name, loss_name):
    sg.manual_seed(2)
    layer = LAYERS[name]()
    x = np.random.default_rng(3).standard_normal((4, 5, D))
    grads = []
    for run in (layer, sg.compile(layer)):
        for param in layer.parameters():
            param.grad = None
        inputs = sg.Tensor(x, requires_grad=True)
        output, final = run(inputs)
        LOSSES[loss_name](output, final if isinstance(final, tuple) else (final,)).backward()
        grads.append([inputs.grad] + [p.grad for p in layer.parameters()])
    for expected, got in zip(*grads):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)



@pytest.mark.parametrize("name", ["rnn-tanh", "lstm", "gru", "peephole"])
def test_a_gradient_shared_with_an_earlier_branch_is_only_read(name):
    """add hands one array to both of its inputs; the compiled node gets it as the outputs'
    gradient and must not write into it, or the branch recorded before the layer (whose vjp runs
    after the layer's) would see a changed gradient."""
    sg.manual_seed(4)
    layer, side = LAYERS[name](), nn.Linear(D, H, dtype=np.float64)
    x = np.random.default_rng(5).standard_normal((4, 3, D))
    grads = []
    for run in (layer, sg.compile(layer)):
        for param in list(layer.parameters()) + list(side.parameters()):
            param.grad = None
        inputs = sg.Tensor(x, requires_grad=True)
        before = side(inputs)
        output, _ = run(inputs)
        ((output + before) ** 2).sum().backward()
        grads.append([inputs.grad, side.weight.grad] + [p.grad for p in layer.parameters()])
    for expected, got in zip(*grads):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_zero_length_keeps_the_initial_state_in_eager_and_compiled():
    layer = nn.GRU(D, H, dtype=np.float64)
    x = sg.Tensor(np.ones((3, 2, D)))
    h0 = sg.Tensor(np.full((1, 2, H), 0.25))
    for run in (layer, sg.compile(layer)):
        output, final = run(x, h0, lengths=[0, 3])
        assert not output.data[:, 0].any()
        np.testing.assert_array_equal(final.data[0, 0], np.full(H, 0.25))


def test_gradcheck_through_a_compiled_layer():
    sg.manual_seed(0)
    layer = sg.compile(nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64))
    x = sg.Tensor(np.random.default_rng(0).standard_normal((4, 2, 2)), requires_grad=True)
    params = list(layer.parameters())
    assert sg.gradcheck(lambda x, *_: layer(x, lengths=[4, 2])[0], [x] + params)


def test_truncated_bptt_with_detached_state_and_float32():
    sg.manual_seed(0)
    layer = nn.LSTM(D, H)
    compiled = sg.compile(layer)
    x = sg.Tensor(np.random.default_rng(0).standard_normal((4, 2, D)).astype(np.float32))
    state = None
    for _ in range(2):
        output, state = compiled(x, state)
        state = tuple(s.detach() for s in state)
        output.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in layer.parameters())
    eager_out, _ = layer(x, state)
    compiled_out, _ = compiled(x, state)
    np.testing.assert_allclose(compiled_out.data, eager_out.data, rtol=1e-5, atol=1e-6)


def test_a_second_backward_through_a_compiled_layer_says_why_it_cannot():
    layer = sg.compile(nn.GRU(D, H, dtype=np.float64))
    output, _ = layer(sg.randn(3, 2, D).data.astype(np.float64))
    loss = output.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="a second time.*without seqgrad.compile"):
        loss.backward()
