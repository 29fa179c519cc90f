"""Column blocks: a step value that is only ever read as column slices (a GRU's (B, 3H) gate
pre-activations, read gate by gate) is computed as one value per slice instead, before the
backward is derived, so every gate is its own contiguous (B, H) array in both loops; and when
the step reads its projected input gate by gate too, the projection writes it block-major.

Why (measured, GRU at S1 = B 32, H 128, float32, one thread): a column slice of a (B, 3H) row
is strided, and numpy's ufuncs on a strided (32, 128) operand cost 4-7 µs against 1.1-1.6 µs
contiguous; the cell's one sigmoid over all three blocks also squashes a block nobody reads.
The GRU layer's forward + BPTT went from 1.15x the hand-written numpy baseline's time to 1.07x
with the split, and its whole training step from 1.13x to 1.08x with the block-major input.

    h_all = linear(h, W, b); squashed = sigmoid(x + h_all); r = squashed[:, :H]; z = squashed[:, H:2H]
becomes
    h_all_reset_gate = linear(h, W[:H], b[:H]); r = sigmoid(x[:, :H] + h_all_reset_gate); ... (z alike)

The rewrite only re-slices operands of ops that act column by column (elementwise ops, a
linear's output rows), so each value is the same number as before (the linear's dot products
run over the same row of W). Columns no slice reads are not computed at all. At batch 1 a row
is contiguous anyway: there only that narrowing is done (one value over the columns read).
"""

from __future__ import annotations

import numpy as np

from ..ops import add, getitem, matmul, reshape, transpose
from .emit import is_column_slice
from .optimize import prune
from .program import Const, Equation, StepProgram, Var

# Ops whose output column j depends only on column j of each (B, F)-shaped operand.
ELEMENTWISE = frozenset({"add", "sub", "mul", "div", "neg", "tanh", "exp", "log", "sqrt", "abs", "sigmoid", "relu",
                         "sin", "cos", "log1p", "expm1", "pow"})
# Split into one value per slice from this many rows up; below it (batch 1) only narrow.
SPLIT_MIN_ROWS = 2


def _columns(eq: Equation):
    """(start, stop) when `eq` is `v[:, start:stop]` of a 2-D value v, else None."""
    if eq.op.name != "getitem" or not isinstance(eq.inputs[0], Var) or len(eq.inputs[0].shape) != 2:
        return None
    index = eq.params["index"]
    if not is_column_slice(index):
        return None
    start, stop, _ = index[1].indices(eq.inputs[0].shape[1])
    return (start, stop) if start < stop else None


def _rows(eq: Equation):
    """The first row when `eq` is `v[start:stop]` (a plain slice of the leading axis), else None."""
    if eq.op.name != "getitem":
        return None
    index = eq.params["index"]
    if isinstance(index, slice) and index.step in (None, 1) and isinstance(eq.inputs[0], Var):
        return index.indices(eq.inputs[0].shape[0])[0]
    return None


