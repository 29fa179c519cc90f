"""Each seqgrad primitive as the torch expression that computes it: one line of generated code per op.

`torch_expression(op_name, args, params, shapes)` -> Python source, given the source of each input
(`args`), the op's params and each input's shape (None for a number). The torch op is chosen so
that its gradient is seqgrad's gradient too (ties of maximum/minimum/max shared, clip's bounds
inside, relu and abs 0 at 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ExportError


def _infix(symbol: str) -> Callable:
    return lambda args, params, shapes: f"{args[0]} {symbol} {args[1]}"


def _call(function: str) -> Callable:
    return lambda args, params, shapes: f"{function}({', '.join(args)})"


def _dims(axis, ndim: int) -> str:
    """A reduction's dim argument: all axes when seqgrad's axis is None."""
    if axis is None:
        return repr(tuple(range(ndim)))
    return repr(tuple(axis)) if isinstance(axis, (tuple, list)) else repr(int(axis))


def _reduction(function: str) -> Callable:
    def emit(args, params, shapes):
        ndim = len(shapes[0] or ())
        return f"{function}({args[0]}, dim={_dims(params.get('axis'), ndim)}, keepdim={bool(params.get('keepdims'))})"
    return emit


def _linear(args, params, shapes):
    if len(args) == 2:
        return f"F.linear({args[0]}, {args[1]})"
    bias_shape, weight_shape = shapes[2], shapes[1]
    if bias_shape is not None and tuple(bias_shape) == (weight_shape[0],):
        return f"F.linear({args[0]}, {args[1]}, {args[2]})"
    if shapes[0] is not None and len(shapes[0]) == 2 and bias_shape is not None and len(bias_shape) == 2:
        # x Wᵀ + b with a bias of the output's shape (a projected input): one fused op, as seqgrad's.
        return f"torch.addmm({args[2]}, {args[0]}, {args[1]}.t())"
    return f"F.linear({args[0]}, {args[1]}) + {args[2]}"


def _transpose(args, params, shapes):
    axes = params.get("axes")
    if axes is None:
        axes = tuple(reversed(range(len(shapes[0]))))
    return f"{args[0]}.permute({tuple(int(a) for a in axes)!r})"


def _getitem(args, params, shapes):
    index, flipped = _without_negative_steps(params["index"], shapes[0])
    source = f"{args[0]}.flip{tuple(flipped)!r}" if flipped else args[0]
    return f"{source}[{index_source(index)}]"


def _without_negative_steps(index, shape) -> tuple:
    """torch slices take no negative step: x[a:b:-s] along axis d is x.flip(d)[a':b':s] with the
    positions mirrored. Returns (index without negative steps, axes to flip first)."""
    parts = list(index) if isinstance(index, tuple) else [index]
    if not any(isinstance(part, slice) and part.step is not None and part.step < 0 for part in parts):
        return index, []
    consuming = sum(part is not None and part is not Ellipsis and not (isinstance(part, np.ndarray)
                                                                         and part.dtype == bool) for part in parts)
    axis, flipped = 0, []
    for position, part in enumerate(parts):
        if part is Ellipsis:
            axis += len(shape) - consuming
        elif part is None:
            continue
        elif isinstance(part, np.ndarray) and part.dtype == bool:
            axis += part.ndim
        else:
            if isinstance(part, slice) and part.step is not None and part.step < 0:
                length = shape[axis]
                kept = range(length)[part]
                if len(kept):
                    parts[position] = slice(length - 1 - kept[0], length - kept[-1], -part.step)
                else:
                    parts[position] = slice(0, 0)
                flipped.append(axis)
            axis += 1
    return (tuple(parts) if isinstance(index, tuple) else parts[0]), flipped


def _where(args, params, shapes):
    return f"torch.where({constant_source(np.asarray(params['condition']))}, {args[0]}, {args[1]})"


def _clip(args, params, shapes):
    return f"torch.clamp({args[0]}, {params.get('low')!r}, {params.get('high')!r})"


def _normalized(function: str) -> Callable:
    """softmax / log_softmax along `axis`; over every element when axis is None (as seqgrad's)."""
    def emit(args, params, shapes):
        axis = params.get("axis", -1)
        if axis is None:
            return f"{function}({args[0]}.reshape(-1), dim=0).reshape({args[0]}.shape)"
        return f"{function}({args[0]}, dim={int(axis)})"
    return emit


def _joined(function: str) -> Callable:
    return lambda args, params, shapes: f"{function}([{', '.join(args)}], dim={int(params.get('axis', 0))})"


# seqgrad primitive name -> emitter(args, params, shapes) -> torch source
TORCH_OPS: dict[str, Callable] = {
    "add": _infix("+"),
    "sub": _infix("-"),
    "mul": _infix("*"),
    "div": _infix("/"),
    "neg": lambda args, params, shapes: f"-{args[0]}",
    "pow": lambda args, params, shapes: f"{args[0]} ** {params['exponent']!r}",
    "matmul": _infix("@"),
    "linear": _linear,
    "exp": _call("torch.exp"),
    "log": _call("torch.log"),
    "tanh": _call("torch.tanh"),
    "sigmoid": _call("torch.sigmoid"),
    "relu": _call("torch.relu"),
    "abs": _call("torch.abs"),
    "sqrt": _call("torch.sqrt"),
    "sin": _call("torch.sin"),
    "cos": _call("torch.cos"),
    "log1p": _call("torch.log1p"),
    "expm1": _call("torch.expm1"),
    "cumsum": lambda args, params, shapes: f"torch.cumsum({args[0]}, dim={int(params['axis'])})",
    "einsum": lambda args, params, shapes: f"torch.einsum({params['equation']!r}, {', '.join(args)})",
    "maximum": _call("torch.maximum"),
    "minimum": _call("torch.minimum"),
    "where": _where,
    "clip": _clip,
    "sum": _reduction("torch.sum"),
    "mean": _reduction("torch.mean"),
    "max": _reduction("torch.amax"),
    "logsumexp": _reduction("torch.logsumexp"),
    "log_softmax": _normalized("F.log_softmax"),
    "softmax": _normalized("F.softmax"),
    "reshape": lambda args, params, shapes: f"{args[0]}.reshape({shape_source(params['shape'])})",
    "transpose": _transpose,
    "broadcast_to": lambda args, params, shapes: f"{args[0]}.expand({shape_source(params['shape'])})",
    "getitem": _getitem,
    "concat": _joined("torch.cat"),
    "stack": _joined("torch.stack"),
}


def torch_expression(op_name: str, args: list[str], params: dict, shapes: list, where: str = "") -> str:
    """The torch source computing `op_name(*args, **params)`; ExportError naming the op if it has none."""
    emit = TORCH_OPS.get(op_name)
    if emit is None:
        raise ExportError(f"seqgrad.export: op {op_name!r}{where} has no torch mapping; mapped ops: "
                          f"{', '.join(sorted(TORCH_OPS))}")
    return emit(args, params, shapes)


def shape_source(shape) -> str:
    """A shape as source: ints, or source strings for sizes known only at run time (the batch)."""
    parts = [part if isinstance(part, str) else str(int(part)) for part in (shape if isinstance(shape, (tuple, list))
                                                                            else (shape,))]
    return ", ".join(parts) if parts else "()"


def index_source(index) -> str:
    """A numpy index (ints, slices, None, Ellipsis, integer or boolean arrays) as torch indexing source."""
    parts = index if isinstance(index, tuple) else (index,)
    pieces = []
    for part in parts:
        if part is None:
            pieces.append("None")
        elif part is Ellipsis:
            pieces.append("...")
        elif isinstance(part, slice):
            text = ("" if part.start is None else str(part.start)) + ":" + ("" if part.stop is None else str(part.stop))
            pieces.append(text if part.step is None else f"{text}:{part.step}")
        elif isinstance(part, (int, np.integer)):
            pieces.append(str(int(part)))
        else:
            pieces.append(constant_source(np.asarray(part)))
    return ", ".join(pieces) or "()"  # x[(a,)] is x[a], in numpy and torch alike


TORCH_DTYPES = {"float16": "torch.float16", "float32": "torch.float32", "float64": "torch.float64",
                "int64": "torch.int64", "int32": "torch.int32", "bool": "torch.bool", "uint8": "torch.uint8",
                "int8": "torch.int8", "int16": "torch.int16"}


def torch_dtype(dtype) -> str:
    """numpy dtype -> `torch.<name>` source."""
    name = np.dtype(dtype).name
    if name not in TORCH_DTYPES:
        raise ExportError(f"seqgrad.export: dtype {name} has no torch counterpart here")
    return TORCH_DTYPES[name]


def constant_source(value) -> str:
    """A number as itself; an array as `torch.tensor(<nested list>, dtype=..., device=device)` (exact: repr
    round-trips every float)."""
    if isinstance(value, (bool, int, float, np.number, np.bool_)) and np.ndim(value) == 0 \
            and not isinstance(value, np.ndarray):
        return repr(value.item() if isinstance(value, (np.number, np.bool_)) else value)
    array = np.asarray(value)
    # `device` is defined by the generated method (its first input's device), so constants follow the model.
    return f"torch.tensor({array.tolist()!r}, dtype={torch_dtype(array.dtype)}, device=device)"
