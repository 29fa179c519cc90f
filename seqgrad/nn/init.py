"""Weight initialisers. Each fills a Parameter in place from seqgrad's seeded generator."""

from __future__ import annotations

import math

import numpy as np

from ..random import generator
from ..tensor import Tensor


def _fill(param: Tensor, values: np.ndarray) -> Tensor:
    param.data = values.astype(param.dtype).reshape(param.shape)
    return param


def uniform_(param: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    return _fill(param, generator().uniform(low, high, param.shape))


def normal_(param: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(param, generator().normal(mean, std, param.shape))


def zeros_(param: Tensor) -> Tensor:
    return _fill(param, np.zeros(param.shape))


def constant_(param: Tensor, value: float) -> Tensor:
    return _fill(param, np.full(param.shape, value))


def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs at least 2 axes, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(param: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(param.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound)


def xavier_normal_(param: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(param.shape)
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(param: Tensor, gain: float = 1.0, blocks: int = 1) -> Tensor:
    """A (semi-)orthogonal matrix from the QR of a Gaussian: singular values all `gain`,
    so h ↦ W h neither grows nor shrinks the state (Saxe et al. 2014). `blocks` > 1 splits
    the rows into that many blocks, each orthogonal on its own: use blocks=4 for an LSTM's
    stacked weight_hh (4H, H), blocks=3 for a GRU's."""
    rows, cols = param.shape[0], int(np.prod(param.shape[1:]))
    if blocks < 1 or rows % blocks:
        raise ValueError(f"orthogonal_: {rows} rows do not split into {blocks} equal blocks")
    block_rows = rows // blocks
    pieces = []
    for _ in range(blocks):
        gaussian = generator().standard_normal((max(block_rows, cols), min(block_rows, cols)))
        q, r = np.linalg.qr(gaussian)
        q *= np.sign(np.diag(r))
        pieces.append(q if block_rows >= cols else q.T)
    return _fill(param, gain * np.concatenate(pieces, axis=0))


def recurrent_uniform_(param: Tensor, hidden_size: int) -> Tensor:
    """PyTorch's default for every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    return uniform_(param, -bound, bound)


def forget_gate_bias_(cell, value: float = 1.0) -> None:
    """Set the LSTM forget-gate slice of `bias_ih` to `value` and of `bias_hh` to 0, so the
    cell starts by remembering (Jozefowicz et al. 2015). Gate order i, f, g, o."""
    if getattr(cell, "gates", None) != 4 or not getattr(cell, "bias", False):
        raise TypeError(f"forget_gate_bias_ needs an LSTM cell with biases (e.g. layer.cell(0)), "
                        f"got {type(cell).__name__}")
    hidden = cell.hidden_size
    forget = slice(hidden, 2 * hidden)
    for name, fill in (("bias_ih", value), ("bias_hh", 0.0)):
        getattr(cell, name).data[forget] = fill
