"""The cell zoo (seqgrad.nn.zoo), written by others from primitives, compiles with no change and
computes what the eager layers compute (float64, stacked, bidirectional, lengths with a zero,
recurrent dropout)."""

import inspect

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.nn import zoo

CELLS = [cls for _, cls in inspect.getmembers(zoo, inspect.isclass)
         if issubclass(cls, nn.Cell) and cls.__module__ == zoo.__name__]


def _run(layer, x):
    for param in layer.parameters():
        param.grad = None
    inputs = sg.Tensor(x, requires_grad=True)
    sg.manual_seed(3)
    output, final = layer(inputs, lengths=[5, 0, 3, 4])
    finals = final if isinstance(final, tuple) else (final,)
    rng = np.random.default_rng(5)
    loss = (output * sg.Tensor(rng.standard_normal(output.shape))).sum()
    for state in finals:
        loss = loss + (state * sg.Tensor(rng.standard_normal(state.shape))).sum()
    loss.backward()
    return [output.data, inputs.grad] + [s.data for s in finals] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("cell_type", CELLS, ids=lambda cls: cls.__name__)
def test_zoo_cell_compiled_equals_eager(cell_type):
    sg.manual_seed(0)
    layer = nn.Recurrent(lambda size: cell_type(size, 4, dtype=np.float64), 3, num_layers=2, bidirectional=True,
                         recurrent_dropout=0.2)
    x = np.random.default_rng(1).standard_normal((5, 4, 3))
    eager, compiled = _run(layer, x), _run(sg.compile(layer), x)
    for got, expected in zip(compiled, eager):
        assert np.abs(got - expected).max() <= 1e-12 * max(np.abs(expected).max(), 1e-300)
