"""CharLM: shapes, configuration checks, and sampling (seeded, never padding or unknown)."""

import numpy as np
import pytest

import seqgrad
from seqgrad.data import CharTokenizer
from seqgrad.models import CharLM, sample

TEXT = "the cat sat on the mat.\nthe dog sat on the log.\n"


@pytest.fixture
def tokenizer():
    return CharTokenizer().fit(TEXT)


@pytest.mark.parametrize("cell, state_parts", [("lstm", 2), ("gru", 1), ("rnn", 1)])
def test_forward_shapes_and_state(tokenizer, cell, state_parts):
    seqgrad.manual_seed(0)
    model = CharLM(len(tokenizer.vocab), embedding_dim=5, hidden_size=7, cell=cell, num_layers=2)
    ids = tokenizer.encode(TEXT[:12]).reshape(4, 3)
    logits, state = model(ids)
    assert logits.shape == (4, 3, len(tokenizer.vocab))
    parts = state if isinstance(state, tuple) else (state,)
    assert len(parts) == state_parts
    assert all(part.shape == (2, 3, 7) for part in parts)
    # Carrying the state on gives the same logits as one long run.
    first, carried = model(ids[:2])
    second, _ = model(ids[2:], carried)
    np.testing.assert_allclose(np.concatenate([first.data, second.data]), logits.data, rtol=1e-5, atol=1e-6)


def test_config_rebuilds_the_same_architecture(tokenizer):
    model = CharLM(len(tokenizer.vocab), 4, 6, "gru", 2, dropout=0.1, recurrent_dropout=0.2)
    clone = CharLM(**model.config())
    assert [(name, p.shape) for name, p in clone.named_parameters()] == \
        [(name, p.shape) for name, p in model.named_parameters()]


def test_bidirectional_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="bidirectional.*already read"):
        CharLM(10, cell="bilstm")
    with pytest.raises(ValueError, match="cell must be one of"):
        CharLM(10, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        CharLM(10, hidden_size=0)
    with pytest.raises(ValueError, match="dropout must be in"):
        CharLM(10, dropout=1.0)
    with pytest.raises(ValueError, match=r"ids of shape \(T, B\)"):
        CharLM(10)(np.zeros(4, dtype=np.int64))


def test_sample_is_seeded_and_draws_only_real_characters(tokenizer):
    seqgrad.manual_seed(1)
    model = CharLM(len(tokenizer.vocab), 4, 8)
    model.train()
    first = sample(model, tokenizer, "the ", 50, temperature=1.5, seed=3)
    assert first == sample(model, tokenizer, "the ", 50, temperature=1.5, seed=3)
    assert first != sample(model, tokenizer, "the ", 50, temperature=1.5, seed=4)
    assert len(first) == 50
    assert set(first) <= set(TEXT)  # never <pad> or <unk>
    assert model.training, "sampling must restore the training mode"


def test_temperature_zero_follows_the_most_likely_character(tokenizer):
    seqgrad.manual_seed(2)
    model = CharLM(len(tokenizer.vocab), 4, 8)
    greedy = sample(model, tokenizer, "the", 10, temperature=0.0, seed=0)
    assert greedy == sample(model, tokenizer, "the", 10, temperature=0.0, seed=99)
    # The first drawn character is the argmax after reading the prompt, padding and unknown excluded.
    model.eval()
    logits, _ = model(tokenizer.encode("the")[:, None])
    last = logits.data[-1, 0].copy()
    last[:2] = -np.inf
    assert greedy[0] == tokenizer.vocab.id_to_token(int(np.argmax(last)))


def test_sample_rejects_bad_requests(tokenizer):
    model = CharLM(len(tokenizer.vocab), 4, 8)
    with pytest.raises(ValueError, match="characters the vocabulary does not know"):
        sample(model, tokenizer, "xyz?", 5)
    with pytest.raises(ValueError, match="length must be"):
        sample(model, tokenizer, "", -1)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, tokenizer, "", 5, temperature=-1.0)
    with pytest.raises(ValueError, match="tokenizer has"):
        sample(CharLM(len(tokenizer.vocab) + 1, 4, 8), tokenizer, "", 5)
    assert sample(model, tokenizer, "", 0) == ""
