"""Ops that move elements without changing them: reshape, transpose, broadcast,
indexing, concat/stack and split. Their gradients move the elements back.

Indexing returns an `IndexGrad` (added in place into the input's gradient), so
taking every step of a (T, B, D) tensor costs O(T·B·D) in backward, not O(T²·B·D).
"""

import numpy as np

from ..autodiff.lazy_grads import IndexGrad
from ..autodiff.tape import RECORDING, describe_scope
from ..errors import ShapeError
from ..tensor import Tensor
from .primitive import data, primitive


def _reshape_forward(x, *, shape):
    try:
        return np.reshape(x, shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape {np.shape(x)} ({np.size(x)} elements) into {shape}") from None


reshape = primitive("reshape", _reshape_forward, saves="shape",
                    vjp=lambda ctx, g: (g.reshape(ctx.in_shapes[0]),),
                    doc="the same elements in a new shape.")


def _transpose_forward(x, *, axes=None):
    if axes is not None and sorted(a % max(np.ndim(x), 1) for a in axes) != list(range(np.ndim(x))):
        raise ShapeError(
            f"transpose: axes {tuple(axes)} are not a permutation of the {np.ndim(x)} axes of {np.shape(x)}")
    return np.transpose(x, axes)


def _transpose_vjp(ctx, g):
    axes = ctx.params.get("axes")
    if axes is None:
        return (g.transpose(),)
    return (g.transpose(tuple(np.argsort([a % g.ndim for a in axes]))),)


transpose = primitive("transpose", _transpose_forward, _transpose_vjp,
                      doc="axes permuted (reversed when `axes` is None).")


def _broadcast_forward(x, *, shape):
    try:
        return np.broadcast_to(x, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast {np.shape(x)} to {tuple(shape)}") from None


broadcast_to = primitive("broadcast_to", _broadcast_forward,
                         vjp=lambda ctx, g: (g,),  # the engine sums the broadcast axes back
                         doc="a read-only view repeated along new or size-1 axes.")


_BASIC_PARTS = (int, slice, type(None), type(Ellipsis))


def _is_basic(index) -> bool:
    """Ints, slices, None and Ellipsis select each element at most once."""
    if type(index) in _BASIC_PARTS:  # the common case, x[t] or x[a:b], without a loop
        return True
    parts = index if isinstance(index, tuple) else (index,)
    return all(type(part) in _BASIC_PARTS or isinstance(part, (int, np.integer)) for part in parts)


def _is_unique(index) -> bool:
    if _is_basic(index):
        return True
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray)]
    return len(arrays) == 1 and arrays[0].dtype == bool


def _getitem_forward(x, *, index):
    try:
        return x[index]
    except IndexError as error:
        raise ShapeError(f"getitem: index {index!r} does not fit shape {np.shape(x)}: {error}") from None


def _getitem_vjp(ctx, g):
    index = ctx.params["index"]
    if isinstance(g, Tensor):  # create_graph: the scatter itself is recorded
        return (scatter(g, index=index, shape=ctx.in_shapes[0], unique=_is_unique(index)),)
    # g may be a numpy scalar (0-d arithmetic gives those), not only an ndarray.
    return (IndexGrad(index, g, _is_unique(index)),)


getitem = primitive("getitem", _getitem_forward, _getitem_vjp, saves="shape",
                    doc="x[index] for ints, slices, integer arrays and boolean masks.")


def _scatter_forward(values, *, index, shape, unique):
    out = np.zeros(shape, dtype=values.dtype)
    if unique:
        out[index] += values
    else:
        np.add.at(out, index, values)
    return out


scatter = primitive("scatter", _scatter_forward,
                    vjp=lambda ctx, g: (g[ctx.params["index"]],),
                    doc="zeros(shape) with `values` added at `index`: getitem's gradient as an op, "
                        "recorded only by double backward.")


def normalize_index(index):
    """Tensors inside an index become arrays; lists become integer or boolean arrays."""
    if type(index) in _BASIC_PARTS:
        return index
    parts = index if isinstance(index, tuple) else (index,)
    fixed = []
    for part in parts:
        part = data(part)
        if isinstance(part, list):
            part = np.asarray(part)
        if isinstance(part, np.ndarray) and part.dtype.kind not in "biu":
            raise TypeError(f"getitem: index arrays must hold integers or booleans, got {part.dtype}")
        fixed.append(part)
    return tuple(fixed) if isinstance(index, tuple) else fixed[0]


def _concat_forward(*arrays, axis=0):
    try:
        return np.concatenate(arrays, axis=axis)
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise ShapeError(f"concat: shapes {shapes} differ off axis {axis}") from None


def _concat_vjp(ctx, g):
    axis = ctx.params.get("axis", 0) % g.ndim
    grads, start = [], 0
    for shape in ctx.in_shapes:
        stop = start + shape[axis]
        grads.append(g[(slice(None),) * axis + (slice(start, stop),)])
        start = stop
    return tuple(grads)


_concat = primitive("concat", _concat_forward, _concat_vjp, saves="shape",
                    doc="tensors joined along an existing axis; the gradient is split back.")


def concat(tensors, axis: int = 0, *, dim: int | None = None):
    """Join a sequence of tensors along an existing `axis` (or `dim`, PyTorch's name)."""
    return _concat(*tensors, axis=axis if dim is None else dim)


def _stack_forward(*arrays, axis=0):
    try:
        return np.stack(arrays, axis=axis)
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise ShapeError(f"stack: all shapes must be equal, got {shapes}") from None


def _stack_vjp(ctx, g):
    axis = ctx.params.get("axis", 0) % g.ndim
    lead = (slice(None),) * axis
    return tuple(g[lead + (i,)] for i in range(len(ctx.needs)))


_stack = primitive("stack", _stack_forward, _stack_vjp,
                   doc="tensors of one shape joined along a new `axis`; the gradient is unstacked.")


def stack(tensors, axis: int = 0, *, dim: int | None = None):
    """Join equal-shaped tensors along a new `axis` or `dim` (time steps into a sequence)."""
    return _stack(*tensors, axis=axis if dim is None else dim)


def split(x, sizes, axis: int = 0, *, dim: int | None = None) -> tuple:
    """Cut `x` along `axis` into pieces of the given sizes (or of size `sizes` each, as
    PyTorch's split). Each piece is a slice view; their gradients are added in place."""
    axis = axis if dim is None else dim
    length = _axis_length(x, axis, "split")
    if isinstance(sizes, (int, np.integer)):
        if sizes <= 0:
            raise ValueError(f"split: piece size must be positive, got {sizes}{describe_scope(RECORDING.scope)}")
        sizes = [min(sizes, length - start) for start in range(0, length, sizes)]
    if sum(sizes) != length:
        raise ShapeError(f"split: sizes {list(sizes)} add to {sum(sizes)}, but axis {axis} of {x.shape} has "
                         f"{length}{describe_scope(RECORDING.scope)}")
    lead = (slice(None),) * (axis % x.ndim)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, index=lead + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(x, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple:
    """Cut `x` into `chunks` pieces of equal size along `axis` (the last may be smaller)."""
    axis = axis if dim is None else dim
    length = _axis_length(x, axis, "chunk")
    if chunks <= 0:
        raise ValueError(f"chunk: the number of chunks must be positive, got {chunks}{describe_scope(RECORDING.scope)}")
    return split(x, max(1, -(-length // chunks)), axis=axis)


def _axis_length(x, axis: int, op_name: str) -> int:
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{op_name}: axis {axis} is out of range for shape {x.shape}{describe_scope(RECORDING.scope)}")
    return x.shape[axis]
