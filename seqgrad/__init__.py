"""seqgrad: see and build recurrent networks on a small reverse-mode autograd engine."""

from . import bptt, compiler, data, export, interop, nn, optim, viz
from .autodiff.gradcheck import gradcheck
from .autodiff.tape import (
    current_scope,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
)
from .compiler import compile
from .dtypes import get_default_dtype, set_default_dtype
from .errors import CheckpointError, ExportError, GradcheckError, ShapeError, StateDictError
from .factories import ones, ones_like, randn, zeros, zeros_like
from .interop.checkpoint import load, save
from .ops import (
    abs,
    cat,
    chunk,
    clip,
    concat,
    cos,
    cumsum,
    einsum,
    exp,
    expm1,
    flatten,
    linear,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    prod,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    softplus,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    unsqueeze,
    var,
    where,
)
from .ops.composite import max, min
from .random import manual_seed
from .tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "gradcheck", "scope", "current_scope", "no_grad", "enable_grad", "is_grad_enabled",
    "detect_anomaly", "set_default_dtype", "get_default_dtype",
    "ShapeError", "GradcheckError", "CheckpointError", "StateDictError", "ExportError", "manual_seed", "save", "load",
    "nn", "optim", "bptt", "interop", "data", "viz", "compiler", "compile", "export",
    "zeros", "ones", "zeros_like", "ones_like", "randn",
    "abs", "cat", "chunk", "clip", "concat", "cos", "cumsum", "einsum", "exp", "expm1", "flatten", "linear", "log",
    "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "prod", "relu",
    "reshape", "sigmoid", "sin", "softmax", "softplus", "split", "sqrt", "squeeze", "stack", "std", "sum", "tanh",
    "unsqueeze", "var", "where",
]
