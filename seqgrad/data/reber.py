"""The (embedded) Reber grammar: strings from a small automaton, a validator, and the legal next symbols.

The Reber grammar (Reber 1967), as drawn in Fahlman's and in Hochreiter & Schmidhuber's papers;
each arrow is a symbol, and each node's arrows are taken with equal probability:

    0 -B-> 1      1 -T-> 2   1 -P-> 3      2 -S-> 2   2 -X-> 4      3 -T-> 3   3 -V-> 5
    4 -X-> 3   4 -S-> 6      5 -P-> 4   5 -V-> 6      6 -E-> end

e.g. BTXSE, BPVVE, BTSSXXTVVE. The embedded grammar wraps one Reber string R as BTRTE or BPRPE:
the second symbol must be remembered across all of R to predict the second-to-last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from ..dtypes import get_default_dtype
from ._seeding import resolve_rng
from .batching import pad_sequences
from .encoding import one_hot

REBER_ALPHABET = "BTSXPVE"

# Node -> [(symbol, next node)]; node 7 is the end.
_REBER_EDGES: dict[int, list[tuple[str, int]]] = {
    0: [("B", 1)],
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
    6: [("E", 7)],
}
_REBER_END = 7


class _Automaton:
    """A deterministic automaton as arrays, so many strings step through it at once.

    next_state[state, symbol] is the next node (-1: symbol not allowed); legal[state] is the mask
    of allowed symbols; choices[state] lists the outgoing (symbol, next) pairs for sampling.
    """

    def __init__(self, edges: dict[int, list[tuple[str, int]]], start: int, end: int):
        count = end + 1
        self.start, self.end = start, end
        self.edges = edges
        self.next_state = np.full((count, len(REBER_ALPHABET)), -1, dtype=np.int64)
        for state, outgoing in edges.items():
            for symbol, target in outgoing:
                self.next_state[state, REBER_ALPHABET.index(symbol)] = target
        self.legal = self.next_state >= 0
        self.out_degree = self.legal.sum(axis=1)
        # Two columns of (symbol id, next node); a node with one arrow repeats it.
        self.choice_symbol = np.zeros((count, 2), dtype=np.int64)
        self.choice_next = np.full((count, 2), end, dtype=np.int64)
        for state, outgoing in edges.items():
            pairs = outgoing * (2 // len(outgoing))
            self.choice_symbol[state] = [REBER_ALPHABET.index(symbol) for symbol, _ in pairs]
            self.choice_next[state] = [target for _, target in pairs]


@cache
def _automaton(embedded: bool) -> _Automaton:
    if not embedded:
        return _Automaton(_REBER_EDGES, start=0, end=_REBER_END)
    # Nodes: 0 -B-> 1; 1 -T-> top copy of the grammar (nodes 2..8), 1 -P-> bottom copy (nodes 9..15);
    # the copies' ends become 16 (-T-> 18) and 17 (-P-> 18); 18 -E-> 19, the end.
    top, bottom, after_top, after_bottom, before_end, end = 2, 9, 16, 17, 18, 19
    edges: dict[int, list[tuple[str, int]]] = {0: [("B", 1)], 1: [("T", top), ("P", bottom)]}
    for offset, exit_node in ((top, after_top), (bottom, after_bottom)):
        for state, outgoing in _REBER_EDGES.items():
            edges[state + offset] = [(symbol, exit_node if target == _REBER_END else target + offset)
                                     for symbol, target in outgoing]
    edges[after_top] = [("T", before_end)]
    edges[after_bottom] = [("P", before_end)]
    edges[before_end] = [("E", end)]
    return _Automaton(edges, start=0, end=end)


def reber_strings(n: int, *, embedded: bool = True, seed: int | None = None,
                  rng: np.random.Generator | None = None) -> list[str]:
    """`n` random strings of the (embedded) Reber grammar, each arrow taken with probability 1/2.

    All n walks advance together, one symbol per step, until every walk has reached the end.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"reber_strings: n must be an int >= 1, got {n!r}")
    generator = resolve_rng(seed, rng, "reber_strings")
    machine = _automaton(embedded)
    states = np.full(n, machine.start, dtype=np.int64)
    codes = np.frombuffer(REBER_ALPHABET.encode("ascii"), dtype=np.uint8)
    steps: list[np.ndarray] = []
    while (states != machine.end).any():
        walking = states != machine.end
        choice = generator.integers(0, 2, size=n)
        symbol = machine.choice_symbol[states, choice]
        steps.append(np.where(walking, codes[symbol], 0).astype(np.uint8))
        states = np.where(walking, machine.choice_next[states, choice], states)
    # Row i of the (n, steps) byte matrix is string i, ended by NUL padding.
    letters = np.ascontiguousarray(np.stack(steps, axis=1))
    return [row.tobytes().rstrip(b"\0").decode("ascii") for row in letters]


