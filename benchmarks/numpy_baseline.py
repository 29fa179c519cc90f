"""Hand-written numpy LSTM and GRU forward + BPTT: the yardstick seqgrad's engine is timed against.

An autograd engine on numpy pays for generality (a tensor and a tape node per op, gradient
rules that allocate, accumulation, unbroadcasting); this file pays for none of it, so the
ratio seqgrad / baseline is the price of the engine. To be an honest limit rather than a
strawman, it does what a careful person writing BPTT by hand in numpy would do, and each
choice below was measured on the benchmark sizes:

- ONE matmul per step for all gates (h_{t-1} times the stacked W_hh), and the input
  projection of every step computed before the loop in one call, biases folded in.
- Feature-major state inside the loop: a step's gates are stored (G*H, B), so every gate
  (rows k*H .. (k+1)*H) is one contiguous block. Gate slices of a batch-major (B, G*H)
  array are strided, and numpy's element-wise ops on them ran about 3x slower; the
  feature-major loop made the S1 step ~25% faster.
- The LSTM's gates are kept in the order (i, f, o, g) internally, so the three sigmoid
  gates are one block, and the sigmoid is 0.5 * tanh(a / 2) + 0.5 with the halving
  folded into (copies of) the weight rows: per step one tanh over all gates then one
  multiply-add over the sigmoid block, with no overflow for large |a|. Halving is exact
  in floating point, so the result is the same as computing sigma directly.
- Every array that lives across steps (gate activations, cell and hidden states with T+1
  slots, tanh of the cell) and every per-step scratch array is allocated once, in a cache
  that the next call of the same shape reuses: no allocation, and no page faults, in the
  steady state. Element-wise work writes through `out=` so numpy makes no temporaries
  (`g * y * (1 - y)` would make three).
- Backward walks the steps in reverse carrying dL/dh (and dL/dc), and writes each step's
  gate gradient over that step's gate activations (spent once used, so no second
  (T, G*H, B) buffer). The weight gradients are computed after the loop as large products
  (dW_ih = dgates @ x and dW_hh = dgates @ h_prev over T*B rows, dx = dgates^T @ W_ih)
  instead of T small ones; the gradients are transposed to (G*H, steps*B) for that a
  chunk of ~4096 rows at a time, which keeps the products large and the extra memory small.

Interface and equations follow docs/EQUATIONS.md and PyTorch: time-major input
(T, B, D), output (T, B, H); LSTM weight_ih (4H, D), weight_hh (4H, H), bias_ih and
bias_hh (4H,), gate order i, f, g, o; GRU weight_ih (3H, D), weight_hh (3H, H), biases
(3H,), gate order r, z, n with the reset gate applied after the hidden product
(n = tanh(W_in x + b_in + r * (W_hn h + b_hn))). Weights are passed as a dict with keys
"weight_ih", "weight_hh", "bias_ih", "bias_hh" (PyTorch's names without the "_l0"). The
dtype (float32 or float64) is the inputs'; x, states and weights must share it.

`TrainingStep` is the unit the benchmark times: the recurrent layer over T steps from
zero states, a linear readout per step, loss = 0.5 * sum over t, b, k of (y - target)^2
(the 0.5 makes dL/dy = y - target), backward, and a plain SGD update of every parameter.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
GATE_COUNTS = {"lstm": 4, "gru": 3}
# Rows per transposed chunk of gate gradients after the backward loop: large enough that the
# weight-gradient products run at full BLAS speed, small enough that the copy costs little memory.
CHUNK_ROWS = 4096


def _check_inputs(
    where: str, x: np.ndarray, states: dict[str, np.ndarray], weights: dict[str, np.ndarray], gate_count: int
) -> tuple[int, int, int, int]:
    """Validate shapes and dtypes of a forward call before anything is written; returns (T, B, D, H)."""
    missing = [name for name in WEIGHT_NAMES if name not in weights]
    if missing:
        raise KeyError(f"{where}: weights need keys {WEIGHT_NAMES}, missing {missing}")
    if x.ndim != 3:
        raise ValueError(f"{where}: x must be time-major (T, B, D), got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: x must be float32 or float64, got {x.dtype}")
    steps, batch, input_size = x.shape
    hidden_size = weights["weight_hh"].shape[-1]
    expected = {
        "weight_ih": (gate_count * hidden_size, input_size),
        "weight_hh": (gate_count * hidden_size, hidden_size),
        "bias_ih": (gate_count * hidden_size,),
        "bias_hh": (gate_count * hidden_size,),
    }
    for name, shape in expected.items():
        if weights[name].shape != shape:
            raise ValueError(
                f"{where}: {name} must have shape {shape} for D={input_size}, H={hidden_size}, "
                f"got {weights[name].shape}"
            )
        if weights[name].dtype != x.dtype:
            raise TypeError(f"{where}: {name} has dtype {weights[name].dtype}, x has {x.dtype}; they must match")
    for name, state in states.items():
        if state.shape != (batch, hidden_size):
            raise ValueError(f"{where}: {name} must have shape (B, H) = {(batch, hidden_size)}, got {state.shape}")
        if state.dtype != x.dtype:
            raise TypeError(f"{where}: {name} has dtype {state.dtype}, x has {x.dtype}; they must match")
    return steps, batch, input_size, hidden_size


def _check_grad_output(where: str, grad_output: np.ndarray, cache: _RecurrentCache) -> None:
    """Raise unless the cache holds an unconsumed forward and grad_output has its output's shape."""
    if not cache.ready_for_backward:
        raise RuntimeError(
            f"{where}: the cache holds no forward to backpropagate (run {where.replace('backward', 'forward')} "
            "first; each forward can be backpropagated once, since backward overwrites the gates)"
        )
    expected = (cache.steps, cache.batch, cache.hidden_size)
    if grad_output.shape != expected:
        raise ValueError(f"{where}: grad_output must have shape (T, B, H) = {expected}, got {grad_output.shape}")


