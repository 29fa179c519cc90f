"""The tape: one `Node` per recorded op, numbered in creation order, plus the
switches that decide what gets recorded (grad mode, scopes, anomaly checks).

Creation order is already a topological order (an op can only use tensors that
exist), so backward never needs a recursive sort: it walks sequence numbers
downwards.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterator
from typing import Any

# Sequence numbers: the tape's order. A node made later never feeds one made earlier.
next_sequence_number = itertools.count().__next__


class _Recording:
    """Global recording switches, read on every op (attribute reads are cheap)."""

    __slots__ = ("grad_enabled", "scope", "anomaly")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scope: Scope | None = None
        self.anomaly = False


RECORDING = _Recording()


class Scope:
    """A label on what gets recorded: `Scope("lstm", {"layer": 0, "step": 3}, parent)`.

    Scopes are immutable and linked to their parent, so a node keeps its whole
    context by holding one reference.
    """

    __slots__ = ("name", "labels", "parent")

    def __init__(self, name: str, labels: dict[str, Any], parent: Scope | None) -> None:
        self.name = name
        self.labels = labels
        self.parent = parent

    def chain(self) -> list[Scope]:
        """This scope and its ancestors, outermost first (no recursion)."""
        scopes: list[Scope] = []
        scope: Scope | None = self
        while scope is not None:
            scopes.append(scope)
            scope = scope.parent
        scopes.reverse()
        return scopes

    def get(self, key: str, default: Any = None) -> Any:
        """The innermost value of label `key` (or the innermost name for key "name")."""
        scope: Scope | None = self
        while scope is not None:
            if key in scope.labels:
                return scope.labels[key]
            scope = scope.parent
        return default

    def describe(self) -> str:
        """Human-readable context, e.g. 'lstm layer 0 direction forward, step 57'."""
        parts = []
        for scope in self.chain():
            words = [scope.name] if scope.name else []
            words += [f"{key} {value}" for key, value in scope.labels.items()]
            if words:
                parts.append(" ".join(words))
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Scope({self.describe()!r})"


def scope(name: str = "", **labels: Any) -> _ScopeEntry:
    """Label every op recorded inside: `with seqgrad.scope("lstm", layer=0, step=t):`.

    Scopes nest; nodes keep the innermost scope, which links to the outer ones.
    """
    return _ScopeEntry(name, labels)


class _ScopeEntry:
    """The context manager behind `scope()`: a plain class, since a recurrent layer enters one
    per time step and a generator-based context manager costs several times more."""

    __slots__ = ("name", "labels", "outer")

    def __init__(self, name: str, labels: dict[str, Any]) -> None:
        self.name, self.labels, self.outer = name, labels, None

    def __enter__(self) -> Scope:
        self.outer = RECORDING.scope
        inner = RECORDING.scope = Scope(self.name, self.labels, self.outer)
        return inner

    def __exit__(self, *exc_info) -> bool:
        RECORDING.scope = self.outer
        return False


class gc_paused:  # noqa: N801  (used like a function: `with gc_paused():`)
    """Pause Python's cyclic garbage collector while a long graph is built or walked.

    Every node and tensor is a container the collector tracks, so on a 10,000-step unroll its
    periodic full passes rescan hundreds of thousands of them (measured: 40% of the time, and
    growing with T). The tape makes no reference cycles (nodes only point to older nodes), so
    reference counting frees everything as usual; the collector resumes on exit.
    """

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        if self.was_enabled:
            gc.disable()

    def __exit__(self, *exc_info) -> bool:
        if self.was_enabled:
            gc.enable()
        return False


def current_scope() -> Scope | None:
    """The scope ops are being recorded in now (None at top level)."""
    return RECORDING.scope


@contextlib.contextmanager
def _switched(setting: str, value: bool) -> Iterator[None]:
    """Set one of RECORDING's switches inside a `with` block, restoring it on the way out."""
    previous = getattr(RECORDING, setting)
    setattr(RECORDING, setting, value)
    try:
        yield
    finally:
        setattr(RECORDING, setting, previous)


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Record nothing inside: results do not require grad (inference, optimizer steps)."""
    return _switched("grad_enabled", False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Record again inside a `no_grad` block (used by double backward)."""
    return _switched("grad_enabled", True)


def is_grad_enabled() -> bool:
    return RECORDING.grad_enabled


def detect_anomaly() -> contextlib.AbstractContextManager[None]:
    """Raise at the first op whose output or gradient is not finite, naming op and scope."""
    return _switched("anomaly", True)


class Node:
    """One recorded op application: what ran, on what, and what backward needs.

    `edges[i]` says where the gradient of input i goes: the `Node` that produced
    it, the leaf `Tensor` itself, or None for a constant. `xs` and `out` are the
    saved arrays the rule asked for (`in_shapes` when it only needs shapes); they are dropped
    after backward uses them, while the structure (op, edges, shape, scope, role) stays.
    """

    __slots__ = (
        "op", "edges", "xs", "out", "in_shapes", "params", "needs", "shape", "dtype",
        "scope", "seq", "grad", "retained", "freed", "role", "guard",
        "__weakref__",
    )

    def __init__(self, op, edges, xs, out, in_shapes, params, needs, shape, dtype):
        self.op = op
        self.edges = edges
        self.xs = xs
        self.out = out
        self.in_shapes = in_shapes
        self.params = params
        self.needs = needs
        self.shape = shape
        self.dtype = dtype
        self.scope = RECORDING.scope
        self.seq = next_sequence_number()
        self.grad = None          # gradient being accumulated during backward (see lazy_grads)
        self.retained = None      # weakref to the output Tensor, after retain_grad()
        self.freed = False
        self.role = None          # "hidden", "cell", ...: a state's name, set by `mark_state`
        self.guard = None         # what protects its saved arrays from in-place edits (autodiff/saved.py)

    @property
    def name(self) -> str:
        return self.op.name

    def parents(self) -> list[Node]:
        """The nodes whose outputs this node consumed."""
        return [edge for edge in self.edges if type(edge) is Node]

    def __repr__(self) -> str:
        where = f" in {self.scope.describe()}" if self.scope is not None else ""
        return f"<Node {self.op.name} #{self.seq} {self.shape}{where}>"


def describe_scope(scope: Scope | None) -> str:
    """' (lstm layer 0, step 57)' or '' at top level: a suffix for messages."""
    if scope is None:
        return ""
    text = scope.describe()
    return f" ({text})" if text else ""
