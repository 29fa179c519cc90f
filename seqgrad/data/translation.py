"""Translation tasks: pairs of strings split into train / validation / test, with the character
vocabularies that encode them, and two small sanity tasks (reversal, sorting).

A `TranslationTask` holds text; a model sees ids. Sources are encoded by a `CharTokenizer`
(one token per character); targets by a `Vocabulary` of characters plus a begin token `<s>`
(the decoder's first input) and an end token `</s>` (the last target, where decoding stops).
Characters a vocabulary has not seen are refused with an error naming them, never silently
read as `<unk>`: a translation of text the model cannot read would be meaningless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ._seeding import resolve_rng
from .batching import pad_sequences
from .tokenizers import CharTokenizer
from .vocab import PAD_ID, Vocabulary

BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
SPLITS = ("train", "validation", "test")


class UnencodableTextError(ValueError):
    """Text holding characters a task's vocabulary cannot encode."""


def target_vocabulary(characters: Sequence[str]) -> Vocabulary:
    """Characters plus `<s>` and `</s>` (ids 2 and 3, after padding and unknown)."""
    return Vocabulary([BOS_TOKEN, EOS_TOKEN, *sorted(set(characters))])


def source_tokenizer(texts: Sequence[str]) -> CharTokenizer:
    """A character tokenizer whose vocabulary is every character of `texts` (ids by frequency)."""
    return CharTokenizer().fit("".join(texts))