def reber_accepts(string: str, *, embedded: bool = True) -> bool:
    """Whether `string` is a complete string of the (embedded) Reber grammar."""
    machine = _automaton(embedded)
    state = machine.start
    for symbol in string:
        position = REBER_ALPHABET.find(symbol)
        if position < 0 or machine.next_state[state, position] < 0:
            return False
        state = int(machine.next_state[state, position])
    return state == machine.end


def reber_next_symbols(string: str, *, embedded: bool = True) -> list[frozenset[str]]:
    """The symbols allowed after each prefix: entry t is the legal set after reading string[:t+1].

    Works on prefixes too; after the final E the set is empty. A symbol the grammar does not
    allow raises ValueError naming its position.
    """
    machine = _automaton(embedded)
    state = machine.start
    allowed: list[frozenset[str]] = []
    for position, symbol in enumerate(string):
        column = REBER_ALPHABET.find(symbol)
        if column < 0 or machine.next_state[state, column] < 0:
            expected = "".join(sorted(s for s, _ in machine.edges.get(state, [])))
            raise ValueError(f"reber_next_symbols: {string!r} leaves the grammar at position {position}: "
                             f"expected one of {expected!r}, got {symbol!r}")
        state = int(machine.next_state[state, column])
        allowed.append(frozenset(REBER_ALPHABET[i] for i in np.flatnonzero(machine.legal[state])))
    return allowed


def reber_encode(strings: Sequence[str], *, batch_first: bool = False,
                 dtype: np.dtype | type | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-hot inputs over REBER_ALPHABET ("BTSXPVE"), zero rows after each string's end.

    Shapes: inputs (T, N, 7), or (N, T, 7) with `batch_first`, T the longest string; lengths (N,).
    """
    ids, lengths = _symbol_ids(strings, batch_first)
    padded_one_hot = one_hot(np.maximum(ids, 0), len(REBER_ALPHABET), dtype or get_default_dtype())
    padded_one_hot[ids < 0] = 0
    return padded_one_hot, lengths


def reber_next_symbol_mask(strings: Sequence[str], *, embedded: bool = True, batch_first: bool = False) -> np.ndarray:
    """For scoring a model: mask[t, i, k] is True when symbol k may follow strings[i][:t+1].

    Shape (T, N, 7) bool over REBER_ALPHABET, or (N, T, 7) with `batch_first`; all False on padding
    and after the final E. All strings step through the automaton together, one position at a time.
    A string that leaves the grammar raises ValueError naming it and the position.
    """
    ids, _ = _symbol_ids(strings, batch_first=False)
    machine = _automaton(embedded)
    states = np.full(ids.shape[1], machine.start, dtype=np.int64)
    mask = np.zeros((*ids.shape, len(REBER_ALPHABET)), dtype=bool)
    for step, symbols in enumerate(ids):
        present = symbols >= 0
        following = machine.next_state[states, np.maximum(symbols, 0)]
        invalid = present & (following < 0)
        if invalid.any():
            which = int(np.flatnonzero(invalid)[0])
            raise ValueError(f"reber_next_symbol_mask: string {which} ({strings[which]!r}) leaves the grammar "
                             f"at position {step} (symbol {strings[which][step]!r})")
        states = np.where(present, following, states)
        mask[step] = machine.legal[states] & present[:, None]
    return np.ascontiguousarray(mask.swapaxes(0, 1)) if batch_first else mask


def _symbol_ids(strings: Sequence[str], batch_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Ids into REBER_ALPHABET, padded with -1: (T, N) or (N, T), and lengths (N,)."""
    if isinstance(strings, str):
        raise TypeError("Reber strings: expected a sequence of strings, got one str; wrap it in a list")
    lookup = np.full(256, -2, dtype=np.int64)
    lookup[np.frombuffer(REBER_ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(len(REBER_ALPHABET))
    rows = []
    for position, string in enumerate(strings):
        raw = np.frombuffer(string.encode("utf-8"), dtype=np.uint8)
        ids = lookup[raw]
        if raw.size != len(string) or (ids < 0).any():
            raise ValueError(f"Reber strings: expected only symbols {REBER_ALPHABET!r}, got {string!r} "
                             f"at position {position}")
        rows.append(ids)
    return pad_sequences(rows, padding_value=-1, batch_first=batch_first)
