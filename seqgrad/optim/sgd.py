"""Stochastic gradient descent with momentum, Nesterov and weight decay (PyTorch's formulas)."""

from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    """g ← g + λθ;  b ← μb + g (b = g at the first step);  θ ← θ - lr·b
    (Nesterov: θ ← θ - lr·(g + μb)); dampening 0."""

    state_keys = ("momentum_buffer",)

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def _update(self, param, grad, state, group) -> None:
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        momentum = group["momentum"]
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                buffer = state["momentum_buffer"]
                buffer *= momentum
                buffer += grad
            buffer = state["momentum_buffer"]
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        self._replace(param, param.data - group["lr"] * grad)
