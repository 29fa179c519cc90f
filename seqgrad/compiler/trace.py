"""Record one `step` of a cell (and its `project_inputs`) as a StepProgram.

The cell runs on ordinary Tensors holding random values, while every primitive
application is recorded: `apply` is swapped for a recording one for the duration. The
traced Tensors refuse what would make the program depend on their values (`bool()`,
comparisons, reading `.data` for numpy), and the step is traced twice on different
values: two recordings that differ mean Python control flow depends on values.

Variable names come from the cell's own code: a value bound to a local variable of a
method of the cell (`forget_gate`, `cell_state`) takes that name.
"""

from __future__ import annotations

import inspect
import keyword
import sys
import traceback
from contextlib import contextmanager

import numpy as np

from ..autodiff.tape import no_grad
from ..nn.cells import Cell
from ..nn.module import Parameter
from ..ops import primitive as _declare  # noqa: F401  (loads the module)
from ..tensor import Tensor
from .program import Const, Equation, StepProgram, Var

primitive_module = sys.modules["seqgrad.ops.primitive"]
tensor_module = sys.modules["seqgrad.tensor"]
_DATA = Tensor.__dict__["_data"]  # the slot behind Tensor.data
_ORIGINAL_APPLY = primitive_module.apply
# Names the generated source uses for itself (its functions, arguments and helpers), so no traced
# value may take them: a cell's local `outputs` would otherwise shadow the forward's argument.
RESERVED = frozenset({"np", "t", "k", "steps", "batch", "buffers", "saved", "grads", "kernels", "constants", "x_all",
                      "self", "out", "order", "forward", "backward", "outputs", "grad_outputs", "grad_inputs",
                      "valid_steps", "sigmoid", "primitive_forward"}) | set(
    dir(__builtins__) if isinstance(__builtins__, dict) else dir(__import__("builtins")))


class TraceError(ValueError):
    """A cell whose step cannot be compiled; the message names the cell, the op and what to change."""


class _Recorder:
    """What a trace is recording into, and how strict the traced values are."""

    def __init__(self, cell_name: str, mode: str) -> None:
        self.cell_name = cell_name
        self.mode = mode  # "step": values refuse to be read; "rule": reads give symbolic arrays
        self.depth = 0
        self.vars: dict[int, Var] = {}
        self.alive: list = []  # keeps traced objects alive so their ids stay unique
        self.equations: list[Equation] = []
        self.names: set[str] = set()
        self.default_name = "v"

    def fresh(self, base: str) -> str:
        base = _identifier(base)
        name, n = base, 2
        while name in self.names or name in RESERVED:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    def bind(self, value, var: Var) -> None:
        self.vars[id(value)] = var
        self.alive.append(value)


_ACTIVE: list[_Recorder] = []


def _identifier(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text).rstrip("_") or "v"
    if cleaned[0].isdigit():
        cleaned = "v_" + cleaned
    return cleaned + "_" if keyword.iskeyword(cleaned) else cleaned


def _where_in_user_code() -> str:
    """' (at file.py:12: `line`)' for the innermost frame outside seqgrad's own ops/tensor code."""
    package = __file__.rsplit("/compiler/", 1)[0]
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith(package + "/ops") and not frame.filename.startswith(package + "/tensor") \
                and not frame.filename.startswith(package + "/compiler"):
            return f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}: `{(frame.line or '').strip()}`)"
    return ""


def _refuse(value, what: str):
    recorder = _ACTIVE[-1] if _ACTIVE else None
    cell = recorder.cell_name if recorder else "the cell"
    var = recorder.vars.get(id(value)) if recorder else None
    name = f" {var.name!r}" if var is not None else ""
    raise TraceError(f"{cell}.step {what} of the traced value{name}{_where_in_user_code()}: its result would depend "
                     "on the values, which a compiled step cannot follow. Write it with seqgrad ops instead "
                     "(ops.where or a 0/1 mask multiplied in, ops.maximum, ...) so the same ops run for every input; "
                     "the eager layer (without seqgrad.compile) still runs this cell.")


