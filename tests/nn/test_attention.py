"""Attention: gradients against finite differences with masks, exact zeros past each length,
a PyTorch reference written here (float64, 1e-10), the precomputed memory, and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqgrad as sg
from seqgrad import nn
from seqgrad.nn import functional as F

STEPS, BATCH, QUERY, KEY, VALUE, HIDDEN = 5, 3, 4, 6, 2, 7
LENGTHS = [5, 2, 3]


def _inputs(rng, value_size=None, query=QUERY):
    query_t = sg.Tensor(rng.standard_normal((BATCH, query)), requires_grad=True)
    keys = sg.Tensor(rng.standard_normal((STEPS, BATCH, KEY)), requires_grad=True)
    values = None if value_size is None else sg.Tensor(rng.standard_normal((STEPS, BATCH, value_size)),
                                                       requires_grad=True)
    return query_t, keys, values


def _modules():
    return {
        "additive": lambda: nn.AdditiveAttention(QUERY, KEY, HIDDEN, dtype=np.float64),
        "dot": lambda: nn.DotProductAttention(KEY, KEY, "dot", dtype=np.float64),
        "scaled dot": lambda: nn.DotProductAttention(KEY, KEY, "dot", scale=True, dtype=np.float64),
        "general": lambda: nn.DotProductAttention(QUERY, KEY, "general", dtype=np.float64),
        "scaled general": lambda: nn.DotProductAttention(QUERY, KEY, "general", scale=True, dtype=np.float64),
    }


@pytest.mark.parametrize("name", list(_modules()))
@pytest.mark.parametrize("with_values", [False, True])
def test_gradcheck_with_mask(name, with_values):
    sg.manual_seed(1)
    attention = _modules()[name]()
    rng = np.random.default_rng(2)
    query, keys, values = _inputs(rng, VALUE if with_values else None, attention.query_size)
    params = list(attention.parameters())

    def run(q, k, *rest):
        v = rest[0] if with_values else None
        context, weights = attention(q, k, v, lengths=LENGTHS)
        return context, weights

    inputs = [query, keys] + ([values] if with_values else []) + params
    assert sg.gradcheck(lambda *xs: run(*xs[:3 if with_values else 2]), inputs)


@pytest.mark.parametrize("name", list(_modules()))
def test_padded_steps_get_exactly_zero_weight_and_gradient(name):
    sg.manual_seed(3)
    attention = _modules()[name]()
    query, keys, values = _inputs(np.random.default_rng(4), VALUE, attention.query_size)
    context, weights = attention(query, keys, values, lengths=LENGTHS)
    padded = np.arange(STEPS)[None, :] >= np.array(LENGTHS)[:, None]
    assert (weights.data[padded] == 0.0).all()
    np.testing.assert_allclose(weights.data.sum(axis=1), 1.0, rtol=1e-12)
    (context * context).sum().backward()
    for b, length in enumerate(LENGTHS):
        assert (keys.grad[length:, b] == 0.0).all()
        assert (values.grad[length:, b] == 0.0).all()
        assert np.abs(keys.grad[:length, b]).sum() > 0


def test_masked_softmax_zero_weight_zero_gradient_and_rows_without_positions(float64):
    scores = sg.Tensor(np.random.default_rng(5).standard_normal((2, 4)) * 50, requires_grad=True)
    mask = np.array([[True, True, False, False], [True, False, True, True]])
    weights = F.masked_softmax(scores, mask)
    assert (weights.data[~mask] == 0.0).all()
    (weights * sg.Tensor(np.arange(8.0).reshape(2, 4))).sum().backward()
    assert (scores.grad[~mask] == 0.0).all()
    assert sg.gradcheck(lambda s: F.masked_softmax(s, mask), [scores])
    with pytest.raises(ValueError, match="at least one unmasked"):
        F.masked_softmax(scores, np.array([[True] * 4, [False] * 4]))
    with pytest.raises(sg.ShapeError, match="does not broadcast"):
        F.masked_softmax(scores, np.ones((3, 4), bool))
    with sg.detect_anomaly():  # the fill value is finite: anomaly mode stays quiet
        F.masked_softmax(scores, mask).sum().backward()


def test_memory_once_equals_calling_every_time():
    sg.manual_seed(6)
    attention = nn.AdditiveAttention(QUERY, KEY, HIDDEN, dtype=np.float64)
    query, keys, _ = _inputs(np.random.default_rng(7))
    memory = attention.memory(keys, lengths=LENGTHS)
    context, weights = attention.attend(query, memory, step=3)
    expected_context, expected_weights = attention(query, keys, lengths=LENGTHS)
    np.testing.assert_array_equal(context.data, expected_context.data)
    np.testing.assert_array_equal(weights.data, expected_weights.data)
    assert context.node.scope.get("step") == 3 and context.node.scope.name == "AdditiveAttention"


def test_bad_input_errors():
    attention = nn.AdditiveAttention(QUERY, KEY, HIDDEN, dtype=np.float64)
    query, keys, _ = _inputs(np.random.default_rng(8))
    with pytest.raises(ValueError, match="at least 1 .* got 0 for sequence 1"):
        attention(query, keys, lengths=[5, 0, 3])
    with pytest.raises(ValueError, match="at most the 5 steps of the keys, got 6 for sequence 2"):
        attention(query, keys, lengths=[5, 2, 6])
    with pytest.raises(ValueError, match="lengths has 2 entries"):
        attention(query, keys, lengths=[5, 2])
    with pytest.raises(sg.ShapeError, match=r"expected query \(3, 4\)"):
        attention(sg.Tensor(np.zeros((3, 5))), keys)
    with pytest.raises(sg.ShapeError, match=r"expected keys \(T, B, 6\)"):
        attention(query, sg.Tensor(np.zeros((5, 3, 4))))
    with pytest.raises(sg.ShapeError, match="expected values"):
        attention(query, keys, sg.Tensor(np.zeros((4, 3, 2))))
    with pytest.raises(ValueError, match="kind='dot' needs query_size == key_size"):
        nn.DotProductAttention(4, 6)
    with pytest.raises(ValueError, match="kind must be one of"):
        nn.DotProductAttention(4, 4, kind="cosine")


# --- the PyTorch reference: the equations written out in torch, float64 ----------------------
torch_marks = [pytest.mark.torch]


def _torch_reference(name, attention, query, keys, values, lengths):
    import torch

    q, k = torch.tensor(query, requires_grad=True), torch.tensor(keys, requires_grad=True)
    v = torch.tensor(values, requires_grad=True) if values is not None else k
    params = {key: torch.tensor(value, requires_grad=True) for key, value in attention.state_dict().items()}
    keys_bt, values_bt = k.transpose(0, 1), v.transpose(0, 1)          # (B, T, ·)
    if name == "additive":
        energy = torch.tanh(keys_bt @ params["key_projection.weight"].T + params["key_projection.bias"]
                            + (q @ params["query_projection.weight"].T)[:, None, :])
        scores = energy @ params["v"]
    else:
        projected = keys_bt @ params["key_projection.weight"].T if "general" in name else keys_bt
        scores = torch.einsum("btd,bd->bt", projected, q)
        if "scaled" in name:
            scores = scores / np.sqrt(q.shape[1])
    padded = torch.arange(keys.shape[0])[None, :] >= torch.tensor(lengths)[:, None]
    weights = torch.softmax(scores.masked_fill(padded, float("-inf")), dim=1)
    context = torch.einsum("bt,btd->bd", weights, values_bt)
    return q, k, (v if values is not None else None), params, context, weights


@pytest.mark.torch
@pytest.mark.parametrize("name", list(_modules()))
@pytest.mark.parametrize("with_values", [False, True])
def test_matches_torch_reference(name, with_values):
    torch = pytest.importorskip("torch")
    sg.manual_seed(9)
    attention = _modules()[name]()
    rng = np.random.default_rng(10)
    query, keys, values = _inputs(rng, VALUE if with_values else None, attention.query_size)
    context, weights = attention(query, keys, values, lengths=LENGTHS)
    probe_context = rng.standard_normal(context.shape)
    probe_weights = rng.standard_normal(weights.shape)
    ((context * sg.Tensor(probe_context)).sum() + (weights * sg.Tensor(probe_weights)).sum()).backward()

    tq, tk, tv, tparams, tcontext, tweights = _torch_reference(
        name, attention, query.data, keys.data, values.data if with_values else None, LENGTHS)
    ((tcontext * torch.tensor(probe_context)).sum() + (tweights * torch.tensor(probe_weights)).sum()).backward()

    def close(ours, theirs, what):
        theirs = theirs.detach().numpy()
        scale = max(np.abs(theirs).max(), 1.0)
        assert np.abs(ours - theirs).max() <= 1e-10 * scale, what

    close(context.data, tcontext, "context")
    close(weights.data, tweights, "weights")
    close(query.grad, tq.grad, "query gradient")
    close(keys.grad, tk.grad, "keys gradient")
    if with_values:
        close(values.grad, tv.grad, "values gradient")
    for param_name, param in attention.named_parameters():
        close(param.grad, tparams[param_name].grad, f"{param_name} gradient")


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(1, 7), batch=st.integers(1, 4), data=st.data())
def test_weights_are_a_distribution_over_each_sequence_steps(steps, batch, data):
    lengths = data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    attention = nn.DotProductAttention(3, 5, "general", scale=True, dtype=np.float64)
    rng = np.random.default_rng(steps * 10 + batch)
    context, weights = attention(sg.Tensor(rng.standard_normal((batch, 3))),
                                 sg.Tensor(rng.standard_normal((steps, batch, 5))),
                                 sg.Tensor(rng.standard_normal((steps, batch, 2))), lengths=lengths)
    assert context.shape == (batch, 2) and weights.shape == (batch, steps)
    np.testing.assert_allclose(weights.data.sum(axis=1), 1.0, rtol=1e-12)
    assert ((weights.data > 0) == (np.arange(steps)[None, :] < np.array(lengths)[:, None])).all()
