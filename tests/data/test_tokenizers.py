import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqgrad.data import CharTokenizer, DataFileError, NotFittedError, WordTokenizer


def test_char_tokenizer_round_trip_and_unknown_characters():
    text = "Hello, world!\nÜnïcode too."
    tokenizer = CharTokenizer().fit(text)
    ids = tokenizer.encode(text)
    assert ids.shape == (len(text),) and ids.dtype == np.int64
    assert tokenizer.decode(ids) == text
    assert tokenizer.encode("H?").tolist() == [tokenizer.vocab.token_to_id("H"), tokenizer.vocab.unk_id]
    assert tokenizer.encode("\U0001F600")[0] == tokenizer.vocab.unk_id  # beyond every known code point
    lone_surrogate = "a\ud800b"
    assert CharTokenizer().fit(lone_surrogate).decode(CharTokenizer().fit(lone_surrogate).encode(lone_surrogate)) \
        == lone_surrogate


@given(st.text(min_size=1, max_size=200))
def test_char_tokenizer_fast_encode_matches_vocabulary_lookup(text):
    tokenizer = CharTokenizer().fit(text[: len(text) // 2 + 1])
    assert tokenizer.encode(text).tolist() == tokenizer.vocab.encode(list(text)).tolist()


def test_decode_drops_padding():
    tokenizer = CharTokenizer().fit("ab")
    padded = np.concatenate([tokenizer.encode("ab"), [tokenizer.vocab.pad_id] * 3])
    assert tokenizer.decode(padded) == "ab"


def test_word_tokenizer_splits_words_and_punctuation_and_lowercases():
    tokenizer = WordTokenizer()
    assert tokenizer.tokenize("Don't stop, Bob! (Really.)") == ["Don't", "stop", ",", "Bob", "!", "(", "Really",
                                                               ".", ")"]
    lower = WordTokenizer(lowercase=True).fit("The cat, the CAT.")
    assert lower.vocab.tokens[2:4] == ["cat", "the"]
    assert lower.decode(lower.encode("The cat, the dog.")) == "the cat, the <unk>."


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_word_tokenizer_decode_retokenizes_to_the_same_tokens(text):
    tokenizer = WordTokenizer().fit(text)
    assert tokenizer.tokenize(tokenizer.decode(tokenizer.encode(text))) == tokenizer.tokenize(text)


def test_use_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="fit"):
        CharTokenizer().encode("abc")
    with pytest.raises(NotFittedError):
        WordTokenizer().decode([2])


@pytest.mark.parametrize("tokenizer_class, options", [(CharTokenizer, {}), (WordTokenizer, {"lowercase": True})])
def test_save_load_round_trip(tmp_path, tokenizer_class, options):
    text = "A small text, with words; and words again."
    tokenizer = tokenizer_class(**options).fit(text, max_size=12)
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = tokenizer_class.load(path)
    assert loaded.vocab == tokenizer.vocab
    assert loaded.encode(text).tolist() == tokenizer.encode(text).tolist()
    if options:
        assert loaded.lowercase is True


def test_load_rejects_the_other_tokenizer_and_corrupt_content_naming_the_file(tmp_path):
    path = tmp_path / "chars.json"
    CharTokenizer().fit("abc").save(path)
    with pytest.raises(DataFileError, match="seqgrad.WordTokenizer") as caught:
        WordTokenizer.load(path)
    assert str(path) in str(caught.value)

    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["vocab"]["tokens"].append("too long")
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(DataFileError, match="one character") as caught:
        CharTokenizer.load(path)
    assert str(path) in str(caught.value)

    path.write_text(json.dumps({"format": "seqgrad.WordTokenizer", "version": 1, "lowercase": "yes",
                                "vocab": payload["vocab"]}), encoding="utf-8")
    with pytest.raises(DataFileError, match="'lowercase' must be bool"):
        WordTokenizer.load(path)

    path.write_text('{"format": "seqgrad.CharTokenizer", "version": 1, "vocab": [', encoding="utf-8")
    with pytest.raises(DataFileError, match="chars.json.*invalid JSON"):
        CharTokenizer.load(path)
