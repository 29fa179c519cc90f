"""Every exercise with its solution filled in passes, and with each usual mistake fails with its own message."""

import math

import numpy as np
import pytest

from seqgrad import exercises, nn, ops
from seqgrad.data.batching import IGNORE_INDEX


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def _gru_reset_before(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh, reset_after=False, flip_update=False):
    size = hidden.shape[1]
    gates_x = x @ weight_ih.T + bias_ih
    gates_h = hidden @ weight_hh.T + bias_hh
    reset = _sigmoid(gates_x[:, :size] + gates_h[:, :size])
    update = _sigmoid(gates_x[:, size:2 * size] + gates_h[:, size:2 * size])
    if reset_after:
        candidate = np.tanh(gates_x[:, 2 * size:] + reset * gates_h[:, 2 * size:])
    else:
        candidate = np.tanh(gates_x[:, 2 * size:] + (reset * hidden) @ weight_hh[2 * size:].T + bias_hh[2 * size:])
    if flip_update:
        return update * candidate + (1 - update) * hidden
    return (1 - update) * candidate + update * hidden


def _elman_bptt(weight_ih, weight_hh, inputs, upstream, through_time=True):
    hiddens = [np.zeros(weight_hh.shape[0])]
    for x in inputs:
        hiddens.append(np.tanh(weight_ih @ x + weight_hh @ hiddens[-1]))
    grad, delta_next = np.zeros_like(weight_hh), np.zeros(weight_hh.shape[0])
    for t in range(len(inputs), 0, -1):
        delta = upstream[t - 1] + (delta_next if through_time else 0.0)
        local = (1 - hiddens[t] ** 2) * delta
        grad += np.outer(local, hiddens[t - 1])
        delta_next = weight_hh.T @ local
    return grad


def _clip(grads, max_norm, per_tensor=False, total_after=False):
    total = float(np.sqrt(sum((grad**2).sum() for grad in grads)))
    if per_tensor:
        clipped = [grad * min(1.0, max_norm / (np.linalg.norm(grad) + 1e-6)) for grad in grads]
    else:
        clipped = [grad * min(1.0, max_norm / (total + 1e-6)) for grad in grads]
    return clipped, float(np.sqrt(sum((grad**2).sum() for grad in clipped))) if total_after else total


def _final_states(outputs, lengths, last_row=False):
    size, batch = outputs.shape[2] // 2, outputs.shape[1]
    forward = outputs[-1, :, :size] if last_row else outputs[lengths - 1, np.arange(batch), :size]
    return np.concatenate([forward, outputs[0, :, size:]], axis=1)


def _padded(tags, padding=IGNORE_INDEX, batch_first=False):
    targets = np.full((max(map(len, tags)), len(tags)), padding, dtype=np.int64)
    for column, sequence in enumerate(tags):
        targets[:len(sequence), column] = sequence
    return targets.T if batch_first else targets


def _masks(steps, batch, size, p, rng, fresh=False, scaled=True):
    shape = (steps, batch, size) if fresh else (batch, size)
    mask = (rng.random(shape) >= p) / ((1 - p) if scaled else 1.0)
    return mask if fresh else np.broadcast_to(mask, (steps, batch, size))


def _dlogits(logits, targets, mean=True, sign=1.0):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad = shifted / shifted.sum(axis=1, keepdims=True)
    grad[np.arange(len(targets)), targets] -= 1.0
    return sign * grad / (len(targets) if mean else 1.0)


def _distribution(logits, temperature, multiply=False, stable=True):
    scaled = logits * temperature if multiply else logits / temperature
    exp = np.exp(scaled - scaled.max()) if stable else np.exp(scaled)
    return exp / exp.sum()


