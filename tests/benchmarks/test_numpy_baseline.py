"""The hand-written numpy baseline is only a yardstick if it computes the right gradients.

Checked against central finite differences (float64, tiny sizes) and, when torch is
installed, against torch.nn.LSTM / torch.nn.GRU and a torch training step.
"""

import numpy as np
import pytest

from benchmarks import numpy_baseline
from benchmarks.numpy_baseline import (
    WEIGHT_NAMES,
    TrainingStep,
    gru_backward,
    gru_forward,
    init_recurrent_weights,
    lstm_backward,
    lstm_forward,
)

STEPS, BATCH, INPUT_SIZE, HIDDEN_SIZE = 3, 2, 3, 4
EPSILON = 1e-6


def central_difference(loss_of, array: np.ndarray) -> np.ndarray:
    """dL/d array by (L(a + eps) - L(a - eps)) / (2 eps), perturbing one entry of `array` in place at a time."""
    gradient = np.empty_like(array)
    flat = array.reshape(-1)
    for index in range(flat.size):
        original = flat[index]
        flat[index] = original + EPSILON
        above = loss_of()
        flat[index] = original - EPSILON
        below = loss_of()
        flat[index] = original
        gradient.reshape(-1)[index] = (above - below) / (2 * EPSILON)
    return gradient


def random_problem(cell: str, seed: int, steps=STEPS, batch=BATCH, input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE):
    """Weights, inputs, initial states, and random cotangents for the output and final states (float64)."""
    rng = np.random.default_rng(seed)
    weights = init_recurrent_weights(cell, input_size, hidden_size, rng, np.float64)
    # Scale up so the gates leave their linear range and every term of the gradient matters.
    weights = {name: 2.0 * value for name, value in weights.items()}
    arrays = {
        "x": rng.normal(size=(steps, batch, input_size)),
        "h0": rng.normal(size=(batch, hidden_size)),
        "c0": rng.normal(size=(batch, hidden_size)),
    }
    cotangents = {
        "output": rng.normal(size=(steps, batch, hidden_size)),
        "h_n": rng.normal(size=(batch, hidden_size)),
        "c_n": rng.normal(size=(batch, hidden_size)),
    }
    return weights, arrays, cotangents


def lstm_scalar_loss(weights, arrays, cotangents) -> float:
    """L = <output, G> + <h_T, G_h> + <c_T, G_c>: a random linear functional of everything the LSTM returns."""
    output, (h_n, c_n), _ = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights)
    return float(
        np.sum(output * cotangents["output"]) + np.sum(h_n * cotangents["h_n"]) + np.sum(c_n * cotangents["c_n"])
    )


def gru_scalar_loss(weights, arrays, cotangents) -> float:
    """L = <output, G> + <h_T, G_h> for the GRU."""
    output, h_n, _ = gru_forward(arrays["x"], arrays["h0"], weights)
    return float(np.sum(output * cotangents["output"]) + np.sum(h_n * cotangents["h_n"]))


def test_lstm_gradients_match_finite_differences():
    weights, arrays, cotangents = random_problem("lstm", seed=0)
    _, _, cache = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights)
    grads = lstm_backward(cotangents["output"], cache, cotangents["h_n"], cotangents["c_n"])
    loss_of = lambda: lstm_scalar_loss(weights, arrays, cotangents)
    for name in WEIGHT_NAMES:
        np.testing.assert_allclose(
            grads[name], central_difference(loss_of, weights[name]), rtol=1e-6, atol=1e-8, err_msg=f"lstm dL/d{name}"
        )
    for name in ("x", "h0", "c0"):
        np.testing.assert_allclose(
            grads[name], central_difference(loss_of, arrays[name]), rtol=1e-6, atol=1e-8, err_msg=f"lstm dL/d{name}"
        )


