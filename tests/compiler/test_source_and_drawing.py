"""What a reader sees: the generated source (names from the cell, a primitive per line, the
text that runs), the `codegen` command, the trace listing, and the compiled node in drawings."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.cli import main


def test_source_names_values_after_the_cell_and_is_what_runs():
    cell = nn.LSTMCell(3, 4)
    text = sg.compiler.source(cell, batch_size=2, steps=5)
    for name in ("forget_gate", "cell_state", "output_gate", "def backward", "hidden_states", "# sigmoid",
                 "for t in range(4, -1, -1):", "T·B rows"):
        assert name in text, name
    compiled = sg.compiler.compiled_code(cell, 5, 2, 3, np.float32, False, False, False)
    assert compiled.source == text
    assert compiled.forward.__code__.co_filename.startswith("<seqgrad.compiler")


def test_trace_lists_primitive_applications_with_roles():
    program = sg.compiler.trace(nn.GRUCell(3, 4, dtype=np.float64), 2, np.float64)
    roles = {var.role for var in program.inputs}
    assert {"x", "state:hidden", "param:weight_hh", "param:bias_hh"} <= roles
    assert all(hasattr(eq.op, "vjp") for eq in program.equations)
    assert program.projection is not None and program.projection.equations[-1].op.name == "reshape"
    assert [v.shape for v in program.outputs] == [(2, 4), (2, 4)]
    assert "reset_gate" in str(program) and "update_gate" in str(program)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "gru-before"])
def test_codegen_command_prints_the_generated_code(cell, capsys):
    assert main(["codegen", "--cell", cell, "--hidden", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('"""') and "def forward(" in out and "def backward(" in out
    compile(out, "<printed>", "exec")


def test_a_compiled_layer_is_one_marked_node_with_a_gradient_at_every_level():
    sg.manual_seed(0)
    layer = nn.LSTM(2, 3, num_layers=2)
    output, _ = sg.compile(layer)(sg.randn(4, 2, 2))
    loss = (output * output).sum()
    with sg.viz.record():
        loss.backward()
    compiled_nodes = [n for n in sg.autodiff.walk(loss).nodes if n.name.startswith("compiled ")]
    norms = [sg.viz.recording.node_grad_norm(n) for n in compiled_nodes]
    assert len(compiled_nodes) == 2 and all(norm and norm > 0 for norm in norms)
    for level in ("op", "cell", "layer"):
        source = sg.viz.draw(loss, level=level).source
        assert "compiled" in source and "peripheries=2" in source, level


def test_the_readme_excerpt_is_generated_text():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    excerpt = readme.split("```text\n", 1)[1].split("```", 1)[0]
    text = sg.compiler.source(nn.LSTMCell(8, 32), batch_size=4, steps=50)
    for line in excerpt.splitlines():
        if line.strip() != "...":
            assert line in text.splitlines(), line
