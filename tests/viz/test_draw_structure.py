"""The structure of `seqgrad.viz.draw`'s DOT, read back with a real DOT parser: clusters per
time step nested in layer and direction, parameters once, gradient heat only after backward,
detach as a cut, elision, levels, custom cells and hand-written loops, long sequences."""

import inspect
import re
import sys
import warnings

import graphviz
import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.viz import GraphDrawing, draw
from tests.cells import MinimalGatedUnit
from tests.viz.dotparse import Parsed


def run(layer, steps=3, batch=1, backward=False, seed=0):
    """Loss on the last output of `layer` over a random (steps, batch, input) sequence."""
    sg.manual_seed(seed)
    x = sg.randn(steps, batch, layer.input_size)
    output, _ = layer(x)
    loss = (output[-1] ** 2).sum()
    if backward:
        with sg.viz.record():
            loss.backward()
    return loss


def luminance(colour: str) -> float:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * red + 0.587 * green + 0.114 * blue


def test_draw_returns_a_graphviz_digraph():
    sg.manual_seed(0)
    drawing = draw(run(nn.RNN(2, 3)))
    assert isinstance(drawing, graphviz.Digraph) and isinstance(drawing, GraphDrawing)
    assert drawing.graph_attr["rankdir"] == "LR"   # time runs left to right


def test_every_step_is_a_cluster_inside_its_layer():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.LSTM(2, 3), steps=3)))
    steps = parsed.step_clusters()
    assert sorted(cluster.label for cluster in steps) == [f"LSTMCell step {t}" for t in range(3)]
    for cluster in steps:
        assert [outer.label for outer in cluster.ancestors()] == ["LSTM layer 0 · forward"]
    hidden = parsed.nodes_labelled(r"^h\d+ = ")   # h_t = <op>, subscript t
    assert sorted(parsed.innermost_cluster(node).label for node in hidden) == [f"LSTMCell step {t}" for t in range(3)]
    assert len(parsed.nodes_labelled(r"^c\d+ = ")) == 3
    for gate in ("input", "forget", "candidate", "output"):   # the slices of the gate blocks are named
        assert len(parsed.nodes_labelled(rf"^getitem \[:, \d*:\d*\] {gate}\|")) == 3, gate


def test_bidirectional_steps_nest_in_direction_then_layer():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.LSTM(2, 3, num_layers=2, bidirectional=True), steps=2)))
    steps = parsed.step_clusters()
    assert len(steps) == 2 * 2 * 2
    paths = sorted(tuple(outer.label for outer in reversed(cluster.ancestors())) + (cluster.label,)
                   for cluster in steps)
    assert paths == sorted((f"LSTM layer {layer}", direction, f"LSTMCell step {t}")
                           for layer in range(2) for direction in ("forward", "backward") for t in range(2))


def test_each_parameter_is_drawn_once_with_an_edge_to_every_step_that_uses_it():
    sg.manual_seed(0)
    layer = nn.RNN(2, 3)
    for level in ("op", "cell"):
        parsed = Parsed(draw(run(layer, steps=4), level=level))
        for name, _ in layer.named_parameters():
            nodes = parsed.nodes_labelled(rf"^{name}\|")
            assert len(nodes) == 1, (level, name, nodes)
            assert parsed.attrs[nodes[0]]["shape"] == "box3d"     # parameters look different from ops and data
        (weight_hh,) = parsed.nodes_labelled(r"^weight_hh_l0\|")
        heads = [head for tail, head, _ in parsed.visible_edges() if tail == weight_hh]
        if level == "op":
            steps_reached = {parsed.innermost_cluster(head).label for head in heads}
        else:
            steps_reached = {parsed.labels[head].split("|")[0] for head in heads}
        assert steps_reached == {f"RNNCell step {t}" for t in range(4)}, level


def test_data_parameters_and_ops_are_different_kinds_of_node():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.GRU(2, 3))))
    shapes = {parsed.labels[name].split("|")[0]: attrs["shape"] for name, attrs in parsed.attrs.items()}
    assert shapes["weight_ih_l0"] == "box3d" and shapes["data"] == "note" and shapes["h_0"] == "note"
    assert shapes["sum"] == "box" and "rounded" in parsed.attrs[parsed.nodes_labelled(r"^sum\|")[0]]["style"]


