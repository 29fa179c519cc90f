"""Big drawings end in a drawing or one line: draw counts its nodes first and refuses above a budget,
the graph command elides instead, and Graphviz runs in a child process with a time limit, a memory
limit and Ctrl-C; long names are cut so Graphviz cannot choke on them, and its errors are one line."""

import os
import resource
import signal
import subprocess
import sys
import threading
import warnings

import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.commands.graph import build_loss
from seqgrad.viz import DrawingTooLarge, GraphvizError, draw, render, render_bytes
from seqgrad.viz.dot import LABEL_LIMIT, TOOLTIP_LIMIT
from tests.viz.dotparse import Parsed

GIB = 2**30


@pytest.fixture(scope="module")
def slow_drawing():
    """A 60-step LSTM at op level: under the node budget, but minutes of Graphviz layout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return draw(build_loss("lstm", 60), level="op")


def test_draw_refuses_a_2000_step_lstm_at_op_level_in_one_line_and_says_what_to_do():
    loss = build_loss("lstm", 2000)
    with pytest.raises(DrawingTooLarge) as refused:
        draw(loss)
    message = str(refused.value)
    assert "\n" not in message and "26,046 nodes" in message and "max_nodes=2,000" in message
    assert "steps=(3, 3)" in message and 'level="cell"' in message
    assert isinstance(refused.value, ValueError)
    elided = draw(loss, steps=(3, 3))            # what the message suggests works
    assert elided.source.count("->") < 400


def test_the_graph_command_elides_2000_steps_and_stays_under_2_gib(tmp_path):
    """The whole command, in a process whose address space is capped at 2 GiB (the layout child inherits it)."""
    output = tmp_path / "x.svg"

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (2 * GIB, 2 * GIB))

    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "seqgrad", "graph", "--steps", "2000", "-o", str(output)],
                          capture_output=True, text=True, timeout=60, preexec_fn=cap_memory, env=environment)
    assert done.returncode == 0, done.stderr
    notes = done.stderr.strip().splitlines()
    assert len(notes) == 1 and "26,046 nodes" in notes[0] and "eliding the middle" in notes[0]
    assert output.read_bytes().startswith(b"<?xml") and b"</svg>" in output.read_bytes()


def test_render_stops_graphviz_at_the_time_limit_in_one_line(slow_drawing, tmp_path):
    with pytest.raises(GraphvizError) as stopped:
        render(slow_drawing, tmp_path / "slow.svg", timeout=1)
    message = str(stopped.value)
    assert "\n" not in message and "within 1 s" in message and "steps=(3, 3)" in message
    assert not (tmp_path / "slow.svg").exists()


def test_render_reports_graphviz_running_out_of_memory_with_its_own_message():
    huge_bitmap = 'digraph { graph [dpi=20000, size="100,100!"]; a -> b }'
    with pytest.raises(GraphvizError) as failed:
        render_bytes(huge_bitmap, "png", memory_limit=300 * 2**20)
    message = str(failed.value)
    assert "\n" not in message and "memory limit" in message and "cairo" in message   # Graphviz's words


def test_ctrl_c_stops_the_layout_and_its_child_process(slow_drawing, monkeypatch):
    children = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            children.append(self)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            render_bytes(slow_drawing, "svg", timeout=30)
    finally:
        timer.cancel()
    assert len(children) == 1 and children[0].poll() is not None   # killed and reaped, not left running


def test_graphviz_errors_are_one_line():
    with pytest.raises(GraphvizError) as failed:
        render_bytes("digraph { a -> }", "svg")
    message = str(failed.value)
    assert "\n" not in message and "syntax error" in message and "Traceback" not in message


def test_names_and_titles_of_20000_characters_are_cut_and_render():
    long_name = "cell" + "x" * 20_000
    sg.manual_seed(0)
    layer = nn.GRU(2, 3)
    with sg.scope(long_name, layer=long_name):
        output, _ = layer(sg.randn(3, 1, 2))
    loss = (output[-1] ** 2).sum()
    loss.backward()
    for level in ("op", "cell"):
        drawing = draw(loss, level=level, title="T" * 20_000)
        parsed = Parsed(drawing)
        labels = [*parsed.labels.values(), *(cluster.label for cluster in parsed.clusters)]
        assert all(len(label) < 2 * LABEL_LIMIT for label in labels), max(map(len, labels))
        assert any("x…" in label for label in labels)
        assert "x" * TOOLTIP_LIMIT not in drawing.source and "T" * LABEL_LIMIT not in drawing.source
        assert "T…" in drawing.source
    assert b"</svg>" in render_bytes(drawing, "svg")   # the cell level: a small layout, long names and all
