"""Compiled layers: `seqgrad.compile(module)` runs every nn.Recurrent inside `module` with
generated code. Each layer-direction becomes ONE node on the tape (op `compiled <Cell>`)
whose vjp runs the generated BPTT, so everything around it stays eager.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from ..autodiff.graph import mark_state
from ..autodiff.lazy_grads import GradSum, IndexGrad, dense
from ..autodiff.tape import RECORDING
from ..nn.functional import dropout_mask
from ..nn.module import Module
from ..nn.recurrent import Recurrent
from ..ops.primitive import Primitive, apply
from ..tensor import Tensor
from .blocks import split_column_blocks
from .codegen import Generated, generate, generate_from_probes
from .retarget import NotLinear
from .trace import TraceError, trace

CACHE_SIZE = 64
SMALL_TRACE_SIZES = (2, 3)  # steps and batch sizes of the traces that are stretched to the real ones
_CACHE: OrderedDict = OrderedDict()


def _config(cell) -> tuple:
    """What besides shapes decides a cell's step: its plain attributes (nonlinearity, reset, ...)."""
    items = []
    for key, value in sorted(vars(cell).items()):
        if key.startswith("_") or key == "training":
            continue
        if isinstance(value, (int, float, str, bool, type(None))):
            items.append((key, value))
        elif isinstance(value, np.ndarray):
            items.append((key, value.shape, value.tobytes()))
    return tuple(items)


def compiled_code(cell, steps: int, batch: int, input_size: int, dtype, reverse: bool, recurrent_mask: bool,
                  lengths: bool) -> Generated:
    """The generated forward/backward for this cell and these shapes and flags (cached)."""
    dtype = np.dtype(dtype)
    key = (type(cell), _config(cell), tuple((n, p.shape) for n, p in cell.named_parameters()), steps, batch,
           input_size, dtype.str, reverse, recurrent_mask, lengths, cell.training)
    found = _CACHE.get(key)
    if found is not None:
        _CACHE.move_to_end(key)
        return found
    options = dict(input_size=input_size, recurrent_mask=recurrent_mask, lengths=lengths)
    # Traced on tiny sizes (two step counts, two batch sizes) and stretched to the real ones; a cell
    # whose shapes do not scale linearly is traced at its real sizes instead.
    step_counts = SMALL_TRACE_SIZES if steps > SMALL_TRACE_SIZES[1] else (steps,)
    batches = SMALL_TRACE_SIZES if batch > SMALL_TRACE_SIZES[1] else (batch,)
    probes = {(s, b): trace(cell, b, dtype, steps=s, check=(s, b) == (step_counts[0], batches[0]), **options)
              for s in step_counts for b in batches}  # value dependence is looked for once
    gate_names = cell.gate_names
    for program in probes.values():
        split_column_blocks(program, batch, gate_names)
    try:
        generated = generate_from_probes(probes, steps, batch, reverse)
    except NotLinear:
        program = trace(cell, batch, dtype, steps=steps, **options)
        split_column_blocks(program, batch, gate_names)
        generated = generate(program, steps, reverse)
    generated.op = _node_op(type(cell).__name__, generated)
    _CACHE[key] = generated
    if len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return generated


