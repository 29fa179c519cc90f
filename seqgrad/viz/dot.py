"""DOT for a `GraphModel`: escaping, node and edge styles, clusters, the legend.

Every piece of user text (scope names, parameter names, labels) goes through `html_text`
(for HTML-like labels, which every node, cluster and the legend use) or `plain_text` (for
tooltips), so no name can break the DOT. Node ids are our own ('o12', 'p3').
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import graphviz

from ..autodiff.graph import cut_from
from ..autodiff.tape import Node
from .gates import gate_name
from .graph import ROLE_SYMBOLS, Frame, GraphModel, Link, Unit, has_gradients, leaf_grad_norm
from .heat import NON_FINITE_COLOUR, ZERO_COLOUR, GradientScale, format_norm
from .recording import edge_grad_norm, node_grad_norm
from .render import GraphDrawing

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
LABEL_LIMIT = 200     # characters of one piece of user text in a label (Graphviz fails near 16,000)
TOOLTIP_LIMIT = 1000  # characters of a tooltip
FONT = "Helvetica"
SMALL = 9

NODE_STYLE = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff", "color": "#404040"},
    "group": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff", "color": "#404040",
              "penwidth": "1.4"},
    "elided": {"shape": "box", "style": "rounded,dashed,filled", "fillcolor": "#f4f4f4", "color": "#707070"},
    "parameter": {"shape": "box3d", "style": "filled", "fillcolor": "#d7e6f7", "color": "#3b6ea5",
                  "margin": "0.1,0.05"},
    "data": {"shape": "note", "style": "filled", "fillcolor": "#e9f5e4", "color": "#5b8a4b"},
    "cut": {"shape": "box", "style": "dashed,filled", "fillcolor": "#fdecea", "color": "#b03a2e",
            "fontcolor": "#7b241c", "penwidth": "1.6"},
}
CUT_COLOUR = "#b03a2e"
PARAMETER_EDGE = "#6f8fb8"
PLAIN_EDGE = "#606060"
THROUGH_EDGE = "#7b6fa8"  # a state read through ops drawn straight through (an attention's fan-in)

COMPILED = "compiled "  # op-name prefix of a compiled layer-direction's node (seqgrad.compile)


# --- escaping -------------------------------------------------------------------------------
def shorten(text: str, limit: int | None) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis; None keeps it whole."""
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "…"


def html_text(text, limit: int | None = LABEL_LIMIT) -> str:
    """Any text as the content of an HTML-like label: cut to `limit` characters (with …), entities
    escaped, backslashes doubled (Graphviz expands \\N, \\G, ... even in HTML labels), newlines as
    <BR/>, control characters dropped."""
    text = shorten(_CONTROL.sub("", str(text)), limit)
    text = text.replace("\r", "").replace("\t", " ").replace("\\", "\\\\")
    return html.escape(text, quote=True).replace("\n", "<BR/>")


def plain_text(text, limit: int | None = TOOLTIP_LIMIT) -> str:
    """Any text as a quoted DOT string value (tooltips). Graphviz unescapes such a string twice
    (parsing, then expanding \\N and friends), so each backslash becomes four; '&' is written as
    an entity because SVG output keeps entities it finds; newlines become Graphviz's \\n; quotes
    are escaped by graphviz's quoting; the value is never read as an HTML-like label. Cut to `limit`
    characters (with …)."""
    text = shorten(_CONTROL.sub("", str(text)), limit).replace("\r", "").replace("\t", " ")
    text = text.replace("\\", "\\\\\\\\").replace("&", "&amp;").replace("\n", "\\n")
    return graphviz.nohtml(text)


def html_label(content: str) -> str:
    return f"<{content}>"


def _small(content: str, colour: str | None = None) -> str:
    if not content:
        return ""  # Graphviz rejects an empty <FONT></FONT>
    colour_attr = f' COLOR="{colour}"' if colour else ""
    return f'<FONT POINT-SIZE="{SMALL}"{colour_attr}>{content}</FONT>'


def _index_text(index) -> str:
    """A getitem's index as Python would write it: '[:, 3:6]' (which gate a slice takes)."""
    parts = index if isinstance(index, tuple) else (index,)
    words = []
    for part in parts:
        if isinstance(part, slice):
            text = ":".join("" if value is None else str(value) for value in (part.start, part.stop))
            words.append(text if part.step is None else f"{text}:{part.step}")
        elif part is Ellipsis:
            words.append("...")
        elif hasattr(part, "shape") and getattr(part, "ndim", 0) > 0:
            words.append(f"<{part.dtype} array {tuple(part.shape)}>")
        else:
            words.append(str(part))
    return "[" + ", ".join(words) + "]"


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


