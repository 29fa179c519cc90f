"""The names and arguments a PyTorch user reaches for: dim/keepdim aliases, max/min with indices,
prod/var/std/softplus and the shape helpers (compositions of primitives), checked against torch in
float64 and gradchecked (first and second order)."""

import numpy as np
import pytest

import seqgrad as sg
from tests.ops.test_op_second_order import gradient_function

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
RTOL, ATOL = 1e-10, 1e-13

WITH_ZEROS = np.array([[0.5, 0.0, 2.0, -1.5], [1.2, -0.7, 0.0, 0.0], [0.3, 1.1, -2.0, 0.9]])
BIG = np.array([[-800.0, -30.0, -1e-3, 0.0], [1e-3, 19.0, 21.0, 700.0]])


def _pair(values):
    return values if isinstance(values, tuple) else (values,)


# (label, seqgrad function, torch function, input arrays); outputs that are index tensors compare exactly.
COMPOSITES = [
    ("max-dim", lambda x: x.max(dim=1), lambda x: x.max(dim=1), ["normal34"]),
    ("max-dim-keepdim", lambda x: sg.max(x, 0, keepdim=True), lambda x: torch.max(x, 0, keepdim=True), ["normal34"]),
    ("max-dim-ties", lambda x: x.max(dim=1), lambda x: x.max(dim=1), ["ties"]),
    ("min-dim", lambda x: x.min(-1), lambda x: x.min(-1), ["normal34"]),
    ("min-all", lambda x: x.min(), lambda x: x.min(), ["normal34"]),
    ("max-all", lambda x: sg.max(x), lambda x: torch.max(x), ["normal34"]),
    ("max-other", lambda x: x.max(x * 0.5), lambda x: x.max(x * 0.5), ["normal34"]),
    ("amax-axis", lambda x: x.max(axis=(0, 1)), lambda x: torch.amax(x, dim=(0, 1)), ["normal34"]),
    ("prod-all", lambda x: x.prod(), lambda x: x.prod(), ["normal34"]),
    ("prod-dim", lambda x: x.prod(dim=1), lambda x: x.prod(dim=1), ["normal34"]),
    ("prod-zeros", lambda x: sg.prod(x, 1, keepdim=True), lambda x: torch.prod(x, 1, keepdim=True), ["zeros"]),
    ("prod-zeros-all", lambda x: x.prod(), lambda x: x.prod(), ["zeros"]),
    ("prod-axes", lambda x: x.prod(axis=(0, 2)), lambda x: x.prod(2).prod(0), ["normal234"]),
    ("var", lambda x: x.var(), lambda x: x.var(), ["normal34"]),
    ("var-dim-biased", lambda x: x.var(dim=1, unbiased=False), lambda x: x.var(dim=1, unbiased=False),
     ["normal34"]),
    ("var-correction", lambda x: sg.var(x, 0, correction=2, keepdim=True),
     lambda x: torch.var(x, 0, correction=2, keepdim=True), ["normal34"]),
    ("std-dims", lambda x: x.std(dim=(0, 2)), lambda x: x.std(dim=(0, 2)), ["normal234"]),
    ("std-dim", lambda x: sg.std(x, 1, unbiased=True), lambda x: torch.std(x, 1, unbiased=True), ["normal34"]),
    ("softplus", sg.softplus, torch.nn.functional.softplus, ["normal34"]),
    ("softplus-large", sg.softplus, torch.nn.functional.softplus, ["big"]),
    ("softplus-beta", lambda x: x.softplus(beta=2.0, threshold=5.0),
     lambda x: torch.nn.functional.softplus(x, beta=2.0, threshold=5.0), ["big"]),
    ("unsqueeze", lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1), ["normal34"]),
    ("unsqueeze-neg", lambda x: sg.unsqueeze(x, -1), lambda x: torch.unsqueeze(x, -1), ["normal34"]),
    ("squeeze", lambda x: x.unsqueeze(0).squeeze(), lambda x: x.unsqueeze(0).squeeze(), ["normal34"]),
    ("squeeze-dim", lambda x: x.reshape(3, 1, 4).squeeze(1), lambda x: x.reshape(3, 1, 4).squeeze(1), ["normal34"]),
    ("squeeze-not-1", lambda x: x.squeeze(0), lambda x: x.squeeze(0), ["normal34"]),
    ("view", lambda x: x.view(4, -1), lambda x: x.view(4, -1), ["normal34"]),
    ("flatten", lambda x: x.flatten(1), lambda x: x.flatten(1), ["normal234"]),
    ("flatten-all", sg.flatten, torch.flatten, ["normal234"]),
    ("permute", lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), ["normal234"]),
    ("transpose-None", lambda x: x.transpose(None), lambda x: x.permute(2, 1, 0), ["normal234"]),
    ("cat", lambda x: sg.cat([x, x * 2], dim=1), lambda x: torch.cat([x, x * 2], dim=1), ["normal34"]),
    ("stack-dim", lambda x: sg.stack([x, x], dim=-1), lambda x: torch.stack([x, x], dim=-1), ["normal34"]),
    ("sum-dim", lambda x: x.sum(dim=(0, 2), keepdim=True), lambda x: x.sum(dim=(0, 2), keepdim=True), ["normal234"]),
    ("mean-dim", lambda x: sg.mean(x, dim=1), lambda x: torch.mean(x, dim=1), ["normal34"]),
    ("logsumexp-dim", lambda x: sg.logsumexp(x, dim=1), lambda x: torch.logsumexp(x, dim=1), ["normal34"]),
    ("softmax-dim", lambda x: sg.softmax(x, dim=0), lambda x: torch.softmax(x, dim=0), ["normal34"]),
    ("log_softmax-dim", lambda x: x.log_softmax(dim=0), lambda x: x.log_softmax(dim=0), ["normal34"]),
    ("cumsum-method", lambda x: x.cumsum(1), lambda x: x.cumsum(1), ["normal34"]),
    ("split-dim", lambda x: x.split(2, dim=1), lambda x: x.split(2, dim=1), ["normal34"]),
    ("clamp", lambda x: x.clamp(min=-0.5), lambda x: x.clamp(min=-0.5), ["normal34"]),
    ("clamp-both", lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), ["normal34"]),
]

