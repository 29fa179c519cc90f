"""The one measure the export tests compare with: largest error relative to torch's largest value."""

import numpy as np


def relative(ours: np.ndarray, theirs) -> float:
    """max |ours - theirs| / max |theirs| for a seqgrad array and a torch tensor of the same shape."""
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"expected torch's shape {theirs.shape}, got {ours.shape}"
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300))
