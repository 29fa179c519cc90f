"""Checkpoints and weight exchange with PyTorch."""

from .checkpoint import load, save
from .torch_weights import from_torch, to_torch

__all__ = ["save", "load", "from_torch", "to_torch"]