class _Rewriter:
    """One rewrite at a time over a step program's equations (see `rewrite_one`), with fresh names."""

    def __init__(self, program: StepProgram, split: bool, block_names: tuple) -> None:
        self.program, self.split, self.block_names = program, split, block_names
        self.names = _taken_names(program)
        self.block_of: dict[int, str] = {}  # id(var) -> the block name it was made for
        self.renames: dict[Var, str] = {}  # applied only if this rewrite is the one kept
        self.producer = {id(eq.output): eq for eq in program.equations}

    def fresh(self, base: str) -> str:
        return _fresh(base, self.names)

    def block_name(self, consumer: Var, start: int, stop: int, width: int) -> str:
        """The gate's name when the slice is gate k of a (B, gates * H) value, else the slice's own name."""
        known = self.block_of.get(id(consumer))
        if known is not None:
            return known
        return _gate_name(start, stop, width, self.block_names) or consumer.name

    def rewrite_one(self, equations: list[Equation]):
        """Split (or narrow) the last value that can be; the new equation list, or None when none can."""
        outputs = {id(v) for v in self.program.outputs}
        consumers: dict[int, list[Equation]] = {}
        for eq in equations:
            for ref in eq.inputs:
                if isinstance(ref, Var):
                    consumers.setdefault(id(ref), []).append(eq)
        for position in range(len(equations) - 1, -1, -1):
            eq = equations[position]
            if len(eq.output.shape) != 2 or id(eq.output) in outputs or not self.splittable(eq):
                continue
            readers = consumers.get(id(eq.output), [])
            ranges = [_columns(reader) for reader in readers]
            if not readers or any(r is None for r in ranges):
                continue
            ordered = sorted(zip(ranges, readers), key=lambda pair: pair[0])
            disjoint = all(a[0][1] <= b[0][0] for a, b in zip(ordered, ordered[1:]))
            if disjoint and (self.split or len(readers) == 1):
                rewritten = self.split_into_slices(equations, position, ordered)
            else:
                rewritten = self.narrow(equations, position, ordered)
            if rewritten is not None:
                return rewritten
        return None

    def split_into_slices(self, equations: list, position: int, ordered: list):
        """equations[position] computed once per slice its readers take; each piece becomes the
        reader's own value (the reader's getitem is gone). None when one slice reads it all."""
        eq = equations[position]
        out, width = eq.output, eq.output.shape[1]
        if [columns for columns, _ in ordered] == [(0, width)]:
            return None
        made = []
        for (start, stop), reader in ordered:
            block = self.block_name(reader.output, start, stop, width)
            if reader.output.name.startswith("getitem_") and block != reader.output.name:  # only an op's name
                self.renames[reader.output] = self.fresh(f"{out.name}_{block}")
            made += self.piece(eq, start, stop, reader.output, block)
        replaced = {id(reader) for _, reader in ordered}
        return [e for e in equations[:position] if id(e) not in replaced] + made + \
            [e for e in equations[position + 1:] if id(e) not in replaced]

    def narrow(self, equations: list, position: int, ordered: list):
        """equations[position] computed over the columns its readers take (first to last), the
        readers' slices re-based onto it. None when they take every column."""
        eq = equations[position]
        out = eq.output
        start, stop = min(columns[0] for columns, _ in ordered), max(columns[1] for columns, _ in ordered)
        if (start, stop) == (0, out.shape[1]):
            return None
        narrow = Var(out.name, (out.shape[0], stop - start), out.dtype)  # out itself is gone
        rebased = {id(reader): Equation(reader.op, (narrow,), {"index": (slice(None), slice(a - start, b - start))},
                                        reader.output) for (a, b), reader in ordered}
        self.producer.update({id(e.output): e for e in rebased.values()})
        equations = [rebased.get(id(e), e) for e in equations]
        return equations[:position] + self.piece(eq, start, stop, narrow, f"cols{start}_{stop}") + \
            equations[position + 1:]

    def splittable(self, eq: Equation) -> bool:
        width = eq.output.shape[1]
        if eq.op.name in ELEMENTWISE:
            return all(self.sliceable(ref, eq.output.shape) for ref in eq.inputs)
        if eq.op.name == "linear":  # x Wᵀ (+ b): output columns [a, b) need only W's rows [a, b)
            x, weight = eq.inputs[0], eq.inputs[1]
            return isinstance(x, Var) and len(x.shape) == 2 and isinstance(weight, Var) \
                and weight.shape == (width, x.shape[1]) \
                and all(self.sliceable(ref, eq.output.shape) for ref in eq.inputs[2:])
        return False

    @staticmethod
    def sliceable(ref, shape: tuple) -> bool:
        """Can this operand be cut to columns [a, b) of an op with output `shape` (B, F)?"""
        ref_shape = np.shape(ref.value) if isinstance(ref, Const) else ref.shape
        if len(ref_shape) == 0 or ref_shape[-1] == 1:
            return True  # a scalar or one column, broadcast: the same for every piece
        return ref_shape[-1] == shape[1] and (len(ref_shape) == 1 or ref_shape[0] in (1, shape[0]))

    def cut(self, ref, start: int, stop: int, block: str):
        """The operand's columns [start, stop) (a new getitem, composed with one it already is)."""
        if isinstance(ref, Const):
            value = ref.value
            if np.ndim(value) == 0 or np.shape(value)[-1] == 1:
                return ref, []
            return Const(np.ascontiguousarray(np.asarray(value)[..., start:stop])), []
        if len(ref.shape) == 0 or ref.shape[-1] == 1:
            return ref, []
        base, offset = ref, 0
        made_by = self.producer.get(id(ref))
        if made_by is not None and len(ref.shape) == 2 and _columns(made_by) is not None:
            base, offset = made_by.inputs[0], _columns(made_by)[0]
        elif made_by is not None and len(ref.shape) == 1 and _rows(made_by) is not None:
            base, offset = made_by.inputs[0], _rows(made_by)
        index = slice(offset + start, offset + stop)
        index = (slice(None), index) if len(ref.shape) == 2 else index
        shape = ref.shape[:-1] + (stop - start,)
        var = Var(self.fresh(f"{base.name}_{block}"), shape, ref.dtype)
        self.block_of[id(var)] = block
        return var, [Equation(getitem, (base,), {"index": index}, var)]

    def piece(self, eq: Equation, start: int, stop: int, target: Var, block: str) -> list[Equation]:
        """`eq` restricted to output columns [start, stop), written to `target`."""
        made, inputs = [], []
        for position, ref in enumerate(eq.inputs):
            if eq.op.name == "linear" and position == 0:
                inputs.append(ref)
                continue
            if eq.op.name == "linear" and position == 1:  # the weight's rows [start, stop)
                base, offset = ref, 0
                made_by = self.producer.get(id(ref))
                if made_by is not None and _rows(made_by) is not None:
                    base, offset = made_by.inputs[0], _rows(made_by)
                var = Var(self.fresh(f"{base.name}_{block}"), (stop - start,) + ref.shape[1:], ref.dtype)
                made.append(Equation(getitem, (base,), {"index": slice(offset + start, offset + stop)}, var))
                inputs.append(var)
                continue
            cut, extra = self.cut(ref, start, stop, block)
            made += extra
            inputs.append(cut)
        self.block_of.setdefault(id(target), block)
        made.append(Equation(eq.op, tuple(inputs), dict(eq.params), target))
        for e in made:
            self.producer[id(e.output)] = e
        return made


