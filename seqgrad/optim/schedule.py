"""Learning-rate schedules: call `step()` once per epoch (or per update) after `optimizer.step()`."""

from __future__ import annotations

import math

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
