"""Generate the Python source of a compiled layer-direction: `forward` runs the cell over
all T steps keeping what backward needs in (T, B, ·) buffers; `backward` walks the steps
from last to first carrying ∂L/∂state, writes each step's input gradient into a (T, B, ·)
buffer, and forms every shared weight's gradient after the loop as one tall product.

Every line comes from one primitive application of the traced step or of its derived
backward, and says which in a comment. The source returned is exactly the text compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import emit, kernels
from .buffers import POOL
from .derive import BackwardProgram, active_vars, derive_backward
from .optimize import ASSEMBLE, assemble_scatters, count_uses, merge_common, prune, subtract_negations
from .program import Const, Equation, StepProgram, Var
from .retarget import retarget


@dataclass
class Generated:
    """The source and the two functions compiled from it."""

    source: str
    forward: object
    backward: object
    state_names: tuple
    param_roles: list  # "param:<path>" in argument order
    namespace: dict = field(repr=False, default_factory=dict)
    output_width: int = 0
    output_slot: int = 0  # 1: `outputs` has a leading slot for the initial state (the output is a state)
    op: object = None


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str, comment: str = "") -> None:
        pad = "    " * self.depth
        if comment:
            self.lines.append(f"{pad}{text}  # {comment}")
        else:
            self.lines.append(f"{pad}{text}")


def _shape_text(var: Var) -> str:
    return "(" + ", ".join(map(str, var.shape)) + ")"


class _Constants:
    def __init__(self) -> None:
        self.values: list = []

    def __call__(self, value) -> str:
        for position, known in enumerate(self.values):
            if known is value:
                return f"constants[{position}]"
        self.values.append(value)
        return f"constants[{len(self.values) - 1}]"


def _arg(ref, where: dict, constant) -> str:
    if isinstance(ref, Const):
        value = ref.value
        if isinstance(value, np.ndarray):
            return repr(value.item()) if value.ndim == 0 and value.dtype.kind == "f" else constant(value)
        return repr(value)
    return where[id(ref)]


# --- which parameter gradients can be summed over all steps after the loop ------------------
_LINEAR_OPS = ("add", "sub", "neg", "scatter", "reshape", "getitem", "transpose", "concat", ASSEMBLE.name)


def _deferrable(var: Var, producer: dict, step_vars: set[int], leaves: list, post: list) -> bool:
    """Is `var` a sum over the batch of per-step products (linear ops above them)? Collect the
    per-step leaves (matmul(Aᵀ, B) or sum(A, axis=0)) and the ops above them."""
    eq = producer.get(id(var))
    if eq is None:
        return False
    if eq.op.name == "matmul" and all(isinstance(i, Var) for i in eq.inputs):
        left = producer.get(id(eq.inputs[0]))
        right = eq.inputs[1]
        if left is not None and left.op.name == "transpose" and left.params.get("axes") is None \
                and isinstance(left.inputs[0], Var) and len(left.inputs[0].shape) == 2 and len(right.shape) == 2 \
                and id(left.inputs[0]) in step_vars and id(right) in step_vars:
            leaves.append(("matmul", var, left.inputs[0], right))
            return True
        return False
    if eq.op.name == "sum" and eq.params.get("axis") in (0, (0,)) and not eq.params.get("keepdims") \
            and isinstance(eq.inputs[0], Var) and len(eq.inputs[0].shape) == 2 and id(eq.inputs[0]) in step_vars:
        leaves.append(("sum", var, eq.inputs[0], None))
        return True
    if eq.op.name in _LINEAR_OPS:
        for ref in eq.inputs:
            if isinstance(ref, Var) and not _deferrable(ref, producer, step_vars, leaves, post):
                return False
        if eq not in post:
            post.append(eq)
        return True
    return False


def generate(program: StepProgram, steps: int, reverse: bool) -> Generated:
    """Forward and BPTT source for `program` (traced at the real batch and steps) run over `steps`
    steps, in reverse when `reverse`."""
    backward, projection_backward = _derive(program)
    return _Generator(program, backward, projection_backward, steps, reverse).run()


def generate_from_probes(probes: dict, steps: int, batch: int, reverse: bool) -> Generated:
    """The same, from small traces: `probes[(steps_k, batch_k)]` for two step counts and two batch
    sizes (or the real one). Each derived program is stretched to the real sizes (retarget), so no
    full-size array is ever made while compiling. Raises NotLinear when shapes do not scale."""
    derived = {key: (program,) + _derive(program) for key, program in probes.items()}
    step_counts = sorted({key[0] for key in probes})
    batches = sorted({key[1] for key in probes})
    for batch_k in batches:  # project_inputs over few steps -> over `steps`
        (program, _, proj_back), other = derived[(step_counts[0], batch_k)], None
        if program.projection is not None and step_counts[0] != steps:
            other, _, other_back = derived[(step_counts[1], batch_k)]
            retarget([program.projection.equations, proj_back.equations],
                     [other.projection.equations, other_back.equations], step_counts[0], step_counts[1], steps,
                     pairs=list(zip(program.projection.inputs, other.projection.inputs))
                     + list(zip(proj_back.cotangent_inputs, other_back.cotangent_inputs)))
    program, backward, proj_back = derived[(step_counts[0], batches[0])]
    if batches[0] != batch:  # a small batch -> `batch`
        other, other_backward, other_proj_back = derived[(step_counts[0], batches[1])]
        first = [program.equations, backward.equations]
        second = [other.equations, other_backward.equations]
        pairs = list(zip(program.inputs, other.inputs)) + list(zip(backward.cotangent_inputs,
                                                                    other_backward.cotangent_inputs))
        if program.projection is not None:
            first += [program.projection.equations, proj_back.equations]
            second += [other.projection.equations, other_proj_back.equations]
            pairs += list(zip(program.projection.inputs, other.projection.inputs))
            pairs += list(zip(proj_back.cotangent_inputs, other_proj_back.cotangent_inputs))
        pairs += [(a, b) for a, b in zip(program.outputs, other.outputs)]
        retarget(first, second, batches[0], batches[1], batch, pairs=pairs)
    return _Generator(program, backward, proj_back, steps, reverse).run()


def _derive(program: StepProgram):
    backward = derive_backward(program)
    projection_backward = None
    if program.projection is not None:
        reserved = [e.output.name for e in backward.equations] + [v.name for v in backward.cotangent_inputs]
        projection_backward = derive_backward(program.projection, reserved=reserved)
    return backward, projection_backward


class _Generator:
    def __init__(self, program: StepProgram, backward: BackwardProgram, projection_backward, steps: int,
                 reverse: bool) -> None:
        self.program, self.back, self.proj_back = program, backward, projection_backward
        self.steps, self.reverse = steps, reverse
        self.constant = _Constants()
        self.batch = program.inputs[0].shape[0]

    # --- planning -----------------------------------------------------------------------
    def plan(self) -> None:
        program, back = self.program, self.back
        outputs = list(program.outputs)
        self.forward_eqs, replaced = merge_common(program.equations, keep={id(v) for v in outputs})
        self.outputs = [replaced.get(id(v), v) for v in outputs]
        self.forward_producer = {id(eq.output): eq for eq in self.forward_eqs}
        for eq in back.equations:  # the backward refers to forward values the merge may have replaced
            eq.inputs = tuple(replaced.get(id(i), i) if isinstance(i, Var) else i for i in eq.inputs)
        self.x_var = program.input("x")
        self.state_vars = [program.input(f"state:{name}") for name in program.state_names]
        self.params = [v for v in program.inputs if v.role.startswith("param:")]
        if program.projection is not None:
            for var in program.projection.inputs:
                if var.role.startswith("param:") and all(p.role != var.role for p in self.params):
                    self.params.append(var)
        self.mask_var = program.input("recurrent_mask")
        self.valid_var = program.input("valid")

        # Loop invariants (parameters, the dropout mask, what only they make): computed once, before the loop.
        self.invariant = {id(p) for p in self.params} | ({id(self.mask_var)} if self.mask_var is not None else set())
        self.forward_invariant_eqs = []
        for eq in self.forward_eqs:
            if all(not isinstance(i, Var) or id(i) in self.invariant for i in eq.inputs):
                self.invariant.add(id(eq.output))
                self.forward_invariant_eqs.append(eq)
        self.forward_eqs = [eq for eq in self.forward_eqs if id(eq.output) not in self.invariant]

        equations, _ = merge_common(back.equations)
        producer = {id(eq.output): eq for eq in equations}
        forward_ids = {id(v) for v in program.inputs if not v.role.startswith("param:") and v.role != "recurrent_mask"}
        forward_ids |= {id(eq.output) for eq in self.forward_eqs}
        backward_ids = {id(eq.output) for eq in equations} | {id(v) for v in back.cotangent_inputs}
        step_vars = forward_ids | backward_ids
        self.param_grads = {}  # param var id -> ("deferred", var) | ("loop", var) | None
        self.leaves, self.post = [], []
        loop_needed = []
        self.d_x = back.grads.get(id(self.x_var))
        self.d_states = [back.grads.get(id(v)) for v in self.state_vars]
        loop_needed += [v for v in [self.d_x] + self.d_states if v is not None]
        for param in self.params:
            grad = back.grads.get(id(param))
            if grad is None:
                self.param_grads[id(param)] = None
                continue
            leaves, post = [], []
            if _deferrable(grad, producer, step_vars, leaves, post):
                self.leaves += [leaf for leaf in leaves if all(leaf[1] is not known[1] for known in self.leaves)]
                self.post += [eq for eq in post if eq not in self.post]
                self.param_grads[id(param)] = ("deferred", grad)
                loop_needed += [leaf[2] for leaf in leaves] + [leaf[3] for leaf in leaves if leaf[3] is not None]
            else:
                self.param_grads[id(param)] = ("loop", grad)
                loop_needed.append(grad)
        loop_needed_back = [v for v in loop_needed if id(v) in backward_ids]
        loop_eqs = prune(equations, loop_needed_back)
        self.backward_invariant_eqs = []
        for eq in loop_eqs:
            if all(not isinstance(i, Var) or id(i) in self.invariant for i in eq.inputs):
                self.invariant.add(id(eq.output))
                self.backward_invariant_eqs.append(eq)
        loop_eqs = [eq for eq in loop_eqs if id(eq.output) not in self.invariant]
        loop_eqs = subtract_negations(loop_eqs, count_uses(loop_eqs, loop_needed_back))
        self.backward_eqs = assemble_scatters(loop_eqs, count_uses(loop_eqs, loop_needed_back))
        post = [eq for eq in equations if eq in self.post]  # keep program order
        self.post = assemble_scatters(post, count_uses(post, [g[1] for g in self.param_grads.values() if g]))
        self.leaf_operands = [v for leaf in self.leaves for v in leaf[2:] if v is not None]

        # Forward values backward reads at step t: residuals (a view's base is kept instead).
        needed = {id(i): i for eq in self.backward_eqs for i in eq.inputs
                  if isinstance(i, Var) and id(i) in forward_ids}
        needed.update({id(v): v for v in self.leaf_operands if id(v) in forward_ids})
        self.residuals = {}
        for var in needed.values():
            base = var
            while id(base) in self.forward_producer and emit.is_view(self.forward_producer[id(base)]) \
                    and isinstance(self.forward_producer[id(base)].inputs[0], Var):
                base = self.forward_producer[id(base)].inputs[0]
            self.residuals[id(base)] = base
        self.forward_view_eqs = [eq for eq in self.forward_eqs if emit.is_view(eq)]
        # A cheap function of a state (tanh of the cell state) is recomputed in backward, not kept.
        state_ids = {id(v) for v in self.state_vars} | {id(v) for v in self.outputs[1:]}
        leaf_ids = {id(v) for v in self.leaf_operands}
        self.recomputed = []
        for var_id, var in list(self.residuals.items()):
            eq = self.forward_producer.get(var_id)
            if eq is not None and eq.op.name in ("tanh", "sigmoid", "exp") and isinstance(eq.inputs[0], Var) \
                    and id(eq.inputs[0]) in state_ids and var_id not in leaf_ids and var_id not in state_ids \
                    and var is not self.outputs[0]:
                del self.residuals[var_id]
                self.residuals[id(eq.inputs[0])] = eq.inputs[0]
                self.recomputed.append(eq)

    # --- forward ---------------------------------------------------------------------------
    def slots(self) -> tuple[int, int, int, int]:
        """(state input slot offset, state output slot offset, initial slot, final slot)."""
        return (1, 0, self.steps, 0) if self.reverse else (0, 1, 0, self.steps)

    def run(self) -> Generated:
        self.plan()
        w = _Writer()
        program = self.program
        T, B = self.steps, self.batch
        direction = "reverse (t = T-1 .. 0)" if self.reverse else "forward (t = 0 .. T-1)"
        w.line(f'"""{program.cell_name} over T={T} steps, batch {B}, {self.outputs[0].dtype.name}, {direction}:')
        w.line("generated by seqgrad.compiler from the traced step and its primitives' gradient rules;")
        w.line('this text is exactly what runs."""')
        w.line("")
        self.write_forward(w)
        w.line("")
        w.line("")
        self.write_backward(w)
        source = "\n".join(w.lines) + "\n"
        namespace = {"np": np, "sigmoid": kernels.sigmoid, "constants": self.constant.values, "buffers": POOL,
                     "primitive_forward": self.primitive_forwards()}
        code = compile(source, f"<seqgrad.compiler {program.cell_name}>", "exec")
        exec(code, namespace)
        return Generated(source, namespace["forward"], namespace["backward"], program.state_names,
                         [p.role for p in self.params], namespace, output_width=self.outputs[0].shape[1],
                         output_slot=int(self.output_state is not None))

    def primitive_forwards(self) -> dict:
        """op name -> forward, for the ops the source calls by name (those without a numpy spelling)."""
        lists = [self.program.equations, self.back.equations]
        if self.program.projection is not None:
            lists += [self.program.projection.equations, self.proj_back.equations]
        return {eq.op.name: eq.op.forward for equations in lists for eq in equations}

    def signature_args(self) -> list[str]:
        names = [p.name for p in self.params]
        if self.mask_var is not None:
            names.append(self.mask_var.name)
        if self.valid_var is not None:
            names.append("valid_steps")
        return names

    def write_forward(self, w: _Writer) -> None:
        program, T = self.program, self.steps
        in_off, out_off, first_slot, final_slot = self.slots()
        state_names = program.state_names
        args = ["inputs"] + [f"{name}_initial" for name in state_names] + self.signature_args() + ["outputs"]
        w.line(f"def forward({', '.join(args)}):")
        w.depth += 1
        w.line(f'"""inputs (T, B, D) = {tuple(self.projection_input_shape())}; writes the step outputs into '
               f'outputs (T, B, ·) (with a slot before them for the initial state when the output is a state); '
               'returns (final states, saved for backward)."""')
        where: dict[int, str] = {id(p): p.name for p in self.params}
        if self.mask_var is not None:
            where[id(self.mask_var)] = self.mask_var.name
        # project_inputs, once for all steps
        x_source = "inputs"
        self.projection_saved = []
        if program.projection is not None:
            w.line("# project_inputs: every step at once")
            proj = program.projection
            where[id(proj.input("x"))] = "inputs"
            by_role = {p.role: p.name for p in self.params}
            for var in proj.inputs:
                if var.role.startswith("param:"):
                    where[id(var)] = by_role[var.role]
            uses = count_uses(proj.equations, proj.outputs)
            backward_eqs = prune(self.proj_back.equations, [v for v in self.proj_back.grads.values() if v])
            read_back = {id(i) for eq in backward_eqs for i in eq.inputs}  # never overwritten in place
            made_here = set()  # buffers this projection made (not views of the caller's arrays)
            for eq in proj.equations:
                args_ = [_arg(i, where, self.constant) for i in eq.inputs]
                statement = emit.into(eq, args_, eq.output.name)
                first = eq.inputs[0]
                if statement is not None and eq.op.name in emit.UFUNCS and isinstance(first, Var) \
                        and id(first) in made_here and uses.get(id(first)) == 1 and id(first) not in read_back \
                        and first.shape == eq.output.shape and first.dtype == eq.output.dtype:
                    w.line(f"{eq.output.name} = {where[id(first)]}", "its buffer, spent: written in place")
                    w.line(statement, f"{eq.op.name} {_shape_text(eq.output)}")
                    made_here.add(id(eq.output))
                elif statement is not None and not emit.is_view(eq):  # into a buffer kept between calls
                    w.line(f"{eq.output.name} = buffers.empty({eq.output.shape}, {eq.output.dtype.name!r})")
                    w.line(statement, f"{eq.op.name} {_shape_text(eq.output)}")
                    made_here.add(id(eq.output))
                else:
                    w.line(f"{eq.output.name} = {emit.value(eq, args_, self.constant)}",
                           f"{eq.op.name} {_shape_text(eq.output)}")
                where[id(eq.output)] = eq.output.name
            x_source = where[id(proj.outputs[0])]
            pb = self.proj_back
            used = prune(pb.equations, [v for v in pb.grads.values() if v])
            self.projection_saved = sorted({i.name for eq in used for i in eq.inputs
                                            if isinstance(i, Var) and i.name in where.values() and not i.role})
            if any(i is proj.input("x") for eq in used for i in eq.inputs):
                self.projection_saved.append("inputs")
        self.x_source = x_source
        self.transposed = {}
        self.write_invariants(w, self.forward_invariant_eqs, self.forward_eqs, where)
        w.line("# buffers: one slot per step for what backward reads")
        # The step output is a state (the LSTM's hidden): outputs (T + 1, B, H) is that state's buffer.
        self.output_state = None
        if not self.reverse and self.outputs[0].shape == self.state_vars[0].shape:
            self.output_state = next((k for k, v in enumerate(self.outputs[1:]) if v is self.outputs[0]), None)
        for k, (name, var) in enumerate(zip(state_names, self.state_vars)):
            if k == self.output_state:
                w.line(f"{name}_states = outputs", f"slot 0: the initial {name}; slot t + 1: step t's output")
            else:
                w.line(f"{name}_states = buffers.empty({(T + 1,) + var.shape}, {var.dtype.name!r})",
                       f"slot {first_slot}: the initial {name}")
            w.line(f"{name}_states[{first_slot}] = {name}_initial")
        state_out = {id(v): k for k, v in enumerate(self.outputs[1:])}
        self.stored = {}
        self.shared = self.slot_sharing(state_out)
        if self.shared is not None:
            self.stored[id(self.shared)] = x_source
        scratch = []
        for eq in self.forward_eqs:
            var = eq.output
            if id(var) in state_out or emit.is_view(eq) or var is self.shared:
                continue
            if id(var) in self.residuals:
                self.stored[id(var)] = f"{var.name}_steps"
                w.line(f"{var.name}_steps = buffers.empty({(T,) + var.shape}, {var.dtype.name!r})")
            elif var is not self.outputs[0] and emit.into(eq, ["a"] * len(eq.inputs), "o") is not None:
                scratch.append(var)
        if scratch:
            w.line("# scratch for one step, reused by every step")
        for var in scratch:
            w.line(f"{var.name} = np.empty({var.shape}, {var.dtype.name!r})")
        order = f"range({T - 1}, -1, -1)" if self.reverse else f"range({T})"
        w.line(f"for t in {order}:")
        w.depth += 1
        w.line(f"{self.x_var.name} = {x_source}[t]", "the step's input")
        where[id(self.x_var)] = self.x_var.name
        for name, var in zip(state_names, self.state_vars):
            w.line(f"{var.name} = {name}_states[t{_offset(in_off)}]")
            where[id(var)] = var.name
        if self.valid_var is not None:
            w.line(f"{self.valid_var.name} = valid_steps[t]", "1 inside the sequence, 0 past its end")
            where[id(self.valid_var)] = self.valid_var.name
        scratch_ids = {id(v) for v in scratch}
        for eq in self.forward_eqs:
            var = eq.output
            args_ = [_arg(i, where, self.constant) for i in eq.inputs]
            comment = f"{eq.op.name} {_shape_text(var)}"
            if emit.is_view(eq):
                w.line(f"{var.name} = {emit.view(eq, args_, self.constant)}", comment)
                if id(var) in state_out:  # a new state that is a view of a step value: into its slot
                    w.line(f"{state_names[state_out[id(var)]]}_states[t{_offset(out_off)}] = {var.name}",
                           "the new state, a view, copied into its slot")
                elif var is self.outputs[0]:
                    w.line(f"outputs[t] = {var.name}", "the step output, a view, copied")
            else:
                target = None
                if id(var) in state_out:
                    target = f"{state_names[state_out[id(var)]]}_states[t{_offset(out_off)}]"
                elif id(var) in self.stored:
                    target = f"{self.stored[id(var)]}[t]"
                elif var is self.outputs[0]:
                    target = "outputs[t]"
                elif id(var) in scratch_ids:
                    target = var.name
                _write(w, eq, args_, target, var.name, comment, self.constant, self.transposed)
            where[id(var)] = var.name
            copy_output = self.output_state is None and (id(var) in state_out or id(var) in self.stored)
            if var is self.outputs[0] and copy_output:
                w.line(f"outputs[t] = {var.name}", "the step output")
        made = {id(eq.output) for eq in self.forward_eqs}
        for k, var in enumerate(self.outputs[1:]):  # a state the step passes on unchanged (an input)
            if id(var) not in made and id(var) in where:
                w.line(f"{state_names[k]}_states[t{_offset(out_off)}] = {where[id(var)]}", "passed on unchanged")
        if id(self.outputs[0]) not in made and self.output_state is None and id(self.outputs[0]) in where:
            w.line(f"outputs[t] = {where[id(self.outputs[0])]}", "the step output, an input passed on")
        w.depth -= 1
        finals = ", ".join(f"{name}_states[{final_slot}]" for name in state_names)
        saved = ([f"{name}_states" for name in state_names] + [self.stored[k] for k in self.stored]
                 + self.projection_saved + ([x_source] if self.needs_inputs_saved() else []))
        self.saved_names = list(dict.fromkeys(saved))
        w.line(f"saved = ({', '.join(self.saved_names)},)")
        w.line(f"return ({finals},), saved")
        w.depth -= 1

    def slot_sharing(self, state_out: dict) -> Var | None:
        """The residual that can live in the projected input's (T, B, ·) buffer: the step input is
        spent (last read) before it is written, and the buffer is the projection's own."""
        projection = self.program.projection
        if projection is None or id(self.x_var) in self.residuals or \
                any(v is self.x_var for v in self.leaf_operands) or not _fresh(projection):
            return None
        alias = _aliases(self.forward_eqs)
        last_read = -1
        for position, eq in enumerate(self.forward_eqs):
            if any(isinstance(i, Var) and alias.get(id(i), id(i)) == id(self.x_var) for i in eq.inputs):
                last_read = position
        for eq in self.forward_eqs[last_read + 1:]:
            var = eq.output
            if id(var) in self.residuals and id(var) not in state_out and var is not self.outputs[0] \
                    and var.shape == self.x_var.shape and var.dtype == self.x_var.dtype and not emit.is_view(eq):
                return var
        return None

    def write_invariants(self, w: _Writer, invariant_eqs: list, loop_eqs: list, where: dict) -> None:
        """The loop-invariant equations, once before the loop; a weight the loop multiplies by its
        transpose gets a contiguous transposed copy (BLAS runs x @ Wᵀ faster from one)."""
        if invariant_eqs:
            w.line("# the same at every step: computed once")
        for eq in invariant_eqs:
            args_ = [_arg(i, where, self.constant) for i in eq.inputs]
            text = emit.value(eq, args_, self.constant)
            if eq.op.name == "transpose":
                text = f"np.ascontiguousarray({text})"
            w.line(f"{eq.output.name} = {text}", f"{eq.op.name} {_shape_text(eq.output)}")
            where[id(eq.output)] = eq.output.name
        for eq in loop_eqs:
            if eq.op.name == "linear" and isinstance(eq.inputs[1], Var) and id(eq.inputs[1]) in self.invariant:
                name = where[id(eq.inputs[1])]
                if name not in self.transposed:
                    self.transposed[name] = f"{name}_T"
                    w.line(f"{name}_T = np.ascontiguousarray({name}.T)", "the weight, transposed once")

    def gradient_fits_shared_slot(self) -> bool:
        """Can each step's input gradient overwrite that step's slot of the shared residual? Yes when
        it is made by one plain op after the residual's last read in that step of backward."""
        if self.shared is None or self.d_x is None or self.d_x.shape != self.shared.shape:
            return False
        if any(v is self.shared for v in self.leaf_operands):
            return False
        producer = next((p for p, eq in enumerate(self.backward_eqs) if eq.output is self.d_x), None)
        if producer is not None and self.backward_eqs[producer].op is ASSEMBLE \
                and self.backward_eqs[producer].params.get("base"):  # first written where its base is made
            base = self.backward_eqs[producer].inputs[0]
            producer = next((p for p, eq in enumerate(self.backward_eqs) if eq.output is base), None)
        elif producer is not None and self.backward_eqs[producer].op is ASSEMBLE:
            return False
        if producer is None:
            return False
        alias = _aliases(self.forward_view_eqs + self.backward_eqs)
        for position, eq in enumerate(self.backward_eqs):
            reads = any(isinstance(i, Var) and alias.get(id(i), id(i)) == id(self.shared) for i in eq.inputs)
            if reads and (position > producer or (position == producer and eq.op.name not in emit.UFUNCS)):
                return False
        return True

    def inputs_gradient_is_a_view(self) -> bool:
        """Does the projection's backward return (a view of) the step-input gradient buffer itself as the
        inputs' gradient? Then that buffer leaves the layer and must be its own, not a reused one."""
        pb = self.proj_back
        var = pb.grads.get(id(self.program.projection.input("x")))
        producer = {id(eq.output): eq for eq in pb.equations}
        while var is not None and id(var) in producer:
            eq = producer[id(var)]
            if eq.op.name not in ("reshape", "getitem", "transpose", "broadcast_to"):
                return False
            var = eq.inputs[0] if isinstance(eq.inputs[0], Var) else None
        return var is not None

    def input_memory_order(self):
        """The axes of the projection's output when it is a transpose of the buffer it computed (a
        block-major step input, see blocks.py), else None."""
        if not self.program.flags.get("block_major_input"):
            return None
        projection = self.program.projection
        made = next(eq for eq in projection.equations if eq.output is projection.outputs[0])
        return tuple(made.params["axes"])

    def read_by_backward(self) -> set[int]:
        """ids of the values the backward loop reads, the bases of the forward views it rebuilds included."""
        ids = {id(i) for eq in self.backward_eqs for i in eq.inputs if isinstance(i, Var)}
        return ids | {id(i) for eq in self._views_needed(ids) for i in eq.inputs if isinstance(i, Var)}

    def needs_inputs_saved(self) -> bool:
        return id(self.x_var) in self.read_by_backward() or any(v is self.x_var for v in self.leaf_operands)

    def projection_input_shape(self):
        if self.program.projection is not None:
            return self.program.projection.input("x").shape
        return (self.steps,) + self.x_var.shape

    # --- backward --------------------------------------------------------------------------
    def _carried_in_place(self, state_cots, scratch_ids: set, loop_stored: dict) -> dict[int, str]:
        """Speed: the state gradients written straight into their carry buffer (id of the gradient -> the
        carried name) instead of into scratch and then `np.copyto` at the end of the step: one numpy call and
        one pass over (B, H) less per state per step (GRU S2: 18 -> 17 calls a step). Safe when the carry is
        last read before the equation that makes the new gradient, and never through a view."""
        position = {id(eq.output): k for k, eq in enumerate(self.backward_eqs)}
        viewed = {id(i) for eq in self.backward_eqs if emit.is_view(eq) for i in eq.inputs if isinstance(i, Var)}
        chosen: dict[int, str] = {}
        for carry, grad in zip(state_cots, self.d_states):
            if carry is None or grad is None or grad is carry or id(grad) in chosen or id(carry) in viewed:
                continue
            if id(grad) not in scratch_ids or id(grad) in loop_stored or grad is self.d_x:
                continue
            made_at = position[id(grad)]
            if any(i is carry for eq in self.backward_eqs[made_at:] for i in eq.inputs):
                continue
            chosen[id(grad)] = carry.name
        return chosen

    def write_backward(self, w: _Writer) -> None:
        program, T = self.program, self.steps
        in_off, out_off, first_slot, final_slot = self.slots()
        state_names = program.state_names
        back = self.back
        cot = {id(v): v for v in back.cotangent_inputs}
        out_cot, state_cots = back.cotangents[0], back.cotangents[1:]
        args = (["saved", "grad_outputs"] + [f"grad_{name}_final" for name in state_names] + self.signature_args())
        w.line(f"def backward({', '.join(args)}):")
        w.depth += 1
        w.line('"""BPTT: grad_outputs (T, B, ·) and the final states\' gradients in; the gradients of the inputs, '
               'the initial states and every parameter out."""')
        w.line(f"{', '.join(self.saved_names)}, = saved")
        where: dict[int, str] = {id(p): p.name for p in self.params}
        if self.mask_var is not None:
            where[id(self.mask_var)] = self.mask_var.name
        self.transposed = {}
        needed_invariants = prune(self.forward_invariant_eqs + self.backward_invariant_eqs,
                                  [i for eq in self.backward_eqs for i in eq.inputs
                                   if isinstance(i, Var) and id(i) in self.invariant])
        self.write_invariants(w, needed_invariants, self.backward_eqs, where)
        # carried gradients of the state
        for name, var in zip(state_names, state_cots):
            if var is not None:
                w.line(f"{var.name} = np.array(grad_{name}_final)", f"∂L/∂{name} carried from step to step")
        grad_x_buffer = f"grad_{self.x_source}" if self.x_source != "inputs" else "grad_inputs"
        if self.gradient_fits_shared_slot():
            grad_x_buffer = self.x_source
            w.line(f"grad_{self.x_source} = {grad_x_buffer}",
                   f"∂L/∂(step input), one slot per step, over the spent {self.shared.name}")
            grad_x_buffer = f"grad_{self.x_source}"
        elif self.d_x is not None and self.proj_back is not None and not self.inputs_gradient_is_a_view():
            order = self.input_memory_order()
            if order is None:
                w.line(f"{grad_x_buffer} = buffers.empty({(T,) + self.x_var.shape}, {self.x_var.dtype.name!r})",
                       "∂L/∂(step input), one slot per step (each step writes its own)")
            else:  # laid out as the projection's output is, so its backward reads it without a copy
                stored = tuple(((T,) + self.x_var.shape)[axis] for axis in np.argsort(order))
                w.line(f"{grad_x_buffer} = buffers.empty({stored}, {self.x_var.dtype.name!r})"
                       f".transpose({tuple(int(a) for a in order)})",
                       "∂L/∂(step input), one slot per step, in the projection's memory order")
        else:
            w.line(f"{grad_x_buffer} = np.zeros({(T,) + self.x_var.shape}, {self.x_var.dtype.name!r})",
                   "∂L/∂(step input), one slot per step")
        loop_stored = {}
        leaf_ids = {id(v) for v in self.leaf_operands}
        state_grad_ids = {id(v) for v in self.d_states if v is not None}
        scratch, assembles = [], []
        uses = count_uses(self.backward_eqs, [v for v in self.d_states if v is not None])
        self.in_input_slot = self._leaves_in_input_slot(state_grad_ids)
        for eq in self.backward_eqs:
            var = eq.output
            if emit.is_view(eq) or var is self.d_x or id(var) in self.in_input_slot:
                continue
            if id(var) in leaf_ids:
                loop_stored[id(var)] = f"{var.name}_steps"
                w.line(f"{var.name}_steps = buffers.empty({(T,) + var.shape}, {var.dtype.name!r})")
            elif eq.op is ASSEMBLE:
                assembles.append(var)
            elif emit.into(eq, ["a"] * len(eq.inputs), "o") is not None:
                scratch.append(var)
        for var in assembles:
            w.line(f"{var.name} = np.zeros({var.shape}, {var.dtype.name!r})", "assembled from slices; the rest stays 0")
        carried_in_place = self._carried_in_place(state_cots, {id(v) for v in scratch}, loop_stored)
        scratch = [var for var in scratch if id(var) not in carried_in_place]
        scratch += [eq.output for eq in self.recomputed]
        if scratch:
            w.line("# scratch for one step, reused by every step")
        for var in scratch:
            w.line(f"{var.name} = np.empty({var.shape}, {var.dtype.name!r})")
        loop_params = [(p, g[1]) for p in self.params if (g := self.param_grads[id(p)]) and g[0] == "loop"]
        for param, _ in loop_params:
            w.line(f"grad_{param.name} = np.zeros({param.shape}, {param.dtype.name!r})", "summed over the steps")
        order = f"range({T})" if self.reverse else f"range({T - 1}, -1, -1)"
        w.line(f"for t in {order}:")
        w.depth += 1
        # forward values of step t
        referenced = self.read_by_backward()
        if out_cot is not None:  # read only: the compiled node may hand in arrays other edges hold too
            w.line(f"{out_cot.name} = grad_outputs[t]")
        for name, var in zip(state_names, self.state_vars):
            where[id(var)] = f"{name}_states[t{_offset(in_off)}]"
            if id(var) in referenced:
                w.line(f"{var.name} = {name}_states[t{_offset(in_off)}]")
                where[id(var)] = var.name
        if self.valid_var is not None:
            w.line(f"{self.valid_var.name} = valid_steps[t]")
            where[id(self.valid_var)] = self.valid_var.name
        if id(self.x_var) in referenced:
            w.line(f"{self.x_var.name} = {self.x_source}[t]")
        where[id(self.x_var)] = self.x_var.name
        state_out = {id(v): k for k, v in enumerate(self.outputs[1:])}
        for var in self.residuals.values():
            if id(var) in state_out:
                where[id(var)] = f"{state_names[state_out[id(var)]]}_states[t{_offset(out_off)}]"
            elif id(var) in self.stored:
                where[id(var)] = f"{self.stored[id(var)]}[t]"
        needed_forward = {id(i) for eq in self.backward_eqs for i in eq.inputs if isinstance(i, Var)}
        for eq in self.forward_view_eqs:  # views of kept values, as in the forward
            if id(eq.output) in needed_forward or any(id(eq.output) == id(i) for i in eq.inputs):
                pass
        for var_id, var in self.residuals.items():
            if var_id in needed_forward and where.get(var_id, var.name) != var.name:
                w.line(f"{var.name} = {where[var_id]}")
                where[var_id] = var.name
        for eq in self.recomputed:
            source = eq.inputs[0]
            if where.get(id(source), source.name) != source.name:
                w.line(f"{source.name} = {where[id(source)]}")
                where[id(source)] = source.name
            args_ = [_arg(i, where, self.constant) for i in eq.inputs]
            _write(w, eq, args_, eq.output.name, eq.output.name, f"{eq.op.name}, recomputed (cheaper than kept)",
                   self.constant)
            where[id(eq.output)] = eq.output.name
        for eq in self._views_needed(needed_forward):
            args_ = [_arg(i, where, self.constant) for i in eq.inputs]
            w.line(f"{eq.output.name} = {emit.view(eq, args_, self.constant)}", f"{eq.op.name} (as in forward)")
            where[id(eq.output)] = eq.output.name
        for var in cot.values():
            where[id(var)] = var.name
        scratch_ids = {id(v) for v in scratch} | {id(v) for v in assembles}
        # a value used only by an assemble is written straight into its slice
        slice_target = {id(ref): f"{grad_x_buffer}[t][{emit.index_text(index, self.constant)}]"
                        for ref, index in self.in_input_slot.values()}
        for eq in self.backward_eqs:
            if eq.op is ASSEMBLE and eq.params.get("base"):
                slice_target[id(eq.inputs[0])] = eq.output.name  # the base is written in place
            elif eq.op is ASSEMBLE and not _layout(eq)[0]:  # overlapping parts are added, not written
                for ref, index in zip(eq.inputs, eq.params["indices"]):
                    if isinstance(ref, Var) and uses.get(id(ref)) == 1 and id(ref) in scratch_ids \
                            and id(ref) not in state_grad_ids and id(ref) not in leaf_ids \
                            and id(ref) not in carried_in_place:
                        target = eq.output.name if eq.output is not self.d_x else f"{grad_x_buffer}[t]"
                        slice_target[id(ref)] = f"{target}[{emit.index_text(index, self.constant)}]"
        slot_of = {id(self.d_x): f"{grad_x_buffer}[t]"} if self.d_x is not None else {}
        slot_of.update({key: f"{value}[t]" for key, value in loop_stored.items()})
        prefilled = set()
        for eq in self.backward_eqs:  # assembled in a per-step slot: named (and zeroed) before its parts are written
            if eq.op is ASSEMBLE and id(eq.output) in slot_of:
                w.line(f"{eq.output.name} = {slot_of[id(eq.output)]}")
                overlap, covers = _layout(eq)
                if not overlap and not covers and not eq.params.get("base"):
                    w.line(f"{eq.output.name}.fill(0)", "the columns no part writes")
                    prefilled.add(id(eq.output))
        for eq in self.backward_eqs:
            var = eq.output
            args_ = [_arg(i, where, self.constant) for i in eq.inputs]
            comment = f"{eq.op.name} {_shape_text(var)}"
            if emit.is_view(eq):
                w.line(f"{var.name} = {emit.view(eq, args_, self.constant)}", comment)
                if id(var) in slot_of:
                    w.line(f"{slot_of[id(var)]} = {var.name}")
            elif eq.op is ASSEMBLE:
                _assemble(w, eq, args_, var.name, slice_target, self.constant,
                          fill=id(var) in slot_of and id(var) not in prefilled)
            else:
                target = slice_target.get(id(var))
                if var is self.d_x:
                    target = f"{grad_x_buffer}[t]"
                elif id(var) in loop_stored:
                    target = f"{loop_stored[id(var)]}[t]"
                elif id(var) in carried_in_place:
                    target = carried_in_place[id(var)]
                elif target is None and id(var) in scratch_ids:
                    target = var.name
                _write(w, eq, args_, target, var.name, comment, self.constant, self.transposed)
            where[id(var)] = var.name
        if self.d_x is not None and id(self.d_x) in cot:
            w.line(f"{grad_x_buffer}[t] = {self.d_x.name}")
        for param, grad in loop_params:
            w.line(f"grad_{param.name} += {where[id(grad)]}", f"∂L/∂{param.name}, step t's share")
        for name, var, grad in zip(state_names, state_cots, self.d_states):
            if var is None:
                continue
            if grad is None:
                w.line(f"{var.name}.fill(0)", f"{name} does not reach the previous step")
            elif grad is not var and id(grad) not in carried_in_place:
                w.line(f"np.copyto({var.name}, {where[id(grad)]})", f"carry ∂L/∂{name} to step t-1")
        w.depth -= 1
        # after the loop: the tall products of the shared weights' gradients
        if self.leaves:
            w.line("# shared weights: their gradients summed over all T·B rows at once")
        all_where = dict(where)
        for kind, var, left, right in self.leaves:
            left_all = self._all(left, loop_stored, grad_x_buffer)
            if kind == "matmul":
                right_all = self._all(right, loop_stored, grad_x_buffer)
                w.line(f"{var.name} = {left_all}.reshape(-1, {left.shape[1]}).T @ {right_all}.reshape(-1, "
                       f"{right.shape[1]})", f"matmul {_shape_text(var)}: Σ_t {left.name}ᵀ {right.name}")
            else:
                w.line(f"{var.name} = {left_all}.reshape(-1, {left.shape[1]}).sum(axis=0)",
                       f"sum {_shape_text(var)}: Σ_t Σ_b {left.name}")
            all_where[id(var)] = var.name
        for eq in self.post:
            args_ = [_arg(i, all_where, self.constant) for i in eq.inputs]
            if eq.op is ASSEMBLE:
                w.line(f"{eq.output.name} = np.zeros({eq.output.shape}, {eq.output.dtype.name!r})")
                _assemble(w, eq, args_, eq.output.name, {}, self.constant, fill=False)
            else:
                w.line(f"{eq.output.name} = {emit.value(eq, args_, self.constant)}",
                       f"{eq.op.name} {_shape_text(eq.output)}")
            all_where[id(eq.output)] = eq.output.name
        grads = {id(p): None for p in self.params}
        for param in self.params:
            entry = self.param_grads.get(id(param))
            if entry is None:
                continue
            grads[id(param)] = f"grad_{param.name}" if entry[0] == "loop" else all_where[id(entry[1])]
        # project_inputs' backward, once for all steps
        d_inputs = grad_x_buffer
        if self.proj_back is not None:
            pb = self.proj_back
            w.line("# project_inputs' backward: every step at once")
            seed = pb.cotangent_inputs[0]
            proj_where = {id(seed): grad_x_buffer}
            proj = self.program.projection
            by_role = {p.role: p.name for p in self.params}
            for var in proj.inputs:
                proj_where[id(var)] = by_role.get(var.role, "inputs")
            for eq in proj.equations:
                proj_where[id(eq.output)] = eq.output.name
            needed = [v for v in pb.grads.values() if v is not None]
            for eq in prune(pb.equations, needed):
                args_ = [_arg(i, proj_where, self.constant) for i in eq.inputs]
                w.line(f"{eq.output.name} = {emit.value(eq, args_, self.constant)}",
                       f"{eq.op.name} {_shape_text(eq.output)}")
                proj_where[id(eq.output)] = eq.output.name
            x_grad = pb.grads.get(id(proj.input("x")))
            d_inputs = proj_where[id(x_grad)] if x_grad is not None else "None"
            for var in proj.inputs:
                if not var.role.startswith("param:"):
                    continue
                grad = pb.grads.get(id(var))
                if grad is None:
                    continue
                param = next(p for p in self.params if p.role == var.role)
                own = grads[id(param)]
                grads[id(param)] = proj_where[id(grad)] if own is None else f"{own} + {proj_where[id(grad)]}"
        initial = ", ".join(var.name if var is not None else "None" for var in state_cots)
        param_grads = ", ".join(grads[id(p)] or "None" for p in self.params)
        w.line(f"return {d_inputs}, ({initial},), ({param_grads},)")
        w.depth -= 1

    def _views_needed(self, needed: set[int]) -> list[Equation]:
        """Forward view equations backward needs (in forward order, with the views they stand on)."""
        wanted = set(needed)
        chosen = []
        for eq in reversed(self.forward_eqs):
            if emit.is_view(eq) and id(eq.output) in wanted and id(eq.output) not in self.residuals:
                chosen.append(eq)
                wanted.update(id(i) for i in eq.inputs if isinstance(i, Var))
        chosen.reverse()
        return chosen

    def _leaves_in_input_slot(self, excluded: set[int]) -> dict:
        """Speed: the per-step values that a weight's gradient needs after the loop and that are also
        written unchanged into a slice of the step input's gradient (a GRU gate's pre-activation
        gradient, [r, z] block of ∂L/∂x) live in that slice, not in a (T, B, ·) buffer of their own
        plus a copy: id(value) -> (value, its index in the slot). The tall product after the loop
        reads the slice of all steps (a strided view; BLAS takes it as it is). Measured on the GRU at
        S1, timed line by line: its backward 10.6 -> 9.7 ms (two (B, H) copies and stores a step)."""
        assembled = next((eq for eq in self.backward_eqs if eq.output is self.d_x), None)
        if assembled is None or assembled.op is not ASSEMBLE or assembled.params.get("base") or _layout(assembled)[0]:
            return {}
        leaves = {id(v) for v in self.leaf_operands}
        producer = {id(eq.output): eq for eq in self.backward_eqs}
        chosen = {}
        for ref, index in zip(assembled.inputs, assembled.params["indices"]):
            made = producer.get(id(ref)) if isinstance(ref, Var) else None
            if made is None or id(ref) not in leaves or id(ref) in excluded or assembled.inputs.count(ref) > 1 \
                    or emit.is_view(made) or made.op is ASSEMBLE or not _one_block_per_step(index, len(ref.shape)):
                continue
            chosen[id(ref)] = (ref, index)
        return chosen

    def _all(self, var: Var, loop_stored: dict, grad_x_buffer: str) -> str:
        """An expression for `var` at every step, stacked (T, B, ·)."""
        in_off, out_off, _, _ = self.slots()
        T = self.steps
        if var is self.d_x:
            return grad_x_buffer
        if id(var) in self.in_input_slot:
            return f"{grad_x_buffer}[:, {emit.index_text(self.in_input_slot[id(var)][1], self.constant)}]"
        if id(var) in loop_stored:
            return loop_stored[id(var)]
        if var is self.x_var:
            return self.x_source
        for name, state in zip(self.program.state_names, self.state_vars):
            if var is state:
                return f"{name}_states[{in_off}:{in_off + T}]"
        for k, out in enumerate(self.outputs[1:]):
            if var is out:
                return f"{self.program.state_names[k]}_states[{out_off}:{out_off + T}]"
        if id(var) in self.stored:
            return self.stored[id(var)]
        eq = self.forward_producer.get(id(var))
        if eq is not None and eq.op.name == "getitem" and emit.is_view(eq):
            index = eq.params["index"] if isinstance(eq.params["index"], tuple) else (eq.params["index"],)
            base = self._all(eq.inputs[0], loop_stored, grad_x_buffer)
            return f"{base}[:, {emit.index_text(index, self.constant)}]"
        raise KeyError(f"no stored value for {var.name}")


