import hashlib
import subprocess
import sys

import numpy as np
import pytest

from seqgrad.data import stdlib_corpus, unigram_bits_per_char


def test_corpus_is_large_english_ascii_text():
    text = stdlib_corpus()
    assert len(text) >= 300_000
    assert text.isascii()
    words = text.split()
    assert sum(word.lower() in {"the", "a", "of", "to", "is", "and"} for word in words) > 0.08 * len(words)
    assert ">>>" not in text


def test_corpus_is_deterministic_and_honours_max_chars_and_seed():
    assert stdlib_corpus() == stdlib_corpus()
    head = stdlib_corpus(max_chars=10_000, seed=3)
    assert head == stdlib_corpus(max_chars=10_000, seed=3)
    assert 9_000 < len(head) <= 10_000 and head.split("\n")[-1] in stdlib_corpus()
    assert head != stdlib_corpus(max_chars=10_000, seed=4)
    assert stdlib_corpus(max_chars=10_000) == stdlib_corpus()[:len(stdlib_corpus(max_chars=10_000))]
    shuffled = stdlib_corpus(seed=3)
    assert sorted(shuffled.split("\n\n")) == sorted(stdlib_corpus().split("\n\n"))
    with pytest.raises(ValueError, match="max_chars"):
        stdlib_corpus(max_chars=0)


def test_corpus_is_the_same_in_a_fresh_interpreter_with_another_hash_seed():
    script = ("import hashlib; from seqgrad.data import stdlib_corpus; "
              "print(hashlib.sha256(stdlib_corpus(seed=1).encode()).hexdigest())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert result.stdout.strip() == hashlib.sha256(stdlib_corpus(seed=1).encode()).hexdigest()


def test_unigram_bits_per_char_on_known_distributions_and_english():
    assert unigram_bits_per_char("aaaa") == 0.0
    assert unigram_bits_per_char("abab") == pytest.approx(1.0)
    assert unigram_bits_per_char("abcd" * 5) == pytest.approx(2.0)
    probabilities = np.array([0.5, 0.25, 0.25])
    assert unigram_bits_per_char("aabc") == pytest.approx(-(probabilities * np.log2(probabilities)).sum())
    assert 4.0 < unigram_bits_per_char(stdlib_corpus()) < 5.0
    with pytest.raises(ValueError, match="non-empty"):
        unigram_bits_per_char("")
