"""Linear, Embedding, Dropout and the losses."""

import numpy as np
import pytest

import seqgrad as sg
from seqgrad import nn
from seqgrad.nn import functional as F


def test_linear_gradcheck_and_shape_error():
    layer = nn.Linear(3, 2, dtype=np.float64)
    x = sg.Tensor(np.random.default_rng(0).standard_normal((4, 5, 3)), requires_grad=True)
    assert sg.gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])
    with pytest.raises(sg.ShapeError, match=r"expected input \(\.\.\., 3\), got \(4, 2\)"):
        layer(sg.randn(4, 2))


def test_embedding_gradient_is_a_scatter_add_with_padding_row_frozen():
    emb = nn.Embedding(6, 3, padding_idx=0, dtype=np.float64)
    assert not emb.weight.data[0].any()
    ids = np.array([[1, 2, 1], [0, 5, 1]])
    out = emb(ids)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    (out * upstream).sum().backward()
    expected = np.zeros((6, 3))
    np.add.at(expected, ids, upstream)
    expected[0] = 0.0
    np.testing.assert_allclose(emb.weight.grad, expected)
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        emb(np.array([6]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([1.0]))


def test_dropout_is_inverted_and_identity_in_eval():
    sg.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = sg.ones(200, 200)
    out = layer(x).data
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.01
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_cross_entropy_matches_definition_with_ignore_index():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5)) * 3
    target = np.array([0, 4, -100, 2, 2, -100])
    loss = F.cross_entropy(sg.Tensor(logits), target)
    keep = target != -100
    expected = -_log_softmax(logits)[np.arange(6)[keep], target[keep]].mean()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    summed = F.cross_entropy(sg.Tensor(logits), target, reduction="sum")
    np.testing.assert_allclose(summed.item(), expected * keep.sum(), rtol=1e-6)
    per_item = F.cross_entropy(sg.Tensor(logits), target, reduction="none").data
    assert per_item[2] == 0 and per_item[5] == 0


def test_cross_entropy_gradcheck_and_large_logits():
    rng = np.random.default_rng(1)
    logits = sg.Tensor(rng.standard_normal((4, 3, 2)) * 1e3, requires_grad=True)  # (N, C, d)
    target = np.array([[0, 2], [1, 1], [2, -100], [0, 0]])
    loss = F.cross_entropy(logits, target)
    assert np.isfinite(loss.item())
    small = sg.Tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    assert sg.gradcheck(lambda z: F.cross_entropy(z, target), [small])
    assert sg.gradcheck(lambda z: F.nll_loss(F.log_softmax(z, axis=1), target), [small])


def test_loss_argument_errors():
    with pytest.raises(sg.ShapeError, match="do not match"):
        F.cross_entropy(sg.randn(4, 3), np.array([0, 1]))
    with pytest.raises(IndexError, match="out of range for 3 classes"):
        F.cross_entropy(sg.randn(2, 3), np.array([0, 3]))
    with pytest.raises(sg.ShapeError, match=r"probability targets must have the logits' shape \(2, 3\), got \(2,\)"):
        F.cross_entropy(sg.randn(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.nll_loss(sg.randn(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(sg.randn(2), np.zeros(2), reduction="average")
    with pytest.raises(sg.ShapeError, match=r"\(2,\) and target \(3,\)"):
        F.mse_loss(sg.randn(2), np.zeros(3))


def test_losses_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((7, 4))
    target = np.array([0, 1, 2, 3, -100, 1, 0])
    ours = sg.Tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    F.cross_entropy(ours, target).backward()
    torch.nn.functional.cross_entropy(theirs, torch.from_numpy(target)).backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10)
    prediction, goal = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    ours = sg.Tensor(prediction, requires_grad=True)
    theirs = torch.tensor(prediction, requires_grad=True)
    F.mse_loss(ours, goal).backward()
    torch.nn.functional.mse_loss(theirs, torch.from_numpy(goal)).backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)
