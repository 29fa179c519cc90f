"""Gradcheck cases for every primitive in `seqgrad.ops.REGISTRY`, on odd and broadcast shapes.

A case names the registry op it exercises, a function of Tensors, and a maker of float64
inputs (seeded from the case's name, so every run checks the same numbers).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import seqgrad
from seqgrad import ops


@dataclass(frozen=True)
class Case:
    op: str
    name: str
    fn: Callable
    makers: tuple

    def inputs(self) -> list:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        return [make(rng) for make in self.makers]


def float64(values, grad: bool = True) -> seqgrad.Tensor:
    """A float64 Tensor (0-d draws come back as Python floats, which would take the default dtype)."""
    return seqgrad.Tensor(np.asarray(values, dtype=np.float64), requires_grad=grad)


def normal(shape, scale: float = 1.0, shift: float = 0.0, grad: bool = True):
    return lambda rng: float64(shift + scale * rng.standard_normal(shape), grad)


def positive(shape):
    """Values in [0.5, 2]: inside the domain of log, sqrt and fractional powers."""
    return lambda rng: float64(rng.uniform(0.5, 2.0, shape))


def away_from_zero(shape):
    """|x| in [0.2, 1.5]: far from the kink of relu and abs and the pole of 1/x."""
    def make(rng):
        magnitude = rng.uniform(0.2, 1.5, shape)
        return float64(np.where(rng.random(shape) < 0.5, -magnitude, magnitude))
    return make


def away_from(shape, points, margin: float = 0.05):
    """Normal values moved at least `margin` off each of `points` (clip bounds)."""
    def make(rng):
        values = rng.standard_normal(shape)
        for point in points:
            close = np.abs(values - point) < margin
            values = np.where(close, point + np.where(values >= point, margin, -margin) * 2, values)
        return float64(values)
    return make


def given(values, grad: bool = True):
    return lambda rng: float64(values, grad)


def case(op: str, label: str, fn: Callable, *makers) -> Case:
    return Case(op, f"{op}[{label}]", fn, makers)


# --- element-wise binary ops, on every kind of broadcast ------------------------
BINARY_SHAPES = [
    ((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((2, 3), ()),
    ((1,), (5,)), ((4, 1), (1, 4)), ((1, 1, 3), (2, 1, 1)), ((), ()),
]


def _binary_cases() -> list[Case]:
    cases = []
    for a, b in BINARY_SHAPES:
        label = f"{a}-{b}"
        for name in ("add", "sub", "mul", "maximum", "minimum"):
            cases.append(case(name, label, getattr(ops, name), normal(a), normal(b)))
        cases.append(case("div", label, ops.div, normal(a), away_from_zero(b)))
    # A constant on either side (Python number, ndarray, Tensor without grad) gets no gradient.
    cases += [
        case("add", "number+x", lambda x: 2.5 + x, normal((3,))),
        case("sub", "number-x", lambda x: 1.0 - x, normal((2, 3))),
        case("sub", "x-ndarray", lambda x: x - np.ones(3), normal((2, 3))),
        case("mul", "ndarray*x", lambda x: np.arange(3.0) * x, normal((2, 3))),
        case("div", "ndarray/x", lambda x: np.full(3, 2.0) / x, away_from_zero((3,))),
        case("mul", "x*constant-tensor", ops.mul, normal((3,)), normal((2, 3), grad=False)),
        case("div", "constant-tensor/x", ops.div, normal((2, 3), grad=False), away_from_zero((3,))),
        case("maximum", "x-vs-number", lambda x: ops.maximum(x, 0.3), away_from((2, 3), [0.3])),
        case("minimum", "number-vs-x", lambda x: ops.minimum(-0.2, x), away_from((2, 3), [-0.2])),
    ]
    return cases


# --- element-wise unary ops ------------------------------------------------------
UNARY_SHAPES = [(), (1,), (5,), (2, 3, 1)]


def _unary_cases() -> list[Case]:
    cases = []
    for shape in UNARY_SHAPES:
        label = str(shape)
        cases += [
            case("exp", label, ops.exp, normal(shape)),
            case("log", label, ops.log, positive(shape)),
            case("tanh", label, ops.tanh, normal(shape, scale=2.0)),
            case("sigmoid", label, ops.sigmoid, normal(shape, scale=3.0)),
            case("relu", label, ops.relu, away_from_zero(shape)),
            case("abs", label, ops.abs, away_from_zero(shape)),
            case("sqrt", label, ops.sqrt, positive(shape)),
            case("neg", label, ops.neg, normal(shape)),
            case("sin", label, ops.sin, normal(shape, scale=2.0)),
            case("cos", label, ops.cos, normal(shape, scale=2.0)),
            case("log1p", label, ops.log1p, positive(shape)),
            case("expm1", label, ops.expm1, normal(shape)),
        ]
    cases += [
        case("log1p", "near-zero", ops.log1p, given([-0.5, -1e-3, 1e-6, 0.3])),
        case("expm1", "near-zero", ops.expm1, given([-1e-6, 1e-4, 0.5])),
        case("sigmoid", "saturated", ops.sigmoid, given([-40.0, -12.0, 0.0, 12.0, 40.0])),
        case("tanh", "saturated", ops.tanh, given([-20.0, -3.0, 3.0, 20.0])),
    ]
    for exponent in (2, 3, 1, 0):
        cases.append(case("pow", f"x**{exponent}", lambda x, p=exponent: x**p, normal((2, 3))))
    for exponent in (0.5, -1.5, 2.5):
        cases.append(case("pow", f"positive**{exponent}", lambda x, p=exponent: x**p, positive((4,))))
    cases.append(case("pow", "0-d**-1", lambda x: x**-1, positive(())))
    return cases


# --- where and clip ---------------------------------------------------------------
_MASKS = np.random.default_rng(7)
FULL_MASK = _MASKS.random((3, 4)) < 0.5
COLUMN_MASK = np.array([[True], [False], [True]])
ROW_MASK = np.array([True, False, False])


def _select_cases() -> list[Case]:
    return [
        case("where", "same-shapes", lambda a, b: seqgrad.where(FULL_MASK, a, b), normal((3, 4)), normal((3, 4))),
        case("where", "broadcast", lambda a, b: seqgrad.where(COLUMN_MASK, a, b), normal((1, 4)), normal((4,))),
        case("where", "number-branch", lambda a: seqgrad.where(ROW_MASK, a, 0.0), normal((3,))),
        case("where", "mask-from-tensor", lambda a, b: seqgrad.where(a > 0, a, b), normal((2, 5)), normal((2, 5))),
        case("where", "mask-wider-than-inputs", lambda a, b: seqgrad.where(FULL_MASK, a, b), normal((4,)), normal(())),
        case("clip", "both-bounds", lambda x: x.clip(-0.5, 0.5), away_from((4, 5), [-0.5, 0.5])),
        case("clip", "low-only", lambda x: x.clip(-0.5), away_from((4, 5), [-0.5])),
        case("clip", "high-only", lambda x: x.clip(high=0.5), away_from((4, 5), [0.5])),
        case("clip", "0-d", lambda x: seqgrad.clip(x, low=-1.0, high=1.0), given(0.3)),
    ]


# --- reductions and the softmax family ----------------------------------------
REDUCTIONS = [
    ((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, -3)),
    ((2, 3, 4), (0, 1, 2)), ((5,), 0), ((5,), -1), ((), None), ((1, 3, 1), 1), ((1, 3, 1), (0, 2)),
]


def _reduce_cases() -> list[Case]:
    cases = []
    for shape, axis in REDUCTIONS:
        for keepdims in (False, True):
            label = f"{shape}-axis={axis}-keepdims={keepdims}"
            for name in ("sum", "mean", "max", "logsumexp"):
                fn = functools.partial(getattr(ops, name), axis=axis, keepdims=keepdims)
                cases.append(case(name, label, fn, normal(shape)))
    for shape, axis in [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), None), ((1, 4), 0)]:
        for name in ("softmax", "log_softmax"):
            cases.append(case(name, f"{shape}-axis={axis}", functools.partial(getattr(ops, name), axis=axis),
                              normal(shape)))
    # Logits of magnitude 1e3: the max shift keeps everything finite and exact.
    for name in ("softmax", "log_softmax", "logsumexp"):
        fn = functools.partial(getattr(ops, name), axis=-1)
        cases += [
            case(name, "logits+1e3", fn, normal((3, 4), shift=1e3)),
            case(name, "logits-1e3", fn, normal((3, 4), shift=-1e3)),
            case(name, "logits*1e3", fn, normal((3, 4), scale=1e3)),
        ]
    return cases


# --- shape ops ------------------------------------------------------------------
def _shape_cases() -> list[Case]:
    cases = []
    for shape, new_shape in [((2, 3, 4), (6, 4)), ((2, 3, 4), (4, -1)), ((), (1, 1)), ((5,), (5, 1)),
                             ((1, 6), (2, 1, 3)), ((1,), ())]:
        cases.append(case("reshape", f"{shape}->{new_shape}", lambda x, s=new_shape: x.reshape(s), normal(shape)))
    for shape, axes in [((2, 3), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4), (-1, 0, 1)), ((2, 3, 4), None),
                        ((5,), None), ((), None), ((1, 3, 1), (2, 1, 0))]:
        cases.append(case("transpose", f"{shape}-axes={axes}", functools.partial(ops.transpose, axes=axes),
                          normal(shape)))
    cases.append(case("transpose", "swapaxes", lambda x: x.swapaxes(0, -1), normal((2, 3, 4))))
    for shape, target in [((3,), (2, 3)), ((3, 1), (2, 3, 4)), ((), (3,)), ((1, 1), (2, 1)), ((2, 3), (2, 3))]:
        cases.append(case("broadcast_to", f"{shape}->{target}", lambda x, t=target: x.broadcast_to(t),
                          normal(shape)))
    return cases


MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 3, 4), (2, 4, 5)), ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)), ((1, 1), (1, 1)),
]


def _matmul_cases() -> list[Case]:
    cases = [case("matmul", f"{a}@{b}", ops.matmul, normal(a), normal(b)) for a, b in MATMUL_SHAPES]
    cases += [
        case("matmul", "constant@x", ops.matmul, normal((3, 4), grad=False), normal((4, 2))),
        case("matmul", "x@constant", ops.matmul, normal((2, 3, 4)), normal((4, 2), grad=False)),
        case("matmul", "operator-with-ndarray", lambda x: np.eye(3)[:2] @ x, normal((3, 2))),
    ]
    cases += [
        case("linear", "x(3,4)W(5,4)", ops.linear, normal((3, 4)), normal((5, 4))),
        case("linear", "x(4,)W(5,4)", ops.linear, normal((4,)), normal((5, 4))),
        case("linear", "x(2,3,4)W(5,4)b(5,)", ops.linear, normal((2, 3, 4)), normal((5, 4)), normal((5,))),
        case("linear", "bias-full-shape", ops.linear, normal((3, 4)), normal((5, 4)), normal((3, 5))),
        case("linear", "bias-broadcast-column", ops.linear, normal((3, 4)), normal((5, 4)), normal((3, 1))),
        case("linear", "constant-x", ops.linear, normal((3, 4), grad=False), normal((5, 4)), normal((5,))),
        case("linear", "constant-weight", ops.linear, normal((3, 4)), normal((5, 4), grad=False)),
    ]
    return cases


GETITEM_INDICES = [
    ((5,), 2), ((5,), -1), ((4, 5), 1), ((4, 5), (1, -2)),
    ((6,), slice(1, 4)), ((6,), slice(None, None, -1)), ((6,), slice(4, 0, -2)),
    ((4, 5), (slice(1, None), slice(None, None, -1))), ((4, 5), (slice(None), slice(None, None, 2))),
    ((3, 4), (None, 1)), ((3, 4), (Ellipsis, 0)), ((2, 3, 4), (Ellipsis, None, slice(1, 3))),
    ((2, 3, 4), (0, Ellipsis)), ((), ()), ((), Ellipsis),
    ((5,), np.array([0, 2, 0, 0, 4])), ((5,), np.array([-1, -1, 0])), ((4, 3), np.array([[0, 1], [1, 1]])),
    ((4, 3), (np.array([0, 0, 3]), np.array([1, 1, 2]))), ((4, 3), (np.array([3, 3]), slice(0, 2))),
    ((2, 4, 3), (slice(None), np.array([1, 1, 0]), 2)), ((5,), [0, 0, 3]),
    ((4, 3), np.random.default_rng(3).random((4, 3)) < 0.5), ((4, 3), np.array([True, False, True, True])),
    ((2, 3, 4), (slice(None), np.array([True, False, True]))), ((3,), np.zeros(3, dtype=bool)),
]


def _index_label(index) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    words = []
    for part in parts:
        if isinstance(part, np.ndarray):
            words.append(f"{part.dtype.kind}{list(part.shape)}:{part.ravel().tolist()}")
        elif isinstance(part, slice):
            words.append(f"{part.start}:{part.stop}:{part.step}")
        else:
            words.append(repr(part))
    return ",".join(words)


def _index_cases() -> list[Case]:
    cases = [case("getitem", f"{shape}[{_index_label(index)}]", lambda x, i=index: x[i], normal(shape))
             for shape, index in GETITEM_INDICES]
    cases += [
        case("getitem", "tensor-index", lambda x: x[seqgrad.Tensor(np.array([1, 1, 0]))], normal((3, 2))),
        case("getitem", "mask-tensor", lambda x: x[x > 0], normal((3, 4))),
        case("getitem", "iterate-rows", lambda x: seqgrad.stack([row * (i + 1) for i, row in enumerate(x)]),
             normal((4, 2))),
        # split and chunk are composites: each piece is a getitem.
        case("getitem", "split-sizes", lambda x: x.split([1, 2, 3]), normal((6, 4))),
        case("getitem", "split-size-axis1", lambda x: x.split(2, axis=1), normal((3, 4))),
        case("getitem", "split-uneven", lambda x: seqgrad.split(x, 4), normal((6, 2))),
        case("getitem", "split-one-piece-used", lambda x: x.split([1, 2, 3], axis=-1)[1], normal((2, 6))),
        case("getitem", "chunk-uneven", lambda x: x.chunk(3), normal((7, 2))),
        case("getitem", "chunk-last-axis", lambda x: seqgrad.chunk(x, 2, axis=-1), normal((2, 3, 4))),
    ]
    # scatter is getitem's gradient as an op (recorded by double backward): check it directly.
    for label, shape, index, unique in [
        ("slice", (4, 3), (slice(1, 3),), True),
        ("negative-step", (6,), slice(None, None, -2), True),
        ("int-repeats", (5,), np.array([0, 2, 0, 0]), False),
        ("mask", (4, 3), np.random.default_rng(5).random((4, 3)) < 0.5, True),
        ("int-and-slice", (4, 3), (np.array([3, 3, 1]), slice(0, 2)), False),
    ]:
        values_shape = np.zeros(shape)[index].shape
        fn = functools.partial(ops.scatter, index=index, shape=shape, unique=unique)
        cases.append(case("scatter", label, fn, normal(values_shape)))
    return cases


def _join_cases() -> list[Case]:
    cases = []
    for shapes, axis in [([(2, 3), (4, 3), (1, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1), ([(2, 3, 1), (2, 3, 2)], -1),
                         ([(3,), (1,)], 0)]:
        fn = lambda *xs, a=axis: seqgrad.concat(xs, axis=a)  # noqa: E731
        cases.append(case("concat", f"{shapes}-axis={axis}", fn, *[normal(s) for s in shapes]))
    cases.append(case("concat", "with-constant", lambda x, c: seqgrad.concat([x, c, x], axis=0),
                      normal((2, 2)), normal((1, 2), grad=False)))
    for shapes, axis in [([(2, 3)] * 3, 0), ([(2, 3)] * 2, 1), ([(2, 3)] * 2, -1), ([()] * 3, 0)]:
        fn = lambda *xs, a=axis: seqgrad.stack(xs, axis=a)  # noqa: E731
        cases.append(case("stack", f"{shapes}-axis={axis}", fn, *[normal(s) for s in shapes]))
    cases.append(case("stack", "same-tensor-twice", lambda x: seqgrad.stack([x, x * 2, x]), normal((3,))))
    return cases


def _scan_and_einsum_cases() -> list[Case]:
    cases = [case("cumsum", f"{shape}-axis={axis}", functools.partial(ops.cumsum, axis=axis), normal(shape))
             for shape, axis in [((5,), 0), ((3, 4), 1), ((3, 4), -2), ((2, 1, 3), 1), ((), 0), ((1,), -1)]]
    cases.append(case("cumsum", "method-flattened", lambda x: x.cumsum(), normal((2, 3))))
    for equation, shapes in [
        ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij->", [(3, 4)]),
        ("ij->j", [(3, 4)]), ("i,j->ij", [(3,), (4,)]), ("i,i", [(5,), (5,)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("...ij,kj->...ik", [(2, 1, 3, 4), (5, 4)]), ("bhd,bkd->bhk", [(2, 3, 4), (2, 5, 4)]),
        ("ij,j->i", [(3, 4), (1,)]), ("ijk->kji", [(2, 3, 4)]), ("ij,kl->", [(2, 3), (1, 2)]),
    ]:
        fn = lambda *xs, e=equation: ops.einsum(e, *xs)  # noqa: E731
        cases.append(case("einsum", f"{equation}-{shapes}", fn, *[normal(shape) for shape in shapes]))
    cases.append(case("einsum", "constant-operand", lambda x: ops.einsum("ij,jk->ik", x, np.ones((4, 2))),
                      normal((3, 4))))
    return cases


CASES: list[Case] = (
    _binary_cases() + _unary_cases() + _select_cases() + _reduce_cases() + _shape_cases() + _matmul_cases()
    + _index_cases() + _join_cases() + _scan_and_einsum_cases()
)


def recorded_ops(outputs) -> set[str]:
    """Names of the ops on the tape behind `outputs`, walked without recursion."""
    pending = [out.node for out in outputs if out.node is not None]
    seen, names = set(), set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        names.add(node.op.name)
        pending.extend(node.parents())
    return names
