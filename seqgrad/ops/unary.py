"""Element-wise functions of one tensor, each with its derivative beside it."""

import numpy as np

from . import dual
from .primitive import data, primitive

exp = primitive("exp", np.exp, saves="out",
                vjp=lambda ctx, g: (g * ctx.out,),
                doc="e^x; d/dx = e^x (the output).")

log = primitive("log", np.log, saves="x",
                vjp=lambda ctx, g: (g / ctx.xs[0],),
                doc="ln x; d/dx = 1/x.")

def _tanh_vjp(ctx, g):
    out = ctx.out
    if type(g) is np.ndarray and g.ndim:  # one buffer, not three temporaries (every cell's hot path)
        slope = np.multiply(out, out)
        np.subtract(1.0, slope, out=slope)
        slope *= g
        return (slope,)
    return (g * (1.0 - out * out),)  # Tensors, under create_graph


tanh = primitive("tanh", np.tanh, _tanh_vjp, saves="out", doc="tanh x; d/dx = 1 - tanh²x.")


def _sigmoid_forward(x):
    # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0: e^-|x| never overflows, and
    # small outputs keep full relative precision (σ(-40) = 4.2e-18, not 1 + tanh(-20) = 0).
    # The numerator is 1 where x >= 0 and e^x = e^-|x| <= 1 elsewhere: max(e^-|x|, x >= 0), which
    # is exact and several times faster than np.where with a Python scalar branch.
    if np.ndim(x) == 0 or x.dtype.kind != "f":  # scalars and integers: no buffer to reuse
        decay = np.exp(-np.abs(x))
        return np.maximum(decay, x >= 0) / (1.0 + decay)
    decay = np.abs(x)  # in place from here: one buffer for e^-|x|, one for the result
    np.negative(decay, out=decay)
    np.exp(decay, out=decay)
    out = np.maximum(decay, x >= 0)
    decay += 1.0
    out /= decay
    return out


def _sigmoid_vjp(ctx, g):
    out = ctx.out
    if type(g) is np.ndarray and g.ndim:  # one buffer instead of three temporaries
        slope = np.subtract(1.0, out)
        slope *= out
        slope *= g
        return (slope,)
    return (g * out * (1.0 - out),)  # Tensors, under create_graph


sigmoid = primitive("sigmoid", _sigmoid_forward, _sigmoid_vjp, saves="out",
                    doc="σ(x) = 1 / (1 + e^-x); d/dx = σ(1 - σ).")

relu = primitive("relu", lambda x: np.maximum(x, 0), saves="out",
                 vjp=lambda ctx, g: (g * (data(ctx.out) > 0),),
                 doc="max(x, 0); d/dx = 1 where x > 0.")

abs = primitive("abs", np.abs, saves="x",
                vjp=lambda ctx, g: (g * np.sign(data(ctx.xs[0])),),
                doc="|x|; d/dx = sign x (0 at 0).")

sqrt = primitive("sqrt", np.sqrt, saves="out",
                 vjp=lambda ctx, g: (g * 0.5 / ctx.out,),
                 doc="√x; d/dx = 1 / (2√x).")

sin = primitive("sin", np.sin, saves="x",
                vjp=lambda ctx, g: (g * dual.cos(ctx.xs[0]),),
                doc="sin x; d/dx = cos x.")

cos = primitive("cos", np.cos, saves="x",
                vjp=lambda ctx, g: (-g * dual.sin(ctx.xs[0]),),
                doc="cos x; d/dx = -sin x.")

log1p = primitive("log1p", np.log1p, saves="x",
                  vjp=lambda ctx, g: (g / (1.0 + ctx.xs[0]),),
                  doc="ln(1 + x), exact for tiny x; d/dx = 1/(1 + x).")

expm1 = primitive("expm1", np.expm1, saves="out",
                  vjp=lambda ctx, g: (g * (ctx.out + 1.0),),
                  doc="e^x - 1, exact for tiny x; d/dx = e^x (the output + 1).")
