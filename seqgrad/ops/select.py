"""Ops that pick between values: maximum, minimum, where, clip.

Ties in maximum/minimum send half the gradient each way, as PyTorch does.
"""

import numpy as np

from .primitive import data, primitive


def _pick_vjp(first_wins):
    def vjp(ctx, g):
        a, b = data(ctx.xs[0]), data(ctx.xs[1])
        share_a = first_wins(a, b) + 0.5 * (a == b)
        return (g * share_a if ctx.needs[0] else None,
                g * (1.0 - share_a) if ctx.needs[1] else None)
    return vjp


maximum = primitive("maximum", np.maximum, _pick_vjp(np.greater), saves="x",
                    doc="element-wise max(a, b); the gradient goes to the larger.")
minimum = primitive("minimum", np.minimum, _pick_vjp(np.less), saves="x",
                    doc="element-wise min(a, b); the gradient goes to the smaller.")


def _where_forward(a, b, *, condition):
    return np.where(condition, a, b)


def _where_vjp(ctx, g):
    condition = ctx.params["condition"]
    return (g * condition if ctx.needs[0] else None,
            g * ~condition if ctx.needs[1] else None)


_where = primitive("where", _where_forward, _where_vjp,
                   doc="condition ? a : b; the gradient follows the chosen side.")


def where(condition, a, b):
    """`a` where `condition` holds, else `b` (condition: bool array or Tensor, no gradient)."""
    return _where(a, b, condition=np.asarray(data(condition), dtype=bool))


def _clip_forward(x, *, low, high):
    return np.clip(x, low, high)


def _clip_vjp(ctx, g):
    x = data(ctx.xs[0])
    low, high = ctx.params["low"], ctx.params["high"]
    inside = np.ones(x.shape, dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return (g * inside,)


clip = primitive("clip", _clip_forward, _clip_vjp, saves="x",
                 doc="x limited to [low, high]; gradient 1 inside (bounds included), 0 outside.")
