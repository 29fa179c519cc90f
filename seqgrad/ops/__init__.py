"""The primitive ops: each a forward on numpy arrays and its vjp, declared once."""

from .arithmetic import add, div, mul, neg, pow, sub
from .linalg import linear, matmul
from .primitive import REGISTRY, Primitive, primitive
from .reduce import log_softmax, logsumexp, max, mean, softmax, sum
from .select import clip, maximum, minimum, where
from .shape import broadcast_to, chunk, concat, getitem, normalize_index, reshape, scatter, split, stack, transpose
from .unary import abs, exp, log, relu, sigmoid, sqrt, tanh

__all__ = [
    "REGISTRY", "Primitive", "primitive",
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "linear",
    "exp", "log", "tanh", "sigmoid", "relu", "abs", "sqrt",
    "maximum", "minimum", "where", "clip",
    "sum", "mean", "max", "logsumexp", "softmax", "log_softmax",
    "reshape", "transpose", "broadcast_to", "getitem", "scatter", "concat", "stack", "split", "chunk",
    "normalize_index",
]
