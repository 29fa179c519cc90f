"""Gradients of gradients: backward(create_graph=True) records the backward pass itself."""

import numpy as np
import pytest

import seqgrad

EPS = 1e-5


def leaves_from(arrays) -> list:
    return [seqgrad.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]


def gradient_at(f, arrays) -> list[np.ndarray]:
    """∇f at `arrays` by ordinary backward."""
    leaves = leaves_from(arrays)
    f(*leaves).backward()
    return [leaf.grad for leaf in leaves]


def hessian_vector_product(f, arrays, directions) -> list[np.ndarray]:
    """H v by double backward: ∇f with create_graph=True, then the backward of <∇f, v>."""
    leaves = leaves_from(arrays)
    f(*leaves).backward(create_graph=True)
    grads = [leaf.grad for leaf in leaves]
    assert all(isinstance(g, seqgrad.Tensor) and g.requires_grad for g in grads)
    for leaf in leaves:
        leaf.grad = None
    inner = (grads[0] * directions[0]).sum()
    for g, v in zip(grads[1:], directions[1:]):
        inner = inner + (g * v).sum()
    inner.backward()
    return [leaf.grad for leaf in leaves]


def finite_difference_hvp(f, arrays, directions) -> list[np.ndarray]:
    """(∇f(x + εv) - ∇f(x - εv)) / 2ε."""
    plus = gradient_at(f, [a + EPS * v for a, v in zip(arrays, directions)])
    minus = gradient_at(f, [a - EPS * v for a, v in zip(arrays, directions)])
    return [(p - m) / (2 * EPS) for p, m in zip(plus, minus)]


def rnn_three_steps(sequence, weight_ih, weight_hh):
    hidden = seqgrad.zeros(sequence.shape[1], weight_hh.shape[0], dtype=np.float64)
    for step in range(sequence.shape[0]):
        hidden = (sequence[step] @ weight_ih.T + hidden @ weight_hh.T).tanh()
    return (hidden * hidden).sum()


ONE_HOT = np.eye(4)[[1, 3, 0]]

COMPOSITIONS = {
    "tanh": ([(3, 4), (4, 2)], lambda x, w: (x @ w).tanh().sum()),
    "sigmoid": ([(5,)], lambda x: (x.sigmoid() * x).sum()),
    "matmul": ([(3, 4), (4, 4)], lambda a, b: ((a @ b) ** 2).sum() + (a @ b @ b.T).tanh().sum()),
    "batched-matmul": ([(2, 3, 4), (4,)], lambda a, v: ((a @ v).tanh() * (a @ v)).sum()),
    "softmax": ([(3, 4), (4, 4)], lambda z, w: (seqgrad.softmax(z @ w, axis=-1) * ONE_HOT).sum()),
    "log_softmax": ([(3, 4)], lambda z: -(seqgrad.log_softmax(z * z, axis=-1) * ONE_HOT).sum()),
    "logsumexp": ([(3, 4)], lambda z: z.logsumexp(axis=-1).sum() + (z * 2.0).logsumexp() ** 2),
    "getitem": ([(5, 3)], lambda x: (x[[0, 0, 2]] ** 3).sum() + (x[::-1] * x).sum() + x[1:, None, 0].exp().sum()
                + (x[x.data > 0] ** 2).sum()),
    "split-concat-stack": ([(4, 3)], lambda x: (seqgrad.concat(x.split([1, 3]), axis=0).tanh()
                                               * seqgrad.stack(list(x)).sigmoid()).sum()),
    "rnn": ([(3, 2, 4), (5, 4), (5, 5)], rnn_three_steps),
    "elementwise-zoo": ([(2, 3)], lambda x: ((x * x + 1.0).log() + (x * x + 0.5).sqrt() + x.exp() / (1.0 + x * x)
                                           + seqgrad.maximum(x, 0.1 * x) * x + x.abs() ** 1.5
                                           + seqgrad.where(x.data > 0, x ** 3, -x) + x.clip(-0.2, 0.2) * x).sum()),
    "reductions": ([(2, 3, 4)], lambda x: (x.max(axis=1) ** 2).sum() + (x.mean(axis=(0, 2)) ** 3).sum()
                   + (x.sum(axis=-1, keepdims=True) * x).sum() + (x.transpose(2, 0, 1).reshape(4, 6) ** 2).sum()),
}


@pytest.mark.parametrize("name", sorted(COMPOSITIONS))
def test_hessian_vector_product_matches_finite_differences(name):
    shapes, f = COMPOSITIONS[name]
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(shape) for shape in shapes]
    arrays = [np.where(np.abs(a) < 0.3, a + 0.6, a) for a in arrays]  # away from kinks of abs, clip, max
    directions = [rng.standard_normal(shape) for shape in shapes]
    analytic = hessian_vector_product(f, arrays, directions)
    numeric = finite_difference_hvp(f, arrays, directions)
    for got, want in zip(analytic, numeric):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_second_derivative_of_tanh_is_exact():
    values = np.linspace(-2.0, 2.0, 7)
    x = seqgrad.Tensor(values, requires_grad=True)
    x.tanh().sum().backward(create_graph=True)
    first = x.grad
    np.testing.assert_allclose(first.data, 1.0 - np.tanh(values) ** 2)
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad, -2.0 * np.tanh(values) * (1.0 - np.tanh(values) ** 2))


def test_third_derivative_of_a_cube():
    x = seqgrad.Tensor(np.array([1.5, -2.0]), requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    first, x.grad = x.grad, None
    first.sum().backward(create_graph=True)
    second, x.grad = x.grad, None
    np.testing.assert_allclose(second.data, 6.0 * x.data)
    second.sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])


def test_create_graph_accumulates_onto_an_existing_gradient():
    x = seqgrad.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, seqgrad.Tensor)
    np.testing.assert_allclose(x.grad.data, [4.0, 8.0])


def test_ordinary_backward_adds_onto_a_gradient_left_by_create_graph():
    x = seqgrad.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward(create_graph=True)
    x[1:].sum().backward()  # indexing's sparse gradient onto a Tensor gradient
    (x * 1.0).sum().backward()
    assert isinstance(x.grad, seqgrad.Tensor)
    np.testing.assert_allclose(x.grad.data, [3.0, 6.0, 8.0])


def test_create_graph_keeps_the_graph_for_another_backward():
    x = seqgrad.Tensor(np.array([0.3, -0.7]), requires_grad=True)
    loss = (x.tanh() * x).sum()
    loss.backward(create_graph=True)
    loss.backward()  # no retain_graph needed: create_graph kept the saved values
    assert np.isfinite(x.grad.data).all()
