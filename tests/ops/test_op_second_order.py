"""Second-order gradcheck of every primitive: each rule also runs on Tensors under create_graph.

For each gradcheck case, the gradient of Σ w ⊙ tanh(fn(x)) is computed by backward with
create_graph=True, and that gradient, as a function of x, is gradchecked in turn: its
vjp is a Hessian-vector product, compared with finite differences of the gradient.
"""

import numpy as np
import pytest

import seqgrad
from tests.ops.op_cases import CASES


def gradient_function(case):
    """x -> ∇ Σ w ⊙ tanh(fn(x)) as Tensors that carry their own graph."""
    def gradient(*inputs):
        with seqgrad.enable_grad():  # gradcheck evaluates under no_grad; this needs a graph
            result = case.fn(*inputs)
            outputs = list(result) if isinstance(result, (tuple, list)) else [result]
            rng = np.random.default_rng(1)
            total = None
            for out in outputs:
                term = (out.tanh() * rng.standard_normal(out.shape)).sum()
                total = term if total is None else total + term
            checked = [x for x in inputs if x.requires_grad]
            for x in checked:
                x.grad = None
            total.backward(create_graph=True)
            grads = [x.grad for x in checked]
            for x in checked:
                x.grad = None
        return grads
    return gradient


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_second_order_gradcheck(case):
    inputs = case.inputs()
    assert seqgrad.gradcheck(gradient_function(case), inputs, atol=1e-5, rtol=1e-3)
