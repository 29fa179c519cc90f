"""Render DOT to SVG, PNG or PDF with whatever Graphviz this machine has.

Two backends, tried in this order:
- the system `dot` program, when it is on PATH (`apt install graphviz`, `brew install graphviz`);
- pygraphviz, whose wheels on PyPI bundle Graphviz's layout engine and renderers, so a
  fresh `pip install` renders with no system Graphviz at all.

Either way the layout runs in a child process with a time limit and a memory limit: a
drawing too big for Graphviz ends in one line saying so (and Ctrl-C stops it), never in a
frozen terminal or a machine out of memory. Graphviz's own messages (its stderr) are reported.

`GraphDrawing` (what `seqgrad.viz.draw` returns) is a `graphviz.Digraph` that renders
through this module, so it displays inline in Jupyter either way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import graphviz

BACKENDS = ("auto", "dot", "pygraphviz")
IMAGE_FORMATS = ("svg", "png", "pdf")
SOURCE_FORMATS = ("dot", "gv")
TIMEOUT = 60.0                 # seconds a layout may take
MEMORY_LIMIT = 2 * 2**30       # bytes of address space the layout process may map
MESSAGE_LIMIT = 400            # characters of Graphviz's stderr quoted in an error
NO_RENDERER = (
    "cannot render: no Graphviz found. Either put Graphviz's `dot` on PATH (apt install graphviz, "
    "brew install graphviz, conda install graphviz) or `pip install pygraphviz` (its wheels bundle "
    "Graphviz; `pip install seqgrad[render]`). Writing a .dot file needs neither."
)

# The layout child. It caps its own address space (setrlimit, where the platform allows it: in
# the child, not through preexec_fn, which is unsafe in a threaded parent such as a Jupyter kernel),
# then either becomes the system `dot` (argv: limit "program" PATH ARGS...) or lays out with
# pygraphviz (argv: limit "pygraphviz" SYS_PATH FORMAT ENGINE): DOT on stdin, the drawing on
# stdout, Graphviz's messages on stderr. It runs isolated (-I: neither the current folder nor a
# script folder on sys.path) with the parent's sys.path, and imports nothing of seqgrad (so no numpy).
_LAYOUT_CHILD = """\
import json, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
limit = int(sys.argv[1])
if limit:
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
if sys.argv[2] == "program":
    os.execv(sys.argv[3], sys.argv[3:])
sys.path[:] = json.loads(sys.argv[3])
import pygraphviz
graph = pygraphviz.AGraph(string=sys.stdin.read())
sys.stdout.buffer.write(graph.draw(format=sys.argv[4], prog=sys.argv[5]))
"""


class GraphvizError(RuntimeError):
    """Graphviz failed, ran out of time or memory, or is not installed: one line that says which."""


def choose_backend(backend: str = "auto") -> str:
    """'dot' when the system `dot` is on PATH, else 'pygraphviz' when it imports; raise otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend in ("auto", "dot") and shutil.which("dot") is not None:
        return "dot"
    if backend == "dot":
        raise GraphvizError("backend='dot' asked for the system Graphviz, but no `dot` is on PATH "
                            f"(PATH={os.environ.get('PATH', '')!r})")
    try:
        import pygraphviz  # noqa: F401
    except ImportError as error:
        if backend == "pygraphviz":
            raise GraphvizError(f"backend='pygraphviz' but pygraphviz does not import ({error}); "
                                "`pip install pygraphviz`") from None
        raise GraphvizError(NO_RENDERER) from None
    return "pygraphviz"


def render_bytes(graph, fmt: str, *, backend: str = "auto", engine: str = "dot", timeout: float | None = TIMEOUT,
                 memory_limit: int | None = MEMORY_LIMIT) -> bytes:
    """The drawing as `fmt` bytes ('svg', 'png', 'pdf'); `graph` is a graphviz object or DOT text.

    The layout runs in a child process stopped after `timeout` seconds and limited to
    `memory_limit` bytes of address space (None: no limit); failures raise GraphvizError.
    """
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(IMAGE_FORMATS)}, got {fmt!r}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if memory_limit is not None and not memory_limit > 0:
        raise ValueError(f"memory_limit must be a positive number of bytes or None, got {memory_limit!r}")
    source = _source(graph)
    child = [sys.executable, "-I", "-c", _LAYOUT_CHILD, str(int(memory_limit or 0))]
    if choose_backend(backend) == "dot":
        program = shutil.which("dot")
        if program is None:  # PATH changed since choose_backend
            raise GraphvizError(NO_RENDERER)
        command, name = [*child, "program", program, f"-K{engine}", f"-T{fmt}"], f"Graphviz ({program})"
    else:
        path = json.dumps([entry for entry in sys.path if entry])
        command, name = [*child, "pygraphviz", path, fmt, engine], "Graphviz (pygraphviz)"
    return _run_layout(command, source, fmt, name, timeout, memory_limit)


