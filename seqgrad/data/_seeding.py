"""One rule for where generated data gets its randomness: a seed, a Generator, or seqgrad's generator."""

import numpy as np

from ..random import generator


def resolve_rng(seed: int | None, rng: np.random.Generator | None, where: str) -> np.random.Generator:
    """A fresh Generator from `seed`, the given `rng`, or seqgrad's generator (see `seqgrad.manual_seed`)."""
    if seed is not None and rng is not None:
        raise ValueError(f"{where}: pass seed or rng, not both (got seed={seed!r} and an rng)")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{where}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None:
        return np.random.default_rng(seed)
    return generator()
