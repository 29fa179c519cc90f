"""One line (or two) of numpy per primitive application: the templates code generation uses.

`value(eq, args)` is an expression for a fresh result; `into(eq, args, out)` writes the
result into an existing buffer `out` with `out=` or in place, or returns None when the op
has no such form. `view(eq, args)` is the expression of ops that only re-index (no copy).
"""

from __future__ import annotations

import numpy as np

UFUNCS = {"add": "np.add", "sub": "np.subtract", "mul": "np.multiply", "div": "np.divide", "neg": "np.negative",
          "tanh": "np.tanh", "exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "abs": "np.abs"}
VIEWS = ("getitem", "reshape", "transpose", "broadcast_to")


def index_text(index, constant) -> str:
    """`(slice(None), slice(4, 8))` as `:, 4:8`."""
    parts = index if isinstance(index, tuple) else (index,)
    texts = []
    for part in parts:
        if isinstance(part, slice):
            start = "" if part.start is None else str(part.start)
            stop = "" if part.stop is None else str(part.stop)
            texts.append(f"{start}:{stop}" + ("" if part.step is None else f":{part.step}"))
        elif part is None:
            texts.append("None")
        elif part is Ellipsis:
            texts.append("...")
        elif isinstance(part, (int, np.integer)):
            texts.append(str(int(part)))
        else:
            texts.append(constant(part))
    text = ", ".join(texts)
    return text + "," if len(texts) == 1 and isinstance(index, tuple) else text


def is_column_slice(index) -> bool:
    """Is `index` `[:, a:b]` (a plain slice of the last of two axes)?"""
    return isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None) \
        and isinstance(index[1], slice) and index[1].step in (None, 1)


def is_view(eq) -> bool:
    if eq.op.name == "getitem":
        parts = eq.params["index"] if isinstance(eq.params["index"], tuple) else (eq.params["index"],)
        return all(isinstance(p, (slice, int, np.integer)) or p is None or p is Ellipsis for p in parts)
    return eq.op.name in ("transpose", "broadcast_to")


def view(eq, args, constant) -> str:
    name, params = eq.op.name, eq.params
    if name == "getitem":
        return f"{args[0]}[{index_text(params['index'], constant)}]"
    if name == "transpose":
        axes = params.get("axes")
        return f"{args[0]}.T" if axes is None else f"{args[0]}.transpose({tuple(int(a) for a in axes)})"
    if name == "broadcast_to":
        return f"np.broadcast_to({args[0]}, {tuple(params['shape'])})"
    raise KeyError(name)


def value(eq, args, constant) -> str:
    name, params = eq.op.name, eq.params
    if name in UFUNCS:
        return f"{UFUNCS[name]}({', '.join(args)})"
    if name in VIEWS and name != "reshape" and (name != "getitem" or is_view(eq)):
        return view(eq, args, constant)
    if name == "getitem":
        return f"{args[0]}[{index_text(params['index'], constant)}]"
    if name == "reshape":
        return f"{args[0]}.reshape({tuple(params['shape'])})"
    if name == "matmul":
        return f"{args[0]} @ {args[1]}"
    if name == "linear":
        return f"{args[0]} @ {args[1]}.T" + (f" + {args[2]}" if len(args) > 2 else "")
    if name == "relu":
        return f"np.maximum({args[0]}, 0)"
    if name == "pow":
        return f"np.power({args[0]}, {params['exponent']!r})"
    if name == "sum":
        return f"np.sum({args[0]}, axis={params.get('axis')!r}, keepdims={params.get('keepdims', False)!r})"
    if name == "concat":
        return f"np.concatenate(({', '.join(args)},), axis={params.get('axis', 0)})"
    if name == "stack":
        return f"np.stack(({', '.join(args)},), axis={params.get('axis', 0)})"
    if name == "scatter":
        return (f"primitive_forward['scatter']({args[0]}, index={constant(params['index'])}, "
                f"shape={tuple(params['shape'])}, unique={params['unique']})")
    if hasattr(np, name) and isinstance(getattr(np, name), np.ufunc) and not params:
        return f"np.{name}({', '.join(args)})"
    if name.endswith(".reduce") and hasattr(np, name.split(".")[0]):
        extra = "".join(f", {k}={v!r}" for k, v in params.items())
        return f"np.{name}({', '.join(args)}{extra})"
    extra = "".join(f", {k}={constant(v) if isinstance(v, np.ndarray) else repr(v)}" for k, v in params.items())
    return f"primitive_forward[{name!r}]({', '.join(args)}{extra})"


def into(eq, args, out, transposed: dict | None = None) -> str | None:
    name, params = eq.op.name, eq.params
    if eq.output.dtype.kind != "f":
        return None
    if name in UFUNCS:
        return f"{UFUNCS[name]}({', '.join(args)}, out={out})"
    if name == "sigmoid":
        return f"sigmoid({args[0]}, out={out})"
    if name == "relu":
        return f"np.maximum({args[0]}, 0, out={out})"
    if name == "pow":
        return f"np.power({args[0]}, {params['exponent']!r}, out={out})"
    if name == "matmul" and len(eq.output.shape) >= 2:  # batched too: np.matmul broadcasts into `out`
        return f"np.matmul({args[0]}, {args[1]}, out={out})"
    if name == "linear" and len(eq.output.shape) == 2:
        weight = (transposed or {}).get(args[1], f"{args[1]}.T")
        text = f"np.matmul({args[0]}, {weight}, out={out})"
        return text + (f"; {out} += {args[2]}" if len(args) > 2 else "")
    if name == "sum" and not isinstance(params.get("axis"), type(None)):
        return f"np.sum({args[0]}, axis={params.get('axis')!r}, keepdims={params.get('keepdims', False)!r}, out={out})"
    return None