def _attend(query, keys, lengths, weight_query, weight_key, bias, v, masked=True, axis=0):
    scores = np.tanh(query @ weight_query.T + keys @ weight_key.T + bias) @ v
    if masked:
        scores = np.where(np.arange(keys.shape[0])[:, None] < lengths[None, :], scores, -np.inf)
    exp = np.exp(scores - scores.max(axis=axis, keepdims=True))
    weights = exp / exp.sum(axis=axis, keepdims=True)
    return weights.T, np.einsum("sb,sbh->bh", weights, keys)


def _decoder_inputs(targets, bos=1, backwards=False):
    start = np.full((1, targets.shape[1]), bos)
    return np.concatenate([targets[1:], start]) if backwards else np.concatenate([start, targets[:-1]])


def _count(gates, input_size=10, hidden_size=32, layers=2, biases=2, second_input=None):
    total = 0
    for layer in range(layers):
        features = input_size if layer == 0 else (second_input or hidden_size)
        total += gates * hidden_size * (features + hidden_size + biases)
    return total


def _tanh_step(d_hidden, hidden, weight_hh, slope=lambda h: 1 - h**2, carry_transposed=False):
    d_pre_activation = d_hidden * slope(hidden)
    return d_pre_activation, d_pre_activation @ (weight_hh.T if carry_transposed else weight_hh)


def _leaky_cell(activation):
    """An RNNCell subclass whose step applies `activation` to a_t; None: the value-dependent branch."""

    class BranchingLeakyCell(nn.RNNCell):
        def step(self, x, state, recurrent_mask=None):
            (hidden,) = state
            pre_activation = self._recurrent(hidden, x)
            if activation is not None:
                hidden = activation(pre_activation)
            elif (pre_activation.data > 0).all():
                hidden = pre_activation
            else:
                hidden = ops.maximum(pre_activation, 0.1 * pre_activation)
            return hidden, (hidden,)

    return BranchingLeakyCell


SOLUTIONS = {
    "softplus_vjp": lambda x, grad: grad * _sigmoid(x),
    "break_a_vjp": lambda x, grad: grad * (1 - np.tanh(x)),
    "elman_jacobian": lambda weight_hh, hidden: np.diag(1 - hidden**2) @ weight_hh,
    "elman_bptt": _elman_bptt,
    "linear_decay": 0.9**30,
    "clip_grad_norm": _clip,
    "gru_reset_before": _gru_reset_before,
    "parameter_counts": {"lstm": _count(4), "gru": _count(3)},
    "final_states": _final_states,
    "padded_targets": _padded,
    "recurrent_dropout_mask": _masks,
    "truncation_length": 12,
    "softmax_readout_grad": _dlogits,
    "bits_and_perplexity": lambda nats: (nats / math.log(2), math.exp(nats)),
    "temperature": _distribution,
    "additive_attention": _attend,
    "teacher_forcing_inputs": _decoder_inputs,
    "generated_tanh_backward": lambda d_hidden, hidden, weight_hh: _tanh_step(d_hidden, hidden, weight_hh),
    "saved_buffer_shapes": {"hidden_states": (8, 4, 5), "flat": (28, 3)},
    "traceable_leaky_cell": _leaky_cell(lambda pre_activation: ops.maximum(pre_activation, 0.1 * pre_activation)),
}

