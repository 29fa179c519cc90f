"""Compiled recurrence: trace one step of a cell, derive its BPTT from the primitives' vjp
rules, and run both over the whole sequence as generated numpy source you can read.

    program = seqgrad.compiler.trace(cell, batch_size, dtype)   # the step as primitive applications
    print(seqgrad.compiler.source(cell))                        # the generated forward and BPTT
    model = seqgrad.compile(model)                              # every nn.Recurrent runs generated code
"""

from __future__ import annotations

import numpy as np

from .layer import CompiledModule, compile, compiled_code
from .program import Const, Equation, StepProgram, Var
from .trace import TraceError, trace


def source(cell, batch_size: int = 1, steps: int = 4, dtype=np.float32, *, input_size: int | None = None,
           reverse: bool = False, recurrent_mask: bool = False, lengths: bool = False) -> str:
    """The generated forward and BPTT source for `cell` at these sizes (exactly the text that runs)."""
    input_size = input_size if input_size is not None else getattr(cell, "input_size", None)
    if input_size is None:
        raise TraceError(f"{type(cell).__name__} has no input_size attribute; pass source(..., input_size=D)")
    return compiled_code(cell, steps, batch_size, input_size, dtype, reverse, recurrent_mask, lengths).source


__all__ = ["trace", "source", "compile", "CompiledModule", "TraceError", "StepProgram", "Equation", "Var", "Const"]
