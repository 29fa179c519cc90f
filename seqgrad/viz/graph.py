"""The recorded graph behind a tensor, walked without recursion and grouped the way it
was built: frames from scopes (layer, direction, time step) and, for a drawing level,
the units that get drawn (ops, collapsed steps, elided middles, leaves) and the links
between them.

Everything here is plain Python over the tape; `dot.py` turns a `GraphModel` into DOT.
Cost is linear in the number of recorded nodes (plus one sort by creation number).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autodiff.graph import Walk, cut_from, walk
from ..autodiff.norm import l2_norm
from ..autodiff.tape import Node, Scope
from ..nn.module import Parameter
from ..tensor import Tensor
from .recording import node_grad_norm

LEVELS = ("op", "cell", "layer")


# --- frames: scopes as nested groups ----------------------------------------------------------
@dataclass(eq=False)
class Frame:
    """A group of recorded ops: one scope (or the layer / direction half of one), or one
    time step. The root frame stands for the top level and is never drawn."""

    label: str
    parent: Frame | None
    index: int
    is_step: bool = False
    step: Any = None                 # the step label of a step frame
    family: str = ""                 # a step frame's label without the step ("LSTMCell")
    children: list[Frame] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)   # recorded directly in this frame
    has_steps: bool = False          # a step frame somewhere below (or this one)
    outer_step: Frame | None = None  # outermost step frame on the way up (self included)
    stepless_root: Frame | None = None  # outermost frame above (self included) with no steps below
    offset: int = 0                  # steps before this run's first (a truncated-BPTT window after others)

    @property
    def shown_step(self):
        """The step as drawn: the label plus the steps of the windows before this one."""
        return self.step + self.offset if isinstance(self.step, int) and not isinstance(self.step, bool) else self.step

    @property
    def step_children(self) -> list[Frame]:
        return [child for child in self.children if child.is_step]

    def chain(self) -> list[Frame]:
        """This frame and its ancestors, outermost (the root) first."""
        frames, frame = [], self
        while frame is not None:
            frames.append(frame)
            frame = frame.parent
        frames.reverse()
        return frames

    def path_label(self) -> str:
        """'LSTM layer 0 · forward · LSTMCell step 2': for tooltips and messages."""
        return " · ".join(frame.label for frame in self.chain() if frame.parent is not None)

    def __repr__(self) -> str:
        return f"<Frame {self.path_label() or 'top level'}>"


def _describe(name: str, labels: dict) -> str:
    words = [name] if name else []
    words += [f"{key} {value}" for key, value in labels.items()]
    return " ".join(words)


class FrameTree:
    """Frames for every scope the walk met, built from the Scope chains of its nodes.

    - A scope with a `step` label is a time step; steps with the same description under
      the same parent are one frame (a loop may re-enter `scope("rnn", step=t)`).
    - A scope with a `direction` label and more (the layers' `LSTM layer=0 direction=...`)
      becomes two nested frames, layer then direction, so both directions of a layer share
      one box.
    - Two runs of one layer in a graph (an encoder and a decoder both called "LSTM") claim
      the same step twice under the same description; the second run gets its own frames.
    """

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.root = Frame("", None, 0)
        self.frames: list[Frame] = [self.root]
        self._by_key: dict[tuple, Frame] = {}
        self._of_scope: dict[int, Frame] = {}
        self._descriptions: dict[int, str] = {}
        self._chains: dict[int, tuple] = {}
        nodes = list(nodes)
        scopes = self._distinct_scopes(nodes)
        runs = self._runs(scopes)
        for scope in scopes:
            self._of_scope[id(scope)] = self._frame_for(scope, runs)
        for node in nodes:
            self.frame_of(node).nodes.append(node)
        self._finish()

    def frame_of(self, node: Node) -> Frame:
        return self.root if node.scope is None else self._of_scope[id(node.scope)]

    # -- building --
    def _distinct_scopes(self, nodes: list[Node]) -> list[Scope]:
        """Every scope on the nodes' chains, each once, outer scopes before inner ones."""
        seen: set[int] = set()
        ordered: list[Scope] = []
        for node in nodes:
            scope = node.scope
            if scope is None or id(scope) in seen:
                continue
            missing = []
            while scope is not None and id(scope) not in seen:
                seen.add(id(scope))
                missing.append(scope)
                scope = scope.parent
            ordered.extend(reversed(missing))
        return ordered

    def _description(self, scope: Scope) -> str:
        text = self._descriptions.get(id(scope))
        if text is None:
            text = self._descriptions[id(scope)] = _describe(scope.name, scope.labels)
        return text

    def _chain_key(self, scope: Scope | None) -> tuple:
        """Descriptions from the outermost scope down to `scope`, memoised per scope so the
        whole tree costs time linear in the number of scopes."""
        missing = []
        while scope is not None and id(scope) not in self._chains:
            missing.append(scope)
            scope = scope.parent
        key = () if scope is None else self._chains[id(scope)]
        for inner in reversed(missing):
            key = self._chains[id(inner)] = key + (self._description(inner),)
        return key

    def _runs(self, scopes: list[Scope]) -> dict[int, int]:
        """Run number of each scope that directly holds steps: 0 unless an earlier scope with
        the same description chain already holds a step with the same description."""
        runs: dict[int, int] = {}
        claimed: dict[tuple, list[set]] = {}
        for scope in scopes:
            if "step" not in scope.labels or scope.parent is None:
                continue
            parent = scope.parent
            chain = self._chain_key(parent)
            step = self._description(scope)
            taken = claimed.setdefault(chain, [])
            run = runs.get(id(parent))
            if run is None:
                run = next((number for number, steps in enumerate(taken) if step not in steps), len(taken))
                runs[id(parent)] = run
                if run == len(taken):
                    taken.append(set())
            taken[run].add(step)
        return runs

    def _get(self, key: tuple, make: Callable[[], Frame]) -> Frame:
        frame = self._by_key.get(key)
        if frame is None:
            frame = self._by_key[key] = make()
            frame.parent.children.append(frame)
            self.frames.append(frame)
        return frame

    def _new(self, label: str, parent: Frame, **extra) -> Frame:
        return Frame(label, parent, len(self.frames), **extra)

    def _frame_for(self, scope: Scope, runs: dict[int, int]) -> Frame:
        parent = self.root if scope.parent is None else self._of_scope[id(scope.parent)]
        labels = scope.labels
        if "step" in labels:
            others = {key: value for key, value in labels.items() if key != "step"}
            family = _describe(scope.name, others)
            description = self._description(scope)
            return self._get((id(parent), "step", description), lambda: self._new(
                description, parent, is_step=True, step=labels["step"], family=family or "step"))
        run = runs.get(id(scope), 0)
        suffix = f" (run {run + 1})" if run else ""
        if "direction" in labels and (scope.name or len(labels) > 1):
            outer = _describe(scope.name, {key: value for key, value in labels.items() if key != "direction"})
            layer = self._get((id(parent), "scope", outer, run), lambda: self._new(outer + suffix, parent))
            direction = str(labels["direction"])
            return self._get((id(layer), "direction", direction), lambda: self._new(direction, layer))
        description = self._description(scope) or "scope"
        return self._get((id(parent), "scope", description, run), lambda: self._new(description + suffix, parent))

    def _finish(self) -> None:
        # Children are always created after their parents, so one backward sweep settles
        # has_steps and one forward sweep the per-chain facts.
        for frame in reversed(self.frames):
            if frame.is_step:
                frame.has_steps = True
            if frame.parent is not None and frame.has_steps:
                frame.parent.has_steps = True
        for frame in self.frames:
            parent = frame.parent
            if parent is None:
                continue
            frame.outer_step = parent.outer_step or (frame if frame.is_step else None)
            frame.stepless_root = parent.stepless_root or (None if frame.has_steps else frame)

    def ordered_steps(self, context: Frame) -> list[Frame]:
        """The step frames directly under `context`, in time order (by step label)."""
        steps = context.step_children
        try:
            return sorted(steps, key=lambda frame: frame.step)
        except TypeError:  # labels that do not compare: keep the order they were recorded in
            return steps


# --- units and links: what a level draws ----------------------------------------------------
ROLE_SYMBOLS = {"hidden": "h", "cell": "c"}
# Ops that only move or linearly project values: a unit made of them between steps is drawn straight through.
PASS_THROUGH_OPS = frozenset({"stack", "concat", "reshape", "transpose", "linear", "matmul", "add", "mul"})


@dataclass(eq=False)
class Unit:
    """One drawn node: an op, a group of ops (a collapsed step, layer or scope), the elided
    middle of a sequence, or a leaf tensor (parameter, data, or a detach cut)."""

    uid: str
    kind: str                         # "op" | "group" | "elided" | "parameter" | "data" | "cut"
    frame: Frame                      # the frame whose cluster holds it (root: top level)
    title: str
    nodes: list[Node] = field(default_factory=list)
    leaf: Tensor | None = None
    steps: list = field(default_factory=list)   # step labels a group or elided unit covers
    context: Frame | None = None      # for step-like units: the frame whose steps they are
    time: int | None = None           # position in the context's time order

    def state_node(self) -> Node | None:
        """The node whose gradient speaks for the unit: its hidden state, else its last op."""
        if not self.nodes:
            return None
        for node in self.nodes:
            if node.role == "hidden":
                return node
        for node in self.nodes:
            if node.role is not None:
                return node
        return self.nodes[-1]

    def op_summary(self, limit: int = 4) -> str:
        """'matmul, add ×2, getitem ×3 (+2 more)': what a group is made of."""
        counts = Counter(node.name for node in self.nodes)
        parts = [name if count == 1 else f"{name} ×{count}" for name, count in counts.most_common(limit)]
        rest = len(counts) - limit
        return ", ".join(parts) + (f" (+{rest} more)" if rest > 0 else "")


@dataclass(eq=False)
class Link:
    """One drawn edge: data flowing from `tail` to `head` (deduplicated per role)."""

    tail: Unit
    head: Unit
    role: str | None                  # the source node's role: "hidden", "cell", ...
    sources: list = field(default_factory=list)   # the Nodes or leaf Tensors it stands for
    recurrent: bool = False           # between two time steps of one sequence
    against_time: bool = False        # from a later step to an earlier one (backward direction)
    cut: bool = False                 # from the state a detach() took its values from, to the cut
    via: Unit | None = None           # a parameter's use by a step through an op before the steps
                                      # (step t's slice of the one input projection x W_ihᵀ)
    through: tuple = ()               # the pass-through units drawn straight through (cell level):
                                      # the head reads the tail's state via these (stack, concat, a projection)


@dataclass(eq=False)
class GraphModel:
    """A drawing's content, independent of DOT: frames, units, links, time order."""

    level: str
    walk: Walk
    tree: FrameTree
    units: list[Unit]
    links: list[Link]
    unit_of: dict[int, Unit]                       # node seq -> unit
    leaf_units: dict[int, Unit]                    # id(leaf) -> unit
    time_order: list[tuple[Frame, list]]           # per context: its step items in time order
    step_count: int                                # time steps seen (before elision)
    elided_steps: int
    through: dict[str, Unit] = field(default_factory=dict)  # uid -> pass-through unit, not drawn (cell level)

    def frames_drawn(self) -> set[int]:
        """Indexes of frames holding at least one unit (directly or below)."""
        drawn: set[int] = set()
        for unit in self.units:
            frame = unit.frame
            while frame is not None and frame.index not in drawn:
                drawn.add(frame.index)
                frame = frame.parent
        return drawn


def build(roots: Tensor | Sequence[Tensor], level: str = "op", steps: tuple[int, int] | None = None) -> GraphModel:
    """Walk the graph behind `roots` and decide what a drawing at `level` shows."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(repr(name) for name in LEVELS)}, got {level!r}")
    keep = _check_steps(steps)
    if level == "layer":
        keep = None  # each sequence is already one node
    graph = walk(roots)
    tree = FrameTree(graph.nodes)
    number_windows(graph, tree)
    return _Builder(graph, tree, level, keep).model()


def cut_origin(leaf: Tensor, present: set[int]) -> Node | None:
    """The drawn op a detached tensor's values came from: the op it was cut from, or when that
    op is not part of the drawing (a layer's stacked final state, which no loss used) the
    nearest drawn op that made it (the last step's state). None when nothing of it is drawn."""
    cut = cut_from(leaf)
    references = ((cut.node,) if hasattr(cut, "node") else ()) + getattr(cut, "inputs", ())
    starts = [node for node in (reference() for reference in references) if node is not None]
    return _first_back(starts, lambda node: node if node.seq in present else None)


def _first_back(starts: list[Node], found: Callable[[Node], object]):
    """Breadth-first back through the ops that made `starts`: the first non-None `found(node)`,
    nearest first; None when no op answers."""
    queue, seen = deque(starts), {node.seq for node in starts}
    while queue:
        node = queue.popleft()
        answer = found(node)
        if answer is not None:
            return answer
        for edge in node.edges:
            if type(edge) is Node and edge.seq not in seen:
                seen.add(edge.seq)
                queue.append(edge)
    return None


def number_windows(graph: Walk, tree: FrameTree) -> None:
    """Truncated BPTT drawn whole (`draw([loss_1, loss_2])`): a run of steps that starts from a
    cut of another run's final state continues that run's step numbers (window 2 of 4-step
    windows shows steps 4-7), so the windows read as one sequence cut in places."""
    present = {node.seq for node in graph.nodes}

    def context(node: Node) -> Frame | None:
        step = tree.frame_of(node).outer_step
        return None if step is None else step.parent

    def context_before(node: Node) -> Frame | None:
        """The steps a value came out of (a final state is stacked after the loop): the nearest
        step found going back through the ops that made it."""
        return _first_back([node], context)

    pairs = []
    for leaf in graph.leaves:
        origin = cut_origin(leaf, present)
        if origin is None:
            continue
        head = next((found for found in map(context, graph.leaf_consumers[id(leaf)]) if found is not None), None)
        tail = context_before(origin)
        if head is not None and tail is not None and head is not tail:
            pairs.append((tail, head))
    offsets: dict[int, int] = {}
    for tail, head in sorted(pairs, key=lambda pair: pair[1].index):  # earlier windows first
        start = tail.offset + offsets.get(tail.index, 0) + len(tree.ordered_steps(tail))
        offsets[head.index] = max(offsets.get(head.index, 0), start)
        head.offset = offsets[head.index]
        for step in tree.ordered_steps(head):
            step.offset = head.offset
            if step.shown_step != step.step:
                step.label = f"{step.family} step {step.shown_step}"


def _check_steps(steps) -> tuple[int, int] | None:
    if steps is None:
        return None
    if (not isinstance(steps, (tuple, list)) or len(steps) != 2
            or not all(isinstance(count, (int, np.integer)) and not isinstance(count, bool) for count in steps)):
        raise TypeError(f"steps must be a pair (first, last) of step counts to keep, got {steps!r}")
    first, last = int(steps[0]), int(steps[1])
    if first < 0 or last < 0:
        raise ValueError(f"steps=(first, last) must not be negative, got {steps!r}")
    return first, last


class _Builder:
    """Assigns every node to a unit for one level, then derives links and time order."""

    def __init__(self, graph: Walk, tree: FrameTree, level: str, keep: tuple[int, int] | None) -> None:
        self.graph, self.tree, self.level, self.keep = graph, tree, level, keep
        self.units: list[Unit] = []
        self.unit_of: dict[int, Unit] = {}
        self.groups: dict[tuple, Unit] = {}
        self.elided: dict[int, Unit] = {}          # id(step frame) -> the elided unit that covers it
        self.time_index: dict[int, tuple[Frame, int]] = {}   # id(step frame) -> (context, position)
        self.time_order: list[tuple[Frame, list]] = []
        self.step_count = 0
        self.elided_steps = 0
        self.through: dict[str, Unit] = {}         # uid -> pass-through unit (cell level), drawn straight through

    def model(self) -> GraphModel:
        self._order_time()
        self._assign_nodes()
        if self.level == "cell":
            self.through = self._pass_through()
        leaf_units = self._assign_leaves()
        links = self._links(leaf_units)
        units = [unit for unit in self.units if unit.uid not in self.through]
        return GraphModel(self.level, self.graph, self.tree, units, links, self.unit_of, leaf_units,
                          self.time_order, self.step_count, self.elided_steps, self.through)

    def _add(self, kind: str, frame: Frame, title: str, **extra) -> Unit:
        unit = Unit(f"{kind[0]}{len(self.units)}", kind, frame, title, **extra)
        self.units.append(unit)
        return unit

    # -- time: the step frames of every context, in order, with the elided middles --
    def _order_time(self) -> None:
        for context in self.tree.frames:
            ordered = self.tree.ordered_steps(context)
            if not ordered:
                continue
            self.step_count += len(ordered)
            items: list = list(ordered)
            if self.keep is not None and len(ordered) > sum(self.keep):
                first, last = self.keep
                middle = ordered[first:len(ordered) - last]
                self.elided_steps += len(middle)
                elided = self._add("elided", context, f"{len(middle)} steps elided",
                                   steps=[frame.step for frame in middle], context=context)
                for frame in middle:
                    self.elided[id(frame)] = elided
                items = ordered[:first] + [elided] + ordered[len(ordered) - last:]
            for position, item in enumerate(items):
                if isinstance(item, Unit):
                    item.time = position
                else:
                    self.time_index[id(item)] = (context, position)
            self.time_order.append((context, items))

    # -- nodes --
    def _assign_nodes(self) -> None:
        nodes = self.graph.nodes
        frame_of = self.tree.frame_of
        absorbed = self._absorbed_by_elision() if self.elided else {}
        after_steps = self._after_steps() if self.level == "cell" else {}
        for node in nodes:
            unit = absorbed.get(node.seq)
            if unit is None:
                frame = frame_of(node)
                outer = frame.outer_step
                if outer is not None and id(outer) in self.elided:
                    unit = self.elided[id(outer)]
                elif self.level == "op":
                    unit = self._op(node, frame)
                elif self.level == "cell":
                    unit = self._cell_unit(node, frame, after_steps)
                else:
                    unit = self._layer_unit(node, frame)
            unit.nodes.append(node)
            self.unit_of[node.seq] = unit
        for unit in self.units:
            if unit.kind == "group" and len(unit.nodes) == 1 and unit.context is None:
                unit.kind, unit.title = "op", unit.nodes[0].name  # a group of one op is just that op

    def _op(self, node: Node, frame: Frame) -> Unit:
        unit = self._add("op", frame, node.name)
        outer = frame.outer_step
        if outer is not None and id(outer) in self.time_index:
            unit.context, unit.time = self.time_index[id(outer)]
        return unit

    def _group(self, key: tuple, frame: Frame, title: str, **extra) -> Unit:
        unit = self.groups.get(key)
        if unit is None:
            unit = self.groups[key] = self._add("group", frame, title, **extra)
        return unit

    def _cell_unit(self, node: Node, frame: Frame, after_steps: dict[int, bool]) -> Unit:
        outer = frame.outer_step
        if outer is not None:
            context, position = self.time_index.get(id(outer), (outer.parent, None))
            return self._group(("step", id(outer)), outer.parent, outer.label, steps=[outer.step],
                               context=context, time=position)
        if frame.stepless_root is not None:
            root = frame.stepless_root
            return self._group(("scope", id(root)), root.parent, root.label)
        if frame.parent is None:
            return self._op(node, frame)
        after = after_steps.get(node.seq, False)
        return self._group(("own", id(frame), after), frame, "after the steps" if after else "before the steps")

    def _layer_unit(self, node: Node, frame: Frame) -> Unit:
        context = next((candidate for candidate in frame.chain()[1:] if candidate.step_children), None)
        if context is not None:
            key = ("context", id(context))
            if key not in self.groups:
                steps = [step.step for step in self.tree.ordered_steps(context)]
                self._group(key, context.parent, context.label, steps=steps)
            return self.groups[key]
        outer = frame.outer_step
        if outer is not None:  # steps recorded at the top level: one unit per family of steps
            key = ("family", outer.family)
            if key not in self.groups:
                family = [step.step for step in self.tree.ordered_steps(outer.parent) if step.family == outer.family]
                self._group(key, outer.parent, outer.family, steps=family)
            return self.groups[key]
        if frame.stepless_root is not None:
            root = frame.stepless_root
            return self._group(("scope", id(root)), root.parent, root.label)
        if frame.parent is None:
            return self._op(node, frame)
        return self._group(("own", id(frame)), frame, "outside the steps")

    def _after_steps(self) -> dict[int, bool]:
        """For ops directly in a frame that holds steps: do they use that frame's steps' results?
        (An input projection comes before the steps, the stacked output after.)"""
        after: dict[int, bool] = {}
        frame_of = self.tree.frame_of
        for node in self.graph.nodes:
            frame = frame_of(node)
            if frame.outer_step is not None or frame.parent is None or not frame.has_steps:
                continue
            for edge in node.edges:
                if type(edge) is not Node:
                    continue
                source = frame_of(edge)
                if (source is frame and after.get(edge.seq)) or _below(source.outer_step, frame):
                    after[node.seq] = True
                    break
        return after

    def _absorbed_by_elision(self) -> dict[int, Unit]:
        """Ops outside any step that only feed one elided middle (a per-step slice of the input)
        or only come from it (a per-step loss term) are drawn inside it, so steps=(a, b) stays
        small at every level."""
        frame_of = self.tree.frame_of
        absorbed: dict[int, Unit] = {}

        def elided_unit(node: Node) -> Unit | None:
            unit = absorbed.get(node.seq)
            if unit is not None:
                return unit
            outer = frame_of(node).outer_step
            return None if outer is None else self.elided.get(id(outer))

        nodes = self.graph.nodes
        for node in reversed(nodes):  # consumers first
            if frame_of(node).outer_step is not None:
                continue
            users = self.graph.consumers.get(node.seq)
            if users:
                targets = {id(unit): unit for unit in map(elided_unit, users)}
                if len(targets) == 1 and None not in targets.values():
                    absorbed[node.seq] = next(iter(targets.values()))
        for node in nodes:  # producers first
            if node.seq in absorbed or frame_of(node).outer_step is not None:
                continue
            sources = [edge for edge in node.edges if type(edge) is Node]
            if sources:
                targets = {id(unit): unit for unit in map(elided_unit, sources)}
                if len(targets) == 1 and None not in targets.values():
                    absorbed[node.seq] = next(iter(targets.values()))
        return absorbed

    def _pass_through(self) -> dict[str, Unit]:
        """Cell level: the units outside the steps that only carry steps' states on to other steps
        (stacked, concatenated, reshaped, transposed or projected by parameters, as an encoder's
        outputs become an attention's keys). They are drawn straight through: each step that reads
        them gets an edge from every step they were made of (the fan-in of attention), instead of
        one edge from a box that hides where its values came from. A unit qualifies when all its
        ops are such moves or projections, every input it takes from outside is a parameter or
        comes from a step or another such unit, and everything it feeds is a step or such a unit;
        a per-step slice (getitem: the next layer's input projection) or anything a loss reads
        keeps its box."""
        unit_of, consumers = self.unit_of, self.graph.consumers
        candidates: dict[str, tuple[Unit, list[Unit], list[Unit]]] = {}
        for unit in self.units:
            if unit.kind not in ("op", "group") or unit.context is not None or not unit.nodes:
                continue
            if not all(node.name in PASS_THROUGH_OPS and all(
                    edge is None or type(edge) is Node or isinstance(edge, Parameter) for edge in node.edges)
                       for node in unit.nodes):
                continue
            inputs = [unit_of[edge.seq] for node in unit.nodes for edge in node.edges
                      if type(edge) is Node and unit_of[edge.seq] is not unit]
            outputs = [unit_of[user.seq] for node in unit.nodes for user in consumers.get(node.seq, ())
                       if unit_of[user.seq] is not unit]
            if inputs and outputs:
                candidates[unit.uid] = (unit, inputs, outputs)
        changed = True
        while changed:  # keep the largest set closed under the rule (few units: a handful of rounds)
            changed = False
            for uid, (_, inputs, outputs) in list(candidates.items()):
                if not all(other.context is not None or other.uid in candidates for other in inputs + outputs):
                    del candidates[uid]
                    changed = True
        return {uid: entry[0] for uid, entry in candidates.items()}

    def _through_links(self) -> list[Link]:
        """Each step that reads a pass-through unit gets an edge from every state that went into it."""
        unit_of, consumers, through = self.unit_of, self.graph.consumers, self.through
        direct: dict[str, list[Node]] = {uid: [] for uid in through}   # states read from outside
        before: dict[str, list[str]] = {uid: [] for uid in through}    # pass-through units read
        readers: dict[str, list[Unit]] = {uid: [] for uid in through}  # units that read it
        for node in self.graph.nodes:
            unit = unit_of[node.seq]
            if unit.uid not in through:
                continue
            for edge in node.edges:
                if type(edge) is Node and unit_of[edge.seq] is not unit:
                    tail = unit_of[edge.seq]
                    (before[unit.uid].append(tail.uid) if tail.uid in through else direct[unit.uid].append(edge))
            for user in consumers.get(node.seq, ()):
                head = unit_of[user.seq]
                if head.uid not in through and head not in readers[unit.uid]:
                    readers[unit.uid].append(head)
        # uid -> [(state, the pass-through units on its way)], resolved without recursion (a DAG)
        reaches: dict[str, list[tuple[Node, tuple]]] = {}
        for uid in through:
            stack = [uid]
            while stack:
                current = stack[-1]
                waiting = [other for other in before[current] if other not in reaches]
                if waiting:
                    stack.extend(waiting)
                    continue
                stack.pop()
                if current in reaches:
                    continue
                found = {source.seq: (source, (through[current],)) for source in direct[current]}
                for other in before[current]:
                    for source, path in reaches[other]:
                        found.setdefault(source.seq, (source, path + (through[current],)))
                reaches[current] = list(found.values())
        links: dict[tuple, Link] = {}
        for uid in through:
            for head in readers[uid]:
                for source, path in reaches[uid]:
                    tail = unit_of[source.seq]
                    key = (tail.uid, head.uid, source.role)
                    link = links.get(key)
                    if link is None:
                        link = links[key] = Link(tail, head, source.role, through=path)
                    if source not in link.sources:
                        link.sources.append(source)
        return sorted(links.values(), key=lambda link: (link.head.uid, link.tail.uid))

    # -- leaves --
    def _assign_leaves(self) -> dict[int, Unit]:
        leaf_units: dict[int, Unit] = {}
        initial = self._initial_states()
        for leaf in self.graph.leaves:
            if cut_from(leaf) is not None:
                kind, title = "cut", "detached"
            elif isinstance(leaf, Parameter):
                kind, title = "parameter", leaf.name or "parameter"
            elif id(leaf) in initial and not leaf.name:
                kind, title = "data", f"{ROLE_SYMBOLS.get(initial[id(leaf)], initial[id(leaf)])}_0"
            else:
                kind, title = "data", leaf.name or ("zeros" if not np.any(leaf.data) else "data")
            home = _common_frame([self.unit_of[node.seq].frame for node in self.graph.leaf_consumers[id(leaf)]])
            leaf_units[id(leaf)] = self._add(kind, home, title, leaf=leaf)
        return leaf_units

    def _initial_states(self) -> dict[int, str]:
        """id(leaf) -> role of the leaves that are a sequence's initial state (h_0, c_0): the
        leaf the first step reads where the second step reads the first step's state of that
        role (every step is the same computation, so the same op at the same input position)."""
        in_step: dict[int, list[Node]] = {}
        frame_of = self.tree.frame_of
        for node in self.graph.nodes:
            outer = frame_of(node).outer_step
            if outer is not None:
                in_step.setdefault(id(outer), []).append(node)
        roles: dict[int, str] = {}
        for context in self.tree.frames:
            ordered = self.tree.ordered_steps(context)
            if len(ordered) < 2:
                continue
            first, second = in_step.get(id(ordered[0]), []), in_step.get(id(ordered[1]), [])
            for node, twin in zip(first, second):
                if node.name != twin.name or len(node.edges) != len(twin.edges):
                    break  # not the same computation: say nothing
                for edge, other in zip(node.edges, twin.edges):
                    if (edge is not None and type(edge) is not Node and type(other) is Node
                            and other.role is not None and other is not edge):
                        roles.setdefault(id(edge), other.role)
        return roles

    # -- links --
    def _links(self, leaf_units: dict[int, Unit]) -> list[Link]:
        links: dict[tuple, Link] = {}
        unit_of = self.unit_of
        for node in self.graph.nodes:
            head = unit_of[node.seq]
            for edge in node.edges:
                if type(edge) is Node:
                    tail, role = unit_of[edge.seq], edge.role
                elif edge is not None:
                    tail, role = leaf_units[id(edge)], None
                else:
                    continue
                if tail is head or tail.uid in self.through or head.uid in self.through:
                    continue  # drawn straight through (`_through_links`)
                key = (tail.uid, head.uid, role)
                link = links.get(key)
                if link is None:
                    link = links[key] = Link(tail, head, role)
                    if (tail.context is not None and tail.context is head.context
                            and tail.time is not None and head.time is not None and tail.time != head.time):
                        link.recurrent = True
                        link.against_time = tail.time > head.time
                if not link.sources or link.sources[-1] is not edge:
                    link.sources.append(edge)
        return (list(links.values()) + self._through_links() + self._slice_links(leaf_units)
                + self._cut_links(leaf_units))

    def _cut_links(self, leaf_units: dict[int, Unit]) -> list[Link]:
        """An edge from each ✂ to the state it cut, when that state is in the drawing."""
        links = []
        for leaf in self.graph.leaves:
            unit = leaf_units[id(leaf)]
            origin = cut_origin(leaf, self.unit_of.keys()) if unit.kind == "cut" else None
            if origin is not None:
                links.append(Link(self.unit_of[origin.seq], unit, None, cut=True))
        return links

    def _slice_links(self, leaf_units: dict[int, Unit]) -> list[Link]:
        """Parameters every step uses through one op before the steps (the input projection
        x W_ihᵀ + b for all steps in one matmul): an edge from the parameter to each step that
        reads its slice, so W_ih fans out over time like W_hh. Followed through ops outside the
        steps only; a parameter also used inside a step (W_hh) has its own edges already."""
        frame_of, unit_of, consumers = self.tree.frame_of, self.unit_of, self.graph.consumers
        links: list[Link] = []
        for leaf in self.graph.leaves:
            unit = leaf_units[id(leaf)]
            users = self.graph.leaf_consumers[id(leaf)]
            if unit.kind != "parameter" or any(frame_of(user).outer_step is not None for user in users):
                continue
            via = unit_of[users[0].seq]
            hidden = via.uid in self.through  # its op is drawn straight through: the fan is its only edge
            if leaf.ndim < 2 and not hidden:  # weights: a bias's fan would only repeat it
                continue
            heads: dict[str, Unit] = {}
            stack, seen = list(users), {user.seq for user in users}
            while stack:
                node = stack.pop()
                for user in consumers.get(node.seq, ()):
                    if frame_of(user).outer_step is not None:
                        head = unit_of[user.seq]
                        if head.kind != "elided" and head is not via:
                            heads.setdefault(head.uid, head)
                    elif user.seq not in seen:
                        seen.add(user.seq)
                        stack.append(user)
            if len(heads) > 1 or hidden:
                links.extend(Link(unit, head, None, via=via) for head in heads.values())
        return links


def _common_frame(frames: list[Frame]) -> Frame:
    """The innermost frame holding all of `frames`: a layer's weights are drawn inside its box,
    weights shared across layers at the top level."""
    common = frames[0]
    depth = len(common.chain())
    for frame in frames[1:]:
        other, other_depth = frame, len(frame.chain())
        while other_depth > depth:
            other, other_depth = other.parent, other_depth - 1
        while depth > other_depth:
            common, depth = common.parent, depth - 1
        while common is not other:
            common, other, depth = common.parent, other.parent, depth - 1
    return common


def _below(frame: Frame | None, ancestor: Frame) -> bool:
    """Is `frame` inside `ancestor` (strictly)?"""
    while frame is not None:
        frame = frame.parent
        if frame is ancestor:
            return True
    return False


# --- gradients as the drawing shows them ---------------------------------------------------
def leaf_grad_norm(leaf: Tensor) -> float | None:
    """||leaf.grad|| (None when backward has not reached it)."""
    grad = leaf.grad
    if grad is None:
        return None
    return l2_norm(grad.data if isinstance(grad, Tensor) else np.asarray(grad))


def has_gradients(model: GraphModel) -> bool:
    """Did a backward pass recorded with `seqgrad.viz.record()` reach this graph?"""
    return any(node_grad_norm(node) is not None for node in model.walk.nodes)
