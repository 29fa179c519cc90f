"""Text <-> ids: a character tokenizer and a regex word tokenizer, each owning a Vocabulary."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DataFileError, NotFittedError
from .jsonio import FORMAT_VERSION, read_json_payload, require_field, write_json_atomic
from .vocab import UNK_ID, Vocabulary

# A word (letters, digits, underscore, with an inner apostrophe as in "don't") or one punctuation mark.
WORD_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
# Marks written without a space before them, and marks written without a space after them.
_CLOSING = frozenset(".,;:!?%)]}'\"")
_OPENING = frozenset("([{$#")


class _Tokenizer:
    """Shared fit / encode / decode / save / load; subclasses say how text splits into tokens and back."""

    format_name = ""

    def __init__(self, vocab: Vocabulary | None = None):
        if vocab is not None and not isinstance(vocab, Vocabulary):
            raise TypeError(f"{type(self).__name__}: vocab must be a Vocabulary or None, got {type(vocab).__name__}")
        self._vocab = vocab

    @property
    def vocab(self) -> Vocabulary:
        if self._vocab is None:
            raise NotFittedError(f"{type(self).__name__}: no vocabulary yet; call fit(text) first")
        return self._vocab

    @property
    def is_fitted(self) -> bool:
        return self._vocab is not None

    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: Sequence[str]) -> str:
        raise NotImplementedError

    def fit(self, text: str, *, min_freq: int = 1, max_size: int | None = None, pad_token: str = "<pad>",
            unk_token: str = "<unk>") -> _Tokenizer:
        """Build the vocabulary from the tokens of `text` (see `Vocabulary.build`); returns self."""
        self._check_text(text, "fit")
        self._vocab = Vocabulary.build(self.tokenize(text), min_freq=min_freq, max_size=max_size,
                                       pad_token=pad_token, unk_token=unk_token)
        return self

    def encode(self, text: str) -> np.ndarray:
        """Ids of the tokens of `text`, shape (number of tokens,), int64; unseen tokens give `unk_id`."""
        self._check_text(text, "encode")
        return self.vocab.encode(self.tokenize(text))

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of a 1-D sequence of ids; padding ids are dropped, unknown ids print as the unk token."""
        return self.detokenize(self.vocab.decode(ids, skip_padding=True))

    def _check_text(self, text: str, where: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"{type(self).__name__}.{where}: expected text as str, got {type(text).__name__}")

    def _settings(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | os.PathLike) -> None:
        """Write settings and vocabulary as JSON (atomically: a temporary file renamed over `path`)."""
        payload = {"format": self.format_name, "version": FORMAT_VERSION, **self._settings(),
                   "vocab": self.vocab.to_dict()}
        write_json_atomic(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a file written by `save`; a corrupt or foreign file raises DataFileError naming it."""
        payload = read_json_payload(path, cls.format_name)
        source = str(path)
        vocab = Vocabulary.from_dict(require_field(payload, "vocab", dict, source), source=f"{source} (field 'vocab')")
        return cls._from_payload(payload, vocab, source)

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], vocab: Vocabulary, source: str):
        return cls(vocab)


class CharTokenizer(_Tokenizer):
    """One token per Unicode character: the usual input of a character-level language model."""

    format_name = "seqgrad.CharTokenizer"

    def __init__(self, vocab: Vocabulary | None = None):
        super().__init__(vocab)
        self._lookup: np.ndarray | None = None
        if vocab is not None:
            self._check_single_characters(vocab, "<vocab>")

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def fit(self, text: str, **options) -> CharTokenizer:
        super().fit(text, **options)
        self._lookup = None
        return self

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of `text`, shape (len(text),), int64, by a table lookup on code points."""
        self._check_text(text, "encode")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lookup = self._code_point_lookup()
        inside = codes < lookup.size
        ids = np.full(codes.shape, UNK_ID, dtype=np.int64)
        ids[inside] = lookup[codes[inside]]
        return ids

    def _code_point_lookup(self) -> np.ndarray:
        # Table from code point to id, built once per vocabulary: encoding a long corpus is one gather.
        if self._lookup is None:
            characters = self.vocab.tokens[2:]
            codes = np.array([ord(character) for character in characters], dtype=np.int64)
            lookup = np.full(int(codes.max(initial=0)) + 1, UNK_ID, dtype=np.int64)
            lookup[codes] = np.arange(2, 2 + codes.size)
            self._lookup = lookup
        return self._lookup

    @staticmethod
    def _check_single_characters(vocab: Vocabulary, source: str) -> None:
        longer = [token for token in vocab.tokens[2:] if len(token) != 1]
        if longer:
            raise ValueError(f"CharTokenizer ({source}): every ordinary token must be one character, "
                             f"got {longer[:5]!r}")

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], vocab: Vocabulary, source: str) -> CharTokenizer:
        try:
            return cls(vocab)
        except ValueError as error:
            raise DataFileError(f"{source}: {error}") from None

    def __repr__(self) -> str:
        size = len(self.vocab) if self.is_fitted else "unfitted"
        return f"CharTokenizer(vocab_size={size})"


class WordTokenizer(_Tokenizer):
    """Words and punctuation marks split by a regular expression, optionally lowercased.

    `tokenize("Don't stop, Bob!")` gives `["Don't", "stop", ",", "Bob", "!"]`. `decode` joins tokens
    with spaces but writes closing punctuation against the word before it, so
    `tokenize(decode(encode(text))) == tokenize(text)` when every token is in the vocabulary.
    """

    format_name = "seqgrad.WordTokenizer"

    def __init__(self, vocab: Vocabulary | None = None, *, lowercase: bool = False):
        super().__init__(vocab)
        if not isinstance(lowercase, bool):
            raise TypeError(f"WordTokenizer: lowercase must be a bool, got {lowercase!r}")
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return WORD_PATTERN.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        pieces: list[str] = []
        previous = None
        for token in tokens:
            if previous is not None and token not in _CLOSING and previous not in _OPENING:
                pieces.append(" ")
            pieces.append(token)
            previous = token
        return "".join(pieces)

    def _settings(self) -> dict[str, Any]:
        return {"lowercase": self.lowercase}

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], vocab: Vocabulary, source: str) -> WordTokenizer:
        return cls(vocab, lowercase=require_field(payload, "lowercase", bool, source))

    def __repr__(self) -> str:
        size = len(self.vocab) if self.is_fitted else "unfitted"
        return f"WordTokenizer(vocab_size={size}, lowercase={self.lowercase})"
