"""RMSprop (Tieleman & Hinton 2012) with PyTorch's formula and options."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """g ← g + λθ;  v ← α v + (1-α) g²;  d = sqrt(v) + ε (centered: sqrt(v - m²) + ε with
    m ← α m + (1-α) g);  θ ← θ - lr · g / d, or with momentum μ: b ← μ b + g / d, θ ← θ - lr · b."""

    state_keys = ("step", "square_avg")
    optional_state = ("momentum_buffer", "grad_avg")
    scalar_state = ("step",)

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_hyperparameters(self, group: dict) -> None:
        super()._check_hyperparameters(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            if group[key] < 0:
                raise ValueError(f"RMSprop: {key} must be >= 0, got {group[key]}")

    def _update(self, param, grad, state, group) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        if "step" not in state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param.data)
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1.0 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(param.data))
            grad_avg *= alpha
            grad_avg += (1.0 - alpha) * grad
            denominator = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            denominator = np.sqrt(square_avg) + group["eps"]
        if momentum > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(param.data))
            buffer *= momentum
            buffer += grad / denominator
            self._replace(param, param.data - group["lr"] * buffer)
        else:
            self._replace(param, param.data - group["lr"] * grad / denominator)