def test_before_backward_the_drawing_says_there_are_no_gradients_yet():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.LSTM(2, 3))))
    assert "No gradients yet" in parsed.legend
    assert "log scale" not in parsed.legend
    assert not any("∇" in label for label in parsed.labels.values())   # no zeros shown as if measured
    assert {attrs.get("fillcolor") for name, attrs in parsed.attrs.items() if name.startswith("o")} == {"#ffffff"}


def test_after_backward_nodes_and_edges_carry_the_gradient_and_it_fades_back_in_time():
    sg.manual_seed(0)
    layer = nn.RNN(2, 3)
    with sg.no_grad():
        layer.weight_hh_l0.data *= 0.3            # a contracting recurrence: the gradient vanishes
    parsed = Parsed(draw(run(layer, steps=6, backward=True)))
    assert "No gradients yet" not in parsed.legend and "log scale" in parsed.legend
    hidden = {int(re.match(r"h(\d+) = ", parsed.labels[node]).group(1)): node
              for node in parsed.nodes_labelled(r"^h\d+ = ")}
    assert sorted(hidden) == list(range(1, 7))     # h_1 ... h_6; h_0 is the initial state
    norms = [float(re.search(r"∇ ([-0-9.e]+)", parsed.labels[hidden[t]]).group(1)) for t in range(1, 7)]
    assert all(earlier < later for earlier, later in zip(norms, norms[1:]))
    fills = [luminance(parsed.attrs[hidden[t]]["fillcolor"]) for t in range(1, 7)]
    assert all(earlier > later for earlier, later in zip(fills, fills[1:]))   # paler further back
    widths = {tail: float(attrs["penwidth"]) for tail, _, attrs in parsed.visible_edges() if tail in hidden.values()}
    assert widths[hidden[1]] < widths[hidden[5]]
    assert all("tooltip" in attrs for tail, _, attrs in parsed.visible_edges() if tail in hidden.values())


def test_the_lstm_cell_state_path_is_drawn_differently_from_the_hidden_path():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.LSTM(2, 3), steps=3), level="cell"))
    steps = {parsed.labels[node].split("|")[0]: node for node in parsed.nodes_labelled(r"^LSTMCell step \d")}
    between = [attrs for tail, head, attrs in parsed.visible_edges()
               if tail == steps["LSTMCell step 0"] and head == steps["LSTMCell step 1"]]
    assert len(between) == 2                                   # h and c
    colours = sorted(attrs["color"] for attrs in between)
    assert sum(":invis:" in colour for colour in colours) == 1  # the cell state: a double line
    assert all(attrs.get("weight") == "8" for attrs in between)  # straight across


def test_a_detach_is_drawn_as_a_cut():
    sg.manual_seed(0)
    layer = nn.RNN(2, 3)
    x = sg.randn(6, 1, 2)
    _, state = layer(x[:3])
    output, _ = layer(x[3:], state.detach())
    loss = (output[-1] ** 2).sum()
    parsed = Parsed(draw(loss))
    (cut,) = parsed.nodes_labelled(r"cut: detach\(\)")
    assert "from" in parsed.labels[cut] and "RNN" in parsed.labels[cut]
    assert "dashed" in parsed.attrs[cut]["style"]
    out_edges = [attrs for tail, _, attrs in parsed.visible_edges() if tail == cut]
    assert out_edges and all(attrs["style"] == "dashed" for attrs in out_edges)
    assert len(parsed.step_clusters()) == 3                   # nothing before the cut is drawn


def test_steps_keep_the_first_and_last_and_elide_the_middle():
    sg.manual_seed(0)
    loss = run(nn.LSTM(2, 3), steps=10, backward=True)
    parsed = Parsed(draw(loss, steps=(2, 2)))
    assert sorted(cluster.label for cluster in parsed.step_clusters()) == \
        [f"LSTMCell step {t}" for t in (0, 1, 8, 9)]
    (elided,) = parsed.nodes_labelled(r"6 steps elided")
    assert "steps 2–7" in parsed.labels[elided] and "‖∇h‖" in parsed.labels[elided]
    edges = parsed.visible_edges()
    assert any(head == elided for _, head, _ in edges) and any(tail == elided for tail, _, _ in edges)
    full = Parsed(draw(loss))
    assert len(parsed.attrs) < len(full.attrs) / 2
    cell = Parsed(draw(loss, level="cell", steps=(2, 2)))
    assert len(cell.nodes_labelled(r"^LSTMCell step \d")) == 4 and len(cell.nodes_labelled("elided")) == 1


