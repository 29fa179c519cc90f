"""`explore(loss)`: the unrolled graph as one self-contained interactive HTML page.

The page holds the drawing at three levels (op, cell, layer, each laid out by Graphviz in
advance), the backward replay as a slider over the frames of `replay_frames`, a plot of
‖∂L/∂h_t‖ against t linked to the steps of the drawing, each node's value statistics and
gradient norm, and for every parameter the per-step terms of its gradient
(`seqgrad.bptt.weight_grad_contributions`) as bars. SVG, CSS, JavaScript and data are inline:
the page makes no request of any kind, so it works from a file, an e-mail or a USB stick.

Everything comes from one backward pass that `explore` runs itself under two observers (the
gradient norms drawings use, and the per-step terms); values are read from what the graph
saved, the rest recomputed by each op's own forward.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from ..autodiff.graph import Walk, sequence_key, step_scope, walk
from ..autodiff.norm import l2_norm
from ..autodiff.observe import on_backward
from ..autodiff.tape import Node
from ..nn.module import Parameter
from ..tensor import Tensor
from .dot import gradient_scale, to_dot
from .draw import MAX_NODES
from .graph import LEVELS, Frame, FrameTree, GraphModel, Link, Unit, build, number_windows
from .heat import NON_FINITE_COLOUR, ZERO_COLOUR, GradientScale, format_norm
from .recording import node_grad_norm, record
from .render import render_bytes
from .replay import replay_frames

# Longest sequence each level draws in full when `steps` is not given: Graphviz's layout grows
# faster than linearly with the steps (every step has an edge to the shared weights).
FULL_STEPS = {"op": 12, "cell": 80}
HISTOGRAM_BINS = 12


class ExplorerPage:
    """The page `explore` made: `.html` (the text), `.path` (where it was written, if anywhere).
    Displays inline in Jupyter (an iframe whose `srcdoc` is the page: no server needed)."""

    def __init__(self, page: str, path: Path | None, height: int = 820) -> None:
        self.html, self.path, self.height = page, path, height

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` (atomically) and return the path."""
        path = Path(path)
        write_atomically(path, lambda handle: handle.write(self.html), binary=False)
        self.path = path
        return path

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width: 100%; height: {self.height}px; '
                'border: 1px solid #ccc" sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        where = f" written to {self.path}" if self.path else ""
        return f"<ExplorerPage {len(self.html.encode('utf-8')) / 1e6:.2f} MB{where}>"


