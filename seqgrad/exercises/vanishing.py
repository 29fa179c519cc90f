"""Exercises of notebook 03 (vanishing and exploding gradients): predict a decay, clip by the global norm."""

from __future__ import annotations

import numpy as np

from .core import Wrong, as_array, call, close, exercise, largest_difference

DECAY_SCALE, DECAY_STEPS = 0.9, 30


@exercise("linear_decay", "03", f"""
    A linear RNN h_t = W h_(t-1) with W = {DECAY_SCALE}·Q, Q orthogonal (every singular value of W
    is {DECAY_SCALE}). Predict ‖∂h_{DECAY_STEPS}/∂h_0‖₂, the spectral norm of the Jacobian product over
    {DECAY_STEPS} steps, as a number (to 3 significant digits).
    """, hint="each step multiplies by W, whose singular values are all the same; an orthogonal Q keeps lengths, "
            "so only the scale compounds, once per step")
def _linear_decay(answer) -> str:
    expected = DECAY_SCALE**DECAY_STEPS
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Wrong(f"expected a number, got {type(answer).__name__}") from None
    if abs(value - expected) <= 5e-3 * expected:
        return (f"{DECAY_SCALE}^{DECAY_STEPS} = {expected:.4f}: the Jacobian product is "
                f"{DECAY_SCALE}^{DECAY_STEPS}·Q^{DECAY_STEPS}, and Q^{DECAY_STEPS} keeps lengths")
    if abs(value - DECAY_SCALE * DECAY_STEPS) < 1e-6 or abs(value - DECAY_SCALE) < 1e-6:
        raise Wrong(f"{value:g} treats the steps as adding up; the Jacobians multiply")
    if abs(value - 1.0) < 1e-6:
        raise Wrong(f"Q^{DECAY_STEPS} has norm 1, but each step also scales by {DECAY_SCALE}")
    raise Wrong(f"{value:g} is not ‖∂h_{DECAY_STEPS}/∂h_0‖ (off by a factor {value / expected:.3g})")


@exercise("clip_grad_norm", "03", """
    Write gradient clipping by the global norm, `clip(grads, max_norm) -> (clipped, total)`:
    `grads` is a list of arrays (one per parameter); total = sqrt(Σ_p ‖grad_p‖²) over ALL of them;
    every gradient is multiplied by min(1, max_norm / (total + 1e-6)); return the list of clipped
    arrays and `total` measured before clipping (what PyTorch's clip_grad_norm_ returns).
    """, hint="one norm over every parameter together (not one per tensor), one common factor, and never "
            "scale up a gradient that is already small")
def _clip_grad_norm(clip) -> str:
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=(4, 3)) * 3.0, rng.normal(size=(3,)), rng.normal(size=(2, 2)) * 0.1]
    total = float(np.sqrt(sum((grad**2).sum() for grad in grads)))
    for max_norm in (1.0, 100.0):
        scale = min(1.0, max_norm / (total + 1e-6))
        result = call(clip, [grad.copy() for grad in grads], max_norm)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise Wrong(f"return a pair (clipped list, total), got {type(result).__name__}")
        clipped, got_total = result
        if len(clipped) != len(grads):
            raise Wrong(f"expected {len(grads)} clipped gradients, got {len(clipped)}")
        arrays = [as_array(got, grad.shape, f"clipped[{i}]") for i, (got, grad) in enumerate(zip(clipped, grads))]
        if not np.isclose(float(got_total), total, rtol=1e-9):
            after = float(np.sqrt(sum((array**2).sum() for array in arrays)))
            if np.isclose(float(got_total), after, rtol=1e-9):
                raise Wrong("you returned the norm after clipping; return it as measured before (it tells you "
                            "how large the gradient really was)")
            raise Wrong(f"total should be {total:.6g} (the norm of all gradients together), got {float(got_total):.6g}")
        for i, (array, grad) in enumerate(zip(arrays, grads)):
            if not close(array, grad * scale, rtol=1e-5):  # the 1e-6 in the denominator is not the point
                if max_norm > total:
                    raise Wrong(f"with max_norm {max_norm:g} above the total {total:.3g} nothing should change; "
                                f"clipped[{i}] did: {largest_difference(array, grad)}")
                per_tensor = grad * min(1.0, max_norm / (np.sqrt((grad**2).sum()) + 1e-6))
                if close(array, per_tensor, rtol=1e-4):
                    raise Wrong("you clipped each tensor by its own norm: clipping by norm uses one total over all "
                                "parameters, so the update keeps its direction")
                raise Wrong(f"clipped[{i}] should be grad × {scale:.6g}: {largest_difference(array, grad * scale)}")
    return f"one factor min(1, max_norm / (total + 1e-6)) for all gradients; total {total:.4g} before clipping"