def _rewritten(program: StepProgram, split: bool, block_names: tuple) -> tuple[list[Equation], dict]:
    """(the rewritten equations, the new names they give existing values: applied if kept)."""
    rewriter = _Rewriter(program, split, block_names)
    equations = list(program.equations)
    while (rewritten := rewriter.rewrite_one(equations)) is not None:
        equations = rewritten
    return prune(equations, list(program.outputs)), rewriter.renames  # prune: slices a composed one replaced


def _name_gate_slices(program: StepProgram, block_names: tuple) -> None:
    """A slice the trace named only after its op (`getitem_h_all`, `getitem_bias_hh`) that is gate k
    of a (B, gates * H) value or of a weight's or bias's gates * H rows is renamed after the gate
    (`h_all_candidate`, `bias_hh_candidate`), as the split pieces are."""
    if not block_names:
        return
    names = _taken_names(program)
    for eq in program.equations:
        if not eq.output.name.startswith("getitem_"):
            continue
        columns, first_row = _columns(eq), _rows(eq)
        if columns is not None:
            gate = _gate_name(*columns, eq.inputs[0].shape[1], block_names)
        elif first_row is not None:  # rows of a weight or a bias: blocks of its leading axis
            rows = eq.inputs[0].shape[0]
            gate = _gate_name(first_row, first_row + eq.output.shape[0], rows, block_names)
        else:
            gate = None
        if gate:
            eq.output.name = _fresh(f"{eq.inputs[0].name}_{gate}", names)


