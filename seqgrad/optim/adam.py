"""Adam and AdamW (PyTorch's formulas, so the same seeds give the same trajectory)."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    """m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;  θ ← θ - lr · m̂ / (sqrt(v̂) + ε),
    m̂ = m / (1-β1^t), v̂ = v / (1-β2^t). Weight decay λ adds λθ to g."""

    decoupled = False
    state_keys = ("step", "exp_avg", "exp_avg_sq")
    scalar_state = ("step",)

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check_hyperparameters(self, group: dict) -> None:
        super()._check_hyperparameters(group)
        if not all(0.0 <= beta < 1.0 for beta in group["betas"]):
            raise ValueError(f"betas must be in [0, 1), got {group['betas']}")

    def _update(self, param, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        lr, decay = group["lr"], group["weight_decay"]
        if decay:
            if self.decoupled:
                self._replace(param, param.data * (1.0 - lr * decay))
            else:
                grad = grad + decay * param.data
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
        # The formulas above, the same operations in the same order and dtypes (so the same values),
        # in place on a few fresh arrays instead of ten temporaries; the parameter still gets a new
        # array, so graphs that saved the old one stay valid.
        scratch = np.multiply(grad, 1.0 - beta1)
        exp_avg *= beta1
        exp_avg += scratch
        np.multiply(grad, 1.0 - beta2, out=scratch)
        scratch *= grad
        exp_avg_sq *= beta2
        exp_avg_sq += scratch
        correction1 = 1.0 - beta1 ** step
        correction2 = 1.0 - beta2 ** step
        denominator = np.divide(np.sqrt(exp_avg_sq), np.sqrt(correction2))
        denominator += group["eps"]
        updated = np.divide(np.multiply(exp_avg, lr / correction1), denominator, out=denominator)
        np.subtract(param.data, updated, out=updated)
        self._replace(param, updated)


class AdamW(Adam):
    """Adam with decoupled weight decay: θ ← θ(1 - lr·λ) before the Adam step (default λ = 0.01)."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
