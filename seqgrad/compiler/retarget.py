"""Stretch a projection program traced over a few steps to the real number of steps.

`project_inputs` runs over all T steps at once, so its trace (and the backward derived from
it) would otherwise be recorded on full-size (T, B, ·) arrays: hundreds of MB and seconds for
long sequences. Instead it is traced at two small step counts; every integer in a shape or a
parameter must then be a linear function of the step count (`T·B`, `T`, constants), which is
checked, and evaluated at the real T. Anything else raises NotLinear and the caller traces
at full size instead.
"""

from __future__ import annotations

import numpy as np

from .program import Const, Var


class NotLinear(ValueError):
    """The two traces differ in a way that is not linear in the number of steps."""


def _scale(a, b, ta: int, tb: int, t: int):
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        if a != b:
            raise NotLinear(f"{a!r} vs {b!r}")
        return a
    if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
        if a == b:
            return a
        slope, remainder = divmod(int(b) - int(a), tb - ta)
        if remainder:
            raise NotLinear(f"{a} at T={ta}, {b} at T={tb}")
        value = int(a) + slope * (t - ta)
        if value < 0:
            raise NotLinear(f"{a} at T={ta}, {b} at T={tb} gives {value} at T={t}")
        return value
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return tuple(_scale(x, y, ta, tb, t) for x, y in zip(a, b))
    if isinstance(a, slice) and isinstance(b, slice):
        return slice(_scale(a.start, b.start, ta, tb, t), _scale(a.stop, b.stop, ta, tb, t),
                     _scale(a.step, b.step, ta, tb, t))
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {key: _scale(a[key], b[key], ta, tb, t) for key in a}
    if not Const(a).same(Const(b)):
        raise NotLinear(f"{a!r} vs {b!r}")
    return a


def retarget(first: list, second: list, first_steps: int, second_steps: int, steps: int, pairs=()) -> None:
    """Rewrite, in place, the Vars and params of `first` (equation lists of a program traced over
    `first_steps`) for `steps`, from their counterparts in `second` (traced over `second_steps`);
    `pairs` are (Var, counterpart) that no equation lists, such as unused inputs."""
    done: set[int] = set()

    def fix(var_a, var_b) -> None:
        if isinstance(var_a, Var) != isinstance(var_b, Var):
            raise NotLinear("an input is a variable in one trace and a constant in the other")
        if not isinstance(var_a, Var) or id(var_a) in done:
            return
        done.add(id(var_a))
        var_a.shape = _scale(var_a.shape, var_b.shape, first_steps, second_steps, steps)

    for var_a, var_b in pairs:
        fix(var_a, var_b)
    for eqs_a, eqs_b in zip(first, second):
        if len(eqs_a) != len(eqs_b):
            raise NotLinear("the traces have different numbers of equations")
        for eq_a, eq_b in zip(eqs_a, eqs_b):
            if eq_a.op is not eq_b.op or len(eq_a.inputs) != len(eq_b.inputs):
                raise NotLinear(f"{eq_a.op.name} vs {eq_b.op.name}")
            for input_a, input_b in zip(eq_a.inputs, eq_b.inputs):
                fix(input_a, input_b)
            eq_a.params = _scale(eq_a.params, eq_b.params, first_steps, second_steps, steps)
            fix(eq_a.output, eq_b.output)