class _Guards:
    """Traced tensors: shapes are free to read; values are not (except inside a primitive)."""

    __slots__ = ()

    def _get_data(self):
        recorder = _ACTIVE[-1] if _ACTIVE else None
        if recorder is None or recorder.depth:
            return _DATA.__get__(self)
        if recorder.mode == "rule":  # a gradient rule reading a mask: follow it symbolically
            return _symbolic_array(self, recorder)
        return _refuse(self, "reads .data (numpy on a Tensor's data)")

    def _set_data(self, value):
        _DATA.__set__(self, value)

    data = property(_get_data, _set_data)
    shape = property(lambda self: _DATA.__get__(self).shape)
    dtype = property(lambda self: _DATA.__get__(self).dtype)
    ndim = property(lambda self: _DATA.__get__(self).ndim)
    size = property(lambda self: _DATA.__get__(self).size)

    def __len__(self) -> int:
        return len(_DATA.__get__(self))

    def __bool__(self):
        return _refuse(self, "asks for the truth value (an `if` or `and`/`or` on a tensor)")

    def __gt__(self, other): return _refuse(self, "compares (>)")
    def __ge__(self, other): return _refuse(self, "compares (>=)")
    def __lt__(self, other): return _refuse(self, "compares (<)")
    def __le__(self, other): return _refuse(self, "compares (<=)")
    def item(self): return _refuse(self, "calls .item()")
    def numpy(self): return _refuse(self, "calls .numpy()")
    __hash__ = object.__hash__


class _TracedTensor(_Guards, Tensor):
    __slots__ = ()


class _TracedParameter(_Guards, Parameter):
    __slots__ = ()


