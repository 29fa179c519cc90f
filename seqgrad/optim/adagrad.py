"""Adagrad (Duchi et al. 2011) with PyTorch's formula and options."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class Adagrad(Optimizer):
    """g ← g + λθ;  s ← s + g²;  θ ← θ - lr_t · g / (sqrt(s) + ε),  lr_t = lr / (1 + (t-1)·lr_decay);
    s starts at `initial_accumulator_value`."""

    state_keys = ("step", "sum")
    scalar_state = ("step",)

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _check_hyperparameters(self, group: dict) -> None:
        super()._check_hyperparameters(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            if group[key] < 0:
                raise ValueError(f"Adagrad: {key} must be >= 0, got {group[key]}")

    def _update(self, param, grad, state, group) -> None:
        if "step" not in state:
            state["step"] = 0
            state["sum"] = np.full_like(param.data, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        lr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        self._replace(param, param.data - lr * grad / (np.sqrt(state["sum"]) + group["eps"]))
