"""The classic sequence tasks, each with its metric and the trivial baseline it must beat.

- adding: sum the two marked values of a length-T sequence. Test MSE; baseline 0.167
  (always say 1).
- copy: repeat `length` symbols after `delay` blanks and a cue. Symbol accuracy; baseline
  1 / num_symbols (guessing).
- echo: at each step, say the symbol seen exactly `delay` steps ago. Accuracy on the steps
  that have a target; baseline 1 / num_symbols.
- reber: predict the next symbol of embedded Reber strings. Share of strings with every
  prediction legal; baseline 50% (the best a model without long memory can do).

Every task is generated from a seeded generator: the same seed, the same batches and test set.
`echo` (written here; seqgrad.data has no streaming form of the copy task) has one fixed
dependency span, which is what the truncated-BPTT experiment needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .. import ops
from ..autodiff.tape import no_grad
from ..bptt import run_truncated_bptt
from ..compiler import compile
from ..data.batching import IGNORE_INDEX
from ..data.encoding import one_hot
from ..data.reber import REBER_ALPHABET, reber_encode, reber_next_symbol_mask, reber_strings
from ..data.tasks import adding_problem, copy_task
from ..nn import GRU, LSTM, RNN, Linear, Module, Recurrent
from ..nn.functional import cross_entropy, mse_loss
from ..nn.utils import clip_grad_norm_
from ..optim import Adam
from ..tensor import Tensor
from .divergence import divergence

CELLS = ("rnn", "lstm", "gru", "bilstm")


def make_recurrent(cell: str, input_size: int, hidden_size: int, num_layers: int = 1) -> Recurrent:
    """The recurrent layer named by `cell`: 'rnn' (tanh), 'lstm', 'gru' or 'bilstm' (bidirectional LSTM)."""
    if cell == "rnn":
        return RNN(input_size, hidden_size, num_layers)
    if cell == "lstm":
        return LSTM(input_size, hidden_size, num_layers)
    if cell == "gru":
        return GRU(input_size, hidden_size, num_layers)
    if cell == "bilstm":
        return LSTM(input_size, hidden_size, num_layers, bidirectional=True)
    raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")


class SequenceModel(Module):
    """Recurrent layers and a linear readout, either at every step or from the final state.

    inputs (T, B, D) -> per step: (T, B, output_size); final: (B, output_size) read from the
    last layer's final hidden state (both directions concatenated for a bidirectional layer).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int, per_step: bool,
                 num_layers: int = 1) -> None:
        super().__init__()
        self.rnn = make_recurrent(cell, input_size, hidden_size, num_layers)
        self.per_step = per_step
        self.readout = Linear(hidden_size * self.rnn.num_directions, output_size)

    def forward(self, inputs, state=None, lengths=None):
        outputs, state = self.rnn(inputs, state, lengths)
        if self.per_step:
            return self.readout(outputs), state
        hidden = state[0] if isinstance(state, tuple) else state
        directions = self.rnn.num_directions
        last_layer = [hidden[hidden.shape[0] - directions + d] for d in range(directions)]
        features = last_layer[0] if directions == 1 else ops.concat(last_layer, axis=1)
        return self.readout(features), state


# --- the tasks -----------------------------------------------------------------------------------------------
@dataclass
class Task:
    """A generated task: how to draw a batch, the loss, the metric and the baseline it must beat.

    `batch(n, rng) -> (inputs (T, n, D) float, targets, lengths or None)`;
    `score(outputs, targets, lengths) -> {metric name: value}` on the test set, the first
    entry being the headline metric; `baseline` is that metric for the trivial predictor.
    """

    name: str
    description: str
    input_size: int
    output_size: int
    per_step: bool
    batch: Callable
    loss: Callable
    score: Callable
    metric: str
    baseline: float
    baseline_label: str
    lower_is_better: bool
    solved_at: float
    truncatable: bool
    span: int


