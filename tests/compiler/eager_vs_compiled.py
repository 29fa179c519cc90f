"""The comparison every compiled-layer test makes: run a layer eager and compiled on the same input,
masks and loss, and require outputs, final states and every gradient to agree to 1e-12 (float64)."""

import numpy as np

import seqgrad as sg


def outputs_and_gradients(layer, x, hx=None, lengths=None, seed=11) -> dict:
    """Outputs, final states and the input's, initial states' and parameters' gradients of a random
    linear loss on the outputs and the final states; `seed` fixes the recurrent-dropout masks."""
    for param in layer.parameters():
        param.grad = None
    inputs = sg.Tensor(x, requires_grad=True)
    given = None if hx is None else tuple(sg.Tensor(h, requires_grad=True) for h in hx)
    sg.manual_seed(seed)
    output, final = layer(inputs, None if given is None else (given if len(given) > 1 else given[0]), lengths)
    finals = final if isinstance(final, tuple) else (final,)
    rng = np.random.default_rng(7)
    loss = (output * sg.Tensor(rng.standard_normal(output.shape))).sum()
    for state in finals:
        loss = loss + (state * sg.Tensor(rng.standard_normal(state.shape))).sum()
    loss.backward()
    results = {"output": output.data, "input grad": inputs.grad}
    results.update({f"final {k}": s.data for k, s in enumerate(finals)})
    if given is not None:
        results.update({f"initial {k} grad": h.grad for k, h in enumerate(given)})
    results.update({f"{name} grad": p.grad for name, p in layer.named_parameters()})
    return results


def assert_compiled_equals_eager(layer, x, hx=None, lengths=None, seed=11) -> dict:
    """The comparison itself; returns the compiled run's results for further checks."""
    eager = outputs_and_gradients(layer, x, hx, lengths, seed)
    compiled = outputs_and_gradients(sg.compile(layer), x, hx, lengths, seed)
    assert eager.keys() == compiled.keys()
    for key, expected in eager.items():
        got = compiled[key]
        assert got is not None and expected is not None, key
        scale = max(np.abs(expected).max(), 1e-300)
        assert np.abs(got - expected).max() <= 1e-12 * scale, f"{key} differs"
    return compiled
