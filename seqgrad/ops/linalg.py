"""Matrix product: 1-D, 2-D and batched with broadcasting, as numpy's `@`."""

import numpy as np

from ..autodiff.lazy_grads import ProductGrad
from ..errors import ShapeError
from .primitive import primitive


def _matmul_forward(a, b):
    a_shape, b_shape = np.shape(a), np.shape(b)
    if not a_shape or not b_shape:
        raise ShapeError(f"matmul: {a_shape} @ {b_shape}: both operands need at least one axis")
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if a_shape[-1] != inner_b:
        raise ShapeError(f"matmul: {a_shape} @ {b_shape}: inner sizes {a_shape[-1]} and {inner_b} differ")
    return np.matmul(a, b)


def _matmul_vjp(ctx, g):
    a, b = ctx.xs
    need_a, need_b = ctx.needs
    if a.ndim == 2 and b.ndim == 2:
        return (g @ b.T if need_a else None, a.T @ g if need_b else None)
    if a.ndim == 1 and b.ndim == 1:
        return (g * b if need_a else None, g * a if need_b else None)
    # Give 1-D operands the axis numpy adds, work in the batched form, then drop it.
    a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
    b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
    g2 = g.reshape(g.shape[:-1] + (1, g.shape[-1])) if a.ndim == 1 else g
    g2 = g2.reshape(g2.shape + (1,)) if b.ndim == 1 else g2
    grad_a = grad_b = None
    if need_a:
        grad_a = g2 @ b2.swapaxes(-1, -2)
        if a.ndim == 1:
            grad_a = grad_a.reshape(grad_a.shape[:-2] + grad_a.shape[-1:])
    if need_b:
        grad_b = a2.swapaxes(-1, -2) @ g2
        if b.ndim == 1:
            grad_b = grad_b.reshape(grad_b.shape[:-1])
    return grad_a, grad_b


matmul = primitive("matmul", _matmul_forward, _matmul_vjp, saves="x",
                   doc="a @ b; d/da = g bᵀ, d/db = aᵀ g (batch axes summed back by the engine).")


def _linear_forward(x, weight, bias=None):
    if np.ndim(weight) != 2 or np.ndim(x) < 1:
        raise ShapeError(f"linear: expected x (..., in) and weight (out, in), got {np.shape(x)} and {np.shape(weight)}")
    if np.shape(x)[-1] != np.shape(weight)[1]:
        raise ShapeError(f"linear: x {np.shape(x)} against weight {np.shape(weight)}: "
                         f"in-features {np.shape(x)[-1]} and {np.shape(weight)[1]} differ")
    out = np.matmul(x, weight.T)
    if bias is not None:
        out += bias  # `bias` may be any array broadcastable to the output, e.g. a projected input
    return out


def _linear_vjp(ctx, g):
    x, weight = ctx.xs[0], ctx.xs[1]
    need_x, need_weight = ctx.needs[0], ctx.needs[1]
    grad_x = g @ weight if need_x else None
    grad_weight = None
    if need_weight:
        # Leading axes of x are batch axes: fold them so the weight gradient is one matmul.
        rows_g = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        rows_x = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        grad_weight = ProductGrad(rows_g, rows_x) if isinstance(g, np.ndarray) else rows_g.T @ rows_x
    if len(ctx.xs) == 2:
        return grad_x, grad_weight
    return grad_x, grad_weight, g  # the engine sums the bias gradient back to its shape


linear = primitive("linear", _linear_forward, _linear_vjp, saves="x0,x1",  # the bias is not needed
                   doc="x Wᵀ (+ b): the affine map of Linear layers and of every gate matmul, "
                       "one op instead of transpose, matmul and add.")