def adding_task(seq_len: int = 50) -> Task:
    """Sum the two marked values among `seq_len` (span up to seq_len); MSE vs 1/6 for always predicting 1."""

    def batch(n, rng):
        inputs, targets = adding_problem(n, seq_len, rng=rng)
        return inputs, targets, None

    def score(outputs, targets, lengths):
        return {"mse": float(np.mean((outputs.data - targets) ** 2))}

    return Task("adding", f"adding problem, T={seq_len}", 2, 1, False, batch, mse_loss, score, "mse", 1.0 / 6.0,
                "always predicting 1", True, 0.01, False, seq_len)


def _symbol_accuracy(outputs, targets, lengths):
    scored = targets != IGNORE_INDEX
    predictions = outputs.data.argmax(axis=-1)
    with no_grad():  # the loss's own cross-entropy, in float64 for the report
        nll = cross_entropy(Tensor(outputs.data[scored].astype(np.float64)), targets[scored])
    return {"accuracy": float((predictions[scored] == targets[scored]).mean()), "cross_entropy": nll.item()}


def _sequence_cross_entropy(outputs, targets):
    return cross_entropy(outputs.reshape(-1, outputs.shape[-1]), np.asarray(targets).reshape(-1))


def copy_memory_task(delay: int = 10, length: int = 5, num_symbols: int = 8) -> Task:
    """Repeat `length` symbols after `delay` blanks and a cue: every symbol must be held length+delay+1 steps."""

    def batch(n, rng):
        inputs, targets = copy_task(n, length, delay, num_symbols=num_symbols, one_hot=True, rng=rng)
        return inputs, targets, None

    return Task("copy", f"copy task, {length} symbols of {num_symbols}, delay {delay}", num_symbols + 2,
                num_symbols, True, batch, _sequence_cross_entropy, _symbol_accuracy, "accuracy", 1.0 / num_symbols,
                "guessing", False, 0.99, True, length + delay + 1)


