"""Turn the notebook sources into notebooks with their outputs: notebooks/NN_slug.py -> NN_slug.ipynb.

Each notebook is edited as ONE file, `notebooks/NN_slug.py`, in jupytext's "percent" format:
`# %% [markdown]` starts a markdown cell (its lines commented with `# `), `# %%` a code cell.
No IPython magics, so a source also runs as a plain script (`python notebooks/03_....py`).
This command converts each source with jupytext and runs it with nbclient, so the committed
`.ipynb` carries the outputs a reader sees on a code host:

    .venv/bin/python notebooks/build.py                # every notebooks/NN_*.py
    .venv/bin/python notebooks/build.py 02 04          # the sources whose names start so
    .venv/bin/python notebooks/build.py --check        # only say which .ipynb are out of date

Execution uses this interpreter's own ipykernel (never a kernelspec installed elsewhere), in a
temporary folder, with one BLAS thread; tests/notebooks/test_notebooks.py runs every source
the same way (`execute`) without writing anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

# A notebook that has not finished after this many seconds has hung (each should take under a minute).
NOTEBOOK_TIMEOUT = 300


def sources(directory: Path = HERE) -> list[Path]:
    """Every notebook source, `NN_slug.py` with NN two digits, in order."""
    return sorted(path for path in directory.glob("[0-9][0-9]_*.py"))


def read_source(path: Path) -> nbformat.NotebookNode:
    """The notebook (no outputs) that the percent-format source at `path` describes.

    Cells get stable ids and no metadata, and the notebook only the python3 kernelspec, so
    rebuilding an unchanged source rewrites nothing but its outputs.
    """
    notebook = jupytext.read(path, fmt="py:percent")
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
        cell.metadata = {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}
    return notebook


def cells_of(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(type, source) of every cell: what a source and its built notebook must agree on."""
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def out_of_date(source: Path) -> str | None:
    """Why `source`'s committed .ipynb is not its build (missing, other cells, no outputs), or None."""
    built = source.with_suffix(".ipynb")
    if not built.exists():
        return f"{built.name} is missing"
    committed = nbformat.read(built, as_version=4)
    if cells_of(committed) != cells_of(read_source(source)):
        return f"{built.name} differs from {source.name}"
    if any(cell.execution_count is None for cell in committed.cells if cell.cell_type == "code"):
        return f"{built.name} is saved without its outputs"
    return None


def kernel_environment(scratch: Path) -> dict[str, str]:
    """The kernel's environment: one BLAS thread, IPython and matplotlib state kept in `scratch`.

    One thread because seqgrad's matrices are small: on a busy two-core machine a threaded BLAS
    spends more time waiting than multiplying (measured 40x slower on an LSTM step).
    """
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # a non-interactive backend from the caller would keep plots out of the outputs
    env.update({
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "IPYTHONDIR": str(scratch / "ipython"), "MPLCONFIGDIR": str(scratch / "matplotlib"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    return env


def execute(notebook: nbformat.NotebookNode, workdir: Path, scratch: Path | None = None,
            timeout: float = NOTEBOOK_TIMEOUT) -> float:
    """Run every cell of `notebook` in place (outputs filled in); raise on the first error.

    The kernel is this interpreter's ipykernel (`sys.executable -m ipykernel_launcher`):
    an empty kernel search path leaves only the native kernel, so no kernelspec installed for
    another Python can be picked up. It runs in `workdir`; its connection file and IPython and
    matplotlib state go to `scratch` (default: `workdir`). The whole notebook must finish within
    `timeout` seconds. Returns the wall time in seconds.
    """
    scratch = Path(scratch or workdir)
    specs = KernelSpecManager(kernel_dirs=[])
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs,
                            connection_file=str(scratch / f"kernel-{os.getpid()}-{time.monotonic_ns()}.json"))
    started = time.monotonic()
    deadline = started + timeout
    client = NotebookClient(
        notebook, km=manager, record_timing=False, resources={"metadata": {"path": str(workdir)}},
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
    )
    try:
        client.execute(env=kernel_environment(scratch), cleanup_kc=True)  # cleanup_kc: shut the kernel down
    finally:
        if manager.has_kernel:  # an error during start-up or execution must not leave a kernel running
            manager.shutdown_kernel(now=True)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="build only the sources whose names start with these (e.g. 03)")
    parser.add_argument("--check", action="store_true",
                        help="build nothing; list the notebooks whose .ipynb does not match its source")
    args = parser.parse_args(argv)
    everything = sources()
    chosen = [path for path in everything if not args.names or path.name.startswith(tuple(args.names))]
    if not chosen:
        parser.error(f"no source starts with {' or '.join(args.names)}; have "
                     f"{', '.join(path.name for path in everything)}")
    if args.check:
        stale = [reason for reason in map(out_of_date, chosen) if reason]
        for reason in stale:
            print(f"{reason}: run `notebooks/build.py {reason[:2]}`")
        return 1 if stale else 0
    for source in chosen:
        notebook = read_source(source)
        with tempfile.TemporaryDirectory(prefix="seqgrad-notebook-") as workdir:
            seconds = execute(notebook, Path(workdir))
        nbformat.validate(notebook)
        nbformat.write(notebook, source.with_suffix(".ipynb"))
        print(f"{source.with_suffix('.ipynb').name}: ran in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