def _gate_name(start: int, stop: int, width: int, gate_names: tuple) -> str | None:
    """Gate k's name when columns [start, stop) are block k of a (B, len(gate_names) * H) value."""
    if not gate_names or width % len(gate_names):
        return None
    size = width // len(gate_names)
    return gate_names[start // size] if start % size == 0 and stop - start == size else None


def _taken_names(program: StepProgram) -> set:
    """Every name the step program and its projection use (a new name must differ from all)."""
    programs = [program] + ([program.projection] if program.projection is not None else [])
    return {v.name for p in programs for v in p.inputs} | {eq.output.name for p in programs for eq in p.equations}


def _fresh(base: str, names: set) -> str:
    """`base`, or `base_2`, `base_3`, ...: the first not in `names` (which it joins)."""
    name, n = base, 2
    while name in names:
        name, n = f"{base}_{n}", n + 1
    names.add(name)
    return name


def strided_reads(equations: list[Equation]) -> int:
    """How many operands of computing ops are column slices of a wider value (strided when B > 1)."""
    sliced = {id(eq.output) for eq in equations if _columns(eq) is not None
              and _columns(eq) != (0, eq.inputs[0].shape[1])}
    return sum(isinstance(ref, Var) and id(ref) in sliced
               for eq in equations if eq.op.name != "getitem" for ref in eq.inputs)


def _input_blocks(program: StepProgram, equations: list[Equation]):
    """(K, width) when the step input is read only as K column blocks of one width that tile it and
    comes from a projection `reshape(linear(flat, W, b), (T, B, F))`, so that the projection can
    write it block-major (`block_major_input`); None otherwise."""
    x, projection = program.input("x"), program.projection
    if x is None or projection is None or len(x.shape) != 2 or any(v is x for v in program.outputs):
        return None
    readers = [eq for eq in equations if any(ref is x for ref in eq.inputs)]
    ranges = sorted(_columns(eq) or (-1, -1) for eq in readers)
    width = ranges[0][1] - ranges[0][0] if ranges else 0
    if not readers or width <= 0 or ranges != [(k * width, (k + 1) * width) for k in range(len(ranges))] \
            or len(ranges) * width != x.shape[1] or len(ranges) < 2:
        return None
    producer = {id(eq.output): eq for eq in projection.equations}
    shaped = producer.get(id(projection.outputs[0]))
    made = producer.get(id(shaped.inputs[0])) if shaped is not None and shaped.op.name == "reshape" else None
    if made is None or made.op.name != "linear" or len(shaped.output.shape) != 3 \
            or sum(any(ref is made.output for ref in eq.inputs) for eq in projection.equations) != 1:
        return None
    weight, bias = made.inputs[1], (made.inputs[2] if len(made.inputs) > 2 else None)
    if not isinstance(weight, Var) or len(weight.shape) != 2 or (bias is not None and (
            not isinstance(bias, Var) or bias.shape != (x.shape[1],))):
        return None
    return len(ranges), width


def block_major_input(program: StepProgram, blocks: int, width: int) -> None:
    """The projection writes the step input block-major, (T, K, B, w) over memory laid out (K, T, B, w),
    and the step reads block k as `x[k]`, a contiguous (B, w) array, where it read the strided
    `x[:, k w:(k + 1) w]`. The projection becomes one batched product, (T·B, D) @ (K, D, w), whose
    gradients the primitives' rules give as before (the input's summed over the K blocks).
    Why (GRU at S1): the three blocks' reads and the gradient's writes were strided (B, H) operations."""
    projection, x = program.projection, program.input("x")
    producer = {id(eq.output): eq for eq in projection.equations}
    shaped = producer[id(projection.outputs[0])]
    made = producer[id(shaped.inputs[0])]
    flat, weight = made.inputs[0], made.inputs[1]
    bias = made.inputs[2] if len(made.inputs) > 2 else None
    steps, batch, _ = shaped.output.shape
    names = _taken_names(program)

    def var(name, shape, dtype):
        return Var(_fresh(name, names), shape, dtype)

    rows = flat.shape[0]
    weight_blocks = var(f"{weight.name}_blocks", (blocks, width, weight.shape[1]), weight.dtype)
    weight_blocks_t = var(f"{weight.name}_blocks_T", (blocks, weight.shape[1], width), weight.dtype)
    products = var(f"{made.output.name}_blocks", (blocks, rows, width), made.output.dtype)
    new = [Equation(reshape, (weight,), {"shape": weight_blocks.shape}, weight_blocks),
           Equation(transpose, (weight_blocks,), {"axes": (0, 2, 1)}, weight_blocks_t),
           Equation(matmul, (flat, weight_blocks_t), {}, products)]
    if bias is not None:
        bias_blocks = var(f"{bias.name}_blocks", (blocks, 1, width), bias.dtype)
        summed = var(f"{made.output.name}_blocks_biased", products.shape, products.dtype)
        new += [Equation(reshape, (bias,), {"shape": bias_blocks.shape}, bias_blocks),
                Equation(add, (products, bias_blocks), {}, summed)]
        products = summed
    laid_out = var(f"{shaped.output.name}_blocks", (blocks, steps, batch, width), products.dtype)
    block_major = Var(shaped.output.name, (steps, blocks, batch, width), products.dtype)
    new += [Equation(reshape, (products,), {"shape": laid_out.shape}, laid_out),
            Equation(transpose, (laid_out,), {"axes": (1, 0, 2, 3)}, block_major)]
    position = projection.equations.index(made)
    kept = [eq for eq in projection.equations if eq is not made and eq is not shaped]
    projection.equations = kept[:position] + new + kept[position:]
    projection.outputs = [block_major]
    program.flags["block_major_input"] = True  # codegen lays the input gradient out the same way

    blocked_x = Var(x.name, (blocks, x.shape[0], width), x.dtype, x.role)
    program.inputs = [blocked_x if v is x else v for v in program.inputs]
    program.equations = [Equation(getitem, (blocked_x,), {"index": _columns(eq)[0] // width}, eq.output)
                         if any(ref is x for ref in eq.inputs) else eq for eq in program.equations]


def split_column_blocks(program: StepProgram, batch: int, block_names: tuple = ()) -> None:
    """Rewrite `program`'s equations in place: every value read only through column slices is
    computed over the columns read; from batch 2 on, as one value per slice, when that leaves
    the step fewer strided operands than it had.

    When the split is kept and the step input comes from a projection, the projection also
    writes it block-major (`block_major_input`), so its blocks are contiguous too.

    Why the condition (measured at S1, layer alone against the hand-written baseline): the GRU's
    split leaves 3 strided operands of 4 (the projected input's blocks) and its layer ran 1.15x
    -> 1.07x, and 1.02x with the input block-major; the LSTM's leaves 4 of 4 (its gate matmul adds
    the projected input) and ran 1.05x -> 1.09x, and 1.06-1.07x even block-major: its split adds
    three matmuls, two sigmoids and three adds a step, and removes no unread block's work. So the
    projected input's blocks count as strided here, and the LSTM keeps its one (B, 4H) matmul."""
    block_names = tuple(block_names)
    narrowed, renames = _rewritten(program, False, block_names)
    if batch >= SPLIT_MIN_ROWS:
        split, split_renames = _rewritten(program, True, block_names)
        if strided_reads(split) < strided_reads(narrowed):
            program.equations = split
            for var, name in split_renames.items():
                var.name = name
            _name_gate_slices(program, block_names)
            blocks = _input_blocks(program, split)
            if blocks is not None:
                block_major_input(program, *blocks)
            return
    program.equations = narrowed
    for var, name in renames.items():
        var.name = name


__all__ = ["split_column_blocks", "block_major_input", "strided_reads", "ELEMENTWISE"]
