"""Weights in PyTorch's naming, both ways: `to_torch(module)` and `from_torch(state_dict, model)`.

The built-in layers use PyTorch's parameter names, shapes and gate orders, and a module exported
with `seqgrad.export.to_torch` (torch source and weights) keeps seqgrad's names, so moving weights
is converting array types. torch is imported only when `to_torch` is called: seqgrad does not
depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..nn.module import Module, as_numpy


def require_torch(what: str):
    """The torch module, or an ImportError of one line saying what needs it."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} needs PyTorch, which seqgrad does not install: pip install torch") from None
    return torch


def to_torch(module: Module) -> dict:
    """The module's weights as a torch state dict, {name: tensor} (copies, on the CPU, in the parameters'
    dtype), for `torch_module.load_state_dict(...)`. The torch module's source as well:
    `seqgrad.export.to_torch`, which returns this state dict beside it."""
    torch = require_torch("seqgrad.interop.to_torch")
    return {name: torch.from_numpy(array) for name, array in module.state_dict().items()}


def from_torch(state_dict: Mapping[str, object], model: Module, strict: bool = True) -> Module:
    """Fill the seqgrad `model` from a torch state dict (a torch.nn.LSTM's, or an exported module's after
    training in torch: the names are the same) and return it. All or nothing: a missing or unexpected
    key or a wrong shape raises StateDictError listing every problem, and no parameter changes."""
    if not isinstance(model, Module):
        raise TypeError(f"from_torch: expected a seqgrad.nn.Module to fill, got {type(model).__name__}")
    model.load_state_dict({name: as_numpy(value) for name, value in state_dict.items()}, strict=strict)
    return model