def test_gru_gradients_match_finite_differences():
    weights, arrays, cotangents = random_problem("gru", seed=1)
    _, _, cache = gru_forward(arrays["x"], arrays["h0"], weights)
    grads = gru_backward(cotangents["output"], cache, cotangents["h_n"])
    loss_of = lambda: gru_scalar_loss(weights, arrays, cotangents)
    for name in WEIGHT_NAMES:
        np.testing.assert_allclose(
            grads[name], central_difference(loss_of, weights[name]), rtol=1e-6, atol=1e-8, err_msg=f"gru dL/d{name}"
        )
    for name in ("x", "h0"):
        np.testing.assert_allclose(
            grads[name], central_difference(loss_of, arrays[name]), rtol=1e-6, atol=1e-8, err_msg=f"gru dL/d{name}"
        )


def test_lstm_matches_the_equations_step_by_step():
    """A plain per-step evaluation of docs/EQUATIONS.md (no fusion, no buffers) gives the same output."""
    weights, arrays, _ = random_problem("lstm", seed=2)
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))
    H = HIDDEN_SIZE
    hidden, cell = arrays["h0"], arrays["c0"]
    expected = []
    for x_t in arrays["x"]:
        pre = x_t @ weights["weight_ih"].T + weights["bias_ih"] + hidden @ weights["weight_hh"].T + weights["bias_hh"]
        i, f, o = sigmoid(pre[:, :H]), sigmoid(pre[:, H : 2 * H]), sigmoid(pre[:, 3 * H :])
        g = np.tanh(pre[:, 2 * H : 3 * H])
        cell = f * cell + i * g
        hidden = o * np.tanh(cell)
        expected.append(hidden)
    output, (h_n, c_n), _ = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights)
    np.testing.assert_allclose(output, np.stack(expected), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n, hidden, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n, cell, rtol=1e-12, atol=1e-14)


def test_gru_matches_the_equations_step_by_step():
    weights, arrays, _ = random_problem("gru", seed=3)
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))
    H = HIDDEN_SIZE
    w_ih, w_hh, b_ih, b_hh = (weights[name] for name in WEIGHT_NAMES)
    hidden = arrays["h0"]
    expected = []
    for x_t in arrays["x"]:
        input_side = x_t @ w_ih.T + b_ih
        hidden_side = hidden @ w_hh.T + b_hh
        r = sigmoid(input_side[:, :H] + hidden_side[:, :H])
        z = sigmoid(input_side[:, H : 2 * H] + hidden_side[:, H : 2 * H])
        n = np.tanh(input_side[:, 2 * H :] + r * hidden_side[:, 2 * H :])
        hidden = (1 - z) * n + z * hidden
        expected.append(hidden)
    output, h_n, _ = gru_forward(arrays["x"], arrays["h0"], weights)
    np.testing.assert_allclose(output, np.stack(expected), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n, hidden, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reused_cache_gives_the_same_results_as_a_fresh_one(cell):
    """Buffers carried over from a call with other values must not leak into the next one."""
    weights, arrays, cotangents = random_problem(cell, seed=4)
    other_weights, other_arrays, other_cotangents = random_problem(cell, seed=5)

    def run(weights, arrays, cotangents, cache):
        if cell == "lstm":
            output, _, cache = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights, cache)
            output = output.copy()
            grads = lstm_backward(cotangents["output"], cache)
        else:
            output, _, cache = gru_forward(arrays["x"], arrays["h0"], weights, cache)
            output = output.copy()
            grads = gru_backward(cotangents["output"], cache)
        return output, {name: value.copy() for name, value in grads.items()}, cache

    fresh_output, fresh_grads, _ = run(weights, arrays, cotangents, None)
    _, _, cache = run(other_weights, other_arrays, other_cotangents, None)
    reused_output, reused_grads, reused_cache = run(weights, arrays, cotangents, cache)
    assert reused_cache is cache
    np.testing.assert_array_equal(reused_output, fresh_output)
    for name, value in fresh_grads.items():
        np.testing.assert_array_equal(reused_grads[name], value, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weight_gradients_do_not_depend_on_the_chunking(cell, monkeypatch):
    """Weight gradients are summed over chunks of steps; several chunks, the last one short, give the same sums."""
    weights, arrays, cotangents = random_problem(cell, seed=11, steps=7)

    def gradients():
        if cell == "lstm":
            _, _, cache = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights)
            grads = lstm_backward(cotangents["output"], cache)
        else:
            _, _, cache = gru_forward(arrays["x"], arrays["h0"], weights)
            grads = gru_backward(cotangents["output"], cache)
        return {name: value.copy() for name, value in grads.items()}

    one_chunk = gradients()
    monkeypatch.setattr(numpy_baseline, "CHUNK_ROWS", 3 * BATCH)  # 7 steps -> chunks of 3, 3, 1
    three_chunks = gradients()
    for name, value in one_chunk.items():
        np.testing.assert_allclose(three_chunks[name], value, rtol=1e-13, atol=1e-14, err_msg=name)