def test_layer_level_draws_one_node_per_layer_and_direction():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.GRU(2, 3, num_layers=2, bidirectional=True), steps=3, backward=True), level="layer"))
    sequences = parsed.nodes_labelled(r"^(forward|backward)\|")
    assert len(sequences) == 4
    assert all("steps 0–2" in parsed.labels[node] and "‖∇h‖" in parsed.labels[node] for node in sequences)


def test_custom_cells_and_hand_written_loops_get_steps_from_their_scopes():
    sg.manual_seed(0)
    layer = nn.Recurrent(lambda size: MinimalGatedUnit(size, 3, dtype=np.float32), input_size=2)
    parsed = Parsed(draw(run(layer, steps=3)))
    labels = sorted(cluster.label for cluster in parsed.step_clusters())
    assert labels == [f"MinimalGatedUnit step {t}" for t in range(3)]
    assert len(parsed.nodes_labelled(r"^h\d+ = ")) == 3

    weight = sg.Tensor(np.eye(3) * 0.5, requires_grad=True, name="recurrent weight")
    hidden = sg.zeros(1, 3)
    for t in range(4):
        with sg.scope("my rnn", step=t):
            hidden = (hidden @ weight + float(t)).tanh()
    loop = Parsed(draw(hidden.sum()))
    assert sorted(cluster.label for cluster in loop.step_clusters()) == [f"my rnn step {t}" for t in range(4)]
    assert all(not cluster.ancestors() for cluster in loop.step_clusters())
    (leaf,) = loop.nodes_labelled(r"^recurrent weight\|")
    assert len([head for tail, head, _ in loop.visible_edges() if tail == leaf]) == 4


def test_two_runs_of_layers_with_one_name_get_separate_boxes():
    sg.manual_seed(0)
    encoder, decoder = nn.LSTM(2, 3), nn.LSTM(3, 3)
    x = sg.randn(2, 1, 2)
    encoded, state = encoder(x)
    decoded, _ = decoder(encoded, state)
    parsed = Parsed(draw(decoded.sum()))
    layers = sorted(cluster.label for cluster in parsed.clusters if cluster.label.startswith("LSTM layer"))
    assert layers == ["LSTM layer 0 (run 2) · forward", "LSTM layer 0 · forward"]
    assert len(parsed.step_clusters()) == 4


def test_a_thousand_step_rnn_draws_at_cell_level_without_recursion_in_linear_size():
    sg.manual_seed(0)
    layer = nn.RNN(2, 4)
    losses = {}
    for steps in (500, 1000):
        x = sg.randn(steps, 1, 2)
        output, _ = layer(x)
        losses[steps] = (output[-1] ** 2).sum()
    with sg.viz.record():
        losses[1000].backward()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 120)   # deep enough for the call stack, far from 1000 steps
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sizes = {steps: len(Parsed(draw(loss, level="cell")).attrs) for steps, loss in losses.items()}
        elided = Parsed(draw(losses[1000], level="cell", steps=(3, 2)))
    finally:
        sys.setrecursionlimit(limit)
    assert any("steps=(first, last)" in str(warning.message) for warning in caught)   # slow-layout hint
    assert 1000 <= sizes[1000] <= 1000 + 30
    assert abs(sizes[1000] - sizes[500] - 500) <= 4             # one node per step: linear
    assert len(elided.attrs) <= 30 and len(elided.nodes_labelled("995 steps elided")) == 1


def test_arguments_are_checked():
    sg.manual_seed(0)
    loss = run(nn.RNN(2, 3))
    with pytest.raises(ValueError, match="level must be one of"):
        draw(loss, level="cells")
    with pytest.raises(TypeError, match=r"steps must be a pair \(first, last\)"):
        draw(loss, steps=3)
    with pytest.raises(ValueError, match="must not be negative"):
        draw(loss, steps=(-1, 2))
    with pytest.raises(ValueError, match="no recorded graph"):
        draw(sg.randn(3))
    with pytest.raises(TypeError, match="expected a Tensor"):
        draw([loss, "loss"])