def _node_op(cell_name: str, generated: Generated) -> Primitive:
    """The primitive of one compiled layer-direction: forward and vjp run the generated code."""
    def forward(inputs, *arrays, box, extras, states):
        initial, params = arrays[:states], arrays[states:]
        steps, batch = inputs.shape[:2]
        width = generated.output_width
        hidden = initial[0].shape[1]
        lead = generated.output_slot  # 1 when the output is a state: its buffer starts with the initial state
        if width == hidden:
            whole = np.empty((lead + steps + states, batch, width), inputs.dtype)
            packed, outputs = whole[lead:], whole[:lead + steps]
        else:
            packed, outputs = None, np.empty((steps, batch, width), inputs.dtype)
        with np.errstate(over="ignore"):  # sigmoid's e^-x overflows to inf for very negative x: σ = 0, exact
            finals, saved = generated.forward(inputs, *initial, *params, *extras, outputs)
        box["saved"] = saved
        if packed is None:
            return np.concatenate([outputs.reshape(-1)] + [f.reshape(-1) for f in finals])
        for k, final in enumerate(finals):
            packed[steps + k] = final
        return packed

    def vjp(ctx, g):
        if isinstance(g, Tensor):
            raise RuntimeError(f"compiled {cell_name}: double backward (create_graph=True) runs only on the eager "
                               "layer; call the module without seqgrad.compile for it")
        box, extras, states = ctx.params["box"], ctx.params["extras"], ctx.params["states"]
        saved = box.pop("saved", None)  # the generated backward writes gradients over spent activations
        if saved is None:
            raise RuntimeError(f"compiled {cell_name}: backward through this layer a second time: its saved values "
                               "were used up by the first backward (the generated BPTT writes gradients over spent "
                               "activations). For retain_graph, run the module without seqgrad.compile")
        steps, batch, _ = ctx.in_shapes[0]
        hidden = ctx.in_shapes[1][1]
        width = generated.output_width
        parts = None
        if type(g) is not np.ndarray:  # lazy (this op takes them): the slices the getitems handed back
            parts = _packed_parts(g, steps, states) if len(ctx.shape) == 3 else None
            if parts is None:
                g = dense(g, ctx.shape, ctx.dtype)
        if parts is not None:  # arrays other edges may hold too: the generated backward only reads them
            grad_outputs, grad_finals = parts
            if grad_outputs is None:
                grad_outputs = np.zeros((steps, batch, width), ctx.dtype)
            grad_finals = [np.zeros((batch, hidden), ctx.dtype) if f is None else f for f in grad_finals]
        elif g.ndim == 3:
            grad_outputs, grad_finals = g[:steps], [g[steps + k] for k in range(states)]
        else:
            split = steps * batch * width
            grad_outputs = g[:split].reshape(steps, batch, width)
            grad_finals = [g[split + k * batch * hidden: split + (k + 1) * batch * hidden].reshape(batch, hidden)
                           for k in range(states)]
        params = [box["params"][i] for i in range(len(box["params"]))]
        grad_inputs, grad_initial, grad_params = generated.backward(saved, grad_outputs, *grad_finals, *params,
                                                                    *extras)
        return (grad_inputs,) + tuple(grad_initial) + tuple(grad_params)

    return Primitive(f"compiled {cell_name}", forward, vjp, "shape", f"{cell_name} over all steps, compiled",
                     lazy_grad=True)


def _packed_parts(g, steps: int, states: int):
    """(grad_outputs, [grad_final, ...]) from the packed output's gradient when it came as the
    getitems' slices (outputs = packed[:steps], final k = packed[steps + k]), None for a part no
    gradient reached; None when it came otherwise (then it is made dense).

    Why: the dense gradient would be a zeroed (T + states, B, H) buffer that the slices are added
    into, only to be sliced again: 0.6 ms of a 19 ms GRU training step at S1 (4% of the hand-written
    baseline's step), 2-9 ms of the demo's update (page faults on the fresh buffer)."""
    if type(g) is IndexGrad:
        pieces = [g]
    elif type(g) is GradSum and g.total is None and all(type(piece) is IndexGrad for piece in g.lazy):
        pieces = g.lazy
    else:
        return None
    outputs, finals = None, [None] * states
    for piece in pieces:
        index = piece.index
        if index == slice(None, steps, None):
            outputs = piece.values if outputs is None else outputs + piece.values
        elif type(index) is int and steps <= index < steps + states:
            k = index - steps
            finals[k] = piece.values if finals[k] is None else finals[k] + piece.values
        else:
            return None
    return outputs, finals


