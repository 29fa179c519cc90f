"""Check a function's engine gradients against float64 finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import GradcheckError
from ..tensor import Tensor
from .tape import no_grad


def gradcheck(
    fn: Callable[..., Tensor | Sequence[Tensor]],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    max_elements: int = 4000,
    directions: int = 3,
    seed: int = 0,
) -> bool:
    """Compare `fn`'s gradients with central differences; raise GradcheckError on a mismatch.

    The outputs are reduced to a scalar with fixed random weights w, so the check
    covers the vjp for a generic direction. Each element of each input that requires
    grad is perturbed (when the inputs hold at most `max_elements` values); then, for
    inputs of any size, `directions` random directions u compare <w, J u> with <Jᵀw, u>.
    Inputs must be float64 Tensors.
    """
    inputs = list(inputs)
    for position, value in enumerate(inputs):
        if not isinstance(value, Tensor):
            raise TypeError(f"gradcheck: input {position} must be a Tensor, got {type(value).__name__}")
        if value.requires_grad and value.dtype != np.float64:
            raise TypeError(f"gradcheck: input {position} is {value.dtype}; finite differences need float64")
    checked = [i for i, value in enumerate(inputs) if value.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")

    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(out.shape) for out in _outputs(fn, inputs)]

    def objective() -> float:
        with no_grad():
            return float(sum(np.sum(w * out.data) for w, out in zip(weights, _outputs(fn, inputs))))

    # Whatever happens (a mismatch, an error inside fn), the inputs get their values and
    # gradients back: gradcheck must not leave a perturbed or re-graded model behind.
    saved = [(inputs[i], inputs[i].data.copy(), inputs[i].grad) for i in checked]
    try:
        for i in checked:
            inputs[i].grad = None
        total = None
        for w, out in zip(weights, _outputs(fn, inputs)):
            term = (out * w).sum()
            total = term if total is None else total + term
        total.backward()
        analytic = {i: np.zeros(inputs[i].shape) if inputs[i].grad is None else np.array(inputs[i].grad)
                    for i in checked}

        if sum(inputs[i].data.size for i in checked) <= max_elements:
            for i in checked:
                array = inputs[i].data
                for index in np.ndindex(array.shape):
                    original = array[index]
                    array[index] = original + eps
                    plus = objective()
                    array[index] = original - eps
                    minus = objective()
                    array[index] = original
                    numeric = (plus - minus) / (2 * eps)
                    if not np.isclose(analytic[i][index], numeric, rtol=rtol, atol=atol):
                        raise GradcheckError(
                            f"gradcheck: input {i} (shape {array.shape}), element {index}: "
                            f"analytic {analytic[i][index]:.8g} vs numeric {numeric:.8g}")

        for direction in range(directions):
            steps = {i: rng.standard_normal(inputs[i].shape) for i in checked}
            originals = {i: inputs[i].data.copy() for i in checked}
            for sign in (1, -1):
                for i in checked:
                    inputs[i].data[...] = originals[i] + sign * eps * steps[i]
                if sign == 1:
                    plus = objective()
                else:
                    minus = objective()
            for i in checked:
                inputs[i].data[...] = originals[i]
            numeric = (plus - minus) / (2 * eps)
            predicted = float(sum(np.sum(analytic[i] * steps[i]) for i in checked))
            if not np.isclose(predicted, numeric, rtol=rtol, atol=atol * max(1.0, np.sqrt(len(checked)))):
                raise GradcheckError(
                    f"gradcheck: random direction {direction}: <vjp, u> = {predicted:.8g} "
                    f"but the finite difference of <w, f> along u is {numeric:.8g}")
    finally:
        for value, original, grad in saved:
            value.data[...] = original
            value.grad = grad
    return True


def _outputs(fn, inputs) -> list[Tensor]:
    result = fn(*inputs)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    flat = []
    for out in outputs:  # LSTM-style (output, (h, c)) nests one level
        flat.extend(out if isinstance(out, (tuple, list)) else [out])
    return [out for out in flat if isinstance(out, Tensor) and out.dtype.kind == "f"]
