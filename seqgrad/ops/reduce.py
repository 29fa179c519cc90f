"""Reductions (sum, mean, max, logsumexp) and the softmax family along an axis."""

import numpy as np

from ..errors import ShapeError
from . import dual
from .primitive import data, primitive


def _spread(ctx, g):
    """The output gradient reshaped with kept axes, ready to broadcast over the input."""
    shape = ctx.in_shapes[0]
    params = ctx.params
    if not params.get("keepdims", False):
        g = g.reshape(dual.kept_shape(shape, params.get("axis")))
    return g


def _sum_forward(x, *, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


sum = primitive(
    "sum", _sum_forward, saves="shape",
    vjp=lambda ctx, g: (dual.expand(_spread(ctx, g), ctx.in_shapes[0]),),
    doc="Σ over `axis` (int, tuple or None); the gradient is copied to every summed element.",
)


def _count(shape, axis) -> int:
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def _mean_forward(x, *, axis=None, keepdims=False):
    return np.mean(x, axis=axis, keepdims=keepdims)


mean = primitive(
    "mean", _mean_forward, saves="shape",
    vjp=lambda ctx, g: (dual.expand(_spread(ctx, g) / _count(ctx.in_shapes[0], ctx.params.get("axis")),
                                    ctx.in_shapes[0]),),
    doc="average over `axis`; the gradient is shared equally by the averaged elements.",
)


def _max_forward(x, *, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def _max_vjp(ctx, g):
    x = data(ctx.xs[0])
    winners = x == data(_spread(ctx, ctx.out))
    share = winners / winners.sum(axis=ctx.params.get("axis"), keepdims=True)
    return (_spread(ctx, g) * share,)


max = primitive(
    "max", _max_forward, _max_vjp, saves="x,out,shape",
    doc="maximum over `axis`; ties share the gradient equally.",
)


def _logsumexp_forward(x, *, axis=None, keepdims=False):
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


logsumexp = primitive(
    "logsumexp", _logsumexp_forward, saves="x,out,shape",
    vjp=lambda ctx, g: (_spread(ctx, g) * dual.exp(ctx.xs[0] - _spread(ctx, ctx.out)),),
    doc="log Σ exp(x) over `axis`, shifted by the max so 1e3-sized inputs do not overflow; "
        "d/dx = softmax(x).",
)


def _log_softmax_forward(x, *, axis=-1):
    return x - _logsumexp_forward(x, axis=axis, keepdims=True)


log_softmax = primitive(
    "log_softmax", _log_softmax_forward, saves="out",
    vjp=lambda ctx, g: (g - dual.exp(ctx.out) * g.sum(axis=ctx.params.get("axis", -1), keepdims=True),),
    doc="x - logsumexp(x) along `axis` (stable); vjp g - softmax(x) Σg.",
)


def _softmax_forward(x, *, axis=-1):
    return np.exp(_log_softmax_forward(x, axis=axis))


softmax = primitive(
    "softmax", _softmax_forward, saves="out",
    vjp=lambda ctx, g: (ctx.out * (g - (g * ctx.out).sum(axis=ctx.params.get("axis", -1), keepdims=True)),),
    doc="exp(x) / Σ exp(x) along `axis` (stable); vjp y ⊙ (g - Σ g⊙y).",
)


def _cumsum_forward(x, *, axis: int):
    if np.ndim(x) == 0:  # as PyTorch: the running sum of one number is that number
        if axis not in (0, -1):
            raise ShapeError(f"cumsum: axis {axis} is out of range for a 0-d tensor")
        return np.array(x)
    if not -np.ndim(x) <= axis < np.ndim(x):
        raise ShapeError(f"cumsum: axis {axis} is out of range for shape {np.shape(x)}")
    return np.cumsum(x, axis=axis)


def _cumsum_vjp(ctx, g):
    if g.ndim == 0:
        return (g,)
    # y_i = Σ_{j≤i} x_j, so dL/dx_j = Σ_{i≥j} g_i: the running sum of g taken from the far end.
    reverse = (slice(None),) * (ctx.params["axis"] % g.ndim) + (slice(None, None, -1),)
    return (dual.cumsum(g[reverse], ctx.params["axis"])[reverse],)


cumsum = primitive(
    "cumsum", _cumsum_forward, _cumsum_vjp,
    doc="running sum along `axis`: y_i = Σ_{j≤i} x_j; the vjp is the running sum of g from the end.",
)
