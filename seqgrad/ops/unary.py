"""Element-wise functions of one tensor, each with its derivative beside it."""

import numpy as np

from .primitive import data, primitive

exp = primitive("exp", np.exp, saves="out",
                vjp=lambda ctx, g: (g * ctx.out,),
                doc="e^x; d/dx = e^x (the output).")

log = primitive("log", np.log, saves="x",
                vjp=lambda ctx, g: (g / ctx.xs[0],),
                doc="ln x; d/dx = 1/x.")

tanh = primitive("tanh", np.tanh, saves="out",
                 vjp=lambda ctx, g: (g * (1.0 - ctx.out * ctx.out),),
                 doc="tanh x; d/dx = 1 - tanh²x.")


def _sigmoid_forward(x):
    # σ(x) = (1 + tanh(x/2)) / 2: one transcendental, no overflow for any |x|.
    out = np.tanh(x * 0.5)
    out += 1.0
    out *= 0.5
    return out


sigmoid = primitive("sigmoid", _sigmoid_forward, saves="out",
                    vjp=lambda ctx, g: (g * ctx.out * (1.0 - ctx.out),),
                    doc="σ(x) = 1 / (1 + e^-x); d/dx = σ(1 - σ).")

relu = primitive("relu", lambda x: np.maximum(x, 0), saves="out",
                 vjp=lambda ctx, g: (g * (data(ctx.out) > 0),),
                 doc="max(x, 0); d/dx = 1 where x > 0.")

abs = primitive("abs", np.abs, saves="x",  # noqa: A001
                vjp=lambda ctx, g: (g * np.sign(data(ctx.xs[0])),),
                doc="|x|; d/dx = sign x (0 at 0).")

sqrt = primitive("sqrt", np.sqrt, saves="out",
                 vjp=lambda ctx, g: (g * 0.5 / ctx.out,),
                 doc="√x; d/dx = 1 / (2√x).")