def explore(loss: Tensor, path: str | os.PathLike | None = None, level: str = "cell",
            steps: tuple[int, int] | None = None, title: str | None = None) -> ExplorerPage:
    """Write (when `path` is given) and return the interactive page of the graph behind `loss`.

    - level: the level shown first ("op", "cell" or "layer"); the page switches between all three.
    - steps=(first, last): draw only the first and last few steps of every sequence, as `draw`
      does; by default every step is drawn, except at op level beyond 12 steps (and cell level
      beyond 80), where the middle is elided so that Graphviz lays it out in seconds.
    `explore` runs one backward pass through the retained graph itself, so call it before
    `loss.backward()` or after `loss.backward(retain_graph=True)`; every `.grad` is left as it was.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(repr(name) for name in LEVELS)}, got {level!r}")
    if not isinstance(loss, Tensor):
        raise TypeError(f"explore: expected the loss Tensor, got {type(loss).__name__}")
    if loss.data.size != 1:
        raise ValueError(f"explore: the loss must have one element (backward starts from it), got shape {loss.shape}")
    # seqgrad.bptt reads the recorded norms of this package: imported here, not at the top.
    from ..bptt.contributions import StepContributions, preserved_grads

    graph = walk(loss)
    values = node_values(graph)
    parameters = [leaf for leaf in graph.leaves if leaf.requires_grad]
    tree = FrameTree(graph.nodes)  # the steps as drawings number them: across truncated-BPTT windows
    number_windows(graph, tree)
    terms = StepContributions(parameters, graph.nodes, step_of=lambda node: _shown_step(tree, node))
    with preserved_grads(graph):
        with record(), on_backward(terms):
            loss.backward(retain_graph=True)
        data, svgs = _page_content(loss, tree, graph, values, terms, parameters, steps, title)
    data["start_level"] = level
    page = _page(data, svgs)
    result = ExplorerPage(page, None)
    if path is not None:
        result.save(path)
    return result


# --- values: what each node computed ---------------------------------------------------------
def node_values(graph: Walk) -> dict[int, np.ndarray]:
    """Each node's output value (by seq), from the arrays the graph saved for backward, the
    others recomputed by the op's forward from its inputs' values. Call before backward frees
    them; a node whose inputs cannot all be found is left out."""
    values: dict[int, np.ndarray] = {}
    for node in graph.nodes:
        if node.out is not None:
            values[node.seq] = node.out
        for edge, saved in zip(node.edges, node.xs or ()):
            if type(edge) is Node and saved is not None and edge.seq not in values:
                values[edge.seq] = np.asarray(saved)
    for node in graph.nodes:  # creation order: inputs before the ops that use them
        if node.seq in values:
            continue
        inputs = []
        for position, edge in enumerate(node.edges):
            if type(edge) is Node:
                value = values.get(edge.seq)
            elif edge is not None:
                value = edge.data
            else:
                value = node.xs[position] if node.xs is not None and position < len(node.xs) else None
            if value is None:
                break
            inputs.append(value)
        else:
            try:
                with np.errstate(all="ignore"):
                    values[node.seq] = np.asarray(node.op.forward(*inputs, **node.params))
            except Exception:  # noqa: BLE001 (an op that cannot be rerun this way: no statistics for it)
                continue
    return values


def value_stats(value: np.ndarray | None) -> dict | None:
    """min, mean, max and a histogram of the finite entries (counts of non-finite ones too)."""
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64).ravel()
    finite = array[np.isfinite(array)]
    stats = {"size": int(array.size), "nonfinite": int(array.size - finite.size)}
    if finite.size == 0:
        return stats
    low, high = float(finite.min()), float(finite.max())
    span = (low, high) if high > low else (low - 0.5, low + 0.5)
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS, range=span)
    stats.update(min=low, mean=float(finite.mean()), max=high, hist=counts.tolist(),
                 hist_range=[float(edges[0]), float(edges[-1])])
    return stats


# --- the page's data ----------------------------------------------------------------------
def _sequence_label(key: tuple) -> str:
    name, layer, direction = key
    words = [str(name)]
    if layer is not None:
        words.append(f"layer {layer}")
    if direction is not None:
        words.append(str(direction))
    return " · ".join(words)


def _step_frame(tree: FrameTree, node: Node | None) -> Frame | None:
    """The innermost time step around a node (None outside any step)."""
    frame = None if node is None else tree.frame_of(node)
    while frame is not None and not frame.is_step:
        frame = frame.parent
    return frame


def _shown_step(tree: FrameTree, node: Node | None):
    """A node's step as drawings number it (a second truncated-BPTT window goes on from the
    first one's last step); None outside the steps."""
    frame = _step_frame(tree, node)
    return None if frame is None else frame.shown_step


def _step_key(tree: FrameTree, node: Node) -> str | None:
    """The same string for a time step at every level (each level's tree labels its frames
    alike): its path of frames, distinct for each run and window of a layer."""
    frame = _step_frame(tree, node)
    return None if frame is None else frame.path_label()


def _page_content(loss: Tensor, tree: FrameTree, graph: Walk, values: dict, terms,
                  parameters: list[Tensor], steps, title: str | None) -> tuple[dict, dict[str, str]]:
    longest = _longest_sequence(graph)
    models: dict[str, GraphModel] = {}
    notes: dict[str, str] = {}
    for name in LEVELS:
        keep = steps
        if keep is None and name in FULL_STEPS and longest > FULL_STEPS[name]:
            half = FULL_STEPS[name] // 2
            keep = (half, half - 1)
            notes[name] = (f"{longest} steps: the middle ones are drawn as one node at this level "
                           f"(the first {keep[0]} and last {keep[1]} in full) to keep the layout quick")
        model = build(loss, level=name, steps=keep)
        if len(model.units) > MAX_NODES and name != "layer":  # Graphviz's budget (see draw): elide harder
            keep = (3, 3)
            notes[name] = (f"{len(model.units):,} nodes at this level is more than a layout can take "
                           f"({MAX_NODES:,}): the first and last 3 steps are drawn in full")
            model = build(loss, level=name, steps=keep)
        models[name] = model
    frames = replay_frames(models["op"], by="step")
    stage_of = _stages(graph, frames)
    param_keys = {id(leaf): f"p{number}" for number, leaf in enumerate(parameters)}
    contributions = {param_keys[id(leaf)]: _contribution_data(leaf, terms) for leaf in parameters}
    data = {
        "title": title or _default_title(graph, longest),
        "frames": [frame.caption for frame in frames],
        "levels": {},
        "plot": _plot_data(tree, graph),
        "contributions": contributions,
        "notes": notes,
    }
    svgs = {}
    for name, model in models.items():
        slice_norm = _slice_norms(model, terms)
        drawing = to_dot(model, ids=f"{name}_", legend=False, slice_norm=slice_norm)
        svgs[name] = _clean_svg(render_bytes(drawing, "svg").decode("utf-8"))
        level = data["levels"][name] = _level_data(name, model, values, stage_of, param_keys)
        # A scope holding one thing is drawn as that thing, not as a box: only boxes that exist.
        level["clusters"] = {key: value for key, value in level["clusters"].items() if f'id="{key}"' in svgs[name]}
        for key, ids in level["steps"].items():
            level["steps"][key] = [element_id for element_id in ids
                                   if element_id in level["units"] or element_id in level["clusters"]]
        level["legend"] = _legend_data(gradient_scale(model, slice_norm=slice_norm))
    return data, svgs