def test_backward_twice_and_bad_shapes_raise():
    weights, arrays, cotangents = random_problem("lstm", seed=6)
    _, _, cache = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(T, B, H\) = \(3, 2, 4\)"):
        lstm_backward(cotangents["output"][:2], cache)
    lstm_backward(cotangents["output"], cache)
    with pytest.raises(RuntimeError, match="run lstm_forward first"):
        lstm_backward(cotangents["output"], cache)
    with pytest.raises(ValueError, match=r"weight_ih must have shape \(12, 3\) for D=3, H=4, got \(16, 3\)"):
        gru_forward(arrays["x"], arrays["h0"], weights)
    with pytest.raises(TypeError, match="weight_ih has dtype float64, x has float32"):
        lstm_forward(arrays["x"].astype(np.float32), arrays["h0"], arrays["c0"], weights)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_step_moves_parameters_by_minus_rate_times_finite_difference_gradient(cell):
    rng = np.random.default_rng(7)
    output_size = 2
    weights = init_recurrent_weights(cell, INPUT_SIZE, HIDDEN_SIZE, rng, np.float64)
    readout_weight = rng.uniform(-0.5, 0.5, size=(output_size, HIDDEN_SIZE))
    readout_bias = rng.uniform(-0.5, 0.5, size=output_size)
    x = rng.normal(size=(STEPS, BATCH, INPUT_SIZE))
    target = rng.normal(size=(STEPS, BATCH, output_size))

    # With learning rate 0 the step leaves its parameters alone and only evaluates the loss.
    evaluator = TrainingStep(cell, weights, readout_weight, readout_bias, learning_rate=0.0)
    loss_of = lambda: evaluator(x, target)
    expected_gradients = {name: central_difference(loss_of, value) for name, value in evaluator.parameters.items()}

    rate = 0.125
    step = TrainingStep(cell, weights, readout_weight, readout_bias, learning_rate=rate)
    before = {name: value.copy() for name, value in step.parameters.items()}
    loss = step(x, target)
    assert loss == pytest.approx(evaluator(x, target), rel=1e-14)
    for name, expected in expected_gradients.items():
        moved_by = (before[name] - step.parameters[name]) / rate
        np.testing.assert_allclose(moved_by, expected, rtol=1e-6, atol=1e-8, err_msg=f"{cell} {name}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_stays_float32(cell):
    rng = np.random.default_rng(8)
    weights = init_recurrent_weights(cell, INPUT_SIZE, HIDDEN_SIZE, rng, np.float32)
    step = TrainingStep(cell, weights, np.ones((2, HIDDEN_SIZE), np.float32), np.zeros(2, np.float32), 0.01)
    x = rng.normal(size=(STEPS, BATCH, INPUT_SIZE)).astype(np.float32)
    target = rng.normal(size=(STEPS, BATCH, 2)).astype(np.float32)
    first_loss = step(x, target)
    for _ in range(20):
        last_loss = step(x, target)
    assert last_loss < first_loss
    assert all(value.dtype == np.float32 for value in step.parameters.values())


# --------------------------------------------------------------------------------------
# Against PyTorch (skipped when torch is not installed)
# --------------------------------------------------------------------------------------


def torch_layer(torch, cell: str, weights: dict[str, np.ndarray]):
    """A float64 torch.nn.LSTM or GRU holding a copy of `weights` (PyTorch names with suffix _l0)."""
    gate_count = 4 if cell == "lstm" else 3
    hidden_size = weights["weight_hh"].shape[1]
    input_size = weights["weight_ih"].shape[1]
    assert weights["weight_hh"].shape[0] == gate_count * hidden_size
    layer_class = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    layer = layer_class(input_size, hidden_size).double()
    with torch.no_grad():
        for name in WEIGHT_NAMES:
            getattr(layer, f"{name}_l0").copy_(torch.from_numpy(weights[name]))
    return layer


@pytest.mark.torch
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_outputs_states_and_gradients_match_torch(cell):
    torch = pytest.importorskip("torch")
    weights, arrays, cotangents = random_problem(cell, seed=9, steps=7, batch=3, input_size=5, hidden_size=6)
    layer = torch_layer(torch, cell, weights)
    x, h0, c0 = (torch.tensor(arrays[name], requires_grad=True) for name in ("x", "h0", "c0"))
    if cell == "lstm":
        torch_output, (torch_h_n, torch_c_n) = layer(x, (h0[None], c0[None]))
        torch_loss = (
            (torch_output * torch.from_numpy(cotangents["output"])).sum()
            + (torch_h_n[0] * torch.from_numpy(cotangents["h_n"])).sum()
            + (torch_c_n[0] * torch.from_numpy(cotangents["c_n"])).sum()
        )
        output, (h_n, c_n), cache = lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], weights)
        finals = {"h_n": (h_n, torch_h_n[0]), "c_n": (c_n, torch_c_n[0])}
        grads = lstm_backward(cotangents["output"], cache, cotangents["h_n"], cotangents["c_n"])
        inputs = {"x": x, "h0": h0, "c0": c0}
    else:
        torch_output, torch_h_n = layer(x, h0[None])
        torch_loss = (torch_output * torch.from_numpy(cotangents["output"])).sum() + (
            torch_h_n[0] * torch.from_numpy(cotangents["h_n"])
        ).sum()
        output, h_n, cache = gru_forward(arrays["x"], arrays["h0"], weights)
        finals = {"h_n": (h_n, torch_h_n[0])}
        grads = gru_backward(cotangents["output"], cache, cotangents["h_n"])
        inputs = {"x": x, "h0": h0}
    torch_loss.backward()

    np.testing.assert_allclose(output, torch_output.detach().numpy(), rtol=1e-10, atol=1e-13)
    for name, (ours, theirs) in finals.items():
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
    for name in WEIGHT_NAMES:
        theirs = getattr(layer, f"{name}_l0").grad.numpy()
        np.testing.assert_allclose(grads[name], theirs, rtol=1e-10, atol=1e-13, err_msg=f"{cell} {name}")
    for name, tensor in inputs.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=f"{cell} {name}")


