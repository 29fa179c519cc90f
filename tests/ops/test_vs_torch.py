"""Forward values and gradients of every primitive against PyTorch's eager ops, in float64."""

import numpy as np
import pytest

import seqgrad
from seqgrad import ops
from tests.ops.op_cases import recorded_ops

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch
RTOL, ATOL = 1e-10, 1e-13


def torch_index(index):
    """numpy index -> torch index (arrays become tensors)."""
    parts = index if isinstance(index, tuple) else (index,)
    converted = tuple(torch.from_numpy(part) if isinstance(part, np.ndarray) else part for part in parts)
    return converted if isinstance(index, tuple) else converted[0]


def all_axes(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def torch_reduction(name: str, axis, keepdims: bool):
    function = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "logsumexp": torch.logsumexp}[name]
    return lambda x: function(x, dim=all_axes(x, axis), keepdim=keepdims)


def torch_scatter(index, shape):
    """getitem's backward in torch, as a differentiable function of the values."""
    def scatter(values):
        zeros = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        return torch.autograd.grad(zeros[torch_index(index)], zeros, grad_outputs=values, create_graph=True)[0]
    return scatter


def torch_clamp(low, high):
    return lambda x: torch.clamp(x, min=low, max=high)


MASK = np.random.default_rng(11).random((3, 4)) < 0.5


def comparisons() -> list:
    """(op, label, seqgrad function, torch function, input makers)."""
    normal = lambda *shape: ("normal", shape)  # noqa: E731
    positive = lambda *shape: ("positive", shape)  # noqa: E731
    nonzero = lambda *shape: ("nonzero", shape)  # noqa: E731
    table = []
    for a, b in [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1,), (5,))]:
        for name, reference in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul),
                                ("maximum", torch.maximum), ("minimum", torch.minimum)]:
            table.append((name, f"{a}-{b}", getattr(ops, name), reference, [normal(*a), normal(*b)]))
        table.append(("div", f"{a}-{b}", ops.div, torch.div, [normal(*a), nonzero(*b)]))
    for name in ("exp", "tanh", "sigmoid", "neg"):
        table.append((name, "(3, 4)", getattr(ops, name), getattr(torch, name), [normal(3, 4)]))
    for name in ("sin", "cos", "expm1"):
        table.append((name, "(3, 4)", getattr(ops, name), getattr(torch, name), [normal(3, 4)]))
    table.append(("log1p", "(3, 4)", ops.log1p, torch.log1p, [positive(3, 4)]))
    table.append(("log1p", "tiny", ops.log1p, torch.log1p, [("given", [1e-12, -1e-9, 3e-7])]))
    table.append(("expm1", "tiny", ops.expm1, torch.expm1, [("given", [1e-12, -1e-9, 3e-7])]))
    for axis in (0, -1):
        table.append(("cumsum", f"dim={axis}", lambda x, a=axis: ops.cumsum(x, dim=a),
                      lambda x, a=axis: torch.cumsum(x, dim=a), [normal(3, 4)]))
    for equation, shapes in [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                             ("i,j->ij", [(3,), (4,)]), ("...ij,kj->...ik", [(2, 3, 4), (5, 4)]), ("ij->j", [(3, 4)]),
                             ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)])]:
        table.append(("einsum", equation, lambda *xs, e=equation: ops.einsum(e, *xs),
                      lambda *xs, e=equation: torch.einsum(e, *xs), [normal(*shape) for shape in shapes]))
    for name in ("log", "sqrt"):
        table.append((name, "(3, 4)", getattr(ops, name), getattr(torch, name), [positive(3, 4)]))
    for name in ("relu", "abs"):
        table.append((name, "(3, 4)", getattr(ops, name), getattr(torch, name), [nonzero(3, 4)]))
    table.append(("sigmoid", "saturated", ops.sigmoid, torch.sigmoid, [("given", [-745.0, -700.0, -40.0, -17.0,
                                                                               0.0, 17.0, 40.0, 800.0])]))
    for exponent in (2.0, 3.0, 0.5, -1.5):
        table.append(("pow", f"**{exponent}", lambda x, p=exponent: x**p, lambda x, p=exponent: x**p,
                      [positive(2, 3)]))
    for a, b in [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,)), ((4,), (2, 4, 5))]:
        table.append(("matmul", f"{a}@{b}", ops.matmul, torch.matmul, [normal(*a), normal(*b)]))
    table += [
        ("linear", "x W", ops.linear, torch.nn.functional.linear, [normal(3, 4), normal(5, 4)]),
        ("linear", "x W b", ops.linear, torch.nn.functional.linear, [normal(2, 3, 4), normal(5, 4), normal(5)]),
    ]
    table += [
        ("where", "mask", lambda a, b: seqgrad.where(MASK, a, b),
         lambda a, b: torch.where(torch.from_numpy(MASK), a, b), [normal(3, 4), normal(4)]),
        ("clip", "both", lambda x: x.clip(-0.5, 0.5), torch_clamp(-0.5, 0.5), [normal(4, 5)]),
        ("clip", "low", lambda x: x.clip(-0.5), torch_clamp(-0.5, None), [normal(4, 5)]),
        ("clip", "high", lambda x: x.clip(high=0.5), torch_clamp(None, 0.5), [normal(4, 5)]),
    ]
    for axis in (None, 0, -1, (0, 2)):
        for keepdims in (False, True):
            for name in ("sum", "mean", "max", "logsumexp"):
                table.append((name, f"axis={axis}-keepdims={keepdims}",
                              lambda x, n=name, a=axis, k=keepdims: getattr(ops, n)(x, axis=a, keepdims=k),
                              torch_reduction(name, axis, keepdims), [normal(2, 3, 4)]))
    for axis in (-1, 0):
        for shift in (0.0, 1e3, -1e3):
            for name in ("softmax", "log_softmax"):
                table.append((name, f"axis={axis}-shift={shift}", lambda x, n=name, a=axis: getattr(ops, n)(x, axis=a),
                              lambda x, n=name, a=axis: getattr(torch, n)(x, dim=a), [("shifted", (3, 4), shift)]))
    table += [
        ("reshape", "(2,3,4)->(4,6)", lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6), [normal(2, 3, 4)]),
        ("transpose", "(2,0,1)", lambda x: x.transpose(2, 0, 1), lambda x: x.permute(2, 0, 1), [normal(2, 3, 4)]),
        ("transpose", ".T", lambda x: x.T, lambda x: x.T, [normal(2, 3)]),
        ("broadcast_to", "(3,1)->(2,3,4)", lambda x: x.broadcast_to((2, 3, 4)),
         lambda x: torch.broadcast_to(x, (2, 3, 4)), [normal(3, 1)]),
        ("getitem", "reversed", lambda x: x[::-1], lambda x: torch.flip(x, (0,)), [normal(5, 2)]),
        ("concat", "axis=1", lambda a, b: seqgrad.concat([a, b, a], axis=1), lambda a, b: torch.cat([a, b, a], dim=1),
         [normal(2, 3), normal(2, 1)]),
        ("stack", "axis=-1", lambda a, b: seqgrad.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], dim=-1),
         [normal(2, 3), normal(2, 3)]),
        ("getitem", "split", lambda x: x.split([1, 3], axis=1), lambda x: torch.split(x, [1, 3], dim=1),
         [normal(2, 4)]),
        ("getitem", "split-size", lambda x: x.split(2), lambda x: torch.split(x, 2), [normal(5, 2)]),
        ("getitem", "chunk", lambda x: x.chunk(3), lambda x: torch.chunk(x, 3), [normal(7, 2)]),
    ]
    for index in [1, (slice(1, 3), 0), (None, Ellipsis, 1), np.array([0, 2, 0, 0]),
                  (np.array([0, 0, 2]), np.array([1, 1, 3])), MASK, np.array([True, False, True])]:
        table.append(("getitem", repr(index).replace("\n", ""), lambda x, i=index: x[i],
                      lambda x, i=index: x[torch_index(i)], [normal(3, 4)]))
    for index, unique in [((slice(1, 3),), True), (np.array([0, 2, 0]), False), (MASK, True)]:
        shape = (3, 4)
        values_shape = np.zeros(shape)[index].shape
        table.append(("scatter", repr(index).replace("\n", ""),
                      lambda v, i=index, u=unique, s=shape: ops.scatter(v, index=i, shape=s, unique=u),
                      torch_scatter(index, shape), [normal(*values_shape)]))
    return table