def _layout(eq: Equation) -> tuple[bool, bool]:
    """(do the assemble's parts overlap, do they cover its whole output)."""
    covered = np.zeros(eq.output.shape, dtype=bool)
    overlap = False
    for index in eq.params["indices"]:
        overlap |= bool(covered[index].any())
        covered[index] = True
    return overlap, bool(covered.all())


def _one_block_per_step(index, ndim: int) -> bool:
    """Is `index` one block of a step value (`[:, a:b]` of a (B, F) one, or `[k]` of a block-major
    (K, B, w) one), so that the block of all steps is a view the tall product reads as (T·B, ·) rows?"""
    return ndim == 2 and (isinstance(index, (int, np.integer)) or emit.is_column_slice(index))


def _aliases(equations: list[Equation]) -> dict[int, int]:
    """id(view) -> id(the Var it is a view of), through chains of views."""
    alias: dict[int, int] = {}
    for eq in equations:
        if emit.is_view(eq) and isinstance(eq.inputs[0], Var):
            alias[id(eq.output)] = alias.get(id(eq.inputs[0]), id(eq.inputs[0]))
    return alias


def _fresh(projection: StepProgram) -> bool:
    """Is the projection's output a new array (not a view of the caller's inputs)?"""
    producer = {id(eq.output): eq for eq in projection.equations}
    var = projection.outputs[0]
    while id(var) in producer:
        eq = producer[id(var)]
        if eq.op.name not in ("reshape", "getitem", "transpose", "broadcast_to"):
            return True
        if not isinstance(eq.inputs[0], Var):
            return False
        var = eq.inputs[0]
    return False