class _SymbolicArray(np.ndarray):
    """What a gradient rule gets when it reads a traced value's data (`data(ctx.out) > 0`):
    an array whose numpy ufunc calls are recorded as equations too."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        recorder = _ACTIVE[-1]
        if method not in ("__call__", "reduce") or "out" in kwargs or ufunc.nout != 1:
            raise TraceError(f"a gradient rule in {recorder.cell_name} calls numpy's {ufunc.__name__}.{method} "
                             "with out= on a traced value; this rule cannot be compiled (use the eager layer)")
        arrays = [np.asarray(i) if isinstance(i, np.ndarray) else i for i in inputs]
        op = ufunc_primitive(ufunc, method)
        result = op.forward(*arrays, **kwargs)
        return _record(recorder, op, inputs, dict(kwargs), np.asarray(result), symbolic=True)


_UFUNC_OPS: dict = {}


def ufunc_primitive(ufunc, method: str = "__call__"):
    """A private primitive for a numpy ufunc a gradient rule applies to a mask (no gradient)."""
    key = (ufunc.__name__, method)
    if key not in _UFUNC_OPS:
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        forward = ufunc if method == "__call__" else getattr(ufunc, method)

        def no_gradient(ctx, g, name=name):
            raise TraceError(f"{name} has no gradient (it only builds masks inside gradient rules)")
        _UFUNC_OPS[key] = primitive_module.primitive(name, forward, no_gradient, register=False,
                                                     doc=f"numpy's {name} (inside a gradient rule)")
    return _UFUNC_OPS[key]


def _symbolic_array(value, recorder: _Recorder) -> _SymbolicArray:
    array = _DATA.__get__(value).view(_SymbolicArray)
    recorder.bind(array, recorder.vars[id(value)])
    return array


def _ref(recorder: _Recorder, value):
    """The Var or Const an op input stands for."""
    var = recorder.vars.get(id(value))
    if var is not None:
        return var
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise TraceError(f"{recorder.cell_name}.step uses a tensor that requires grad but is not one of the "
                             f"cell's parameters (shape {value.shape}){_where_in_user_code()}; register it on the "
                             "cell as a Parameter so its gradient can be computed")
        return Const(np.array(_DATA.__get__(value), copy=True))
    if isinstance(value, np.ndarray):
        return Const(np.array(value, copy=True))
    return Const(value)


def _record(recorder: _Recorder, op, inputs, params: dict, out: np.ndarray, symbolic: bool = False):
    refs = tuple(_ref(recorder, value) for value in inputs)
    base = recorder.default_name or op.name
    output = Var(recorder.fresh("_" + op.name if base == "_" else base), out.shape, out.dtype)
    recorder.equations.append(Equation(op, refs, dict(params), output))
    if symbolic:
        result = out.view(_SymbolicArray)
    else:
        result = _TracedTensor.wrap(out)
    recorder.bind(result, output)
    return result


def _recording_apply(op, inputs, params):
    recorder = _ACTIVE[-1] if _ACTIVE else None
    if recorder is None or recorder.depth:
        return _ORIGINAL_APPLY(op, inputs, params)
    recorder.depth += 1
    try:
        result = _ORIGINAL_APPLY(op, tuple(np.asarray(i) if isinstance(i, _SymbolicArray) else i for i in inputs),
                                 params)
    finally:
        recorder.depth -= 1
    return _record(recorder, op, inputs, params, _DATA.__get__(result))


@contextmanager
def recording(recorder: _Recorder):
    """Record every primitive application into `recorder` inside the block."""
    _ACTIVE.append(recorder)
    primitive_module.apply = tensor_module._apply = _recording_apply
    try:
        with no_grad():
            yield recorder
    finally:
        _ACTIVE.pop()
        if not _ACTIVE:
            primitive_module.apply = tensor_module._apply = _ORIGINAL_APPLY


def traced_input(recorder: _Recorder, name: str, role: str | None, array: np.ndarray) -> Tensor:
    """A traced Tensor holding `array`, bound to a new input Var."""
    value = _TracedTensor.wrap(array)
    var = Var(recorder.fresh(name), array.shape, array.dtype, role)
    recorder.bind(value, var)
    return value


@contextmanager
def _naming_locals(recorder: _Recorder, cell: Cell):
    """Name values after the local variables they are bound to in the cell's methods."""
    previous = sys.gettrace()

    def local_tracer(frame, event, arg):
        if event in ("line", "return"):
            for local, value in list(frame.f_locals.items()):
                var = recorder.vars.get(id(value)) if isinstance(value, Tensor) else None
                if var is not None and var.role is None and var.name.startswith("_"):
                    recorder.names.discard(var.name)
                    var.name = recorder.fresh(local)
        return local_tracer

    def global_tracer(frame, event, arg):
        if frame.f_locals.get("self") is cell:
            return local_tracer
        return None

    sys.settrace(global_tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


@contextmanager
def _parameters_traced(cell: Cell):
    """Parameters refuse value reads during the step (restored whatever happens)."""
    params = [p for p in cell.parameters() if type(p) is Parameter]
    try:
        for param in params:
            param.__class__ = _TracedParameter
        yield
    finally:
        for param in params:
            param.__class__ = Parameter


def masks_itself(cell: Cell) -> bool:
    """Does the cell's step take `recurrent_mask=` (and apply recurrent dropout itself)?"""
    flag = getattr(type(cell), "masks_recurrent", None)
    if isinstance(flag, bool):
        return flag
    return "recurrent_mask" in inspect.signature(cell.step).parameters


def has_projection(cell: Cell) -> bool:
    return type(cell).project_inputs is not Cell.project_inputs


def parameter_paths(cell: Cell) -> dict[int, str]:
    return {id(param): name for name, param in cell.named_parameters()}


def _trace_once(cell: Cell, batch_size: int, dtype, input_size: int, steps: int, recurrent_mask: bool,
                lengths: bool, seed: int) -> StepProgram:
    cell_name = type(cell).__name__
    rng = np.random.default_rng(seed)
    hidden_size = cell.hidden_size

    def random(*shape):
        return rng.standard_normal(shape).astype(dtype)

    projection = None
    step_width = None
    paths = parameter_paths(cell)
    with _parameters_traced(cell):
        if has_projection(cell):
            recorder = _Recorder(cell_name, "step")
            with recording(recorder):
                for param_id, path in paths.items():
                    recorder.vars[param_id] = Var(_identifier(path), (), dtype, f"param:{path}")
                inputs = traced_input(recorder, "inputs", "x", random(steps, batch_size, input_size))
                _fix_param_vars(recorder, cell)
                recorder.default_name = "_"
                with _naming_locals(recorder, cell):
                    try:
                        projected = cell.project_inputs(inputs)
                    except TraceError:
                        raise
                    except Exception as error:
                        raise TraceError(f"{cell_name}.project_inputs could not be traced: {error}") from error
            if not isinstance(projected, Tensor) or projected.ndim != 3 or projected.shape[:2] != (steps, batch_size):
                raise TraceError(f"{cell_name}.project_inputs must return a (T, B, ·) Tensor for inputs of shape "
                                 f"{(steps, batch_size, input_size)}, got {getattr(projected, 'shape', projected)}")
            out_var = recorder.vars.get(id(projected))
            if out_var is None:
                raise TraceError(f"{cell_name}.project_inputs returned a tensor that is not computed from its input")
            projection = _program(recorder, cell_name, [out_var], ("projected",))
            if out_var.name.startswith("reshape_"):  # not named by the cell's code: say what it is
                recorder.names.discard(out_var.name)
                out_var.name = recorder.fresh("projected_inputs")
            step_width = projected.shape[2]
        else:
            step_width = input_size

        recorder = _Recorder(cell_name, "step")
        # the step's names must not shadow the forward's `inputs` or the per-state buffers and arguments
        recorder.names.add("inputs")
        for name in cell.state_names:
            recorder.names.update({f"{name}_states", f"{name}_initial", f"grad_{name}_final"})
        with recording(recorder):
            x = traced_input(recorder, "x", "x", random(batch_size, step_width))
            state = tuple(traced_input(recorder, f"{name}_prev", f"state:{name}", random(batch_size, hidden_size))
                          for name in cell.state_names)
            _fix_param_vars(recorder, cell)
            mask = valid = None
            if recurrent_mask:
                mask = traced_input(recorder, "recurrent_mask", "recurrent_mask",
                                    (rng.random((batch_size, hidden_size)) > 0.3).astype(dtype) / dtype(0.7))
            if lengths:
                valid = traced_input(recorder, "valid", "valid", (rng.random((batch_size, 1)) > 0.3).astype(dtype))
            recorder.default_name = "_"
            with _naming_locals(recorder, cell):
                try:
                    if mask is None:
                        result = cell.step(x, state)
                    elif masks_itself(cell):
                        result = cell.step(x, state, recurrent_mask=mask)
                    else:
                        result = cell.step(x, (state[0] * mask,) + tuple(state[1:]))
                except TraceError:
                    raise
                except TypeError as error:
                    raise TraceError(f"{cell_name}.step could not be traced: {error}{_where_in_user_code()}. "
                                     "If it calls numpy functions on tensors, write them with seqgrad ops "
                                     "(tanh, sigmoid, where, ...) instead") from error
            output, new_state = _check_result(cell, result, batch_size, hidden_size)
            recorder.default_name = None
            if valid is not None:  # past a sequence's end: keep the old state, output zeros
                kept = []
                for name, new, old in zip(cell.state_names, new_state, state):
                    recorder.default_name = f"{name}_kept"
                    kept.append(new * valid + old * (1.0 - valid))
                new_state = tuple(kept)
                recorder.default_name = "output_kept"
                output = output * valid
        outputs = [recorder.vars[id(output)]] + [recorder.vars[id(s)] for s in new_state]
        program = _program(recorder, cell_name, outputs, cell.state_names)
    program.projection = projection
    program.flags = {"recurrent_mask": recurrent_mask, "lengths": lengths, "masks_itself": masks_itself(cell)}
    return program


def _fix_param_vars(recorder: _Recorder, cell: Cell) -> None:
    for path_name, param in cell.named_parameters():
        recorder.bind(param, Var(recorder.fresh(path_name.replace(".", "_")), param.shape, param.dtype,
                                 f"param:{path_name}"))


def _check_result(cell: Cell, result, batch_size: int, hidden_size: int):
    cell_name = type(cell).__name__
    names = cell.state_names
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], (tuple, list))):
        raise TraceError(f"{cell_name}.step must return (output, new_state) with new_state a tuple of "
                         f"{len(names)} tensor(s) ({', '.join(names)}), got {type(result).__name__}")
    output, new_state = result
    if len(new_state) != len(names):
        raise TraceError(f"{cell_name}.step returned {len(new_state)} state tensor(s), but state_names lists "
                         f"{len(names)} ({', '.join(names)}); return one new tensor per state component")
    for name, value in zip(names, new_state):
        if not isinstance(value, Tensor) or value.shape != (batch_size, hidden_size):
            raise TraceError(f"{cell_name}.step: the new {name} state must be a (B, hidden_size) = "
                             f"{(batch_size, hidden_size)} Tensor, got {getattr(value, 'shape', type(value).__name__)}")
    if not isinstance(output, Tensor) or output.ndim != 2 or output.shape[0] != batch_size:
        raise TraceError(f"{cell_name}.step: the output must be a (B, ·) Tensor for a batch of {batch_size}, "
                         f"got {getattr(output, 'shape', type(output).__name__)}")
    return output, tuple(new_state)


