"""Optimizers and learning-rate schedules with PyTorch's update formulas."""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedule import CosineAnnealingLR, Schedule, StepLR
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Schedule", "StepLR", "CosineAnnealingLR"]
