"""The teaching notebooks: each runs top to bottom without an error, and the committed file is
what notebooks/build.py generates (so the reviewed Python source is what readers run).

The committed notebooks are executed in memory, in a temporary folder, with this
interpreter's ipykernel (see `build.execute`); nothing under notebooks/ is rewritten.
"""

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = [
    "01_engine.ipynb", "02_elman_rnn.ipynb", "03_vanishing_exploding.ipynb",
    "04_gates_and_custom_cells.ipynb", "05_bidirectional_tagging.ipynb", "06_training_in_practice.ipynb",
]


def _load_build_script():
    """notebooks/build.py as a module, loaded from its file (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("seqgrad_notebook_build", NOTEBOOK_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_script()


@pytest.fixture(scope="session")
def kernel_scratch(tmp_path_factory):
    """One folder for kernel connection files and IPython/matplotlib state, shared by the notebooks
    (matplotlib builds its font cache once)."""
    return tmp_path_factory.mktemp("notebook-kernel")


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def test_every_notebook_is_built_by_build_py():
    assert sorted(build.NOTEBOOKS) == EXPECTED
    assert sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb")) == EXPECTED


def test_the_kernel_is_this_interpreter(tmp_path, kernel_scratch):
    """The notebooks run on this venv's Python, whatever kernelspecs the machine has installed."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import sys, seqgrad\nprint(sys.executable)")]
    build.execute(notebook, workdir=tmp_path, scratch=kernel_scratch, timeout=120)
    assert notebook.cells[0].outputs[0]["text"].strip() == sys.executable


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_notebook_matches_its_source_in_build_py(name):
    committed, generated = _read(name), build.build(build.NOTEBOOKS[name])
    assert [(cell.cell_type, cell.source) for cell in committed.cells] == \
        [(cell.cell_type, cell.source) for cell in generated.cells], \
        f"{name} differs from notebooks/build.py: run `.venv/bin/python notebooks/build.py {name[:2]}`"
    executed = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in executed), f"{name} is saved without its outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom(name, tmp_path, kernel_scratch):
    committed_bytes = (NOTEBOOK_DIR / name).read_bytes()
    notebook = _read(name)
    for cell in notebook.cells:  # run from a clean slate: outputs come only from this execution
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    build.execute(notebook, workdir=tmp_path, scratch=kernel_scratch)  # raises CellExecutionError on any error
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)
    errors = [output for cell in code_cells for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    assert (NOTEBOOK_DIR / name).read_bytes() == committed_bytes, f"running {name} rewrote the committed file"