def _program(recorder: _Recorder, cell_name: str, outputs: list[Var], state_names) -> StepProgram:
    seen, inputs = set(), []
    for var in recorder.vars.values():
        if var.role is not None and id(var) not in seen:
            seen.add(id(var))
            inputs.append(var)
    for var in outputs:
        if var.role is not None and var.role.startswith("param:"):
            raise TraceError(f"{cell_name}: a step output is a parameter itself; return a computed tensor")
    _finish_names(recorder)
    return StepProgram(cell_name, inputs, list(recorder.equations), outputs, tuple(state_names))


def _finish_names(recorder: _Recorder) -> None:
    """Values no local variable named: `tanh_cell_state` after their op and first input."""
    for eq in recorder.equations:
        if eq.output.name.startswith("_"):
            first = next((i.name for i in eq.inputs if isinstance(i, Var)), "")
            recorder.names.discard(eq.output.name)
            eq.output.name = recorder.fresh(f"{eq.op.name}_{first}".strip("_")[:40])


def _signature(program: StepProgram) -> list:
    index = {id(v): i for i, v in enumerate(program.inputs)}
    for i, eq in enumerate(program.equations):
        index[id(eq.output)] = len(program.inputs) + i
    rows = []
    for eq in program.equations:
        refs = tuple(("var", index.get(id(i))) if isinstance(i, Var) else ("const", i) for i in eq.inputs)
        rows.append((eq.op, refs, eq.params))
    return rows