INPUTS = {
    "normal34": lambda rng: rng.standard_normal((3, 4)),
    "normal234": lambda rng: rng.standard_normal((2, 3, 4)),
    "zeros": lambda rng: WITH_ZEROS,
    "big": lambda rng: BIG,
    "ties": lambda rng: np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]]),
}


@pytest.mark.parametrize("label, ours, theirs, makers", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_matches_torch(label, ours, theirs, makers):
    rng = np.random.default_rng(len(label))
    arrays = [INPUTS[name](rng) for name in makers]
    our_inputs = [sg.Tensor(a, requires_grad=True) for a in arrays]
    their_inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    mine, reference = _pair(ours(*our_inputs)), _pair(theirs(*their_inputs))
    assert len(mine) == len(reference)
    our_loss, their_loss = 0.0, 0.0
    for value, expected in zip(mine, reference):
        assert value.shape == tuple(expected.shape), label
        if expected.dtype == torch.int64:
            np.testing.assert_array_equal(value.data, expected.numpy())
            assert value.dtype == np.int64
            continue
        np.testing.assert_allclose(value.data, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
        weights = rng.standard_normal(value.shape)
        our_loss = our_loss + (value * weights).sum()
        their_loss = their_loss + (expected * torch.from_numpy(np.asarray(weights))).sum()
    our_loss.backward()
    their_loss.backward()
    for value, expected in zip(our_inputs, their_inputs):
        np.testing.assert_allclose(value.grad, expected.grad.numpy(), rtol=RTOL, atol=ATOL)


class _Case:
    def __init__(self, fn, arrays):
        self.fn, self.arrays = fn, arrays

    def inputs(self):
        return [sg.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in self.arrays]


GRADCHECKED = {
    "max-dim": (lambda x: x.max(dim=1).values, [np.random.default_rng(1).standard_normal((3, 4))]),
    "min-dim-keepdim": (lambda x: x.min(0, keepdim=True).values, [np.random.default_rng(2).standard_normal((3, 4))]),
    "prod-zeros": (lambda x: x.prod(dim=1), [WITH_ZEROS]),
    "prod-odd": (lambda x: x.prod(axis=(0, 2), keepdims=True), [np.random.default_rng(3).uniform(0.5, 1.5, (3, 5, 7))]),
    "var": (lambda x: x.var(dim=1, correction=0), [np.random.default_rng(4).standard_normal((3, 5))]),
    "std": (lambda x: x.std(), [np.random.default_rng(5).standard_normal((2, 3))]),
    "softplus": (lambda x: x.softplus(), [BIG[:, 1:-1]]),
    "shapes": (lambda x: x.unsqueeze(0).flatten(1, 2).squeeze(0).view(3, 4), [np.arange(12.0).reshape(4, 3) / 7]),
}


@pytest.mark.parametrize("name", GRADCHECKED)
def test_composites_gradcheck_first_and_second_order(name):
    fn, arrays = GRADCHECKED[name]
    case = _Case(fn, arrays)
    assert sg.gradcheck(fn, case.inputs())
    assert sg.gradcheck(gradient_function(case), case.inputs(), atol=1e-5, rtol=1e-3)


def test_softplus_is_finite_far_out_and_half_slope_at_zero():
    x = sg.Tensor(np.array([-1e4, -800.0, 0.0, 800.0, 1e4]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        y = sg.softplus(x, threshold=None)
        y.sum().backward()
    np.testing.assert_allclose(y.data, [0.0, 0.0, np.log(2.0), 800.0, 1e4], atol=1e-300)
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_max_with_dim_is_a_named_pair_and_axis_is_numpy():
    x = sg.Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]]))
    values, indices = x.max(dim=1)
    result = x.max(1)
    assert result.values is not None and result.indices.data.tolist() == [1, 0] == indices.data.tolist()
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    assert isinstance(x.max(axis=1), sg.Tensor) and x.max(axis=1).shape == (2,)
    with pytest.raises(TypeError, match="dim .* or axis .*, not both"):
        x.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match="dim .* or axis .*, not both"):
        sg.sum(x, axis=0, dim=1)