# --- gradient lookups, with an optional "revealed so far" cut for the backward replay ---------------
@dataclass
class Reveal:
    """The backward replay's moment: nodes with seq >= `first_seq` have been processed; the
    ones with seq < `frontier_end` were processed in this frame (drawn with a thick border)."""

    first_seq: float
    frontier_end: float
    caption: str = ""


class _Gradients:
    """The gradient norm each drawn thing shows: none before backward (or with grads=False), and
    during a replay only what backward has processed so far."""

    def __init__(self, model: GraphModel, show: bool, reveal: Reveal | None,
                 slice_norm: Callable[[Link], float | None] | None = None) -> None:
        self.model, self.reveal, self.slice_norm = model, reveal, slice_norm
        self.present = show and has_gradients(model)
        # Consumers are listed in creation order: the first one is the last backward reaches.
        self._first_use = {key: users[0].seq for key, users in model.walk.leaf_consumers.items()}

    def node(self, node: Node | None) -> float | None:
        if not self.present or node is None:
            return None
        if self.reveal is not None and node.seq < self.reveal.first_seq:
            return None
        return node_grad_norm(node)

    def leaf(self, leaf) -> float | None:
        if not self.present:
            return None
        if self.reveal is not None and self._first_use[id(leaf)] < self.reveal.first_seq:
            return None  # still accumulating: some uses are not processed yet
        return leaf_grad_norm(leaf)

    def unit(self, unit: Unit) -> float | None:
        if unit.leaf is not None:
            return self.leaf(unit.leaf)
        if unit.kind == "elided":
            return None
        if unit.kind == "group" and len(unit.steps) > 1:  # a whole sequence: its strongest state
            span = self.state_range(unit)
            return None if span is None else span[1]
        return self.node(unit.state_node())

    def state_range(self, unit: Unit) -> tuple[float, float] | None:
        """Smallest and largest ||dL/dh|| over the steps a unit stands for."""
        states = [node for node in unit.nodes if node.role == "hidden"] or unit.nodes
        norms = [norm for norm in map(self.node, states) if norm is not None]
        return (min(norms), max(norms)) if norms else None

    def link(self, link: Link) -> float | None:
        """The gradient the edge carries back: ||what each use in the head sent to the tail||
        (the largest, when the edge stands for several uses), not the tail's total gradient."""
        if not self.present:
            return None
        if link.via is not None:  # a weight's slice used at one step: that step's term of its gradient, when known
            return None if self.slice_norm is None or self.reveal is not None else self.slice_norm(link)
        norms = []
        for source in link.sources:
            for user, position in self._uses(source, link.head):
                if self.reveal is not None and user.seq < self.reveal.first_seq:
                    continue  # not processed yet: nothing sent along this use
                norm = edge_grad_norm(user, position)
                if norm is not None:
                    norms.append(norm)
        return max(norms) if norms else None

    def _uses(self, source, head: Unit) -> list[tuple[Node, int]]:
        """(consumer, input position) of every use of `source` by an op drawn in `head`."""
        walk, unit_of = self.model.walk, self.model.unit_of
        users = walk.consumers.get(source.seq, ()) if type(source) is Node else walk.leaf_consumers.get(id(source), ())
        return [(user, position) for user in users if unit_of.get(user.seq) is head
                for position, edge in enumerate(user.edges) if edge is source]

    def all_norms(self) -> list[float]:
        """Every norm a fully revealed drawing shows: the scale is fixed across replay frames."""
        if not self.present:
            return []
        reveal, self.reveal = self.reveal, None
        try:
            norms = [self.unit(unit) for unit in self.model.units]
            for unit in self.model.units:
                if unit.kind == "elided":
                    span = self.state_range(unit)
                    norms.extend(span or ())
            norms.extend(self.link(link) for link in self.model.links)
        finally:
            self.reveal = reveal
        return [norm for norm in norms if norm is not None]


