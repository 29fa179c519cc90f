"""Matrix products: `@` (1-D, 2-D and batched with broadcasting, as numpy's), `linear`, `einsum`."""

import string

import numpy as np

from ..autodiff.lazy_grads import ProductGrad
from ..errors import ShapeError
from . import dual
from .primitive import data, primitive


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
    if np.ndim(x) > 2 and x.flags.c_contiguous:
        # Leading axes folded into rows: one BLAS product, not numpy's loop of one per leading
        # index (a (50, 32, 128) readout at S1: 0.52 → 0.28 ms).
        out = np.matmul(x.reshape(-1, x.shape[-1]), weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
    else:
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


def _einsum_forward(*arrays, equation: str):
    return np.einsum(equation, *arrays, optimize=len(arrays) > 1)


def _einsum_vjp(ctx, g):
    inputs, output = ctx.params["equation"].split("->")
    terms = inputs.split(",")
    grads = []
    for k, target in enumerate(terms):
        if not ctx.needs[k]:
            grads.append(None)
            continue
        # d/d(operand k) of Σ g ⊙ einsum(...): the same contraction with g in place of operand k.
        others = [(output, g)] + [(terms[j], ctx.xs[j]) for j in range(len(terms)) if j != k]
        available = set("".join(term for term, _ in others))
        kept = "".join(letter for letter in target if letter in available)
        grad = dual.einsum(",".join(term for term, _ in others) + "->" + kept, *[value for _, value in others])
        # Letters summed within operand k alone, or of size 1 elsewhere: the gradient is constant along them.
        sizes = dict(zip(kept, grad.shape))
        in_shape = ctx.in_shapes[k]
        if kept != target:
            grad = grad.reshape(tuple(sizes.get(letter, 1) for letter in target))
        full = tuple(in_shape[i] if sizes.get(letter, 1) == 1 else sizes[letter] for i, letter in enumerate(target))
        if grad.shape != full:
            grad = dual.expand(grad, full)
        grads.append(grad)
    return tuple(grads)


einsum_equation = primitive(
    "einsum", _einsum_forward, _einsum_vjp, saves="x,shape",
    doc="Einstein summation over an explicit equation ('ij,jk->ik'); the vjp for each operand is "
        "the same contraction with g in its place.")


def einsum(subscripts: str, *operands):
    """Einstein summation as `numpy.einsum` / `torch.einsum`: `einsum("bij,bjk->bik", a, b)`
    (operands may also come as one list, as PyTorch allows). `...` and implicit outputs work;
    a letter repeated within one operand (a diagonal or trace) is refused."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    shapes = [np.shape(data(operand)) for operand in operands]
    return einsum_equation(*operands, equation=_explicit_equation(subscripts, shapes))


def _explicit_equation(subscripts: str, shapes: list) -> str:
    """'...ij,jk' -> 'Aij,jk->Aik': ellipses become spare letters and the output is written out."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: {subscripts!r} names {len(terms)} operand(s), got {len(shapes)}")
    spare = [letter for letter in string.ascii_uppercase + string.ascii_lowercase if letter not in text]
    ellipsis_axes = 0
    for position, (term, shape) in enumerate(zip(terms, shapes)):
        letters = term.replace("...", "", 1)
        if not all(letter in string.ascii_letters for letter in letters):
            raise ValueError(f"einsum: operand {position}'s subscripts {term!r} must be letters and at most one '...'")
        repeated = sorted({letter for letter in letters if letters.count(letter) > 1})
        if repeated:
            raise ValueError(f"einsum: index {repeated[0]!r} repeats within operand {position} ({term!r}); diagonals "
                             "and traces are not supported (take them with indexing, e.g. x[i, i])")
        if "..." in term:
            if len(shape) < len(letters):
                raise ShapeError(f"einsum: operand {position} has shape {shape} but {term!r} names {len(letters)} axes")
            ellipsis_axes = max(ellipsis_axes, len(shape) - len(letters))
        elif len(letters) != len(shape):
            raise ShapeError(f"einsum: operand {position} has shape {shape} but {term!r} names {len(letters)} axes")
    pool = "".join(spare[:ellipsis_axes])

    def expand(term: str, ndim: int) -> str:
        if "..." not in term:
            return term
        count = ndim - (len(term) - 3)
        return term.replace("...", pool[ellipsis_axes - count:])

    explicit = [expand(term, len(shape)) for term, shape in zip(terms, shapes)]
    if arrow:
        output = output.replace("...", pool)
        unknown = sorted(set(output) - set("".join(explicit)))
        if unknown or any(output.count(letter) > 1 for letter in output):
            raise ValueError(f"einsum: output {output!r} must name each input index at most once")
    else:  # implicit: the indices that occur once, in alphabetical order, after the ellipsis axes
        named = "".join(term.replace("...", "") for term in terms)
        output = pool + "".join(sorted(letter for letter in set(named) if named.count(letter) == 1))
    return ",".join(explicit) + "->" + output
