"""Learning-rate schedules: call `step()` once per epoch (or per update) after `optimizer.step()`."""

from __future__ import annotations

import math

import numpy as np

from ..errors import StateDictError
from .optimizer import Optimizer


class Schedule:
    """Sets every group's lr from its initial lr and the number of schedule steps taken."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0

    def factor(self, step: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_step += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_step)

    def lr_at(self, base: float, step: int) -> float:
        return base * self.factor(step)

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Where the schedule is: saved beside the optimizer's state, so training resumes on it."""
        return {"last_step": np.asarray(self.last_step), "base_lrs": np.asarray(self.base_lrs, dtype=np.float64)}

    def load_state_dict(self, state: dict) -> None:
        base_lrs = np.asarray(state["base_lrs"], dtype=np.float64).reshape(-1)
        if len(base_lrs) != len(self.base_lrs):
            raise StateDictError(f"{type(self).__name__}.load_state_dict: {len(base_lrs)} base learning rates for "
                                 f"{len(self.base_lrs)} parameter groups; nothing was loaded")
        self.base_lrs = base_lrs.tolist()
        self.last_step = int(np.asarray(state["last_step"]))
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_step)


class StepLR(Schedule):
    """lr = base · gamma^(floor(step / step_size))."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be at least 1, got {step_size}")
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def factor(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base - eta_min)(1 + cos(π·step/T_max))/2, held at eta_min after T_max."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 (PyTorch's name)
        if T_max < 1:
            raise ValueError(f"T_max must be at least 1, got {T_max}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, base: float, step: int) -> float:
        progress = min(step, self.T_max) / self.T_max
        return self.eta_min + (base - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0
