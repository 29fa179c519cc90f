"""User-chosen names (scopes, labels, parameters, titles) can never break the DOT: every
hostile name survives a real DOT parser and a Graphviz render, and reads back unchanged."""

import shutil
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.viz import draw, render_bytes
from seqgrad.viz.dot import html_text, plain_text
from tests.viz.dotparse import Parsed

HOSTILE = [
    'a"b<c>{d}|e\\',
    "<B>not bold</B>",
    "x\\N\\G\\l",
    '\\"quoted\\"',
    "]; node [shape=star",
    "} digraph evil {",
    "&amp; &#60; & ;",
    "ends with a backslash \\",
    "two\nlines",
    "tab\there, bell\x07, nul\x00",
    "ünïcødé ✂ ∇ 漢字",
    "",
]
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def hostile_graph(name: str, backward: bool):
    """A loop of three steps whose scope names, labels and parameter name are all `name`."""
    sg.manual_seed(0)
    weight = nn.Parameter(np.eye(2) * 0.5)
    weight.name = name
    hidden = sg.zeros(1, 2)
    with sg.scope(name, layer=name, direction=name):
        for t in range(3):
            with sg.scope(name, step=t, note=name):
                hidden = (hidden @ weight + 1.0).tanh()
                sg.autodiff.mark_state(hidden, name)
    loss = hidden.sum()
    if backward:
        with sg.viz.record():
            loss.backward()
    return loss


def svg_texts(svg: bytes) -> tuple[list[str], list[str]]:
    root = ElementTree.fromstring(svg)   # well-formed XML, or this raises
    texts = ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]
    titles = [element.get(f"{XLINK}title") for element in root.iter(f"{SVG}a") if element.get(f"{XLINK}title")]
    return texts, titles


BACKENDS = ["pygraphviz", pytest.param("dot", marks=pytest.mark.skipif(
    shutil.which("dot") is None, reason="no system Graphviz `dot` on PATH (the pygraphviz case covers rendering)"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", HOSTILE, ids=[repr(name)[:24] for name in HOSTILE])
def test_hostile_names_parse_render_and_read_back(name, backend):
    for backward, level in ((False, "op"), (True, "cell")):
        drawing = draw(hostile_graph(name, backward), level=level, title=name)
        parsed = Parsed(drawing)                                     # the DOT parses
        shown = name.replace("\x07", "").replace("\x00", "").replace("\t", " ")   # control characters dropped
        parameter = shown.replace("\n", "|") if name else "parameter"   # an unnamed parameter is called that
        assert any(label.startswith(parameter + "|") for label in parsed.labels.values()), parsed.labels
        texts, titles = svg_texts(render_bytes(drawing, "svg", backend=backend))    # Graphviz reports no error
        joined = "".join(texts).replace(" ", "").replace("\xa0", "")
        assert all(line.replace(" ", "") in joined for line in shown.split("\n"))
        if level == "op":
            assert any(shown in title for title in titles), titles


def test_html_text_escapes_markup_and_backslashes_and_drops_control_characters():
    assert html_text('a"b<c>&\'') == "a&quot;b&lt;c&gt;&amp;&#x27;"
    assert html_text("x\\N") == "x\\\\N"
    assert html_text("one\ntwo") == "one<BR/>two"
    assert html_text("bell\x07nul\x00") == "bellnul"
    assert html_text(3) == "3"


def test_plain_text_escapes_backslashes_ampersands_and_newlines_and_is_never_html():
    value = plain_text('<b>a\\"\n&')
    assert value == '<b>a' + "\\" * 4 + '"\\n&amp;'
    assert type(value).__name__ == "NoHtml"      # graphviz quotes it instead of passing it as HTML
