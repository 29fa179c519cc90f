"""The primitive ops (each a forward on numpy arrays and its vjp, declared once) and the
functions composed from them (`composite`: no rule of their own)."""

from . import composite
from .arithmetic import add, div, mul, neg, pow, sub
from .composite import (
    ValuesIndices,
    cat,
    flatten,
    min,
    pick_axis,
    prod,
    softplus,
    squeeze,
    std,
    unsqueeze,
    var,
)
from .linalg import einsum, linear, matmul
from .primitive import REGISTRY, Primitive, primitive
from .reduce import cumsum, log_softmax, logsumexp, max, mean, softmax, sum
from .select import clip, maximum, minimum, where
from .shape import broadcast_to, chunk, concat, getitem, normalize_index, reshape, scatter, split, stack, transpose
from .unary import abs, cos, exp, expm1, log, log1p, relu, sigmoid, sin, sqrt, tanh

__all__ = [
    "REGISTRY", "Primitive", "primitive", "composite",
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "linear", "einsum",
    "exp", "log", "tanh", "sigmoid", "relu", "abs", "sqrt", "sin", "cos", "log1p", "expm1",
    "maximum", "minimum", "where", "clip",
    "sum", "mean", "max", "logsumexp", "softmax", "log_softmax", "cumsum",
    "reshape", "transpose", "broadcast_to", "getitem", "scatter", "concat", "stack", "split", "chunk",
    "normalize_index",
    "ValuesIndices", "pick_axis", "min", "prod", "var", "std", "softplus", "unsqueeze", "squeeze", "flatten", "cat",
]
