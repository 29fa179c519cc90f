"""The backward of a step program, derived by running each primitive's own vjp rule on
traced values (the rules already run on Tensors for create_graph), so what they do is
recorded as primitive applications too. Nothing here knows any cell.

The result is a program from (the forward's values, the output cotangents) to the
cotangents of the inputs: `d_x`, `d_<state>_prev`, `d_<parameter>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autodiff.lazy_grads import sum_to_shape
from .program import Const, Equation, StepProgram, Var
from .trace import _DATA, _Recorder, _TracedTensor, recording

DIFFERENTIABLE_ROLES = ("x", "state:", "param:")


@dataclass
class BackwardProgram:
    """`equations` compute `grads` (input Var -> its cotangent Var, or None when zero) from
    the forward's Vars and `cotangents` (forward output Var -> the Var of its incoming gradient)."""

    forward: StepProgram
    cotangents: list  # per forward output (step output, new states): its cotangent input Var or None
    cotangent_inputs: list[Var]
    equations: list[Equation]
    grads: dict  # id(forward input var) -> Var | None


class _Context:
    """What a vjp rule reads: saved inputs and output (as traced Tensors), shapes, params, needs."""

    __slots__ = ("xs", "out", "in_shapes", "params", "needs")

    def __init__(self, xs, out, in_shapes, params, needs):
        self.xs, self.out, self.in_shapes, self.params, self.needs = xs, out, in_shapes, params, needs


def _is_differentiable(var: Var) -> bool:
    return var.role is not None and var.role.startswith(DIFFERENTIABLE_ROLES)


def active_vars(program: StepProgram) -> set[int]:
    """ids of the Vars that depend on a differentiable input (x, a state, a parameter)."""
    active = {id(v) for v in program.inputs if _is_differentiable(v)}
    for eq in program.equations:
        if any(isinstance(i, Var) and id(i) in active for i in eq.inputs) and eq.output.dtype.kind == "f":
            active.add(id(eq.output))
    return active


def evaluate(program: StepProgram, values: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Run the program's equations on arrays (`values`: id(input Var) -> array)."""
    values = dict(values)
    for eq in program.equations:
        args = [values[id(i)] if isinstance(i, Var) else i.value for i in eq.inputs]
        values[id(eq.output)] = np.asarray(eq.op.forward(*args, **eq.params) if eq.params else eq.op.forward(*args))
    return values


def derive_backward(program: StepProgram, seed: int = 2, reserved=()) -> BackwardProgram:
    """Apply the vjp rules of `program`'s equations in reverse, accumulating cotangents."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for var in program.inputs:
        if var.role == "valid":
            inputs[id(var)] = (rng.random(var.shape) > 0.3).astype(var.dtype)
        elif var.role.startswith("param:"):  # only the structure matters: no need for random weights
            inputs[id(var)] = np.full(var.shape, 0.5, var.dtype)
        else:
            inputs[id(var)] = rng.standard_normal(var.shape).astype(var.dtype)
    values = evaluate(program, inputs)
    active = active_vars(program)

    recorder = _Recorder(program.cell_name, "rule")
    for name in list(_names_of(program)) + list(reserved):
        recorder.names.add(name)
    traced = {}
    for var in list(program.inputs) + [eq.output for eq in program.equations]:
        value = _TracedTensor.wrap(values[id(var)])
        recorder.bind(value, var)
        traced[id(var)] = value

    cotangents: list = []
    cotangent_inputs: list[Var] = []
    grad_of: dict[int, object] = {}  # id(forward var) -> traced cotangent Tensor

    owners: dict[int, Var] = {}  # id(gradient Var) -> the forward Var it was first the gradient of

    def add_to(var: Var, contribution) -> None:
        previous = grad_of.get(id(var))
        if previous is None:
            grad_of[id(var)] = contribution
        else:
            recorder.default_name = f"d_{var.name}"
            grad_of[id(var)] = previous + contribution
        owners.setdefault(id(recorder.vars[id(grad_of[id(var)])]), var)

    with recording(recorder):
        names = ("output",) + tuple(program.state_names) if len(program.outputs) > 1 else program.state_names
        for name, var in zip(names, program.outputs):
            if id(var) not in active:
                cotangents.append(None)
                continue
            label = {"output": "d_output", "projected": "d_projected"}.get(name, f"d_{name}_next")
            seed_var = Var(recorder.fresh(label), var.shape,
                           var.dtype, f"grad:{name}")
            seed_value = _TracedTensor.wrap(rng.standard_normal(var.shape).astype(var.dtype))
            recorder.bind(seed_value, seed_var)
            cotangents.append(seed_var)
            cotangent_inputs.append(seed_var)
            add_to(var, seed_value)
        for eq in reversed(program.equations):
            g = grad_of.pop(id(eq.output), None)
            if g is None:
                continue
            needs = tuple(isinstance(i, Var) and id(i) in active for i in eq.inputs)
            if not any(needs):
                continue
            xs = tuple(traced[id(i)] if isinstance(i, Var) else i.value for i in eq.inputs)
            ctx = _Context(xs, traced[id(eq.output)], tuple(np.shape(_raw(x)) for x in xs), eq.params, needs)
            recorder.default_name = "_"
            try:
                grads = eq.op.vjp(ctx, g)
            except Exception as error:
                raise type(error)(f"deriving the backward of {program.cell_name}: the gradient rule of "
                                  f"{eq.op.name} ({eq.output.name}) failed on traced values: {error}") from error
            for position, (source, needed, grad) in enumerate(zip(eq.inputs, needs, grads)):
                if not needed or grad is None:
                    continue
                if not isinstance(grad, _TracedTensor):
                    raise TypeError(f"the gradient rule of {eq.op.name} returned {type(grad).__name__} for input "
                                    f"{position}; a compiled step needs rules written with Tensor operations")
                if grad.shape != source.shape:
                    recorder.default_name = "_"
                    grad = sum_to_shape(grad, source.shape)
                    if grad.shape != source.shape:
                        raise ValueError(f"the gradient rule of {eq.op.name} gave input {position} shape "
                                         f"{grad.shape}, expected {source.shape}")
                add_to(source, grad)
    _name_gradients(recorder, owners)
    grads = {}
    for var in program.inputs:
        if _is_differentiable(var):
            value = grad_of.get(id(var))
            grads[id(var)] = None if value is None else recorder.vars[id(value)]
    return BackwardProgram(program, cotangents, cotangent_inputs, list(recorder.equations), grads)


def _raw(value):
    return _DATA.__get__(value) if isinstance(value, _TracedTensor) else value


def _names_of(program: StepProgram) -> list[str]:
    names = [v.name for v in program.inputs] + [eq.output.name for eq in program.equations]
    if program.projection is not None:
        names += _names_of(program.projection)
    return names


def _name_gradients(recorder: _Recorder, owners: dict) -> None:
    """`d_<value>` for the gradient of each value (named after the first value it is the gradient
    of: `d_pre_activation`, `d_forget_gate`); `<op>_<first input>` for the rules' intermediates."""
    for eq in recorder.equations:
        var = owners.get(id(eq.output))
        if var is not None:
            recorder.names.discard(eq.output.name)
            eq.output.name = recorder.fresh(f"d_{var.name}")
    for eq in recorder.equations:
        if eq.output.name.startswith("_"):
            first = next((i.name for i in eq.inputs if isinstance(i, Var)), "")
            recorder.names.discard(eq.output.name)
            eq.output.name = recorder.fresh(f"{eq.op.name}_{first}"[:40])


__all__ = ["BackwardProgram", "derive_backward", "evaluate", "active_vars", "Const"]