def _longest_sequence(graph: Walk) -> int:
    steps: dict[int, set] = {}
    for node in graph.nodes:
        around = step_scope(node)
        if around is not None:
            steps.setdefault(id(around.parent), set()).add(around.labels["step"])
    return max((len(labels) for labels in steps.values()), default=0)


def _default_title(graph: Walk, longest: int) -> str:
    sequences = {sequence_key(around) for around in (step_scope(node) for node in graph.nodes) if around is not None}
    names = sorted({str(key[0]) for key in sequences})
    parts = ["seqgrad explorer"] + ([", ".join(names[:3])] if names else [])
    if len(sequences) > 1:
        parts.append(f"{len(sequences)} sequences (layers × directions)")
    if longest:
        parts.append(f"{longest} time steps")
    parts.append(f"{len(graph.nodes):,} ops")
    return " · ".join(parts)


def _stages(graph: Walk, frames) -> dict[int, int]:
    """node seq -> the replay frame in which backward processes it (1, 2, ...)."""
    stage_of: dict[int, int] = {}
    bounds = [(frame.first_seq, frame.frontier_end) for frame in frames[1:]]
    number = 0
    for node in reversed(graph.nodes):  # backward's order, as the frames are
        while number < len(bounds) and not (bounds[number][0] <= node.seq < bounds[number][1]):
            number += 1
        stage_of[node.seq] = number + 1 if number < len(bounds) else len(frames) - 1
    return stage_of