COMPARISONS = comparisons()


def make_array(spec, rng) -> np.ndarray:
    kind = spec[0]
    if kind == "given":
        return np.array(spec[1], dtype=np.float64)
    shape = spec[1]
    if kind == "positive":
        return np.asarray(rng.uniform(0.5, 2.0, shape))
    if kind == "nonzero":
        return np.asarray(rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape))
    if kind == "shifted":
        return np.asarray(spec[2] + rng.standard_normal(shape))
    return np.asarray(rng.standard_normal(shape))


def as_list(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def test_every_registered_primitive_is_compared_with_torch():
    missing = sorted(set(ops.REGISTRY) - {op for op, *_ in COMPARISONS})
    assert not missing, f"primitives without a comparison against torch: {missing}"


@pytest.mark.parametrize("op, label, ours, theirs, makers", COMPARISONS,
                         ids=[f"{op}[{label}]" for op, label, *_ in COMPARISONS])
def test_forward_and_gradients_match_torch(op, label, ours, theirs, makers):
    rng = np.random.default_rng(len(label) + 31 * len(op))
    arrays = [make_array(spec, rng) for spec in makers]
    our_inputs = [seqgrad.Tensor(array, requires_grad=True) for array in arrays]
    their_inputs = [torch.tensor(array, dtype=torch.float64, requires_grad=True) for array in arrays]
    our_outputs, their_outputs = as_list(ours(*our_inputs)), as_list(theirs(*their_inputs))
    assert op in recorded_ops(our_outputs)
    assert len(our_outputs) == len(their_outputs)

    our_loss, their_loss = None, None
    for mine, reference in zip(our_outputs, their_outputs):
        assert mine.shape == tuple(reference.shape)
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=RTOL, atol=ATOL)
        weights = rng.standard_normal(mine.shape)
        our_term = (mine * weights).sum()
        their_term = (reference * torch.from_numpy(np.asarray(weights))).sum()
        our_loss = our_term if our_loss is None else our_loss + our_term
        their_loss = their_term if their_loss is None else their_loss + their_term
    our_loss.backward()
    their_loss.backward()
    for mine, reference in zip(our_inputs, their_inputs):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=RTOL, atol=ATOL)
