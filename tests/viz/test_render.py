"""Rendering: the format from the extension, the system `dot` when it is on PATH, pygraphviz's
bundled Graphviz when it is not (the case of a fresh machine), a clear error when neither is
there, Graphviz's own errors surfaced, and the inline Jupyter display with no system Graphviz."""

import os
import stat
import subprocess
import sys
import textwrap

import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.viz import choose_backend, draw, render, render_bytes

MAGIC = {"svg": b"<svg", "png": b"\x89PNG", "pdf": b"%PDF"}


@pytest.fixture
def drawing():
    sg.manual_seed(0)
    output, _ = nn.GRU(2, 3)(sg.randn(2, 1, 2))
    loss = (output[-1] ** 2).sum()
    with sg.viz.record():
        loss.backward()
    return draw(loss, level="cell")


@pytest.fixture
def no_system_dot(tmp_path, monkeypatch):
    """PATH holds only an empty directory: no `dot` anywhere, as on a fresh machine."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_system_dot(tmp_path, monkeypatch):
    """A `dot` program first on PATH that records its arguments and renders with pygraphviz."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "dot-calls.txt"
    script = folder / "dot"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys, pygraphviz
        with open({str(calls)!r}, "a") as log:
            log.write(" ".join(sys.argv[1:]) + "\\n")
        engine = next(a[2:] for a in sys.argv[1:] if a.startswith("-K"))
        fmt = next(a[2:] for a in sys.argv[1:] if a.startswith("-T"))
        graph = pygraphviz.AGraph(string=sys.stdin.read())
        sys.stdout.buffer.write(graph.draw(format=fmt, prog=engine))
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(folder) + os.pathsep + os.environ.get("PATH", ""))
    return calls


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_the_extension_picks_the_format(drawing, tmp_path, fmt):
    path = render(drawing, tmp_path / f"graph.{fmt.upper() if fmt == 'png' else fmt}")
    assert MAGIC[fmt] in path.read_bytes()[:400]


def test_dot_and_gv_write_the_source_with_no_graphviz(drawing, tmp_path, no_system_dot, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygraphviz", None)   # no renderer at all: DOT still works
    for name in ("graph.dot", "graph.gv"):
        assert render(drawing, tmp_path / name).read_text(encoding="utf-8") == drawing.source


def test_an_unknown_extension_is_refused_before_anything_is_written(drawing, tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf, \.dot, \.gv"):
        render(drawing, tmp_path / "graph.jpeg")
    assert not (tmp_path / "graph.jpeg").exists()


def test_the_system_dot_is_used_when_it_is_on_path(drawing, tmp_path, fake_system_dot):
    assert choose_backend() == "dot"
    path = render(drawing, tmp_path / "graph.svg")
    assert b"<svg" in path.read_bytes()
    assert fake_system_dot.read_text().split() == ["-Kdot", "-Tsvg"]


def test_without_dot_on_path_the_bundled_graphviz_of_pygraphviz_renders(drawing, tmp_path, no_system_dot,
                                                                        monkeypatch):
    calls = []

    class Spy(subprocess.Popen):   # the layout runs in a child process that imports pygraphviz
        def __init__(self, command, *args, **kwargs):
            calls.append(command)
            super().__init__(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Spy)
    assert choose_backend() == "pygraphviz"
    path = render(drawing, tmp_path / "graph.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert len(calls) == 1 and calls[0][0] == sys.executable and "import pygraphviz" in calls[0][3]
    assert calls[0][5] == "pygraphviz" and calls[0][-2:] == ["png", "dot"]


def test_with_neither_the_error_names_both_ways_to_get_graphviz(drawing, tmp_path, no_system_dot, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygraphviz", None)
    with pytest.raises(RuntimeError) as error:
        render(drawing, tmp_path / "graph.svg")
    assert "`dot` on PATH" in str(error.value) and "pip install pygraphviz" in str(error.value)
    assert not (tmp_path / "graph.svg").exists()
    with pytest.raises(RuntimeError, match="no `dot` is on PATH"):
        choose_backend("dot")


def test_graphviz_errors_are_raised_not_printed(no_system_dot):
    with pytest.raises(RuntimeError, match="syntax error"):
        render_bytes('digraph { a [label=<<FONT POINT-SIZE="9"></FONT>>] }', "svg")


def test_the_drawing_displays_inline_in_jupyter_with_no_system_graphviz(drawing, no_system_dot):
    bundle = drawing._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]
    assert drawing.pipe(format="png").startswith(b"\x89PNG")