def test_each_edge_is_coloured_by_the_gradient_it_carries():
    """a feeds a sum (gradient 1 per entry) and a product with zeros (gradient 0): the edge into the
    product is grey although its source's own gradient is large."""
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2.0
    loss = a.sum() + (a * np.zeros(2)).sum()
    with sg.viz.record():
        loss.backward()
    parsed = Parsed(draw(loss))
    source = parsed.nodes_labelled(r"^mul\|")[0]
    colours = {parsed.labels[head].split("|")[0]: attrs["color"] for tail, head, attrs in parsed.visible_edges()
               if tail == source}
    assert colours["mul"] == "#d9d9d9"                     # exactly zero flows back along it
    assert colours["sum"] != "#d9d9d9"


def test_a_bidirectional_title_counts_time_steps_once():
    sg.manual_seed(0)
    parsed = Parsed(draw(run(nn.LSTM(2, 3, bidirectional=True), steps=3)))
    assert "· 3 time steps" in parsed.legend and "6 time steps" not in parsed.legend


def test_truncated_windows_drawn_together_number_steps_on_and_link_each_cut_to_its_state():
    from seqgrad.bptt import detach_state

    sg.manual_seed(0)
    rnn = nn.RNN(2, 3)
    inputs = sg.randn(6, 1, 2)
    losses, state = [], None
    for start in (0, 3):
        output, state = rnn(inputs[start:start + 3], detach_state(state))
        losses.append((output[-1] ** 2).sum())     # the first window's final-state op is dropped here
    parsed = Parsed(draw(losses, level="cell"))
    steps = {parsed.labels[node].split("|")[0]: node for node in parsed.nodes_labelled(r"^RNNCell step \d")}
    assert sorted(steps) == [f"RNNCell step {t}" for t in range(6)]    # 3-5 continue 0-2
    cut = parsed.nodes_labelled(r"cut: detach")[0]
    into_cut = [(tail, attrs) for tail, head, attrs in parsed.visible_edges() if head == cut]
    assert [tail for tail, _ in into_cut] == [steps["RNNCell step 2"]]  # from the state it copied
    assert "dashed" in into_cut[0][1]["style"]


def test_cell_level_attention_fans_in_from_every_encoder_step():
    """Seq2Seq at cell level: the encoder's stacked, concatenated, projected outputs are drawn
    straight through, so each decoder step (its attention) gets an edge from every encoder step."""
    from seqgrad.models import Seq2Seq
    from seqgrad.viz.graph import build

    sg.manual_seed(0)
    model = Seq2Seq(7, 6, bos_id=1, eos_id=2, embedding_size=3, hidden_size=4)
    sources, lengths = np.array([[3, 4], [4, 5], [5, 3]]), np.array([3, 2])
    loss = model.loss(sources, lengths, np.array([[3, 4], [2, 2]]))
    graph = build(loss, level="cell")
    decoder = [unit for unit in graph.units if unit.title.startswith("Decoder step")]
    encoder = [unit for unit in graph.units if unit.title.startswith("LSTMCell step")]
    assert len(decoder) == 2 and len(encoder) == 6  # 3 steps, two directions
    fan = {(link.tail.uid, link.head.uid) for link in graph.links if link.through}
    assert fan == {(tail.uid, head.uid) for tail in encoder for head in decoder}
    titles = {unit.title for unit in graph.through.values()}
    assert "AdditiveAttention memory" in titles and not any(unit.title.startswith("AdditiveAttention memory")
                                                            for unit in graph.units)
    drawn = {unit.uid for unit in graph.units}
    assert all(link.tail.uid in drawn and link.head.uid in drawn for link in graph.links)
    # the key projection's parameters still reach the steps that read it
    key_weight = model.attention.key_projection.weight
    assert {link.head.uid for link in graph.links if link.tail.leaf is key_weight} == {u.uid for u in decoder}


@pytest.mark.parametrize("make", [lambda: nn.LSTM(2, 3, num_layers=2), lambda: nn.GRU(2, 3, bidirectional=True)])
def test_cell_level_keeps_boxes_that_are_not_pass_through(make):
    """A stacked output a loss reads and the next layer's per-step input slices keep their boxes."""
    from seqgrad.viz.graph import build

    sg.manual_seed(0)
    output, _ = make()(sg.randn(3, 1, 2))
    graph = build((output ** 2).sum(), level="cell")
    assert not graph.through and not any(link.through for link in graph.links)
