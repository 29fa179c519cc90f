"""The explorer page without a browser: one self-contained file, its data equal to what seqgrad
computes, no side effect on gradients, and the `seqgrad explore` command."""

import html
import json
import re

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.cli import main
from seqgrad.viz import ExplorerPage, explore
from seqgrad.viz.explore import node_values, value_stats


def _data(page: ExplorerPage) -> dict:
    found = re.search(r'<script id="explorer-data" type="application/json">(.*?)</script>', page.html, re.S)
    return json.loads(found.group(1))


def _model(steps=3, seed=0):
    sg.manual_seed(seed)
    lstm, readout = nn.LSTM(2, 3), nn.Linear(3, 1)
    output, _ = lstm(sg.randn(steps, 2, 2))
    with sg.scope("readout"):
        loss = ((readout(output[-1]) - 1.0) ** 2).mean()
    return lstm, output, loss


def test_one_file_with_everything_inline(tmp_path, float64):
    _, _, loss = _model()
    page = explore(loss, tmp_path / "page.html", title="a <b>title</b>")
    text = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert text == page.html and page.path == tmp_path / "page.html"
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", text)
    assert "<script src" not in text and "<link rel=\"stylesheet\"" not in text
    assert "default-src 'none'" in text                 # the page may not load anything, by its own policy
    assert text.count("<svg") >= 3 and "a &lt;b&gt;title&lt;/b&gt;" in text
    data = _data(page)
    assert set(data["levels"]) == {"op", "cell", "layer"} and data["start_level"] == "cell"
    for level in data["levels"].values():               # every scripted id is in the drawing
        for element_id in list(level["units"]) + list(level["clusters"]) + list(level["edges"]):
            assert f'id="{element_id}"' in text, element_id
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and html.unescape(frame.split('srcdoc="')[1].split('"')[0]) == text


def test_numbers_are_seqgrads(float64):
    lstm, output, loss = _model(steps=4)
    before = lstm.weight_hh_l0.grad
    page = explore(loss)
    assert lstm.weight_hh_l0.grad is before is None     # explore leaves every .grad as it was
    data = _data(page)
    cell = data["levels"]["cell"]["units"]
    step2 = next(unit for unit in cell.values() if unit["kind"] == "group" and unit["scope"].get("step") == "2")
    assert step2["stats"]["min"] == output.data[2].min() and step2["stats"]["max"] == output.data[2].max()
    assert step2["shape"] == [2, 3] and step2["scope"]["layer"] == "0" and step2["scope"]["direction"] == "forward"
    weight = next(unit for unit in cell.values() if unit["title"] == "weight_hh_l0")
    bars = data["contributions"][weight["param"]]
    with sg.viz.record():
        loss.backward()
    assert weight["grad"] == pytest.approx(np.linalg.norm(lstm.weight_hh_l0.grad), rel=1e-12)
    assert bars["steps"] == ["0", "1", "2", "3"] and bars["norms"][0] == 0.0 and bars["mismatch"] < 1e-12
    norms = sg.bptt.hidden_grad_norms(loss)[("LSTM", 0, "forward")]
    plotted = [point["norm"] for point in data["plot"][0]["points"]]
    np.testing.assert_allclose(plotted, norms, rtol=1e-12)
    assert len(data["frames"]) >= 4 + 1 and data["frames"][0].startswith("forward done")


def test_values_of_unsaved_outputs_are_recomputed(float64):
    _, output, loss = _model()
    values = node_values(sg.autodiff.walk(loss))
    assert values[loss.node.seq].item() == pytest.approx(loss.item())   # the loss's own value was not saved
    assert np.array_equal(values[output.node.seq], output.data)
    stats = value_stats(np.array([1.0, np.inf, 3.0]))
    assert stats["min"] == 1.0 and stats["max"] == 3.0 and stats["nonfinite"] == 1 and sum(stats["hist"]) == 2


def test_explore_needs_the_saved_values(float64):
    _, _, loss = _model()
    with pytest.raises(ValueError, match="level must be one of"):
        explore(loss, level="cells")
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        explore(loss)


def test_command_writes_the_page(tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["explore", "--cell", "gru", "--steps", "3", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and _data(ExplorerPage(out.read_text(encoding="utf-8"), out))["plot"]
    assert main(["explore", "--steps", "3", "-o", str(tmp_path / "page.svg")]) == 2
    assert "give -o a .html file" in capsys.readouterr().err
