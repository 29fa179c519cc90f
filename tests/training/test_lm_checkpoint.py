"""Char-LM checkpoints: a round trip gives the same predictions; every bad file is named and refused."""

import json

import numpy as np
import pytest

import seqgrad
from seqgrad.data import CharTokenizer
from seqgrad.errors import CheckpointError
from seqgrad.models import CharLM
from seqgrad.training.lm_checkpoint import (
    META_KEY,
    checkpoint_arrays,
    is_char_lm_checkpoint,
    json_array,
    load_char_lm,
    save_char_lm,
)

TEXT = "abc abd abe\nxyz\n"


@pytest.fixture
def saved(tmp_path):
    tokenizer = CharTokenizer().fit(TEXT)
    seqgrad.manual_seed(5)
    model = CharLM(len(tokenizer.vocab), 3, 5, "gru", num_layers=2, dropout=0.1)
    path = save_char_lm(tmp_path / "lm.npz", model, tokenizer, {"steps": 7})
    return path, model, tokenizer


def test_round_trip_same_model_vocabulary_and_predictions(saved):
    path, model, tokenizer = saved
    loaded, loaded_tokenizer, info = load_char_lm(path)
    assert loaded.config() == model.config()
    assert loaded_tokenizer.vocab == tokenizer.vocab
    assert info == {"steps": 7}
    assert not loaded.training
    ids = tokenizer.encode("abc ab")[:, None]
    model.eval()
    np.testing.assert_array_equal(loaded(ids)[0].data, model(ids)[0].data)
    assert is_char_lm_checkpoint(path)


def _rewrite(path, **changes):
    arrays = dict(np.load(path))
    meta = json.loads(arrays[META_KEY].tobytes())
    for key, value in changes.items():
        if key == "weights":
            arrays.update(value)
        else:
            meta[key] = value
    arrays[META_KEY] = json_array(meta)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, message", [
    (dict(format="other.Model"), "expected format 'seqgrad.CharLM'"),
    (dict(version=99), "version 1, got 99"),
    (dict(model={"vocab_size": 9, "cell": "bilstm"}), "bad model configuration"),
    (dict(vocab={"format": "nope"}), "bad vocabulary"),
    (dict(weights={"model.readout.weight": np.zeros((2, 2), np.float32)}), "do not fit"),
])
def test_incompatible_checkpoints_are_named_and_refused(saved, change, message):
    path, _, _ = saved
    _rewrite(path, **change)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_char_lm(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_foreign_and_corrupt_files(tmp_path):
    plain = seqgrad.save({"w": np.ones(3)}, tmp_path / "plain.npz")
    with pytest.raises(CheckpointError, match="not a seqgrad char-LM checkpoint"):
        load_char_lm(plain)
    text = tmp_path / "notes.npz"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.npz"):
        load_char_lm(text)
    assert not is_char_lm_checkpoint(text)
    assert not is_char_lm_checkpoint(tmp_path / "missing.npz")
    broken = np.frombuffer(b"\xff\xfe{", dtype=np.uint8)
    np.savez(tmp_path / "broken.npz", **{META_KEY: broken})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_char_lm(tmp_path / "broken.npz")


def test_vocabulary_must_match_the_model():
    tokenizer = CharTokenizer().fit(TEXT)
    with pytest.raises(ValueError, match="vocabulary has"):
        checkpoint_arrays(CharLM(len(tokenizer.vocab) + 2, 3, 4), tokenizer)