@pytest.mark.torch
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_step_matches_a_torch_sgd_step(cell):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    steps, batch, input_size, hidden_size, output_size, rate = 6, 4, 5, 7, 3, 0.05
    weights = init_recurrent_weights(cell, input_size, hidden_size, rng, np.float64)
    readout_weight = rng.uniform(-0.3, 0.3, size=(output_size, hidden_size))
    readout_bias = rng.uniform(-0.3, 0.3, size=output_size)
    x = rng.normal(size=(steps, batch, input_size))
    target = rng.normal(size=(steps, batch, output_size))

    layer = torch_layer(torch, cell, weights)
    readout = torch.nn.Linear(hidden_size, output_size).double()
    with torch.no_grad():
        readout.weight.copy_(torch.from_numpy(readout_weight))
        readout.bias.copy_(torch.from_numpy(readout_bias))
    hidden, _ = layer(torch.from_numpy(x))
    torch_loss = 0.5 * ((readout(hidden) - torch.from_numpy(target)) ** 2).sum()
    torch_loss.backward()
    with torch.no_grad():  # plain SGD, written out: torch.optim's first import costs seconds
        for parameter in [*layer.parameters(), *readout.parameters()]:
            parameter -= rate * parameter.grad

    step = TrainingStep(cell, weights, readout_weight, readout_bias, learning_rate=rate)
    loss = step(x, target)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-10)
    torch_parameters = {f"{name}": getattr(layer, f"{name}_l0") for name in WEIGHT_NAMES}
    torch_parameters["readout_weight"] = readout.weight
    torch_parameters["readout_bias"] = readout.bias
    for name, theirs in torch_parameters.items():
        np.testing.assert_allclose(
            step.parameters[name], theirs.detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=f"{cell} {name}"
        )
