import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqgrad.data import DataFileError, Vocabulary


def test_special_tokens_have_fixed_ids_and_unknown_tokens_map_to_unk():
    vocab = Vocabulary.build("abracadabra")
    assert vocab.pad_id == 0 and vocab.unk_id == 1
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert vocab.encode("abz").tolist() == [vocab.token_to_id("a"), vocab.token_to_id("b"), 1]
    assert vocab.encode("").dtype == np.int64 and vocab.encode("").shape == (0,)


def test_build_orders_by_frequency_then_token_and_honours_min_freq_and_max_size():
    tokens = ["b", "a", "c", "a", "b", "a", "d"]
    assert Vocabulary.build(tokens).tokens[2:] == ["a", "b", "c", "d"]
    assert Vocabulary.build(tokens, min_freq=2).tokens[2:] == ["a", "b"]
    assert Vocabulary.build(tokens, max_size=3).tokens == ["<pad>", "<unk>", "a"]
    assert Vocabulary.build(reversed(tokens)) == Vocabulary.build(tokens)


def test_configurable_special_tokens_and_their_validation():
    vocab = Vocabulary(["x"], pad_token="[PAD]", unk_token="[UNK]")
    assert vocab.tokens == ["[PAD]", "[UNK]", "x"] and len(vocab) == 3 and "x" in vocab
    with pytest.raises(ValueError, match="must differ"):
        Vocabulary(pad_token="<s>", unk_token="<s>")
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary(["<unk>"])
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build("abc", min_freq=0)


def test_decode_checks_range_and_can_skip_padding():
    vocab = Vocabulary(["a", "b"])
    assert vocab.decode([2, 3, 0, 1]) == ["a", "b", "<pad>", "<unk>"]
    assert vocab.decode(np.array([0, 2, 0]), skip_padding=True) == ["a"]
    with pytest.raises(IndexError, match=r"\[0, 4\).*got 4 at position 1"):
        vocab.decode([2, 4])
    with pytest.raises(IndexError):
        vocab.decode([-1])


@given(st.lists(st.text(min_size=1, max_size=4), max_size=30))
def test_encode_decode_round_trip(tokens):
    vocab = Vocabulary.build(tokens)
    kept = [token for token in tokens if token not in ("<pad>", "<unk>")]
    assert vocab.decode(vocab.encode(kept)) == kept


def test_save_load_round_trip_and_atomic_write(tmp_path):
    vocab = Vocabulary.build("the quick brown fox jumps over the lazy dog".split(), pad_token="P", unk_token="U")
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.pad_token == "P" and loaded.unk_token == "U"
    vocab.save(path)  # overwriting works and leaves no temporary file behind
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"format": "seqgrad.CharTokenizer", "version": 1}', "expected format 'seqgrad.Vocabulary'"),
    ('{"format": "seqgrad.Vocabulary", "version": 99}', "version"),
    ('{"format": "seqgrad.Vocabulary", "version": 1, "pad_token": "<pad>", "unk_token": "<unk>"}',
     "missing field 'tokens'"),
    ('{"format": "seqgrad.Vocabulary", "version": 1, "pad_token": "<pad>", "unk_token": "<unk>", "tokens": "ab"}',
     "'tokens' must be list"),
    ('{"format": "seqgrad.Vocabulary", "version": 1, "pad_token": "<pad>", "unk_token": "<unk>",'
     ' "tokens": ["<unk>", "<pad>"]}', "start with pad"),
    ('{"format": "seqgrad.Vocabulary", "version": 1, "pad_token": "<pad>", "unk_token": "<unk>",'
     ' "tokens": ["<pad>", "<unk>", "a", "a"]}', "duplicates"),
    ('{"format": "seqgrad.Vocabulary", "version": 1, "pad_token": "<pad>", "unk_token": "<unk>",'
     ' "tokens": ["<pad>", "<unk>", 3]}', "must be str"),
])
def test_load_rejects_corrupt_or_foreign_files_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken_vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFileError, match=message) as caught:
        Vocabulary.load(path)
    assert str(path) in str(caught.value)


def test_load_rejects_non_utf8_bytes_naming_the_file(tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFileError, match="binary.json"):
        Vocabulary.load(path)


def test_saved_file_is_readable_json(tmp_path):
    path = tmp_path / "v.json"
    Vocabulary(["é", "ß"]).save(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["tokens"] == ["<pad>", "<unk>", "é", "ß"] and payload["format"] == "seqgrad.Vocabulary"
