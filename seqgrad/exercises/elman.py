"""Exercises of notebook 02 (the Elman RNN): the one-step Jacobian, and BPTT's weight gradient by hand."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from .core import Wrong, as_array, call, close, exercise, largest_difference


def _example(seed: int = 3, hidden_size: int = 4, steps: int = 5):
    rng = np.random.default_rng(seed)
    weight_hh = rng.normal(0.0, 0.6, (hidden_size, hidden_size))
    weight_ih = rng.normal(0.0, 0.6, (hidden_size, 3))
    inputs = rng.normal(size=(steps, 3))
    upstream = rng.normal(size=(steps, hidden_size))  # dℓ_t/dh_t from a loss at every step
    return weight_ih, weight_hh, inputs, upstream


@exercise("elman_jacobian", "02", """
    For h_t = tanh(W_ih x_t + W_hh h_{t-1} + b), write `jacobian(weight_hh, hidden) -> J`, the
    (H, H) Jacobian ∂h_t/∂h_{t-1}, with J[i, j] = ∂h_t[i] / ∂h_{t-1}[j]. `hidden` is h_t (H,), the
    step's output (the tanh's slope is 1 - h_t²).
    """, hint="J = diag(1 - h_t**2) @ W_hh: row i of W_hh scaled by unit i's slope. W_hhᵀ belongs to the "
            "backward recursion (a vjp), not to the Jacobian")
def _elman_jacobian(jacobian) -> str:
    _, weight_hh, _, _ = _example()
    hidden = np.tanh(np.array([0.9, -0.3, 0.1, 1.4]))
    got = as_array(call(jacobian, weight_hh, hidden), weight_hh.shape, "J")
    slope = 1.0 - hidden**2
    expected = slope[:, None] * weight_hh
    if close(got, expected):
        return "J = diag(1 - h_t²) W_hh"
    if close(got, slope[:, None] * weight_hh.T) or close(got, weight_hh.T * slope[None, :]):
        raise Wrong("your J is transposed (it has W_hhᵀ): row i of J is how h_t[i] moves with each h_{t-1}[j]")
    if close(got, weight_hh * slope[None, :]):
        raise Wrong("you scaled the columns of W_hh by the slope: the slope belongs to the output unit i (rows)")
    if close(got, weight_hh):
        raise Wrong("J = W_hh misses the tanh's slope, 1 - h_t²")
    raise Wrong(f"J differs from ∂h_t/∂h_(t-1): {largest_difference(got, expected)}")


@exercise("elman_bptt", "02", """
    Backpropagation through time for L = Σ_t ℓ_t(h_t) on an Elman RNN without bias. Write
    `weight_grad(weight_ih, weight_hh, inputs, upstream) -> dL/dW_hh` in numpy: `inputs` is
    (T, D) (one sequence), `upstream[t]` is ∂ℓ_t/∂h_t for the t-th state h_1..h_T, (T, H),
    h_0 = 0. Run the forward loop, then the δ-recursion backwards, summing one term per step.
    """, hint="δ_T = upstream[T]; δ_t = upstream[t] + W_hhᵀ ((1 - h_{t+1}²) ⊙ δ_{t+1}); "
            "dW_hh = Σ_t ((1 - h_t²) ⊙ δ_t) h_{t-1}ᵀ")
def _elman_bptt(weight_grad) -> str:
    weight_ih, weight_hh, inputs, upstream = _example()
    expected = _engine_weight_grad(weight_ih, weight_hh, inputs, upstream)
    got = as_array(call(weight_grad, weight_ih, weight_hh, inputs, upstream), weight_hh.shape, "dL/dW_hh")
    if close(got, expected):
        return "equal to the engine's dL/dW_hh to float64 rounding"
    if close(got, expected.T):
        raise Wrong("your gradient is transposed: term t is (1 - h_t²) ⊙ δ_t (rows: outputs) times h_{t-1}ᵀ")
    hiddens = _forward(weight_ih, weight_hh, inputs)
    local_only = sum(np.outer((1 - hiddens[t + 1] ** 2) * upstream[t], hiddens[t]) for t in range(len(inputs)))
    if close(got, local_only):
        raise Wrong("you summed each step's own loss term only: δ_t must also carry the gradient coming back from "
                    "step t+1 through W_hh")
    raise Wrong(f"dL/dW_hh differs from the engine's: {largest_difference(got, expected)}")


def _forward(weight_ih: np.ndarray, weight_hh: np.ndarray, inputs: np.ndarray) -> list[np.ndarray]:
    hiddens = [np.zeros(weight_hh.shape[0])]
    for x in inputs:
        hiddens.append(np.tanh(weight_ih @ x + weight_hh @ hiddens[-1]))
    return hiddens


def _engine_weight_grad(weight_ih, weight_hh, inputs, upstream) -> np.ndarray:
    """The engine's answer: forward with Tensors, loss Σ_t <upstream_t, h_t>, backward."""
    w_hh = Tensor(weight_hh, requires_grad=True)
    w_ih = Tensor(weight_ih)
    hidden = Tensor(np.zeros(weight_hh.shape[0]))
    loss = None
    for x, grad in zip(inputs, upstream):
        hidden = ops.tanh(ops.matmul(w_ih, Tensor(x)) + ops.matmul(w_hh, hidden))
        term = (hidden * Tensor(grad)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return w_hh.grad
