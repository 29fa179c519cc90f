"""Render DOT to SVG, PNG or PDF with whatever Graphviz this machine has.

Two backends, tried in this order:
- the system `dot` program, when it is on PATH (`apt install graphviz`, `brew install graphviz`);
- pygraphviz, whose wheels on PyPI bundle Graphviz's layout engine and renderers, so a
  fresh `pip install` renders with no system Graphviz at all.

`GraphDrawing` (what `seqgrad.viz.draw` returns) is a `graphviz.Digraph` that renders
through this module, so it displays inline in Jupyter either way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import graphviz

BACKENDS = ("auto", "dot", "pygraphviz")
IMAGE_FORMATS = ("svg", "png", "pdf")
SOURCE_FORMATS = ("dot", "gv")
NO_RENDERER = (
    "cannot render: no Graphviz found. Either put Graphviz's `dot` on PATH (apt install graphviz, "
    "brew install graphviz, conda install graphviz) or `pip install pygraphviz` (its wheels bundle "
    "Graphviz; `pip install seqgrad[render]`). Writing a .dot file needs neither."
)


def choose_backend(backend: str = "auto") -> str:
    """'dot' when the system `dot` is on PATH, else 'pygraphviz' when it imports; raise otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend in ("auto", "dot") and shutil.which("dot") is not None:
        return "dot"
    if backend == "dot":
        raise RuntimeError("backend='dot' asked for the system Graphviz, but no `dot` is on PATH "
                           f"(PATH={os.environ.get('PATH', '')!r})")
    try:
        import pygraphviz  # noqa: F401
    except ImportError as error:
        if backend == "pygraphviz":
            raise RuntimeError(f"backend='pygraphviz' but pygraphviz does not import ({error}); "
                               "`pip install pygraphviz`") from None
        raise RuntimeError(NO_RENDERER) from None
    return "pygraphviz"


def render_bytes(graph, fmt: str, *, backend: str = "auto", engine: str = "dot") -> bytes:
    """The drawing as `fmt` bytes ('svg', 'png', 'pdf'); `graph` is a graphviz object or DOT text."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(IMAGE_FORMATS)}, got {fmt!r}")
    source = _source(graph)
    if choose_backend(backend) == "dot":
        return _with_system_dot(source, fmt, engine)
    return _with_pygraphviz(source, fmt, engine)


def render(graph, path: str | os.PathLike, *, backend: str = "auto") -> Path:
    """Write the drawing to `path`; the extension picks the format (.svg, .png, .pdf, or .dot/.gv
    for the DOT source itself, which needs no Graphviz). Returns the path written."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in IMAGE_FORMATS + SOURCE_FORMATS:
        raise ValueError(f"cannot tell the format of {str(path)!r}: use one of the extensions "
                         + ", ".join("." + name for name in IMAGE_FORMATS + SOURCE_FORMATS))
    if fmt in SOURCE_FORMATS:
        path.write_text(_source(graph), encoding="utf-8")
        return path
    engine = getattr(graph, "engine", "dot") or "dot"
    data = render_bytes(graph, fmt, backend=backend, engine=engine)
    path.write_bytes(data)
    return path


def _source(graph) -> str:
    if isinstance(graph, str):
        return graph
    source = getattr(graph, "source", None)
    if not isinstance(source, str):
        raise TypeError(f"expected a graphviz graph or DOT text, got {type(graph).__name__}")
    return source


def _with_system_dot(source: str, fmt: str, engine: str) -> bytes:
    program = shutil.which("dot")
    if program is None:  # PATH changed since choose_backend
        raise RuntimeError(NO_RENDERER)
    result = subprocess.run([program, f"-K{engine}", f"-T{fmt}"], input=source.encode("utf-8"),
                            capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode("utf-8", "replace").strip() or f"exit status {result.returncode}"
        raise RuntimeError(f"Graphviz ({program}) could not render the drawing as {fmt}: {message}")
    return result.stdout


def _with_pygraphviz(source: str, fmt: str, engine: str) -> bytes:
    import pygraphviz

    graph = pygraphviz.AGraph(string=source)
    try:
        with _graphviz_messages() as messages:
            data = graph.draw(format=fmt, prog=engine)
    finally:
        graph.close()
    errors = [line for line in messages if line.startswith("Error")]
    if errors:
        raise RuntimeError(f"Graphviz (pygraphviz) could not render the drawing as {fmt}: " + " ".join(messages))
    reported = [line.strip() for line in messages if line.strip() and not line.startswith("Fontconfig")]
    if reported:
        warnings.warn("Graphviz: " + " ".join(reported), RuntimeWarning, stacklevel=3)
    return data


@contextlib.contextmanager
def _graphviz_messages() -> Iterator[list[str]]:
    """Collect what the bundled Graphviz prints on the process's stderr (file descriptor 2):
    in-process it reports errors such as a malformed label only there."""
    sys.stderr.flush()
    saved = os.dup(2)
    messages: list[str] = []
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            messages.extend(sink.read().decode("utf-8", "replace").splitlines())


class GraphDrawing(graphviz.Digraph):
    """A `graphviz.Digraph` whose `pipe()` (and so its inline Jupyter display) renders through
    `seqgrad.viz.render`: the system `dot` if present, pygraphviz otherwise."""

    def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None, quiet=False, *,
             engine=None, encoding=None):
        if renderer is not None or formatter is not None or neato_no_op:
            # Renderer/formatter choices are options of the `dot` program itself.
            return super().pipe(format, renderer, formatter, neato_no_op, quiet, engine=engine, encoding=encoding)
        data = render_bytes(self, format or self.format, engine=engine or self.engine or "dot")
        return data.decode(encoding) if encoding is not None else data
