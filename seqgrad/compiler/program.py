"""A step program: one `step` of a cell as a list of primitive applications (jaxpr-like).

`Var` is a named value with a shape and dtype, `Const` a value baked into the program,
`Equation` one primitive application `output = op(*inputs, **params)`. A `StepProgram`
lists its input variables (each with a role: "x", "state:<name>", "param:<path>",
"recurrent_mask", "valid"), its equations in execution order, and its outputs (the step
output, then the new state components).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Var:
    """A symbolic value: `name` (a Python identifier), `shape`, `dtype`, and `role` for inputs."""

    __slots__ = ("name", "shape", "dtype", "role")

    def __init__(self, name: str, shape: tuple, dtype, role: str | None = None) -> None:
        self.name, self.shape, self.dtype, self.role = name, tuple(shape), np.dtype(dtype), role

    def __repr__(self) -> str:
        return f"{self.name}:{_type(self)}"


class Const:
    """A value the program uses as it is (a number, or an array fixed at trace time)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        if isinstance(self.value, np.ndarray) and self.value.size > 4:
            return f"const{self.value.shape}"
        return repr(self.value.tolist() if isinstance(self.value, np.ndarray) else self.value)

    def same(self, other: Const) -> bool:
        a, b = self.value, other.value
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.shape(a) == np.shape(b) and np.array_equal(a, b)
        return type(a) is type(b) and a == b


@dataclass
class Equation:
    """`output = op(*inputs, **params)`: one primitive application."""

    op: Any  # a seqgrad Primitive
    inputs: tuple  # of Var | Const
    params: dict
    output: Var

    def __repr__(self) -> str:
        args = ", ".join(repr(i) if isinstance(i, Const) else i.name for i in self.inputs)
        extra = "".join(f", {k}={_short(v)}" for k, v in self.params.items())
        return f"{self.output!r} = {self.op.name}({args}{extra})"


@dataclass
class StepProgram:
    """One step of `cell_name` as primitive applications; `projection` is the cell's
    `project_inputs` over all steps as its own program (None when the cell has none)."""

    cell_name: str
    inputs: list[Var]
    equations: list[Equation]
    outputs: list[Var]  # the step output, then the new state components
    state_names: tuple[str, ...]
    projection: StepProgram | None = None
    flags: dict = field(default_factory=dict)

    def input(self, role: str) -> Var | None:
        """The input variable with this role, or None."""
        return next((var for var in self.inputs if var.role == role), None)

    def __str__(self) -> str:
        """jaxpr-style listing: one equation a line, shapes in the types."""
        lines = []
        if self.projection is not None:
            lines.append(f"# project_inputs of {self.cell_name}")
            lines.append(str(self.projection))
        lines.append(f"{{ lambda {', '.join(f'{v!r} [{v.role}]' for v in self.inputs)} .")
        lines += [f"    {eq!r}" for eq in self.equations]
        lines.append(f"  in ({', '.join(v.name for v in self.outputs)}) }}")
        return "\n".join(lines)


def _type(var: Var) -> str:
    return f"{var.dtype.name}[{','.join(map(str, var.shape))}]"


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.size > 4 else repr(value.tolist())
    return repr(value)