@dataclass(eq=False)
class TranslationTask:
    """Source/target string pairs in three splits and the vocabularies that encode them.

    `train`, `validation`, `test`: lists of (source, target) pairs. Encoded batches are
    time-major like the recurrent layers: sources (T_src, B) int64 padded with 0 and their
    lengths (B,); targets (T_tgt, B) int64 ending in `</s>`, padded with 0 (the pad id, which
    the loss ignores).
    """

    name: str
    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    test: list[tuple[str, str]]
    source: CharTokenizer
    target: Vocabulary
    description: str = ""

    @classmethod
    def from_pairs(cls, name: str, splits: dict[str, list[tuple[str, str]]], description: str = "",
                   source_characters: str = "", target_characters: str = "") -> TranslationTask:
        """Build the vocabularies from the training pairs (plus characters that any input may use)."""
        missing = [split for split in SPLITS if not splits.get(split)]
        if missing:
            raise ValueError(f"{name}: every split needs at least one pair, {', '.join(missing)} has none")
        train = splits["train"]
        tokenizer = source_tokenizer([source for source, _ in train] + [source_characters])
        target = target_vocabulary("".join(target for _, target in train) + target_characters)
        task = cls(name, list(train), list(splits["validation"]), list(splits["test"]), tokenizer, target,
                   description)
        for split in ("validation", "test"):  # every pair must be encodable, or the split is not a fair test
            for source, target_text in getattr(task, split):
                task.encode_sources([source])
                task.encode_targets([target_text])
        return task

    @property
    def bos_id(self) -> int:
        return self.target.token_to_id(BOS_TOKEN)

    @property
    def eos_id(self) -> int:
        return self.target.token_to_id(EOS_TOKEN)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    def split(self, name: str) -> list[tuple[str, str]]:
        if name not in SPLITS:
            raise ValueError(f"{self.name}: split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)

    # --- encoding ---------------------------------------------------------------------------
    def encode_sources(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids (T_src, B) int64 padded with 0, lengths (B,)); refuses characters the vocabulary lacks."""
        texts = _as_texts(texts, "source")
        sequences = []
        for position, text in enumerate(texts):
            if not text:
                raise ValueError(f"{self.name}: source {position} is empty; there is nothing to translate")
            ids = self.source.encode(text)
            self._refuse_unknown(text, ids, self.source.vocab, "source", position)
            sequences.append(ids)
        return pad_sequences(sequences, padding_value=PAD_ID, dtype=np.int64)

    def encode_targets(self, texts: Sequence[str]) -> np.ndarray:
        """ids (T_tgt, B) int64: each target's characters then `</s>`, padded with 0."""
        texts = _as_texts(texts, "target")
        sequences = []
        for position, text in enumerate(texts):
            ids = self.target.encode(list(text))
            self._refuse_unknown(text, ids, self.target, "target", position)
            sequences.append(np.append(ids, self.eos_id))
        padded, _ = pad_sequences(sequences, padding_value=PAD_ID, dtype=np.int64)
        return padded

    def decode_target(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of target ids up to the first `</s>` (padding and `<s>` dropped)."""
        ids = np.asarray(ids, dtype=np.int64)
        ends = np.flatnonzero(ids == self.eos_id)
        if ends.size:
            ids = ids[:ends[0]]
        ids = ids[(ids != PAD_ID) & (ids != self.bos_id)]
        return "".join(self.target.decode(ids))

    def _refuse_unknown(self, text: str, ids: np.ndarray, vocab: Vocabulary, side: str, position: int) -> None:
        unknown = ids == vocab.unk_id
        if unknown.any():
            characters = sorted({text[i] for i in np.flatnonzero(unknown)})
            raise UnencodableTextError(
                f"{self.name}: the {side} vocabulary cannot encode {', '.join(map(repr, characters))} in {side} "
                f"{position} ({text!r}); it knows {''.join(sorted(t for t in vocab.tokens[2:] if len(t) == 1))!r}")

    # --- batches ---------------------------------------------------------------------------
    def batches(self, split: str, batch_size: int, *, shuffle: bool = True, bucket: int = 1,
                seed: int | None = None,
                rng: np.random.Generator | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """One epoch of (sources (T_src, B), lengths (B,), targets (T_tgt, B)) from `split`.

        `bucket` > 1 sorts each run of bucket·batch_size shuffled pairs by source length before
        cutting it into batches (then shuffles those batches): less padding, so fewer steps to unroll."""
        pairs = self.split(split)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(bucket, int) or bucket < 1:
            raise ValueError(f"{self.name}: bucket must be an int >= 1, got {bucket!r}")
        generator = resolve_rng(seed, rng, f"{self.name}.batches") if shuffle else None
        order = generator.permutation(len(pairs)) if shuffle else np.arange(len(pairs))
        groups = []
        run = batch_size * bucket
        for start in range(0, len(pairs), run):
            chunk = order[start:start + run]
            if bucket > 1:
                chunk = chunk[np.argsort([len(pairs[i][0]) for i in chunk], kind="stable")]
            groups.extend(chunk[offset:offset + batch_size] for offset in range(0, len(chunk), batch_size))
        if shuffle and bucket > 1:
            groups = [groups[i] for i in generator.permutation(len(groups))]
        for group in groups:
            chosen = [pairs[i] for i in group]
            sources, lengths = self.encode_sources([source for source, _ in chosen])
            yield sources, lengths, self.encode_targets([target for _, target in chosen])

    def __repr__(self) -> str:
        return (f"TranslationTask({self.name!r}, train={len(self.train)}, validation={len(self.validation)}, "
                f"test={len(self.test)}, source vocabulary={len(self.source.vocab)}, "
                f"target vocabulary={len(self.target)})")


def _as_texts(texts, side: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"expected a list of {side} strings, got one str (wrap it in a list)")
    texts = list(texts)
    if not texts:
        raise ValueError(f"expected at least one {side} string, got none")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{side} {position} must be a str, got {type(text).__name__}")
    return texts


def split_distinct(items: Sequence, sizes: tuple[int, int, int], rng: np.random.Generator,
                   where: str) -> list[list]:
    """Three disjoint random samples of `items` (distinct values) of the given sizes."""
    total = sum(sizes)
    if total > len(items):
        raise ValueError(f"{where}: {total} examples asked for but only {len(items)} distinct ones exist")
    chosen = rng.choice(len(items), size=total, replace=False)
    bounds = np.cumsum((0,) + tuple(sizes))
    return [[items[i] for i in chosen[bounds[k]:bounds[k + 1]]] for k in range(3)]


def check_split_sizes(sizes, where: str) -> tuple[int, int, int]:
    """(train, validation, test) sizes as a tuple of three positive ints; ValueError naming `where` otherwise."""
    if len(sizes) != 3 or any(not isinstance(size, int) or size < 1 for size in sizes):
        raise ValueError(f"{where}: sizes must be three positive ints (train, validation, test), got {sizes!r}")
    return tuple(sizes)


def _distinct_strings(count: int, alphabet: str, min_length: int, max_length: int,
                      rng: np.random.Generator, where: str) -> list[str]:
    """`count` distinct random strings over `alphabet` with lengths in [min_length, max_length]."""
    if not 1 <= min_length <= max_length:
        raise ValueError(f"{where}: need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    possible = sum(len(alphabet) ** length for length in range(min_length, max_length + 1))
    if count > possible // 2:
        raise ValueError(f"{where}: {count} distinct strings asked for, too many for {possible} possible ones")
    letters = np.array(list(alphabet))
    seen: set[str] = set()
    result: list[str] = []
    while len(result) < count:
        length = int(rng.integers(min_length, max_length + 1))
        text = "".join(letters[rng.integers(0, len(letters), size=length)])
        if text not in seen:
            seen.add(text)
            result.append(text)
    return result


def reversal_task(sizes: tuple[int, int, int] = (5000, 500, 500), *, alphabet: str = "abcdefghij",
                  min_length: int = 3, max_length: int = 12, seed: int | None = None,
                  rng: np.random.Generator | None = None) -> TranslationTask:
    """Write a random string backwards ("abc" -> "cba"): every output step needs one far input step."""
    return _string_task("reversal", lambda text: text[::-1], f"reverse strings of {min_length}-{max_length} letters",
                        sizes, alphabet, min_length, max_length, seed, rng)


def sorting_task(sizes: tuple[int, int, int] = (5000, 500, 500), *, alphabet: str = "0123456789",
                 min_length: int = 3, max_length: int = 12, seed: int | None = None,
                 rng: np.random.Generator | None = None) -> TranslationTask:
    """Sort the characters of a random string ("3141" -> "1134"): the output order is not the input's."""
    return _string_task("sorting", lambda text: "".join(sorted(text)),
                        f"sort strings of {min_length}-{max_length} characters",
                        sizes, alphabet, min_length, max_length, seed, rng)


def _string_task(name: str, target: Callable[[str], str], description: str, sizes: tuple[int, int, int],
                 alphabet: str, min_length: int, max_length: int, seed: int | None,
                 rng: np.random.Generator | None) -> TranslationTask:
    """Distinct random strings over `alphabet`, split into train/validation/test, each paired with target(text)."""
    where = f"{name}_task"
    sizes = check_split_sizes(sizes, where)
    generator = resolve_rng(seed, rng, where)
    strings = _distinct_strings(sum(sizes), alphabet, min_length, max_length, generator, where)
    parts = split_distinct(strings, sizes, generator, where)
    splits = {split: [(text, target(text)) for text in part] for split, part in zip(SPLITS, parts)}
    return TranslationTask.from_pairs(name, splits, description, alphabet, alphabet)
