"""Weights in PyTorch's naming, in and out. The built-in layers already use PyTorch's
parameter names, shapes and gate orders, so this is conversion of array types only:
torch is never imported here."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..nn.module import Module, as_numpy


def from_torch(state: Mapping[str, object]) -> dict[str, np.ndarray]:
    """A PyTorch `state_dict()` (tensors) or `{name: tensor.numpy()}` as numpy arrays."""
    return {name: as_numpy(value) for name, value in state.items()}


def load_torch_state_dict(module: Module, state: Mapping[str, object], strict: bool = True) -> None:
    """Load a PyTorch state dict into the matching seqgrad layer (all-or-nothing)."""
    module.load_state_dict(from_torch(state), strict=strict)


def to_torch(module: Module) -> dict[str, np.ndarray]:
    """{name: array} for `torch_module.load_state_dict({k: torch.from_numpy(v) ...})`."""
    return module.state_dict()
