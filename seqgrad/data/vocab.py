"""Vocabulary: tokens <-> integer ids, with a padding token at id 0 and an unknown token at id 1."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from .errors import DataFileError
from .jsonio import FORMAT_VERSION, read_json_payload, require_field, write_json_atomic

PAD_ID = 0
UNK_ID = 1


class Vocabulary:
    """A fixed list of tokens and their ids; unknown tokens encode to `unk_id`, padding is `pad_id`.

    Ids: `pad_token` is 0 and `unk_token` is 1 (so `pad_sequences`' default padding value 0 is
    padding), then the ordinary tokens in the order given. The special tokens' strings are
    configurable; their ids are not.
    """

    format_name = "seqgrad.Vocabulary"

    def __init__(self, tokens: Iterable[str] = (), *, pad_token: str = "<pad>", unk_token: str = "<unk>"):
        ordinary = list(tokens)
        specials = [pad_token, unk_token]
        for name, special in (("pad_token", pad_token), ("unk_token", unk_token)):
            if not isinstance(special, str) or not special:
                raise TypeError(f"Vocabulary: {name} must be a non-empty str, got {special!r}")
        if pad_token == unk_token:
            raise ValueError(f"Vocabulary: pad_token and unk_token must differ, both are {pad_token!r}")
        everything = specials + ordinary
        for position, token in enumerate(ordinary):
            if not isinstance(token, str):
                raise TypeError(f"Vocabulary: tokens must be str, got {type(token).__name__} "
                                f"({token!r}) at position {position}")
        index = {token: token_id for token_id, token in enumerate(everything)}
        if len(index) != len(everything):
            duplicates = sorted(token for token, count in Counter(everything).items() if count > 1)
            raise ValueError(f"Vocabulary: tokens must be unique (special tokens included), "
                             f"got duplicates {duplicates[:10]}")
        self.pad_token = pad_token
        self.unk_token = unk_token
        self._tokens = everything
        self._index = index
        self._token_array = np.array(everything, dtype=object)

    @classmethod
    def build(cls, tokens: Iterable[str], *, min_freq: int = 1, max_size: int | None = None,
              pad_token: str = "<pad>", unk_token: str = "<unk>") -> Vocabulary:
        """Count `tokens` and keep those seen at least `min_freq` times, most frequent first.

        Ties are ordered by the token string, so the ids do not depend on the order of the text.
        `max_size` bounds `len(vocab)`, the two special tokens included.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"Vocabulary.build: min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"Vocabulary.build: max_size must be None or an int >= 2 (room for the two "
                             f"special tokens), got {max_size!r}")
        counts = Counter(tokens)
        for special in (pad_token, unk_token):
            counts.pop(special, None)
        kept = sorted((token for token, count in counts.items() if count >= min_freq),
                      key=lambda token: (-counts[token], token))
        if max_size is not None:
            kept = kept[:max_size - 2]
        return cls(kept, pad_token=pad_token, unk_token=unk_token)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, the special tokens first."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        preview = ", ".join(repr(token) for token in self._tokens[2:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocabulary(size={len(self)}, pad={self.pad_token!r}, unk={self.unk_token!r}, tokens=[{preview}{more}])"

    def token_to_id(self, token: str) -> int:
        """The id of `token`, or `unk_id` if it is not in the vocabulary."""
        return self._index.get(token, UNK_ID)

    def id_to_token(self, token_id: int) -> str:
        self._check_ids(np.asarray([token_id]), "id_to_token")
        return self._tokens[int(token_id)]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids of `tokens` (a str is read as its characters), shape (len(tokens),), int64."""
        return np.fromiter(map(self._index.get, tokens, repeat(UNK_ID)), dtype=np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray, *, skip_padding: bool = False) -> list[str]:
        """Tokens of a 1-D sequence of ids; `skip_padding` drops `pad_id`."""
        id_array = np.asarray(ids)
        if id_array.ndim != 1:
            raise ValueError(f"Vocabulary.decode: expected a 1-D sequence of ids, got shape {id_array.shape}")
        if id_array.size == 0:
            return []
        if not np.issubdtype(id_array.dtype, np.integer):
            raise TypeError(f"Vocabulary.decode: expected integer ids, got dtype {id_array.dtype}")
        self._check_ids(id_array, "decode")
        if skip_padding:
            id_array = id_array[id_array != PAD_ID]
        return self._token_array[id_array].tolist()

    def _check_ids(self, ids: np.ndarray, where: str) -> None:
        out_of_range = (ids < 0) | (ids >= len(self))
        if out_of_range.any():
            position = int(np.flatnonzero(out_of_range)[0])
            raise IndexError(f"Vocabulary.{where}: ids must be in [0, {len(self)}), "
                             f"got {int(ids[position])} at position {position}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: the special tokens and every token in id order."""
        return {"format": self.format_name, "version": FORMAT_VERSION, "pad_token": self.pad_token,
                "unk_token": self.unk_token, "tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, payload: dict[str, Any], source: str = "<dict>") -> Vocabulary:
        """Rebuild from `to_dict()`'s output; `source` names the file in error messages."""
        if not isinstance(payload, dict):
            raise DataFileError(f"{source}: expected a vocabulary object, got {type(payload).__name__}")
        if payload.get("format") != cls.format_name:
            raise DataFileError(f"{source}: expected vocabulary format {cls.format_name!r}, "
                                f"got {payload.get('format')!r}")
        if payload.get("version") != FORMAT_VERSION:
            raise DataFileError(f"{source}: expected vocabulary version {FORMAT_VERSION}, "
                                f"got {payload.get('version')!r}")
        pad_token = require_field(payload, "pad_token", str, source)
        unk_token = require_field(payload, "unk_token", str, source)
        tokens = require_field(payload, "tokens", list, source)
        if len(tokens) < 2 or tokens[PAD_ID] != pad_token or tokens[UNK_ID] != unk_token:
            raise DataFileError(f"{source}: expected tokens to start with pad {pad_token!r} and unk "
                                f"{unk_token!r}, got {tokens[:2]!r}")
        try:
            return cls(tokens[2:], pad_token=pad_token, unk_token=unk_token)
        except (TypeError, ValueError) as error:
            raise DataFileError(f"{source}: {error}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (atomically: a temporary file renamed over `path`)."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a file written by `save`; a corrupt or foreign file raises DataFileError naming it."""
        return cls.from_dict(read_json_payload(path, cls.format_name), source=str(path))
