"""Exercises of notebook 01 (the engine): write a vjp, and break one so that gradcheck catches it."""

from __future__ import annotations

import numpy as np

from ..autodiff.gradcheck import gradcheck
from ..errors import GradcheckError
from ..ops import Primitive
from ..tensor import Tensor
from .core import Wrong, as_array, call, exercise

_POINTS = np.array([-3.0, -0.7, 0.0, 0.4, 2.5])


def _primitive_with(name: str, forward, vjp) -> Primitive:
    """A one-input primitive whose rule is the learner's `vjp(x, grad) -> grad_x`, checked for shape."""

    def rule(ctx, grad):
        result = as_array(call(vjp, ctx.xs[0], np.asarray(grad)), ctx.xs[0].shape, "vjp(x, grad)")
        return (result,)

    return Primitive(name, forward, rule, "x", f"{name} with the learner's vjp")


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


@exercise("softplus_vjp", "01", """
    softplus(x) = log(1 + e^x) is a smooth ReLU. Write its vector-Jacobian product as a numpy
    function `vjp(x, grad) -> grad_x`: given the input x and the gradient `grad` = dL/dy arriving
    at the output y = softplus(x) (both arrays of one shape), return dL/dx. The check builds a
    primitive with your rule and runs `sg.gradcheck` on it.
    """, hint="the derivative of log(1 + e^x) is e^x / (1 + e^x) = sigmoid(x); the vjp multiplies it "
            "element-wise by the incoming gradient")
def _softplus_vjp(vjp) -> str:
    softplus = _primitive_with("softplus", _softplus, vjp)
    x = Tensor(_POINTS.copy(), requires_grad=True)
    try:
        gradcheck(lambda a: softplus(a), [x])
    except GradcheckError as error:
        at_zero = call(vjp, np.array([0.0]), np.array([1.0]))
        if np.allclose(at_zero, 1.0):
            raise Wrong("gradcheck fails; at x = 0 your rule gives 1, the slope there is 1/2 "
                        "(did you return the incoming gradient unchanged, or e^x?)") from None
        raise Wrong(f"gradcheck fails: {error}") from None
    return "gradcheck agrees with your rule at x = " + ", ".join(f"{value:g}" for value in _POINTS)


@exercise("break_a_vjp", "01", """
    Write a WRONG vjp for tanh, `vjp(x, grad) -> grad_x`, one you think looks plausible (the
    right one is grad * (1 - tanh(x)**2)), and watch `sg.gradcheck` catch it. The check passes
    when gradcheck rejects your rule, and shows you what gradcheck reported.
    """, hint="the right rule is grad * (1 - np.tanh(x)**2); try forgetting the square, the 1 -, or the "
            "incoming gradient")
def _break_a_vjp(vjp) -> str:
    tanh = _primitive_with("tanh", np.tanh, vjp)
    x = Tensor(_POINTS.copy(), requires_grad=True)
    try:
        gradcheck(lambda a: tanh(a), [x])
    except GradcheckError as error:
        first_line = str(error).splitlines()[0]
        return f"your rule is wrong and gradcheck caught it: {first_line}"
    raise Wrong("gradcheck passed: your rule is the correct derivative of tanh, so there was nothing to catch",
                "break it: e.g. grad * (1 - np.tanh(x)) or 1 - np.tanh(x)**2 without the incoming gradient")
