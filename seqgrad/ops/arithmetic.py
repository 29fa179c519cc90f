"""Arithmetic: add, sub, mul, div, neg, pow. Broadcasting is summed back by the engine."""

import numpy as np

from .primitive import primitive

add = primitive(
    "add", np.add,
    vjp=lambda ctx, g: (g, g),
    doc="a + b; d/da = d/db = 1.",
)

sub = primitive(
    "sub", np.subtract,
    vjp=lambda ctx, g: (g, -g if ctx.needs[1] else None),
    doc="a - b; d/da = 1, d/db = -1.",
)

mul = primitive(
    "mul", np.multiply, saves="x-crossed",  # x * mask (dropout, lengths) does not keep x alive
    vjp=lambda ctx, g: (
        g * ctx.xs[1] if ctx.needs[0] else None,
        g * ctx.xs[0] if ctx.needs[1] else None,
    ),
    doc="a * b; d/da = b, d/db = a.",
)


def _div_vjp(ctx, g):
    a, b = ctx.xs
    grad_a = g / b
    return grad_a if ctx.needs[0] else None, -grad_a * a / b if ctx.needs[1] else None


div = primitive("div", np.divide, _div_vjp, saves="x", doc="a / b; d/da = 1/b, d/db = -a/b².")

neg = primitive("neg", np.negative, vjp=lambda ctx, g: (-g,), doc="-a.")


def _pow_forward(x, *, exponent: float):
    return np.power(x, exponent)


pow = primitive(
    "pow", _pow_forward, saves="x",
    vjp=lambda ctx, g: (g * ctx.params["exponent"] * ctx.xs[0] ** (ctx.params["exponent"] - 1),),
    doc="x ** p for a number p; d/dx = p x^(p-1).",
)