def render(graph, path: str | os.PathLike, *, backend: str = "auto", timeout: float | None = TIMEOUT,
           memory_limit: int | None = MEMORY_LIMIT) -> Path:
    """Write the drawing to `path`; the extension picks the format (.svg, .png, .pdf, or .dot/.gv
    for the DOT source itself, which needs no Graphviz). Returns the path written.

    The layout runs in a child process: at most `timeout` seconds (default 60) and `memory_limit`
    bytes (default 2 GiB); Ctrl-C stops it. A failure raises GraphvizError with Graphviz's message.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in IMAGE_FORMATS + SOURCE_FORMATS:
        raise ValueError(f"cannot tell the format of {str(path)!r}: use one of the extensions "
                         + ", ".join("." + name for name in IMAGE_FORMATS + SOURCE_FORMATS))
    if fmt in SOURCE_FORMATS:
        path.write_text(_source(graph), encoding="utf-8")
        return path
    engine = getattr(graph, "engine", "dot") or "dot"
    data = render_bytes(graph, fmt, backend=backend, engine=engine, timeout=timeout, memory_limit=memory_limit)
    path.write_bytes(data)
    return path


def _source(graph) -> str:
    if isinstance(graph, str):
        return graph
    source = getattr(graph, "source", None)
    if not isinstance(source, str):
        raise TypeError(f"expected a graphviz graph or DOT text, got {type(graph).__name__}")
    return source


def _run_layout(command: list[str], source: str, fmt: str, name: str, timeout: float | None,
                memory_limit: int | None) -> bytes:
    """Run one layout child; its stdout is the drawing. Whatever stops the parent (the time limit,
    Ctrl-C) kills the child and reaps it before going on."""
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as error:
        raise GraphvizError(f"{name} could not be started: {error}") from None
    try:
        stdout, stderr = process.communicate(source.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise GraphvizError(f"{name} did not finish laying out the drawing within {timeout:g} s "
                            f"({_size(source)}); draw less (level='cell', steps=(3, 3)) or pass a longer "
                            "timeout=") from None
    except BaseException:   # Ctrl-C (KeyboardInterrupt) or any other interruption
        process.kill()
        process.wait()
        raise
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    messages = _messages(result.stderr)
    if result.returncode != 0 or not result.stdout or any(line.startswith("Error") for line in messages):
        if result.returncode < 0:
            what = f"killed by {signal.Signals(-result.returncode).name}"
        else:
            what = f"exit status {result.returncode}"
        if memory_limit is not None and (result.returncode < 0 or _out_of_memory(messages)):
            what += f", memory limit {memory_limit / 2**30:.3g} GiB"
        detail = one_line(" ".join(messages)) if messages else "no message"
        raise GraphvizError(f"{name} could not render the drawing as {fmt} ({what}, {_size(source)}): {detail}")
    if messages:
        warnings.warn("Graphviz: " + one_line(" ".join(messages)), RuntimeWarning, stacklevel=4)
    return result.stdout


def _messages(stderr: bytes) -> list[str]:
    """Graphviz's lines from a child's stderr; of a Python traceback (the pygraphviz child failing)
    only its last line, the exception, is kept."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    if "Traceback (most recent call last):" in lines:
        start = lines.index("Traceback (most recent call last):")
        exception = [line for line in lines[start + 1:] if line.strip() and not line.startswith(" ")]
        lines = lines[:start] + exception[-1:]
    return [line.strip() for line in lines if line.strip() and not line.startswith("Fontconfig")]


def _out_of_memory(messages: list[str]) -> bool:
    text = " ".join(messages).lower()
    return "memory" in text or "malloc" in text or "memoryerror" in text


def _size(source: str) -> str:
    return f"{len(source):,} characters of DOT"


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