def _offset(offset: int) -> str:
    return f" + {offset}" if offset else ""


def _write(w: _Writer, eq: Equation, args: list[str], target: str | None, name: str, comment: str, constant,
           transposed: dict | None = None) -> None:
    """`name = ...` into `target` when given (and possible), else a fresh value."""
    if target is not None:
        statement = emit.into(eq, args, name, transposed)
        if statement is not None:
            if target != name:
                w.line(f"{name} = {target}")
            w.line(statement, comment)
            return
        w.line(f"{name} = {emit.value(eq, args, constant)}", comment)
        if target != name:
            w.line(f"{target}[...] = {name}")
        return
    w.line(f"{name} = {emit.value(eq, args, constant)}", comment)


def _assemble(w: _Writer, eq: Equation, args: list[str], name: str, written: dict, constant, fill: bool) -> None:
    """Write each part into its slice of `name` (parts already written there are skipped); onto a
    base (already written into `name`), add each part into its slice."""
    if eq.params.get("base"):
        if written.get(id(eq.inputs[0])) is None:
            w.line(f"np.copyto({name}, {args[0]})")
        for arg, index in zip(args[1:], eq.params["indices"]):
            w.line(f"{name}[{emit.index_text(index, constant)}] += {arg}", "assemble: the gradient of a slice, added")
        return
    overlap, covers = _layout(eq)
    if fill and not covers or overlap:
        w.line(f"{name}.fill(0)")
    for ref, arg, index in zip(eq.inputs, args, eq.params["indices"]):
        target = f"{name}[{emit.index_text(index, constant)}]"
        if isinstance(ref, Var) and written.get(id(ref)) is not None and not overlap:
            continue
        w.line(f"{target} {'+=' if overlap else '='} {arg}", f"{eq.op.name}: the gradient of a slice")


__all__ = ["generate", "Generated", "active_vars"]