def _number(value: float | None):
    """A float for JSON: non-finite values as the strings JavaScript's Number() reads."""
    if value is None:
        return None
    value = float(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _stats_json(stats: dict | None) -> dict | None:
    if stats is None:
        return None
    return {key: (_number(value) if isinstance(value, float) else value) for key, value in stats.items()}


def _slice_norms(model: GraphModel, terms):
    """slice_norm(link) for `to_dot`: the norm of the term of a weight's gradient from the step a
    dashed slice edge goes to (W_ih's use at that step through the one input projection)."""
    def slice_norm(link: Link) -> float | None:
        by_step = terms.terms.get(id(link.tail.leaf)) if link.tail.leaf is not None else None
        step = _shown_step(model.tree, link.head.nodes[0]) if link.head.nodes else None
        term = None if by_step is None or step is None else by_step.get(step)
        return None if term is None else l2_norm(term)
    return slice_norm


def _scope_of(unit: Unit, tree: FrameTree) -> dict:
    node = unit.nodes[0] if unit.nodes else None
    around = step_scope(node) if node is not None else None
    scope = node.scope if node is not None else None
    labels = {}
    for key in ("layer", "direction"):
        value = scope.get(key) if scope is not None else None
        if value is not None:
            labels[key] = str(value)
    if unit.kind == "elided" or (unit.kind == "group" and len(unit.steps) > 1):
        shown = {id(frame): frame.shown_step for frame in (_step_frame(tree, node) for node in unit.nodes)
                 if frame is not None}
        numbers = sorted(step for step in shown.values() if isinstance(step, int))
        labels["step"] = (f"{numbers[0]}–{numbers[-1]}" if len(numbers) == len(shown) and numbers
                          else f"{unit.steps[0]}–{unit.steps[-1]}")
    elif around is not None:
        labels["step"] = str(_shown_step(tree, node))
    labels["where"] = unit.frame.path_label() or "top level"
    return labels


def _level_data(level: str, model: GraphModel, values: dict, stage_of: dict[int, int],
                param_keys: dict[int, str]) -> dict:
    prefix = f"{level}_"
    units: dict[str, dict] = {}
    step_elements: dict[str, list[str]] = {}
    leaf_users = model.walk.leaf_consumers
    for unit in model.units:
        info: dict = {"kind": unit.kind, "title": unit.title, "scope": _scope_of(unit, model.tree)}
        if unit.leaf is not None:
            leaf = unit.leaf
            users = leaf_users[id(leaf)]
            info["reach"] = min(stage_of[user.seq] for user in users)
            info["shape"] = list(leaf.shape)
            info["stats"] = _stats_json(value_stats(leaf.data))
            grad = leaf.grad
            info["grad"] = _number(None if grad is None else l2_norm(np.asarray(getattr(grad, "data", grad))))
            info["uses"] = len(users)
            if id(leaf) in param_keys:
                info["param"] = param_keys[id(leaf)]
            info["search"] = f"{unit.title} {unit.kind}"
        else:
            info["reach"] = min(stage_of[node.seq] for node in unit.nodes)
            shown = unit.state_node() if unit.kind != "op" else unit.nodes[0]
            if unit.kind == "op":
                node = unit.nodes[0]
                info["op"] = node.name
                if node.role is not None:
                    info["role"] = node.role
            else:
                info["op"] = unit.op_summary(6)
                info["ops"] = len(unit.nodes)
            if shown is not None and unit.kind != "elided" and not (unit.kind == "group" and len(unit.steps) > 1):
                info["shape"] = list(shown.shape)
                info["stats"] = _stats_json(value_stats(values.get(shown.seq)))
                info["grad"] = _number(node_grad_norm(shown))
                info["of"] = "h_t" if shown.role == "hidden" and unit.kind == "group" else shown.name
            else:
                norms = [node_grad_norm(node) for node in unit.nodes if node.role == "hidden"]
                norms = [norm for norm in norms if norm is not None]
                if norms:
                    info["grad_range"] = [_number(min(norms)), _number(max(norms))]
            names = {node.name for node in unit.nodes}
            info["search"] = " ".join([unit.title, *sorted(names)] + ([info["role"]] if "role" in info else []))
            keys = {_step_key(model.tree, node) for node in unit.nodes} - {None}
            if unit.kind in ("group", "op") and len(keys) == 1:
                info["step_key"] = next(iter(keys))
        units[prefix + unit.uid] = info
        if info.get("step_key") and (level != "op" or unit.kind != "op"):
            step_elements.setdefault(info["step_key"], []).append(prefix + unit.uid)
    clusters: dict[str, dict] = {}
    frames_drawn = model.frames_drawn()
    nodes_under: dict[int, list[Node]] = {}
    for node in model.walk.nodes:
        frame = model.tree.frame_of(node)
        while frame is not None:
            nodes_under.setdefault(frame.index, []).append(node)
            frame = frame.parent
    for frame in model.tree.frames:
        if frame.parent is None or frame.index not in frames_drawn or frame.index not in nodes_under:
            continue
        inside = nodes_under[frame.index]
        entry = {"reach": min(stage_of[node.seq] for node in inside), "label": frame.path_label()}
        if frame.is_step:
            entry["step_key"] = _step_key(model.tree, frame.nodes[0] if frame.nodes else inside[0])
            step_elements.setdefault(entry["step_key"], []).append(f"{prefix}f{frame.index}")
        clusters[f"{prefix}f{frame.index}"] = entry
    edges = {}
    for number, link in enumerate(model.links):
        heads = [user for source in link.sources for user in _users_in(model, source, link.head)]
        if not heads:  # a weight's slice drawn into a step: lit when backward reaches that step
            heads = link.head.nodes
        edges[f"{prefix}e{number}"] = min((stage_of[user.seq] for user in heads), default=0)
    return {"units": units, "clusters": clusters, "edges": edges, "steps": step_elements}


def _users_in(model: GraphModel, source, head: Unit) -> list[Node]:
    """The nodes of `head` that consume `source` (a Node or a leaf): the gradient flows along the
    edge when backward processes them."""
    if type(source) is Node:
        users = model.walk.consumers.get(source.seq, ())
    else:
        users = model.walk.leaf_consumers.get(id(source), ())
    return [user for user in users if model.unit_of.get(user.seq) is head]


def _plot_data(tree: FrameTree, graph: Walk) -> list[dict]:
    """‖∂L/∂h_t‖ per sequence: [{label, points: [{t, norm, key}]}], t numbered as the drawings
    number the steps, so the truncated-BPTT windows of one layer make one series. Each step's
    state is its last node marked "hidden" (`mark_state`), or in a loop with no marked state its
    last op; runs of one layer that claim the same step (an encoder and a decoder of one name)
    get a series each."""
    marked = any(node.role == "hidden" for node in graph.nodes)
    states: dict[int, tuple[Frame, Node]] = {}   # id(step frame) -> (frame, its state node)
    for node in graph.nodes:
        frame = _step_frame(tree, node)
        if frame is not None and (node.role == "hidden" or not marked):
            states[id(frame)] = (frame, node)
    sequences: dict[tuple, dict[int, list]] = {}   # sequence key -> {id(context): [(step, frame, node)]}
    for frame, node in states.values():
        step = frame.shown_step
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool):
            return []  # steps that are not numbers: no axis to plot them on
        key = sequence_key(step_scope(node))
        sequences.setdefault(key, {}).setdefault(id(frame.parent), []).append((int(step), frame, node))
    series = []
    for key, runs in sequences.items():
        steps = [step for run in runs.values() for step, _, _ in run]
        groups = [sum(runs.values(), [])] if len(set(steps)) == len(steps) else list(runs.values())
        for number, group in enumerate(groups):
            label = _sequence_label(key) + (f" (run {number + 1})" if len(groups) > 1 else "")
            points = [{"t": step, "norm": _number(node_grad_norm(node)), "key": frame.path_label()}
                      for step, frame, node in sorted(group, key=lambda item: item[0])]
            series.append({"label": label, "points": points})
    return series