def delayed_echo(n: int, seq_len: int, delay: int, num_symbols: int, rng: np.random.Generator,
                 dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Random symbols and, as targets, the same symbols `delay` steps later: target[t] = symbol[t - delay].

    Shapes: inputs (seq_len, n, num_symbols) one-hot, targets (seq_len, n) int64 with the first
    `delay` steps IGNORE_INDEX (nothing to echo yet). The dependency span is exactly `delay`.
    """
    if not 1 <= delay < seq_len:
        raise ValueError(f"delayed_echo: delay must be in [1, seq_len={seq_len}), got {delay}")
    symbols = rng.integers(0, num_symbols, size=(seq_len, n))
    targets = np.full((seq_len, n), IGNORE_INDEX, dtype=np.int64)
    targets[delay:] = symbols[:-delay]
    return one_hot(symbols, num_symbols, dtype), targets


def echo_task(delay: int = 8, seq_len: int = 60, num_symbols: int = 4) -> Task:
    """Say the symbol seen exactly `delay` steps ago, over sequences of `seq_len` steps."""

    def batch(n, rng):
        inputs, targets = delayed_echo(n, seq_len, delay, num_symbols, rng)
        return inputs, targets, None

    return Task("echo", f"delayed echo, delay {delay} over {seq_len} steps, {num_symbols} symbols", num_symbols,
                num_symbols, True, batch, _sequence_cross_entropy, _symbol_accuracy, "accuracy", 1.0 / num_symbols,
                "guessing", False, 0.99, True, delay)


def reber_task() -> Task:
    """Next-symbol prediction on the embedded Reber grammar: the second symbol (T or P) must be
    remembered across the whole inner string to predict the second-to-last one."""
    symbols = len(REBER_ALPHABET)
    lookup = {symbol: index for index, symbol in enumerate(REBER_ALPHABET)}

    def batch(n, rng):
        strings = reber_strings(n, embedded=True, rng=rng)
        inputs, lengths = reber_encode([string[:-1] for string in strings])
        targets = np.full(inputs.shape[:2], IGNORE_INDEX, dtype=np.int64)
        for column, string in enumerate(strings):
            targets[:len(string) - 1, column] = [lookup[symbol] for symbol in string[1:]]
        legal = reber_next_symbol_mask(strings)[:inputs.shape[0]]
        return inputs, _ReberTargets(targets, legal, lengths), lengths

    def loss(outputs, targets):
        return _sequence_cross_entropy(outputs, targets.ids)

    def score(outputs, targets, lengths):
        predictions = outputs.data.argmax(axis=-1)
        scored = targets.ids != IGNORE_INDEX
        steps, count = predictions.shape
        legal = np.take_along_axis(targets.legal, predictions[..., None], axis=-1)[..., 0]
        all_legal = (legal | ~scored).all(axis=0)
        # The long-range prediction: after the inner string, T or P as the second symbol was.
        penultimate = lengths - 2
        remembered = legal[penultimate, np.arange(count)]
        return {"strings_all_legal": float(all_legal.mean()), "penultimate_legal": float(remembered.mean()),
                "steps_legal": float(legal[scored].mean())}

    return Task("reber", "embedded Reber grammar, next-symbol prediction", symbols, symbols, True, batch, loss,
                score, "strings_all_legal", 0.5, "a model without long memory", False, 0.99, False, 0)


@dataclass
class _ReberTargets:
    """Reber targets: next-symbol ids (T, B) and the legal-symbol mask (T, B, 7) used for scoring."""

    ids: np.ndarray
    legal: np.ndarray
    lengths: np.ndarray

    @property
    def shape(self):
        return self.ids.shape


TASK_BUILDERS = {"adding": adding_task, "copy": copy_memory_task, "echo": echo_task, "reber": reber_task}


def build_task(name: str, length: int | None = None) -> Task:
    """The task `name`; `length` is T for adding, the delay for copy and echo (reber has none)."""
    if name not in TASK_BUILDERS:
        raise ValueError(f"task must be one of {sorted(TASK_BUILDERS)}, got {name!r}")
    if length is None:
        return TASK_BUILDERS[name]()
    if name == "reber":
        raise ValueError("-T does not apply to reber: its strings have their own lengths")
    if name == "adding" and length < 2:
        raise ValueError(f"-T for adding must be at least 2 steps, got {length}")
    if name == "echo":
        return echo_task(delay=length, seq_len=max(60, 3 * length))
    return TASK_BUILDERS[name](length)


def check_cell_for_task(cell: str, task: Task) -> None:
    """A bidirectional layer may read the whole input only where the input holds no future target."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    if cell == "bilstm" and task.name in ("reber", "echo"):
        raise ValueError(f"--cell bilstm does not fit {task.name}: the target at step t is the input at a later "
                         "step, which the backward direction has already read; use lstm, gru or rnn")


# --- training ------------------------------------------------------------------------------------------------
@dataclass
class TaskResult:
    """The outcome: the headline metric on the test set and the baseline, plus the history."""

    task: str
    description: str
    cell: str
    steps: int
    metric: str
    value: float
    baseline: float
    baseline_label: str
    scores: dict
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_values: list[float] = field(default_factory=list)
    solved_step: int | None = None
    seconds: float = 0.0  # wall time, for the report only

    @property
    def beats_baseline(self) -> bool:
        """Clearly better than the baseline, not by noise: an error at most 90% of the baseline's,
        or an accuracy that closes at least a tenth of the gap from the baseline to 1."""
        if self.metric == "mse":
            return self.value <= 0.9 * self.baseline
        return self.value >= self.baseline + 0.1 * (1.0 - self.baseline)


def evaluate_task(model: SequenceModel, task: Task, test) -> dict:
    """The task's scores of `model` on the test batch, in evaluation mode, without recording."""
    inputs, targets, lengths = test
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs, _ = model(inputs, lengths=lengths)
    finally:
        model.train(was_training)
    return task.score(outputs, targets, lengths)


RECENT = 10   # training losses averaged to judge where a run ended


def task_divergence(result: TaskResult, model: Module) -> str | None:
    """Why a task run diverged (seqgrad.training.divergence), or None: a non-finite loss, parameter or
    test metric, or a mean of the last few training losses more than twice the first loss."""
    recent = result.losses[-RECENT:]
    final = float(np.mean(recent)) if recent else None
    reason = divergence(result.losses, model.named_parameters(), final, result.losses[0] if result.losses else None,
                        final_label=f"mean training loss of the last {len(recent)} steps")
    if reason is None and not math.isfinite(result.value):
        reason = f"the test {result.metric} is {result.value}"
    return reason


def train_task(task: Task, cell: str = "lstm", steps: int = 1000, hidden_size: int = 64, batch_size: int = 32,
               lr: float = 3e-3, clip: float | None = 1.0, seed: int = 0, bptt: int | None = None,
               test_size: int = 512, eval_every: int | None = None, stop_when_solved: bool = False,
               progress: bool = True, model: SequenceModel | None = None,
               eager: bool = False) -> tuple[TaskResult, SequenceModel]:
    """Train a `cell` network on fresh batches of `task` for `steps` batches; score it on a fixed test set.

    Each batch is one Adam update (full BPTT through the whole sequence), or with `bptt` = k
    one update per window of k steps along it (truncated BPTT, the state crossing windows
    detached). The training batches come from `seed`, the test set from a separate stream, so
    the test sequences are never trained on. With `eval_every` the test metric is recorded
    along the way and `solved_step` is the first step it passes `task.solved_at`.
    """
    from ..random import manual_seed

    check_cell_for_task(cell, task)
    if bptt is not None and not task.truncatable:
        raise ValueError(f"--bptt needs a target at every step; the {task.name} task has "
                         + ("one target per sequence" if task.name == "adding" else "variable lengths"))
    if bptt is not None and bptt < 1:
        raise ValueError(f"bptt must be a positive number of steps, got {bptt}")
    manual_seed(seed)
    if model is None:
        model = SequenceModel(cell, task.input_size, hidden_size, task.output_size, task.per_step)
    optimizer = Adam(model.parameters(), lr=lr)
    parameters = list(model.parameters())
    data_rng = np.random.default_rng(seed)
    test = task.batch(test_size, np.random.default_rng([seed, 1]))
    result = TaskResult(task.name, task.description, cell, 0, task.metric, math.nan, task.baseline,
                        task.baseline_label, {})
    runner = model if eager else compile(model)  # generated forward and BPTT unless eager
    started = time.perf_counter()
    bar = tqdm(total=steps, desc=f"{task.name} {cell}", unit="step", disable=not progress, dynamic_ncols=True,
               mininterval=0.5)
    try:
        for step in range(1, steps + 1):
            inputs, targets, lengths = task.batch(batch_size, data_rng)
            if bptt is None:
                optimizer.zero_grad()
                outputs, _ = runner(inputs, lengths=lengths)
                loss = task.loss(outputs, targets)
                loss.backward()
                if clip:
                    clip_grad_norm_(parameters, clip, error_if_nonfinite=True)
                optimizer.step()
                loss_value = loss.item()
            else:
                windows, _ = run_truncated_bptt(lambda x, state: runner(x, state), task.loss, Tensor(inputs),
                                                targets, bptt, optimizer, clip=clip)
                loss_value = float(np.mean([window.loss for window in windows]))
            result.losses.append(loss_value)
            result.steps = step
            bar.set_postfix({"loss": f"{loss_value:.4f}"}, refresh=False)
            bar.update(1)
            if not math.isfinite(loss_value):
                break   # diverged: nothing more to learn (task_divergence says so)
            if eval_every and (step % eval_every == 0 or step == steps):
                value = evaluate_task(model, task, test)[task.metric]
                result.eval_steps.append(step)
                result.eval_values.append(value)
                solved = value < task.solved_at if task.lower_is_better else value >= task.solved_at
                if solved and result.solved_step is None:
                    result.solved_step = step
                    if stop_when_solved:
                        break
    finally:
        bar.close()
    result.scores = evaluate_task(model, task, test)
    result.value = result.scores[task.metric]
    result.seconds = time.perf_counter() - started
    return result, model
