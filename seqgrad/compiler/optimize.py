"""Rewrites of an equation list that keep its meaning: merge common subexpressions, drop
what no output needs, and turn zero-buffers-plus-slices (a slice's gradient, scattered
and summed) into one `assemble` of its parts."""

from __future__ import annotations

import numpy as np

from ..ops.primitive import primitive as declare_primitive
from .program import Const, Equation, Var


def _key(eq: Equation):
    refs = tuple(("v", id(i)) if isinstance(i, Var) else ("c", _hashable(i.value)) for i in eq.inputs)
    return eq.op, refs, tuple(sorted((k, _hashable(v)) for k, v in eq.params.items()))


def _hashable(value):
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return (type(value).__name__, value)


def merge_common(equations: list[Equation], keep: set[int] = frozenset()) -> list[Equation]:
    """Equations applying the same op to the same inputs and params compute the same value once."""
    seen: dict = {}
    replace: dict[int, Var] = {}
    out = []
    for eq in equations:
        eq = Equation(eq.op, tuple(replace.get(id(i), i) if isinstance(i, Var) else i for i in eq.inputs),
                      eq.params, eq.output)
        key = _key(eq)
        if key in seen and id(eq.output) not in keep:
            replace[id(eq.output)] = seen[key]
            continue
        seen.setdefault(key, eq.output)
        out.append(eq)
    return out, replace


def prune(equations: list[Equation], needed: list[Var]) -> list[Equation]:
    """Only the equations some needed Var depends on."""
    live = {id(v) for v in needed}
    kept = []
    for eq in reversed(equations):
        if id(eq.output) in live:
            kept.append(eq)
            live.update(id(i) for i in eq.inputs if isinstance(i, Var))
    kept.reverse()
    return kept


def _assemble_forward(*values, shape, indices, base=False):
    out = np.array(values[0], copy=True) if base else np.zeros(shape, dtype=np.result_type(*values))
    for index, value in zip(indices, values[1:] if base else values):
        out[index] += value
    return out


def _assemble_vjp(ctx, g):
    parts = tuple(g[index] for index in ctx.params["indices"])
    return ((g,) + parts) if ctx.params.get("base") else parts


ASSEMBLE = declare_primitive(
    "assemble", _assemble_forward, _assemble_vjp, register=False,
    doc="zeros(shape) (or a copy of a base value) with each value added at its (basic) index: several "
        "scatters summed, in one buffer")


def _basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (slice, int)) for p in parts)


def assemble_scatters(equations: list[Equation], uses: dict[int, int]) -> list[Equation]:
    """`add(scatter(a, i), scatter(b, j))` (nested) becomes `assemble(a, b; indices=(i, j))` when
    each scatter is used once and the indices are basic."""
    producer = {}
    out = []
    for eq in equations:
        if eq.op.name == "scatter" and eq.params.get("unique") and _basic(eq.params["index"]):
            eq = Equation(ASSEMBLE, eq.inputs, {"shape": tuple(eq.params["shape"]),
                                                 "indices": (eq.params["index"],)}, eq.output)
        elif eq.op.name == "add" and all(isinstance(i, Var) for i in eq.inputs):
            a, b = (producer.get(id(i)) for i in eq.inputs)
            if a is not None and b is not None and a.op is ASSEMBLE and b.op is ASSEMBLE \
                    and not a.params.get("base") and not b.params.get("base") \
                    and uses.get(id(a.output)) == 1 and uses.get(id(b.output)) == 1 \
                    and a.params["shape"] == b.params["shape"] == eq.output.shape \
                    and a.output.dtype == b.output.dtype == eq.output.dtype:
                out.remove(a)
                out.remove(b)
                eq = Equation(ASSEMBLE, a.inputs + b.inputs,
                              {"shape": eq.output.shape, "indices": a.params["indices"] + b.params["indices"]},
                              eq.output)
            elif a is not None or b is not None:
                eq = _onto_base(eq, a, b, producer, uses, out)
        producer[id(eq.output)] = eq
        out.append(eq)
    return out


def _onto_base(eq: Equation, a, b, producer: dict, uses: dict, out: list) -> Equation:
    """`add(x, assemble(parts))` becomes `assemble(x; parts)` (x written in place, the parts added
    into their slices) when x is made by a plain op used only here and the parts do not overlap."""
    from .emit import into, is_view
    assembled, base = (a, eq.inputs[1]) if a is not None and a.op is ASSEMBLE else (b, eq.inputs[0])
    if assembled is None or assembled.op is not ASSEMBLE or assembled.params.get("base") \
            or uses.get(id(assembled.output)) != 1 or uses.get(id(base)) != 1:
        return eq
    made = producer.get(id(base))
    if made is None or is_view(made) or made.op is ASSEMBLE or into(made, ["a"] * len(made.inputs), "o") is None:
        return eq
    if base.shape != eq.output.shape or base.dtype != eq.output.dtype or assembled.output.shape != eq.output.shape:
        return eq
    covered = np.zeros(eq.output.shape, dtype=bool)
    for index in assembled.params["indices"]:
        if covered[index].any():
            return eq
        covered[index] = True
    out.remove(assembled)
    return Equation(ASSEMBLE, (base,) + assembled.inputs,
                    {"shape": eq.output.shape, "indices": assembled.params["indices"], "base": True}, eq.output)


def count_uses(equations: list[Equation], outputs: list[Var] = ()) -> dict[int, int]:
    uses: dict[int, int] = {}
    for eq in equations:
        for i in eq.inputs:
            if isinstance(i, Var):
                uses[id(i)] = uses.get(id(i), 0) + 1
    for v in outputs:
        uses[id(v)] = uses.get(id(v), 0) + 1
    return uses


__all__ = ["merge_common", "prune", "assemble_scatters", "count_uses", "ASSEMBLE", "Const"]


def subtract_negations(equations: list[Equation], uses: dict[int, int]) -> list[Equation]:
    """`add(a, neg(b))` (a rule's -g meeting a sum) becomes `sub(a, b)`: one op instead of two, the
    same IEEE result (a + (-b) is exactly a - b)."""
    from ..ops import sub
    producer = {id(eq.output): eq for eq in equations}
    dropped: set[int] = set()
    out = []
    for eq in equations:
        if eq.op.name == "add" and all(isinstance(i, Var) for i in eq.inputs):
            for position in (1, 0):
                negated = producer.get(id(eq.inputs[position]))
                if negated is not None and negated.op.name == "neg" and uses.get(id(negated.output)) == 1 \
                        and isinstance(negated.inputs[0], Var) and negated.output.shape == eq.output.shape:
                    other = eq.inputs[1 - position]
                    eq = Equation(sub, (other, negated.inputs[0]), {}, eq.output)
                    dropped.add(id(negated))
                    break
        out.append(eq)
    return [eq for eq in out if id(eq) not in dropped]
