"""The cell zoo (seqgrad.nn.zoo), written by others from primitives, compiles with no change and
computes what the eager layers compute (float64, stacked, bidirectional, lengths with a zero,
recurrent dropout)."""

import inspect

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.nn import zoo
from tests.compiler.eager_vs_compiled import assert_compiled_equals_eager

CELLS = [cls for _, cls in inspect.getmembers(zoo, inspect.isclass)
         if issubclass(cls, nn.Cell) and cls.__module__ == zoo.__name__]


@pytest.mark.parametrize("cell_type", CELLS, ids=lambda cls: cls.__name__)
def test_zoo_cell_compiled_equals_eager(cell_type):
    sg.manual_seed(0)
    layer = nn.Recurrent(lambda size: cell_type(size, 4, dtype=np.float64), 3, num_layers=2, bidirectional=True,
                         recurrent_dropout=0.2)
    x = np.random.default_rng(1).standard_normal((5, 4, 3))
    assert_compiled_equals_eager(layer, x, lengths=[5, 0, 3, 4], seed=3)
