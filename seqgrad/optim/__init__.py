"""Optimizers and learning-rate schedules with PyTorch's update formulas."""

from .adam import Adam, AdamW
from .optimizer import Optimizer
from .schedule import CosineAnnealingLR, Schedule, StepLR
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Schedule", "StepLR", "CosineAnnealingLR"]
