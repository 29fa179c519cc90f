"""One seeded random generator behind initialisation, dropout and generated data."""

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reseed: the same seed gives the same weights, dropout masks and samples."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator
