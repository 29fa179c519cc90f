"""One-hot encoding of integer ids, the input form of the classic symbol tasks."""

from __future__ import annotations

import numpy as np

from ..dtypes import get_default_dtype


def one_hot(ids: np.ndarray, num_classes: int, dtype: np.dtype | type | None = None) -> np.ndarray:
    """Rows of the identity picked by `ids`: shape ids.shape + (num_classes,), seqgrad's default float dtype."""
    id_array = np.asarray(ids)
    if not np.issubdtype(id_array.dtype, np.integer):
        raise TypeError(f"one_hot: expected integer ids, got dtype {id_array.dtype}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be an int >= 1, got {num_classes!r}")
    if id_array.size and (id_array.min() < 0 or id_array.max() >= num_classes):
        raise ValueError(f"one_hot: ids must be in [0, {num_classes}), got values from {id_array.min()} "
                         f"to {id_array.max()}")
    return np.eye(num_classes, dtype=dtype or get_default_dtype())[id_array]