# --- the DOT ------------------------------------------------------------------------------
def to_dot(model: GraphModel, *, grads: bool = True, shapes: bool = True, grad_labels: bool = True,
           title: str | None = None, reveal: Reveal | None = None, ids: str | None = None,
           legend: bool = True, slice_norm: Callable[[Link], float | None] | None = None) -> GraphDrawing:
    """Build the graphviz drawing of `model`.

    ids: a prefix; when given, every node, cluster and edge gets an SVG id (`<prefix><unit uid>`,
    `<prefix>f<frame index>`, `<prefix>e<link index>`) and no tooltip, for pages that script the
    drawing. legend=False leaves out the title and legend under the drawing. slice_norm(link): the
    norm of the step's term of a weight's gradient that a dashed slice edge stands for (the explorer
    computes them with `seqgrad.bptt.StepContributions`); without it those edges stay uncoloured.
    """
    gradients = _Gradients(model, grads, reveal, slice_norm)
    scale = GradientScale(gradients.all_norms())
    writer = _Writer(model, gradients, scale, shapes, grad_labels and reveal is None, ids)
    return writer.drawing(title, reveal, legend)


def gradient_scale(model: GraphModel, grads: bool = True,
                   slice_norm: Callable[[Link], float | None] | None = None) -> GradientScale:
    """The colour scale `to_dot` colours `model` with (for a legend drawn elsewhere)."""
    return GradientScale(_Gradients(model, grads, None, slice_norm).all_norms())