# (exercise, wrong answer, the start of the message that must name the mistake)
MISTAKES = [
    ("softplus_vjp", lambda x, grad: grad * np.exp(x), "gradcheck fails; at x = 0 your rule gives 1"),
    ("softplus_vjp", lambda x, grad: grad * np.log1p(np.exp(x)), "gradcheck fails: gradcheck: input 0"),
    ("break_a_vjp", lambda x, grad: grad * (1 - np.tanh(x) ** 2), "gradcheck passed: your rule is the correct"),
    ("elman_jacobian", lambda weight_hh, hidden: weight_hh.T @ np.diag(1 - hidden**2), "your J is transposed"),
    ("elman_jacobian", lambda weight_hh, hidden: weight_hh @ np.diag(1 - hidden**2), "you scaled the columns"),
    ("elman_jacobian", lambda weight_hh, hidden: weight_hh.copy(), "J = W_hh misses the tanh's slope"),
    ("elman_bptt", lambda *args: _elman_bptt(*args).T, "your gradient is transposed"),
    ("elman_bptt", lambda *args: _elman_bptt(*args, through_time=False), "you summed each step's own loss term"),
    ("linear_decay", 0.9 * 30, "27 treats the steps as adding up"),
    ("linear_decay", 1.0, "Q^30 has norm 1"),
    ("linear_decay", 0.9**29, "0.0471013 is not"),
    ("clip_grad_norm", lambda grads, max_norm: _clip(grads, max_norm, per_tensor=True),
     "you clipped each tensor by its own norm"),
    ("clip_grad_norm", lambda grads, max_norm: _clip(grads, max_norm, total_after=True),
     "you returned the norm after clipping"),
    ("clip_grad_norm", lambda grads, max_norm: ([grad * max_norm / _clip(grads, 1)[1] for grad in grads],
                                               _clip(grads, 1)[1]), "with max_norm 100 above the total"),
    ("gru_reset_before", lambda *args: _gru_reset_before(*args, reset_after=True), "that is PyTorch's reset-after"),
    ("gru_reset_before", lambda *args: _gru_reset_before(*args, flip_update=True), "z is the share of the OLD"),
    ("parameter_counts", {"lstm": _count(4, biases=1), "gru": _count(3)}, "lstm: 13824 counts one bias"),
    ("parameter_counts", {"lstm": _count(4), "gru": _count(3, second_input=10)}, "gru: 8448 gives layer 2"),
    ("parameter_counts", {"lstm": 14080}, "expected a dict with keys 'lstm' and 'gru'"),
    ("final_states", lambda outputs, lengths: _final_states(outputs, lengths, last_row=True),
     "the forward half is outputs[-1]"),
    ("final_states", lambda outputs, lengths: np.concatenate(
        [_final_states(outputs, lengths)[:, :4], outputs[lengths - 1, np.arange(3), 4:]], axis=1),
     "the forward half is right; the backward"),
    ("padded_targets", lambda tags: _padded(tags, padding=0), "the padding is 0, which is a real class"),
    ("padded_targets", lambda tags: _padded(tags, batch_first=True), "shape (3, 5) is batch-first"),
    ("recurrent_dropout_mask", lambda *args: _masks(*args, fresh=True), "the mask changes from step to step"),
    ("recurrent_dropout_mask", lambda *args: _masks(*args, scaled=False), "kept units are 1"),
    ("recurrent_dropout_mask", lambda steps, batch, size, p, rng: _masks(steps, batch, size, 1 - p, rng),
     "a mask holds 0 and 1/(1-p)"),
    ("truncation_length", 8, "with k = 8 ≤ D = 8 no window"),
    ("truncation_length", 9, "k = 9 gives the delay a gradient at only 1 of every 9"),
    ("truncation_length", 60, "k = 60 covers the whole sequence"),
    ("truncation_length", 12.0, "k is a whole number of steps"),
    ("softmax_readout_grad", lambda logits, targets: _dlogits(logits, targets, mean=False),
     "that is the gradient of the SUM"),
    ("softmax_readout_grad", lambda logits, targets: _dlogits(logits, targets, sign=-1.0), "the sign is flipped"),
    ("softmax_readout_grad", lambda logits, targets: _distribution(logits[0], 1.0)[None].repeat(6, 0),
     "dlogits differs from the engine's gradient"),
    ("bits_and_perplexity", lambda nats: (nats * math.log(2), math.exp(nats)), "bits = nats × ln 2 runs"),
    ("bits_and_perplexity", lambda nats: (nats / math.log(2), 2**nats), "perplexity is e^nats"),
    ("temperature", lambda logits, temperature: _distribution(logits, temperature, multiply=True),
     "you multiplied the logits by the temperature"),
    ("temperature", lambda logits, temperature: _distribution(logits, temperature, stable=False),
     "logits near 1000 overflow exp()"),
    ("additive_attention", lambda *args: _attend(*args, masked=False), "steps past a sequence's length get weight"),
    ("additive_attention", lambda *args: _attend(*args, axis=1), "your weights sum to 1 over the batch"),
    ("additive_attention", lambda *args: (_attend(*args)[0], _attend(*args)[1] * 2), "the weights are right"),
    ("teacher_forcing_inputs", lambda targets: targets.copy(), "those are the targets themselves"),
    ("teacher_forcing_inputs", lambda targets: _decoder_inputs(targets, backwards=True), "you shifted the wrong way"),
    ("teacher_forcing_inputs", lambda targets: _decoder_inputs(targets, bos=0), "expected"),
    ("generated_tanh_backward", lambda *args: _tanh_step(*args, carry_transposed=True),
     "d_hidden_prev = δ_t W_hhᵀ is transposed"),
    ("generated_tanh_backward", lambda *args: _tanh_step(*args, slope=lambda h: 1 - np.tanh(h) ** 2),
     "you took tanh of h_t again"),
    ("generated_tanh_backward", lambda *args: _tanh_step(*args, slope=lambda h: 1 - h), "the slope 1 - h_t misses"),
    ("generated_tanh_backward", lambda d_hidden, hidden, weight_hh: (d_hidden * (1 - hidden**2),) * 2,
     "d_hidden_prev = δ_t skips the recurrent weight"),
    ("generated_tanh_backward", lambda d_hidden, hidden, weight_hh: d_hidden, "step_backward should return a pair"),
    ("saved_buffer_shapes", {"hidden_states": (7, 4, 5), "flat": (28, 3)}, "hidden_states (7, 4, 5) has no slot"),
    ("saved_buffer_shapes", {"hidden_states": (4, 8, 5), "flat": (28, 3)}, "hidden_states (4, 8, 5): the buffer"),
    ("saved_buffer_shapes", {"hidden_states": (8, 4, 5), "flat": (7, 4, 3)}, "flat (7, 4, 3) is not flat"),
    ("saved_buffer_shapes", {"hidden_states": (8, 4, 5), "flat": (28, 5)}, "flat (28, 5) is H wide"),
    ("saved_buffer_shapes", {"hidden_states": (8, 4, 5)}, "expected a dict with keys"),
    ("traceable_leaky_cell", _leaky_cell(None), "the compiler still refuses your step: BranchingLeakyCell.step reads"),
    ("traceable_leaky_cell", _leaky_cell(lambda pre_activation: pre_activation.relu()),
     "where a_t < 0 your cell gives 0"),
    ("traceable_leaky_cell", _leaky_cell(lambda pre_activation: pre_activation * 1.0),
     "where a_t < 0 your cell gives a_t unchanged"),
    ("traceable_leaky_cell", _leaky_cell(lambda pre_activation: ops.maximum(pre_activation, 0.2 * pre_activation)),
     "your cell's outputs differ"),
]


def test_every_exercise_has_a_solution_and_a_mistake():
    assert sorted(SOLUTIONS) == sorted(exercises.EXERCISES)
    assert {name for name, _, _ in MISTAKES} == set(exercises.EXERCISES)


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_the_solution_passes(name):
    verdict = exercises.check(name, SOLUTIONS[name], quiet=True)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("name, answer, message", MISTAKES, ids=[f"{name}-{i}" for i, (name, _, _) in
                                                                  enumerate(MISTAKES)])
def test_the_mistake_is_caught_and_named(name, answer, message):
    verdict = exercises.check(name, answer, quiet=True)
    assert not verdict.passed
    assert verdict.message.startswith(message), verdict.message
    assert verdict.hint
