"""A torch cell class generated from a seqgrad cell's traced step: one line per primitive.

The step is traced by `seqgrad.compiler.trace` (the trace the compiled recurrence runs) at two
batch sizes (and `project_inputs` at two numbers of steps), and once more for the second layer of a
stack (another input width): a size that differs between the traces is the batch, the number of
steps or the input width, written `batch`, `steps`, `features` in the generated code, so one class
runs every layer at any size. Variable names are the trace's, which are the cell's own locals
(`forget_gate`, `cell_state`); each line carries its shape.
"""

from __future__ import annotations

import numpy as np

from ..compiler import Const, StepProgram, TraceError, Var, trace
from ..compiler.trace import masks_itself
from ..errors import ExportError
from ..nn.recurrent import Recurrent
from .torch_ops import constant_source, torch_expression

TRACES = ((3, 2), (5, 7))  # (batch, steps) of the two traces of the first layer; what differs is symbolic
# Names the generated methods use themselves; a traced variable called so gets a trailing underscore.
OWN_NAMES = frozenset({"self", "state", "weights", "device", "batch", "steps", "features", "torch", "F", "math"})


class SizeNames:
    """The sizes that may differ between traces, named, with their values in each trace and how the
    generated method reads them: "batch" -> (3, 5, 3), `x.shape[0]`, shown as B."""

    def __init__(self, data: str, shapes: list[tuple], axes: dict[str, int]) -> None:
        self.values = {name: tuple(shape[axis] for shape in shapes) for name, axis in axes.items()}
        if "steps" in axes:
            self.values["steps * batch"] = tuple(t * b for t, b in zip(self.values["steps"], self.values["batch"]))
        self.reads = {name: f"{data}.shape[{axis}]" for name, axis in axes.items()}
        self.shown = {"batch": "B", "steps": "T", "features": "D", "steps * batch": "T·B"}

    def source(self, values: tuple, what: str) -> int | str:
        """The size when every trace agrees, else the name of the size the traces' values are."""
        if len(set(values)) == 1:
            return int(values[0])
        for name, known in self.values.items():
            offsets = {value - size for value, size in zip(values, known)}
            if len(offsets) == 1:  # the size itself, or the size plus a constant (a concat with the state)
                offset = offsets.pop()
                return name if offset == 0 else f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"
            factors = {value // size if value % size == 0 else None for value, size in zip(values, known)}
            if len(factors) == 1 and None not in factors:  # a multiple (a concat along the batch)
                return f"{factors.pop()} * {name}"
        raise ExportError(f"seqgrad.export: {what} is {' / '.join(map(str, values))} in traces at different sizes, "
                          f"which is none of {', '.join(self.values)}; the generated cell cannot follow it")

    def shape_comment(self, shapes: list[tuple]) -> str:
        parts = []
        for values in zip(*shapes):
            try:
                value = self.source(values, "a shape")
            except ExportError:  # a size no name describes: a comment shows what the traces saw
                value = "/".join(map(str, values))
            if isinstance(value, str) and "/" not in value:
                for name, shown in sorted(self.shown.items(), key=lambda item: -len(item[0])):
                    value = value.replace(name, shown)
                value = value.replace(" * ", "·").replace(" ", "")
            parts.append(str(value))
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _names(programs: list[StepProgram]) -> dict[int, str]:
    """id(Var) -> the name the generated code uses (the trace's, moved off the method's own names)."""
    names: dict[int, str] = {}
    for program in programs:
        taken = set()
        for var in list(program.inputs) + [eq.output for eq in program.equations]:
            name = var.name
            while name in OWN_NAMES or name in taken:
                name += "_"
            taken.add(name)
            names[id(var)] = name
    return names


def _argument(value, names: dict[int, str]) -> str:
    return names[id(value)] if isinstance(value, Var) else constant_source(value.value)


def _shape_of(value) -> tuple | None:
    if isinstance(value, Var):
        return value.shape
    return np.shape(value.value) if isinstance(value.value, np.ndarray) else None


def method_body(programs: list[StepProgram], axes: dict[str, int], what: str, names: dict[int, str]) -> list[str]:
    """The lines of one traced method: weights unpacked, the sizes it reads, one line per equation."""
    first = programs[0]
    data = names[id(first.input("x"))]
    sizes = SizeNames(data, [program.input("x").shape for program in programs], axes)
    counts = {len(program.equations) for program in programs}
    if len(counts) != 1:
        raise ExportError(f"seqgrad.export: {what} runs {' / '.join(map(str, counts))} ops at different sizes (batch, "
                          "steps or layer); one generated cell must run the same ops at every size")
    used_inputs = {id(value) for eq in first.equations for value in eq.inputs} | {id(var) for var in first.outputs}
    lines = [f"{names[id(var)]} = weights[{var.role[len('param:'):]!r}]  "
             f"# {sizes.shape_comment([program.input(var.role).shape for program in programs])}"
             for var in first.inputs if var.role.startswith("param:") and id(var) in used_inputs]
    body, used = [], set()
    for position, equations in enumerate(zip(*(program.equations for program in programs))):
        eq = equations[0]
        where = f" (in {what}, computing {eq.output.name!r}, op #{position})"
        if any(other.op is not eq.op for other in equations):
            raise ExportError(f"seqgrad.export: {what} runs different ops at different sizes{where}")
        params = dict(eq.params)
        for key in params:
            if key == "shape" and isinstance(params[key], (tuple, list)):
                params[key] = tuple(sizes.source(values, f"{eq.op.name}'s {key}{where}")
                                    for values in zip(*(other.params[key] for other in equations)))
                used.update(part for source in params[key] if isinstance(source, str)
                            for part in source.replace(" + ", " * ").replace(" - ", " * ").split(" * "))
                used.discard("steps * batch")
            elif not all(Const(params[key]).same(Const(other.params[key])) for other in equations):
                raise ExportError(f"seqgrad.export: {eq.op.name}'s {key} depends on the batch size or layer{where}; "
                                  "the generated cell cannot follow it")
        for values in zip(*(other.inputs for other in equations)):
            if isinstance(values[0], Const) and len({np.shape(value.value) for value in values}) != 1:
                raise ExportError(f"seqgrad.export: a constant whose shape depends on the batch size{where}; make it "
                                  "from the inputs with seqgrad ops instead")
        args = [_argument(value, names) for value in eq.inputs]
        expression = torch_expression(eq.op.name, args, params, [_shape_of(value) for value in eq.inputs], where)
        comment = sizes.shape_comment([other.output.shape for other in equations])
        body.append(f"{names[id(eq.output)]} = {expression}  # {comment}")
    if any("device=device" in line for line in body):
        lines.append(f"device = {data}.device")
    lines += [f"{name} = {read}" for name, read in sizes.reads.items() if name in used]
    return lines + body


def trace_programs(layer: Recurrent, recurrent_mask: bool) -> list[StepProgram]:
    """The first layer's cell traced at two (batch, steps) sizes, and the second layer's (another input
    width) at the first size: the traces the generated class is read from."""
    dtype = next((param.dtype for param in layer.parameters()), np.float64)
    runs = [(layer.cell(0), layer.input_size, batch, steps) for batch, steps in TRACES]
    if layer.num_layers > 1:
        runs.append((layer.cell(1), layer.hidden_size * layer.num_directions) + TRACES[0])
    try:
        return [trace(cell, batch, dtype, input_size=width, steps=steps, recurrent_mask=recurrent_mask)
                for cell, width, batch, steps in runs]
    except TraceError as error:
        raise ExportError(f"seqgrad.export: cannot trace {type(layer.cell(0)).__name__}'s step: {error}") from None


def cell_class_source(programs: list[StepProgram], class_name: str, hidden_size: int) -> str:
    """The torch class computing the traced step (and project_inputs) of `programs` (one cell, several sizes)."""
    first = programs[0]
    cell_name = first.cell_name
    names = _names([first] + ([first.projection] if first.projection is not None else []))
    lines = [f"class {class_name}(torch.nn.Module):",
             f'    """One step of the seqgrad cell {cell_name}, generated from its traced step (a line a primitive).',
             "",
             f"    cell(x, state, weights) -> (output, new_state): x (B, ·), state ({', '.join(first.state_names)}) "
             f"each (B, {hidden_size});",
             "    `weights` maps the cell's parameter names to tensors (the sequence layer holds them, under seqgrad's",
             "    names).",
             '    """',
             "",
             f"    state_names = {tuple(first.state_names)!r}",
             f"    masks_recurrent = {first.input('recurrent_mask') is not None}",
             ""]
    if first.projection is None:
        lines += ["    def project_inputs(self, inputs, weights):", "        return inputs"]
    else:
        projections = [program.projection for program in programs]
        lines.append(f"    def project_inputs(self, {names[id(first.projection.input('x'))]}, weights):")
        lines.append('        """All steps\' input transformation at once: (T, B, D) -> (T, B, ·)."""')
        body = method_body(projections, {"steps": 0, "batch": 1, "features": 2}, f"{cell_name}.project_inputs", names)
        lines += ["        " + line for line in body]
        lines.append(f"        return {names[id(first.projection.outputs[0])]}")
    lines.append("")
    mask = f", {names[id(first.input('recurrent_mask'))]}" if first.input("recurrent_mask") is not None else ""
    lines.append(f"    def forward(self, {names[id(first.input('x'))]}, state, weights{mask}):")
    state_vars = [names[id(first.input(f"state:{name}"))] for name in first.state_names]
    lines.append(f"        {', '.join(state_vars)}{',' if len(state_vars) == 1 else ''} = state")
    body = method_body(programs, {"batch": 0, "features": 1}, f"{cell_name}.step", names)
    lines += ["        " + line for line in body]
    output, new_state = first.outputs[0], [names[id(var)] for var in first.outputs[1:]]
    lines.append(f"        return {names[id(output)]}, ({', '.join(new_state)}{',' if len(new_state) == 1 else ''})")
    return "\n".join(lines)


def export_cell(layer: Recurrent, path: str, definitions) -> str:
    """Define the torch class of `layer`'s cell in `definitions`; returns its name. The first two layers
    are traced and must run the same ops; every layer's cell must be of one class."""
    first = layer.cell(0)
    if any(type(cell) is not type(first) for cell in layer.cells):
        kinds = sorted({type(cell).__name__ for cell in layer.cells})
        raise ExportError(f"seqgrad.export: {layer.name}{f' at {path!r}' if path else ''} mixes cell classes "
                          f"({', '.join(kinds)}); one generated cell class serves all its layers")
    recurrent_mask = bool(layer.recurrent_dropout) and masks_itself(first)
    class_name = type(first).__name__
    if class_name in {"RNN", "LSTM", "GRU", "Recurrent", "Exported", "run_packed"}:
        class_name += "Step"
    source = cell_class_source(trace_programs(layer, recurrent_mask), class_name, layer.hidden_size)
    return definitions.define(class_name, source, rename=lambda text, name: text.replace(
        f"class {class_name}(", f"class {name}(", 1))