class _Writer:
    """Writes one drawing: clusters, nodes, edges, time-order edges and the legend."""

    def __init__(self, model: GraphModel, gradients: _Gradients, scale: GradientScale, shapes: bool,
                 grad_labels: bool, ids: str | None = None) -> None:
        self.model, self.gradients, self.scale = model, gradients, scale
        self.ids = ids
        self.shapes, self.grad_labels = shapes, grad_labels
        self.prefix: dict[str, str] = {}   # unit uid -> labels of clusters folded into it
        frame_of = model.tree.frame_of
        self.hidden_sizes = {id(frame_of(node).outer_step): node.shape[-1]   # to name gate slices
                             for node in model.walk.nodes if node.role == "hidden" and node.shape}

    def drawing(self, title: str | None, reveal: Reveal | None, legend: bool = True) -> GraphDrawing:
        model = self.model
        graph = GraphDrawing(name="seqgrad", graph_attr={
            "rankdir": "LR", "newrank": "true", "nodesep": "0.18", "ranksep": "0.32", "fontname": FONT,
            "labelloc": "b", "labeljust": "l", "pad": "0.25", "bgcolor": "white", "remincross": "true",
        }, node_attr={"fontname": FONT, "fontsize": "11", "height": "0.3", "margin": "0.07,0.035"},
            edge_attr={"fontname": FONT, "arrowsize": "0.6", "color": PLAIN_EDGE})
        if legend:
            graph.attr(label=html_label(self.legend(title, reveal)))
        cluster_graphs = self.clusters()
        frontier = self.frontier(reveal)
        for unit in model.units:
            attrs = self.node_attrs(unit, unit.uid in frontier)
            if self.ids is not None:
                attrs["id"] = self.ids + unit.uid
                attrs.pop("tooltip", None)
            cluster_graphs.get(unit.frame.index, graph).node(unit.uid, **attrs)
        self.assemble(graph, cluster_graphs)
        for number, link in enumerate(model.links):
            attrs = self.edge_attrs(link)
            if self.ids is not None:
                attrs["id"] = f"{self.ids}e{number}"
                attrs.pop("tooltip", None)
            graph.edge(link.tail.uid, link.head.uid, **attrs)
        for tail, head in self.time_edges():
            graph.edge(tail, head, style="invis")
        return graph

    # -- clusters --
    def clusters(self) -> dict[int, graphviz.Digraph]:
        """One subgraph per drawn frame; a non-step frame holding exactly one thing is not boxed,
        its label goes to that thing instead ('LSTM layer 0 · forward')."""
        model = self.model
        drawn = model.frames_drawn()
        units_in: dict[int, list[Unit]] = {}
        for unit in model.units:
            units_in.setdefault(unit.frame.index, []).append(unit)
        carried: dict[int, str] = {}
        graphs: dict[int, graphviz.Digraph] = {}
        for frame in model.tree.frames:  # parents before children
            if frame.parent is None or frame.index not in drawn:
                continue
            label = _join(carried.get(frame.index), frame.label)
            children = [child for child in frame.children if child.index in drawn]
            own = units_in.get(frame.index, [])
            if not frame.is_step and len(children) + len(own) == 1:
                if children:
                    carried[children[0].index] = label
                else:
                    self.prefix[own[0].uid] = label
                continue
            attrs = self.cluster_attrs(frame, label)
            if self.ids is not None:
                attrs["id"] = f"{self.ids}f{frame.index}"
            graphs[frame.index] = graphviz.Digraph(name=f"cluster_{frame.index}", graph_attr=attrs)
        return graphs

    def cluster_attrs(self, frame: Frame, label: str) -> dict:
        if frame.is_step:
            style = {"style": "rounded,filled", "fillcolor": "#eef3fa", "color": "#8ea9cc", "fontcolor": "#24466e"}
        else:
            depth = len(frame.chain()) - 2
            style = {"style": "rounded,filled", "fillcolor": "#fbfbf8" if depth % 2 == 0 else "#f3f3ee",
                     "color": "#7a7a7a", "fontcolor": "#303030"}
        return {"label": html_label(f"<B>{html_text(label)}</B>"), "fontsize": "12", "fontname": FONT,
                "labeljust": "l", "labelloc": "t", "margin": "10", **style}

    def assemble(self, graph: GraphDrawing, graphs: dict[int, graphviz.Digraph]) -> None:
        """Nest the cluster subgraphs, children before parents (iterative post-order)."""
        order: list[Frame] = []
        stack: list[tuple[Frame, bool]] = [(self.model.tree.root, False)]
        while stack:
            frame, expanded = stack.pop()
            if expanded:
                order.append(frame)
                continue
            stack.append((frame, True))
            stack.extend((child, False) for child in reversed(frame.children))
        for frame in order:
            if frame.parent is None:
                continue
            target = frame.parent
            while target.parent is not None and target.index not in graphs:
                target = target.parent  # a folded parent: attach to the nearest boxed ancestor
            if frame.index in graphs:
                (graphs.get(target.index) or graph).subgraph(graphs[frame.index])

    # -- nodes --
    def frontier(self, reveal: Reveal | None) -> set[str]:
        if reveal is None:
            return set()
        unit_of = self.model.unit_of
        return {unit_of[node.seq].uid for node in self.model.walk.nodes
                if reveal.first_seq <= node.seq < reveal.frontier_end}

    def node_attrs(self, unit: Unit, on_frontier: bool) -> dict:
        attrs = dict(NODE_STYLE[unit.kind])
        norm = self.gradients.unit(unit)
        fill = self.scale.fill(norm)
        if fill is not None:
            attrs["fillcolor"] = fill
            attrs["fontcolor"] = self.scale.text_colour(fill)
        elif self.gradients.present and unit.kind in ("op", "group"):
            attrs["style"] = attrs["style"] + ",dashed"  # not reached by the backward pass (yet)
        attrs["label"] = html_label(self.node_label(unit, norm))
        attrs["tooltip"] = plain_text(self.tooltip(unit, norm))
        if any(node.name.startswith(COMPILED) for node in unit.nodes):
            attrs["peripheries"] = "2"  # a compiled layer-direction: generated forward + BPTT in one node
        state = unit.state_node() if unit.kind == "op" else None
        if state is not None and state.role is not None:
            attrs["penwidth"] = "2.2"
            if unit.context is not None:
                attrs["group"] = plain_text(f"{state.role}_{unit.context.index}")
        if unit.kind == "group" and unit.context is not None:
            attrs["group"] = f"steps_{unit.context.index}"
        if on_frontier:
            attrs["penwidth"], attrs["color"] = "4", "#000000"
        return attrs

    def node_label(self, unit: Unit, norm: float | None) -> str:
        prefix = self.prefix.get(unit.uid)
        lines: list[str] = []
        if prefix:
            lines.append(_small(html_text(prefix)))
        if unit.kind == "op":
            node = unit.nodes[0]
            name = f"<B>{html_text(node.name)}</B>"
            if node.role is not None:
                step = self.model.tree.frame_of(node).outer_step
                symbol = html_text(ROLE_SYMBOLS.get(node.role, node.role))
                subscript = f"<SUB>{html_text(_state_index(step.shown_step))}</SUB>" if step is not None else ""
                name = f"{symbol}{subscript} = {name}"
            if node.name == "getitem" and "index" in node.params:
                name += " " + html_text(_index_text(node.params["index"]))
                gate = gate_name(node, self.hidden_sizes.get(id(self.model.tree.frame_of(node).outer_step)))
                if gate is not None:
                    name += f" <I>{html_text(gate)}</I>"
            lines.append(name)
            if node.name.startswith(COMPILED):
                lines.append(_small("compiled: generated forward + BPTT, one node"))
            if self.shapes:
                lines.append(_small(html_text(_shape_text(node.shape))))
        elif unit.kind == "group":
            lines.append(f"<B>{html_text(unit.title)}</B>")
            if any(node.name.startswith(COMPILED) for node in unit.nodes):
                lines.append(_small("compiled"))
            roles = sorted({node.role for node in unit.nodes if node.role is not None})
            detail = f"{len(unit.nodes)} ops"
            if roles:
                detail += " → " + ", ".join(ROLE_SYMBOLS.get(role, role) for role in roles)
            lines.append(_small(html_text(detail)))
            if unit.context is None and len(unit.steps) > 1:
                lines.append(_small(html_text(f"steps {unit.steps[0]}–{unit.steps[-1]}")))
            elif unit.context is None:
                lines.append(_small(html_text(unit.op_summary())))
        elif unit.kind == "elided":
            lines.append(f"<B>⋯ {html_text(unit.title)} ⋯</B>")
            lines.append(_small(html_text(f"steps {unit.steps[0]}–{unit.steps[-1]} · {len(unit.nodes):,} ops")))
            span = self.gradients.state_range(unit)
            if span is not None:
                lines.append(_small(html_text(f"‖∇h‖ {format_norm(span[0])} … {format_norm(span[1])}")))
        elif unit.kind == "cut":
            lines.append("<B>✂ cut: detach()</B>")
            lines.append(_small(html_text(f"from {cut_from(unit.leaf)}")))
            if self.shapes:
                lines.append(_small(html_text(_shape_text(unit.leaf.shape))))
        else:
            lines.append(f"<B>{html_text(unit.title)}</B>")
            if self.shapes:
                lines.append(_small(html_text(_shape_text(unit.leaf.shape))))
        if unit.kind == "group" and len(unit.steps) > 1:
            span = self.gradients.state_range(unit) if self.grad_labels else None
            if span is not None:
                lines.append(_small(html_text(f"‖∇h‖ {format_norm(span[0])} … {format_norm(span[1])}")))
        elif self.grad_labels and self.gradients.present and unit.kind != "elided":
            if unit.leaf is None or unit.leaf.requires_grad:
                symbol = "∇h" if unit.kind == "group" and unit.context is not None else "∇"
                lines.append(_small(html_text(f"{symbol} {format_norm(norm)}")))
        return "<BR/>".join(lines)

    def tooltip(self, unit: Unit, norm: float | None) -> str:
        where = unit.frame.path_label() or "top level"
        if unit.kind == "op":
            node = unit.nodes[0]
            text = f"{node.name} #{node.seq} {node.shape} in {where}"
            if node.role is not None:
                text += f"; state: {node.role}"
        elif unit.leaf is not None:
            text = f"{unit.kind} {unit.title} {unit.leaf.shape}"
        else:
            text = f"{unit.title} in {where}: {unit.op_summary(8)}"
        if self.gradients.present:
            text += f"; ||dL/d(output)|| = {format_norm(norm)}"
        return text

    # -- edges --
    def edge_attrs(self, link: Link) -> dict:
        if link.cut:  # values copied across the cut; no gradient goes back along it
            return {"style": "dashed", "color": CUT_COLOUR, "penwidth": "1.4", "arrowhead": "tee",
                    "label": html_label(_small("✂ detach()", CUT_COLOUR)),
                    "tooltip": plain_text("the state this cut copied; backward stops at the cut")}
        if link.through:  # a step's state read by another step through stack/concat/projection ops not drawn
            names = ", ".join(unit.title for unit in link.through)
            return {"color": THROUGH_EDGE, "penwidth": "0.9", "arrowhead": "normal",
                    "tooltip": plain_text(f"{link.head.title} reads {link.tail.title}'s state through {names} "
                                          "(drawn straight through)")}
        if link.via is not None:  # a weight's use at one step through the projection before the steps
            hidden = link.via.uid in self.model.through  # its only edges: keep it ranked before the steps
            norm = self.gradients.link(link)
            line = self.scale.line(norm)
            text = f"{link.tail.title}: this step's slice of {link.via.title} (one op for all steps before the loop)"
            if line is not None:
                text += f"; this step's term of its gradient: ||term|| = {format_norm(norm)}"
            return {"style": "dashed", "color": line[0] if line else PARAMETER_EDGE,
                    "penwidth": f"{max(line[1] * 0.7, 0.8):.2f}" if line else "0.8",
                    "constraint": "true" if hidden else "false", "arrowhead": "onormal",
                    "tooltip": plain_text(text)}
        attrs: dict[str, str] = {}
        tail_kind = link.tail.kind
        norm = self.gradients.link(link)
        line = self.scale.line(norm)
        colour = line[0] if line else (PARAMETER_EDGE if tail_kind == "parameter" else PLAIN_EDGE)
        width = line[1] if line else 1.0
        if link.recurrent:
            attrs["weight"] = "8"
            if link.role == "cell":
                width = max(width * 0.6, 1.0)
                colour = f"{colour}:invis:{colour}"   # a double line: the cell-state path
            else:
                width = max(width, 2.2)
        if link.against_time:  # leave leftwards and arrive from the right: the state runs right to left
            attrs["constraint"], attrs["tailport"], attrs["headport"] = "false", "w", "e"
        if tail_kind == "cut":
            attrs["style"] = "dashed"
            colour = CUT_COLOUR if line is None else colour
            attrs["arrowtail"], attrs["dir"] = "tee", "both"
        attrs["color"] = colour
        attrs["penwidth"] = f"{width:.2f}"
        if line is not None:
            attrs["tooltip"] = plain_text(f"gradient carried back along this edge: ||g|| = {format_norm(norm)}")
        return attrs

    def time_edges(self) -> list[tuple[str, str]]:
        """Invisible edges that keep every step of a sequence left of the next one, whatever
        direction the data flows (the backward direction runs right to left)."""
        edges: list[tuple[str, str]] = []
        model = self.model
        if model.level == "layer":
            return edges
        unit_of = model.unit_of
        consumers = model.walk.consumers
        ends: dict[int, tuple[list[str], list[str]]] = {}   # id(step frame) -> (sinks, sources)
        if model.level == "op":
            members: dict[int, list[Node]] = {}
            for node in model.walk.nodes:
                unit = unit_of[node.seq]
                if unit.kind == "op" and unit.context is not None:
                    outer = model.tree.frame_of(node).outer_step
                    members.setdefault(id(outer), []).append(node)
            for key, nodes in members.items():
                inside = {node.seq for node in nodes}
                sinks = [unit_of[node.seq].uid for node in nodes
                         if not any(user.seq in inside for user in consumers.get(node.seq, ()))]
                sources = [unit_of[node.seq].uid for node in nodes
                           if not any(type(edge) is Node and edge.seq in inside for edge in node.edges)]
                ends[key] = (sinks, sources)
        by_time = {(id(unit.context), unit.time): unit.uid for unit in model.units
                   if unit.kind != "op" and unit.context is not None and unit.time is not None}
        for context, items in model.time_order:
            previous: list[str] | None = None
            for position, item in enumerate(items):
                if model.level == "op" and not isinstance(item, Unit):
                    sinks, sources = ends.get(id(item), ([], []))
                else:
                    uid = by_time.get((id(context), position))
                    sinks = sources = [uid] if uid is not None else []
                if previous and sources:
                    if len(previous) * len(sources) <= 16:
                        edges.extend((tail, head) for tail in previous for head in sources)
                    else:  # many ends: chain them through one of them to stay linear
                        edges.extend((tail, previous[0]) for tail in previous[1:])
                        edges.extend((previous[0], head) for head in sources)
                if sinks:
                    previous = sinks
        return edges

    # -- legend --
    def legend(self, title: str | None, reveal: Reveal | None) -> str:
        rows = [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="14"><B>{html_text(title or self.default_title())}'
                "</B></FONT></TD></TR>"]
        if self.gradients.present and not self.scale.empty:
            rows.append('<TR><TD ALIGN="LEFT">gradient ‖∂L/∂·‖ of each node (edges: the gradient each carries back), '
                        "log scale: colour and line width</TD></TR>")
            rows.append(f'<TR><TD ALIGN="LEFT">{self.colour_bar()}</TD></TR>')
        elif self.gradients.present:
            rows.append('<TR><TD ALIGN="LEFT">every gradient on this graph is zero or not finite</TD></TR>')
        else:
            rows.append('<TR><TD ALIGN="LEFT"><FONT COLOR="#8a1c1c"><I>No gradients yet: no recorded backward '
                        "has reached this graph. Run it inside `with seqgrad.viz.record(): loss.backward()` and "
                        "draw again to colour it by ‖∂L/∂·‖.</I></FONT></TD></TR>")
        rows.append(f'<TR><TD ALIGN="LEFT">{_small(html_text(self.key_text(), limit=None), "#404040")}</TD></TR>')
        if reveal is not None:
            # A fixed-size cell: every frame keeps the same layout whatever its caption says.
            caption = reveal.caption if len(reveal.caption) <= 110 else reveal.caption[:109] + "…"
            rows.append(f'<TR><TD ALIGN="LEFT" WIDTH="900" FIXEDSIZE="TRUE" HEIGHT="20">'
                        f"<B>{html_text(caption)}</B></TD></TR>")
        return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">{"".join(rows)}</TABLE>'

    def default_title(self) -> str:
        model = self.model
        roots = ", ".join(sorted({node.name for node in model.walk.nodes[-1:]}))
        parts = [f"graph of {roots}", f"level {model.level}", f"{len(model.walk.nodes):,} ops"]
        if model.step_count:  # the longest sequence's steps: a bidirectional layer's two directions share them
            length = max(len(model.tree.ordered_steps(context)) for context, _ in model.time_order)
            parts.append(f"{length:,} time steps")
        if model.elided_steps:
            parts.append(f"{model.elided_steps:,} elided")
        return "seqgrad · " + " · ".join(parts)

    def colour_bar(self) -> str:
        swatches = self.scale.swatches(11)
        ticks = {round(position * (len(swatches) - 1)): text for position, text in self.scale.ticks()}
        colour_cells = "".join(f'<TD BGCOLOR="{colour}" WIDTH="30" HEIGHT="12"></TD>' for colour in swatches)
        tick_cells = "".join(f"<TD>{_small(html_text(ticks.get(i, '')))}</TD>" for i in range(len(swatches)))
        extras = (f'<TD WIDTH="14"></TD><TD BGCOLOR="{ZERO_COLOUR}" WIDTH="30" HEIGHT="12"></TD>'
                  f'<TD BGCOLOR="{NON_FINITE_COLOUR}" WIDTH="30" HEIGHT="12"></TD>')
        extra_ticks = f"<TD></TD><TD>{_small('0')}</TD><TD>{_small('inf')}</TD>"
        return ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                f"<TR>{colour_cells}{extras}</TR><TR>{tick_cells}{extra_ticks}</TR></TABLE>")

    def key_text(self) -> str:
        kinds = {unit.kind for unit in self.model.units}
        roles = {link.role for link in self.model.links if link.recurrent}
        parts = ["rounded box: op", "3-d box: parameter (drawn once, an edge to every use)", "page: data"]
        if "group" in kinds:
            parts.append("bold box: a collapsed step or scope")
        if roles - {"cell"}:
            parts.append("thick edge: hidden-state path")
        if "cell" in roles:
            parts.append("double edge: cell-state path")
        if any(link.through for link in self.model.links):
            parts.append("thin purple edge: a step's state read by a later step through stack/concat/projection "
                         "ops drawn straight through (attention reads every encoder step)")
        if any(link.via is not None for link in self.model.links):
            parts.append("dashed blue arrow: a weight's slice used at that step (one projection for all steps)")
        if "cut" in kinds:
            parts.append("✂ dashed: detach() cut, no gradient flows back")
        if "elided" in kinds:
            parts.append("⋯ dashed: elided steps")
        if self.gradients.present:
            parts.append("dashed border: no gradient reached it")
        return "   ·   ".join(parts)


def _state_index(step):
    """The state a step makes, counted from 1: step t (0-based, x_t read) makes h_{t+1}; h_0 is the
    initial state, as in the equations (and h_1 … h_T for T steps)."""
    return step + 1 if isinstance(step, int) and not isinstance(step, bool) else step


def _join(prefix: str | None, label: str) -> str:
    return f"{prefix} · {label}" if prefix else label
