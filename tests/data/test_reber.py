import numpy as np
import pytest

from seqgrad.data import (
    REBER_ALPHABET,
    reber_accepts,
    reber_encode,
    reber_next_symbol_mask,
    reber_next_symbols,
    reber_strings,
)

VALID_PLAIN = ["BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPXTTVVE", "BTXXVPSE", "BPVPSE"]
INVALID_PLAIN = ["", "B", "BTXS", "BTSSPXSE", "BPVVEE", "TXSE", "BTXSEB", "BPVVA"]


def test_known_strings_of_the_grammar():
    for string in VALID_PLAIN:
        assert reber_accepts(string, embedded=False), string
        assert reber_accepts(f"BT{string}TE") and reber_accepts(f"BP{string}PE")
        assert not reber_accepts(f"BT{string}PE") and not reber_accepts(f"BP{string}TE")
        assert not reber_accepts(string)  # a plain string is not an embedded one
    for string in INVALID_PLAIN:
        assert not reber_accepts(string, embedded=False), string


@pytest.mark.parametrize("embedded", [True, False])
def test_every_generated_string_is_accepted_and_corruptions_are_rejected(embedded):
    strings = reber_strings(2000, embedded=embedded, seed=0)
    assert all(reber_accepts(string, embedded=embedded) for string in strings)
    assert len(set(strings)) > 100  # the loops make many distinct strings
    rng = np.random.default_rng(1)
    for string in strings[:300]:
        allowed = reber_next_symbols(string, embedded=embedded)
        position = int(rng.integers(1, len(string)))
        forbidden = sorted(set(REBER_ALPHABET) - allowed[position - 1])
        corrupted = string[:position] + forbidden[int(rng.integers(len(forbidden)))] + string[position + 1:]
        assert not reber_accepts(corrupted, embedded=embedded), (string, corrupted)
        assert not reber_accepts(string[:-1], embedded=embedded)
    if embedded:
        swapped = [s[0] + {"T": "P", "P": "T"}[s[1]] + s[2:] for s in strings[:300]]
        assert not any(reber_accepts(string) for string in swapped)


def test_generation_is_seeded_and_both_branches_are_used():
    strings = reber_strings(1000, seed=5)
    assert strings == reber_strings(1000, seed=5) and strings != reber_strings(1000, seed=6)
    top = sum(string[1] == "T" for string in strings)
    assert 400 < top < 600


def test_next_symbols_follow_the_grammar():
    assert reber_next_symbols("BTBTX") == [frozenset("TP"), frozenset("B"), frozenset("TP"), frozenset("SX"),
                                           frozenset("SX")]
    assert reber_next_symbols("BTXSE", embedded=False)[-1] == frozenset()
    with pytest.raises(ValueError, match="position 2.*expected one of 'SX'"):
        reber_next_symbols("BTTS", embedded=False)


def test_every_observed_next_symbol_is_in_the_legal_set():
    for string in reber_strings(300, seed=2):
        allowed = reber_next_symbols(string)
        assert all(string[t + 1] in allowed[t] for t in range(len(string) - 1))


def test_mask_matches_next_symbols_and_is_false_on_padding():
    strings = reber_strings(40, seed=3)
    mask = reber_next_symbol_mask(strings)
    lengths = [len(s) for s in strings]
    assert mask.shape == (max(lengths), 40, 7) and mask.dtype == bool
    for i, string in enumerate(strings):
        expected = [[symbol in allowed for symbol in REBER_ALPHABET] for allowed in reber_next_symbols(string)]
        np.testing.assert_array_equal(mask[:len(string), i], expected)
        assert not mask[len(string):, i].any()
    np.testing.assert_array_equal(reber_next_symbol_mask(strings, batch_first=True), mask.swapaxes(0, 1))
    with pytest.raises(ValueError, match="string 1 .*position 4"):
        reber_next_symbol_mask(["BTBTXSETE", "BTBPXSETE"])


def test_encode_gives_one_hot_inputs_with_zero_padding():
    inputs, lengths = reber_encode(["BTXSE", "BPVVE", "BTSSXXTVVE"])
    assert inputs.shape == (10, 3, 7) and lengths.tolist() == [5, 5, 10]
    assert "".join(REBER_ALPHABET[k] for k in inputs[:, 2].argmax(axis=-1)) == "BTSSXXTVVE"
    assert (inputs[5:, 0] == 0).all() and (inputs[:5, 0].sum(axis=-1) == 1).all()
    with pytest.raises(ValueError, match="only symbols"):
        reber_encode(["BTZ"])