def run_direction(layer: Recurrent, index: int, inputs: Tensor, state: tuple, valid, reverse: bool):
    """Recurrent._run_direction with generated code: one node for the whole layer-direction."""
    cell = layer.cells[index]
    steps, batch, features = inputs.shape
    mask = None
    if layer.recurrent_dropout and layer.training:
        mask = dropout_mask((batch, cell.hidden_size), layer.recurrent_dropout, inputs.dtype)
    generated = compiled_code(cell, steps, batch, features, inputs.dtype, reverse, mask is not None, valid is not None)
    params = [_param(cell, role) for role in generated.param_roles]
    extras = ([mask] if mask is not None else []) + ([valid.astype(inputs.dtype)] if valid is not None else [])
    states = len(state)
    box = {"params": [p.data for p in params]}
    packed = apply(generated.op, (inputs,) + tuple(state) + tuple(params),
                   {"box": box, "extras": tuple(extras), "states": states})
    hidden = cell.hidden_size
    if packed.ndim == 3:
        outputs = packed[:steps]
        finals = tuple(packed[steps + k] for k in range(states))
    else:
        split = steps * batch * generated.output_width
        outputs = packed[:split].reshape(steps, batch, generated.output_width)
        finals = tuple(packed[split + k * batch * hidden: split + (k + 1) * batch * hidden].reshape(batch, hidden)
                       for k in range(states))
    for role, value in zip(cell.state_names, finals):
        mark_state(value, role)
    return outputs, finals


def _param(cell, role: str):
    target = cell
    for part in role.removeprefix("param:").split("."):
        target = getattr(target, part)
    return target


class CompiledModule(Module):
    """`module` with every nn.Recurrent inside run by generated code. Parameters, modes and
    state are the module's own (nothing is copied): `.grad` lands on its parameters."""

    def __init__(self, module: Module) -> None:
        super().__init__()
        object.__setattr__(self, "module", module)

    def named_modules(self, prefix: str = ""):
        return self.module.named_modules(prefix)

    @contextmanager
    def compiled_layers(self):
        """Within it, every nn.Recurrent inside the module runs generated code (re-entrant: a method that
        calls the module, as Seq2Seq.loss calls forward, leaves the layers compiled for the rest of it)."""
        layers = [m for m in self.module.modules() if isinstance(m, Recurrent) and "_run_direction" not in m.__dict__]
        for layer in layers:
            object.__setattr__(layer, "_run_direction",
                               lambda index, inputs, state, valid, reverse, layer=layer:
                               run_direction(layer, index, inputs, state, valid, reverse))
        try:
            yield
        finally:
            for layer in layers:
                layer.__dict__.pop("_run_direction", None)

    def forward(self, *args, **kwargs):
        with self.compiled_layers():
            return self.module(*args, **kwargs)

    def __getattr__(self, name: str):
        """The module's attributes; its own methods (Seq2Seq.loss, .greedy) run with the layers compiled."""
        value = getattr(object.__getattribute__(self, "module"), name)
        if inspect.ismethod(value) and value.__self__ is object.__getattribute__(self, "module"):
            @functools.wraps(value)
            def compiled_method(*args, **kwargs):
                with self.compiled_layers():
                    return value(*args, **kwargs)
            return compiled_method
        return value

    def __repr__(self) -> str:
        return f"compiled({self.module!r})"


def compile(module: Module) -> CompiledModule:  # noqa: A001  (seqgrad.compile, as torch.compile)
    """A module that shares `module`'s parameters and runs every nn.Recurrent inside it with
    generated forward and BPTT code (see seqgrad.compiler.source to read it)."""
    if not isinstance(module, Module):
        raise TypeError(f"seqgrad.compile expects a seqgrad.nn.Module, got {type(module).__name__}")
    if isinstance(module, CompiledModule):
        return module
    return CompiledModule(module)


__all__ = ["compile", "CompiledModule", "compiled_code", "run_direction", "TraceError", "RECORDING"]