class _RecurrentCache:
    """Buffers shared by the LSTM and GRU caches: the sizes they were made for and the gradient outputs."""

    def __init__(
        self, steps: int, batch: int, input_size: int, hidden_size: int, dtype: np.dtype, gate_count: int
    ) -> None:
        self.steps, self.batch, self.input_size, self.hidden_size = steps, batch, input_size, hidden_size
        self.dtype = np.dtype(dtype)
        gate_width = gate_count * hidden_size
        self.x: np.ndarray | None = None
        self.weights: dict[str, np.ndarray] = {}
        self.ready_for_backward = False
        self.grads = {
            "weight_ih": self.empty(gate_width, input_size),
            "weight_hh": self.empty(gate_width, hidden_size),
            "bias_ih": self.empty(gate_width),
            "bias_hh": self.empty(gate_width),
            "x": self.empty(steps, batch, input_size),
            "h0": self.empty(batch, hidden_size),
        }
        # Partial sums of the weight and bias gradients over one chunk of steps.
        self.chunk_sums = {name: self.empty(*self.grads[name].shape) for name in WEIGHT_NAMES}
        # Gradient rows of one chunk of steps, feature-major; the GRU stacks one more H block (dL/d W_hn h).
        steps_per_chunk = min(steps, max(1, -(-CHUNK_ROWS // batch)))
        self.chunk_buffer = self.empty(4 * hidden_size * steps_per_chunk * batch)

    def empty(self, *shape: int) -> np.ndarray:
        return np.empty(shape, dtype=self.dtype)

    def fits(self, steps: int, batch: int, input_size: int, hidden_size: int, dtype: np.dtype) -> bool:
        """True when these buffers were made for this call's sizes and dtype."""
        mine = (self.steps, self.batch, self.input_size, self.hidden_size, self.dtype)
        return mine == (steps, batch, input_size, hidden_size, np.dtype(dtype))


def _gradient_chunks(blocks: list[np.ndarray], buffer: np.ndarray, batch: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (rows, gradient) for consecutive runs of steps: the blocks' gradients laid out for large products.

    blocks: per-step feature-major gradients, each (T, h_k, B). gradient: (sum of h_k, n*B)
    with column s*B + b holding step start + s, batch item b, so that `gradient @ x2d[rows]`
    with x2d = x.reshape(T*B, D) sums the outer products of all n steps in one product.
    """
    total_height = sum(block.shape[1] for block in blocks)
    steps = blocks[0].shape[0]
    steps_per_chunk = buffer.size // (total_height * batch)
    for start in range(0, steps, steps_per_chunk):
        stop = min(steps, start + steps_per_chunk)
        count = stop - start
        gradient = buffer[: total_height * count * batch].reshape(total_height, count, batch)
        offset = 0
        for block in blocks:
            height = block.shape[1]
            np.copyto(gradient[offset : offset + height], block[start:stop].transpose(1, 0, 2))
            offset += height
        yield slice(start * batch, stop * batch), gradient.reshape(total_height, count * batch)


def _matmul_sum(a: np.ndarray, b: np.ndarray, out: np.ndarray, partial: np.ndarray, first: bool) -> None:
    """out = a @ b on the first chunk, out += a @ b (through `partial`) on the others."""
    if first:
        np.matmul(a, b, out=out)
    else:
        np.matmul(a, b, out=partial)
        np.add(out, partial, out=out)


def _row_sum(a: np.ndarray, out: np.ndarray, partial: np.ndarray, first: bool) -> None:
    """out = a summed over its columns on the first chunk, out += that on the others."""
    if first:
        np.sum(a, axis=1, out=out)
    else:
        np.sum(a, axis=1, out=partial)
        np.add(out, partial, out=out)


# --------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------


class LSTMCache(_RecurrentCache):
    """Buffers of one LSTM forward, kept for its backward and reused by the next call of the same shape.

    gates (T, 4H, B): activations in the internal order i, f, o, g; backward overwrites each
    step with dL/d(pre-activations), same order.
    cells (T+1, H, B), tanh_cells (T, H, B): feature-major; slot 0 of cells holds c0.
    hiddens (T+1, B, H): batch-major, slot 0 holds h0; slots 1.. are the output.
    """

    def __init__(self, steps: int, batch: int, input_size: int, hidden_size: int, dtype: np.dtype) -> None:
        super().__init__(steps, batch, input_size, hidden_size, dtype, gate_count=4)
        H = hidden_size
        # Internal row r holds PyTorch row order_from_torch[r]: (i, f, o, g) from (i, f, g, o).
        self.order_from_torch = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
        self.input_weight = self.empty(4 * H, input_size)  # reordered, sigmoid rows halved
        self.recurrent_weight = self.empty(4 * H, H)  # reordered, sigmoid rows halved (forward)
        self.recurrent_weight_reordered = self.empty(4 * H, H)  # reordered only (backward)
        self.bias = self.empty(4 * H, 1)
        self.bias_sum = self.empty(4 * H)
        self.gates = self.empty(steps, 4 * H, batch)
        self.cells = self.empty(steps + 1, H, batch)
        self.tanh_cells = self.empty(steps, H, batch)
        self.hiddens = self.empty(steps + 1, batch, H)
        self.final_cell = self.empty(batch, H)
        self.step_gates = self.empty(4 * H, batch)  # h_{t-1} product, then the step's activation gradients
        self.step_derivative = self.empty(4 * H, batch)
        self.grad_hidden = self.empty(H, batch)
        self.grad_hidden_carry = self.empty(H, batch)
        self.grad_cell = self.empty(H, batch)
        self.scratch = self.empty(H, batch)
        self.grads["c0"] = self.empty(batch, H)


def _prepare_lstm_weights(weights: dict[str, np.ndarray], cache: LSTMCache) -> None:
    """Copy the weights into the internal gate order (i, f, o, g), halving the sigmoid rows for the forward."""
    H = cache.hidden_size
    order = cache.order_from_torch
    np.take(weights["weight_ih"], order, axis=0, out=cache.input_weight)
    np.multiply(cache.input_weight[: 3 * H], 0.5, out=cache.input_weight[: 3 * H])
    np.take(weights["weight_hh"], order, axis=0, out=cache.recurrent_weight_reordered)
    np.multiply(cache.recurrent_weight_reordered[: 3 * H], 0.5, out=cache.recurrent_weight[: 3 * H])
    cache.recurrent_weight[3 * H :] = cache.recurrent_weight_reordered[3 * H :]
    np.add(weights["bias_ih"], weights["bias_hh"], out=cache.bias_sum)
    np.take(cache.bias_sum, order, out=cache.bias[:, 0])
    np.multiply(cache.bias[: 3 * H], 0.5, out=cache.bias[: 3 * H])


def lstm_forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    weights: dict[str, np.ndarray],
    cache: LSTMCache | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LSTMCache]:
    """Run an LSTM over all steps of x, keeping in `cache` what the backward needs.

    x (T, B, D), h0 and c0 (B, H), weights in PyTorch layout (gate order i, f, g, o).
    Returns output (T, B, H), (h_T, c_T) each (B, H), and the cache. The arrays returned
    are views into the cache: the next call with the same cache overwrites them.

        [i, f, g, o] = [sigma, sigma, tanh, sigma](W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    """
    steps, batch, input_size, hidden_size = _check_inputs("lstm_forward", x, {"h0": h0, "c0": c0}, weights, 4)
    if cache is None or not cache.fits(steps, batch, input_size, hidden_size, x.dtype):
        cache = LSTMCache(steps, batch, input_size, hidden_size, x.dtype)
    H = hidden_size
    _prepare_lstm_weights(weights, cache)
    gates, cells, tanh_cells, hiddens = cache.gates, cache.cells, cache.tanh_cells, cache.hiddens
    product, scratch, recurrent_weight = cache.step_gates, cache.scratch, cache.recurrent_weight
    sigmoid_gates, input_gates, forget_gates = gates[:, : 3 * H], gates[:, :H], gates[:, H : 2 * H]
    output_gates, candidates = gates[:, 2 * H : 3 * H], gates[:, 3 * H :]

    # Input projection of every step: one call (T products of (4H, D) @ (D, B)), biases folded in.
    np.matmul(cache.input_weight, x.transpose(0, 2, 1), out=gates)
    np.add(gates, cache.bias, out=gates)
    hiddens[0] = h0
    cells[0] = c0.T

    for t in range(steps):
        step_gates = gates[t]
        np.matmul(recurrent_weight, hiddens[t].T, out=product)
        np.add(step_gates, product, out=step_gates)
        np.tanh(step_gates, out=step_gates)
        sigmoids = sigmoid_gates[t]  # tanh(a / 2) so far: sigma(a) = 0.5 tanh(a / 2) + 0.5
        np.multiply(sigmoids, 0.5, out=sigmoids)
        np.add(sigmoids, 0.5, out=sigmoids)
        cell = cells[t + 1]
        np.multiply(forget_gates[t], cells[t], out=cell)
        np.multiply(input_gates[t], candidates[t], out=scratch)
        np.add(cell, scratch, out=cell)
        np.tanh(cell, out=tanh_cells[t])
        np.multiply(output_gates[t], tanh_cells[t], out=hiddens[t + 1].T)

    cache.final_cell[...] = cells[steps].T
    cache.x = x
    cache.weights = weights
    cache.ready_for_backward = True
    return hiddens[1:], (hiddens[steps], cache.final_cell), cache


def lstm_backward(
    grad_output: np.ndarray,
    cache: LSTMCache,
    grad_h_n: np.ndarray | None = None,
    grad_c_n: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Backpropagate through time for the forward recorded in `cache` (once: it consumes the cache).

    grad_output (T, B, H) = dL/d output; grad_h_n, grad_c_n (B, H) = dL/d final states (zero if None).
    Returns dL/d of "weight_ih", "weight_hh", "bias_ih", "bias_hh", "x" (T, B, D), "h0", "c0" (B, H),
    as views into the cache.

        dc_t += dh_t * o * (1 - tanh(c_t)^2)
        d[i, f, g, o] = [dc_t * g, dc_t * c_{t-1}, dc_t * i, dh_t * tanh(c_t)] * activation'
        dh_{t-1} = d @ W_hh,   dc_{t-1} = dc_t * f
    """
    _check_grad_output("lstm_backward", grad_output, cache)
    cache.ready_for_backward = False
    steps, batch, H = cache.steps, cache.batch, cache.hidden_size
    gates, cells, tanh_cells = cache.gates, cache.cells, cache.tanh_cells
    step_grad, derivative, scratch = cache.step_gates, cache.step_derivative, cache.scratch
    grad_hidden, carry, grad_cell = cache.grad_hidden, cache.grad_hidden_carry, cache.grad_cell
    recurrent_weight_t = cache.recurrent_weight_reordered.T
    sigmoid_gates, input_gates, forget_gates = gates[:, : 3 * H], gates[:, :H], gates[:, H : 2 * H]
    output_gates, candidates = gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    carry[...] = 0 if grad_h_n is None else grad_h_n.T
    grad_cell[...] = 0 if grad_c_n is None else grad_c_n.T

    for t in range(steps - 1, -1, -1):
        tanh_cell, candidate = tanh_cells[t], candidates[t]
        np.add(grad_output[t].T, carry, out=grad_hidden)

        # dL/dc_t = carried + dh_t * o * (1 - tanh(c_t)^2)
        np.multiply(tanh_cell, tanh_cell, out=scratch)
        np.subtract(1, scratch, out=scratch)
        np.multiply(scratch, output_gates[t], out=scratch)
        np.multiply(scratch, grad_hidden, out=scratch)
        np.add(grad_cell, scratch, out=grad_cell)

        # Gradients w.r.t. the activations, internal order i, f, o, g.
        np.multiply(grad_cell, candidate, out=step_grad[:H])
        np.multiply(grad_cell, cells[t], out=step_grad[H : 2 * H])
        np.multiply(grad_hidden, tanh_cell, out=step_grad[2 * H : 3 * H])
        np.multiply(grad_cell, input_gates[t], out=step_grad[3 * H :])
        np.multiply(grad_cell, forget_gates[t], out=grad_cell)  # now dL/dc_{t-1}

        # Times the activation derivative: a (1 - a) for the sigmoids, (1 - a)(1 + a) for tanh.
        # The results go over the step's activations, which are spent.
        np.subtract(1, gates[t], out=derivative)
        np.multiply(step_grad, derivative, out=step_grad)
        np.add(candidate, 1, out=scratch)
        sigmoids = sigmoid_gates[t]
        np.multiply(step_grad[: 3 * H], sigmoids, out=sigmoids)
        np.multiply(step_grad[3 * H :], scratch, out=candidate)
        np.matmul(recurrent_weight_t, gates[t], out=carry)

    # Weight gradients as large products over chunks of steps, with the rows back in PyTorch order.
    weights, grads, sums = cache.weights, cache.grads, cache.chunk_sums
    x_rows = cache.x.reshape(steps * batch, cache.input_size)
    previous_hidden_rows = cache.hiddens[:steps].reshape(steps * batch, H)
    grad_x_rows = grads["x"].reshape(steps * batch, cache.input_size)
    torch_order = [gates[:, : 2 * H], gates[:, 3 * H :], gates[:, 2 * H : 3 * H]]  # i f | g | o
    for index, (rows, grad_gates) in enumerate(_gradient_chunks(torch_order, cache.chunk_buffer, batch)):
        first = index == 0
        _matmul_sum(grad_gates, x_rows[rows], grads["weight_ih"], sums["weight_ih"], first)
        _matmul_sum(grad_gates, previous_hidden_rows[rows], grads["weight_hh"], sums["weight_hh"], first)
        _row_sum(grad_gates, grads["bias_ih"], sums["bias_ih"], first)
        np.matmul(grad_gates.T, weights["weight_ih"], out=grad_x_rows[rows])
    grads["bias_hh"][...] = grads["bias_ih"]
    grads["h0"][...] = carry.T
    grads["c0"][...] = grad_cell.T
    return grads


# --------------------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------------------


class GRUCache(_RecurrentCache):
    """Buffers of one GRU forward, kept for its backward and reused by the next call of the same shape.

    gates (T, 3H, B): activations r, z, n; backward overwrites each step with dL/d(input-side
    pre-activations).
    hidden_candidates (T, H, B): W_hn h_{t-1} + b_hn, which r multiplies; backward overwrites
    each step with its gradient.
    hiddens (T+1, H, B) feature-major for the loop, outputs (T+1, B, H) batch-major for the
    caller and the weight gradients; slot 0 holds h0.
    """

    def __init__(self, steps: int, batch: int, input_size: int, hidden_size: int, dtype: np.dtype) -> None:
        super().__init__(steps, batch, input_size, hidden_size, dtype, gate_count=3)
        H = hidden_size
        self.input_weight = self.empty(3 * H, input_size)  # r, z rows halved
        self.recurrent_weight = self.empty(3 * H, H)  # r, z rows halved
        self.bias = self.empty(3 * H, 1)  # b_ih + [b_hr, b_hz, 0], r, z rows halved
        self.gates = self.empty(steps, 3 * H, batch)
        self.hidden_candidates = self.empty(steps, H, batch)
        self.hiddens = self.empty(steps + 1, H, batch)
        self.outputs = self.empty(steps + 1, batch, H)
        self.step_product = self.empty(3 * H, batch)  # h_{t-1} product, then the step's hidden-side gradient
        self.step_derivative = self.empty(2 * H, batch)
        self.grad_hidden = self.empty(H, batch)
        self.grad_hidden_carry = self.empty(H, batch)
        self.scratch = self.empty(H, batch)
        self.scratch_2 = self.empty(H, batch)


def _prepare_gru_weights(weights: dict[str, np.ndarray], cache: GRUCache) -> None:
    """Copy the weights with the sigmoid (r, z) rows halved, and fold b_hr, b_hz into the input-side bias."""
    H = cache.hidden_size
    np.multiply(weights["weight_ih"][: 2 * H], 0.5, out=cache.input_weight[: 2 * H])
    cache.input_weight[2 * H :] = weights["weight_ih"][2 * H :]
    np.multiply(weights["weight_hh"][: 2 * H], 0.5, out=cache.recurrent_weight[: 2 * H])
    cache.recurrent_weight[2 * H :] = weights["weight_hh"][2 * H :]
    bias = cache.bias[:, 0]
    np.add(weights["bias_ih"][: 2 * H], weights["bias_hh"][: 2 * H], out=bias[: 2 * H])
    np.multiply(bias[: 2 * H], 0.5, out=bias[: 2 * H])
    bias[2 * H :] = weights["bias_ih"][2 * H :]


def gru_forward(
    x: np.ndarray,
    h0: np.ndarray,
    weights: dict[str, np.ndarray],
    cache: GRUCache | None = None,
) -> tuple[np.ndarray, np.ndarray, GRUCache]:
    """Run a GRU (PyTorch's reset-after form) over all steps of x, keeping in `cache` what the backward needs.

    x (T, B, D), h0 (B, H), weights in PyTorch layout (gate order r, z, n).
    Returns output (T, B, H), h_T (B, H), and the cache; the arrays returned are views
    into the cache, overwritten by the next call with the same cache.

        r = sigma(W_ir x + b_ir + W_hr h + b_hr),   z = sigma(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),   h' = (1 - z) * n + z * h = n + z * (h - n)
    """
    steps, batch, input_size, hidden_size = _check_inputs("gru_forward", x, {"h0": h0}, weights, 3)
    if cache is None or not cache.fits(steps, batch, input_size, hidden_size, x.dtype):
        cache = GRUCache(steps, batch, input_size, hidden_size, x.dtype)
    H = hidden_size
    _prepare_gru_weights(weights, cache)
    gates, hidden_candidates, hiddens = cache.gates, cache.hidden_candidates, cache.hiddens
    product, scratch, recurrent_weight = cache.step_product, cache.scratch, cache.recurrent_weight
    sigmoid_gates, reset_gates, update_gates, candidates = (
        gates[:, : 2 * H],
        gates[:, :H],
        gates[:, H : 2 * H],
        gates[:, 2 * H :],
    )
    bias_hn = weights["bias_hh"][2 * H :, None]

    np.matmul(cache.input_weight, x.transpose(0, 2, 1), out=gates)
    np.add(gates, cache.bias, out=gates)
    hiddens[0] = h0.T

    for t in range(steps):
        hidden, candidate = hiddens[t], candidates[t]
        np.matmul(recurrent_weight, hidden, out=product)
        sigmoids = sigmoid_gates[t]
        np.add(sigmoids, product[: 2 * H], out=sigmoids)
        np.tanh(sigmoids, out=sigmoids)  # tanh(a / 2): sigma(a) = 0.5 tanh(a / 2) + 0.5
        np.multiply(sigmoids, 0.5, out=sigmoids)
        np.add(sigmoids, 0.5, out=sigmoids)
        np.add(product[2 * H :], bias_hn, out=hidden_candidates[t])
        np.multiply(reset_gates[t], hidden_candidates[t], out=scratch)
        np.add(candidate, scratch, out=candidate)
        np.tanh(candidate, out=candidate)
        new_hidden = hiddens[t + 1]
        np.subtract(hidden, candidate, out=new_hidden)
        np.multiply(new_hidden, update_gates[t], out=new_hidden)
        np.add(new_hidden, candidate, out=new_hidden)

    outputs = cache.outputs
    np.copyto(outputs, hiddens.transpose(0, 2, 1))
    cache.x = x
    cache.weights = weights
    cache.ready_for_backward = True
    return outputs[1:], outputs[steps], cache


def gru_backward(
    grad_output: np.ndarray,
    cache: GRUCache,
    grad_h_n: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Backpropagate through time for the forward recorded in `cache` (once: it consumes the cache).

    grad_output (T, B, H) = dL/d output; grad_h_n (B, H) = dL/d final state (zero if None).
    Returns dL/d of "weight_ih", "weight_hh", "bias_ih", "bias_hh", "x" (T, B, D), "h0" (B, H),
    as views into the cache.

        dn = dh (1 - z) (1 - n^2),   dz = dh (h_{t-1} - n) z (1 - z),   dr = dn (W_hn h + b_hn) r (1 - r)
        d(W_hn h + b_hn) = dn * r,   dh_{t-1} = dh * z + [dr, dz, dn * r] @ W_hh
    """
    _check_grad_output("gru_backward", grad_output, cache)
    cache.ready_for_backward = False
    steps, batch, H = cache.steps, cache.batch, cache.hidden_size
    gates, hidden_candidates, hiddens = cache.gates, cache.hidden_candidates, cache.hiddens
    hidden_side_grad, derivative = cache.step_product, cache.step_derivative
    grad_hidden, carry, scratch, scratch_2 = cache.grad_hidden, cache.grad_hidden_carry, cache.scratch, cache.scratch_2
    weights, grads, sums = cache.weights, cache.grads, cache.chunk_sums
    recurrent_weight_t = weights["weight_hh"].T
    sigmoid_gates, reset_gates, update_gates, candidates = (
        gates[:, : 2 * H],
        gates[:, :H],
        gates[:, H : 2 * H],
        gates[:, 2 * H :],
    )
    grad_reset, grad_update, grad_reset_product = (
        hidden_side_grad[:H],
        hidden_side_grad[H : 2 * H],
        hidden_side_grad[2 * H :],
    )
    carry[...] = 0 if grad_h_n is None else grad_h_n.T

    for t in range(steps - 1, -1, -1):
        candidate, update_gate, sigmoids = candidates[t], update_gates[t], sigmoid_gates[t]
        np.add(grad_output[t].T, carry, out=grad_hidden)

        # dL/dz (activation) = dh (h_{t-1} - n)
        np.subtract(hiddens[t], candidate, out=grad_update)
        np.multiply(grad_update, grad_hidden, out=grad_update)
        # dL/d(pre-activation of n) = dh (1 - z) (1 - n^2), over n's slot (n is spent).
        np.subtract(1, update_gate, out=scratch)
        np.multiply(scratch, grad_hidden, out=scratch)
        np.multiply(candidate, candidate, out=scratch_2)
        np.subtract(1, scratch_2, out=scratch_2)
        np.multiply(scratch, scratch_2, out=candidate)
        # dL/dr (activation) and dL/d(W_hn h + b_hn).
        np.multiply(candidate, hidden_candidates[t], out=grad_reset)
        np.multiply(candidate, reset_gates[t], out=grad_reset_product)
        # Sigmoid derivatives turn the r, z activation gradients into pre-activation ones.
        np.subtract(1, sigmoids, out=derivative)
        np.multiply(derivative, sigmoids, out=derivative)
        np.multiply(hidden_side_grad[: 2 * H], derivative, out=hidden_side_grad[: 2 * H])

        # dL/dh_{t-1} = dh * z + hidden-side gradient @ W_hh (z is read before its slot is overwritten).
        np.multiply(grad_hidden, update_gate, out=grad_hidden)
        np.matmul(recurrent_weight_t, hidden_side_grad, out=carry)
        np.add(carry, grad_hidden, out=carry)

        # Spent slots take the gradients the products after the loop need.
        sigmoids[...] = hidden_side_grad[: 2 * H]
        hidden_candidates[t] = grad_reset_product

    # Weight gradients as large products over chunks of steps. Chunk rows: [dr, dz, dn] (the
    # input side, 3H) then d(W_hn h + b_hn) (H); the hidden side is rows [dr, dz] and the last H.
    x_rows = cache.x.reshape(steps * batch, cache.input_size)
    previous_hidden_rows = cache.outputs[:steps].reshape(steps * batch, H)
    grad_x_rows = grads["x"].reshape(steps * batch, cache.input_size)
    grad_weight_hh, grad_bias_hh = grads["weight_hh"], grads["bias_hh"]
    sum_weight_hh, sum_bias_hh = sums["weight_hh"], sums["bias_hh"]
    blocks = [gates, hidden_candidates]
    for index, (rows, grad_rows) in enumerate(_gradient_chunks(blocks, cache.chunk_buffer, batch)):
        first = index == 0
        input_side, reset_update, reset_product = grad_rows[: 3 * H], grad_rows[: 2 * H], grad_rows[3 * H :]
        previous = previous_hidden_rows[rows]
        _matmul_sum(input_side, x_rows[rows], grads["weight_ih"], sums["weight_ih"], first)
        _matmul_sum(reset_update, previous, grad_weight_hh[: 2 * H], sum_weight_hh[: 2 * H], first)
        _matmul_sum(reset_product, previous, grad_weight_hh[2 * H :], sum_weight_hh[2 * H :], first)
        _row_sum(input_side, grads["bias_ih"], sums["bias_ih"], first)
        _row_sum(reset_product, grad_bias_hh[2 * H :], sum_bias_hh[2 * H :], first)
        np.matmul(input_side.T, weights["weight_ih"], out=grad_x_rows[rows])
    grad_bias_hh[: 2 * H] = grads["bias_ih"][: 2 * H]
    grads["h0"][...] = carry.T
    return grads


# --------------------------------------------------------------------------------------
# Weights and the timed training step
# --------------------------------------------------------------------------------------


def init_recurrent_weights(
    cell: str, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: np.dtype = np.float32
) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation for an LSTM or GRU layer: every entry ~ U(-1/sqrt(H), 1/sqrt(H))."""
    if cell not in GATE_COUNTS:
        raise ValueError(f"init_recurrent_weights: cell must be one of {sorted(GATE_COUNTS)}, got {cell!r}")
    gate_width = GATE_COUNTS[cell] * hidden_size
    bound = 1.0 / np.sqrt(hidden_size)
    shapes = {
        "weight_ih": (gate_width, input_size),
        "weight_hh": (gate_width, hidden_size),
        "bias_ih": (gate_width,),
        "bias_hh": (gate_width,),
    }
    return {name: rng.uniform(-bound, bound, size=shape).astype(dtype) for name, shape in shapes.items()}


class TrainingStep:
    """One SGD step of a recurrent regressor, the unit the speed benchmark times.

    x (T, B, D) -> LSTM or GRU from zero states -> hidden (T, B, H) -> readout y = h W_out^T + b_out
    (T, B, D_out) -> loss = 0.5 * sum_{t, b, k} (y - target)^2 -> backward -> theta -= lr * dL/dtheta
    for every parameter. Parameters are copied at construction and updated in place in
    `self.parameters` (keys weight_ih, weight_hh, bias_ih, bias_hh, readout_weight (D_out, H),
    readout_bias (D_out,)). Buffers are reused across calls of the same shape.
    """

    def __init__(
        self,
        cell: str,
        recurrent_weights: dict[str, np.ndarray],
        readout_weight: np.ndarray,
        readout_bias: np.ndarray,
        learning_rate: float,
    ) -> None:
        if cell not in GATE_COUNTS:
            raise ValueError(f"TrainingStep: cell must be one of {sorted(GATE_COUNTS)}, got {cell!r}")
        hidden_size = recurrent_weights["weight_hh"].shape[-1]
        if readout_weight.ndim != 2 or readout_weight.shape[1] != hidden_size:
            raise ValueError(
                f"TrainingStep: readout_weight must be (D_out, H={hidden_size}), got {readout_weight.shape}"
            )
        if readout_bias.shape != readout_weight.shape[:1]:
            raise ValueError(
                f"TrainingStep: readout_bias must be ({readout_weight.shape[0]},), got {readout_bias.shape}"
            )
        self.cell = cell
        self.learning_rate = learning_rate
        self.parameters = {name: np.array(recurrent_weights[name], copy=True) for name in WEIGHT_NAMES}
        self.parameters["readout_weight"] = np.array(readout_weight, copy=True)
        self.parameters["readout_bias"] = np.array(readout_bias, copy=True)
        self._cache: LSTMCache | GRUCache | None = None
        self._buffers: dict[str, np.ndarray] = {}
        self._buffer_key: tuple | None = None

    def _step_buffers(self, steps: int, batch: int, dtype: np.dtype) -> dict[str, np.ndarray]:
        """Zero states, readout residual, dL/d output and readout gradients, allocated once per shape."""
        key = (steps, batch, np.dtype(dtype))
        if key != self._buffer_key:
            output_size, hidden_size = self.parameters["readout_weight"].shape
            self._buffers = {
                "zero_state": np.zeros((batch, hidden_size), dtype=dtype),
                "residual": np.empty((steps * batch, output_size), dtype=dtype),
                "grad_output": np.empty((steps, batch, hidden_size), dtype=dtype),
                "readout_weight": np.empty((output_size, hidden_size), dtype=dtype),
                "readout_bias": np.empty((output_size,), dtype=dtype),
            }
            self._buffer_key = key
        return self._buffers

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        """Run forward, backward and the SGD update on (x (T, B, D), target (T, B, D_out)); returns the loss."""
        params = self.parameters
        readout_weight = params["readout_weight"]
        if x.ndim != 3 or target.shape != (*x.shape[:2], readout_weight.shape[0]):
            raise ValueError(
                f"TrainingStep: x must be (T, B, D) and target (T, B, D_out={readout_weight.shape[0]}); "
                f"got x {x.shape}, target {target.shape}"
            )
        if x.dtype != readout_weight.dtype or target.dtype != x.dtype:
            raise TypeError(
                f"TrainingStep: x {x.dtype}, target {target.dtype} and parameters "
                f"{readout_weight.dtype} must share one dtype"
            )
        steps, batch, _ = x.shape
        buffers = self._step_buffers(steps, batch, x.dtype)
        zero_state = buffers["zero_state"]
        if self.cell == "lstm":
            output, _, self._cache = lstm_forward(x, zero_state, zero_state, params, self._cache)
        else:
            output, _, self._cache = gru_forward(x, zero_state, params, self._cache)

        rows = steps * batch
        hidden_rows = output.reshape(rows, -1)
        residual = buffers["residual"]
        np.matmul(hidden_rows, readout_weight.T, out=residual)
        np.add(residual, params["readout_bias"], out=residual)
        np.subtract(residual, target.reshape(rows, -1), out=residual)  # = dL/dy
        loss = 0.5 * float(np.vdot(residual, residual))

        np.matmul(residual.T, hidden_rows, out=buffers["readout_weight"])
        np.sum(residual, axis=0, out=buffers["readout_bias"])
        grad_output = buffers["grad_output"]
        np.matmul(residual, readout_weight, out=grad_output.reshape(rows, -1))
        if self.cell == "lstm":
            grads = lstm_backward(grad_output, self._cache)
        else:
            grads = gru_backward(grad_output, self._cache)

        rate = self.learning_rate
        for name in WEIGHT_NAMES:
            np.multiply(grads[name], rate, out=grads[name])
            np.subtract(params[name], grads[name], out=params[name])
        for name in ("readout_weight", "readout_bias"):
            np.multiply(buffers[name], rate, out=buffers[name])
            np.subtract(params[name], buffers[name], out=params[name])
        return loss
