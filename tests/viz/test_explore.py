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


def _two_windows(steps=4):
    """Truncated BPTT: two windows of one RNN, the second from the first one's detached state."""
    from seqgrad.bptt import detach_state

    sg.manual_seed(0)
    rnn, head = nn.RNN(2, 3), nn.Linear(3, 1)
    inputs = sg.randn(2 * steps, 1, 2)
    losses, state = [], None
    for start in (0, steps):
        output, state = rnn(inputs[start:start + steps], detach_state(state))
        with sg.scope("readout"):
            losses.append((head(output[-1]) ** 2).sum())
    return rnn, losses


def test_truncated_windows_use_global_step_numbers_and_are_plotted(float64):
    rnn, (first, second) = _two_windows()
    page = explore(first + second)
    data = _data(page)
    (series,) = data["plot"]                       # one layer: one series across both windows
    assert [point["t"] for point in series["points"]] == list(range(8))
    norms = [point["norm"] for point in series["points"]]
    np.testing.assert_allclose(norms[:4], sg.bptt.hidden_grad_norms(first)[("RNN", 0, "forward")], rtol=1e-12)
    np.testing.assert_allclose(norms[4:], sg.bptt.hidden_grad_norms(second)[("RNN", 0, "forward")], rtol=1e-12)
    cell = data["levels"]["cell"]
    shown = sorted(int(unit["scope"]["step"]) for unit in cell["units"].values()
                   if unit["kind"] == "group" and "step" in unit["scope"])
    assert shown == list(range(8))
    keys = [point["key"] for point in series["points"]]
    assert len(set(keys)) == 8 and all(cell["steps"].get(key) for key in keys)  # each point has its step's box
    bars = data["contributions"][next(unit["param"] for unit in cell["units"].values()
                                      if unit["title"] == "weight_hh_l0")]
    assert bars["steps"] == [str(step) for step in range(8)] and bars["mismatch"] < 1e-12


def test_weight_ih_slice_edges_are_coloured_by_their_step_term(float64):
    from seqgrad.viz.dot import gradient_scale
    from seqgrad.viz.graph import build

    lstm, _, loss = _model(steps=4)
    page = explore(loss)
    terms = sg.bptt.weight_grad_contributions(loss, lstm.weight_ih_l0)
    model = build(loss, level="cell")
    slices = {number: link for number, link in enumerate(model.links)
              if link.via is not None and link.tail.leaf is lstm.weight_ih_l0}
    assert len(slices) == 4

    def slice_norm(link):
        step = int(link.head.steps[0])
        return float(np.linalg.norm(terms[step])) if link.tail.leaf is lstm.weight_ih_l0 else None

    scale = gradient_scale(model, slice_norm=slice_norm)
    colours = {}
    for number, link in slices.items():
        edge = re.search(rf'<g id="cell_e{number}" class="edge">.*?stroke="([^"]+)"', page.html, re.S)
        colours[link.head.steps[0]] = edge.group(1)
        assert edge.group(1) == scale.line(slice_norm(link))[0]
    assert len(set(colours.values())) > 1          # the far steps' terms are smaller: not one colour


def test_two_unconnected_runs_of_one_layer_are_two_series(float64):
    """The same layer run on two inputs (no cut between them): both claim steps 0-2, so the plot
    keeps them apart instead of refusing or merging them."""
    sg.manual_seed(0)
    rnn = nn.RNN(2, 3)
    first, _ = rnn(sg.randn(3, 1, 2))
    second, _ = rnn(sg.randn(3, 1, 2))
    data = _data(explore((first ** 2).sum() + (second ** 2).sum()))
    assert [series["label"] for series in data["plot"]] == ["RNN · layer 0 · forward (run 1)",
                                                            "RNN · layer 0 · forward (run 2)"]
    keys = [point["key"] for series in data["plot"] for point in series["points"]]
    assert all(len(series["points"]) == 3 for series in data["plot"]) and len(set(keys)) == 6
