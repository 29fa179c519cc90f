"""Column blocks (compiler/blocks.py): values read only as column slices are computed per slice
(or over the columns read), the step's values stay the same, and the rewrite is kept only
when it leaves fewer strided operands."""

import inspect

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.compiler import trace
from seqgrad.compiler.blocks import split_column_blocks, strided_reads
from seqgrad.compiler.derive import evaluate
from seqgrad.nn import zoo
from tests.cells import MinimalGatedUnit, PeepholeLSTM, ProjectedCell
from tests.compiler.test_sliced_cells import ReadWholeAndSliced

D, H = 3, 4
CELLS = {
    "rnn": lambda: nn.RNNCell(D, H, dtype=np.float64),
    "lstm": lambda: nn.LSTMCell(D, H, dtype=np.float64),
    "gru": lambda: nn.GRUCell(D, H, dtype=np.float64),
    "gru-before": lambda: nn.GRUCell(D, H, reset="before", dtype=np.float64),
    "mgu": lambda: MinimalGatedUnit(D, H),
    "peephole": lambda: PeepholeLSTM(D, H),
    "projected": lambda: ProjectedCell(D, H),
}
CELLS.update({cls.__name__: (lambda cls=cls: cls(D, H, dtype=np.float64))
              for _, cls in inspect.getmembers(zoo, inspect.isclass)
              if issubclass(cls, nn.Cell) and cls.__module__ == zoo.__name__})


def _outputs(program, by_role):
    """The step's outputs for these input values (by role); a step input the rewrite made
    block-major, (K, B, w), gets the same values laid out that way."""
    values = {}
    for var in program.inputs:
        value = by_role[var.role]
        if value.shape != var.shape:
            blocks, batch, width = var.shape
            value = value.reshape(batch, blocks, width).transpose(1, 0, 2)
        values[id(var)] = value
    computed = evaluate(program, values)
    return [computed[id(var)] for var in program.outputs]


def _rewritten(cell, batch):
    """(rewritten program, its outputs, the outputs before the rewrite) on the same random inputs."""
    program = trace(cell, 3, np.float64, steps=2)
    rng = np.random.default_rng(0)
    by_role = {var.role: rng.standard_normal(var.shape) for var in program.inputs}
    before = _outputs(program, by_role)
    split_column_blocks(program, batch, getattr(cell, "gate_names", ()))
    return program, _outputs(program, by_role), before


@pytest.mark.parametrize("batch", [1, 2, 32])
@pytest.mark.parametrize("name", list(CELLS))
def test_the_step_computes_the_same_values(name, batch):
    cell = CELLS[name]()
    _, after, before = _rewritten(cell, batch)
    for got, expected in zip(after, before):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_the_gru_gets_one_contiguous_value_and_one_matmul_per_gate():
    cell = nn.GRUCell(D, H, dtype=np.float64)
    program = trace(cell, 3, np.float64, steps=2)
    assert strided_reads(program.equations) == 4
    split_column_blocks(program, 32, cell.gate_names)
    by_name = {eq.output.name: eq for eq in program.equations}
    for gate in ("reset_gate", "update_gate"):
        assert by_name[gate].op.name == "sigmoid" and by_name[gate].output.shape == (3, H)
    linears = [eq for eq in program.equations if eq.op.name == "linear"]
    assert [eq.inputs[1].name for eq in linears] == ["weight_hh_reset_gate", "weight_hh_update_gate",
                                                     "weight_hh_candidate"]
    assert all(eq.output.shape == (3, H) for eq in linears)
    assert strided_reads(program.equations) == 0  # the projected input's blocks too: block-major
    source = sg.compiler.source(cell, batch_size=8, steps=3)
    assert "weight_hh_update_gate_T" in source and "sigmoid(add_x_update_gate, out=update_gate)" in source


def test_the_projection_writes_the_gru_input_block_major():
    """(T, K, B, H) over (K, T, B, H) memory: block k of step t is a contiguous (B, H) array, and the
    input gradient's buffer has the same memory order (its backward reads it without a copy)."""
    cell = nn.GRUCell(D, H, dtype=np.float64)
    program, _, _ = _rewritten(cell, 32)
    (x,) = [var for var in program.inputs if var.role == "x"]
    assert x.shape == (3, 3, H)  # (K, B, H)
    assert [eq.params["index"] for eq in program.equations if eq.inputs[0] is x] == [0, 1, 2]
    (output,) = program.projection.outputs
    assert output.shape == (2, 3, 3, H)  # (T, K, B, H)
    source = sg.compiler.source(cell, batch_size=5, steps=6, dtype=np.float64)
    assert "grad_projected_inputs = buffers.empty((3, 6, 5, 4), 'float64').transpose((1, 0, 2, 3))" \
        in source
    assert "x_reset_gate = x[0]" in source


def test_a_projection_of_another_form_keeps_the_input_as_it_is():
    """The LayerNorm LSTM's projection normalises each row: not `reshape(linear(...))`, so its input
    stays (B, 4H) (and the layer still equals eager: tests/compiler/test_zoo_compiles.py)."""
    cell = zoo.LayerNormLSTMCell(D, H, dtype=np.float64)
    program, _, _ = _rewritten(cell, 32)
    (x,) = [var for var in program.inputs if var.role == "x"]
    assert x.shape == (3, 4 * H)


def test_at_batch_one_only_the_columns_read_are_computed():
    cell = nn.GRUCell(D, H, dtype=np.float64)
    program, _, _ = _rewritten(cell, 1)
    (sigmoid,) = [eq for eq in program.equations if eq.op.name == "sigmoid"]
    assert sigmoid.output.shape == (3, 2 * H)  # r and z; the candidate's block is not squashed
    assert sum(eq.op.name == "linear" for eq in program.equations) == 1


def test_the_lstm_keeps_its_one_gate_matmul():
    """Its gate matmul adds the projected input, whose blocks would be strided operands: a split
    leaves as many strided operands as it removes, so it is not kept."""
    cell = nn.LSTMCell(D, H, dtype=np.float64)
    program = trace(cell, 3, np.float64, steps=2)
    listing = str(program)
    split_column_blocks(program, 32, cell.gate_names)
    assert str(program) == listing


def test_values_read_whole_or_by_overlapping_slices_are_not_split():
    """(Compiled against eager, gradients included: tests/compiler/test_sliced_cells.py.)"""
    program, after, before = _rewritten(ReadWholeAndSliced(D, H), 32)
    ops = {eq.output.name: eq for eq in program.equations}
    assert ops["pre"].output.shape == (3, 4 * H)  # read whole: kept
    (sigmoid,) = [eq for eq in program.equations if eq.op.name == "sigmoid"]
    assert sigmoid.output.shape == (3, 3 * H)  # overlapping slices: narrowed to the columns read, not split
    for got, expected in zip(after, before):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