def _contribution_data(leaf: Tensor, terms) -> dict:
    """The bars of one parameter: ‖term_t‖ per step, the share outside the steps, and how exactly
    the terms add up to the gradient."""
    from ..bptt.contributions import OUTSIDE

    by_step = terms.of(leaf)
    grad = leaf.grad
    grad = None if grad is None else np.asarray(getattr(grad, "data", grad))
    total = None
    for term in by_step.values():
        total = term.copy() if total is None else total + term
    mismatch = None if grad is None or total is None else float(np.max(np.abs(total - grad)))
    return {
        "name": getattr(leaf, "name", None) or ("parameter" if isinstance(leaf, Parameter) else "tensor"),
        "shape": list(leaf.shape),
        "steps": [str(step) for step in by_step if step is not OUTSIDE],
        "norms": [_number(l2_norm(term)) for step, term in by_step.items() if step is not OUTSIDE],
        "outside": _number(l2_norm(by_step[OUTSIDE])) if OUTSIDE in by_step else None,
        "grad": _number(None if grad is None else l2_norm(grad)),
        "mismatch": _number(mismatch),
    }


def _legend_data(scale: GradientScale) -> dict:
    return {"swatches": scale.swatches(11), "ticks": [[position, text] for position, text in scale.ticks()],
            "zero": ZERO_COLOUR, "nonfinite": NON_FINITE_COLOUR, "empty": scale.empty,
            "low": format_norm(10 ** scale.low), "high": format_norm(10 ** scale.high)}


# --- the HTML ---------------------------------------------------------------------------------
_TITLE_ELEMENT = re.compile(r"<title>[^<]*</title>\n?")
_SLOT = re.compile(r"\{\{(\w+)\}\}")
_SIZE = re.compile(r'<svg width="[^"]*" height="[^"]*"')


def _clean_svg(svg: str) -> str:
    """Graphviz's SVG without the XML prologue, the <title> children (the browser would show our
    internal node names as tooltips) and the fixed size (the page scales it)."""
    svg = svg[svg.index("<svg"):]
    svg = _SIZE.sub("<svg", svg, count=1)
    return _TITLE_ELEMENT.sub("", svg)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("explorer", name).read_text(encoding="utf-8")


def _page(data: dict, svgs: dict[str, str]) -> str:
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")   # never ends the <script> element early
    views = "\n".join(f'<div class="view" data-level="{name}" hidden>{svg}</div>' for name, svg in svgs.items())
    parts = {"title": html.escape(data["title"]), "css": _asset("explorer.css"), "views": views, "data": payload,
             "script": _asset("explorer.js")}
    return _SLOT.sub(lambda match: parts[match.group(1)], _asset("page.html"))