def _same_row(a, b) -> bool:
    op_a, refs_a, params_a = a
    op_b, refs_b, params_b = b
    if op_a is not op_b or len(refs_a) != len(refs_b) or params_a.keys() != params_b.keys():
        return False
    for (kind_a, ref_a), (kind_b, ref_b) in zip(refs_a, refs_b):
        if kind_a != kind_b or (kind_a == "var" and ref_a != ref_b) or (kind_a == "const" and not ref_a.same(ref_b)):
            return False
    return all(Const(params_a[k]).same(Const(params_b[k])) for k in params_a)


def _compare(first: StepProgram, second: StepProgram, what: str) -> None:
    rows_a, rows_b = _signature(first), _signature(second)
    for position, (a, b) in enumerate(zip(rows_a, rows_b)):
        if not _same_row(a, b):
            eq = first.equations[position]
            raise TraceError(
                f"{first.cell_name}.{what} runs different ops for different input values (op #{position}: "
                f"{eq.op.name} -> {eq.output.name} in one trace, {second.equations[position].op.name} in another): "
                "Python control flow or numpy depends on the values. Compute both branches and select with "
                "ops.where or a 0/1 mask so the same ops run for every input; the eager layer still runs this cell.")
    if len(rows_a) != len(rows_b):
        raise TraceError(f"{first.cell_name}.{what} ran {len(rows_a)} ops in one trace and {len(rows_b)} in "
                         "another: Python control flow depends on the values. Select with ops.where or a 0/1 mask "
                         "so the same ops run for every input; the eager layer still runs this cell.")


def trace(cell: Cell, batch_size: int, dtype=np.float64, *, input_size: int | None = None, steps: int = 1,
          recurrent_mask: bool = False, lengths: bool = False, check: bool = True) -> StepProgram:
    """Record one `step` of `cell` on symbolic inputs as a StepProgram (with `project_inputs`
    as `program.projection`, traced over `steps` time steps, when the cell defines one).

    `recurrent_mask` adds the recurrent-dropout mask input; `lengths` adds the (B, 1) `valid`
    input that keeps the old state and zeroes the output past a sequence's end.
    Raises TraceError when the step's ops depend on values, or its result has the wrong form;
    `check=False` skips the second trace that looks for value-dependent ops (for a cell already
    checked at other sizes).
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"trace: expected a seqgrad.nn.Cell, got {type(cell).__name__}")
    dtype = np.dtype(dtype).type
    if input_size is None:
        input_size = getattr(cell, "input_size", None)
        if input_size is None:
            raise TraceError(f"{type(cell).__name__} has no input_size attribute; pass trace(..., input_size=D)")
    args = (cell, batch_size, dtype, input_size, steps, recurrent_mask, lengths)
    first = _trace_once(*args, seed=0)
    if not check:
        return first
    second = _trace_once(*args, seed=1)
    _compare(first, second, "step")
    if first.projection is not None:
        _compare(first.projection, second.projection, "project_inputs")
    return first
