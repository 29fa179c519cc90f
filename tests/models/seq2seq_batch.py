"""One small padded translation batch shared by the Seq2Seq tests that compare two runners of the
same model (compiled against eager, torch export against seqgrad)."""

import numpy as np

SOURCE_VOCAB, TARGET_VOCAB, BOS, EOS = 9, 8, 1, 2


def batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sources (6, 4) padded past lengths (6, 3, 5, 1), targets (5, 4) ending in </s> with padding after."""
    rng = np.random.default_rng(seed)
    lengths = np.array([6, 3, 5, 1])
    sources = rng.integers(2, SOURCE_VOCAB, size=(6, 4))
    sources[np.arange(6)[:, None] >= lengths[None, :]] = 0
    targets = rng.integers(3, TARGET_VOCAB, size=(5, 4))
    targets[-1] = EOS
    targets[3:, 1] = [EOS, 0]
    return sources, lengths, targets
