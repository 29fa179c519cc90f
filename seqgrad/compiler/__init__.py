"""Compiled recurrence: trace one step of a cell, derive its BPTT from the primitives' vjp
rules, and run both over the whole sequence as generated numpy source you can read.

    program = seqgrad.compiler.trace(cell, batch_size, dtype)   # the step as primitive applications
"""

from .program import Const, Equation, StepProgram, Var
from .trace import TraceError, trace

__all__ = ["trace", "TraceError", "StepProgram", "Equation", "Var", "Const"]