def test_tensor_from_torch_and_array_likes():
    source = torch.arange(6, dtype=torch.float64).reshape(2, 3).requires_grad_()
    converted = sg.tensor(source)
    assert converted.dtype == np.float64 and converted.shape == (2, 3)
    np.testing.assert_array_equal(converted.data, source.detach().numpy())
    assert sg.Tensor(torch.ones(2, dtype=torch.float32)).dtype == np.float32
    assert sg.tensor(torch.tensor([1, 2])).dtype == np.int64

    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.array([1.5, 2.5])

    np.testing.assert_array_equal(sg.tensor(ArrayLike()).data, [1.5, 2.5])


def test_shape_helper_errors_name_what_came():
    x = sg.zeros(2, 3)
    with pytest.raises(sg.ShapeError, match=r"unsqueeze: dim 4 is out of range for shape \(2, 3\)"):
        x.unsqueeze(4)
    with pytest.raises(sg.ShapeError, match=r"flatten: dims 1..0 do not fit shape \(2, 3\)"):
        x.flatten(1, 0)
    with pytest.raises(sg.ShapeError, match=r"max: dim 2 is out of range for shape \(2, 3\)"):
        x.max(dim=2)
    with pytest.raises(ValueError, match="index 'i' repeats within operand 0"):
        sg.einsum("ii->", sg.zeros(3, 3))
    with pytest.raises(sg.ShapeError, match=r"operand 1 has shape \(3,\) but 'jk' names 2 axes"):
        sg.einsum("ij,jk->ik", x, sg.zeros(3))

