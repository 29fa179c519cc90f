"""The teaching notebooks: every source notebooks/NN_*.py runs top to bottom without an error, holds
no IPython magic (so it also runs as a plain script), and its committed .ipynb is its build.

Sources are converted with jupytext and executed in memory, in a temporary folder, with this
interpreter's ipykernel (see `build.execute`); nothing under notebooks/ is rewritten.
"""

import ast
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def _load_build_script():
    """notebooks/build.py as a module, loaded from its file (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("seqgrad_notebook_build", NOTEBOOK_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_script()
SOURCES = build.sources(NOTEBOOK_DIR)


@pytest.fixture(scope="session")
def kernel_scratch(tmp_path_factory):
    """One folder for kernel connection files and IPython/matplotlib state, shared by the notebooks
    (matplotlib builds its font cache once)."""
    return tmp_path_factory.mktemp("notebook-kernel")


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert len(SOURCES) >= 6, [path.name for path in SOURCES]
    numbers = [path.name[:2] for path in SOURCES]
    assert len(set(numbers)) == len(numbers), f"two sources share a number: {numbers}"
    built = sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))
    assert built == sorted(path.with_suffix(".ipynb").name for path in SOURCES), \
        "each notebooks/NN_slug.py has its NN_slug.ipynb (run notebooks/build.py NN) and no .ipynb lacks a source"


def test_the_kernel_is_this_interpreter(tmp_path, kernel_scratch):
    """The notebooks run on this venv's Python, whatever kernelspecs the machine has installed."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import sys, seqgrad\nprint(sys.executable)")]
    build.execute(notebook, workdir=tmp_path, scratch=kernel_scratch, timeout=120)
    assert notebook.cells[0].outputs[0]["text"].strip() == sys.executable


def test_a_source_round_trips_through_the_percent_format(tmp_path):
    source = tmp_path / "99_example.py"
    source.write_text("# %% [markdown]\n# # Title\n#\n# Some *text*.\n\n# %%\nx = 1\nprint(x)\n")
    notebook = build.read_source(source)
    assert build.cells_of(notebook) == [("markdown", "# Title\n\nSome *text*."), ("code", "x = 1\nprint(x)")]
    assert [cell.id for cell in notebook.cells] == ["cell-00", "cell-01"]
    assert build.out_of_date(source) == "99_example.ipynb is missing"


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_source_is_plain_python(source):
    """No magics or shell escapes: the source parses as Python and runs as a script."""
    notebook = build.read_source(source)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            lines = [line.lstrip() for line in cell.source.splitlines()]
            assert not [line for line in lines if line.startswith(("%", "!"))], f"{source.name}: {cell.source[:80]}"
    ast.parse(source.read_text(), filename=str(source))
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# "), \
        f"{source.name} starts with a markdown cell holding its title"


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_committed_notebook_is_the_build_of_its_source(source):
    reason = build.out_of_date(source)
    assert reason is None, f"{reason}: run `.venv/bin/python notebooks/build.py {source.name[:2]}`"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(source, tmp_path, kernel_scratch):
    built = source.with_suffix(".ipynb")
    committed = built.read_bytes() if built.exists() else None
    notebook = build.read_source(source)
    build.execute(notebook, workdir=tmp_path, scratch=kernel_scratch)  # raises CellExecutionError on any error
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)
    errors = [output for cell in code_cells for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    assert (built.read_bytes() if built.exists() else None) == committed, f"running {source.name} rewrote {built.name}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_the_notebooks_exercises_are_in_it(source):
    """Every exercise seqgrad.exercises files under this notebook's number is checked in its source."""
    from seqgrad import exercises

    text = source.read_text()
    missing = [name for name in exercises.names(source.name[:2]) if f'exercises.check("{name}"' not in text]
    assert not missing, f"{source.name} does not check its exercises {missing}"
